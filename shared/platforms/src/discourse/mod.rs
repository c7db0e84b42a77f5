//! Discourse webhooks: `X-Discourse-Event-Signature` (sha256 HMAC of the raw
//! body), ping, content-based delivery ids, and the `discourse@1` adapter.
//!
//! `X-Discourse-Event-Id` is the id of a new WebHookEvent row on every
//! attempt, so it cannot deduplicate retries; the delivery id is derived from
//! the content instead: event name + object id + its `updated_at`.

mod adapter;

pub use adapter::{
    ADAPTER_VERSION, DROP_EVENT_NOT_MAPPED, DROP_NO_ACTOR, DROP_NOT_A_REGULAR_POST,
    DROP_NOT_AN_EDIT, DROP_PRIVATE_MESSAGE, DROP_SYSTEM_USER, adapt,
};

use std::borrow::Cow;

use canonical_event::Platform;
use secrecy::SecretString;
use serde_json::value::RawValue;

use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::hmac_sha256::{self, SignatureError};
use crate::wire::{is_event_name, json_object, media_type, payload_json};
use crate::{Accepted, Delivery, QueueMessage, Rejection, Reply, fifo_id};

pub const HEADER_SIGNATURE: &str = "x-discourse-event-signature";
pub const HEADER_EVENT: &str = "x-discourse-event";
pub const HEADER_EVENT_TYPE: &str = "x-discourse-event-type";
pub const HEADER_INSTANCE: &str = "x-discourse-instance";
const HEADER_CONTENT_TYPE: &str = "content-type";

pub fn verify_signature(
    secrets: &[SecretString],
    signature_header: Option<&str>,
    raw_body: &[u8],
) -> Result<(), SignatureError> {
    hmac_sha256::verify_body(secrets, signature_header, raw_body)
}

pub fn sign(secret: &str, raw_body: &[u8]) -> Result<String, SignatureError> {
    hmac_sha256::sign_body(secret, raw_body)
}

/// An id as Discourse writes it (a number, sometimes a string); `None` if absent.
fn id_text(value: Option<&serde_json::Value>) -> Option<String> {
    match value? {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
        _ => None,
    }
}

fn text_of<'v>(object: &'v serde_json::Value, field: &str) -> &'v str {
    object.get(field).and_then(|v| v.as_str()).unwrap_or("")
}

/// Discourse signs the body but not `X-Discourse-Event`, and puts the payload
/// under a root key named after the event's type (`{"post": …}` for post
/// events, `{"solved": …}` for accepted_solution, `{"like": …}` for
/// post_liked). A header that does not belong to the signed root key is
/// refused, so a captured body cannot be replayed as a different kind of
/// event (a `post` body as `accepted_solution`, a `user` body as `user_created`
/// only from user events).
fn event_matches_root(event: &str, root: &str) -> bool {
    match event {
        "post_liked" => root == "like",
        "accepted_solution" | "unaccepted_solution" => root == "solved",
        _ => event
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('_')),
    }
}

/// Verifies a Discourse delivery and builds its queue message.
pub fn accept<'a, H: Fn(&str) -> Option<&'a str>>(
    secrets: &[SecretString],
    delivery: &Delivery<'a, H>,
) -> Result<Accepted, Rejection> {
    let header = &delivery.header;
    verify_signature(secrets, header(HEADER_SIGNATURE), delivery.body)?;
    let event_name = header(HEADER_EVENT)
        .filter(|v| is_event_name(v))
        .ok_or(Rejection::BadHeader(HEADER_EVENT))?;
    // Discourse's two content types; anything else is not Discourse (415,
    // as documented), even over a JSON body.
    if !matches!(
        media_type(header(HEADER_CONTENT_TYPE)).as_str(),
        "application/json" | "application/x-www-form-urlencoded" | ""
    ) {
        return Err(Rejection::UnsupportedMediaType);
    }
    // Discourse sends its JSON body as-is whichever content type the webhook
    // is set to (only the header changes), so JSON is tried first; a
    // `payload=` form is accepted from relays that wrap it.
    let json: Cow<'_, str> = match std::str::from_utf8(delivery.body) {
        Ok(text) if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
            Cow::Borrowed(text)
        }
        _ => payload_json(header(HEADER_CONTENT_TYPE), delivery.body)?,
    };
    json_object(&json)?;
    let objects: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&json).map_err(|_| Rejection::MalformedBody)?;
    if event_name == "ping" {
        return Ok(Accepted::Answer(Reply::pong()));
    }
    // The body is `{"<event type>": {...}}`: exactly one object.
    let mut roots = objects.iter();
    let (Some((root, object)), None) = (roots.next(), roots.next()) else {
        return Err(Rejection::MalformedBody);
    };
    if !object.is_object() {
        return Err(Rejection::MalformedBody);
    }
    if !event_matches_root(event_name, root) {
        return Err(Rejection::BadHeader(HEADER_EVENT));
    }
    // Not covered by the signature: used for links only, never for identity.
    let instance = header(HEADER_INSTANCE)
        .filter(|i| i.len() <= 256 && (i.starts_with("https://") || i.starts_with("http://")))
        .filter(|i| i.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("");
    // Content identity: event + object id + its version. A like has no id of
    // its own: it is (post, liker).
    let (object_id, liker, topic) = if root == "like" {
        let post = object.get("post").unwrap_or(&serde_json::Value::Null);
        (
            id_text(post.get("id")),
            id_text(object.get("user").and_then(|u| u.get("id"))),
            id_text(post.get("topic_id")),
        )
    } else {
        let topic = if root == "topic" {
            id_text(object.get("id"))
        } else {
            id_text(object.get("topic_id"))
        };
        (id_text(object.get("id")), None, topic)
    };
    let object_id = object_id.ok_or(Rejection::MalformedBody)?;
    let liker = liker.unwrap_or_default();
    let version = match text_of(object, "updated_at") {
        "" => text_of(object, "created_at"),
        updated => updated,
    };
    let delivery_id = fifo_id(&[event_name, root, &object_id, &liker, version]);
    let payload: &RawValue = serde_json::from_str(&json).map_err(|_| Rejection::MalformedBody)?;
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        platform: Platform::Discourse,
        delivery_id: Cow::Borrowed(&delivery_id),
        event_name: Cow::Borrowed(event_name),
        hook_id: None,
        origin: Some(Cow::Borrowed(instance)).filter(|i| !i.is_empty()),
        attempt: None,
        received_at: delivery.received_at,
        payload,
    };
    let body = envelope.encode().map_err(|_| Rejection::MalformedBody)?;
    let group_id = match topic {
        Some(topic) => fifo_id(&["discourse", "topic", &topic]),
        None => fifo_id(&["discourse", root, &object_id]),
    };
    Ok(Accepted::enqueue(QueueMessage {
        deduplication_id: delivery_id.clone(),
        group_id,
        body,
        delivery_id,
        event_name: event_name.to_owned(),
    }))
}

#[cfg(test)]
mod tests;
