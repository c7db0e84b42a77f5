//! Slack Events API: v0 request signing with a replay window, the
//! `url_verification` handshake, retries, and the `slack@1` adapter.

mod adapter;

pub use adapter::{
    ADAPTER_VERSION, DROP_EVENT_NOT_MAPPED, DROP_INTERACTIVITY, DROP_NO_ACTOR, DROP_NOT_AN_EDIT,
    DROP_SUBTYPE_NOT_MAPPED, adapt,
};

use std::borrow::Cow;

use canonical_event::Platform;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::hmac_sha256::{self, SignatureError};
use crate::wire::{body_digest, is_token, json_object, json_only};
use crate::{Accepted, Delivery, QueueMessage, Rejection, Reply, check_replay_window, fifo_id};

pub const HEADER_SIGNATURE: &str = "x-slack-signature";
pub const HEADER_TIMESTAMP: &str = "x-slack-request-timestamp";
pub const HEADER_RETRY_NUM: &str = "x-slack-retry-num";
pub const HEADER_RETRY_REASON: &str = "x-slack-retry-reason";
const HEADER_CONTENT_TYPE: &str = "content-type";

/// Verifies `X-Slack-Signature: v0=<hex>` = HMAC-SHA256 over
/// `v0:{timestamp}:{raw body}` under any active signing secret.
pub fn verify_signature(
    secrets: &[SecretString],
    signature_header: Option<&str>,
    timestamp_header: Option<&str>,
    raw_body: &[u8],
) -> Result<(), SignatureError> {
    let timestamp = timestamp_header.ok_or(SignatureError::Missing)?;
    hmac_sha256::verify_prefixed_hex(
        secrets,
        signature_header,
        "v0=",
        &[b"v0:", timestamp.as_bytes(), b":", raw_body],
    )
}

/// The `X-Slack-Signature` value for a body sent at `timestamp`.
pub fn sign(secret: &str, timestamp: &str, raw_body: &[u8]) -> Result<String, SignatureError> {
    hmac_sha256::sign_prefixed_hex(
        secret,
        "v0=",
        &[b"v0:", timestamp.as_bytes(), b":", raw_body],
    )
}

/// The outer Events API envelope: just what the edge needs.
#[derive(Deserialize)]
struct Outer<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    challenge: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    team_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event: Option<InnerKeys<'a>>,
}

/// Enough of the inner event to name it and key its conversation.
#[derive(Deserialize)]
struct InnerKeys<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    /// A string for messages; an object for `channel_created` and friends.
    #[serde(default)]
    channel: Option<serde_json::Value>,
    #[serde(default, borrow)]
    ts: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thread_ts: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<Threaded<'a>>,
    #[serde(default, borrow)]
    previous_message: Option<Threaded<'a>>,
    #[serde(default, borrow)]
    item: Option<Item<'a>>,
}

#[derive(Deserialize)]
struct Threaded<'a> {
    #[serde(default, borrow)]
    ts: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thread_ts: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(default, borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    ts: Option<Cow<'a, str>>,
}

/// Verifies a Slack Events API request and decides what to answer.
///
/// The signature is checked on the raw bytes first, then the timestamp's
/// replay window (the timestamp is part of what is signed, so a replayed
/// request cannot be given a fresh one).
pub fn accept<'a, H: Fn(&str) -> Option<&'a str>>(
    secrets: &[SecretString],
    delivery: &Delivery<'a, H>,
) -> Result<Accepted, Rejection> {
    let header = &delivery.header;
    verify_signature(
        secrets,
        header(HEADER_SIGNATURE),
        header(HEADER_TIMESTAMP),
        delivery.body,
    )?;
    check_replay_window(header(HEADER_TIMESTAMP), delivery.received_at)?;

    // Slash commands and interactivity post forms; the Events API posts JSON.
    if crate::wire::media_type(header(HEADER_CONTENT_TYPE)) == "application/x-www-form-urlencoded" {
        return accept_form(delivery, header(HEADER_RETRY_NUM));
    }
    let json = json_only(header(HEADER_CONTENT_TYPE), delivery.body)?;
    json_object(json)?;
    let outer: Outer<'_> = serde_json::from_str(json).map_err(|_| Rejection::MalformedBody)?;
    match outer.kind.as_ref() {
        "url_verification" => {
            let challenge = outer.challenge.ok_or(Rejection::MalformedBody)?;
            Ok(Accepted::Answer(Reply::Json {
                status: 200,
                body: serde_json::json!({ "challenge": challenge }).to_string(),
            }))
        }
        // Slack tells an app it is being rate limited; nothing to store.
        "app_rate_limited" => Ok(Accepted::Answer(Reply::Empty { status: 200 })),
        "event_callback" => {
            let event = outer.event.ok_or(Rejection::MalformedBody)?;
            let event_name = event
                .kind
                .as_deref()
                .filter(|k| crate::wire::is_event_name(k))
                .ok_or(Rejection::MalformedBody)?;
            // `event_id` is Slack's delivery identity and survives retries; very old
            // payloads lack it, and a retry resends the same bytes, so their digest
            // stands in.
            let delivery_id = match outer.event_id.as_deref() {
                Some(id) if is_token(id) => id.to_owned(),
                Some(_) => return Err(Rejection::MalformedBody),
                None => format!("body-{}", body_digest(delivery.body)),
            };
            let team = outer.team_id.as_deref().unwrap_or("");
            let attempt = retry_attempt(header(HEADER_RETRY_NUM))?;
            // The deprecated verification token is a credential: not stored.
            let stored = crate::wire::without_fields(json, &["token"])?;
            let payload: &RawValue =
                serde_json::from_str(&stored).map_err(|_| Rejection::MalformedBody)?;
            let envelope = Envelope {
                v: ENVELOPE_VERSION,
                platform: Platform::Slack,
                delivery_id: Cow::Borrowed(&delivery_id),
                event_name: Cow::Borrowed(event_name),
                hook_id: None,
                origin: None,
                attempt,
                received_at: delivery.received_at,
                payload,
            };
            let body = envelope.encode().map_err(|_| Rejection::MalformedBody)?;
            Ok(Accepted::enqueue(QueueMessage {
                deduplication_id: fifo_id(&["slack", team, &delivery_id]),
                group_id: group_id(team, &event),
                body,
                delivery_id: delivery_id.clone(),
                event_name: event_name.to_owned(),
            }))
        }
        _ => Err(Rejection::MalformedBody),
    }
}

/// Which of a Slack app's three request URLs a form came to, kept as the
/// envelope's hook id (Events API deliveries have none).
pub const HOOK_INTERACTIVITY: &str = "interactivity";
pub const HOOK_SLASH_COMMANDS: &str = "slash_commands";

/// The envelope event name of a slash command (`/report …`).
pub const EVENT_SLASH_COMMAND: &str = "slash_command";

/// What a member sees after a slash command: only to them.
pub const COMMAND_ACK: &str = "Thanks, noted. The team will see this.";

/// Form fields of a slash command that are kept. `token` (deprecated
/// verification token) and `response_url` (a capability to post as the app)
/// are deliberately dropped before anything is stored.
const SLASH_FIELDS: [&str; 9] = [
    "command",
    "text",
    "user_id",
    "user_name",
    "channel_id",
    "channel_name",
    "team_id",
    "team_domain",
    "trigger_id",
];

/// A verified form post: a slash command (stored, answered ephemerally) or
/// an interactivity payload (`payload=<json>`: acknowledged, stored for the
/// adapter to drop by rule).
fn accept_form<'a, H: Fn(&str) -> Option<&'a str>>(
    delivery: &Delivery<'a, H>,
    retry_num: Option<&str>,
) -> Result<Accepted, Rejection> {
    let fields: std::collections::BTreeMap<String, String> =
        form_urlencoded::parse(delivery.body).into_owned().collect();
    let attempt = retry_attempt(retry_num)?;
    let (hook, event_name, json, delivery_id, reply, group_parts) =
        if let Some(payload) = fields.get("payload") {
            #[derive(Deserialize)]
            struct Interactive {
                #[serde(rename = "type")]
                kind: String,
                #[serde(default)]
                trigger_id: Option<String>,
            }
            json_object(payload)?;
            let keys: Interactive =
                serde_json::from_str(payload).map_err(|_| Rejection::MalformedBody)?;
            if !crate::wire::is_event_name(&keys.kind) {
                return Err(Rejection::MalformedBody);
            }
            let id = match keys.trigger_id {
                Some(id) if is_token(&id) => id,
                _ => format!("body-{}", body_digest(delivery.body)),
            };
            // Only what identifies the interaction is kept: the payload also
            // carries the verification token, response_url(s) and form state.
            let kept = serde_json::json!({ "type": keys.kind, "trigger_id": id });
            (
                HOOK_INTERACTIVITY,
                keys.kind,
                kept.to_string(),
                id,
                Reply::Empty { status: 200 },
                vec!["interactive".to_owned()],
            )
        } else if fields.contains_key("command") {
            let trigger = fields
                .get("trigger_id")
                .filter(|t| is_token(t))
                .ok_or(Rejection::MalformedBody)?
                .clone();
            let kept: serde_json::Map<String, serde_json::Value> = SLASH_FIELDS
                .iter()
                .filter_map(|k| fields.get(*k).map(|v| ((*k).to_owned(), v.clone().into())))
                .collect();
            (
                HOOK_SLASH_COMMANDS,
                EVENT_SLASH_COMMAND.to_owned(),
                serde_json::Value::Object(kept).to_string(),
                trigger,
                Reply::Json {
                    status: 200,
                    body: serde_json::json!({ "response_type": "ephemeral", "text": COMMAND_ACK })
                        .to_string(),
                },
                vec![
                    fields.get("channel_id").cloned().unwrap_or_default(),
                    "commands".to_owned(),
                ],
            )
        } else {
            return Err(Rejection::MalformedBody);
        };
    let team = fields.get("team_id").map(String::as_str).unwrap_or("");
    let payload: &RawValue = serde_json::from_str(&json).map_err(|_| Rejection::MalformedBody)?;
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        platform: Platform::Slack,
        delivery_id: Cow::Borrowed(&delivery_id),
        event_name: Cow::Borrowed(&event_name),
        hook_id: Some(Cow::Borrowed(hook)),
        origin: None,
        attempt,
        received_at: delivery.received_at,
        payload,
    };
    let body = envelope.encode().map_err(|_| Rejection::MalformedBody)?;
    let mut group: Vec<&str> = vec!["slack", team];
    group.extend(group_parts.iter().map(String::as_str));
    Ok(Accepted::Enqueue {
        message: QueueMessage {
            deduplication_id: fifo_id(&["slack", team, &delivery_id]),
            group_id: fifo_id(&group),
            body,
            delivery_id: delivery_id.clone(),
            event_name,
        },
        reply,
    })
}

/// `X-Slack-Retry-Num` (1, 2, 3 on retries) as an attempt number; absent = 0.
fn retry_attempt(header: Option<&str>) -> Result<Option<u32>, Rejection> {
    match header {
        None => Ok(None),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= 100)
            .map(Some)
            .ok_or(Rejection::BadHeader(HEADER_RETRY_NUM)),
    }
}

/// One conversation (a channel's thread, or a top-level message and its
/// replies) stays in order; events without a channel share their team's group.
fn group_id(team: &str, event: &InnerKeys<'_>) -> String {
    let channel = event
        .channel
        .as_ref()
        .and_then(|c| match c {
            serde_json::Value::String(s) => Some(s.as_str()),
            serde_json::Value::Object(o) => o.get("id").and_then(|v| v.as_str()),
            _ => None,
        })
        .or(event.item.as_ref().and_then(|i| i.channel.as_deref()));
    let inner = event.message.as_ref().or(event.previous_message.as_ref());
    let thread = event
        .thread_ts
        .as_deref()
        .or(inner.and_then(|m| m.thread_ts.as_deref()))
        .or(inner.and_then(|m| m.ts.as_deref()))
        .or(event.item.as_ref().and_then(|i| i.ts.as_deref()))
        .or(event.ts.as_deref());
    match (channel, thread) {
        (Some(channel), Some(thread)) => fifo_id(&["slack", team, channel, thread]),
        (Some(channel), None) => fifo_id(&["slack", team, channel]),
        (None, _) => fifo_id(&["slack", team]),
    }
}

#[cfg(test)]
mod tests;
