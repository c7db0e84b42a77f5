//! `slack@1`: Slack Events API `event_callback` payloads → canonical drafts.
//!
//! Mapped: `message` (top-level → message_posted, thread replies →
//! reply_posted, `message_changed` → message_edited, `message_deleted` →
//! message_deleted, bot messages marked as bots), `app_mention` (the same
//! message as its `message` event: one event id for both), `reaction_added`,
//! `member_joined_channel`, `team_join`. Everything else is dropped by a
//! named rule.

use canonical_event::{Actor, Content, EventType, Platform, Source};
use serde::Deserialize;

use crate::draft::{self, Parts, body, name, nonblank, unix_seconds};
use crate::envelope::Envelope;
use crate::{AdaptError, Adapted};

pub const ADAPTER_VERSION: &str = "slack@1";

pub const DROP_EVENT_NOT_MAPPED: &str = "slack.event_not_mapped";
pub const DROP_SUBTYPE_NOT_MAPPED: &str = "slack.message_subtype_not_mapped";
/// Slack sends some events without a user (system notices, blanked samples);
/// with nobody to attribute them to they carry no community signal.
pub const DROP_NO_ACTOR: &str = "slack.no_actor";
/// Button clicks, shortcuts and modal submissions: acknowledged at the edge,
/// not community activity in themselves.
pub const DROP_INTERACTIVITY: &str = "slack.interactivity_not_mapped";
/// `message_changed` without `edited`: Slack updating a message itself
/// (link unfurls, attachments, thread metadata), not its author editing it.
pub const DROP_NOT_AN_EDIT: &str = "slack.message_changed_not_an_edit";

/// A slash command as ingest keeps it (the form fields, minus secrets).
#[derive(Deserialize)]
struct SlashCommand {
    command: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_name: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    channel_name: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    trigger_id: String,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    team_id: Option<String>,
    event: Event,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subtype: Option<String>,
    /// A user id for messages; a user object for `team_join`.
    #[serde(default)]
    user: Option<serde_json::Value>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    bot_profile: Option<BotProfile>,
    #[serde(default)]
    user_profile: Option<Profile>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    channel: Option<serde_json::Value>,
    #[serde(default)]
    channel_type: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    event_ts: Option<String>,
    #[serde(default)]
    deleted_ts: Option<String>,
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    previous_message: Option<Message>,
    #[serde(default)]
    reaction: Option<String>,
    #[serde(default)]
    item: Option<Item>,
    #[serde(default)]
    item_user: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    thread_ts: Option<String>,
    #[serde(default)]
    edited: Option<Edited>,
}

#[derive(Deserialize)]
struct Edited {
    #[serde(default)]
    ts: Option<String>,
}

#[derive(Deserialize)]
struct BotProfile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Profile {
    /// Present with the `users:read.email` scope; Slack confirms it at sign-up.
    #[serde(default)]
    email: Option<String>,
    /// Custom profile fields: `{ "Xf01": { "value": "github.com/ada", "alt": "" } }`.
    #[serde(default)]
    fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    real_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// `team_join`'s user object.
#[derive(Deserialize)]
struct UserObject {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    real_name: Option<String>,
    #[serde(default)]
    is_bot: bool,
    #[serde(default)]
    profile: Option<Profile>,
}

pub fn adapt(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    match envelope.hook_id.as_deref() {
        Some(super::HOOK_SLASH_COMMANDS) => return adapt_slash_command(envelope),
        Some(super::HOOK_INTERACTIVITY) => {
            return Ok(Adapted::Dropped {
                rule: DROP_INTERACTIVITY,
                name: envelope.event_name.to_string(),
            });
        }
        _ => {}
    }
    let payload: Payload = serde_json::from_str(envelope.payload.get())
        .map_err(|e| draft::malformed(&envelope.event_name, &e))?;
    let event = payload.event;
    let team = payload.team_id.unwrap_or_default();
    let subtype = event.subtype.as_deref().filter(|s| !s.is_empty());
    let name = match subtype {
        Some(sub) => format!("{}.{sub}", event.kind),
        None => event.kind.clone(),
    };
    let ctx = Ctx { team: &team };
    let parts = match (event.kind.as_str(), subtype) {
        (
            "message" | "app_mention",
            None | Some("thread_broadcast" | "file_share" | "me_message"),
        )
        | ("message" | "app_mention", Some("bot_message")) => ctx.message(&event),
        ("message", Some("message_changed")) => {
            if event
                .message
                .as_ref()
                .and_then(|m| m.edited.as_ref())
                .is_none()
            {
                return Ok(Adapted::Dropped {
                    rule: DROP_NOT_AN_EDIT,
                    name,
                });
            }
            ctx.edited(&event)
        }
        ("message", Some("message_deleted")) => ctx.deleted(&event),
        ("message" | "app_mention", Some(_)) => {
            return Ok(Adapted::Dropped {
                rule: DROP_SUBTYPE_NOT_MAPPED,
                name,
            });
        }
        ("reaction_added", _) => ctx.reaction(&event),
        ("member_joined_channel", _) => ctx.channel_join(&event),
        ("team_join", _) => ctx.team_join(&event),
        _ => {
            return Ok(Adapted::Dropped {
                rule: DROP_EVENT_NOT_MAPPED,
                name,
            });
        }
    };
    let mut adapted = draft::one_or_dropped(
        Platform::Slack,
        envelope,
        name,
        ADAPTER_VERSION,
        parts,
        DROP_NO_ACTOR,
    )?;
    if event.kind == "team_join"
        && let Adapted::Events(drafts) = &mut adapted
    {
        let hints = team_join_hints(&event);
        for draft in drafts {
            draft.identity_hints = hints.clone();
        }
    }
    Ok(adapted)
}

/// The profile facts of a joining member that can link them to other
/// platforms: the email Slack holds for them and their custom fields' values.
fn team_join_hints(event: &Event) -> canonical_event::IdentityHints {
    let profile = event
        .user
        .clone()
        .and_then(|user| serde_json::from_value::<UserObject>(user).ok())
        .and_then(|user| user.profile);
    let Some(profile) = profile else {
        return canonical_event::IdentityHints::default();
    };
    let profile_fields = profile
        .fields
        .iter()
        .flat_map(|fields| fields.values())
        .filter_map(|field| field.get("value").and_then(|v| v.as_str()))
        .filter(|value| !value.trim().is_empty())
        .map(str::to_owned)
        .collect();
    canonical_event::IdentityHints {
        verified_emails: profile
            .email
            .into_iter()
            .filter(|e| !e.trim().is_empty())
            .collect(),
        profile_fields,
    }
}

fn adapt_slash_command(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    let name = super::EVENT_SLASH_COMMAND;
    let command: SlashCommand =
        serde_json::from_str(envelope.payload.get()).map_err(|e| draft::malformed(name, &e))?;
    let parts = nonblank(command.user_id.as_deref()).map(|user_id| {
        let team = command.team_id.as_deref().unwrap_or("");
        Parts {
            event_type: EventType::CommandInvoked,
            actor: Actor {
                platform_user_id: user_id.to_owned(),
                handle: nonblank(command.user_name.as_deref())
                    .unwrap_or(user_id)
                    .to_owned(),
                display_name: None,
                is_bot: false,
            },
            occurred_at: None,
            source: Source {
                channel: nonblank(command.channel_id.as_deref()).map(str::to_owned),
                ..Source::default()
            },
            content: Content {
                title: draft::title(command.text.as_deref()).or(Some(command.command.clone())),
                excerpt: body(command.text.as_deref()),
                labels: std::iter::once(format!(
                    "command:{}",
                    command.command.trim_start_matches('/')
                ))
                .chain(
                    nonblank(command.channel_name.as_deref()).map(|c| format!("channel_name:{c}")),
                )
                .collect(),
            },
            first_time_contributor: false,
            natural_key: format!("{team}/command/{}", command.trigger_id),
        }
    });
    draft::one_or_dropped(
        Platform::Slack,
        envelope,
        name.to_owned(),
        ADAPTER_VERSION,
        parts,
        DROP_NO_ACTOR,
    )
}

struct Ctx<'e> {
    team: &'e str,
}

impl Ctx<'_> {
    /// A posted message (or the app mention of one). `None` without an author.
    fn message(&self, event: &Event) -> Option<Parts> {
        let channel = channel_id(event.channel.as_ref())?;
        let ts = nonblank(event.ts.as_deref())?;
        let is_bot = event.bot_id.as_deref().is_some_and(|b| !b.is_empty())
            || event.subtype.as_deref() == Some("bot_message");
        let user_id = nonblank(user_id(event.user.as_ref())).or(if is_bot {
            nonblank(event.bot_id.as_deref())
        } else {
            None
        })?;
        let handle = nonblank(event.username.as_deref())
            .or(event
                .user_profile
                .as_ref()
                .and_then(|p| nonblank(p.name.as_deref())))
            .or(event
                .bot_profile
                .as_ref()
                .and_then(|p| nonblank(p.name.as_deref())))
            .unwrap_or(user_id);
        let thread = nonblank(event.thread_ts.as_deref()).filter(|t| *t != ts);
        Some(Parts {
            event_type: if thread.is_some() {
                EventType::ReplyPosted
            } else {
                EventType::MessagePosted
            },
            actor: Actor {
                platform_user_id: user_id.to_owned(),
                handle: handle.to_owned(),
                display_name: event
                    .user_profile
                    .as_ref()
                    .and_then(|p| name(p.display_name.as_deref()).or(name(p.real_name.as_deref()))),
                is_bot,
            },
            occurred_at: unix_seconds(ts),
            source: self.source(channel, thread.or(Some(ts)), Some(ts)),
            content: Content {
                excerpt: body(event.text.as_deref()),
                // "im" / "mpim": said to the app directly rather than in a channel.
                labels: event
                    .channel_type
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .map(|t| vec![format!("channel_type:{t}")])
                    .unwrap_or_default(),
                ..Content::default()
            },
            first_time_contributor: false,
            // The message itself, so `message` and `app_mention` deliveries of it are one event.
            natural_key: format!("{}/{channel}/{ts}", self.team),
        })
    }

    fn edited(&self, event: &Event) -> Option<Parts> {
        let channel = channel_id(event.channel.as_ref())?;
        let message = event.message.as_ref()?;
        let ts = nonblank(message.ts.as_deref())?;
        let user_id = nonblank(message.user.as_deref()).or(nonblank(message.bot_id.as_deref()))?;
        let edited_at = message
            .edited
            .as_ref()
            .and_then(|e| nonblank(e.ts.as_deref()))?;
        let thread = nonblank(message.thread_ts.as_deref()).filter(|t| *t != ts);
        Some(Parts {
            event_type: EventType::MessageEdited,
            actor: Actor {
                platform_user_id: user_id.to_owned(),
                handle: nonblank(message.username.as_deref())
                    .unwrap_or(user_id)
                    .to_owned(),
                display_name: None,
                is_bot: message.bot_id.is_some(),
            },
            occurred_at: unix_seconds(edited_at),
            source: self.source(channel, thread.or(Some(ts)), Some(ts)),
            content: Content {
                excerpt: body(message.text.as_deref()),
                ..Content::default()
            },
            first_time_contributor: false,
            natural_key: format!("{}/{channel}/{ts}/edited/{edited_at}", self.team),
        })
    }

    fn deleted(&self, event: &Event) -> Option<Parts> {
        let channel = channel_id(event.channel.as_ref())?;
        let previous = event.previous_message.as_ref()?;
        let ts = nonblank(event.deleted_ts.as_deref()).or(nonblank(previous.ts.as_deref()))?;
        // Slack does not say who deleted it; the event is about the author's message.
        let user_id =
            nonblank(previous.user.as_deref()).or(nonblank(previous.bot_id.as_deref()))?;
        let thread = nonblank(previous.thread_ts.as_deref()).filter(|t| *t != ts);
        Some(Parts {
            event_type: EventType::MessageDeleted,
            actor: Actor {
                platform_user_id: user_id.to_owned(),
                handle: user_id.to_owned(),
                display_name: None,
                is_bot: previous.bot_id.is_some(),
            },
            occurred_at: nonblank(event.event_ts.as_deref()).and_then(unix_seconds),
            source: self.source(channel, thread.or(Some(ts)), None),
            // The deleted text is deliberately not kept.
            content: Content::default(),
            first_time_contributor: false,
            natural_key: format!("{}/{channel}/{ts}/deleted", self.team),
        })
    }

    fn reaction(&self, event: &Event) -> Option<Parts> {
        let user_id = nonblank(user_id(event.user.as_ref()))?;
        let reaction = nonblank(event.reaction.as_deref())?;
        let item = event.item.as_ref();
        let channel = item.and_then(|i| nonblank(i.channel.as_deref()));
        let item_ts = item.and_then(|i| nonblank(i.ts.as_deref()));
        let event_ts = nonblank(event.event_ts.as_deref());
        Some(Parts {
            event_type: EventType::ReactionAdded,
            actor: Actor {
                platform_user_id: user_id.to_owned(),
                handle: user_id.to_owned(),
                display_name: None,
                is_bot: false,
            },
            occurred_at: event_ts.and_then(unix_seconds),
            source: Source {
                channel: channel.map(str::to_owned),
                thread_id: item_ts.map(str::to_owned),
                url: channel.zip(item_ts).map(|(c, t)| archive_url(c, t)),
                ..Source::default()
            },
            content: Content {
                title: Some(format!(":{reaction}:")),
                labels: event
                    .item_user
                    .as_deref()
                    .filter(|u| !u.is_empty())
                    .map(|u| vec![format!("item_user:{u}")])
                    .unwrap_or_default(),
                ..Content::default()
            },
            first_time_contributor: false,
            // One member's reaction on one item is one event however often
            // it is toggled (as on Discord and Discourse).
            natural_key: format!(
                "{}/reaction/{user_id}/{reaction}/{}/{}",
                self.team,
                channel.unwrap_or(""),
                item_ts.unwrap_or(""),
            ),
        })
    }

    fn channel_join(&self, event: &Event) -> Option<Parts> {
        let user_id = nonblank(user_id(event.user.as_ref()))?;
        let channel = channel_id(event.channel.as_ref())?;
        let event_ts = nonblank(event.event_ts.as_deref());
        Some(Parts {
            event_type: EventType::MemberJoined,
            actor: Actor {
                platform_user_id: user_id.to_owned(),
                handle: user_id.to_owned(),
                display_name: None,
                is_bot: false,
            },
            occurred_at: event_ts.and_then(unix_seconds),
            source: Source {
                channel: Some(channel.to_owned()),
                ..Source::default()
            },
            content: Content {
                labels: vec!["scope:channel".to_owned()],
                ..Content::default()
            },
            first_time_contributor: false,
            natural_key: format!(
                "{}/join/{channel}/{user_id}/{}",
                self.team,
                event_ts.unwrap_or("")
            ),
        })
    }

    fn team_join(&self, event: &Event) -> Option<Parts> {
        let user: UserObject = serde_json::from_value(event.user.clone()?).ok()?;
        let user_id = nonblank(user.id.as_deref())?.to_owned();
        let profile = user.profile.as_ref();
        Some(Parts {
            event_type: EventType::MemberJoined,
            actor: Actor {
                handle: nonblank(user.name.as_deref())
                    .unwrap_or(&user_id)
                    .to_owned(),
                display_name: profile
                    .and_then(|p| name(p.display_name.as_deref()))
                    .or(name(user.real_name.as_deref())),
                platform_user_id: user_id.clone(),
                is_bot: user.is_bot,
            },
            occurred_at: nonblank(event.event_ts.as_deref()).and_then(unix_seconds),
            source: Source::default(),
            content: Content {
                labels: vec!["scope:workspace".to_owned()],
                ..Content::default()
            },
            first_time_contributor: false,
            natural_key: format!("{}/team_join/{user_id}", self.team),
        })
    }

    fn source(&self, channel: &str, thread: Option<&str>, ts: Option<&str>) -> Source {
        Source {
            channel: Some(channel.to_owned()),
            thread_id: thread.map(str::to_owned),
            url: ts.map(|t| archive_url(channel, t)),
            repository: None,
        }
    }
}

fn user_id(user: Option<&serde_json::Value>) -> Option<&str> {
    match user? {
        serde_json::Value::String(s) => Some(s.as_str()),
        serde_json::Value::Object(o) => o.get("id").and_then(|v| v.as_str()),
        _ => None,
    }
}

fn channel_id(channel: Option<&serde_json::Value>) -> Option<&str> {
    nonblank(match channel? {
        serde_json::Value::String(s) => Some(s.as_str()),
        serde_json::Value::Object(o) => o.get("id").and_then(|v| v.as_str()),
        _ => None,
    })
}

/// Slack's workspace-independent message link (it redirects to the workspace).
fn archive_url(channel: &str, ts: &str) -> String {
    format!(
        "https://slack.com/archives/{channel}/p{}",
        ts.replace('.', "")
    )
}
