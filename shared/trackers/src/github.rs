//! GitHub Issues, over REST (API version 2022-11-28).
//!
//! GitHub has no idempotency key, so a create is never re-sent after an
//! ambiguous failure. Every issue body ends with the hidden marker
//! `<!-- community-event:<event id> -->`, and `find` lists the repository's
//! issues updated since shortly before the unconfirmed attempt and matches
//! that marker. The list endpoint is read from the primary database; the
//! search API is not used because its index lags behind creates.
//!
//! `find` does not filter by label: GitHub silently drops labels when the
//! token lacks push access, and a label filter would then hide the very
//! issue we are looking for. The time window keeps the listing short.

use std::fmt;

use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{ACCEPT, HeaderMap, USER_AGENT};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::time::Instant;

use crate::http::{self, Call, Failure, Replay, RetryPolicy};
use crate::marker;
use crate::{SinkError, TicketDraft, TicketRef, TicketSink, Tracker};

const TRACKER: &str = "github";
const API_VERSION: &str = "2022-11-28";
const MEDIA_TYPE: &str = "application/vnd.github+json";
const CLIENT_NAME: &str = concat!("community-events-trackers/", env!("CARGO_PKG_VERSION"));

/// How far before the unconfirmed attempt `find` looks (clock skew between
/// us and GitHub, and the attempt's own duration).
const FIND_LOOKBACK: time::Duration = time::Duration::minutes(5);

/// Pages (of 100) `find` and `has_comment` read at most.
const MAX_PAGES: usize = 10;

/// Which repository to open issues in, and with what token.
#[derive(Clone)]
pub struct GithubConfig {
    /// The REST root, [`GithubConfig::DEFAULT_API_URL`] on github.com.
    pub api_url: String,
    /// A fine-grained or classic token with issues write access.
    pub token: SecretString,
    pub owner: String,
    pub repo: String,
}

impl GithubConfig {
    pub const DEFAULT_API_URL: &'static str = "https://api.github.com";

    pub fn new(
        token: SecretString,
        owner: impl Into<String>,
        repo: impl Into<String>,
    ) -> GithubConfig {
        GithubConfig {
            api_url: GithubConfig::DEFAULT_API_URL.to_owned(),
            token,
            owner: owner.into(),
            repo: repo.into(),
        }
    }
}

impl fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubConfig")
            .field("api_url", &self.api_url)
            .field("token", &"[redacted]")
            .field("owner", &self.owner)
            .field("repo", &self.repo)
            .finish()
    }
}

/// [`TicketSink`] for GitHub Issues.
#[derive(Debug, Clone)]
pub struct GithubSink {
    http: reqwest::Client,
    config: GithubConfig,
    retry: RetryPolicy,
}

/// A ticket id taken apart: `owner/repo#number`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IssueAddress {
    owner: String,
    repo: String,
    number: u64,
}

impl GithubSink {
    pub fn new(http: reqwest::Client, mut config: GithubConfig) -> GithubSink {
        config.api_url = config.api_url.trim_end_matches('/').to_owned();
        GithubSink {
            http,
            config,
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> GithubSink {
        self.retry = retry;
        self
    }

    /// `api_url` plus percent-encoded path segments.
    fn url(&self, segments: &[&str]) -> Result<Url, SinkError> {
        let mut url = Url::parse(&self.config.api_url)
            .map_err(|_| local_rejection("API URL is not a URL"))?;
        url.path_segments_mut()
            .map_err(|()| local_rejection("API URL cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        // bearer_auth marks the header sensitive.
        request
            .bearer_auth(self.config.token.expose_secret())
            .header(ACCEPT, MEDIA_TYPE)
            .header("X-GitHub-Api-Version", API_VERSION)
            .header(USER_AGENT, CLIENT_NAME)
    }

    async fn send(
        &self,
        operation: &'static str,
        deadline: Instant,
        replay: Replay,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<http::Answer, Failure> {
        let call = Call {
            tracker: Tracker::Github,
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

    /// Reads `first` and the pages its `Link: rel="next"` headers name, up
    /// to [`MAX_PAGES`], until `stop` says an item settles the question.
    async fn scan_pages(
        &self,
        operation: &'static str,
        first: Url,
        deadline: Instant,
        mut visit: impl FnMut(&Value) -> Scan,
    ) -> Result<(), SinkError> {
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            let answer = self
                .send(operation, deadline, Replay::Idempotent, || {
                    self.http.get(url.clone())
                })
                .await?;
            let items: Vec<Value> = parse(&answer)?;
            for item in &items {
                if visit(item) == Scan::Stop {
                    return Ok(());
                }
            }
            if pages >= MAX_PAGES {
                tracing::warn!(
                    tracker = TRACKER,
                    operation,
                    "listing stopped after {MAX_PAGES} pages"
                );
                return Ok(());
            }
            next = next_page(&answer.headers).filter(|next| next.origin() == url.origin());
        }
        Ok(())
    }

    fn issue_address(&self, ticket: &TicketRef) -> Result<IssueAddress, SinkError> {
        if ticket.tracker != Tracker::Github {
            return Err(local_rejection("not a GitHub ticket"));
        }
        parse_ticket_id(&ticket.id)
            .ok_or_else(|| local_rejection("ticket id is not owner/repo#number"))
    }

    async fn comments_contain(
        &self,
        issue: &IssueAddress,
        marker: &str,
        deadline: Instant,
    ) -> Result<bool, SinkError> {
        let number = issue.number.to_string();
        let mut url = self.url(&[
            "repos",
            &issue.owner,
            &issue.repo,
            "issues",
            &number,
            "comments",
        ])?;
        url.query_pairs_mut().append_pair("per_page", "100");
        let mut found = false;
        self.scan_pages("has_comment", url, deadline, |comment| {
            found = comment["body"]
                .as_str()
                .is_some_and(|body| body.contains(marker));
            if found { Scan::Stop } else { Scan::Continue }
        })
        .await?;
        Ok(found)
    }

    fn ticket_from(&self, issue: &Value) -> Result<TicketRef, SinkError> {
        match (issue["number"].as_u64(), issue["html_url"].as_str()) {
            (Some(number), Some(url)) => Ok(TicketRef {
                tracker: Tracker::Github,
                id: crate::webhooks::github_ticket_id(
                    &format!("{}/{}", self.config.owner, self.config.repo),
                    number,
                ),
                key: format!("#{number}"),
                url: url.to_owned(),
            }),
            _ => Err(SinkError::Unavailable {
                tracker: TRACKER,
                detail: "answer lacks the issue's number or html_url".to_owned(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    Continue,
    Stop,
}

#[async_trait]
impl TicketSink for GithubSink {
    fn tracker(&self) -> Tracker {
        Tracker::Github
    }

    async fn create(&self, draft: &TicketDraft, deadline: Instant) -> Result<TicketRef, SinkError> {
        let started = OffsetDateTime::now_utc();
        let url = self.url(&["repos", &self.config.owner, &self.config.repo, "issues"])?;
        let request = json!({
            "title": draft.title,
            "body": marker::with_hidden_marker(&draft.body, &marker::ticket_marker(&draft.event_id)),
            "labels": draft.labels,
        });
        let sent = self
            .send("create", deadline, Replay::NotIdempotent, || {
                self.http.post(url.clone()).json(&request)
            })
            .await;
        let answer = match sent {
            Ok(answer) => answer,
            Err(failure) if failure.maybe_applied => {
                // The issue may exist; the issue list is consistent, so look.
                return match self.find(draft, started, deadline).await {
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
            "ticket created"
        );
        Ok(ticket)
    }

    async fn find(
        &self,
        draft: &TicketDraft,
        since: OffsetDateTime,
        deadline: Instant,
    ) -> Result<Option<TicketRef>, SinkError> {
        let window_start = (since - FIND_LOOKBACK)
            .to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .unwrap_or(since - FIND_LOOKBACK);
        let since_text = window_start
            .format(&Rfc3339)
            .map_err(|_| local_rejection("`since` cannot be written as RFC 3339"))?;
        let mut url = self.url(&["repos", &self.config.owner, &self.config.repo, "issues"])?;
        url.query_pairs_mut()
            .append_pair("state", "all")
            .append_pair("since", &since_text)
            .append_pair("per_page", "100")
            .append_pair("sort", "created")
            .append_pair("direction", "desc");
        let wanted = marker::github_ticket_marker(&draft.event_id);
        let mut found: Option<Value> = None;
        self.scan_pages("find", url, deadline, |issue| {
            if issue.get("pull_request").is_some() {
                return Scan::Continue;
            }
            if issue["body"]
                .as_str()
                .is_some_and(|body| body.contains(&wanted))
            {
                found = Some(issue.clone());
                return Scan::Stop;
            }
            // Newest first: once issues predate the window, none later can match.
            let created = issue["created_at"]
                .as_str()
                .and_then(|created| OffsetDateTime::parse(created, &Rfc3339).ok());
            match created {
                Some(created) if created < window_start => Scan::Stop,
                _ => Scan::Continue,
            }
        })
        .await?;
        let found = found.map(|issue| self.ticket_from(&issue)).transpose()?;
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
        let issue = self.issue_address(ticket)?;
        marker::check_comment_marker(TRACKER, marker)?;
        let number = issue.number.to_string();
        let url = self.url(&[
            "repos",
            &issue.owner,
            &issue.repo,
            "issues",
            &number,
            "comments",
        ])?;
        let request = json!({ "body": marker::with_hidden_marker(body, marker) });
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
                match self.comments_contain(&issue, marker, deadline).await {
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
        let issue = self.issue_address(ticket)?;
        marker::check_comment_marker(TRACKER, marker)?;
        self.comments_contain(&issue, marker, deadline).await
    }
}

/// `owner/repo#number` taken apart.
fn parse_ticket_id(id: &str) -> Option<IssueAddress> {
    let (repository, number) = id.rsplit_once('#')?;
    let (owner, repo) = repository.split_once('/')?;
    let valid = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !valid(owner) || !valid(repo) {
        return None;
    }
    Some(IssueAddress {
        owner: owner.to_owned(),
        repo: repo.to_owned(),
        number: number.parse().ok().filter(|number| *number > 0)?,
    })
}

/// The `rel="next"` target of a `Link` header.
fn next_page(headers: &HeaderMap) -> Option<Url> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(',').find_map(|entry| {
        let (target, params) = entry.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if is_next {
            Url::parse(target).ok()
        } else {
            None
        }
    })
}

fn local_rejection(detail: &str) -> SinkError {
    SinkError::Rejected {
        tracker: TRACKER,
        status: 0,
        detail: detail.to_owned(),
    }
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
    use reqwest::header::HeaderValue;

    #[test]
    fn ticket_ids_come_apart() {
        assert_eq!(
            parse_ticket_id("octo-org/hello.world#42"),
            Some(IssueAddress {
                owner: "octo-org".to_owned(),
                repo: "hello.world".to_owned(),
                number: 42
            })
        );
        for bad in [
            "octo/hello",
            "octo#1",
            "octo/../x#1",
            "octo/hello#0",
            "octo/hello#x",
            "/hello#1",
        ] {
            assert_eq!(parse_ticket_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn link_header_next_is_found() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "link",
            HeaderValue::from_static(
                "<https://api.github.com/repositories/1/issues?page=2>; rel=\"next\", \
                 <https://api.github.com/repositories/1/issues?page=5>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_page(&headers).map(|url| url.to_string()),
            Some("https://api.github.com/repositories/1/issues?page=2".to_owned())
        );
        headers.insert(
            "link",
            HeaderValue::from_static("<https://api.github.com/x?page=1>; rel=\"prev\""),
        );
        assert_eq!(next_page(&headers), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let config = GithubConfig::new(SecretString::from("ghp_SECRET"), "o", "r");
        assert!(!format!("{config:?}").contains("SECRET"));
    }
}
