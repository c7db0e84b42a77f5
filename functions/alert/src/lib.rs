//! alert: on a schedule, measure → compare → notify.
//!
//! Measures the community and the pipeline (metrics.rs: active contributors,
//! signal mix, feedback resolution time, contribution conversion,
//! repeat-contributor ratio, review-queue age, dead letters; bots excluded),
//! emits the numbers as CloudWatch EMF metrics, compares them with the
//! deployer's thresholds (thresholds.rs) and tells Slack and/or an SNS email
//! topic once when a breach starts, at most once per cooldown while it
//! lasts, and once when it recovers. The breach state lives in the counters
//! table (`ALERT#state`), saved conditionally before notifying, so two
//! overlapping runs never both notify. The same numbers answer `GET
//! /metrics` (http.rs) and `communityctl metrics`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use community_aws::AwsError;
use community_aws::community::{self, DeadLetterStats, MemberSnapshot, ResolvedTicket};
use community_aws::counters::names;
use community_aws::ports::{CounterReader, Notifier, QueueDepth, QueueStats};
use lambda_kit::Clock;
use lambda_kit::config::{self, ConfigError, Lookup};
use serde::Serialize;
use time::OffsetDateTime;

use metrics::{CommunityMetrics, ContributionRule, MetricsInput};
use thresholds::{AlertState, Notice, Thresholds};

#[derive(Debug, Clone)]
pub struct Config {
    pub counters_table: String,
    pub members_table: String,
    pub outbox_table: String,
    pub reviews_table: String,
    pub dead_letter_queue_urls: Vec<String>,
    /// SSM parameter holding the Slack incoming-webhook URL; none = log only.
    pub slack_webhook_url_param: Option<String>,
    /// SNS topic alerts are published to (email subscribers); none = Slack only.
    pub alert_topic_arn: Option<String>,
    /// Replacement thresholds (JSON, see thresholds.rs); none = shipped.
    pub thresholds: Option<String>,
    /// SSM parameter with replacement lifecycle thresholds: its contribution
    /// types decide what counts as a contribution here too.
    pub lifecycle_config_param: Option<String>,
    /// Members first seen within this many days form the conversion cohort.
    pub cohort_days: i64,
    /// SSM SecureString holding the bearer token `GET /metrics` requires
    /// (none: the HTTP API authorizes the route with IAM).
    pub metrics_token_param: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(&config::Env)
    }

    pub fn from_lookup(source: &dyn Lookup) -> Result<Config, ConfigError> {
        Ok(Config {
            counters_table: config::required(source, "COUNTERS_TABLE")?,
            members_table: config::required(source, "MEMBERS_TABLE")?,
            outbox_table: config::required(source, "OUTBOX_TABLE")?,
            reviews_table: config::required(source, "REVIEWS_TABLE")?,
            dead_letter_queue_urls: config::list(source, "DEAD_LETTER_QUEUE_URLS"),
            slack_webhook_url_param: config::optional(source, "SLACK_WEBHOOK_URL_PARAM"),
            alert_topic_arn: config::optional(source, "ALERT_TOPIC_ARN"),
            thresholds: config::optional(source, "ALERT_THRESHOLDS"),
            lifecycle_config_param: config::optional(source, "LIFECYCLE_CONFIG_PARAM"),
            cohort_days: config::number(source, "COHORT_DAYS", 90, 7..=365)?,
            metrics_token_param: config::optional(source, "METRICS_TOKEN_PARAM"),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("could not read metrics: {0}")]
    Read(AwsError),
    #[error("could not notify: {0}")]
    Notify(AwsError),
    #[error("could not load the Slack webhook URL from {param}: {source}")]
    Secret { param: String, source: AwsError },
    #[error("alert thresholds: {0}")]
    Thresholds(String),
    #[error("contribution rule: {0}")]
    Contribution(String),
    #[error("metrics token: {0}")]
    MetricsToken(String),
}

/// What one run measured; also the function's return value, so an invoke
/// shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub day: String,
    pub events: i64,
    pub by_routing_target: BTreeMap<String, i64>,
    pub by_event_type: BTreeMap<String, i64>,
    pub dropped: i64,
    pub dead_letters: BTreeMap<String, i64>,
    /// Moderation today: flags by kind, and reviewers' verdicts.
    pub flagged: BTreeMap<String, i64>,
    pub reviews_approved: i64,
    pub reviews_rejected: i64,
    /// The community and pipeline metrics compared with the thresholds.
    pub metrics: CommunityMetrics,
    /// What this run told (fired, still breached, recovered), one line each.
    pub notices: Vec<String>,
    pub notified: bool,
}

impl Summary {
    /// Held events that a reviewer released, among today's verdicts:
    /// moderation's false-positive rate.
    pub fn false_positive_rate(&self) -> Option<f64> {
        let decided = self.reviews_approved + self.reviews_rejected;
        (decided > 0).then(|| self.reviews_approved as f64 / decided as f64)
    }

    /// The Slack text: short, one fact per line.
    pub fn text(&self) -> String {
        let mut lines = vec![format!(
            "*Community events for {}*: {} stored, {} dropped by rule",
            self.day, self.events, self.dropped
        )];
        if !self.by_routing_target.is_empty() {
            let targets: Vec<String> = self
                .by_routing_target
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            lines.push(format!("Routing: {}", targets.join(", ")));
        }
        if !self.by_event_type.is_empty() {
            let mut types: Vec<(&String, &i64)> = self.by_event_type.iter().collect();
            types.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = types
                .iter()
                .take(5)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            lines.push(format!("Top types: {}", top.join(", ")));
        }
        if !self.flagged.is_empty() || self.false_positive_rate().is_some() {
            let flags: Vec<String> = self
                .flagged
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let mut line = format!(
                "Moderation: flagged {}",
                if flags.is_empty() {
                    "none".to_owned()
                } else {
                    flags.join(", ")
                }
            );
            if let Some(rate) = self.false_positive_rate() {
                line.push_str(&format!(
                    "; reviewed {} ({} released, {} rejected: false-positive rate {:.0}%)",
                    self.reviews_approved + self.reviews_rejected,
                    self.reviews_approved,
                    self.reviews_rejected,
                    rate * 100.0
                ));
            }
            lines.push(line);
        }
        let waiting: i64 = self.dead_letters.values().sum();
        if waiting > 0 {
            let queues: Vec<String> = self
                .dead_letters
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            lines.push(format!(
                ":warning: Dead letters waiting: {}",
                queues.join(", ")
            ));
        } else {
            lines.push("Dead-letter queues: empty".to_owned());
        }
        lines.join("\n")
    }
}

/// Where the community numbers come from (the members, outbox and reviews
/// tables and the dead-letter queues in AWS).
#[async_trait]
pub trait CommunityReader: Send + Sync {
    async fn members(&self) -> Result<Vec<MemberSnapshot>, AwsError>;
    async fn resolved_tickets(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<ResolvedTicket>, AwsError>;
    async fn oldest_pending_review(&self) -> Result<Option<OffsetDateTime>, AwsError>;
    async fn dead_letters(
        &self,
        queue_url: &str,
        now: OffsetDateTime,
    ) -> Result<DeadLetterStats, AwsError>;
}

/// The breach state between runs, saved conditionally on its version.
#[async_trait]
pub trait AlertStates: Send + Sync {
    async fn load(&self) -> Result<community::StoredAlertStates<AlertState>, AwsError>;
    /// False when another run saved first (then this run notifies nothing).
    async fn save(
        &self,
        states: &BTreeMap<String, AlertState>,
        loaded_version: i64,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError>;
}

/// The AWS side of both ports.
#[derive(Debug, Clone)]
pub struct AwsCommunity {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub members_table: String,
    pub outbox_table: String,
    pub reviews_table: String,
    pub counters_table: String,
}

#[async_trait]
impl CommunityReader for AwsCommunity {
    async fn members(&self) -> Result<Vec<MemberSnapshot>, AwsError> {
        community::member_snapshots(&self.dynamodb, &self.members_table).await
    }
    async fn resolved_tickets(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<ResolvedTicket>, AwsError> {
        community::resolved_tickets(&self.dynamodb, &self.outbox_table, since).await
    }
    async fn oldest_pending_review(&self) -> Result<Option<OffsetDateTime>, AwsError> {
        Ok(
            community::oldest_pending_review(&self.dynamodb, &self.reviews_table)
                .await?
                .map(|r| r.held_at),
        )
    }
    async fn dead_letters(
        &self,
        queue_url: &str,
        now: OffsetDateTime,
    ) -> Result<DeadLetterStats, AwsError> {
        community::dead_letter_stats(&self.sqs, queue_url, now).await
    }
}

#[async_trait]
impl AlertStates for AwsCommunity {
    async fn load(&self) -> Result<community::StoredAlertStates<AlertState>, AwsError> {
        community::load_alert_states(&self.dynamodb, &self.counters_table).await
    }
    async fn save(
        &self,
        states: &BTreeMap<String, AlertState>,
        loaded_version: i64,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        community::save_alert_states(
            &self.dynamodb,
            &self.counters_table,
            states,
            loaded_version,
            now,
        )
        .await
    }
}

/// The breach states before a save, and the version the save wrote.
type Undo = (BTreeMap<String, AlertState>, i64);

#[derive(Clone)]
pub struct Alert {
    pub counters: Arc<dyn CounterReader>,
    pub queues: Arc<dyn QueueStats>,
    pub community: Arc<dyn CommunityReader>,
    pub states: Arc<dyn AlertStates>,
    pub dead_letter_queue_urls: Vec<String>,
    /// Slack (or the log when no webhook is configured).
    pub notifier: Arc<dyn Notifier>,
    /// The SNS email topic, when configured.
    pub email: Option<Arc<dyn Notifier>>,
    /// Whether `notifier` really posts somewhere (for the summary).
    pub posts: bool,
    pub thresholds: Arc<Thresholds>,
    pub contribution: Arc<ContributionRule>,
    pub cohort_days: i64,
    pub clock: Clock,
}

impl std::fmt::Debug for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alert")
            .field("dead_letter_queue_urls", &self.dead_letter_queue_urls)
            .finish_non_exhaustive()
    }
}

impl Alert {
    pub async fn from_clients(
        config: &Config,
        clients: &community_aws::Clients,
        clock: Clock,
    ) -> Result<Alert, AlertError> {
        use community_aws::ports::SecretSource;
        use secrecy::ExposeSecret;
        let param = config.slack_webhook_url_param.as_deref();
        let notifier = community_aws::slack::notifier_from_ssm(&clients.ssm, param)
            .await
            .map_err(|source| AlertError::Secret {
                param: param.unwrap_or_default().to_owned(),
                source,
            })?;
        let posts = param.is_some();
        let thresholds = match &config.thresholds {
            Some(json) => {
                Thresholds::from_json(json).map_err(|e| AlertError::Thresholds(e.to_string()))?
            }
            None => Thresholds::shipped(),
        };
        let contribution = match &config.lifecycle_config_param {
            Some(param) => {
                let text = community_aws::ssm::SsmSecrets::new(clients.ssm.clone())
                    .secret(param)
                    .await
                    .map_err(|e| AlertError::Contribution(e.to_string()))?;
                ContributionRule::from_lifecycle_json(text.expose_secret())
            }
            None => ContributionRule::shipped(),
        }
        .map_err(|e| AlertError::Contribution(e.to_string()))?;
        let aws = Arc::new(AwsCommunity {
            dynamodb: clients.dynamodb.clone(),
            sqs: clients.sqs.clone(),
            members_table: config.members_table.clone(),
            outbox_table: config.outbox_table.clone(),
            reviews_table: config.reviews_table.clone(),
            counters_table: config.counters_table.clone(),
        });
        Ok(Alert {
            counters: Arc::new(community_aws::counters::DynamoCounters::new(
                clients.dynamodb.clone(),
                &config.counters_table,
            )),
            queues: Arc::new(clients.sqs.clone()),
            community: aws.clone(),
            states: aws,
            dead_letter_queue_urls: config.dead_letter_queue_urls.clone(),
            notifier,
            email: config.alert_topic_arn.as_deref().map(|arn| {
                Arc::new(community_aws::sns::SnsTopic::new(clients.sns.clone(), arn))
                    as Arc<dyn Notifier>
            }),
            posts,
            thresholds: Arc::new(thresholds),
            contribution: Arc::new(contribution),
            cohort_days: config.cohort_days,
            clock,
        })
    }

    /// The community and pipeline metrics now (what `GET /metrics` returns).
    pub async fn measure(&self, now: OffsetDateTime) -> Result<CommunityMetrics, AlertError> {
        let read = AlertError::Read;
        let mut counters = BTreeMap::new();
        for day in metrics::last_days(now, metrics::SHORT_WINDOW_DAYS) {
            let values = self.counters.day(&day).await.map_err(read)?;
            counters.insert(day, values);
        }
        let members = self.community.members().await.map_err(read)?;
        let since = now - time::Duration::days(metrics::RESOLUTION_WINDOW_DAYS);
        let resolved = self.community.resolved_tickets(since).await.map_err(read)?;
        let oldest_pending_review = self.community.oldest_pending_review().await.map_err(read)?;
        let mut dead_letters = BTreeMap::new();
        for url in &self.dead_letter_queue_urls {
            let stats = self.community.dead_letters(url, now).await.map_err(read)?;
            dead_letters.insert(queue_name(url).to_owned(), stats);
        }
        Ok(metrics::compute(&MetricsInput {
            now,
            members: &members,
            counters: &counters,
            resolved_tickets: &resolved,
            oldest_pending_review,
            dead_letters: &dead_letters,
            contribution: &self.contribution,
            cohort_days: self.cohort_days,
        }))
    }

    pub async fn handle(&self) -> Result<Summary, AlertError> {
        let now = (self.clock)();
        let day = canonical_event::day_of(now);
        let counters = self.counters.day(&day).await.map_err(AlertError::Read)?;
        let metrics = self.measure(now).await?;
        emit_metrics(&metrics);
        let mut summary = Summary {
            events: counters.get(names::EVENTS).copied().unwrap_or(0),
            dropped: counters.get(names::DROPPED).copied().unwrap_or(0),
            by_routing_target: with_prefix(&counters, "target:"),
            by_event_type: with_prefix(&counters, "type:"),
            dead_letters: BTreeMap::new(),
            flagged: with_prefix(&counters, "flag:"),
            reviews_approved: counters
                .get(&names::review("approved"))
                .copied()
                .unwrap_or(0),
            reviews_rejected: counters
                .get(&names::review("rejected"))
                .copied()
                .unwrap_or(0),
            day,
            metrics,
            notices: Vec::new(),
            notified: false,
        };
        for url in &self.dead_letter_queue_urls {
            let QueueDepth { visible, in_flight } =
                self.queues.depth(url).await.map_err(AlertError::Read)?;
            summary
                .dead_letters
                .insert(queue_name(url).to_owned(), visible + in_flight);
        }
        let (notices, undo) = self.compare(&summary.metrics, now).await?;
        summary.notices = notices.iter().map(Notice::line).collect();
        if !notices.is_empty() {
            let text = format!(
                "{}\n\n{}",
                thresholds::notices_text(&notices),
                summary.text()
            );
            if let Err(error) = self.notify(&text).await {
                // Nobody was told: put the previous state back, so the next
                // sweep decides (and notifies) again instead of believing
                // it did. A channel that did accept may then hear it twice.
                if let Some((previous, saved_version)) = undo {
                    let restored = self
                        .states
                        .save(&previous, saved_version, now)
                        .await
                        .map_err(AlertError::Read)?;
                    tracing::warn!(restored, "alert notice not delivered; state rolled back");
                }
                return Err(error);
            }
            summary.notified = self.posts || self.email.is_some();
        }
        tracing::info!(
            day = summary.day.as_str(),
            events = summary.events,
            dropped = summary.dropped,
            dead_letters = summary.dead_letters.values().sum::<i64>(),
            notices = summary.notices.len(),
            notified = summary.notified,
            "alert sweep done"
        );
        Ok(summary)
    }

    /// Thresholds against the metrics: the notices this run must send. The
    /// new state is saved first; a run that loses the race to another
    /// (overlapping) run sends nothing, so each notice goes out once.
    ///
    /// Also returns how to undo the save (the previous states and the
    /// version this save wrote) for when the notices cannot be delivered.
    async fn compare(
        &self,
        metrics: &CommunityMetrics,
        now: OffsetDateTime,
    ) -> Result<(Vec<Notice>, Option<Undo>), AlertError> {
        let breaches = thresholds::evaluate(metrics, &self.thresholds);
        let loaded = self.states.load().await.map_err(AlertError::Read)?;
        let (next, notices) =
            thresholds::decide(&loaded.states, &breaches, metrics, &self.thresholds, now);
        if next == loaded.states {
            return Ok((notices, None));
        }
        let saved = self
            .states
            .save(&next, loaded.version, now)
            .await
            .map_err(AlertError::Read)?;
        if !saved {
            tracing::warn!("another alert run saved the breach state first; it notifies");
            return Ok((Vec::new(), None));
        }
        Ok((
            notices,
            Some((loaded.states, loaded.version.saturating_add(1))),
        ))
    }

    /// Slack and the email topic; both are tried before an error is returned.
    async fn notify(&self, text: &str) -> Result<(), AlertError> {
        let slack = self.notifier.notify(text).await;
        let email = match &self.email {
            Some(topic) => topic.notify(text).await,
            None => Ok(()),
        };
        slack.and(email).map_err(AlertError::Notify)
    }
}

/// The metrics as CloudWatch EMF (namespace CommunityEvents, dimension
/// Function=alert): what the dashboard and any metric alarm read.
pub fn emit_metrics(metrics: &CommunityMetrics) {
    use lambda_kit::emf::{Emf, Unit};
    let mut emf = Emf::new(lambda_kit::emf::NAMESPACE)
        .dimension("Function", "alert")
        .count("ActiveContributors7d", metrics.active_contributors_7d)
        .count("ActiveContributors30d", metrics.active_contributors_30d)
        .count(
            "ActiveCodeContributors7d",
            metrics.active_code_contributors_7d,
        )
        .count(
            "ActiveCodeContributors30d",
            metrics.active_code_contributors_30d,
        )
        .count("DeadLetters", metrics.dead_letters)
        .value(
            "ReviewQueueAge",
            metrics.review_queue_age_seconds as f64,
            Unit::Seconds,
        );
    if let Some(seconds) = metrics.median_resolution_seconds {
        emf = emf.value("MedianResolutionTime", seconds, Unit::Seconds);
    }
    if let Some(rate) = metrics.conversion_rate {
        emf = emf.value("ContributionConversionRate", rate * 100.0, Unit::Percent);
    }
    if let Some(ratio) = metrics.repeat_contributor_ratio {
        emf = emf.value("RepeatContributorRatio", ratio * 100.0, Unit::Percent);
    }
    if let Some(age) = metrics.dead_letter_age_seconds {
        emf = emf.value("DeadLetterAge", age as f64, Unit::Seconds);
    }
    for (category, share) in &metrics.signal_distribution_7d {
        emf = emf.count(&format!("Signal7d_{category}"), share.count);
    }
    emf.emit();
}

fn with_prefix(counters: &BTreeMap<String, i64>, prefix: &str) -> BTreeMap<String, i64> {
    counters
        .iter()
        .filter_map(|(k, v)| k.strip_prefix(prefix).map(|name| (name.to_owned(), *v)))
        .collect()
}

/// The last path segment of a queue URL: its name.
fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

pub mod http;
pub mod metrics;
pub mod thresholds;

#[cfg(test)]
mod tests;
