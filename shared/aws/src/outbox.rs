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
        ("occurredAt".to_owned(), s(&rfc3339_utc(event.timestamp))),
    ]);
    item.insert("title".to_owned(), s(&ticket_title(event)));
    if let Some(classification) = &event.classification {
        item.insert("category".to_owned(), s(classification.category.as_str()));
    }
    if let Some(excerpt) = &event.content.excerpt {
        let excerpt: String = excerpt.chars().take(EXCERPT_CHARS).collect();
        item.insert("excerpt".to_owned(), s(&excerpt));
    }
    if let Some(thread) = &event.source.thread_id {
        let container = event
            .source
            .repository
            .as_deref()
            .or(event.source.channel.as_deref())
            .unwrap_or("");
        item.insert(
            "threadKey".to_owned(),
            s(&crate::memory::thread_key(
                event.platform.as_str(),
                container,
                thread,
            )),
        );
    }
    if event.event_type.is_reply() {
        item.insert("isReply".to_owned(), AttributeValue::Bool(true));
    }
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

/// How much of the member's words a ticket quotes.
const EXCERPT_CHARS: usize = 1_000;
const TITLE_CHARS: usize = 90;

/// A ticket's title: the event's own title (issues, topics), else the first
/// sentence of what the member wrote (chat messages have no title), else
/// what happened and who.
pub fn ticket_title(event: &CanonicalEvent) -> String {
    let from_text = || {
        let excerpt = event.content.excerpt.as_deref()?;
        let first_line = excerpt.lines().map(str::trim).find(|l| !l.is_empty())?;
        let sentence = first_line
            .split_inclusive(['.', '?', '!'])
            .next()
            .unwrap_or(first_line)
            .trim();
        let mut title: String = sentence.chars().take(TITLE_CHARS).collect();
        if sentence.chars().count() > TITLE_CHARS {
            title.push('…');
        }
        Some(title)
    };
    event
        .content
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(from_text)
        .unwrap_or_else(|| format!("{} from {}", event.event_type, event.actor.handle))
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
        // The ledger's own rows (tickets, thread pointers) are not requests.
        if item
            .get("eventId")
            .and_then(|v| v.as_s().ok())
            .is_some_and(|k| k.starts_with("TICKET"))
        {
            continue;
        }
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
