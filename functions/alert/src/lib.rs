//! alert: on a schedule, measure → (compare, later) → notify.
//!
//! Reads today's counters and the dead-letter queue depths and posts a
//! summary to Slack when a webhook is configured (logs it otherwise).
//! Thresholds and the community metrics come with their own issue; the
//! wiring, config and test are here.

use std::collections::BTreeMap;
use std::sync::Arc;

use community_aws::AwsError;
use community_aws::counters::names;
use community_aws::ports::{CounterReader, Notifier, QueueDepth, QueueStats};
use lambda_kit::Clock;
use lambda_kit::config::{self, ConfigError, Lookup};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct Config {
    pub counters_table: String,
    pub dead_letter_queue_urls: Vec<String>,
    /// SSM parameter holding the Slack incoming-webhook URL; none = log only.
    pub slack_webhook_url_param: Option<String>,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(&config::Env)
    }

    pub fn from_lookup(source: &dyn Lookup) -> Result<Config, ConfigError> {
        Ok(Config {
            counters_table: config::required(source, "COUNTERS_TABLE")?,
            dead_letter_queue_urls: config::list(source, "DEAD_LETTER_QUEUE_URLS"),
            slack_webhook_url_param: config::optional(source, "SLACK_WEBHOOK_URL_PARAM"),
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

#[derive(Clone)]
pub struct Alert {
    pub counters: Arc<dyn CounterReader>,
    pub queues: Arc<dyn QueueStats>,
    pub dead_letter_queue_urls: Vec<String>,
    pub notifier: Arc<dyn Notifier>,
    /// Whether `notifier` really posts somewhere (for the summary).
    pub posts: bool,
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
        let param = config.slack_webhook_url_param.as_deref();
        let notifier = community_aws::slack::notifier_from_ssm(&clients.ssm, param)
            .await
            .map_err(|source| AlertError::Secret {
                param: param.unwrap_or_default().to_owned(),
                source,
            })?;
        let posts = param.is_some();
        Ok(Alert {
            counters: Arc::new(community_aws::counters::DynamoCounters::new(
                clients.dynamodb.clone(),
                &config.counters_table,
            )),
            queues: Arc::new(clients.sqs.clone()),
            dead_letter_queue_urls: config.dead_letter_queue_urls.clone(),
            notifier,
            posts,
            clock,
        })
    }

    pub async fn handle(&self) -> Result<Summary, AlertError> {
        let day = canonical_event::day_of((self.clock)());
        let counters = self.counters.day(&day).await.map_err(AlertError::Read)?;
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
            notified: false,
        };
        for url in &self.dead_letter_queue_urls {
            let QueueDepth { visible, in_flight } =
                self.queues.depth(url).await.map_err(AlertError::Read)?;
            summary
                .dead_letters
                .insert(queue_name(url).to_owned(), visible + in_flight);
        }
        self.notifier
            .notify(&summary.text())
            .await
            .map_err(AlertError::Notify)?;
        summary.notified = self.posts;
        tracing::info!(
            day = summary.day.as_str(),
            events = summary.events,
            dropped = summary.dropped,
            dead_letters = summary.dead_letters.values().sum::<i64>(),
            notified = summary.notified,
            "alert sweep done"
        );
        Ok(summary)
    }
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

#[cfg(test)]
mod tests;
