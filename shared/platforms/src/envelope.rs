//! The message ingest puts on `raw-events.fifo` and normalize reads: the
//! verified payload exactly as the platform sent it (embedded as raw JSON, not
//! re-escaped, so the message stays about the size of the payload) plus the
//! delivery metadata that only exists in HTTP headers.

use canonical_event::Platform;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;

pub const ENVELOPE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<'a> {
    pub v: u32,
    pub platform: Platform,
    /// The platform's delivery id (`X-GitHub-Delivery`, …).
    #[serde(borrow)]
    pub delivery_id: std::borrow::Cow<'a, str>,
    /// The platform's event name (`X-GitHub-Event`, …).
    #[serde(borrow)]
    pub event_name: std::borrow::Cow<'a, str>,
    /// The webhook (hook id) that delivered it, when the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub hook_id: Option<std::borrow::Cow<'a, str>>,
    /// Where the delivery says it came from, for links (Discourse's
    /// `X-Discourse-Instance`). Unsigned by the platform: never used for identity.
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    pub origin: Option<std::borrow::Cow<'a, str>>,
    /// Which attempt this was, when the platform numbers its retries (Slack's
    /// `X-Slack-Retry-Num`: 0 = first delivery). Dedup does not depend on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    #[serde(borrow)]
    pub payload: &'a RawValue,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("message is not an envelope: {0}")]
    Malformed(String),
    #[error("unsupported envelope version {0} (this build reads {ENVELOPE_VERSION})")]
    UnsupportedVersion(u32),
}

impl<'a> Envelope<'a> {
    pub fn decode(text: &'a str) -> Result<Envelope<'a>, EnvelopeError> {
        let envelope: Envelope<'a> = serde_json::from_str(text)
            .map_err(|e| EnvelopeError::Malformed(crate::redacted_json_error(&e)))?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(envelope.v));
        }
        Ok(envelope)
    }

    pub fn encode(&self) -> Result<String, EnvelopeError> {
        serde_json::to_string(self).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }
}
