//! Discord: Ed25519-signed Interactions and Webhook Events (`discord@1`), and
//! the Gateway dispatches the relay forwards (`discord-gateway@1`).
//!
//! Discord signs `X-Signature-Timestamp + raw body` with the application's
//! key; the gateway verifies with the application's *public* key (several
//! may be active: one per application, or old and new during a reset).
//! Discord deliberately sends bad signatures and removes endpoints that
//! accept them, so every failure here is a 401.

mod adapter;
mod gateway;

pub use adapter::{
    ADAPTER_VERSION, DROP_COMPONENT, DROP_NO_ACTOR, DROP_WEBHOOK_EVENT_NOT_MAPPED, adapt,
};
pub use gateway::{
    ADAPTER_VERSION as GATEWAY_ADAPTER_VERSION, DROP_SYSTEM_MESSAGE, DROP_WEBHOOK_MESSAGE,
    adapt_dispatch,
};

use std::borrow::Cow;

use canonical_event::Platform;
use ed25519_dalek::Signature;
pub use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::wire::{body_digest, is_token, json_object, json_only};
use crate::{
    Accepted, Delivery, QueueMessage, Rejection, Reply, check_replay_window, check_window, fifo_id,
};

pub const HEADER_SIGNATURE: &str = "x-signature-ed25519";
pub const HEADER_TIMESTAMP: &str = "x-signature-timestamp";
const HEADER_CONTENT_TYPE: &str = "content-type";

/// Discord Webhook Events' replay window: their 10 minutes of retries plus margin.
pub const WEBHOOK_EVENTS_WINDOW_SECONDS: i64 = 1200;

/// The envelope event name of an interaction.
pub const EVENT_INTERACTION: &str = "interaction";

/// An application public key as configured (64 hex digits).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("a Discord public key must be 64 hex digits")]
    Format,
    #[error("not a valid Ed25519 public key")]
    Invalid,
}

/// Parses the public keys, one per line (the same rotation format as the
/// HMAC secrets).
pub fn parse_public_keys(lines: &[&str]) -> Result<Vec<VerifyingKey>, KeyError> {
    lines
        .iter()
        .map(|line| {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(line.trim(), &mut bytes).map_err(|_| KeyError::Format)?;
            VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Invalid)
        })
        .collect()
}

/// Verifies `X-Signature-Ed25519` over `timestamp || body` with
/// `verify_strict` (rejects small-order keys and non-canonical signatures)
/// under any of `keys`.
pub fn verify_signature(
    keys: &[VerifyingKey],
    signature_header: Option<&str>,
    timestamp_header: Option<&str>,
    raw_body: &[u8],
) -> Result<(), Rejection> {
    let signature_hex = signature_header.ok_or(Rejection::SignatureMissing)?;
    let timestamp = timestamp_header.ok_or(Rejection::SignatureMissing)?;
    let mut bytes = [0u8; 64];
    if signature_hex.len() != 128 {
        return Err(Rejection::SignatureInvalid);
    }
    hex::decode_to_slice(signature_hex, &mut bytes).map_err(|_| Rejection::SignatureInvalid)?;
    let signature = Signature::from_bytes(&bytes);
    let mut message = Vec::with_capacity(timestamp.len() + raw_body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(raw_body);
    // Every key is tried so timing does not tell which application matched.
    let mut matched = false;
    for key in keys {
        matched |= key.verify_strict(&message, &signature).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(Rejection::SignatureInvalid)
    }
}

/// Which of Discord's two signed endpoints a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The Interactions Endpoint URL (`/webhooks/discord`).
    Interactions,
    /// The Webhook Events URL (`/webhooks/discord/events`).
    WebhookEvents,
}

#[derive(Deserialize)]
struct InteractionKeys<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    guild_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    channel_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WebhookEventKeys<'a> {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default, borrow)]
    application_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event: Option<WebhookEventInner<'a>>,
}

#[derive(Deserialize)]
struct WebhookEventInner<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// The acknowledgement a member sees after a command: only to them (flag 64).
pub const COMMAND_ACK: &str = "Thanks, noted. The team will see this.";

/// Verifies a Discord request and decides what to answer.
pub fn accept<'a, H: Fn(&str) -> Option<&'a str>>(
    keys: &[VerifyingKey],
    endpoint: Endpoint,
    delivery: &Delivery<'a, H>,
) -> Result<Accepted, Rejection> {
    let header = &delivery.header;
    verify_signature(
        keys,
        header(HEADER_SIGNATURE),
        header(HEADER_TIMESTAMP),
        delivery.body,
    )?;
    let json = json_only(header(HEADER_CONTENT_TYPE), delivery.body)?;
    match endpoint {
        Endpoint::Interactions => {
            // Interactions are answered live and never retried, so a stale
            // signed request can only be a replay.
            check_replay_window(header(HEADER_TIMESTAMP), delivery.received_at)?;
            accept_interaction(json, delivery)
        }
        // Webhook Events are retried for up to 10 minutes and whether a retry
        // carries a fresh timestamp is not documented: a wider window keeps
        // every genuine retry and still bounds replays of a captured request.
        Endpoint::WebhookEvents => {
            check_window(
                header(HEADER_TIMESTAMP),
                delivery.received_at,
                WEBHOOK_EVENTS_WINDOW_SECONDS,
            )?;
            accept_webhook_event(json, delivery)
        }
    }
}

fn accept_interaction<'a, H: Fn(&str) -> Option<&'a str>>(
    json: &str,
    delivery: &Delivery<'a, H>,
) -> Result<Accepted, Rejection> {
    json_object(json)?;
    let keys: InteractionKeys<'_> =
        serde_json::from_str(json).map_err(|_| Rejection::MalformedBody)?;
    let reply = match keys.kind {
        // PING: the handshake Discord sends when the URL is saved (and to test it).
        1 => {
            return Ok(Accepted::Answer(Reply::Json {
                status: 200,
                body: r#"{"type":1}"#.to_owned(),
            }));
        }
        // Autocomplete fires per keystroke: answer with no suggestions, store nothing.
        4 => {
            return Ok(Accepted::Answer(Reply::Json {
                status: 200,
                body: r#"{"type":8,"data":{"choices":[]}}"#.to_owned(),
            }));
        }
        // APPLICATION_COMMAND, MODAL_SUBMIT: an ephemeral acknowledgement.
        2 | 5 => Reply::Json {
            status: 200,
            body: serde_json::json!({
                "type": 4,
                "data": { "content": COMMAND_ACK, "flags": 64 }
            })
            .to_string(),
        },
        // MESSAGE_COMPONENT: acknowledge without changing the message.
        3 => Reply::Json {
            status: 200,
            body: r#"{"type":6}"#.to_owned(),
        },
        _ => return Err(Rejection::MalformedBody),
    };
    let id = keys
        .id
        .as_deref()
        .filter(|id| is_token(id))
        .ok_or(Rejection::MalformedBody)?;
    // The interaction token lets its holder answer as the app for 15 minutes:
    // a credential, so it is not stored.
    let stored = crate::wire::without_fields(json, &["token"])?;
    let payload: &RawValue = serde_json::from_str(&stored).map_err(|_| Rejection::MalformedBody)?;
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        platform: Platform::Discord,
        delivery_id: Cow::Borrowed(id),
        event_name: Cow::Borrowed(EVENT_INTERACTION),
        hook_id: None,
        origin: None,
        attempt: None,
        received_at: delivery.received_at,
        payload,
    };
    let body = envelope.encode().map_err(|_| Rejection::MalformedBody)?;
    let guild = keys.guild_id.as_deref().unwrap_or("dm");
    let channel = keys.channel_id.as_deref().unwrap_or(id);
    Ok(Accepted::Enqueue {
        message: QueueMessage {
            deduplication_id: fifo_id(&["discord", "interaction", id]),
            group_id: fifo_id(&["discord", guild, channel]),
            body,
            delivery_id: id.to_owned(),
            event_name: EVENT_INTERACTION.to_owned(),
        },
        reply,
    })
}

fn accept_webhook_event<'a, H: Fn(&str) -> Option<&'a str>>(
    json: &str,
    delivery: &Delivery<'a, H>,
) -> Result<Accepted, Rejection> {
    json_object(json)?;
    let keys: WebhookEventKeys<'_> =
        serde_json::from_str(json).map_err(|_| Rejection::MalformedBody)?;
    match keys.kind {
        // PING must get 204 with an empty body (not the interactions PONG).
        0 => Ok(Accepted::Answer(Reply::Empty { status: 204 })),
        1 => {
            let event = keys.event.ok_or(Rejection::MalformedBody)?;
            let event_name = event.kind.to_ascii_lowercase();
            if !crate::wire::is_event_name(&event_name) {
                return Err(Rejection::MalformedBody);
            }
            // Webhook Events carry no delivery id; a retry resends the same bytes.
            let delivery_id = body_digest(delivery.body);
            let payload: &RawValue =
                serde_json::from_str(json).map_err(|_| Rejection::MalformedBody)?;
            let envelope = Envelope {
                v: ENVELOPE_VERSION,
                platform: Platform::Discord,
                delivery_id: Cow::Borrowed(&delivery_id),
                event_name: Cow::Borrowed(&event_name),
                hook_id: keys.application_id.as_deref().map(Cow::Borrowed),
                origin: None,
                attempt: None,
                received_at: delivery.received_at,
                payload,
            };
            let body = envelope.encode().map_err(|_| Rejection::MalformedBody)?;
            Ok(Accepted::Enqueue {
                message: QueueMessage {
                    deduplication_id: fifo_id(&["discord", "webhook-event", &delivery_id]),
                    group_id: fifo_id(&[
                        "discord",
                        "application",
                        keys.application_id.as_deref().unwrap_or(""),
                    ]),
                    body,
                    delivery_id,
                    event_name,
                },
                reply: Reply::Empty { status: 204 },
            })
        }
        _ => Err(Rejection::MalformedBody),
    }
}

/// Signs `timestamp || body` with an Ed25519 signing key (fixtures, tests).
pub fn sign(key: &ed25519_dalek::SigningKey, timestamp: &str, raw_body: &[u8]) -> String {
    use ed25519_dalek::Signer;
    let mut message = Vec::with_capacity(timestamp.len() + raw_body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(raw_body);
    hex::encode(key.sign(&message).to_bytes())
}

#[cfg(test)]
mod tests;
