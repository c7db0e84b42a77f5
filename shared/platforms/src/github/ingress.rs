//! From a verified-or-not HTTP delivery to a queue message, without I/O.

use std::borrow::Cow;

use canonical_event::Platform;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::wire::{is_event_name, is_token, json_object, payload_json};
use crate::{Accepted, Delivery, QueueMessage, Rejection, Reply, fifo_id};

pub const HEADER_EVENT: &str = "x-github-event";
pub const HEADER_DELIVERY: &str = "x-github-delivery";
pub const HEADER_HOOK_ID: &str = "x-github-hook-id";
pub const HEADER_SIGNATURE_256: &str = "x-hub-signature-256";
const HEADER_CONTENT_TYPE: &str = "content-type";

/// Verifies a GitHub delivery and builds its queue message.
///
/// Order matters: the signature is checked on the raw bytes before anything
/// is parsed, so unauthenticated input never reaches a parser.
pub fn accept<'a, H: Fn(&str) -> Option<&'a str>>(
    secrets: &[SecretString],
    delivery: &Delivery<'a, H>,
) -> Result<Accepted, Rejection> {
    let header = &delivery.header;
    super::verify_signature(secrets, header(HEADER_SIGNATURE_256), delivery.body)
        .map_err(Rejection::from)?;

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
    json_object(&json)?;
    let keys: ThreadKeys<'_> = serde_json::from_str(&json).map_err(|_| Rejection::MalformedBody)?;

    if event_name == "ping" {
        return Ok(Accepted::Answer(Reply::pong()));
    }

    let payload: &RawValue = serde_json::from_str(&json).map_err(|_| Rejection::MalformedBody)?;
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        platform: Platform::Github,
        delivery_id: Cow::Borrowed(delivery_id),
        event_name: Cow::Borrowed(event_name),
        hook_id: hook_id.map(Cow::Borrowed),
        origin: None,
        attempt: None,
        received_at: delivery.received_at,
        payload,
    };
    let body = envelope.encode().map_err(|_| Rejection::MalformedBody)?;
    Ok(Accepted::enqueue(QueueMessage {
        deduplication_id: fifo_id(&["github", hook_id.unwrap_or(""), delivery_id]),
        group_id: keys.group_id(delivery_id),
        body,
        delivery_id: delivery_id.to_owned(),
        event_name: event_name.to_owned(),
    }))
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
