//! The review queue: events moderation held (`routingTarget = review`), one
//! item per event (`eventId`), written in the same transaction as the event.
//! A reviewer approves (the event is released to the target it would have
//! had, with that target's bookkeeping, exactly once) or rejects (the event
//! stays stored, marked, for audit). Nothing is deleted. Verdicts are
//! counted per day (`review:approved` / `review:rejected`) so the false
//! positive rate of moderation can be watched.
//!
//! Items: `eventId`, `status` (pending | approved | rejected), `heldAt`,
//! `platform`, `eventType`, `userId`, `handle`, `preview`, `flags`,
//! `releaseTarget`, `sourceUrl`, `event` (the held event as JSON, so a
//! release works even after the event left the hot table), `notifiedAt`,
//! `decidedBy`, `decidedAt`, `note`. Index `byStatus` (status, heldAt).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use canonical_event::{CanonicalEvent, RoutingTarget, day_of, rfc3339_utc};
use time::OffsetDateTime;

use crate::AwsError;
use crate::counters::names;
use crate::events::{RouteTables, bump_counters, condition_failed_at, event_item, target_items};
use crate::ports::ReviewQueue;

const PREVIEW_CHARS: usize = 280;

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The pending review item of a held event.
pub fn review_item(
    event: &CanonicalEvent,
    now: OffsetDateTime,
) -> Result<HashMap<String, AttributeValue>, AwsError> {
    let snapshot = serde_json::to_string(event)
        .map_err(|e| AwsError::permanent("PutItem", "Serialize", e.to_string()))?;
    let preview: String = [
        event.content.title.as_deref(),
        event.content.excerpt.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" — ")
    .chars()
    .take(PREVIEW_CHARS)
    .collect();
    let release = event
        .moderation
        .as_ref()
        .map_or(RoutingTarget::Analytics, |m| m.release_target);
    let flags: Vec<AttributeValue> = event
        .moderation
        .iter()
        .flat_map(|m| &m.flags)
        .map(|flag| {
            let why: Vec<&str> = flag.reasons.iter().map(|r| r.rule.as_str()).collect();
            s(format!(
                "{} {:.2} ({})",
                flag.kind.as_str(),
                flag.score,
                why.join(", ")
            ))
        })
        .collect();
    let mut item = HashMap::from([
        ("eventId".to_owned(), s(event.event_id.to_string())),
        ("status".to_owned(), s("pending")),
        ("heldAt".to_owned(), s(rfc3339_utc(now))),
        ("platform".to_owned(), s(event.platform.as_str())),
        ("eventType".to_owned(), s(event.event_type.as_str())),
        ("userId".to_owned(), s(event.user_id.clone())),
        ("handle".to_owned(), s(event.actor.handle.clone())),
        ("preview".to_owned(), s(preview)),
        ("flags".to_owned(), AttributeValue::L(flags)),
        ("releaseTarget".to_owned(), s(release.as_str())),
        ("event".to_owned(), s(snapshot)),
    ]);
    if let Some(url) = &event.source.url {
        item.insert("sourceUrl".to_owned(), s(url.clone()));
    }
    Ok(item)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

impl Verdict {
    pub fn status(self) -> &'static str {
        match self {
            Verdict::Approve => "approved",
            Verdict::Reject => "rejected",
        }
    }
}

/// A reviewer's decision on one held event.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    pub event_id: &'a str,
    pub verdict: Verdict,
    pub reviewer: &'a str,
    pub note: &'a str,
}

/// One review as the CLI shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRow {
    pub event_id: String,
    pub status: String,
    pub held_at: String,
    pub platform: String,
    pub event_type: String,
    pub user_id: String,
    pub handle: String,
    pub preview: String,
    pub flags: Vec<String>,
    pub release_target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn row(item: &crate::Item) -> ReviewRow {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    ReviewRow {
        event_id: text("eventId").unwrap_or_default(),
        status: text("status").unwrap_or_default(),
        held_at: text("heldAt").unwrap_or_default(),
        platform: text("platform").unwrap_or_default(),
        event_type: text("eventType").unwrap_or_default(),
        user_id: text("userId").unwrap_or_default(),
        handle: text("handle").unwrap_or_default(),
        preview: text("preview").unwrap_or_default(),
        flags: item
            .get("flags")
            .and_then(|v| v.as_l().ok())
            .map(|l| l.iter().filter_map(|v| v.as_s().ok().cloned()).collect())
            .unwrap_or_default(),
        release_target: text("releaseTarget").unwrap_or_default(),
        source_url: text("sourceUrl"),
        notified_at: text("notifiedAt"),
        decided_by: text("decidedBy"),
        decided_at: text("decidedAt"),
        note: text("note"),
    }
}

/// Reviews, oldest held first; only those with `status` when given
/// (the `byStatus` index), else all.
pub async fn list(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    status: Option<&str>,
) -> Result<Vec<ReviewRow>, AwsError> {
    let items = match status {
        Some(status) => {
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let output = client
                    .query()
                    .table_name(table)
                    .index_name("byStatus")
                    .key_condition_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":status", s(status))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("Query", e))?;
                items.extend(output.items.unwrap_or_default());
                start = output.last_evaluated_key;
                if start.is_none() {
                    break items;
                }
            }
        }
        None => crate::scan_all(client, table, None).await?,
    };
    let mut rows: Vec<ReviewRow> = items.iter().map(row).collect();
    rows.sort_by(|a, b| a.held_at.cmp(&b.held_at));
    Ok(rows)
}

/// Moderation's record so far.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewStats {
    pub pending: usize,
    pub approved: usize,
    pub rejected: usize,
    /// approved / (approved + rejected): held events a human released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub false_positive_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_pending_held_at: Option<String>,
}

pub fn stats_of(rows: &[ReviewRow]) -> ReviewStats {
    let count = |status: &str| rows.iter().filter(|r| r.status == status).count();
    let (approved, rejected) = (count("approved"), count("rejected"));
    let decided = approved + rejected;
    ReviewStats {
        pending: count("pending"),
        approved,
        rejected,
        false_positive_rate: (decided > 0).then(|| approved as f64 / decided as f64),
        oldest_pending_held_at: rows
            .iter()
            .filter(|r| r.status == "pending")
            .map(|r| r.held_at.clone())
            .min(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("no review for event {0}")]
    NotFound(String),
    #[error("event {event_id} was already {status}")]
    AlreadyDecided { event_id: String, status: String },
    #[error("the held event of review {0} is unreadable: {1}")]
    Corrupt(String, String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl ReviewError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ReviewError::Aws(e) if e.is_retryable())
    }
}

/// Records a reviewer's verdict, once. Approve releases the held event to
/// its release target (the event item is rewritten with that target and the
/// target's bookkeeping happens in the same transaction); reject keeps the
/// event stored as held. Either way the verdict is counted for the day.
pub async fn decide(
    client: &aws_sdk_dynamodb::Client,
    tables: &RouteTables,
    retention_days: u32,
    decision: &Decision<'_>,
    now: OffsetDateTime,
) -> Result<ReviewRow, ReviewError> {
    let Decision {
        event_id,
        verdict,
        reviewer,
        note,
    } = *decision;
    let item = crate::get_live_item(client, &tables.reviews, "eventId", event_id, now)
        .await?
        .ok_or_else(|| ReviewError::NotFound(event_id.to_owned()))?;
    let current = row(&item);
    if current.status != "pending" {
        return Err(ReviewError::AlreadyDecided {
            event_id: event_id.to_owned(),
            status: current.status,
        });
    }
    let decided = Update::builder()
        .table_name(&tables.reviews)
        .key("eventId", s(event_id))
        .update_expression("SET #status = :decided, decidedBy = :by, decidedAt = :at, note = :note")
        .condition_expression("#status = :pending")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":decided", s(verdict.status()))
        .expression_attribute_values(":pending", s("pending"))
        .expression_attribute_values(":by", s(reviewer))
        .expression_attribute_values(":at", s(rfc3339_utc(now)))
        .expression_attribute_values(":note", s(note))
        .build()
        .map_err(crate::build_error)?;
    let mut counters = vec![names::review(verdict.status())];
    let mut items = vec![TransactWriteItem::builder().update(decided).build()];
    if verdict == Verdict::Approve {
        let snapshot = item
            .get("event")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| ReviewError::Corrupt(event_id.to_owned(), "no event".into()))?;
        let mut event: CanonicalEvent = serde_json::from_str(snapshot)
            .map_err(|e| ReviewError::Corrupt(event_id.to_owned(), e.to_string()))?;
        let target = event
            .moderation
            .as_ref()
            .map_or(RoutingTarget::Analytics, |m| m.release_target);
        event.routing_target = target;
        if let Some(moderation) = event.moderation.as_mut() {
            moderation.held = false;
        }
        event.reasons.push(canonical_event::Reason {
            rule: "moderation:released".into(),
            weight: 0.0,
            detail: format!("approved by {reviewer}; released to {target}"),
        });
        let expires_at =
            event.received_at.max(now) + time::Duration::days(i64::from(retention_days));
        let put_event = Put::builder()
            .table_name(&tables.events)
            .set_item(Some(event_item(&event, expires_at, now)?))
            .build()
            .map_err(crate::build_error)?;
        items.push(TransactWriteItem::builder().put(put_event).build());
        // A held event was not counted as activity; released, it is.
        items.extend(target_items(tables, &event, target, true, now)?);
        counters.push(format!("released:{target}"));
    }
    items.push(bump_counters(&tables.counters, &day_of(now), &counters)?);
    match client
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await
    {
        Ok(_) => {}
        Err(e) if condition_failed_at(&e, 0) => {
            return Err(ReviewError::AlreadyDecided {
                event_id: event_id.to_owned(),
                status: "decided meanwhile".into(),
            });
        }
        Err(e) => return Err(AwsError::from_sdk("TransactWriteItems", e).into()),
    }
    tracing::info!(event_id, verdict = verdict.status(), "review decided");
    Ok(ReviewRow {
        status: verdict.status().to_owned(),
        decided_by: Some(reviewer.to_owned()),
        decided_at: Some(rfc3339_utc(now)),
        note: Some(note.to_owned()),
        ..current
    })
}

/// route's side of the queue: has a reviewer been told about a held event?
#[derive(Debug, Clone)]
pub struct DynamoReviewQueue {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoReviewQueue {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoReviewQueue {
        DynamoReviewQueue {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl ReviewQueue for DynamoReviewQueue {
    async fn needs_notice(&self, event_id: &str, now: OffsetDateTime) -> Result<bool, AwsError> {
        let item =
            crate::get_live_item(&self.client, &self.table, "eventId", event_id, now).await?;
        Ok(item.is_some_and(|item| {
            !item.contains_key("notifiedAt")
                && item
                    .get("status")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some("pending")
        }))
    }

    async fn noticed(&self, event_id: &str, now: OffsetDateTime) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("eventId", s(event_id))
            .update_expression("SET notifiedAt = :at")
            .condition_expression("attribute_exists(eventId)")
            .expression_attribute_values(":at", s(rfc3339_utc(now)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateItem", e))?;
        Ok(())
    }
}
