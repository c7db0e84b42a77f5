//! Linear, over its GraphQL API.
//!
//! Exactly-once comes from Linear itself: `IssueCreateInput.id` lets the
//! client choose the issue's UUID, and we choose the draft's
//! `idempotency_id`. A retry after a lost answer therefore either creates
//! the issue or collides with the one the lost attempt created, which we
//! then fetch by that id; `find` is the same lookup. Comments get a
//! client-chosen id too (a UUID v5 of ticket and marker), so a retried
//! `commentCreate` cannot post a second +1.
//!
//! Linear answers GraphQL errors with HTTP 400 (or 200) and an `errors`
//! array; a rate limit is such an error with `extensions.code`
//! `RATELIMITED`, its budget's reset in `X-RateLimit-*-Reset` headers (epoch
//! milliseconds).

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::time::Instant;
use uuid::Uuid;

use crate::http::{self, Answer, Call, Failure, Replay, RetryPolicy, Verdict};
use crate::marker;
use crate::{SinkError, TicketDraft, TicketRef, TicketSink, Tracker};

const TRACKER: &str = "linear";

/// Comment ids are UUID v5 of (ticket id, marker) in this namespace. Fixed
/// forever: changing it would let a redelivered +1 post a second comment.
const COMMENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x3b0e_9c55_7d1a_4f62_8e0c_5a4b_2d19_c7e1);

/// Pages of comments `has_comment` reads at most (100 each).
const MAX_COMMENT_PAGES: usize = 10;

const CREATE_ISSUE: &str = "mutation TicketCreate($input: IssueCreateInput!) { \
    issueCreate(input: $input) { success issue { id identifier url } } }";
const LOOKUP_ISSUE: &str = "query TicketLookup($id: String!) { \
    issue(id: $id) { id identifier url } }";
const CREATE_COMMENT: &str = "mutation TicketComment($input: CommentCreateInput!) { \
    commentCreate(input: $input) { success comment { id } } }";
const LIST_COMMENTS: &str = "query TicketComments($id: String!, $after: String) { \
    issue(id: $id) { comments(first: 100, after: $after) { \
    nodes { body } pageInfo { hasNextPage endCursor } } } }";

/// Where and as whom to open Linear issues.
#[derive(Clone)]
pub struct LinearConfig {
    /// The GraphQL endpoint, [`LinearConfig::DEFAULT_API_URL`] in production.
    pub api_url: String,
    /// A personal API key, sent as `Authorization: <key>` (no `Bearer`).
    pub api_key: SecretString,
    /// The team new issues belong to (its UUID).
    pub team_id: String,
    /// Labels every new issue gets (their UUIDs); may be empty.
    pub label_ids: Vec<String>,
}

impl LinearConfig {
    pub const DEFAULT_API_URL: &'static str = "https://api.linear.app/graphql";

    pub fn new(api_key: SecretString, team_id: impl Into<String>) -> LinearConfig {
        LinearConfig {
            api_url: LinearConfig::DEFAULT_API_URL.to_owned(),
            api_key,
            team_id: team_id.into(),
            label_ids: Vec::new(),
        }
    }
}

impl fmt::Debug for LinearConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinearConfig")
            .field("api_url", &self.api_url)
            .field("api_key", &"[redacted]")
            .field("team_id", &self.team_id)
            .field("label_ids", &self.label_ids)
            .finish()
    }
}

/// [`TicketSink`] for Linear.
#[derive(Debug, Clone)]
pub struct LinearSink {
    http: reqwest::Client,
    config: LinearConfig,
    retry: RetryPolicy,
}

impl LinearSink {
    pub fn new(http: reqwest::Client, config: LinearConfig) -> LinearSink {
        LinearSink {
            http,
            config,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> LinearSink {
        self.retry = retry;
        self
    }

    /// One GraphQL operation through the retry loop. GraphQL-level errors
    /// come back inside the answer for the caller to interpret.
    async fn graphql(
        &self,
        operation: &'static str,
        query: &'static str,
        variables: Value,
        deadline: Instant,
        replay: Replay,
    ) -> Result<GraphqlAnswer, Failure> {
        let mut key =
            HeaderValue::from_str(self.config.api_key.expose_secret()).map_err(|_| Failure {
                error: SinkError::Rejected {
                    tracker: TRACKER,
                    status: 0,
                    detail: "API key is not a valid header value".to_owned(),
                },
                maybe_applied: false,
            })?;
        key.set_sensitive(true);
        let payload = json!({ "query": query, "variables": variables });
        let call = Call {
            tracker: Tracker::Linear,
            operation,
            deadline,
            replay,
        };
        let answer = http::send(
            &call,
            &self.retry,
            || {
                self.http
                    .post(&self.config.api_url)
                    .header(AUTHORIZATION, key.clone())
                    .json(&payload)
            },
            classify,
        )
        .await?;
        GraphqlAnswer::read(&answer).map_err(|error| Failure {
            error,
            maybe_applied: false,
        })
    }

    /// The issue with this id, if it exists.
    async fn lookup(&self, id: &str, deadline: Instant) -> Result<Option<TicketRef>, SinkError> {
        let answer = self
            .graphql(
                "find",
                LOOKUP_ISSUE,
                json!({ "id": id }),
                deadline,
                Replay::Idempotent,
            )
            .await?;
        if !answer.errors.is_empty() {
            if answer.errors.iter().any(GraphqlError::is_not_found) {
                return Ok(None);
            }
            return Err(answer.rejection());
        }
        match answer.data.get("issue") {
            Some(Value::Null) | None => Ok(None),
            Some(issue) => ticket_from(issue).map(Some),
        }
    }

    async fn comment_bodies_contain(
        &self,
        ticket: &TicketRef,
        marker: &str,
        deadline: Instant,
    ) -> Result<bool, SinkError> {
        let mut after: Option<String> = None;
        for _ in 0..MAX_COMMENT_PAGES {
            let answer = self
                .graphql(
                    "has_comment",
                    LIST_COMMENTS,
                    json!({ "id": ticket.id, "after": after }),
                    deadline,
                    Replay::Idempotent,
                )
                .await?;
            if !answer.errors.is_empty() {
                return Err(answer.rejection());
            }
            let comments = &answer.data["issue"]["comments"];
            let found = comments["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|node| node["body"].as_str())
                .any(|body| body.contains(marker));
            if found {
                return Ok(true);
            }
            let page = &comments["pageInfo"];
            match (page["hasNextPage"].as_bool(), page["endCursor"].as_str()) {
                (Some(true), Some(cursor)) => after = Some(cursor.to_owned()),
                _ => return Ok(false),
            }
        }
        tracing::warn!(
            tracker = TRACKER,
            ticket_id = %ticket.id,
            "comment scan stopped after {MAX_COMMENT_PAGES} pages"
        );
        Ok(false)
    }
}

#[async_trait]
impl TicketSink for LinearSink {
    fn tracker(&self) -> Tracker {
        Tracker::Linear
    }

    async fn create(&self, draft: &TicketDraft, deadline: Instant) -> Result<TicketRef, SinkError> {
        let issue_id = draft.idempotency_id.hyphenated().to_string();
        let mut input = json!({
            "id": issue_id,
            "teamId": self.config.team_id,
            "title": draft.title,
            "description": marker::with_visible_marker(
                &draft.body,
                &marker::ticket_marker(&draft.event_id),
            ),
        });
        if !self.config.label_ids.is_empty() {
            input["labelIds"] = json!(self.config.label_ids);
        }
        // Replaying is safe: the id makes a second issueCreate collide.
        let answer = self
            .graphql(
                "create",
                CREATE_ISSUE,
                json!({ "input": input }),
                deadline,
                Replay::Idempotent,
            )
            .await?;
        if answer.errors.is_empty() {
            let payload = &answer.data["issueCreate"];
            if payload["success"].as_bool() == Some(true) && payload["issue"].is_object() {
                let ticket = ticket_from(&payload["issue"])?;
                tracing::info!(
                    tracker = TRACKER,
                    event_id = %draft.event_id,
                    ticket_id = %ticket.id,
                    ticket_key = %ticket.key,
                    "ticket created"
                );
                return Ok(ticket);
            }
            return Err(SinkError::Unavailable {
                tracker: TRACKER,
                detail: "issueCreate did not report success".to_owned(),
            });
        }
        if answer.errors.iter().any(GraphqlError::is_access_error) {
            return Err(answer.rejection());
        }
        // The usual cause of an input error here is our own earlier attempt:
        // its answer was lost, the issue exists, and the id now collides.
        match self.lookup(&issue_id, deadline).await {
            Ok(Some(ticket)) => {
                tracing::info!(
                    tracker = TRACKER,
                    event_id = %draft.event_id,
                    ticket_id = %ticket.id,
                    "issue id already taken by our earlier attempt; using that ticket"
                );
                Ok(ticket)
            }
            Ok(None) => Err(answer.rejection()),
            Err(error) if error.is_retryable() => Err(error),
            Err(_) => Err(answer.rejection()),
        }
    }

    async fn find(
        &self,
        draft: &TicketDraft,
        _since: OffsetDateTime,
        deadline: Instant,
    ) -> Result<Option<TicketRef>, SinkError> {
        let found = self
            .lookup(&draft.idempotency_id.hyphenated().to_string(), deadline)
            .await?;
        tracing::info!(
            tracker = TRACKER,
            event_id = %draft.event_id,
            found = found.is_some(),
            "looked for the ticket of an unconfirmed create"
        );
        Ok(found)
    }

    async fn comment(
        &self,
        ticket: &TicketRef,
        marker: &str,
        body: &str,
        deadline: Instant,
    ) -> Result<(), SinkError> {
        check_ticket(ticket)?;
        marker::check_comment_marker(TRACKER, marker)?;
        let comment_id = comment_id(&ticket.id, marker);
        let input = json!({
            "id": comment_id.hyphenated().to_string(),
            "issueId": ticket.id,
            "body": marker::with_visible_marker(body, marker),
        });
        let answer = self
            .graphql(
                "comment",
                CREATE_COMMENT,
                json!({ "input": input }),
                deadline,
                Replay::Idempotent,
            )
            .await?;
        if answer.errors.is_empty() {
            if answer.data["commentCreate"]["success"].as_bool() == Some(true) {
                tracing::info!(tracker = TRACKER, ticket_id = %ticket.id, "comment added");
                return Ok(());
            }
            return Err(SinkError::Unavailable {
                tracker: TRACKER,
                detail: "commentCreate did not report success".to_owned(),
            });
        }
        if answer.errors.iter().any(GraphqlError::is_access_error) {
            return Err(answer.rejection());
        }
        // As with issues: a colliding id means our earlier attempt landed.
        match self.comment_bodies_contain(ticket, marker, deadline).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(answer.rejection()),
            Err(error) if error.is_retryable() => Err(error),
            Err(_) => Err(answer.rejection()),
        }
    }

    async fn has_comment(
        &self,
        ticket: &TicketRef,
        marker: &str,
        deadline: Instant,
    ) -> Result<bool, SinkError> {
        check_ticket(ticket)?;
        marker::check_comment_marker(TRACKER, marker)?;
        self.comment_bodies_contain(ticket, marker, deadline).await
    }
}

/// The comment id for `marker` on `ticket_id`: the same +1 always gets the
/// same id.
fn comment_id(ticket_id: &str, marker: &str) -> Uuid {
    let name = format!("{ticket_id}\u{1f}{marker}");
    Uuid::new_v5(&COMMENT_ID_NAMESPACE, name.as_bytes())
}

fn check_ticket(ticket: &TicketRef) -> Result<(), SinkError> {
    if ticket.tracker != Tracker::Linear || ticket.id.trim().is_empty() {
        return Err(SinkError::Rejected {
            tracker: TRACKER,
            status: 0,
            detail: format!(
                "not a Linear ticket: {} {}",
                ticket.tracker.as_str(),
                ticket.key
            ),
        });
    }
    Ok(())
}

fn ticket_from(issue: &Value) -> Result<TicketRef, SinkError> {
    let field = |name: &str| issue[name].as_str().map(str::to_owned);
    match (field("id"), field("identifier"), field("url")) {
        (Some(id), Some(key), Some(url)) => Ok(TicketRef {
            tracker: Tracker::Linear,
            id,
            key,
            url,
        }),
        _ => Err(SinkError::Unavailable {
            tracker: TRACKER,
            detail: "answer lacks the issue's id, identifier or url".to_owned(),
        }),
    }
}

/// Linear's rate limit and transient errors ride on GraphQL errors, often
/// with HTTP 400; other GraphQL errors go to the sink to interpret.
fn classify(answer: &Answer) -> Verdict {
    if let Ok(GraphqlAnswer { errors, .. }) = GraphqlAnswer::read(answer)
        && !errors.is_empty()
    {
        let detail = summary(&errors);
        if errors.iter().any(GraphqlError::is_rate_limited) {
            return Verdict::RateLimited {
                detail,
                min_wait: None,
            };
        }
        if errors.iter().any(GraphqlError::is_transient) {
            return Verdict::Unavailable {
                detail,
                maybe_applied: true,
            };
        }
        if answer.status == 200 || answer.status == 400 {
            return Verdict::Accept;
        }
    }
    http::classify_status(answer)
}

fn summary(errors: &[GraphqlError]) -> String {
    let messages: Vec<&str> = errors.iter().map(GraphqlError::message).collect();
    http::truncate_detail(&messages.join("; "))
}

/// A GraphQL answer: `data` (null when absent) and `errors`.
struct GraphqlAnswer {
    status: u16,
    data: Value,
    errors: Vec<GraphqlError>,
}

impl GraphqlAnswer {
    fn read(answer: &Answer) -> Result<GraphqlAnswer, SinkError> {
        let body: Value = answer.json().map_err(|_| SinkError::Unavailable {
            tracker: TRACKER,
            detail: format!("HTTP {}: answer is not JSON", answer.status),
        })?;
        let errors = body["errors"]
            .as_array()
            .map(|errors| errors.iter().map(GraphqlError::from_value).collect())
            .unwrap_or_default();
        Ok(GraphqlAnswer {
            status: answer.status,
            data: body.get("data").cloned().unwrap_or(Value::Null),
            errors,
        })
    }

    fn rejection(&self) -> SinkError {
        SinkError::Rejected {
            tracker: TRACKER,
            status: self.status,
            detail: summary(&self.errors),
        }
    }
}

struct GraphqlError {
    message: String,
    /// `extensions.code`, upper case (`RATELIMITED`, `INPUT_ERROR`, ...).
    code: String,
    /// `extensions.type`, lower case (`ratelimited`, `invalid input`, ...),
    /// as the Linear SDK reads it.
    kind: String,
}

impl GraphqlError {
    fn from_value(value: &Value) -> GraphqlError {
        let extensions = &value["extensions"];
        let message = extensions["userPresentableMessage"]
            .as_str()
            .or_else(|| value["message"].as_str())
            .unwrap_or("GraphQL error");
        GraphqlError {
            message: message.to_owned(),
            code: extensions["code"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_uppercase(),
            kind: extensions["type"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase(),
        }
    }

    fn message(&self) -> &str {
        &self.message
    }

    fn is_rate_limited(&self) -> bool {
        self.code == "RATELIMITED" || self.kind == "ratelimited"
    }

    fn is_transient(&self) -> bool {
        matches!(self.code.as_str(), "INTERNAL_ERROR" | "LOCK_TIMEOUT")
            || matches!(self.kind.as_str(), "internal error" | "lock timeout")
    }

    fn is_access_error(&self) -> bool {
        matches!(
            self.code.as_str(),
            "AUTHENTICATION_ERROR" | "FORBIDDEN" | "UNAUTHENTICATED"
        ) || matches!(self.kind.as_str(), "authentication error" | "forbidden")
    }

    fn is_not_found(&self) -> bool {
        let message = self.message.to_ascii_lowercase();
        matches!(self.code.as_str(), "ENTITY_NOT_FOUND" | "NOT_FOUND")
            || message.contains("not found")
            || message.contains("could not find")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_ids_are_stable_per_ticket_and_marker() {
        let first = comment_id("issue-1", "community-event:e1:plus1:m7");
        assert_eq!(first, comment_id("issue-1", "community-event:e1:plus1:m7"));
        assert_ne!(first, comment_id("issue-2", "community-event:e1:plus1:m7"));
        assert_ne!(first, comment_id("issue-1", "community-event:e1:plus1:m8"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let config = LinearConfig::new(SecretString::from("lin_api_SECRET"), "team");
        assert!(!format!("{config:?}").contains("SECRET"));
    }
}
