//! Product-backlog events → exactly one tracker ticket (or one +1 on a
//! similar open ticket), and tracker resolutions → the loop closed with the
//! reporters.
//!
//! Exactly once: the request row (written `pending` with the event) moves to
//! `attempting` *before* the tracker is called and to `complete` after. A
//! record that finds its request `attempting` was interrupted after the call
//! may have landed, so it asks the tracker for the event's marker first
//! (Linear: the issue id derived from the event id; Jira: the event's label;
//! GitHub: the marker in recent issues' bodies; +1s: the marker in the
//! ticket's comments) and only then calls again.

use std::sync::Arc;

use canonical_event::{CanonicalEvent, EventType, Platform};
use community_aws::AwsError;
use community_aws::ports::Notifier;
use community_aws::tickets::{
    self as ledger, LedgerTicket, RequestState, TicketLedger, TicketPlan, TicketRequest,
};
use time::OffsetDateTime;
use trackers::{SinkError, TicketDraft, TicketRef, TicketSink, Tracker};

/// Categories whose repeats collapse onto one ticket (questions each get
/// their own answer).
const COLLAPSING: [&str; 2] = ["bug_report", "feature_request"];
/// How many open tickets of a category a new report is compared with.
const CANDIDATES: i32 = 200;

/// Where tickets go. Without a sink the ledger's pending requests are the
/// backlog (`communityctl outbox`).
#[derive(Clone)]
pub struct TicketDesk {
    pub ledger: Arc<dyn TicketLedger>,
    pub sink: Option<Arc<dyn TicketSink>>,
    pub similarity_threshold: f64,
    /// Told when a ticket reporters asked for is resolved.
    pub reporters: Arc<dyn Notifier>,
    /// With GitHub Issues as the tracker, its `owner/repo`: an issue opened
    /// there already is the ticket (adopted, never copied — a copy would
    /// itself arrive as a new issue, and so on).
    pub adopt_repository: Option<String>,
}

impl std::fmt::Debug for TicketDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketDesk")
            .field("tracker", &self.sink.as_ref().map(|s| s.tracker()))
            .field("similarity_threshold", &self.similarity_threshold)
            .finish_non_exhaustive()
    }
}

/// Why filing did not finish.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// The tracker refused the request for good (recorded on the request);
    /// the record is dead-lettered with this reason.
    #[error("{0}")]
    Refused(String),
    /// Worth retrying: the tracker was busy or down, or the ledger failed.
    #[error(transparent)]
    Retry(AwsError),
    /// The ledger itself refused (a malformed row): dead-letter.
    #[error("{0}")]
    Ledger(AwsError),
}

impl TicketError {
    /// The tracker failure's kind for metrics (None for ledger failures).
    fn sink_kind(&self) -> Option<&'static str> {
        match self {
            TicketError::Refused(_) => Some("rejected"),
            TicketError::Retry(e) if e.operation == "Tracker" => Some("retryable"),
            _ => None,
        }
    }
}

/// One ticket or tracker-error count, by tracker and one more dimension.
fn tickets_metric(tracker: Tracker, dimension: &str, value: &str, metric: &str) {
    lambda_kit::emf::Emf::new(lambda_kit::emf::NAMESPACE)
        .dimension("Function", crate::STAGE)
        .dimension("Tracker", tracker.as_str())
        .dimension(dimension, value)
        .count(metric, 1)
        .emit();
}

impl From<AwsError> for TicketError {
    fn from(error: AwsError) -> Self {
        if error.is_retryable() {
            TicketError::Retry(error)
        } else {
            TicketError::Ledger(error)
        }
    }
}

fn sink_error(error: SinkError) -> TicketError {
    match error {
        SinkError::Rejected { .. } => TicketError::Refused(error.to_string()),
        SinkError::RateLimited { tracker, .. } | SinkError::Unavailable { tracker, .. } => {
            TicketError::Retry(AwsError::retryable("Tracker", tracker, error.to_string()))
        }
    }
}

/// The ledger's copy of a tracker's ticket reference.
fn recorded(ticket: &TicketRef) -> ledger::TicketRef {
    ledger::TicketRef {
        tracker: ticket.tracker.as_str().to_owned(),
        id: ticket.id.clone(),
        key: ticket.key.clone(),
        url: ticket.url.clone(),
    }
}

/// The tracker's ticket reference from the ledger's copy.
fn tracked(ticket: &ledger::TicketRef) -> Result<TicketRef, TicketError> {
    let tracker = Tracker::parse(&ticket.tracker).ok_or_else(|| {
        TicketError::Ledger(AwsError::permanent(
            "GetItem",
            "Malformed",
            format!("unknown tracker {}", ticket.tracker),
        ))
    })?;
    Ok(TicketRef {
        tracker,
        id: ticket.id.clone(),
        key: ticket.key.clone(),
        url: ticket.url.clone(),
    })
}

/// The marker a ticket or comment carries for an event.
pub fn marker(event_id: &str) -> String {
    format!("community-event:{event_id}")
}

/// Linear wants a v4-shaped UUID as the issue id: the event id's bytes with
/// the version and variant bits set, so the same event always asks for the
/// same issue id.
pub fn idempotency_id(event_id: &str) -> uuid::Uuid {
    let bytes = uuid::Uuid::parse_str(event_id)
        .map(|u| *u.as_bytes())
        .unwrap_or_else(|_| {
            *uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, event_id.as_bytes()).as_bytes()
        });
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// The ticket a request asks for: the source link, the reporting member,
/// the category and why the score sent it here.
pub fn draft_of(request: &TicketRequest) -> TicketDraft {
    let category = request.category.as_deref().unwrap_or("uncategorized");
    let mut body = format!(
        "**Reported by** {} on {} (member `{}`)\n",
        request.reporter, request.platform, request.member_id
    );
    if let Some(url) = &request.source_url {
        body.push_str(&format!("**Source:** {url}\n"));
    }
    body.push_str(&format!(
        "**Category:** {category} · signal score {:.2}\n",
        request.signal_score
    ));
    if !request.reasons.is_empty() {
        body.push_str("\n**Why this became a ticket:**\n");
        for reason in &request.reasons {
            body.push_str(&format!("- {reason}\n"));
        }
    }
    if let Some(excerpt) = &request.excerpt {
        body.push('\n');
        for line in excerpt.lines() {
            body.push_str(&format!("> {line}\n"));
        }
    }
    body.push_str(&format!(
        "\n_Filed by the community events pipeline ({})._\n",
        marker(&request.event_id)
    ));
    TicketDraft {
        event_id: request.event_id.clone(),
        idempotency_id: idempotency_id(&request.event_id),
        title: request.title.clone(),
        body,
        labels: vec!["community".to_owned(), category.replace('_', "-")],
    }
}

/// The +1 comment: who else asked, and how many have by now.
pub fn plus_one(request: &TicketRequest, ticket: &LedgerTicket) -> String {
    let mut askers = ticket.askers.clone();
    askers.insert(request.member_id.clone());
    let mut text = format!(
        "+1 from {} on {}{}. {} members have reported this so far.",
        request.reporter,
        request.platform,
        request
            .source_url
            .as_deref()
            .map(|u| format!(" ({u})"))
            .unwrap_or_default(),
        askers.len()
    );
    if let Some(excerpt) = &request.excerpt {
        let quoted: String = excerpt.chars().take(300).collect();
        text.push_str(&format!("\n\n> {}", quoted.replace('\n', "\n> ")));
    }
    text.push_str(&format!("\n\n_{}_", marker(&request.event_id)));
    text
}

/// What the reporters read when their ticket is resolved.
pub fn resolution_notice(ticket: &LedgerTicket) -> String {
    let reporters: Vec<&str> = ticket.reporter_handles.iter().map(String::as_str).collect();
    let took = ticket
        .resolution_seconds
        .map(|s| format!(" after {}", human_duration(s)))
        .unwrap_or_default();
    format!(
        "Fixed: {} ({} {}){took}. Reported by {} — thank you!",
        ticket.title,
        ticket.ticket.key,
        ticket.ticket.url,
        reporters.join(", ")
    )
}

pub fn human_duration(seconds: i64) -> String {
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (days, hours) {
        (0, 0) => format!("{} min", minutes.max(1)),
        (0, h) => format!("{h} h {minutes} min"),
        (d, h) => format!("{d} d {h} h"),
    }
}

/// A tracker ticket a closed GitHub issue names (`owner/repo#number`).
pub fn closed_github_ticket(event: &CanonicalEvent) -> Option<String> {
    if event.platform != Platform::Github || event.event_type != EventType::IssueClosed {
        return None;
    }
    trackers::webhooks::github_ticket_id_from_url(event.source.url.as_deref()?)
}

/// A resolution a tracker's webhook reported (ingest verified it and put it
/// on the queue with the message attribute `kind` = [`RESOLUTION_KIND`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolutionMessage {
    pub tracker: Tracker,
    pub ticket_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub resolved_at: OffsetDateTime,
}

pub const RESOLUTION_KIND: &str = "ticketResolution";

impl TicketDesk {
    /// Files the event's ticket request, exactly once.
    pub async fn file(
        &self,
        event_id: &str,
        now: OffsetDateTime,
        deadline: tokio::time::Instant,
    ) -> Result<(), TicketError> {
        let Some(sink) = &self.sink else {
            return Ok(());
        };
        for _ in 0..3 {
            let Some(request) = self.ledger.request(event_id).await? else {
                return Ok(());
            };
            let (plan, since) = match &request.state {
                RequestState::Complete { .. } => return Ok(()),
                RequestState::Pending if self.adoptable(&request).is_some() => {
                    return self.adopt(&request, now).await;
                }
                RequestState::Pending => {
                    let plan = self.plan(&request, sink.tracker()).await?;
                    if !self.ledger.begin(event_id, &plan, now).await? {
                        continue;
                    }
                    (plan, None)
                }
                RequestState::Attempting { plan, since }
                | RequestState::Failed { plan, since, .. } => (plan.clone(), Some(*since)),
            };
            let ticket = match self
                .call(sink.as_ref(), &request, &plan, since, deadline)
                .await
            {
                Ok(ticket) => ticket,
                Err(error) => {
                    if let Some(kind) = error.sink_kind() {
                        tickets_metric(sink.tracker(), "Kind", kind, "SinkErrors");
                    }
                    if let TicketError::Refused(reason) = &error {
                        self.ledger.fail(event_id, reason, now).await?;
                    }
                    return Err(error);
                }
            };
            self.ledger
                .complete(&request, &recorded(&ticket), &plan, now)
                .await?;
            let joined = matches!(plan, TicketPlan::Join { .. });
            tracing::info!(
                event_id,
                tracker = ticket.tracker.as_str(),
                ticket = ticket.key,
                joined,
                reconciled = since.is_some(),
                "ticket filed"
            );
            tickets_metric(
                ticket.tracker,
                "Outcome",
                if joined { "joined" } else { "created" },
                "Tickets",
            );
            return Ok(());
        }
        Err(TicketError::Retry(AwsError::retryable(
            "UpdateItem",
            "TicketContention",
            "the ticket request kept changing",
        )))
    }

    /// The tracker issue this request already is: an issue opened in the
    /// GitHub repository tickets go to.
    fn adoptable(&self, request: &TicketRequest) -> Option<TicketRef> {
        let repository = self.adopt_repository.as_deref()?;
        if request.platform != "github" || request.reply {
            return None;
        }
        let id = trackers::webhooks::github_ticket_id_from_url(request.source_url.as_deref()?)?;
        let (repo, number) = id.rsplit_once('#')?;
        if !repo.eq_ignore_ascii_case(repository) {
            return None;
        }
        let key = format!("#{number}");
        Some(TicketRef {
            tracker: Tracker::Github,
            key,
            url: request.source_url.clone().unwrap_or_default(),
            id,
        })
    }

    /// Records the issue itself as the request's ticket: no tracker call.
    async fn adopt(&self, request: &TicketRequest, now: OffsetDateTime) -> Result<(), TicketError> {
        let Some(ticket) = self.adoptable(request) else {
            return Ok(());
        };
        let pk = community_aws::tickets::ticket_pk(ticket.tracker.as_str(), &ticket.id);
        if self.ledger.ticket(&pk).await?.is_some() {
            // The issue again (an edit, a reopen, or the webhook echo of an
            // issue we opened): the ticket already records it.
            self.ledger.settle(&request.event_id, &pk, now).await?;
            return Ok(());
        }
        self.ledger
            .complete(request, &recorded(&ticket), &TicketPlan::Create, now)
            .await?;
        tracing::info!(
            event_id = request.event_id,
            ticket = ticket.key,
            "issue adopted as its own ticket"
        );
        Ok(())
    }

    /// The open ticket this report belongs to: its thread's ticket for a
    /// reply ("same here" under a bug report), else a similar open ticket of
    /// its category; otherwise a new one.
    async fn plan(
        &self,
        request: &TicketRequest,
        tracker: Tracker,
    ) -> Result<TicketPlan, TicketError> {
        if request.reply
            && let Some(thread_key) = &request.thread_key
            && let Some(ticket_pk) = self.ledger.thread_ticket(thread_key).await?
            && self
                .ledger
                .ticket(&ticket_pk)
                .await?
                .is_some_and(|t| t.open && t.ticket.tracker == tracker.as_str())
        {
            tracing::info!(
                event_id = request.event_id,
                ticket_pk,
                "reply joins its thread's ticket"
            );
            return Ok(TicketPlan::Join { ticket_pk });
        }
        let Some(category) = request
            .category
            .as_deref()
            .filter(|c| COLLAPSING.contains(c))
        else {
            return Ok(TicketPlan::Create);
        };
        let open: Vec<LedgerTicket> = self
            .ledger
            .open_tickets(category, CANDIDATES)
            .await?
            .into_iter()
            .filter(|t| t.ticket.tracker == tracker.as_str())
            .collect();
        let best = signal::similarity::best_match(
            &request.title,
            open.iter().map(|t| t.title.as_str()),
            self.similarity_threshold,
        );
        // The index lags: confirm the match is still open before joining it.
        let best = match best {
            Some((index, score)) => self
                .ledger
                .ticket(&open[index].pk)
                .await?
                .filter(|t| t.open)
                .map(|_| (index, score)),
            None => None,
        };
        Ok(match best {
            Some((index, score)) => {
                tracing::info!(
                    event_id = request.event_id,
                    ticket = open[index].ticket.key,
                    similarity = score,
                    "report matches an open ticket"
                );
                TicketPlan::Join {
                    ticket_pk: open[index].pk.clone(),
                }
            }
            None => TicketPlan::Create,
        })
    }

    /// The tracker call(s); with `since`, looks for an earlier attempt first.
    async fn call(
        &self,
        sink: &dyn TicketSink,
        request: &TicketRequest,
        plan: &TicketPlan,
        since: Option<OffsetDateTime>,
        deadline: tokio::time::Instant,
    ) -> Result<TicketRef, TicketError> {
        match plan {
            TicketPlan::Create => {
                let draft = draft_of(request);
                if let Some(since) = since
                    && let Some(found) = sink
                        .find(&draft, since, deadline)
                        .await
                        .map_err(sink_error)?
                {
                    return Ok(found);
                }
                sink.create(&draft, deadline).await.map_err(sink_error)
            }
            TicketPlan::Join { ticket_pk } => {
                let target = self.ledger.ticket(ticket_pk).await?.ok_or_else(|| {
                    TicketError::Ledger(AwsError::permanent(
                        "GetItem",
                        "TicketMissing",
                        format!("the ticket {ticket_pk} to join is not in the ledger"),
                    ))
                })?;
                let marker = marker(&request.event_id);
                let ticket = tracked(&target.ticket)?;
                // A comment on the GitHub issue that is the ticket already
                // says it there: only the asker is recorded.
                let inside = request
                    .source_url
                    .as_deref()
                    .and_then(trackers::webhooks::github_ticket_id_from_url)
                    .is_some_and(|id| ticket.tracker == Tracker::Github && id == ticket.id);
                if inside {
                    return Ok(ticket);
                }
                let done = match since {
                    Some(_) => sink
                        .has_comment(&ticket, &marker, deadline)
                        .await
                        .map_err(sink_error)?,
                    None => false,
                };
                if !done {
                    sink.comment(&ticket, &marker, &plus_one(request, &target), deadline)
                        .await
                        .map_err(sink_error)?;
                }
                Ok(ticket)
            }
        }
    }

    /// Records a resolution (once) and tells the reporters (once told,
    /// never again).
    pub async fn resolve(
        &self,
        tracker: Tracker,
        ticket_id: &str,
        resolved_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let Some(ticket) = self
            .ledger
            .resolve(tracker.as_str(), ticket_id, resolved_at, now)
            .await?
        else {
            return Ok(());
        };
        tracing::info!(
            tracker = tracker.as_str(),
            ticket = ticket.ticket.key,
            resolution_seconds = ticket.resolution_seconds,
            askers = ticket.askers.len(),
            "ticket resolved"
        );
        if !self.ledger.begin_telling(&ticket.pk, now).await? {
            // Another attempt claimed it, and may have posted: never twice.
            return Ok(());
        }
        match self.reporters.notify(&resolution_notice(&ticket)).await {
            Ok(()) => {}
            // Slack said "not now": nothing was posted, the retry may post.
            Err(error) if error.is_retryable() && error.code != "Transport" => {
                self.ledger.not_told(&ticket.pk).await?;
                return Err(error);
            }
            // Refused for good, or a lost answer that may have posted.
            Err(error) => tracing::error!(
                ticket = ticket.ticket.key,
                error = %error,
                "reporters' notice failed; not retried (it may have been posted)"
            ),
        }
        self.ledger.reporters_told(&ticket.pk, now).await
    }
}
