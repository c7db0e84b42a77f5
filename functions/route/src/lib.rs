//! route: `normalized-events.fifo` → the events table, daily counters and the
//! routing target's bookkeeping.
//!
//! store → count → act, in one DynamoDB transaction per event, guarded by the
//! event id: a redelivered event changes nothing (exactly once per eventId).
//! product-backlog → a ticket request in the ledger, then exactly one ticket
//! (or a +1 on a similar open one) in the configured tracker (tickets.rs);
//! recognition → contribution counters on the member; review → a
//! pending item in the review queue, and a reviewer is told (Slack);
//! analytics → stored and counted only.
//!
//! Then the member's lifecycle: their activity (counted in the same
//! transaction) is re-evaluated, and a first contribution or a stage change
//! becomes an event of its own, recorded through the same store with a
//! deterministic id, so a retry never records it twice.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use canonical_event::CanonicalEvent;
use canonical_event::RoutingTarget;
use community_aws::RecordError;
use community_aws::ports::{
    EventStore, LifecycleStore, MemberActivity, MessageQueue, Notifier, Recorded, ReviewQueue,
    StageUpdate,
};
use lambda_kit::Clock;
use lambda_kit::config::{self, ConfigError, Lookup};
use lambda_kit::fifo::{self, BatchError};
use signal::lifecycle::{Activity, LifecycleConfig, Stage};
use trackers::Tracker;

pub mod tickets;

pub use tickets::{RESOLUTION_KIND, ResolutionMessage, TicketDesk, TicketError};

pub const STAGE: &str = "route";

/// The time a batch may take when the caller gives no deadline (tests, the
/// local stack): well inside the function's timeout.
pub const DEFAULT_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

#[derive(Debug, Clone)]
pub struct Config {
    pub events_table: String,
    pub counters_table: String,
    pub outbox_table: String,
    pub members_table: String,
    pub reviews_table: String,
    pub normalized_events_dlq_url: String,
    pub hot_retention_days: u32,
    /// SSM SecureString with the Slack incoming-webhook URL reviewers watch;
    /// none = held events are only logged (and listed by communityctl).
    pub review_slack_webhook_param: Option<String>,
    /// SSM parameter with replacement lifecycle thresholds (JSON).
    pub lifecycle_config_param: Option<String>,
    /// SSM SecureString with the tracker's settings and credentials (JSON,
    /// see trackers::config); none = the ledger's pending requests are the
    /// backlog.
    pub ticket_tracker_param: Option<String>,
    /// How alike (0..1, Dice over title words) a report must be to an open
    /// ticket to join it instead of opening another.
    pub similarity_threshold: f64,
    /// SSM SecureString: Slack webhook that tells reporters their ticket was
    /// resolved; none = logged only.
    pub feedback_slack_webhook_param: Option<String>,
    /// The queue's maxReceiveCount: on the last receive a tracker that is
    /// still failing sends the record to the DLQ with the reason.
    pub max_receive_count: u32,
    /// SSM SecureString: Slack webhook for recognition posts (first
    /// contributions, stage-ups, merged work); none = logged only.
    pub recognition_slack_webhook_param: Option<String>,
    /// At most one recognition post per member within this many hours.
    pub recognition_cooldown_hours: u32,
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
            reviews_table: config::required(source, "REVIEWS_TABLE")?,
            review_slack_webhook_param: config::optional(source, "REVIEW_SLACK_WEBHOOK_PARAM"),
            lifecycle_config_param: config::optional(source, "LIFECYCLE_CONFIG_PARAM"),
            normalized_events_dlq_url: config::required(source, "NORMALIZED_EVENTS_DLQ_URL")?,
            hot_retention_days: config::number(source, "HOT_RETENTION_DAYS", 90, 14..=3650)?,
            ticket_tracker_param: config::optional(source, "TICKET_TRACKER_PARAM"),
            similarity_threshold: config::number(source, "SIMILARITY_THRESHOLD", 0.6, 0.05..=1.0)?,
            feedback_slack_webhook_param: config::optional(source, "FEEDBACK_SLACK_WEBHOOK_PARAM"),
            max_receive_count: config::number(source, "MAX_RECEIVE_COUNT", 5, 1..=1000)?,
            recognition_slack_webhook_param: config::optional(
                source,
                "RECOGNITION_SLACK_WEBHOOK_PARAM",
            ),
            recognition_cooldown_hours: config::number(
                source,
                "RECOGNITION_COOLDOWN_HOURS",
                24,
                0..=24 * 90,
            )?,
        })
    }
}

/// Why a record could not be routed (poison: dead-letter now; dependency: retry).
pub type RouteError = community_aws::RecordError;

#[derive(Clone)]
pub struct Route {
    pub store: Arc<dyn EventStore>,
    pub dead_letters: Arc<dyn MessageQueue>,
    pub reviews: Arc<dyn ReviewQueue>,
    pub reviewer: Arc<dyn Notifier>,
    pub lifecycle: Arc<dyn LifecycleStore>,
    pub lifecycle_config: Arc<LifecycleConfig>,
    pub tickets: TicketDesk,
    pub max_receive_count: u32,
    pub recognitions: Arc<dyn community_aws::recognition::Recognitions>,
    pub recognizer: Arc<dyn Notifier>,
    pub recognition_cooldown: time::Duration,
    pub clock: Clock,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("reviewer webhook: {0}")]
    Reviewer(#[source] community_aws::AwsError),
    #[error("lifecycle configuration: {0}")]
    Lifecycle(String),
    #[error("ticket tracker: {0}")]
    Tracker(String),
    #[error("reporters' webhook: {0}")]
    Reporters(#[source] community_aws::AwsError),
    #[error("recognition webhook: {0}")]
    Recognition(#[source] community_aws::AwsError),
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
    /// Builds the adapters once per cold start (the reviewer webhook URL and
    /// any replacement lifecycle thresholds are read from SSM here).
    pub async fn from_clients(
        config: &Config,
        clients: &community_aws::Clients,
        clock: Clock,
    ) -> Result<Route, InitError> {
        use community_aws::events::{DynamoEventStore, RouteTables};
        use community_aws::ports::SecretSource;
        use secrecy::ExposeSecret;
        let tables = RouteTables {
            events: config.events_table.clone(),
            counters: config.counters_table.clone(),
            outbox: config.outbox_table.clone(),
            members: config.members_table.clone(),
            reviews: config.reviews_table.clone(),
        };
        let reviewer = community_aws::slack::notifier_from_ssm(
            &clients.ssm,
            config.review_slack_webhook_param.as_deref(),
        )
        .await
        .map_err(InitError::Reviewer)?;
        let lifecycle_config = match &config.lifecycle_config_param {
            Some(param) => {
                let text = community_aws::ssm::SsmSecrets::new(clients.ssm.clone())
                    .secret(param)
                    .await
                    .map_err(|e| InitError::Lifecycle(e.to_string()))?;
                LifecycleConfig::from_json(text.expose_secret())
            }
            None => LifecycleConfig::shipped(),
        }
        .map_err(|e| InitError::Lifecycle(e.to_string()))?;
        let reporters = community_aws::slack::notifier_from_ssm(
            &clients.ssm,
            config.feedback_slack_webhook_param.as_deref(),
        )
        .await
        .map_err(InitError::Reporters)?;
        let sink = match &config.ticket_tracker_param {
            Some(param) => {
                let text = community_aws::ssm::SsmSecrets::new(clients.ssm.clone())
                    .secret(param)
                    .await
                    .map_err(|e| InitError::Tracker(e.to_string()))?;
                let settings = trackers::config::TrackerConfig::from_json(text.expose_secret())
                    .map_err(|e| InitError::Tracker(e.to_string()))?;
                let http = reqwest::Client::builder()
                    .connect_timeout(std::time::Duration::from_secs(3))
                    .build()
                    .map_err(|e| InitError::Tracker(e.to_string()))?;
                Some((settings.sink(http), adopt_repository(&settings)))
            }
            None => None,
        };
        let (sink, adopt_repository) = match sink {
            Some((sink, adopt)) => (Some(sink), adopt),
            None => (None, None),
        };
        let tickets = TicketDesk {
            ledger: Arc::new(community_aws::tickets::DynamoTicketLedger::new(
                clients.dynamodb.clone(),
                &config.outbox_table,
                &config.counters_table,
            )),
            sink,
            similarity_threshold: config.similarity_threshold,
            reporters,
            adopt_repository,
        };
        let recognizer = community_aws::slack::notifier_from_ssm(
            &clients.ssm,
            config.recognition_slack_webhook_param.as_deref(),
        )
        .await
        .map_err(InitError::Recognition)?;
        Ok(Route {
            tickets,
            max_receive_count: config.max_receive_count,
            recognitions: Arc::new(community_aws::recognition::DynamoRecognitions::new(
                clients.dynamodb.clone(),
                &config.members_table,
            )),
            recognizer,
            recognition_cooldown: time::Duration::hours(i64::from(
                config.recognition_cooldown_hours,
            )),
            reviews: Arc::new(community_aws::reviews::DynamoReviewQueue::new(
                clients.dynamodb.clone(),
                &config.reviews_table,
            )),
            reviewer,
            lifecycle: Arc::new(community_aws::lifecycle::DynamoLifecycle::new(
                clients.dynamodb.clone(),
                tables.clone(),
                config.hot_retention_days,
            )),
            lifecycle_config: Arc::new(lifecycle_config),
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
        })
    }

    /// A batch with [`DEFAULT_BUDGET`] to finish in.
    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
        self.handle_until(event, tokio::time::Instant::now() + DEFAULT_BUDGET)
            .await
    }

    /// A batch; tracker calls (and their back-off) stop at `deadline`, and
    /// what is left fails retryably for SQS to redeliver.
    pub async fn handle_until(
        &self,
        event: SqsEvent,
        deadline: tokio::time::Instant,
    ) -> Result<SqsBatchResponse, BatchError> {
        fifo::process_in_order(&event, async |_, record| {
            self.record(record, deadline).await
        })
        .await
    }

    async fn record(
        &self,
        record: &SqsMessage,
        deadline: tokio::time::Instant,
    ) -> Result<(), RouteError> {
        // Too close to the function's timeout to finish safely: back to the
        // queue untouched (a timeout would lose the whole batch's response
        // and count a receive against every record).
        if tokio::time::Instant::now() >= deadline {
            return Err(RecordError::Dependency(community_aws::AwsError::retryable(
                "Invoke",
                "DeadlineReached",
                "no time left in this invocation",
            )));
        }
        let body = record.body.as_deref().unwrap_or("");
        let kind = record
            .message_attributes
            .get("kind")
            .and_then(|a| a.string_value.as_deref());
        if kind == Some(RESOLUTION_KIND) {
            return self.resolution(record, body).await;
        }
        let event = match decode(body) {
            Ok(event) => event,
            Err(RecordError::Poison(reason)) => return self.dead_letter(record, &reason).await,
            Err(other) => return Err(other),
        };
        let now = (self.clock)();
        match self.store.record(&event, now).await? {
            Recorded::Stored => {
                tracing::info!(
                    event_id = %event.event_id,
                    event_type = event.event_type.as_str(),
                    routing_target = event.routing_target.as_str(),
                    signal = event.signal.as_str(),
                    "event routed"
                );
                lambda_kit::emf::count_by(
                    STAGE,
                    "RoutingTarget",
                    event.routing_target.as_str(),
                    "Routed",
                    1,
                );
            }
            Recorded::Duplicate => {
                tracing::info!(event_id = %event.event_id, "duplicate event acknowledged")
            }
        }
        // Both steps below are idempotent, and also run for a duplicate: a
        // crash after the store must still tell the reviewer and settle the
        // member's stage when the record is retried.
        if event.routing_target == RoutingTarget::Review {
            self.tell_reviewer(&event, now).await?;
        }
        let waiting = if !event.actor.is_bot && !event.event_type.is_derived() {
            self.advance_lifecycle(&event, now).await?
        } else {
            Vec::new()
        };
        // Milestones first: "first contribution" says more than "thanks for
        // the pull request", and the cooldown lets only one of them through.
        for milestone_id in &waiting {
            self.recognize_milestone(&event.user_id, milestone_id, now)
                .await?;
        }
        if event.routing_target == RoutingTarget::Recognition
            && !event.actor.is_bot
            && !event.event_type.is_derived()
        {
            self.recognize(&event, now).await?;
        }
        if let Some(ticket_id) = tickets::closed_github_ticket(&event) {
            self.tickets
                .resolve(Tracker::Github, &ticket_id, event.timestamp, now)
                .await?;
        }
        if event.routing_target == RoutingTarget::ProductBacklog {
            let id = event.event_id.to_string();
            match self.tickets.file(&id, now, deadline).await {
                Ok(()) => {}
                Err(TicketError::Refused(reason)) => {
                    return self
                        .dead_letter(record, &format!("ticket refused: {reason}"))
                        .await;
                }
                Err(TicketError::Ledger(error)) => {
                    return self
                        .dead_letter(record, &format!("ticket ledger: {error}"))
                        .await;
                }
                Err(TicketError::Retry(error)) if self.last_receive(record) => {
                    return self
                        .dead_letter(
                            record,
                            &format!(
                                "ticket not filed after {} attempts: {error}",
                                self.max_receive_count
                            ),
                        )
                        .await;
                }
                Err(TicketError::Retry(error)) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Thanks the member in Slack for a delivered contribution.
    async fn recognize(
        &self,
        event: &CanonicalEvent,
        now: time::OffsetDateTime,
    ) -> Result<(), RouteError> {
        let id = event.event_id.to_string();
        self.post_recognition(&event.user_id, &id, &recognition_text(event), now)
            .await
    }

    /// Posts a recognition at most once per event and at most once per
    /// member per cooldown, recorded on the member either way.
    async fn post_recognition(
        &self,
        member_id: &str,
        id: &str,
        text: &str,
        now: time::OffsetDateTime,
    ) -> Result<(), RouteError> {
        use community_aws::recognition::Claim;
        match self
            .recognitions
            .claim(member_id, id, self.recognition_cooldown, now)
            .await?
        {
            Claim::Done => return Ok(()),
            Claim::Cooldown => {
                tracing::info!(
                    event_id = id,
                    member_id,
                    "recognition skipped: member recognised within the cooldown"
                );
                return Ok(());
            }
            Claim::Post => {}
        }
        match self.recognizer.notify(text).await {
            Ok(()) => {
                tracing::info!(event_id = id, member_id, "recognition posted");
                self.recognitions.posted(id, now).await?;
                Ok(())
            }
            // Slack answered "not now" (429/5xx): nothing was posted, so the
            // retry may post.
            Err(error) if error.is_retryable() && error.code != "Transport" => {
                self.recognitions.not_posted(id, now).await?;
                Err(error.into())
            }
            // Refused for good, or a lost answer that may have posted: at
            // most once means not again.
            Err(error) => {
                tracing::error!(event_id = id, error = %error, "recognition post failed; not retried");
                self.recognitions.posted(id, now).await?;
                Ok(())
            }
        }
    }

    /// A milestone's recognition from its pending claim (the text was
    /// written with the milestone), then settled on the member.
    async fn recognize_milestone(
        &self,
        member_id: &str,
        milestone_id: &str,
        now: time::OffsetDateTime,
    ) -> Result<(), RouteError> {
        if let Some(text) = self.recognitions.pending_text(milestone_id).await? {
            self.post_recognition(member_id, milestone_id, &text, now)
                .await?;
        }
        self.recognitions.settled(member_id, milestone_id).await?;
        Ok(())
    }

    /// Whether SQS will dead-letter this record if it fails once more
    /// (without a reason): then we dead-letter it ourselves, with one.
    fn last_receive(&self, record: &SqsMessage) -> bool {
        lambda_kit::fifo::is_last_receive(record, self.max_receive_count)
    }

    /// A tracker's (verified) resolution webhook, relayed by ingest.
    async fn resolution(&self, record: &SqsMessage, body: &str) -> Result<(), RouteError> {
        let message: ResolutionMessage = match serde_json::from_str(body) {
            Ok(message) => message,
            Err(e) => {
                return self
                    .dead_letter(
                        record,
                        &format!(
                            "not a ticket resolution: {}",
                            platforms::redacted_json_error(&e)
                        ),
                    )
                    .await;
            }
        };
        let now = (self.clock)();
        self.tickets
            .resolve(
                message.tracker,
                &message.ticket_id,
                message.resolved_at,
                now,
            )
            .await?;
        Ok(())
    }

    async fn tell_reviewer(
        &self,
        event: &CanonicalEvent,
        now: time::OffsetDateTime,
    ) -> Result<(), RouteError> {
        let id = event.event_id.to_string();
        if !self.reviews.needs_notice(&id, now).await? {
            return Ok(());
        }
        match self.reviewer.notify(&review_notice(event)).await {
            Ok(()) => {
                tracing::info!(event_id = %event.event_id, "reviewer notified of a held event");
            }
            // Slack refused for good (a revoked webhook): retrying cannot
            // help, and the event is safe in the review queue either way.
            Err(error) if !error.is_retryable() => {
                tracing::error!(
                    event_id = %event.event_id,
                    error = %error,
                    "reviewer notice refused; the event waits in `communityctl review list`"
                );
            }
            Err(error) => return Err(error.into()),
        }
        self.reviews.noticed(&id, now).await?;
        Ok(())
    }

    /// Re-evaluates the member's stage; records each transition as an event
    /// and then saves the stage, conditional on no activity having arrived
    /// meanwhile (else evaluates again). Returns the milestones whose
    /// recognition waits (saved now, or earlier and not settled).
    async fn advance_lifecycle(
        &self,
        event: &CanonicalEvent,
        now: time::OffsetDateTime,
    ) -> Result<Vec<String>, RouteError> {
        let config = self.lifecycle_config.as_ref();
        for _ in 0..4 {
            let Some(state) = self.lifecycle.load(&event.user_id, now).await? else {
                return Ok(Vec::new());
            };
            let mut waiting = state.pending_recognitions.clone();
            let standing = signal::lifecycle::standing(&activity_of(&state), now, config);
            let before = state
                .stage
                .as_deref()
                .and_then(Stage::parse)
                .unwrap_or(Stage::Newcomer);
            let transitions =
                signal::lifecycle::transitions(before, &standing, state.ever_contributed);
            let forget_before =
                canonical_event::day_of(now - time::Duration::days(config.window_days()));
            let stale = state.counts.iter().any(|(day, _, _)| *day < forget_before);
            if transitions.is_empty() && state.stage.is_some() && !stale {
                return Ok(waiting);
            }
            let mut milestones = Vec::with_capacity(transitions.len());
            for (offset, transition) in (0u32..).zip(&transitions) {
                milestones.push(
                    signal::lifecycle::transition_event(
                        event,
                        transition,
                        state.transitions + offset,
                        &standing,
                        &config.version,
                        now,
                    )
                    .map_err(|e| RecordError::Poison(e.to_string()))?,
                );
            }
            let update = StageUpdate {
                stage: standing.stage.as_str().to_owned(),
                ever_contributed: state.ever_contributed || standing.contributions > 0,
                transitions: state
                    .transitions
                    .saturating_add(u32::try_from(milestones.len()).unwrap_or(u32::MAX)),
                forget_before,
            };
            let saved = self
                .lifecycle
                .save(&event.user_id, &state, &update, &milestones, now)
                .await?;
            if saved {
                for milestone in &milestones {
                    tracing::info!(
                        event_id = %milestone.event_id,
                        member_id = event.user_id,
                        milestone = milestone.provenance.platform_event,
                        stage = standing.stage.as_str(),
                        "lifecycle transition recorded"
                    );
                }
            }
            if saved {
                waiting.extend(
                    milestones
                        .iter()
                        .filter(|m| m.routing_target == RoutingTarget::Recognition)
                        .map(|m| m.event_id.to_string()),
                );
                return Ok(waiting);
            }
        }
        Err(RecordError::Dependency(community_aws::AwsError::retryable(
            "UpdateItem",
            "LifecycleContention",
            "member activity kept changing during evaluation",
        )))
    }

    async fn dead_letter(&self, record: &SqsMessage, reason: &str) -> Result<(), RouteError> {
        community_aws::sqs::send_dead_letter(self.dead_letters.as_ref(), STAGE, record, reason)
            .await?;
        Ok(())
    }
}

/// A member's counted activity as the lifecycle model reads it: each count
/// becomes that many activities at the start of its day.
fn activity_of(state: &MemberActivity) -> Vec<Activity> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let mut activity = Vec::new();
    for (day, event_type, count) in &state.counts {
        let (Ok(date), Some(event_type)) = (
            time::Date::parse(day, &format),
            canonical_event::EventType::parse(event_type),
        ) else {
            continue;
        };
        let at = date.midnight().assume_utc();
        activity.extend((0..*count).map(|_| Activity { event_type, at }));
    }
    activity
}

/// With GitHub Issues as the tracker, the repository whose issues are
/// tickets already.
fn adopt_repository(settings: &trackers::config::TrackerConfig) -> Option<String> {
    match settings {
        trackers::config::TrackerConfig::Github(github) => {
            Some(format!("{}/{}", github.owner, github.repo))
        }
        _ => None,
    }
}

pub use community_aws::recognition::recognition_text;

/// What a reviewer reads in Slack: what was held, why, and how to decide.
/// Never the member's email or the whole payload.
pub fn review_notice(event: &CanonicalEvent) -> String {
    let flags = event
        .moderation
        .iter()
        .flat_map(|m| &m.flags)
        .map(|f| format!("{} {:.2}", f.kind.as_str(), f.score))
        .collect::<Vec<_>>()
        .join(", ");
    let preview: String = event
        .content
        .title
        .as_deref()
        .or(event.content.excerpt.as_deref())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect();
    format!(
        "Held for review: {} {} by {} ({flags})\n> {preview}\n{}Approve: `communityctl review approve {id}` · Reject: `communityctl review reject {id}`",
        event.platform.as_str(),
        event.event_type.as_str(),
        event.actor.handle,
        event
            .source
            .url
            .as_deref()
            .map(|u| format!("{u}\n"))
            .unwrap_or_default(),
        id = event.event_id,
    )
}

#[cfg(test)]
mod tests;
