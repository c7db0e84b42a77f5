//! route: `normalized-events.fifo` → the events table, daily counters and the
//! routing target's bookkeeping.
//!
//! store → count → act, in one DynamoDB transaction per event, guarded by the
//! event id: a redelivered event changes nothing (exactly once per eventId).
//! product-backlog → a ticket request in the outbox (real trackers come
//! later); recognition → contribution counters on the member; analytics →
//! stored and counted only. Moderation (the `review` target) comes later.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use canonical_event::CanonicalEvent;
use community_aws::RecordError;
use community_aws::ports::{EventStore, MessageQueue, Recorded};
use lambda_kit::Clock;
use lambda_kit::config::{self, ConfigError, Lookup};
use lambda_kit::fifo::{self, BatchError};

pub const STAGE: &str = "route";

#[derive(Debug, Clone)]
pub struct Config {
    pub events_table: String,
    pub counters_table: String,
    pub outbox_table: String,
    pub members_table: String,
    pub normalized_events_dlq_url: String,
    pub hot_retention_days: u32,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(&config::Env)
    }

    pub fn from_lookup(source: &dyn Lookup) -> Result<Config, ConfigError> {
        Ok(Config {
            events_table: config::required(source, "EVENTS_TABLE")?,
            counters_table: config::required(source, "COUNTERS_TABLE")?,
            outbox_table: config::required(source, "OUTBOX_TABLE")?,
            members_table: config::required(source, "MEMBERS_TABLE")?,
            normalized_events_dlq_url: config::required(source, "NORMALIZED_EVENTS_DLQ_URL")?,
            hot_retention_days: config::number(source, "HOT_RETENTION_DAYS", 90, 14..=3650)?,
        })
    }
}

/// Why a record could not be routed (poison: dead-letter now; dependency: retry).
pub type RouteError = community_aws::RecordError;

#[derive(Clone)]
pub struct Route {
    pub store: Arc<dyn EventStore>,
    pub dead_letters: Arc<dyn MessageQueue>,
    pub clock: Clock,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route").finish_non_exhaustive()
    }
}

/// Decodes and checks one record's body.
pub fn decode(body: &str) -> Result<CanonicalEvent, RouteError> {
    let event: CanonicalEvent = serde_json::from_str(body).map_err(|e| {
        RecordError::Poison(format!(
            "not a canonical event: {}",
            platforms::redacted_json_error(&e)
        ))
    })?;
    event
        .validate()
        .map_err(|e| RecordError::Poison(e.to_string()))?;
    Ok(event)
}

impl Route {
    pub fn from_clients(config: &Config, clients: &community_aws::Clients, clock: Clock) -> Route {
        use community_aws::events::{DynamoEventStore, RouteTables};
        let tables = RouteTables {
            events: config.events_table.clone(),
            counters: config.counters_table.clone(),
            outbox: config.outbox_table.clone(),
            members: config.members_table.clone(),
        };
        Route {
            store: Arc::new(DynamoEventStore::new(
                clients.dynamodb.clone(),
                tables,
                config.hot_retention_days,
            )),
            dead_letters: Arc::new(community_aws::sqs::SqsQueue::new(
                clients.sqs.clone(),
                &config.normalized_events_dlq_url,
            )),
            clock,
        }
    }

    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
        fifo::process_in_order(&event, async |_, record| self.record(record).await).await
    }

    async fn record(&self, record: &SqsMessage) -> Result<(), RouteError> {
        let body = record.body.as_deref().unwrap_or("");
        let event = match decode(body) {
            Ok(event) => event,
            Err(RecordError::Poison(reason)) => return self.dead_letter(record, &reason).await,
            Err(other) => return Err(other),
        };
        match self.store.record(&event, (self.clock)()).await? {
            Recorded::Stored => tracing::info!(
                event_id = %event.event_id,
                event_type = event.event_type.as_str(),
                routing_target = event.routing_target.as_str(),
                signal = event.signal.as_str(),
                "event routed"
            ),
            Recorded::Duplicate => {
                tracing::info!(event_id = %event.event_id, "duplicate event acknowledged")
            }
        }
        Ok(())
    }

    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), RouteError> {
        community_aws::sqs::send_dead_letter(self.dead_letters.as_ref(), STAGE, record, reason)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
