//! From a verified-or-not HTTP delivery to a queue message, without I/O.

use std::borrow::Cow;

use canonical_event::Platform;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::hmac_sha256::SignatureError;
use crate::{Accepted, QueueMessage, Rejection, fifo_id};

pub const HEADER_EVENT: &str = "x-github-event";
pub const HEADER_DELIVERY: &str = "x-github-delivery";
pub const HEADER_HOOK_ID: &str = "x-github-hook-id";
pub const HEADER_SIGNATURE_256: &str = "x-hub-signature-256";
const HEADER_CONTENT_TYPE: &str = "content-type";

/// One webhook request as the edge sees it: lower-case header lookup and the
/// raw (already base64-decoded) body bytes.
#[derive(Debug)]
pub struct Delivery<'a, H: Fn(&str) -> Option<&'a str>> {
    pub header: H,
    pub body: &'a [u8],
    pub received_at: OffsetDateTime,
}

/// Verifies a GitHub delivery and builds its queue message.
///
/// Order matters: the signature is checked on the raw bytes before anything
/// is parsed, so unauthenticated input never reaches a parser.
pub fn accept<'a, H: Fn(&str) -> Option<&'a str>>(
    secrets: &[SecretString],
    delivery: &Delivery<'a, H>,
) -> Result<Accepted, Rejection> {
    let header = &delivery.header;
    super::verify_signature(secrets, header(HEADER_SIGNATURE_256), delivery.body).map_err(|e| {
        match e {
            SignatureError::Missing => Rejection::SignatureMissing,
            SignatureError::BadFormat | SignatureError::Mismatch | SignatureError::NoSecret => {
                Rejection::SignatureInvalid
            }
        }
    })?;

    let event_name = header(HEADER_EVENT)
        .filter(|v| is_event_name(v))
        .ok_or(Rejection::BadHeader(HEADER_EVENT))?;
    let delivery_id = header(HEADER_DELIVERY)
        .filter(|v| is_token(v))
        .ok_or(Rejection::BadHeader(HEADER_DELIVERY))?;
    // GitHub always sends the hook id; tolerate its absence (older GHES) by
    // keying on the delivery alone, which is still unique per event.
    let hook_id = match header(HEADER_HOOK_ID) {
        Some(v) if is_token(v) => Some(v),
        Some(_) => return Err(Rejection::BadHeader(HEADER_HOOK_ID)),
        None => None,
    };

    let json = payload_json(header(HEADER_CONTENT_TYPE), delivery.body)?;
    let keys: ThreadKeys<'_> = serde_json::from_str(&json).map_err(|_| Rejection::MalformedBody)?;

    if event_name == "ping" {
        return Ok(Accepted::Ping);
    }

    let payload: &RawValue = serde_json::from_str(&json).map_err(|_| Rejection::MalformedBody)?;
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        platform: Platform::Github,
        delivery_id: Cow::Borrowed(delivery_id),
        event_name: Cow::Borrowed(event_name),
        hook_id: hook_id.map(Cow::Borrowed),
        received_at: delivery.received_at,
        payload,
    };
    let body = envelope.encode().map_err(|_| Rejection::MalformedBody)?;
    Ok(Accepted::Enqueue(QueueMessage {
        deduplication_id: fifo_id(&["github", hook_id.unwrap_or(""), delivery_id]),
        group_id: keys.group_id(delivery_id),
        body,
        delivery_id: delivery_id.to_owned(),
        event_name: event_name.to_owned(),
    }))
}

/// The JSON document inside the body: the body itself for `application/json`,
/// the `payload` form field for `application/x-www-form-urlencoded`.
fn payload_json<'b>(content_type: Option<&str>, body: &'b [u8]) -> Result<Cow<'b, str>, Rejection> {
    let media_type = content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match media_type.as_str() {
        // GitHub always sets a content type; a missing one is treated as JSON
        // (what relays and curl users mean) rather than refused.
        "application/json" | "" => std::str::from_utf8(body)
            .map(Cow::Borrowed)
            .map_err(|_| Rejection::MalformedBody),
        "application/x-www-form-urlencoded" => form_urlencoded::parse(body)
            .find(|(name, _)| name == "payload")
            .map(|(_, value)| Cow::Owned(value.into_owned()))
            .ok_or(Rejection::MalformedBody),
        _ => Err(Rejection::UnsupportedMediaType),
    }
}

/// Just enough of any payload to key its conversation.
#[derive(Deserialize)]
struct ThreadKeys<'a> {
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
    issue: Option<Numbered>,
    pull_request: Option<Numbered>,
    discussion: Option<Numbered>,
}

#[derive(Deserialize)]
struct Repo<'a> {
    #[serde(borrow)]
    full_name: Cow<'a, str>,
}

#[derive(Deserialize)]
struct Numbered {
    number: u64,
}

impl ThreadKeys<'_> {
    /// Events of one issue / PR / discussion stay in order; events without a
    /// thread share their repository's group; repository-less events (e.g.
    /// sponsorships) get a group of their own so they never block others.
    fn group_id(&self, delivery_id: &str) -> String {
        let thread = self
            .issue
            .as_ref()
            .or(self.pull_request.as_ref())
            .or(self.discussion.as_ref())
            .map(|n| n.number);
        match (&self.repository, thread) {
            (Some(repo), Some(n)) => fifo_id(&["github", &repo.full_name, &n.to_string()]),
            (Some(repo), None) => fifo_id(&["github", &repo.full_name]),
            (None, _) => fifo_id(&["github", "delivery", delivery_id]),
        }
    }
}

fn is_event_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn is_token(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
