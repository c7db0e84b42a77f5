//! Platform edges, one module per platform: how a delivery is verified, what
//! it is called, how it is keyed for the queue, and how its payload maps to
//! canonical events. Pure: no I/O, no clock (time is passed in), no env.

pub mod discord;
pub mod discourse;
mod draft;
pub mod envelope;
pub mod github;
pub mod hmac_sha256;
pub mod relay;
#[cfg(test)]
mod roundtrip_tests;
pub mod slack;
#[cfg(test)]
mod test_support;
mod wire;

pub use wire::Delivery;

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

/// Maps a verified delivery with its platform's current adapter.
pub fn adapt(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    match envelope.platform {
        canonical_event::Platform::Github => github::adapt(envelope),
        canonical_event::Platform::Slack => slack::adapt(envelope),
        canonical_event::Platform::Discord => discord::adapt(envelope),
        canonical_event::Platform::Discourse => discourse::adapt(envelope),
        canonical_event::Platform::Relay => relay::adapt(envelope),
    }
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("signature header missing")]
    SignatureMissing,
    #[error("signature does not verify")]
    SignatureInvalid,
    /// The signed timestamp is outside the replay window (or unreadable).
    #[error("request timestamp outside the replay window")]
    StaleTimestamp,
    #[error("required header missing or invalid: {0}")]
    BadHeader(&'static str),
    #[error("body is not a valid delivery")]
    MalformedBody,
    /// The body parsed but breaks the published schema; says which fields.
    #[error("body does not match the published schema")]
    InvalidEnvelope(Vec<FieldProblem>),
    #[error("content type not supported")]
    UnsupportedMediaType,
    /// Signed with a relay secret that is not allowed to speak for this source.
    #[error("this secret may not send events for this source")]
    SourceNotAllowed,
}

/// One schema violation: a JSON pointer into the body and the rule broken.
/// Never carries the offending value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

impl Rejection {
    pub fn status(&self) -> u16 {
        match self {
            Rejection::SignatureMissing
            | Rejection::SignatureInvalid
            | Rejection::StaleTimestamp => 401,
            Rejection::BadHeader(_) | Rejection::MalformedBody | Rejection::InvalidEnvelope(_) => {
                400
            }
            Rejection::UnsupportedMediaType => 415,
            Rejection::SourceNotAllowed => 403,
        }
    }

    /// The machine-readable code in the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::SignatureMissing => "signature_missing",
            Rejection::SignatureInvalid => "signature_invalid",
            Rejection::StaleTimestamp => "timestamp_out_of_window",
            Rejection::BadHeader(_) => "bad_header",
            Rejection::MalformedBody => "malformed_delivery",
            Rejection::InvalidEnvelope(_) => "invalid_envelope",
            Rejection::UnsupportedMediaType => "unsupported_media_type",
            Rejection::SourceNotAllowed => "source_not_allowed",
        }
    }

    /// Field-level detail for the error body (only schema violations have it).
    pub fn fields(&self) -> &[FieldProblem] {
        match self {
            Rejection::InvalidEnvelope(fields) => fields,
            _ => &[],
        }
    }
}

/// Replay window of every timestamped scheme (Slack's documented 5 minutes;
/// used for Discord interactions and the relay too).
pub const REPLAY_WINDOW_SECONDS: i64 = 300;

/// `Ok` when the signed Unix timestamp is within the replay window of `now`,
/// in either direction (a far-future stamp is as suspect as an old one).
pub fn check_replay_window(
    timestamp_header: Option<&str>,
    now: time::OffsetDateTime,
) -> Result<i64, Rejection> {
    check_window(timestamp_header, now, REPLAY_WINDOW_SECONDS)
}

/// [`check_replay_window`] with another width, in seconds.
pub fn check_window(
    timestamp_header: Option<&str>,
    now: time::OffsetDateTime,
    window_seconds: i64,
) -> Result<i64, Rejection> {
    let text = timestamp_header.ok_or(Rejection::SignatureMissing)?;
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::StaleTimestamp);
    }
    let stamp: i64 = text.parse().map_err(|_| Rejection::StaleTimestamp)?;
    if (now.unix_timestamp() - stamp).abs() > window_seconds {
        return Err(Rejection::StaleTimestamp);
    }
    Ok(stamp)
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

/// What the edge answers the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `202 {"status":"accepted","deliveryId":…}`: the default for enqueued deliveries.
    Accepted,
    /// A JSON body the platform's protocol requires (Slack's challenge, Discord's PONG).
    Json { status: u16, body: String },
    /// No body at all (Discord Webhook Events insist on 204 with an empty body).
    Empty { status: u16 },
}

impl Reply {
    pub fn pong() -> Reply {
        Reply::Json {
            status: 200,
            body: r#"{"status":"pong"}"#.to_owned(),
        }
    }
}

/// What the edge does with a verified delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A handshake (ping, URL verification) answered synchronously and not enqueued.
    Answer(Reply),
    /// Put on the queue, then answered with `reply`.
    Enqueue { message: QueueMessage, reply: Reply },
}

impl Accepted {
    pub(crate) fn enqueue(message: QueueMessage) -> Accepted {
        Accepted::Enqueue {
            message,
            reply: Reply::Accepted,
        }
    }
}

/// A JSON error without payload content: serde's messages quote offending
/// values (`invalid type: string "alice@example.com"`, escaped quotes and
/// backticked variants included), and these messages end up in logs and
/// dead-letter attributes. Only messages that name a field of *our* types
/// (`missing field `x``, `duplicate field `x``) are kept; everything else
/// becomes its category and position.
pub fn redacted_json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.starts_with("missing field `") || text.starts_with("duplicate field `") {
        return text;
    }
    let what = match error.classify() {
        serde_json::error::Category::Syntax => "invalid JSON syntax",
        serde_json::error::Category::Eof => "unexpected end of JSON",
        serde_json::error::Category::Data => "a value of the wrong type or shape",
        serde_json::error::Category::Io => "I/O error",
    };
    format!("{what} at line {} column {}", error.line(), error.column())
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
            text.contains("wrong type") && text.contains("line 1"),
            "{text}"
        );
        // Escaped quotes and backticked values do not smuggle text out either.
        let escaped =
            serde_json::from_str::<Wants>(r#"{"n":"x\" alice@example.com"}"#).unwrap_err();
        assert!(!super::redacted_json_error(&escaped).contains("alice"));
        #[derive(Debug, serde::Deserialize)]
        enum Kind {
            #[allow(dead_code)]
            A,
        }
        let variant = serde_json::from_str::<Kind>(r#""alice@example.com""#).unwrap_err();
        assert!(!super::redacted_json_error(&variant).contains("alice"));
        let missing = serde_json::from_str::<Wants>("{}").unwrap_err();
        assert!(super::redacted_json_error(&missing).contains("missing field `n`"));
    }
}
