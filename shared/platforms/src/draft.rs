//! Building a canonical draft from the parts every adapter extracts.

use canonical_event::{
    Actor, Content, EXCERPT_MAX_CHARS, EventDraft, EventId, EventType, Platform, Source,
    TITLE_MAX_CHARS, excerpt,
};
use time::OffsetDateTime;

use crate::AdaptError;
use crate::envelope::Envelope;

/// What an adapter found in a payload.
#[derive(Debug)]
pub(crate) struct Parts {
    pub event_type: EventType,
    pub actor: Actor,
    /// When it happened, if the payload says; else the receipt time is used.
    pub occurred_at: Option<OffsetDateTime>,
    pub source: Source,
    pub content: Content,
    pub first_time_contributor: bool,
    /// The thing's own identity on its platform (`C123/1700000000.000100`,
    /// `message/9876`, …). The event id derives from it rather than from the
    /// delivery, so one thing delivered twice under different delivery ids
    /// (Slack's `message` and `app_mention` for the same message, Discourse's
    /// per-retry event ids) is still one event.
    pub natural_key: String,
}

pub(crate) fn build(
    platform: Platform,
    envelope: &Envelope<'_>,
    platform_event: &str,
    adapter: &str,
    parts: Parts,
) -> Result<EventDraft, AdaptError> {
    Ok(EventDraft {
        event_id: EventId::derive(platform, &parts.natural_key, 0)?,
        platform,
        event_type: parts.event_type,
        actor: parts.actor,
        timestamp: parts.occurred_at.unwrap_or(envelope.received_at),
        received_at: envelope.received_at,
        source: parts.source,
        content: parts.content,
        first_time_contributor: parts.first_time_contributor,
        delivery_id: envelope.delivery_id.to_string(),
        index_in_delivery: 0,
        platform_event: platform_event.to_owned(),
        adapter: adapter.to_owned(),
        identity_hints: Default::default(),
    })
}

/// One event from `parts`, or the drop by `rule` when the adapter found
/// nobody to attribute it to.
pub(crate) fn one_or_dropped(
    platform: Platform,
    envelope: &Envelope<'_>,
    name: String,
    adapter: &str,
    parts: Option<Parts>,
    rule: &'static str,
) -> Result<crate::Adapted, AdaptError> {
    match parts {
        Some(parts) => Ok(crate::Adapted::Events(vec![build(
            platform, envelope, &name, adapter, parts,
        )?])),
        None => Ok(crate::Adapted::Dropped { rule, name }),
    }
}

pub(crate) fn title(text: Option<&str>) -> Option<String> {
    text.and_then(|t| excerpt(t, TITLE_MAX_CHARS))
}

pub(crate) fn body(text: Option<&str>) -> Option<String> {
    text.and_then(|t| excerpt(t, EXCERPT_MAX_CHARS))
}

/// A display name worth keeping: present and not blank.
pub(crate) fn name(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// `Some(text)` unless blank: blank ids in a payload mean "unknown".
pub(crate) fn nonblank(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

/// Unix seconds with an optional fraction (`"1700000000.000100"`, Slack's ts).
pub(crate) fn unix_seconds(text: &str) -> Option<OffsetDateTime> {
    let whole = text.split('.').next()?;
    let seconds: i64 = whole.parse().ok()?;
    OffsetDateTime::from_unix_timestamp(seconds).ok()
}

pub(crate) fn rfc3339(text: Option<&str>) -> Option<OffsetDateTime> {
    text.and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok())
}

pub(crate) fn malformed(event: &str, error: &serde_json::Error) -> AdaptError {
    AdaptError::Malformed {
        event: event.to_owned(),
        detail: crate::redacted_json_error(error),
    }
}
