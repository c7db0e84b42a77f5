//! `discord-gateway@1`: Gateway dispatches forwarded by the relay
//! (`tools/discord-relay`) → canonical drafts with platform `discord`, so a
//! member's messages and their slash commands resolve to one identity.
//!
//! MESSAGE_CREATE → message_posted, or reply_posted inside a thread or as a
//! reply; GUILD_MEMBER_ADD → member_joined; MESSAGE_REACTION_ADD →
//! reaction_added. System messages and webhook posts are dropped by rule.

use canonical_event::{Content, EventType, Platform, Source};
use serde::Deserialize;
use time::OffsetDateTime;

use super::adapter::{DROP_NO_ACTOR, Member, User};
use crate::draft::{self, Parts, body, name, nonblank, rfc3339};
use crate::envelope::Envelope;
use crate::{AdaptError, Adapted};

pub const ADAPTER_VERSION: &str = "discord-gateway@1";

pub const DROP_SYSTEM_MESSAGE: &str = "discord.system_message";
pub const DROP_WEBHOOK_MESSAGE: &str = "discord.webhook_message";
pub const DROP_DISPATCH_NOT_MAPPED: &str = "discord.dispatch_not_mapped";

#[derive(Deserialize)]
struct Message {
    id: String,
    channel_id: String,
    #[serde(default)]
    guild_id: Option<String>,
    #[serde(default)]
    author: Option<User>,
    #[serde(default)]
    member: Option<Member>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    /// 0 DEFAULT, 19 REPLY, 21 THREAD_STARTER_MESSAGE; others are system notices.
    #[serde(rename = "type", default)]
    kind: u8,
    #[serde(default)]
    webhook_id: Option<String>,
    #[serde(default)]
    message_reference: Option<MessageReference>,
    /// Added by the relay: the parent channel when `channel_id` is a thread.
    #[serde(default)]
    thread_parent_id: Option<String>,
    #[serde(default)]
    channel_name: Option<String>,
}

#[derive(Deserialize)]
struct MessageReference {
    #[serde(default)]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct MemberAdd {
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    guild_id: Option<String>,
    #[serde(default)]
    joined_at: Option<String>,
    #[serde(default)]
    nick: Option<String>,
    #[serde(default)]
    guild_name: Option<String>,
}

#[derive(Deserialize)]
struct ReactionAdd {
    #[serde(default)]
    user_id: Option<String>,
    channel_id: String,
    message_id: String,
    #[serde(default)]
    guild_id: Option<String>,
    #[serde(default)]
    member: Option<Member>,
    #[serde(default)]
    emoji: Option<Emoji>,
    #[serde(default)]
    message_author_id: Option<String>,
    #[serde(default)]
    channel_name: Option<String>,
}

#[derive(Deserialize)]
struct Emoji {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Maps one relayed dispatch (`kind` = MESSAGE_CREATE, …; `data` = its `d`).
pub fn adapt_dispatch(
    envelope: &Envelope<'_>,
    kind: &str,
    data: &str,
    occurred_at: Option<OffsetDateTime>,
) -> Result<Adapted, AdaptError> {
    let name = format!("gateway.{}", kind.to_ascii_lowercase());
    let parts = match kind {
        "MESSAGE_CREATE" => {
            let message: Message =
                serde_json::from_str(data).map_err(|e| draft::malformed(&name, &e))?;
            if !matches!(message.kind, 0 | 19 | 21) {
                return Ok(Adapted::Dropped {
                    rule: DROP_SYSTEM_MESSAGE,
                    name,
                });
            }
            if message.webhook_id.is_some() {
                return Ok(Adapted::Dropped {
                    rule: DROP_WEBHOOK_MESSAGE,
                    name,
                });
            }
            message_parts(message, occurred_at)
        }
        "GUILD_MEMBER_ADD" => {
            let member: MemberAdd =
                serde_json::from_str(data).map_err(|e| draft::malformed(&name, &e))?;
            member_parts(member, occurred_at)
        }
        "MESSAGE_REACTION_ADD" => {
            let reaction: ReactionAdd =
                serde_json::from_str(data).map_err(|e| draft::malformed(&name, &e))?;
            reaction_parts(reaction, occurred_at)
        }
        _ => {
            return Ok(Adapted::Dropped {
                rule: DROP_DISPATCH_NOT_MAPPED,
                name,
            });
        }
    };
    draft::one_or_dropped(
        Platform::Discord,
        envelope,
        name,
        ADAPTER_VERSION,
        parts,
        DROP_NO_ACTOR,
    )
}

fn message_parts(message: Message, occurred_at: Option<OffsetDateTime>) -> Option<Parts> {
    let mut actor = message.author.as_ref().and_then(User::actor)?;
    if actor.display_name.is_none() {
        actor.display_name = message
            .member
            .as_ref()
            .and_then(|m| name(m.nick.as_deref()));
    }
    let in_thread = message.thread_parent_id.is_some();
    let replied_to = message
        .message_reference
        .as_ref()
        .and_then(|r| r.message_id.clone())
        .filter(|_| message.kind == 19);
    let (channel, thread_id) = match (&message.thread_parent_id, &replied_to) {
        (Some(parent), _) => (parent.clone(), Some(message.channel_id.clone())),
        (None, Some(reply_to)) => (message.channel_id.clone(), Some(reply_to.clone())),
        (None, None) => (message.channel_id.clone(), None),
    };
    let url = message.guild_id.as_ref().map(|g| {
        format!(
            "https://discord.com/channels/{g}/{}/{}",
            message.channel_id, message.id
        )
    });
    Some(Parts {
        event_type: if in_thread || replied_to.is_some() {
            EventType::ReplyPosted
        } else {
            EventType::MessagePosted
        },
        actor,
        occurred_at: rfc3339(message.timestamp.as_deref()).or(occurred_at),
        source: Source {
            channel: message
                .channel_name
                .as_deref()
                .and_then(|n| name(Some(n)))
                .filter(|_| !in_thread)
                .or(Some(channel)),
            thread_id,
            url,
            repository: None,
        },
        content: Content {
            excerpt: body(message.content.as_deref()),
            labels: message
                .guild_id
                .as_ref()
                .map(|g| vec![format!("guild:{g}")])
                .unwrap_or_default(),
            ..Content::default()
        },
        first_time_contributor: false,
        natural_key: format!("message/{}", message.id),
    })
}

fn member_parts(member: MemberAdd, occurred_at: Option<OffsetDateTime>) -> Option<Parts> {
    let mut actor = member.user.as_ref().and_then(User::actor)?;
    if actor.display_name.is_none() {
        actor.display_name = name(member.nick.as_deref());
    }
    let guild = member.guild_id.clone().unwrap_or_default();
    let natural_key = format!(
        "member/{guild}/{}/{}",
        actor.platform_user_id,
        member.joined_at.as_deref().unwrap_or("")
    );
    Some(Parts {
        event_type: EventType::MemberJoined,
        actor,
        occurred_at: rfc3339(member.joined_at.as_deref()).or(occurred_at),
        source: Source {
            channel: name(member.guild_name.as_deref()),
            ..Source::default()
        },
        content: Content {
            labels: if guild.is_empty() {
                vec!["scope:guild".to_owned()]
            } else {
                vec!["scope:guild".to_owned(), format!("guild:{guild}")]
            },
            ..Content::default()
        },
        first_time_contributor: false,
        natural_key,
    })
}

fn reaction_parts(reaction: ReactionAdd, occurred_at: Option<OffsetDateTime>) -> Option<Parts> {
    let member_user = reaction.member.as_ref().and_then(|m| m.user.as_ref());
    let actor = member_user.and_then(User::actor).or_else(|| {
        let id = nonblank(reaction.user_id.as_deref())?;
        Some(canonical_event::Actor {
            platform_user_id: id.to_owned(),
            handle: id.to_owned(),
            display_name: None,
            is_bot: false,
        })
    })?;
    let emoji = reaction
        .emoji
        .as_ref()
        .and_then(|e| nonblank(e.name.as_deref()).or(nonblank(e.id.as_deref())))
        .unwrap_or("?")
        .to_owned();
    let emoji_key = reaction
        .emoji
        .as_ref()
        .and_then(|e| e.id.clone().or(e.name.clone()))
        .unwrap_or_default();
    let mut labels = Vec::new();
    if let Some(author) = &reaction.message_author_id {
        labels.push(format!("item_user:{author}"));
    }
    Some(Parts {
        event_type: EventType::ReactionAdded,
        natural_key: format!(
            "reaction/{}/{}/{emoji_key}",
            reaction.message_id, actor.platform_user_id
        ),
        actor,
        occurred_at,
        source: Source {
            channel: name(reaction.channel_name.as_deref()).or(Some(reaction.channel_id.clone())),
            thread_id: Some(reaction.message_id.clone()),
            url: reaction.guild_id.as_ref().map(|g| {
                format!(
                    "https://discord.com/channels/{g}/{}/{}",
                    reaction.channel_id, reaction.message_id
                )
            }),
            repository: None,
        },
        content: Content {
            title: Some(emoji),
            labels,
            ..Content::default()
        },
        first_time_contributor: false,
    })
}

/// Discord snowflakes carry their creation time (ms since 2015-01-01).
pub(crate) fn snowflake_time(id: &str) -> Option<OffsetDateTime> {
    const DISCORD_EPOCH_MS: i128 = 1_420_070_400_000;
    let value: u64 = id.parse().ok()?;
    let ms = i128::from(value >> 22) + DISCORD_EPOCH_MS;
    OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok()
}
