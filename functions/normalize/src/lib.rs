//! normalize: `raw-events.fifo` → `normalized-events.fifo`.
//!
//! adapt → dedupe → resolve identity → classify, moderate and route (with
//! the thread's category, the member's history and their repeat count as
//! context) → emit, one record at a time in
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
use canonical_event::{EventDraft, EventType, Signal};
use community_aws::RecordError;
use community_aws::ports::{
    Claim, EventLedger, IdentityStore, MessageQueue, OutgoingMessage, ResolvedMember, SignalMemory,
};
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
    /// An SSM parameter holding replacement category weights (JSON), if the
    /// deployer tuned them; the shipped `categories@1` otherwise.
    pub signal_weights_param: Option<String>,
    /// Likewise for the moderation lexicon.
    pub moderation_lexicon_param: Option<String>,
    /// How long a thread's opening category is remembered for its replies.
    pub thread_memory_days: u32,
    /// The window in which one member's identical posts are counted.
    pub repeat_window_hours: u32,
    /// Handles (any platform) the deployer marks as bots, beyond the platforms' own flags.
    pub bot_handles: Vec<String>,
    /// RawEventsQueue's redrive `maxReceiveCount`: the receive on which a
    /// failing record is dead-lettered here, with its reason.
    pub max_receive_count: u32,
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
            signal_weights_param: config::optional(source, "SIGNAL_WEIGHTS_PARAM"),
            moderation_lexicon_param: config::optional(source, "MODERATION_LEXICON_PARAM"),
            thread_memory_days: config::number(source, "THREAD_MEMORY_DAYS", 30, 1..=365)?,
            repeat_window_hours: config::number(source, "REPEAT_WINDOW_HOURS", 24, 1..=720)?,
            bot_handles: config::optional(source, "BOT_HANDLES")
                .map(|list| {
                    list.split(',')
                        .map(|h| h.trim().to_ascii_lowercase())
                        .filter(|h| !h.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            max_receive_count: config::number(source, "MAX_RECEIVE_COUNT", 3, 1..=1000)?,
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
    pub memory: Arc<dyn SignalMemory>,
    pub models: Arc<signal::Models>,
    pub output: Arc<dyn MessageQueue>,
    pub dead_letters: Arc<dyn MessageQueue>,
    /// See [`Config::max_receive_count`].
    pub max_receive_count: u32,
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
    /// Events by category and moderation flags by kind (for metrics).
    categories: std::collections::BTreeMap<&'static str, i64>,
    flags: std::collections::BTreeMap<&'static str, i64>,
}

impl Tally {
    /// The batch as EMF metrics: what the dashboard draws.
    fn emit(&self) {
        use lambda_kit::emf::{Emf, NAMESPACE, count_by};
        let as_count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Emf::new(NAMESPACE)
            .dimension("Function", STAGE)
            .count("Emitted", as_count(self.emitted))
            .count("DuplicatesDropped", as_count(self.duplicates))
            .count("DroppedByRule", as_count(self.dropped))
            .count("DeadLettered", as_count(self.dead_lettered))
            .emit();
        for (category, count) in &self.categories {
            count_by(STAGE, "Category", category, "Events", *count);
        }
        for (flag, count) in &self.flags {
            count_by(STAGE, "Flag", flag, "Flagged", *count);
        }
    }
}

impl Normalize {
    pub fn from_clients(
        config: &Config,
        clients: &community_aws::Clients,
        models: signal::Models,
        clock: Clock,
    ) -> Normalize {
        use community_aws::{
            ledger::DynamoLedger, members::DynamoMembers, memory::DynamoSignalMemory, sqs::SqsQueue,
        };
        Normalize {
            ledger: Arc::new(DynamoLedger::new(
                clients.dynamodb.clone(),
                &config.ledger_table,
                &config.counters_table,
                config.ledger_ttl_days,
            )),
            identities: Arc::new(
                DynamoMembers::new(clients.dynamodb.clone(), &config.members_table)
                    .with_bot_handles(config.bot_handles.clone()),
            ),
            memory: Arc::new(DynamoSignalMemory::new(
                clients.dynamodb.clone(),
                &config.counters_table,
                config.thread_memory_days,
                config.repeat_window_hours,
            )),
            models: Arc::new(models),
            output: Arc::new(SqsQueue::new(
                clients.sqs.clone(),
                &config.normalized_events_queue_url,
            )),
            dead_letters: Arc::new(SqsQueue::new(
                clients.sqs.clone(),
                &config.raw_events_dlq_url,
            )),
            max_receive_count: config.max_receive_count,
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
        // Records dead-lettered here because their send failed on the last
        // receive: their events are neither failed nor emitted.
        let mut given_up = std::collections::BTreeSet::new();
        for (item, result) in pending.iter().zip(&results) {
            let Err(error) = result else { continue };
            tracing::warn!(event_id = %item.event_id, position = item.position, error = %error, "emit failed");
            if given_up.contains(&item.position) {
                continue;
            }
            if !failures.contains(item.position)
                && let Some(record) = event.records.get(item.position)
                && self.last_receive(record)
            {
                let reason = format!(
                    "events not sent after {} receives: {error}",
                    self.max_receive_count
                );
                match self.dead_letter(record, &reason).await {
                    Ok(()) => {
                        given_up.insert(item.position);
                        tally.dead_lettered += 1;
                        continue;
                    }
                    Err(dlq) => {
                        tracing::warn!(position = item.position, error = %dlq, "could not dead-letter");
                    }
                }
            }
            failures.fail(item.position);
        }
        let now = (self.clock)();
        // Marking a dead-lettered record's events emitted would make its
        // redrive a duplicate, and lose them.
        for item in pending
            .iter()
            .filter(|p| !failures.contains(p.position) && !given_up.contains(&p.position))
        {
            tally.emitted += 1;
            if let Err(error) = self.ledger.mark_emitted(&item.event_id, now).await {
                // The event is on the queue; an unfinished claim only means a
                // redelivery would emit it again, which route deduplicates.
                tracing::warn!(event_id = %item.event_id, error = %error, "could not mark event emitted");
            }
        }
        let response = failures.response();
        tally.emit();
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
        let started = std::time::Instant::now();
        let outcome = self.normalize(position, record, pending, tally).await;
        lambda_kit::emf::Emf::new(lambda_kit::emf::NAMESPACE)
            .dimension("Function", STAGE)
            .millis("NormalizeLatency", started.elapsed().as_secs_f64() * 1000.0)
            .emit();
        match outcome {
            Err(RecordError::Poison(reason)) => {
                self.dead_letter(record, &reason).await?;
                tally.dead_lettered += 1;
                Ok(())
            }
            // SQS would move it after this failure, without a reason: move it
            // ourselves, with one. Its events are claimed but not emitted,
            // so a redrive processes it again.
            Err(error) if self.last_receive(record) => {
                tracing::warn!(error = %error, "last receive failed: dead-lettering the record");
                self.dead_letter(
                    record,
                    &format!(
                        "not normalized after {} receives: {error}",
                        self.max_receive_count
                    ),
                )
                .await?;
                tally.dead_lettered += 1;
                Ok(())
            }
            other => other,
        }
    }

    /// Whether SQS will dead-letter this record if it fails once more
    /// (without a reason).
    fn last_receive(&self, record: &SqsMessage) -> bool {
        fifo::is_last_receive(record, self.max_receive_count)
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
            let member = self
                .identities
                .resolve(draft.platform, &draft.actor, &draft.identity_hints, now)
                .await?;
            let mut draft = draft;
            draft.actor.is_bot |= member.is_bot;
            let facts = self.facts(&draft, &member, now).await?;
            let assessment = signal::assess(&draft, &facts, &self.models);
            if let (Some(key), Some(classification)) =
                (opener_thread_key(&draft), &assessment.classification)
                && signal::band_of(classification.category) == Signal::Medium
            {
                self.memory
                    .remember_thread(&key, classification.category, now)
                    .await?;
            }
            if let Some(classification) = &assessment.classification {
                *tally
                    .categories
                    .entry(classification.category.as_str())
                    .or_default() += 1;
            }
            if let Some(moderation) = &assessment.moderation {
                for flag in &moderation.flags {
                    *tally.flags.entry(flag.kind.as_str()).or_default() += 1;
                }
                tracing::info!(
                    event_id = %draft.event_id,
                    held = moderation.held,
                    flags = ?moderation.flags.iter().map(|f| f.kind.as_str()).collect::<Vec<_>>(),
                    "moderation flagged an event"
                );
            }
            let event = CanonicalEvent::assemble(draft, member.member_id, assessment);
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

    /// The context the event alone does not give: the thread a reply sits
    /// in, the member's contributions and age, and how often they posted
    /// this same text recently.
    async fn facts(
        &self,
        draft: &EventDraft,
        member: &ResolvedMember,
        now: time::OffsetDateTime,
    ) -> Result<signal::Facts, NormalizeError> {
        let thread_category = match reply_thread_key(draft) {
            Some(key) => self.memory.thread_category(&key, now).await?,
            None => None,
        };
        let text = signal::moderated_text(draft);
        let same_text_count = match text_fingerprint(&text) {
            Some(fingerprint) if !draft.actor.is_bot => {
                self.memory
                    .count_repeat(&member.member_id, &fingerprint, &draft.event_id, now)
                    .await?
            }
            _ => 0,
        };
        let age = now - member.first_seen_at;
        Ok(signal::Facts {
            classify: signal::classify::Context {
                thread_category,
                prior_contributions: member.contributions,
                changed_paths: Vec::new(),
            },
            moderation: signal::moderation::Context {
                member_age_hours: Some(u64::try_from(age.whole_hours()).unwrap_or(0)),
                same_text_count,
            },
        })
    }

    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), NormalizeError> {
        community_aws::sqs::send_dead_letter(self.dead_letters.as_ref(), STAGE, record, reason)
            .await?;
        Ok(())
    }
}

/// Loads the category weights and moderation lexicon: the shipped ones, or
/// the deployer's replacements from SSM. A replacement that does not parse
/// fails the cold start loudly rather than scoring with the wrong model.
pub async fn load_models(
    config: &Config,
    parameters: &dyn community_aws::ports::SecretSource,
) -> Result<signal::Models, Box<dyn std::error::Error + Send + Sync>> {
    use secrecy::ExposeSecret;
    let mut models = signal::Models::shipped()?;
    if let Some(name) = &config.signal_weights_param {
        let text = parameters.secret(name).await?;
        models.weights = signal::classify::Weights::from_json(text.expose_secret())?;
        tracing::info!(
            version = models.weights.version,
            "category weights from SSM"
        );
    }
    if let Some(name) = &config.moderation_lexicon_param {
        let text = parameters.secret(name).await?;
        models.lexicon = signal::moderation::Lexicon::from_json(text.expose_secret())?;
        tracing::info!(
            version = models.lexicon.version,
            "moderation lexicon from SSM"
        );
    }
    Ok(models)
}

fn thread_key_of(draft: &EventDraft) -> Option<String> {
    let thread = draft.source.thread_id.as_deref()?;
    let container = draft
        .source
        .repository
        .as_deref()
        .or(draft.source.channel.as_deref())
        .unwrap_or("");
    Some(community_aws::memory::thread_key(
        draft.platform.as_str(),
        container,
        thread,
    ))
}

/// The thread a reply belongs to.
fn reply_thread_key(draft: &EventDraft) -> Option<String> {
    draft
        .event_type
        .is_reply()
        .then(|| thread_key_of(draft))
        .flatten()
}

/// The thread an event opens (an issue, a discussion, a top-level message).
fn opener_thread_key(draft: &EventDraft) -> Option<String> {
    matches!(
        draft.event_type,
        EventType::IssueOpened | EventType::DiscussionOpened | EventType::MessagePosted
    )
    .then(|| thread_key_of(draft))
    .flatten()
}

/// A short digest of the text as moderation normalizes it, so trivial
/// variations (case, spacing, leetspeak) count as the same text; none for
/// texts too short to mean anything ("ok", "+1").
fn text_fingerprint(text: &str) -> Option<String> {
    use sha2::Digest;
    let normalized = signal::moderation::normalize(text);
    (normalized.chars().filter(|c| c.is_alphanumeric()).count() >= 8)
        .then(|| hex::encode(&sha2::Sha256::digest(normalized.as_bytes())[..16]))
}

#[cfg(test)]
mod tests;
