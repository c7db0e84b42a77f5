//! The ticket ledger (the outbox table): exactly one tracker ticket, or one
//! +1 on an open ticket, per product-backlog event.
//!
//! | `eventId`                       | what                                                     |
//! |---------------------------------|----------------------------------------------------------|
//! | `<event uuid>`                  | the request, written `pending` with the event (events.rs); then `attempting` (plan `create` or `join`, `attemptAt`) *before* any tracker call, `complete` (ticketPk/Key/Url) after it, or `failed` (lastError) when the tracker refused it for good |
//! | `TICKETTHREAD#<thread key>`     | `ticketPk`: the ticket a thread's report opened, so replies in the thread ("same here") join it |
//! | `TICKET#<tracker>#<ticket id>`  | a ticket we opened: tracker, ticketId, key, url, title, category, `status` open/resolved, `openCategory` (set only while open: the sparse `openTickets` index), `firstReportAt`, `askers` (member ids), `reporterHandles`, `reportEvents`, `resolvedAt`, `resolutionSeconds`, `reportersTold` |
//!
//! A request found `attempting` (or `failed`) was maybe sent: the caller
//! asks the tracker for the event's marker before sending again.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use canonical_event::{day_of, rfc3339_utc};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::events::{bump_counters, condition_failed_at};
use crate::{AwsError, Item};

/// A ticket as its tracker names it (the trackers crate's TicketRef, kept
/// apart so this crate does not depend on the HTTP clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketRef {
    /// `linear`, `jira` or `github`.
    pub tracker: String,
    /// The id the tracker's resolution webhook carries.
    pub id: String,
    pub key: String,
    pub url: String,
}

/// The sparse index of open tickets, by category, oldest first.
pub const OPEN_TICKETS_INDEX: &str = "openTickets";

/// What a request means to do once it is attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketPlan {
    Create,
    /// +1 on this ticket (its ledger key).
    Join {
        ticket_pk: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestState {
    Pending,
    /// A tracker call may have happened since `since`.
    Attempting {
        plan: TicketPlan,
        since: OffsetDateTime,
    },
    /// The tracker refused it for good; a redrive tries again (reconciling
    /// first, like an attempt).
    Failed {
        plan: TicketPlan,
        since: OffsetDateTime,
        reason: String,
    },
    Complete {
        ticket_pk: String,
    },
}

/// One product-backlog event's ticket request.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRequest {
    pub event_id: String,
    pub state: RequestState,
    pub title: String,
    pub category: Option<String>,
    pub member_id: String,
    pub reporter: String,
    pub platform: String,
    pub source_url: Option<String>,
    pub excerpt: Option<String>,
    pub signal_score: f64,
    pub reasons: Vec<String>,
    pub labels: Vec<String>,
    /// When the member reported it (the event's occurredAt).
    pub reported_at: OffsetDateTime,
    /// The conversation it belongs to (memory::thread_key), if any.
    pub thread_key: Option<String>,
    /// A reply inside that conversation rather than its opening post.
    pub reply: bool,
}

/// A ticket in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerTicket {
    pub pk: String,
    pub ticket: TicketRef,
    pub title: String,
    pub category: String,
    pub open: bool,
    pub askers: BTreeSet<String>,
    pub reporter_handles: BTreeSet<String>,
    pub first_report_at: OffsetDateTime,
    pub resolved_at: Option<OffsetDateTime>,
    pub resolution_seconds: Option<i64>,
    pub reporters_told: bool,
}

fn thread_pointer(thread_key: &str) -> String {
    format!("TICKETTHREAD#{thread_key}")
}

pub fn ticket_pk(tracker: &str, ticket_id: &str) -> String {
    format!("TICKET#{tracker}#{ticket_id}")
}

#[async_trait]
pub trait TicketLedger: Send + Sync {
    async fn request(&self, event_id: &str) -> Result<Option<TicketRequest>, AwsError>;
    /// Open tickets of one category, newest first (at most `limit`).
    async fn open_tickets(&self, category: &str, limit: i32)
    -> Result<Vec<LedgerTicket>, AwsError>;
    async fn ticket(&self, pk: &str) -> Result<Option<LedgerTicket>, AwsError>;
    /// The ticket a report in this thread opened (its ledger key), if any.
    async fn thread_ticket(&self, thread_key: &str) -> Result<Option<String>, AwsError>;
    /// pending → attempting with `plan`, before any tracker call. False when
    /// the request was no longer pending (someone else moved it).
    async fn begin(
        &self,
        event_id: &str,
        plan: &TicketPlan,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError>;
    /// The tracker answered: the request is complete, and the ticket records
    /// it (a new ticket, or one more asker). Idempotent.
    async fn complete(
        &self,
        request: &TicketRequest,
        ticket: &TicketRef,
        plan: &TicketPlan,
        now: OffsetDateTime,
    ) -> Result<(), AwsError>;
    /// Completes the request with a ticket that already records it (an
    /// adopted issue seen again), without touching the ticket.
    async fn settle(
        &self,
        event_id: &str,
        ticket_pk: &str,
        now: OffsetDateTime,
    ) -> Result<(), AwsError>;
    /// The tracker refused for good.
    async fn fail(&self, event_id: &str, reason: &str, now: OffsetDateTime)
    -> Result<(), AwsError>;
    /// Marks the ticket resolved (once) with its resolution time. Returns the
    /// ticket while its reporters still need telling; None for a ticket we
    /// did not open, or one resolved and told already.
    async fn resolve(
        &self,
        tracker: &str,
        ticket_id: &str,
        resolved_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerTicket>, AwsError>;
    /// Claims the reporters' notice before posting it: false when another
    /// attempt claimed it (and may have posted), so it is not posted again.
    async fn begin_telling(&self, pk: &str, now: OffsetDateTime) -> Result<bool, AwsError>;
    /// Releases the claim: the post surely did not land (Slack said 429/5xx).
    async fn not_told(&self, pk: &str) -> Result<(), AwsError>;
    async fn reporters_told(&self, pk: &str, now: OffsetDateTime) -> Result<(), AwsError>;
}

#[derive(Debug, Clone)]
pub struct DynamoTicketLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    counters_table: String,
}

impl DynamoTicketLedger {
    pub fn new(client: aws_sdk_dynamodb::Client, table: &str, counters_table: &str) -> Self {
        DynamoTicketLedger {
            client,
            table: table.to_owned(),
            counters_table: counters_table.to_owned(),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Item>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("eventId", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetItem", e))?;
        Ok(output.item)
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn strings(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::Ss(values)) => values.clone(),
        Some(AttributeValue::L(values)) => values
            .iter()
            .filter_map(|v| v.as_s().ok().cloned())
            .collect(),
        _ => Vec::new(),
    }
}

fn instant(item: &Item, name: &str) -> Option<OffsetDateTime> {
    text(item, name).and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
}

fn malformed(what: &str) -> AwsError {
    AwsError::permanent(
        "GetItem",
        "Malformed",
        format!("ticket ledger item: {what}"),
    )
}

fn plan_of(item: &Item) -> TicketPlan {
    match text(item, "joinTicket") {
        Some(ticket_pk) if text(item, "plan").as_deref() == Some("join") => {
            TicketPlan::Join { ticket_pk }
        }
        _ => TicketPlan::Create,
    }
}

pub fn request_of(item: &Item) -> Result<TicketRequest, AwsError> {
    let event_id = text(item, "eventId").ok_or_else(|| malformed("eventId"))?;
    let since = instant(item, "attemptAt");
    let state = match text(item, "status").as_deref() {
        Some("pending") | None => RequestState::Pending,
        Some("attempting") => RequestState::Attempting {
            plan: plan_of(item),
            since: since.ok_or_else(|| malformed("attemptAt"))?,
        },
        Some("failed") => RequestState::Failed {
            plan: plan_of(item),
            since: since.ok_or_else(|| malformed("attemptAt"))?,
            reason: text(item, "lastError").unwrap_or_default(),
        },
        Some("complete") => RequestState::Complete {
            ticket_pk: text(item, "ticketPk").unwrap_or_default(),
        },
        Some(other) => return Err(malformed(&format!("status {other}"))),
    };
    let created_at = instant(item, "createdAt").ok_or_else(|| malformed("createdAt"))?;
    Ok(TicketRequest {
        state,
        title: text(item, "title").unwrap_or_default(),
        category: text(item, "category"),
        member_id: text(item, "userId").unwrap_or_default(),
        reporter: text(item, "reporter").unwrap_or_default(),
        platform: text(item, "platform").unwrap_or_default(),
        source_url: text(item, "sourceUrl"),
        excerpt: text(item, "excerpt"),
        signal_score: item
            .get("signalScore")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0),
        reasons: strings(item, "reasons"),
        labels: strings(item, "labels"),
        reported_at: instant(item, "occurredAt").unwrap_or(created_at),
        thread_key: text(item, "threadKey"),
        reply: matches!(item.get("isReply"), Some(AttributeValue::Bool(true))),
        event_id,
    })
}

pub fn ticket_of(item: &Item) -> Result<LedgerTicket, AwsError> {
    let tracker = text(item, "tracker").ok_or_else(|| malformed("tracker"))?;
    Ok(LedgerTicket {
        pk: text(item, "eventId").ok_or_else(|| malformed("eventId"))?,
        ticket: TicketRef {
            tracker,
            id: text(item, "ticketId").ok_or_else(|| malformed("ticketId"))?,
            key: text(item, "key").unwrap_or_default(),
            url: text(item, "url").unwrap_or_default(),
        },
        title: text(item, "title").unwrap_or_default(),
        category: text(item, "category").unwrap_or_default(),
        open: text(item, "status").as_deref() == Some("open"),
        askers: strings(item, "askers").into_iter().collect(),
        reporter_handles: strings(item, "reporterHandles").into_iter().collect(),
        first_report_at: instant(item, "firstReportAt")
            .ok_or_else(|| malformed("firstReportAt"))?,
        resolved_at: instant(item, "resolvedAt"),
        resolution_seconds: item
            .get("resolutionSeconds")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()),
        reporters_told: matches!(item.get("reportersTold"), Some(AttributeValue::Bool(true))),
    })
}

#[async_trait]
impl TicketLedger for DynamoTicketLedger {
    async fn request(&self, event_id: &str) -> Result<Option<TicketRequest>, AwsError> {
        self.get(event_id)
            .await?
            .as_ref()
            .map(request_of)
            .transpose()
    }

    async fn open_tickets(
        &self,
        category: &str,
        limit: i32,
    ) -> Result<Vec<LedgerTicket>, AwsError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(OPEN_TICKETS_INDEX)
            .key_condition_expression("openCategory = :c")
            .expression_attribute_values(":c", s(category))
            // The newest first: a repeat is most likely of a recent report.
            .scan_index_forward(false)
            .limit(limit)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Query", e))?;
        output.items().iter().map(ticket_of).collect()
    }

    async fn ticket(&self, pk: &str) -> Result<Option<LedgerTicket>, AwsError> {
        self.get(pk).await?.as_ref().map(ticket_of).transpose()
    }

    async fn thread_ticket(&self, thread_key: &str) -> Result<Option<String>, AwsError> {
        Ok(self
            .get(&thread_pointer(thread_key))
            .await?
            .and_then(|item| text(&item, "ticketPk")))
    }

    async fn begin(
        &self,
        event_id: &str,
        plan: &TicketPlan,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("eventId", s(event_id))
            .condition_expression("#s = :pending")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":pending", s("pending"))
            .expression_attribute_values(":attempting", s("attempting"))
            .expression_attribute_values(":at", s(&rfc3339_utc(now)))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        update = match plan {
            TicketPlan::Create => update
                .update_expression("SET #s = :attempting, attemptAt = :at, #p = :plan ADD attempts :one")
                .expression_attribute_names("#p", "plan")
                .expression_attribute_values(":plan", s("create")),
            TicketPlan::Join { ticket_pk } => update
                .update_expression(
                    "SET #s = :attempting, attemptAt = :at, #p = :plan, joinTicket = :t ADD attempts :one",
                )
                .expression_attribute_names("#p", "plan")
                .expression_attribute_values(":plan", s("join"))
                .expression_attribute_values(":t", s(ticket_pk)),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(e) if crate::is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    async fn complete(
        &self,
        request: &TicketRequest,
        ticket: &TicketRef,
        plan: &TicketPlan,
        now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let pk = ticket_pk(&ticket.tracker, &ticket.id);
        let at = rfc3339_utc(now);
        let mark_request = Update::builder()
            .table_name(&self.table)
            .key("eventId", s(&request.event_id))
            .update_expression(
                "SET #s = :complete, ticketPk = :pk, ticketKey = :key, ticketUrl = :url, completedAt = :at REMOVE lastError",
            )
            .condition_expression("#s <> :complete")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":complete", s("complete"))
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":key", s(&ticket.key))
            .expression_attribute_values(":url", s(&ticket.url))
            .expression_attribute_values(":at", s(&at))
            .build()
            .map_err(crate::build_error)?;
        let asker = |name: &str| AttributeValue::Ss(vec![name.to_owned()]);
        let mut record_ticket = Update::builder()
            .table_name(&self.table)
            .key("eventId", s(&pk))
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":member", asker(&request.member_id))
            .expression_attribute_values(":handle", asker(&request.reporter))
            .expression_attribute_values(":event", asker(&request.event_id))
            .expression_attribute_values(":at", s(&at));
        let counter = match plan {
            TicketPlan::Create => {
                record_ticket = record_ticket
                    .update_expression(
                        "SET tracker = :tracker, ticketId = :id, #k = :key, #u = :url, title = :title, \
                         category = :category, #s = if_not_exists(#s, :open), \
                         openCategory = if_not_exists(openCategory, :category), \
                         createdAt = if_not_exists(createdAt, :at), \
                         firstReportAt = if_not_exists(firstReportAt, :reported), lastAskedAt = :at \
                         ADD askers :member, reporterHandles :handle, reportEvents :event",
                    )
                    // Never reopens (or re-indexes) a resolved ticket.
                    .condition_expression("attribute_not_exists(#s) OR #s = :open")
                    .expression_attribute_names("#k", "key")
                    .expression_attribute_names("#u", "url")
                    .expression_attribute_values(":tracker", s(&ticket.tracker))
                    .expression_attribute_values(":id", s(&ticket.id))
                    .expression_attribute_values(":key", s(&ticket.key))
                    .expression_attribute_values(":url", s(&ticket.url))
                    .expression_attribute_values(":title", s(&request.title))
                    .expression_attribute_values(
                        ":category",
                        s(request.category.as_deref().unwrap_or("uncategorized")),
                    )
                    .expression_attribute_values(":open", s("open"))
                    .expression_attribute_values(":reported", s(&rfc3339_utc(request.reported_at)));
                "tickets:created"
            }
            // Joining never reopens or re-indexes a ticket: it only adds the
            // asker (sets make a repeat a no-op).
            TicketPlan::Join { .. } => {
                record_ticket = record_ticket
                    .update_expression(
                        "SET lastAskedAt = :at ADD askers :member, reporterHandles :handle, reportEvents :event",
                    )
                    .condition_expression("attribute_exists(#s)");
                "tickets:joined"
            }
        };
        let record_ticket = record_ticket.build().map_err(crate::build_error)?;
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_request).build())
            .transact_items(TransactWriteItem::builder().update(record_ticket).build());
        // The thread's first ticket stays its ticket.
        if let (TicketPlan::Create, Some(thread_key)) = (plan, &request.thread_key) {
            let point = Update::builder()
                .table_name(&self.table)
                .key("eventId", s(&thread_pointer(thread_key)))
                .update_expression("SET ticketPk = if_not_exists(ticketPk, :pk)")
                .expression_attribute_values(":pk", s(&pk))
                .build()
                .map_err(crate::build_error)?;
            transaction =
                transaction.transact_items(TransactWriteItem::builder().update(point).build());
        }
        let transaction = transaction.transact_items(bump_counters(
            &self.counters_table,
            &day_of(now),
            &[counter.to_owned()],
        )?);
        // The tracker already answered: losing the day counters' item to a
        // concurrent event must not send the record back for a 3-minute
        // requeue (and a reconciliation), so conflicts are retried here.
        let mut attempt = 0u32;
        let result = loop {
            attempt += 1;
            match transaction.clone().send().await {
                Err(e) if crate::events::conflicted(&e) && attempt < 4 => {
                    let pause = 25 * u64::from(attempt) + u64::from(now.nanosecond() % 25);
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                other => break other,
            }
        };
        match result {
            Ok(_) => Ok(()),
            // Completed before (a retry after the transaction landed).
            Err(e) if condition_failed_at(&e, 0) => Ok(()),
            // Found resolved: the request is done, the ticket stays closed.
            Err(e) if condition_failed_at(&e, 1) && *plan == TicketPlan::Create => {
                self.settle(&request.event_id, &pk, now).await
            }
            Err(e) if condition_failed_at(&e, 1) => Err(AwsError::permanent(
                "TransactWriteItems",
                "TicketMissing",
                format!("the ticket {pk} to join is not in the ledger"),
            )),
            Err(e) => Err(AwsError::from_sdk("TransactWriteItems", e)),
        }
    }

    async fn settle(
        &self,
        event_id: &str,
        ticket_pk: &str,
        now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("eventId", s(event_id))
            .update_expression("SET #s = :complete, ticketPk = :pk, completedAt = :at")
            .condition_expression("#s <> :complete")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":complete", s("complete"))
            .expression_attribute_values(":pk", s(ticket_pk))
            .expression_attribute_values(":at", s(&rfc3339_utc(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if crate::is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    async fn fail(
        &self,
        event_id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let reason: String = reason.chars().take(500).collect();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("eventId", s(event_id))
            .update_expression("SET #s = :failed, lastError = :reason, failedAt = :at")
            .condition_expression("#s = :attempting")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":attempting", s("attempting"))
            .expression_attribute_values(":reason", s(&reason))
            .expression_attribute_values(":at", s(&rfc3339_utc(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if crate::is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    async fn resolve(
        &self,
        tracker: &str,
        ticket_id: &str,
        resolved_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<LedgerTicket>, AwsError> {
        let pk = ticket_pk(tracker, ticket_id);
        let Some(item) = self.get(&pk).await? else {
            return Ok(None);
        };
        let mut ticket = ticket_of(&item)?;
        if !ticket.open {
            return Ok((!ticket.reporters_told).then_some(ticket));
        }
        let seconds = (resolved_at - ticket.first_report_at)
            .whole_seconds()
            .max(0);
        let close = Update::builder()
            .table_name(&self.table)
            .key("eventId", s(&pk))
            .update_expression(
                "SET #s = :resolved, resolvedAt = :resolvedAt, resolutionSeconds = :seconds, \
                 reportersTold = :false REMOVE openCategory",
            )
            .condition_expression("#s = :open")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":resolved", s("resolved"))
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":resolvedAt", s(&rfc3339_utc(resolved_at)))
            .expression_attribute_values(":seconds", AttributeValue::N(seconds.to_string()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build()
            .map_err(crate::build_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(close).build())
            .transact_items(bump_counters(
                &self.counters_table,
                &day_of(now),
                &["tickets:resolved".to_owned()],
            )?)
            .send()
            .await;
        match result {
            Ok(_) => {
                ticket.open = false;
                ticket.resolved_at = Some(resolved_at);
                ticket.resolution_seconds = Some(seconds);
                Ok(Some(ticket))
            }
            // Resolved meanwhile by another delivery: read what it wrote.
            Err(e) if condition_failed_at(&e, 0) => match self.get(&pk).await? {
                Some(item) => {
                    let ticket = ticket_of(&item)?;
                    Ok((!ticket.reporters_told).then_some(ticket))
                }
                None => Ok(None),
            },
            Err(e) => Err(AwsError::from_sdk("TransactWriteItems", e)),
        }
    }

    async fn begin_telling(&self, pk: &str, now: OffsetDateTime) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("eventId", s(pk))
            .update_expression("SET reportersTelling = :at")
            .condition_expression(
                "reportersTold = :false AND attribute_not_exists(reportersTelling)",
            )
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":at", s(&rfc3339_utc(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if crate::is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    async fn not_told(&self, pk: &str) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("eventId", s(pk))
            .update_expression("REMOVE reportersTelling")
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

    async fn reporters_told(&self, pk: &str, now: OffsetDateTime) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("eventId", s(pk))
            .update_expression("SET reportersTold = :true, reportersToldAt = :at")
            .condition_expression("attribute_exists(eventId)")
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":at", s(&rfc3339_utc(now)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateItem", e))?;
        Ok(())
    }
}
