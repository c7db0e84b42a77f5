//! Platform edges, one module per platform: how a delivery is verified, what
//! it is called, how it is keyed for the queue, and how its payload maps to
//! canonical events. Pure: no I/O, no clock (time is passed in), no env.

pub mod envelope;
pub mod github;
pub mod hmac_sha256;

pub use envelope::{ENVELOPE_VERSION, Envelope, EnvelopeError};

use canonical_event::EventDraft;

/// What an adapter made of one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Adapted {
    /// One or more canonical event drafts (usually one).
    Events(Vec<EventDraft>),
    /// Deliberately not turned into an event; `rule` says which rule dropped it
    /// and `name` which platform event it was, so drops can be counted.
    Dropped { rule: &'static str, name: String },
}

/// A delivery that can never become an event. Permanent by nature: retrying
/// the same bytes gives the same answer, so these go to the dead-letter queue.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AdaptError {
    #[error("payload is not valid JSON for {event}: {detail}")]
    Malformed { event: String, detail: String },
    #[error("{event} payload lacks {field}")]
    MissingField { event: String, field: &'static str },
    #[error(transparent)]
    EventId(#[from] EventIdErrorText),
}

/// `EventIdError` carries no `PartialEq`; this keeps its message.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{0}")]
pub struct EventIdErrorText(pub String);

impl From<canonical_event::EventIdError> for AdaptError {
    fn from(e: canonical_event::EventIdError) -> Self {
        AdaptError::EventId(EventIdErrorText(e.to_string()))
    }
}

/// Why a webhook request is refused at the edge. Each maps to one HTTP status
/// and a short, stable code that reveals nothing about internals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("signature header missing")]
    SignatureMissing,
    #[error("signature does not verify")]
    SignatureInvalid,
    #[error("required header missing or invalid: {0}")]
    BadHeader(&'static str),
    #[error("body is not a valid delivery")]
    MalformedBody,
    #[error("content type not supported")]
    UnsupportedMediaType,
}

impl Rejection {
    pub fn status(self) -> u16 {
        match self {
            Rejection::SignatureMissing | Rejection::SignatureInvalid => 401,
            Rejection::BadHeader(_) | Rejection::MalformedBody => 400,
            Rejection::UnsupportedMediaType => 415,
        }
    }

    /// The machine-readable code in the JSON error body.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::SignatureMissing => "signature_missing",
            Rejection::SignatureInvalid => "signature_invalid",
            Rejection::BadHeader(_) => "bad_header",
            Rejection::MalformedBody => "malformed_delivery",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
        }
    }
}

/// An accepted delivery, ready for the raw-events FIFO queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueMessage {
    /// FIFO `MessageDeduplicationId`: the platform's own delivery identity.
    pub deduplication_id: String,
    /// FIFO `MessageGroupId`: keeps one conversation in order.
    pub group_id: String,
    /// The serialized [`Envelope`].
    pub body: String,
    /// For logs: the platform's delivery id and event name.
    pub delivery_id: String,
    pub event_name: String,
}

/// What the edge does with a verified delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A handshake answered synchronously and not enqueued.
    Ping,
    Enqueue(QueueMessage),
}

/// A JSON error without payload content: serde's messages quote offending
/// values (`invalid type: string "alice@example.com"`), and these messages
/// end up in logs and dead-letter attributes. Quoted text is elided; field
/// names (in backticks), line and column stay.
pub fn redacted_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let mut out = String::with_capacity(text.len());
    let mut in_quote = false;
    for c in text.chars() {
        match (c, in_quote) {
            ('"', false) => {
                in_quote = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                in_quote = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

/// FIFO ids are at most 128 characters of a restricted alphabet; platform
/// values are hashed into that space so any input yields a valid id.
pub fn fifo_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod redaction_tests {
    #[derive(Debug, serde::Deserialize)]
    struct Wants {
        #[allow(dead_code)]
        n: u64,
    }

    #[test]
    fn json_errors_keep_their_shape_but_not_payload_values() {
        let error = serde_json::from_str::<Wants>(r#"{"n":"alice@example.com"}"#).unwrap_err();
        let text = super::redacted_json_error(&error);
        assert!(!text.contains("alice"), "{text}");
        assert!(
            text.contains("invalid type") && text.contains("line 1"),
            "{text}"
        );
        let missing = serde_json::from_str::<Wants>("{}").unwrap_err();
        assert!(super::redacted_json_error(&missing).contains("missing field `n`"));
    }
}
