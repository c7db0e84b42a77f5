//! Jira Cloud, over REST v3.
//!
//! Jira has no idempotency key, so a create is never re-sent after an
//! ambiguous failure (timeout, 500, 502, 504). Every issue carries the label
//! `ce-<event id>` ([`marker::jira_event_label`]), and `find` (also run right
//! after an ambiguous create) searches for it with JQL through
//! `POST /rest/api/3/search/jql`, the endpoint that replaced the removed
//! `/rest/api/3/search`. Descriptions and comments are ADF documents built
//! from the draft's markdown.
//!
//! JQL search is eventually consistent: an issue created seconds ago may not
//! be found yet. When the reconciliation after an ambiguous create finds
//! nothing, the error stays retryable and the caller's ledger asks again
//! later, by which time the index has caught up.

use std::fmt;

use async_trait::async_trait;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::adf;
use crate::http::{self, Call, Failure, Replay, RetryPolicy};
use crate::marker;
use crate::{SinkError, TicketDraft, TicketRef, TicketSink, Tracker};

const TRACKER: &str = "jira";

/// Jira rejects longer summaries.
const SUMMARY_LIMIT: usize = 255;

/// Comments per page, and pages `has_comment` reads at most.
const COMMENTS_PER_PAGE: u64 = 100;
const MAX_COMMENT_PAGES: usize = 10;

/// Where and as whom to open Jira issues.
#[derive(Clone)]
pub struct JiraConfig {
    /// The site, e.g. `https://example.atlassian.net` (no trailing slash needed).
    pub base_url: String,
    /// The Atlassian account the API token belongs to.
    pub email: String,
    pub api_token: SecretString,
    /// Project key, e.g. `COMM`.
    pub project_key: String,
    /// Issue type name, e.g. `Bug` or `Task`.
    pub issue_type: String,
}

impl fmt::Debug for JiraConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JiraConfig")
            .field("base_url", &self.base_url)
            .field("email", &self.email)
            .field("api_token", &"[redacted]")
            .field("project_key", &self.project_key)
            .field("issue_type", &self.issue_type)
            .finish()
    }
}

/// [`TicketSink`] for Jira Cloud.
#[derive(Debug, Clone)]
pub struct JiraSink {
    http: reqwest::Client,
    config: JiraConfig,
    retry: RetryPolicy,
}

impl JiraSink {
    pub fn new(http: reqwest::Client, mut config: JiraConfig) -> JiraSink {
        config.base_url = config.base_url.trim_end_matches('/').to_owned();
        JiraSink {
            http,
            config,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> JiraSink {
        self.retry = retry;
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        // basic_auth marks the header sensitive.
        request
            .basic_auth(
                &self.config.email,
                Some(self.config.api_token.expose_secret()),
            )
            .header(reqwest::header::ACCEPT, "application/json")
    }

    async fn send(
        &self,
        operation: &'static str,
        deadline: Instant,
        replay: Replay,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<http::Answer, Failure> {
        let call = Call {
            tracker: Tracker::Jira,
            operation,
            deadline,
            replay,
        };
        http::send(
            &call,
            &self.retry,
            || self.authorized(build()),
            http::classify_status,
        )
        .await
    }

    async fn search_by_label(
        &self,
        label: &str,
        deadline: Instant,
    ) -> Result<Option<TicketRef>, SinkError> {
        let jql = format!(
            "project = \"{}\" AND labels = \"{}\"",
            jql_escape(&self.config.project_key),
            jql_escape(label)
        );
        let request = json!({ "jql": jql, "maxResults": 1, "fields": ["key"] });
        let url = self.url("/rest/api/3/search/jql");
        // A search is a read, whatever its method.
        let answer = self
            .send("find", deadline, Replay::Idempotent, || {
                self.http.post(&url).json(&request)
            })
            .await?;
        let body: Value = parse(&answer)?;
        match body["issues"].as_array().and_then(|issues| issues.first()) {
            Some(issue) => self.ticket_from(issue).map(Some),
            None => Ok(None),
        }
    }

    fn ticket_from(&self, issue: &Value) -> Result<TicketRef, SinkError> {
        // Jira sends the id as a string; accept a number too.
        let id = match &issue["id"] {
            Value::String(id) => Some(id.clone()),
            Value::Number(id) => Some(id.to_string()),
            _ => None,
        };
        match (id, issue["key"].as_str()) {
            (Some(id), Some(key)) => Ok(TicketRef {
                tracker: Tracker::Jira,
                url: format!("{}/browse/{key}", self.config.base_url),
                id,
                key: key.to_owned(),
            }),
            _ => Err(SinkError::Unavailable {
                tracker: TRACKER,
                detail: "answer lacks the issue's id or key".to_owned(),
            }),
        }
    }

    async fn comments_contain(
        &self,
        issue_id: &str,
        marker: &str,
        deadline: Instant,
    ) -> Result<bool, SinkError> {
        let mut start_at: u64 = 0;
        for _ in 0..MAX_COMMENT_PAGES {
            let mut url = self.path_url(&["rest", "api", "3", "issue", issue_id, "comment"])?;
            url.query_pairs_mut()
                .append_pair("startAt", &start_at.to_string())
                .append_pair("maxResults", &COMMENTS_PER_PAGE.to_string());
            let answer = self
                .send("has_comment", deadline, Replay::Idempotent, || {
                    self.http.get(url.clone())
                })
                .await?;
            let page: Value = parse(&answer)?;
            let comments = page["comments"].as_array().cloned().unwrap_or_default();
            if comments
                .iter()
                .any(|comment| adf::plain_text(&comment["body"]).contains(marker))
            {
                return Ok(true);
            }
            let total = page["total"].as_u64().unwrap_or(0);
            start_at += comments.len() as u64;
            if comments.is_empty() || start_at >= total {
                return Ok(false);
            }
        }
        tracing::warn!(
            tracker = TRACKER,
            ticket_id = %issue_id,
            "comment scan stopped after {MAX_COMMENT_PAGES} pages"
        );
        Ok(false)
    }

    /// `base_url` plus percent-encoded path segments.
    fn path_url(&self, segments: &[&str]) -> Result<Url, SinkError> {
        let mut url = Url::parse(&self.config.base_url).map_err(|_| SinkError::Rejected {
            tracker: TRACKER,
            status: 0,
            detail: "base URL is not a URL".to_owned(),
        })?;
        url.path_segments_mut()
            .map_err(|()| SinkError::Rejected {
                tracker: TRACKER,
                status: 0,
                detail: "base URL cannot take a path".to_owned(),
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

#[async_trait]
impl TicketSink for JiraSink {
    fn tracker(&self) -> Tracker {
        Tracker::Jira
    }

    async fn create(&self, draft: &TicketDraft, deadline: Instant) -> Result<TicketRef, SinkError> {
        let event_label = marker::jira_event_label(&draft.event_id);
        let mut labels: Vec<String> = Vec::new();
        let candidates = draft
            .labels
            .iter()
            .filter_map(|label| marker::jira_label(label));
        for label in candidates.chain([event_label.clone()]) {
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        let mut fields = json!({
            "project": { "key": self.config.project_key },
            "summary": summary(&draft.title),
            "issuetype": { "name": self.config.issue_type },
            "labels": labels,
            "description": adf::document_with_marker(
                &draft.body,
                &marker::ticket_marker(&draft.event_id),
            ),
        });
        if draft.title.trim().is_empty() {
            fields["summary"] = json!(draft.event_id);
        }
        let request = json!({ "fields": fields });
        let url = self.url("/rest/api/3/issue");
        let answer = self
            .send("create", deadline, Replay::NotIdempotent, || {
                self.http.post(&url).json(&request)
            })
            .await;
        let answer = match answer {
            Ok(answer) => answer,
            Err(failure) if failure.maybe_applied => {
                // The issue may exist; look before letting the caller retry.
                return match self.search_by_label(&event_label, deadline).await {
                    Ok(Some(ticket)) => {
                        tracing::info!(
                            tracker = TRACKER,
                            event_id = %draft.event_id,
                            ticket_id = %ticket.id,
                            "create answer lost, but the ticket exists"
                        );
                        Ok(ticket)
                    }
                    _ => Err(failure.error),
                };
            }
            Err(failure) => return Err(failure.error),
        };
        let ticket = self.ticket_from(&parse::<Value>(&answer)?)?;
        tracing::info!(
            tracker = TRACKER,
            event_id = %draft.event_id,
            ticket_id = %ticket.id,
            ticket_key = %ticket.key,
            "ticket created"
        );
        Ok(ticket)
    }

    async fn find(
        &self,
        draft: &TicketDraft,
        _since: OffsetDateTime,
        deadline: Instant,
    ) -> Result<Option<TicketRef>, SinkError> {
        let found = self
            .search_by_label(&marker::jira_event_label(&draft.event_id), deadline)
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
        let url = self.path_url(&["rest", "api", "3", "issue", &ticket.id, "comment"])?;
        let request = json!({ "body": adf::document_with_marker(body, marker) });
        let sent = self
            .send("comment", deadline, Replay::NotIdempotent, || {
                self.http.post(url.clone()).json(&request)
            })
            .await;
        match sent {
            Ok(_) => {
                tracing::info!(tracker = TRACKER, ticket_id = %ticket.id, "comment added");
                Ok(())
            }
            Err(failure) if failure.maybe_applied => {
                match self.comments_contain(&ticket.id, marker, deadline).await {
                    Ok(true) => Ok(()),
                    _ => Err(failure.error),
                }
            }
            Err(failure) => Err(failure.error),
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
        self.comments_contain(&ticket.id, marker, deadline).await
    }
}

fn check_ticket(ticket: &TicketRef) -> Result<(), SinkError> {
    let numeric = !ticket.id.is_empty() && ticket.id.chars().all(|c| c.is_ascii_digit());
    if ticket.tracker != Tracker::Jira || !numeric {
        return Err(SinkError::Rejected {
            tracker: TRACKER,
            status: 0,
            detail: format!(
                "not a Jira issue id: {} {}",
                ticket.tracker.as_str(),
                ticket.key
            ),
        });
    }
    Ok(())
}

/// One line of at most [`SUMMARY_LIMIT`] characters.
fn summary(title: &str) -> String {
    title
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(SUMMARY_LIMIT)
        .collect()
}

fn jql_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

fn parse<T: serde::de::DeserializeOwned>(answer: &http::Answer) -> Result<T, SinkError> {
    answer.json().map_err(|_| SinkError::Unavailable {
        tracker: TRACKER,
        detail: format!("HTTP {}: answer is not the expected JSON", answer.status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_one_bounded_line() {
        assert_eq!(summary("Crash\non   login"), "Crash on login");
        assert_eq!(summary(&"é".repeat(300)).chars().count(), SUMMARY_LIMIT);
    }

    #[test]
    fn jql_strings_are_escaped() {
        assert_eq!(jql_escape(r#"a"b\c"#), r#"a\"b\\c"#);
    }

    #[test]
    fn only_numeric_jira_ids_are_accepted() {
        let ticket = |tracker, id: &str| TicketRef {
            tracker,
            id: id.to_owned(),
            key: "P-1".to_owned(),
            url: String::new(),
        };
        assert!(check_ticket(&ticket(Tracker::Jira, "10001")).is_ok());
        assert!(check_ticket(&ticket(Tracker::Jira, "../admin")).is_err());
        assert!(check_ticket(&ticket(Tracker::Github, "10001")).is_err());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = JiraConfig {
            base_url: "https://example.atlassian.net".to_owned(),
            email: "bot@example.org".to_owned(),
            api_token: SecretString::from("ATATT-SECRET"),
            project_key: "COMM".to_owned(),
            issue_type: "Bug".to_owned(),
        };
        assert!(!format!("{config:?}").contains("SECRET"));
    }
}
