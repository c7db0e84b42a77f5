//! Gateway dispatch → relay envelope (relay-envelope.v1). Pure: the clock and
//! the channel context are passed in.
//!
//! `data` is the dispatch's `d` as twilight models it, serialized back to
//! JSON, plus the keys the relay may add (`thread_parent_id`, `channel_name`,
//! `guild_name`). The delivery id is derived from Discord's own ids so that a
//! retry, a second relay instance or a gateway replay produce the same id and
//! the pipeline stores the event once.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use twilight_model::channel::message::EmojiReactionType;
use twilight_model::gateway::GatewayReaction;
use twilight_model::gateway::event::Event;
use twilight_model::gateway::payload::incoming::{MemberAdd, MessageCreate};
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, MessageMarker, UserMarker};
use twilight_model::util::Timestamp;

pub const ENVELOPE_VERSION: u8 = 1;
pub const SOURCE: &str = "discord-gateway";
/// The schema's `maxLength` for `channel_name` and `guild_name`.
const MAX_NAME_CHARS: usize = 100;

/// The three dispatches the relay forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DispatchKind {
    #[serde(rename = "MESSAGE_CREATE")]
    MessageCreate,
    #[serde(rename = "GUILD_MEMBER_ADD")]
    GuildMemberAdd,
    #[serde(rename = "MESSAGE_REACTION_ADD")]
    MessageReactionAdd,
}

impl DispatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DispatchKind::MessageCreate => "MESSAGE_CREATE",
            DispatchKind::GuildMemberAdd => "GUILD_MEMBER_ADD",
            DispatchKind::MessageReactionAdd => "MESSAGE_REACTION_ADD",
        }
    }
}

impl fmt::Display for DispatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A gateway event the relay forwards, borrowed from the twilight event.
#[derive(Debug, Clone, Copy)]
pub enum Relayable<'a> {
    Message(&'a MessageCreate),
    MemberAdd(&'a MemberAdd),
    Reaction(&'a GatewayReaction),
}

impl<'a> Relayable<'a> {
    /// `None` for every event the relay does not forward.
    pub fn from_event(event: &'a Event) -> Option<Self> {
        match event {
            Event::MessageCreate(m) => Some(Relayable::Message(m)),
            Event::MemberAdd(m) => Some(Relayable::MemberAdd(m)),
            Event::ReactionAdd(r) => Some(Relayable::Reaction(&r.0)),
            _ => None,
        }
    }

    pub fn kind(&self) -> DispatchKind {
        match self {
            Relayable::Message(_) => DispatchKind::MessageCreate,
            Relayable::MemberAdd(_) => DispatchKind::GuildMemberAdd,
            Relayable::Reaction(_) => DispatchKind::MessageReactionAdd,
        }
    }

    pub fn guild_id(&self) -> Option<Id<GuildMarker>> {
        match self {
            Relayable::Message(m) => m.message.guild_id,
            Relayable::MemberAdd(m) => Some(m.guild_id),
            Relayable::Reaction(r) => r.guild_id,
        }
    }

    /// The channel the event happened in (none for a member join).
    pub fn channel_id(&self) -> Option<Id<ChannelMarker>> {
        match self {
            Relayable::Message(m) => Some(m.message.channel_id),
            Relayable::MemberAdd(_) => None,
            Relayable::Reaction(r) => Some(r.channel_id),
        }
    }

    /// Whether the acting user is a bot, when the payload says.
    fn actor_is_bot(&self) -> bool {
        match self {
            Relayable::Message(m) => m.message.author.bot,
            Relayable::MemberAdd(m) => m.member.user.bot,
            Relayable::Reaction(r) => r.member.as_ref().is_some_and(|m| m.user.bot),
        }
    }

    /// Delivery order is kept per key: the channel for messages and
    /// reactions, the guild for member joins.
    pub fn order_key(&self) -> u64 {
        match self {
            Relayable::Message(m) => m.message.channel_id.get(),
            Relayable::MemberAdd(m) => m.guild_id.get(),
            Relayable::Reaction(r) => r.channel_id.get(),
        }
    }
}

/// Why an event was deliberately not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// No guild: a direct message or a DM reaction.
    DirectMessage,
    /// Posted through a webhook (integrations, cross-posters).
    Webhook,
    /// A bot acted and `FORWARD_BOTS=false`.
    Bot,
    /// The guild is not in `DISCORD_GUILD_IDS`.
    GuildNotAllowed,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::DirectMessage => "direct_message",
            Skip::Webhook => "webhook",
            Skip::Bot => "bot",
            Skip::GuildNotAllowed => "guild_not_allowed",
        }
    }
}

/// Which events to forward.
#[derive(Debug, Clone)]
pub struct Filter {
    pub forward_bots: bool,
    /// `None` forwards every guild.
    pub guild_ids: Option<BTreeSet<Id<GuildMarker>>>,
}

impl Filter {
    pub fn check(&self, event: &Relayable<'_>) -> Result<(), Skip> {
        let Some(guild_id) = event.guild_id() else {
            return Err(Skip::DirectMessage);
        };
        if let Relayable::Message(m) = event
            && m.message.webhook_id.is_some()
        {
            return Err(Skip::Webhook);
        }
        if let Some(allowed) = &self.guild_ids
            && !allowed.contains(&guild_id)
        {
            return Err(Skip::GuildNotAllowed);
        }
        if !self.forward_bots && event.actor_is_bot() {
            return Err(Skip::Bot);
        }
        Ok(())
    }
}

/// What the relay knows about where an event happened, beyond the payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// Set when the event's channel is a thread: the thread's parent channel.
    pub thread_parent_id: Option<Id<ChannelMarker>>,
    pub channel_name: Option<String>,
    pub guild_name: Option<String>,
}

/// One envelope, serialized once so that every attempt sends the same bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: String,
    pub kind: DispatchKind,
    /// Deliveries with the same key are sent in order.
    pub order_key: u64,
    pub body: Vec<u8>,
}

/// Never prints the body: it holds message content and member details.
impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("order_key", &self.order_key)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("{kind} could not be serialized back to JSON: {detail}; the event is dropped")]
    Serialize { kind: DispatchKind, detail: String },
    #[error("{kind} has a timestamp outside the representable range; the event is dropped")]
    Timestamp { kind: DispatchKind },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RelayEnvelope<'a> {
    version: u8,
    id: &'a str,
    source: &'static str,
    #[serde(rename = "type")]
    kind: DispatchKind,
    occurred_at: String,
    data: Value,
}

/// Builds the envelope for one event. `now` is the reaction's `occurredAt`
/// (a reaction carries no time of its own) and the fallback when a member
/// join has no `joined_at`.
pub fn build(
    event: &Relayable<'_>,
    context: &Context,
    now: OffsetDateTime,
) -> Result<Delivery, EnvelopeError> {
    let kind = event.kind();
    let serialize_error = |e: serde_json::Error| EnvelopeError::Serialize {
        kind,
        detail: platforms::redacted_json_error(&e),
    };
    let (id, occurred_at, data) = match event {
        Relayable::Message(m) => (
            message_delivery_id(m.message.id),
            timestamp_to_datetime(m.message.timestamp).ok_or(EnvelopeError::Timestamp { kind })?,
            serde_json::to_value(m).map_err(serialize_error)?,
        ),
        Relayable::MemberAdd(m) => {
            let joined_at = match m.member.joined_at {
                Some(t) => timestamp_to_datetime(t).ok_or(EnvelopeError::Timestamp { kind })?,
                None => now,
            };
            // A join without `joined_at` (guest members) keys on 0 so that the
            // id stays deterministic across relay instances.
            let joined_secs = m.member.joined_at.map_or(0, Timestamp::as_secs);
            (
                member_delivery_id(m.guild_id, m.member.user.id, joined_secs),
                joined_at,
                serde_json::to_value(m).map_err(serialize_error)?,
            )
        }
        Relayable::Reaction(r) => (
            reaction_delivery_id(r.message_id, r.user_id, &r.emoji),
            now,
            serde_json::to_value(r).map_err(serialize_error)?,
        ),
    };
    let data = with_context(data, context, kind)?;
    let envelope = RelayEnvelope {
        version: ENVELOPE_VERSION,
        id: &id,
        source: SOURCE,
        kind,
        occurred_at: occurred_at
            .format(&Rfc3339)
            .map_err(|_| EnvelopeError::Timestamp { kind })?,
        data,
    };
    let body = serde_json::to_vec(&envelope).map_err(serialize_error)?;
    Ok(Delivery {
        id,
        kind,
        order_key: event.order_key(),
        body,
    })
}

fn with_context(
    data: Value,
    context: &Context,
    kind: DispatchKind,
) -> Result<Value, EnvelopeError> {
    let Value::Object(mut map) = data else {
        return Err(EnvelopeError::Serialize {
            kind,
            detail: "the model did not serialize to a JSON object".to_owned(),
        });
    };
    insert_context(&mut map, context);
    Ok(Value::Object(map))
}

fn insert_context(map: &mut Map<String, Value>, context: &Context) {
    if let Some(parent) = context.thread_parent_id {
        map.insert(
            "thread_parent_id".to_owned(),
            Value::String(parent.to_string()),
        );
    }
    if let Some(name) = &context.channel_name {
        map.insert(
            "channel_name".to_owned(),
            Value::String(truncate_chars(name)),
        );
    }
    if let Some(name) = &context.guild_name {
        map.insert("guild_name".to_owned(), Value::String(truncate_chars(name)));
    }
}

fn truncate_chars(name: &str) -> String {
    name.chars().take(MAX_NAME_CHARS).collect()
}

fn timestamp_to_datetime(t: Timestamp) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.as_micros()) * 1_000).ok()
}

/// `message-<message id>`.
pub fn message_delivery_id(message_id: Id<MessageMarker>) -> String {
    format!("message-{message_id}")
}

/// `member-<guild id>-<user id>-<joined_at unix seconds>`: a member who leaves
/// and joins again is a new event.
pub fn member_delivery_id(
    guild_id: Id<GuildMarker>,
    user_id: Id<UserMarker>,
    joined_at_unix_secs: i64,
) -> String {
    format!("member-{guild_id}-{user_id}-{joined_at_unix_secs}")
}

/// `reaction-<message id>-<user id>-<first 16 hex of sha256(emoji id or name)>`.
pub fn reaction_delivery_id(
    message_id: Id<MessageMarker>,
    user_id: Id<UserMarker>,
    emoji: &EmojiReactionType,
) -> String {
    let key = match emoji {
        EmojiReactionType::Custom { id, .. } => id.to_string(),
        EmojiReactionType::Unicode { name } => name.clone(),
    };
    let digest = Sha256::digest(key.as_bytes());
    let short = hex::encode(&digest[..8]);
    format!("reaction-{message_id}-{user_id}-{short}")
}
