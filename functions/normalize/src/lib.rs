//! normalize: `raw-events.fifo` → `normalized-events.fifo`.
//!
//! adapt → resolve identity → dedupe → score → emit, one record at a time in
//! order (see `lambda_kit::fifo` for what a failure does to the rest of the
//! batch); the batch's events are emitted together (SendMessageBatch) and a
//! record counts as done only when its events are on the queue.
//!
//! Exactly-once, in two halves: the ledger claims each event id before it is
//! emitted and marks it emitted after; a redelivery of an emitted event is
//! acknowledged and produces nothing, while a claim left unfinished by a crash
//! is emitted again (route is idempotent on the event id, and the output
//! queue deduplicates on it for five minutes).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use canonical_event::{CanonicalEvent, EventId};
use community_aws::RecordError;
use community_aws::ports::{Claim, EventLedger, IdentityStore, MessageQueue, OutgoingMessage};
use lambda_kit::Clock;
use lambda_kit::config::{self, ConfigError, Lookup};
use lambda_kit::fifo::{self, BatchError};
use platforms::{Adapted, Envelope};

pub const STAGE: &str = "normalize";

#[derive(Debug, Clone)]
pub struct Config {
    pub normalized_events_queue_url: String,
    pub raw_events_dlq_url: String,
    pub members_table: String,
    pub ledger_table: String,
    pub counters_table: String,
    pub ledger_ttl_days: u32,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(&config::Env)
    }

    pub fn from_lookup(source: &dyn Lookup) -> Result<Config, ConfigError> {
        Ok(Config {
            normalized_events_queue_url: config::required(source, "NORMALIZED_EVENTS_QUEUE_URL")?,
            raw_events_dlq_url: config::required(source, "RAW_EVENTS_DLQ_URL")?,
            members_table: config::required(source, "MEMBERS_TABLE")?,
            ledger_table: config::required(source, "LEDGER_TABLE")?,
            counters_table: config::required(source, "COUNTERS_TABLE")?,
            // At least the DLQs' 14-day retention (template.yaml explains why).
            ledger_ttl_days: config::number(source, "LEDGER_TTL_DAYS", 30, 14..=3650)?,
        })
    }
}

/// Why a record could not be normalized (poison: dead-letter now; dependency: retry).
pub type NormalizeError = community_aws::RecordError;

/// The ports normalize needs.
#[derive(Clone)]
pub struct Normalize {
    pub ledger: Arc<dyn EventLedger>,
    pub identities: Arc<dyn IdentityStore>,
    pub output: Arc<dyn MessageQueue>,
    pub dead_letters: Arc<dyn MessageQueue>,
    pub clock: Clock,
}

impl std::fmt::Debug for Normalize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Normalize").finish_non_exhaustive()
    }
}

/// An event ready to emit, and the record it came from.
struct Pending {
    position: usize,
    event_id: EventId,
    message: OutgoingMessage,
}

/// Per-batch tallies, logged once per invocation.
#[derive(Debug, Default)]
struct Tally {
    emitted: usize,
    duplicates: usize,
    dropped: usize,
    dead_lettered: usize,
}

impl Normalize {
    pub fn from_clients(
        config: &Config,
        clients: &community_aws::Clients,
        clock: Clock,
    ) -> Normalize {
        use community_aws::{ledger::DynamoLedger, members::DynamoMembers, sqs::SqsQueue};
        Normalize {
            ledger: Arc::new(DynamoLedger::new(
                clients.dynamodb.clone(),
                &config.ledger_table,
                &config.counters_table,
                config.ledger_ttl_days,
            )),
            identities: Arc::new(DynamoMembers::new(
                clients.dynamodb.clone(),
                &config.members_table,
            )),
            output: Arc::new(SqsQueue::new(
                clients.sqs.clone(),
                &config.normalized_events_queue_url,
            )),
            dead_letters: Arc::new(SqsQueue::new(
                clients.sqs.clone(),
                &config.raw_events_dlq_url,
            )),
            clock,
        }
    }

    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
        let mut pending: Vec<Pending> = Vec::new();
        let mut tally = Tally::default();
        let mut failures = fifo::run_in_order(&event, async |position, record| {
            self.record(position, record, &mut pending, &mut tally)
                .await
        })
        .await?;

        // Emit what the successfully processed records produced, in order
        // (a failed record's events wait for its retry). A failed send fails
        // its record and the rest of its group; their events stay
        // claimed-but-unfinished and are re-sent on redelivery.
        pending.retain(|p| !failures.contains(p.position));
        let messages: Vec<OutgoingMessage> = pending.iter().map(|p| p.message.clone()).collect();
        let mut results = self.output.send_all(&messages).await;
        // A result missing from the adapter counts as a failed send, never as sent.
        results.resize_with(pending.len(), || {
            Err(community_aws::AwsError::retryable(
                "SendMessageBatch",
                "NoResult",
                "no result for this message",
            ))
        });
        for (item, result) in pending.iter().zip(&results) {
            if let Err(error) = result {
                tracing::warn!(event_id = %item.event_id, position = item.position, error = %error, "emit failed");
                failures.fail(item.position);
            }
        }
        let now = (self.clock)();
        for item in pending.iter().filter(|p| !failures.contains(p.position)) {
            tally.emitted += 1;
            if let Err(error) = self.ledger.mark_emitted(&item.event_id, now).await {
                // The event is on the queue; an unfinished claim only means a
                // redelivery would emit it again, which route deduplicates.
                tracing::warn!(event_id = %item.event_id, error = %error, "could not mark event emitted");
            }
        }
        let response = failures.response();
        tracing::info!(
            records = event.records.len(),
            emitted = tally.emitted,
            duplicates = tally.duplicates,
            dropped = tally.dropped,
            dead_lettered = tally.dead_lettered,
            failed = response.batch_item_failures.len(),
            "batch normalized"
        );
        Ok(response)
    }

    /// One raw record: dead-letter it if it can never work, otherwise claim,
    /// resolve and score its events and queue them for emission.
    async fn record(
        &self,
        position: usize,
        record: &SqsMessage,
        pending: &mut Vec<Pending>,
        tally: &mut Tally,
    ) -> Result<(), NormalizeError> {
        match self.normalize(position, record, pending, tally).await {
            Err(RecordError::Poison(reason)) => {
                self.dead_letter(record, &reason).await?;
                tally.dead_lettered += 1;
                Ok(())
            }
            other => other,
        }
    }

    async fn normalize(
        &self,
        position: usize,
        record: &SqsMessage,
        pending: &mut Vec<Pending>,
        tally: &mut Tally,
    ) -> Result<(), NormalizeError> {
        let body = record.body.as_deref().unwrap_or("");
        let envelope = Envelope::decode(body).map_err(|e| RecordError::Poison(e.to_string()))?;
        let adapted =
            platforms::adapt(&envelope).map_err(|e| RecordError::Poison(e.to_string()))?;

        let now = (self.clock)();
        let drafts = match adapted {
            Adapted::Dropped { rule, name } => {
                // Keyed like the delivery's first event, so a redelivered drop is counted once.
                let id = EventId::derive(envelope.platform, &envelope.delivery_id, 0)
                    .map_err(|e| RecordError::Poison(e.to_string()))?;
                let first_time = self.ledger.record_drop(&id, rule, &name, now).await?;
                tracing::info!(
                    platform = envelope.platform.as_str(),
                    delivery_id = envelope.delivery_id.as_ref(),
                    platform_event = name.as_str(),
                    rule,
                    counted = first_time,
                    "event dropped by rule"
                );
                tally.dropped += 1;
                return Ok(());
            }
            Adapted::Events(drafts) => drafts,
        };

        let group_id = fifo::group_of(record).to_owned();
        // All of a record's events, or none: they join the batch's output only
        // once every one of them is ready.
        let mut ready = Vec::with_capacity(drafts.len());
        for draft in drafts {
            match self.ledger.claim(&draft.event_id, now).await? {
                Claim::Done => {
                    tracing::info!(event_id = %draft.event_id, "duplicate delivery acknowledged");
                    tally.duplicates += 1;
                    continue;
                }
                Claim::Unfinished => {
                    tracing::info!(event_id = %draft.event_id, "re-emitting an unfinished event");
                }
                Claim::New => {}
            }
            let user_id = self
                .identities
                .resolve(draft.platform, &draft.actor, now)
                .await?;
            let assessment = signal::assess(&draft);
            let event = CanonicalEvent::assemble(draft, user_id, assessment);
            let body = serde_json::to_string(&event)
                .map_err(|e| RecordError::Poison(format!("event does not serialize: {e}")))?;
            ready.push(Pending {
                position,
                event_id: event.event_id,
                message: OutgoingMessage {
                    group_id: group_id.clone(),
                    deduplication_id: event.event_id.to_string(),
                    body,
                    attributes: Default::default(),
                },
            });
        }
        pending.append(&mut ready);
        Ok(())
    }

    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), NormalizeError> {
        community_aws::sqs::send_dead_letter(self.dead_letters.as_ref(), STAGE, record, reason)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
