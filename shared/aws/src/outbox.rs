//! The ticket outbox: one `pending` ticket request per product-backlog event,
//! written in the same transaction as the event. The tracker sinks (Linear,
//! Jira, GitHub Issues) will drain it; until then it is the backlog.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use canonical_event::{CanonicalEvent, rfc3339_utc};
use time::OffsetDateTime;

use crate::AwsError;

pub fn ticket_request(
    event: &CanonicalEvent,
    now: OffsetDateTime,
) -> HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut item = HashMap::from([
        ("eventId".to_owned(), s(&event.event_id.to_string())),
        ("status".to_owned(), s("pending")),
        ("kind".to_owned(), s("ticket")),
        ("platform".to_owned(), s(event.platform.as_str())),
        ("eventType".to_owned(), s(event.event_type.as_str())),
        ("userId".to_owned(), s(&event.user_id)),
        ("reporter".to_owned(), s(&event.actor.handle)),
        (
            "signalScore".to_owned(),
            AttributeValue::N(event.signal_score.to_string()),
        ),
        (
            "reasons".to_owned(),
            AttributeValue::L(event.reasons.iter().map(|r| s(&r.detail)).collect()),
        ),
        ("createdAt".to_owned(), s(&rfc3339_utc(now))),
    ]);
    let title = event
        .content
        .title
        .clone()
        .unwrap_or_else(|| format!("{} from {}", event.event_type, event.actor.handle));
    item.insert("title".to_owned(), s(&title));
    if let Some(url) = &event.source.url {
        item.insert("sourceUrl".to_owned(), s(url));
    }
    if !event.content.labels.is_empty() {
        item.insert(
            "labels".to_owned(),
            AttributeValue::L(event.content.labels.iter().map(|l| s(l)).collect()),
        );
    }
    item
}

/// One row of the outbox as the CLI shows it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketRequest {
    pub event_id: String,
    pub status: String,
    pub title: String,
    pub reporter: String,
    pub source_url: Option<String>,
    pub created_at: String,
}

/// All ticket requests (the outbox is small: drained by the sinks).
pub async fn list(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<TicketRequest>, AwsError> {
    let mut rows = Vec::new();
    for item in crate::scan_all(client, table, None).await? {
        let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        rows.push(TicketRequest {
            event_id: get("eventId").unwrap_or_default(),
            status: get("status").unwrap_or_default(),
            title: get("title").unwrap_or_default(),
            reporter: get("reporter").unwrap_or_default(),
            source_url: get("sourceUrl"),
            created_at: get("createdAt").unwrap_or_default(),
        });
    }
    rows.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok(rows)
}
