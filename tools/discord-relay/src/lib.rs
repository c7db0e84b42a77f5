//! Discord Gateway → signed relay endpoint.
//!
//! Discord sends guild messages, member joins and reactions only over the
//! Gateway (a WebSocket a bot keeps open), never as webhooks; this process
//! keeps that connection and forwards those three dispatches to the
//! pipeline's `POST /webhooks/relay` as signed relay-envelope.v1 bodies.
//!
//! gateway (read, filter, build) → queue (bounded, per-channel lanes) →
//! forward (sign, POST, retry).

pub mod app;
pub mod config;
pub mod directory;
pub mod envelope;
pub mod forward;
pub mod gateway;
pub mod queue;
pub mod telemetry;
