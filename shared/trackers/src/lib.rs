//! Ticket trackers behind one port.
//!
//! The route function turns a product-backlog event into exactly one ticket.
//! It writes a ledger row before calling a tracker and completes it after;
//! when a crash leaves the row unfinished it asks the tracker whether the
//! ticket (or +1 comment) already exists, by the event's marker, before
//! trying again. This crate is that tracker side: create, find, comment,
//! find-comment, each bounded by a deadline and honest about whether a
//! failure can be retried.
//!
//! Layout: [`http`] is the one retry loop every sink uses; [`linear`],
//! [`jira`] and [`github`] are the three sinks; [`config`] turns the SSM
//! document into a sink; [`webhooks`] verifies and parses the trackers'
//! resolution webhooks (pure, no I/O); [`marker`] says how a ticket or a
//! comment is recognised again.

use std::time::Duration;

mod adf;
pub mod config;
pub mod github;
pub mod http;
pub mod jira;
pub mod linear;
pub mod marker;
pub mod webhooks;

pub use config::{ConfigError, TrackerConfig};
pub use github::{GithubConfig, GithubSink};
pub use jira::{JiraConfig, JiraSink};
pub use linear::{LinearConfig, LinearSink};
pub use webhooks::{Resolution, WebhookError};

use async_trait::async_trait;
use time::OffsetDateTime;

/// Which tracker a ticket lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tracker {
    Linear,
    Jira,
    Github,
}

impl Tracker {
    pub fn as_str(self) -> &'static str {
        match self {
            Tracker::Linear => "linear",
            Tracker::Jira => "jira",
            Tracker::Github => "github",
        }
    }

    pub fn parse(text: &str) -> Option<Tracker> {
        match text {
            "linear" => Some(Tracker::Linear),
            "jira" => Some(Tracker::Jira),
            "github" => Some(Tracker::Github),
            _ => None,
        }
    }
}

/// What to open. `event_id` is the marker the ticket carries (so a lost
/// answer can be found again); `idempotency_id` is a UUID derived from the
/// event id (Linear takes it as the issue's own id).
#[derive(Debug, Clone, PartialEq)]
pub struct TicketDraft {
    pub event_id: String,
    pub idempotency_id: uuid::Uuid,
    pub title: String,
    /// Markdown: source link, reporting member, category, the score's reasons.
    pub body: String,
    pub labels: Vec<String>,
}

/// A ticket as the tracker names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketRef {
    pub tracker: Tracker,
    /// The id the tracker's resolution webhook carries: Linear's issue UUID,
    /// Jira's numeric issue id, GitHub's `owner/repo#number`.
    pub id: String,
    /// What people call it: `ENG-12`, `PROJ-3`, `#12`.
    pub key: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// 429 (or GitHub's 403 secondary limit, Linear's RATELIMITED) that did
    /// not clear before the deadline; `retry_after` is the tracker's own hint.
    #[error("{tracker} rate limit: {detail}")]
    RateLimited {
        tracker: &'static str,
        retry_after: Option<Duration>,
        detail: String,
    },
    /// 5xx, timeouts, connection errors: worth retrying later.
    #[error("{tracker} unavailable: {detail}")]
    Unavailable {
        tracker: &'static str,
        detail: String,
    },
    /// A request that can never succeed as sent (4xx other than 429, bad
    /// credentials, unknown project, validation errors). Never retried.
    /// `status` is the tracker's HTTP status, or 0 when the request was
    /// refused here before anything was sent (e.g. a malformed ticket id).
    #[error("{tracker} rejected the request ({status}): {detail}")]
    Rejected {
        tracker: &'static str,
        status: u16,
        detail: String,
    },
}

impl SinkError {
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SinkError::Rejected { .. })
    }
}

/// One tracker. Every call gives up (retryably) when `deadline` would pass.
#[async_trait]
pub trait TicketSink: Send + Sync {
    fn tracker(&self) -> Tracker;
    /// Opens the ticket (with the marker in its body and, where the tracker
    /// allows, the idempotency id).
    async fn create(
        &self,
        draft: &TicketDraft,
        deadline: tokio::time::Instant,
    ) -> Result<TicketRef, SinkError>;
    /// The ticket an earlier, unconfirmed `create` for this draft opened,
    /// if any. `since` is when that attempt started.
    async fn find(
        &self,
        draft: &TicketDraft,
        since: OffsetDateTime,
        deadline: tokio::time::Instant,
    ) -> Result<Option<TicketRef>, SinkError>;
    /// Adds a comment carrying `marker` (a +1 from another member).
    async fn comment(
        &self,
        ticket: &TicketRef,
        marker: &str,
        body: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(), SinkError>;
    /// Whether a comment carrying `marker` is already on the ticket.
    async fn has_comment(
        &self,
        ticket: &TicketRef,
        marker: &str,
        deadline: tokio::time::Instant,
    ) -> Result<bool, SinkError>;
}
