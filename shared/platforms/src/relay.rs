//! The signed generic relay (`POST /webhooks/relay`): GitHub Actions, bots,
//! custom sources and the Discord Gateway relay.
//!
//! `x-signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`
//! with `x-signature-timestamp: <unix seconds>` inside the replay window. The
//! timestamp is part of what is signed, so a captured request cannot be
//! replayed later with a fresh one; inside the window the body's `id`
//! deduplicates. The body is validated against the published JSON Schema
//! (`schema/relay-envelope.v1.schema.json`) and a 400 names every bad field.

use std::borrow::Cow;
use std::sync::LazyLock;

use canonical_event::{Actor, Content, EventType, Platform, Source};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

use crate::draft::{self, Parts, body, rfc3339};
use crate::envelope::{ENVELOPE_VERSION, Envelope};
use crate::hmac_sha256::{self, SignatureError};
use crate::wire::json_only;
use crate::{
    Accepted, AdaptError, Adapted, Delivery, FieldProblem, QueueMessage, Rejection,
    check_replay_window, fifo_id,
};

pub const HEADER_SIGNATURE: &str = "x-signature";
pub const HEADER_TIMESTAMP: &str = "x-signature-timestamp";
const HEADER_CONTENT_TYPE: &str = "content-type";

pub const ADAPTER_VERSION: &str = "relay@1";
/// The source name of the Discord Gateway relay; its events are Discord's.
pub const SOURCE_DISCORD_GATEWAY: &str = "discord-gateway";

/// The published schema, exactly as served in the repository.
pub const SCHEMA: &str = include_str!("../schema/relay-envelope.v1.schema.json");

/// Most problems listed in one 400: enough to fix a sender, bounded output.
const MAX_FIELD_PROBLEMS: usize = 20;

static VALIDATOR: LazyLock<Result<jsonschema::Validator, String>> = LazyLock::new(|| {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).map_err(|e| e.to_string())?;
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| e.to_string())
});

/// Compiles the schema now (cold start) instead of on the first request, and
/// says whether it is usable: a broken build fails init, not a delivery.
pub fn warm_up() -> Result<(), String> {
    VALIDATOR.as_ref().map(|_| ()).map_err(Clone::clone)
}

/// A relay secret, optionally bound to the one `source` it may speak for.
///
/// Configured one per line: `<secret>` (any source except
/// `discord-gateway`) or `<source>=<secret>` (only that source). Events from
/// `discord-gateway` are attributed to Discord members, so only a secret
/// bound to it may send them: a CI workflow's secret cannot impersonate a
/// Discord member.
pub struct RelaySecret {
    pub source: Option<String>,
    pub secret: SecretString,
}

impl std::fmt::Debug for RelaySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelaySecret")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl RelaySecret {
    /// Parses one configured line.
    pub fn parse(line: &SecretString) -> RelaySecret {
        use secrecy::ExposeSecret;
        let text = line.expose_secret();
        match text.split_once('=') {
            Some((source, secret)) if is_source(source) && !secret.is_empty() => RelaySecret {
                source: Some(source.to_owned()),
                secret: SecretString::from(secret.to_owned()),
            },
            _ => RelaySecret {
                source: None,
                secret: line.clone(),
            },
        }
    }

    fn allows(&self, source: &str) -> bool {
        match &self.source {
            Some(bound) => bound == source,
            None => source != SOURCE_DISCORD_GATEWAY,
        }
    }
}

/// A source name as the schema allows it.
fn is_source(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Which of `secrets` signed `timestamp.body` (every one is tried).
pub fn verify_signature<'s>(
    secrets: impl IntoIterator<Item = &'s SecretString>,
    signature_header: Option<&str>,
    timestamp_header: Option<&str>,
    raw_body: &[u8],
) -> Result<Vec<bool>, SignatureError> {
    let timestamp = timestamp_header.ok_or(SignatureError::Missing)?;
    hmac_sha256::matching_secrets(
        secrets,
        signature_header,
        "sha256=",
        &[timestamp.as_bytes(), b".", raw_body],
    )
}

/// The `x-signature` value for a body sent at `timestamp`.
pub fn sign(secret: &str, timestamp: &str, raw_body: &[u8]) -> Result<String, SignatureError> {
    hmac_sha256::sign_prefixed_hex(secret, "sha256=", &[timestamp.as_bytes(), b".", raw_body])
}

/// The envelope fields the edge keys on (the schema has already checked them).
#[derive(Deserialize)]
struct Keys<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    data: DataKeys,
}

#[derive(Deserialize)]
struct DataKeys {
    #[serde(default, rename = "threadId")]
    thread_id: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    thread_parent_id: Option<String>,
}

/// Validates `value` against the published schema; every problem, by pointer.
pub fn validate(value: &serde_json::Value) -> Result<(), Vec<FieldProblem>> {
    let validator = match VALIDATOR.as_ref() {
        Ok(v) => v,
        Err(_) => {
            return Err(vec![FieldProblem {
                field: String::new(),
                problem: "schema unavailable".to_owned(),
            }]);
        }
    };
    let mut problems: Vec<FieldProblem> = validator
        .iter_errors(value)
        .take(MAX_FIELD_PROBLEMS)
        .map(|error| problem_of(&error))
        .collect();
    problems.dedup();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// A problem without the offending value (it may be personal data): the
/// field's JSON pointer and the schema keyword it broke.
fn problem_of(error: &jsonschema::ValidationError<'_>) -> FieldProblem {
    use jsonschema::error::ValidationErrorKind as Kind;
    let at = error.instance_path().to_string();
    match error.kind() {
        Kind::Required { property } => FieldProblem {
            field: format!("{at}/{}", property.as_str().unwrap_or("?")),
            problem: "required".to_owned(),
        },
        Kind::AdditionalProperties { unexpected } => FieldProblem {
            field: format!("{at}/{}", unexpected.join(",")),
            problem: "not allowed".to_owned(),
        },
        kind => FieldProblem {
            field: at,
            problem: keyword(kind).to_owned(),
        },
    }
}

fn keyword(kind: &jsonschema::error::ValidationErrorKind) -> &'static str {
    use jsonschema::error::ValidationErrorKind as Kind;
    match kind {
        Kind::Type { .. } => "wrong type",
        Kind::Enum { .. } => "not one of the allowed values",
        Kind::Constant { .. } => "must be exactly the documented value",
        Kind::Format { .. } => "wrong format",
        Kind::Pattern { .. } => "does not match the pattern",
        Kind::MinLength { .. } => "too short",
        Kind::MaxLength { .. } => "too long",
        Kind::MaxItems { .. } => "too many items",
        _ => "invalid",
    }
}

/// Verifies a relay request, validates its body and builds its queue message.
pub fn accept<'a, H: Fn(&str) -> Option<&'a str>>(
    secrets: &[RelaySecret],
    delivery: &Delivery<'a, H>,
) -> Result<Accepted, Rejection> {
    let header = &delivery.header;
    let matched = verify_signature(
        secrets.iter().map(|s| &s.secret),
        header(HEADER_SIGNATURE),
        header(HEADER_TIMESTAMP),
        delivery.body,
    )?;
    check_replay_window(header(HEADER_TIMESTAMP), delivery.received_at)?;
    let json = json_only(header(HEADER_CONTENT_TYPE), delivery.body)?;
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| Rejection::MalformedBody)?;
    validate(&value).map_err(Rejection::InvalidEnvelope)?;
    let keys: Keys<'_> = serde_json::from_str(json).map_err(|_| Rejection::MalformedBody)?;
    let allowed = secrets
        .iter()
        .zip(&matched)
        .any(|(secret, matched)| *matched && secret.allows(&keys.source));
    if !allowed {
        return Err(Rejection::SourceNotAllowed);
    }
    let payload: &RawValue = serde_json::from_str(json).map_err(|_| Rejection::MalformedBody)?;
    let envelope = Envelope {
        v: ENVELOPE_VERSION,
        platform: Platform::Relay,
        delivery_id: Cow::Borrowed(&keys.id),
        event_name: Cow::Borrowed(&keys.kind),
        hook_id: Some(Cow::Borrowed(&keys.source)),
        origin: None,
        attempt: None,
        received_at: delivery.received_at,
        payload,
    };
    let body = envelope.encode().map_err(|_| Rejection::MalformedBody)?;
    // One conversation in order: the thread, else the channel, else the delivery alone.
    let conversation = keys
        .data
        .thread_id
        .as_deref()
        .or(keys
            .data
            .thread_parent_id
            .as_deref()
            .and(keys.data.channel_id.as_deref()))
        .or(keys.data.channel.as_deref())
        .or(keys.data.channel_id.as_deref());
    let group_id = match conversation {
        Some(c) => fifo_id(&["relay", &keys.source, c]),
        None => fifo_id(&["relay", &keys.source, "delivery", &keys.id]),
    };
    Ok(Accepted::enqueue(QueueMessage {
        deduplication_id: fifo_id(&["relay", &keys.source, &keys.id]),
        group_id,
        body,
        delivery_id: keys.id.to_string(),
        event_name: keys.kind.to_string(),
    }))
}

/// The relay body as normalize reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RelayBody<'a> {
    id: String,
    source: String,
    #[serde(rename = "type")]
    kind: String,
    occurred_at: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenericEvent {
    actor: GenericActor,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    first_time_contributor: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenericActor {
    id: String,
    handle: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    is_bot: bool,
}

/// Maps a relayed delivery: Discord Gateway dispatches to Discord events,
/// anything else through the generic `relay@1` shape.
pub fn adapt(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    let relay: RelayBody<'_> = serde_json::from_str(envelope.payload.get())
        .map_err(|e| draft::malformed(&envelope.event_name, &e))?;
    let occurred_at: Option<OffsetDateTime> = rfc3339(relay.occurred_at.as_deref());
    if relay.source == SOURCE_DISCORD_GATEWAY {
        return crate::discord::adapt_dispatch(
            envelope,
            &relay.kind,
            relay.data.get(),
            occurred_at,
        );
    }
    let name = format!("{}.{}", relay.source, relay.kind);
    // Lifecycle events are the pipeline's own conclusions; a relay cannot assert them.
    let event_type = EventType::parse(&relay.kind)
        .filter(|t| !t.is_derived())
        .ok_or_else(|| AdaptError::MissingField {
            event: name.clone(),
            field: "type (a canonical event type)",
        })?;
    let event: GenericEvent =
        serde_json::from_str(relay.data.get()).map_err(|e| draft::malformed(&name, &e))?;
    let parts = Parts {
        event_type,
        actor: Actor {
            // Ids are namespaced by source: `42` from one bot is not `42` from another.
            platform_user_id: format!("{}:{}", relay.source, event.actor.id),
            handle: event.actor.handle,
            display_name: draft::name(event.actor.display_name.as_deref()),
            is_bot: event.actor.is_bot,
        },
        occurred_at,
        source: Source {
            repository: event.repository,
            channel: event.channel,
            thread_id: event.thread_id,
            url: event.url,
        },
        content: Content {
            title: draft::title(event.title.as_deref()),
            excerpt: body(event.text.as_deref()),
            labels: event.labels,
        },
        first_time_contributor: event.first_time_contributor,
        natural_key: format!("{}/{}", relay.source, relay.id),
    };
    Ok(Adapted::Events(vec![draft::build(
        Platform::Relay,
        envelope,
        &name,
        ADAPTER_VERSION,
        parts,
    )?]))
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
