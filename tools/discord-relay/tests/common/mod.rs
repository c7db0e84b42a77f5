//! Small hand-written gateway payloads, shaped like Discord's documented
//! objects, parsed by twilight exactly as the shard parses them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use discord_relay::gateway::WANTED_EVENTS;
use serde_json::{Value, json};
use twilight_model::gateway::event::Event;

pub const GUILD: u64 = 1_100_000_000_000_000_003;
pub const OTHER_GUILD: u64 = 1_100_000_000_000_000_099;
pub const CHANNEL: u64 = 1_200_000_000_000_000_002;
pub const THREAD: u64 = 1_200_000_000_000_000_777;
pub const LATE_THREAD: u64 = 1_200_000_000_000_000_888;
pub const MESSAGE: u64 = 1_300_000_000_000_000_001;
pub const USER: u64 = 1_000_000_000_000_000_004;
pub const CONTENT: &str = "hello from the release thread";
pub const EMAIL: &str = "ada@example.com";

/// Parses one gateway dispatch as the shard does (`twilight_gateway::parse`
/// with the relay's wanted events).
pub fn dispatch(kind: &str, d: Value) -> Event {
    let payload = json!({ "op": 0, "s": 42, "t": kind, "d": d }).to_string();
    let parsed = twilight_gateway::parse(payload, WANTED_EVENTS)
        .unwrap_or_else(|e| panic!("{kind} fixture does not parse: {e:?}"))
        .unwrap_or_else(|| panic!("{kind} is not among WANTED_EVENTS"));
    Event::from(parsed)
}

pub fn user(id: u64, bot: bool) -> Value {
    json!({
        "id": id.to_string(),
        "username": "ada",
        "discriminator": "0",
        "global_name": "Ada",
        "avatar": null,
        "bot": bot,
        "email": EMAIL
    })
}

/// A guild text message by a person, in `channel_id`.
pub fn message(channel_id: u64) -> Value {
    json!({
        "id": MESSAGE.to_string(),
        "channel_id": channel_id.to_string(),
        "guild_id": GUILD.to_string(),
        "author": user(USER, false),
        "member": {
            "roles": [],
            "joined_at": "2024-01-02T03:04:05.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
            "nick": null
        },
        "content": CONTENT,
        "timestamp": "2025-03-04T05:06:07.089000+00:00",
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": false,
        "type": 0
    })
}

pub fn member_add(guild_id: u64, joined_at: Option<&str>) -> Value {
    json!({
        "guild_id": guild_id.to_string(),
        "user": user(USER, false),
        "nick": null,
        "avatar": null,
        "roles": [],
        "joined_at": joined_at,
        "deaf": false,
        "mute": false,
        "flags": 0,
        "pending": false
    })
}

pub fn reaction(emoji: Value) -> Value {
    json!({
        "user_id": USER.to_string(),
        "channel_id": CHANNEL.to_string(),
        "message_id": MESSAGE.to_string(),
        "guild_id": GUILD.to_string(),
        "member": {
            "user": user(USER, false),
            "roles": [],
            "joined_at": "2024-01-02T03:04:05.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
            "nick": null
        },
        "emoji": emoji,
        "burst": false,
        "type": 0
    })
}

pub fn text_channel(id: u64, name: &str) -> Value {
    json!({ "id": id.to_string(), "type": 0, "guild_id": GUILD.to_string(), "name": name, "position": 1 })
}

pub fn thread(id: u64, parent: u64, name: &str) -> Value {
    json!({
        "id": id.to_string(),
        "type": 11,
        "guild_id": GUILD.to_string(),
        "parent_id": parent.to_string(),
        "owner_id": USER.to_string(),
        "name": name,
        "thread_metadata": {
            "archived": false,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2025-03-01T00:00:00.000000+00:00",
            "locked": false
        }
    })
}

/// GUILD_CREATE with one text channel and one active thread in it.
pub fn guild_create() -> Value {
    json!({
        "id": GUILD.to_string(),
        "name": "Rust Builders",
        "icon": null,
        "splash": null,
        "discovery_splash": null,
        "banner": null,
        "description": null,
        "owner_id": USER.to_string(),
        "afk_channel_id": null,
        "afk_timeout": 300,
        "application_id": null,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_progress_bar_enabled": false,
        "preferred_locale": "en-US",
        "public_updates_channel_id": null,
        "rules_channel_id": null,
        "system_channel_id": null,
        "system_channel_flags": 0,
        "vanity_url_code": null,
        "features": [],
        "roles": [],
        "emojis": [],
        "stickers": [],
        "large": false,
        "member_count": 2,
        "members": [],
        "channels": [text_channel(CHANNEL, "general")],
        "threads": [thread(THREAD, CHANNEL, "release-planning")],
        "joined_at": "2024-01-01T00:00:00.000000+00:00"
    })
}
