//! Discourse webhooks: `X-Discourse-Event-Signature` (sha256 HMAC of the raw
//! body), ping, content-based delivery ids, and the `discourse@1` adapter.
//!
//! `X-Discourse-Event-Id` is the id of a new WebHookEvent row on every
//! attempt, so it cannot deduplicate retries; the delivery id is derived from
//! the content instead: event name + object id + its `updated_at`.

mod adapter;

pub use adapter::{ADAPTER_VERSION, DROP_EVENT_NOT_MAPPED, DROP_NO_ACTOR, DROP_SYSTEM_USER, adapt};

use std::borrow::Cow;

use canonical_event::Platform;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::hmac_sha256::{self, SignatureError};
use crate::wire::{is_event_name, payload_json};
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

/// The identifying fields of whatever object the body carries
/// (`{"post": {...}}`, `{"topic": {...}}`, `{"like": {"post", "user"}}`, …).
#[derive(Deserialize, Default)]
struct ObjectKeys {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    topic_id: Option<serde_json::Value>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    post: Option<Box<ObjectKeys>>,
    #[serde(default)]
    user: Option<Box<ObjectKeys>>,
}

fn id_text(v: &Option<serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => String::new(),
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
    let json = payload_json(header(HEADER_CONTENT_TYPE), delivery.body)?;
    let objects: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&json).map_err(|_| Rejection::MalformedBody)?;
    if event_name == "ping" {
        return Ok(Accepted::Answer(Reply::pong()));
    }
    // The body is `{"<event type>": {...}}`: one object.
    let (object_type, object) = objects.iter().next().ok_or(Rejection::MalformedBody)?;
    let keys: ObjectKeys = serde_json::from_value(object.clone()).unwrap_or_default();
    // Not covered by the signature: used for links only, never for identity.
    let instance = header(HEADER_INSTANCE)
        .filter(|i| i.len() <= 256 && (i.starts_with("https://") || i.starts_with("http://")))
        .filter(|i| i.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("");
    let version = keys
        .updated_at
        .as_deref()
        .or(keys.created_at.as_deref())
        .unwrap_or("");
    // A like has no id of its own: it is (post, user).
    let (object_id, liker) = match (&keys.post, &keys.user) {
        (Some(post), Some(user)) if keys.id.is_none() => (id_text(&post.id), id_text(&user.id)),
        _ => (id_text(&keys.id), String::new()),
    };
    let delivery_id = fifo_id(&[event_name, object_type, &object_id, &liker, version]);
    let topic = match object_type.as_str() {
        "topic" => object_id.clone(),
        _ => id_text(&keys.topic_id),
    };
    let topic = if topic.is_empty() {
        keys.post
            .as_ref()
            .map(|p| id_text(&p.topic_id))
            .unwrap_or_default()
    } else {
        topic
    };
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
    let group_id = if topic.is_empty() {
        fifo_id(&["discourse", object_type, &object_id])
    } else {
        fifo_id(&["discourse", "topic", &topic])
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
