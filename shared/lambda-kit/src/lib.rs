//! What every function shares that is not AWS I/O.

pub mod config;
pub mod fifo;
pub mod telemetry;
