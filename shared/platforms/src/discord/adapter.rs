//! `discord@1`: signed Interactions and Webhook Events → canonical drafts.
//!
//! Mapped: application commands (slash, user and message context) and modal
//! submissions → command_invoked; Webhook Event APPLICATION_AUTHORIZED →
//! member_joined. Components and the other webhook events are dropped by
//! named rules.

use std::collections::BTreeMap;

use canonical_event::{Actor, Content, EventType, Platform, Source};
use serde::Deserialize;

use super::EVENT_INTERACTION;
use crate::draft::{self, Parts, body, name, nonblank, rfc3339};
use crate::envelope::Envelope;
use crate::{AdaptError, Adapted};

pub const ADAPTER_VERSION: &str = "discord@1";

pub const DROP_COMPONENT: &str = "discord.component_interaction";
pub const DROP_WEBHOOK_EVENT_NOT_MAPPED: &str = "discord.webhook_event_not_mapped";
pub const DROP_NO_ACTOR: &str = "discord.no_actor";
pub const DROP_INTERACTION_TYPE: &str = "discord.interaction_type_not_mapped";

/// A Discord user object (the fields we keep).
#[derive(Debug, Deserialize)]
pub(crate) struct User {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub global_name: Option<String>,
    #[serde(default)]
    pub bot: bool,
    #[serde(default)]
    pub system: bool,
}

impl User {
    pub(crate) fn actor(&self) -> Option<Actor> {
        let id = nonblank(self.id.as_deref())?;
        Some(Actor {
            platform_user_id: id.to_owned(),
            handle: nonblank(self.username.as_deref()).unwrap_or(id).to_owned(),
            display_name: name(self.global_name.as_deref()),
            is_bot: self.bot || self.system,
        })
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Member {
    #[serde(default)]
    pub user: Option<User>,
    #[serde(default)]
    pub nick: Option<String>,
}

#[derive(Deserialize)]
struct Interaction {
    #[serde(rename = "type")]
    kind: u8,
    id: String,
    #[serde(default)]
    guild_id: Option<String>,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    channel: Option<Channel>,
    #[serde(default)]
    member: Option<Member>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    data: Option<CommandData>,
}

#[derive(Deserialize)]
struct Channel {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct CommandData {
    #[serde(default)]
    name: Option<String>,
    /// 1 CHAT_INPUT, 2 USER, 3 MESSAGE.
    #[serde(rename = "type", default)]
    kind: Option<u8>,
    #[serde(default)]
    custom_id: Option<String>,
    #[serde(default)]
    options: Vec<CommandOption>,
    #[serde(default)]
    target_id: Option<String>,
    #[serde(default)]
    resolved: Option<Resolved>,
    /// Modal submissions: rows of text inputs.
    #[serde(default)]
    components: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct CommandOption {
    name: String,
    #[serde(default)]
    value: Option<serde_json::Value>,
    #[serde(default)]
    options: Vec<CommandOption>,
}

#[derive(Deserialize)]
struct Resolved {
    #[serde(default)]
    messages: BTreeMap<String, ResolvedMessage>,
    #[serde(default)]
    users: BTreeMap<String, User>,
}

#[derive(Deserialize)]
struct ResolvedMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    author: Option<User>,
}

#[derive(Deserialize)]
struct WebhookEvent {
    event: WebhookEventBody,
}

#[derive(Deserialize)]
struct WebhookEventBody {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    data: Option<AuthorizedData>,
}

#[derive(Deserialize)]
struct AuthorizedData {
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    guild: Option<Guild>,
}

#[derive(Deserialize)]
struct Guild {
    #[serde(default)]
    id: Option<String>,
}

pub fn adapt(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    if envelope.event_name == EVENT_INTERACTION {
        adapt_interaction(envelope)
    } else {
        adapt_webhook_event(envelope)
    }
}

fn adapt_interaction(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    let interaction: Interaction = serde_json::from_str(envelope.payload.get())
        .map_err(|e| draft::malformed(EVENT_INTERACTION, &e))?;
    let name = match interaction.kind {
        2 => "interaction.application_command",
        3 => "interaction.message_component",
        5 => "interaction.modal_submit",
        _ => "interaction.other",
    }
    .to_owned();
    match interaction.kind {
        2 | 5 => {}
        3 => {
            return Ok(Adapted::Dropped {
                rule: DROP_COMPONENT,
                name,
            });
        }
        _ => {
            return Ok(Adapted::Dropped {
                rule: DROP_INTERACTION_TYPE,
                name,
            });
        }
    }
    // In a guild the user is inside `member`; in DMs it is `user`.
    let user = interaction
        .member
        .as_ref()
        .and_then(|m| m.user.as_ref())
        .or(interaction.user.as_ref());
    let Some(actor) = user.and_then(User::actor) else {
        return Ok(Adapted::Dropped {
            rule: DROP_NO_ACTOR,
            name,
        });
    };
    let data = interaction.data.as_ref();
    let (title, text) = match (interaction.kind, data) {
        (5, Some(d)) => (
            d.custom_id.as_deref().map(|id| format!("modal {id}")),
            Some(modal_text(&d.components)),
        ),
        // A command's first text option is what the member typed as its
        // subject (`/report summary: …`), the best title a ticket can get.
        (_, Some(d)) => (
            first_text_option(&d.options).or(d.name.as_deref().map(|n| format!("/{n}"))),
            Some(command_text(d)),
        ),
        (_, None) => (None, None),
    };
    let url = match (&interaction.guild_id, &interaction.channel_id) {
        (Some(g), Some(c)) => Some(format!("https://discord.com/channels/{g}/{c}")),
        _ => None,
    };
    let parts = Parts {
        event_type: EventType::CommandInvoked,
        actor,
        // Interaction ids are snowflakes: the creation time is in the id.
        occurred_at: super::gateway::snowflake_time(&interaction.id),
        source: Source {
            channel: interaction
                .channel
                .as_ref()
                .and_then(|c| draft::name(c.name.as_deref()))
                .or(interaction.channel_id.clone()),
            thread_id: None,
            url,
            repository: None,
        },
        content: Content {
            title: draft::title(title.as_deref()),
            excerpt: body(text.as_deref()),
            labels: data
                .and_then(|d| d.name.as_deref())
                .map(|n| format!("command:{n}"))
                .into_iter()
                .chain(interaction.guild_id.as_ref().map(|g| format!("guild:{g}")))
                .collect(),
        },
        first_time_contributor: false,
        natural_key: format!("interaction/{}", interaction.id),
    };
    Ok(Adapted::Events(vec![draft::build(
        Platform::Discord,
        envelope,
        &name,
        ADAPTER_VERSION,
        parts,
    )?]))
}

/// What the member said through the command: option values, or the target
/// message's text for a message context command.
fn command_text(data: &CommandData) -> String {
    let mut out = Vec::new();
    if let (Some(target), Some(resolved)) = (&data.target_id, &data.resolved) {
        match data.kind {
            Some(3) => {
                if let Some(message) = resolved.messages.get(target) {
                    if let Some(content) = &message.content {
                        out.push(content.clone());
                    }
                    if let Some(author) = message.author.as_ref().and_then(|a| a.username.clone()) {
                        out.push(format!("(message by {author})"));
                    }
                }
            }
            Some(2) => {
                if let Some(user) = resolved.users.get(target).and_then(|u| u.username.clone()) {
                    out.push(format!("about {user}"));
                }
            }
            _ => {}
        }
    }
    flatten_options(&data.options, &mut out);
    out.join("\n")
}

fn first_text_option(options: &[CommandOption]) -> Option<String> {
    options.iter().find_map(|o| match &o.value {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        None => first_text_option(&o.options),
        _ => None,
    })
}

fn flatten_options(options: &[CommandOption], out: &mut Vec<String>) {
    for option in options {
        match &option.value {
            Some(serde_json::Value::String(s)) => out.push(format!("{}: {s}", option.name)),
            Some(other) => out.push(format!("{}: {other}", option.name)),
            // A subcommand: its name, then its own options.
            None => {
                out.push(option.name.clone());
                flatten_options(&option.options, out);
            }
        }
    }
}

/// Text inputs of a modal (`components[].components[].value`).
fn modal_text(rows: &[serde_json::Value]) -> String {
    rows.iter()
        .filter_map(|row| row.get("components").and_then(|c| c.as_array()))
        .flatten()
        .filter_map(|input| {
            let id = input.get("custom_id")?.as_str()?;
            let value = input.get("value")?.as_str()?;
            Some(format!("{id}: {value}"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn adapt_webhook_event(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    let name = format!("webhook_event.{}", envelope.event_name);
    let event: WebhookEvent =
        serde_json::from_str(envelope.payload.get()).map_err(|e| draft::malformed(&name, &e))?;
    if event.event.kind != "APPLICATION_AUTHORIZED" {
        return Ok(Adapted::Dropped {
            rule: DROP_WEBHOOK_EVENT_NOT_MAPPED,
            name,
        });
    }
    let data = event.event.data.as_ref();
    let Some(actor) = data.and_then(|d| d.user.as_ref()).and_then(User::actor) else {
        return Ok(Adapted::Dropped {
            rule: DROP_NO_ACTOR,
            name,
        });
    };
    let guild = data
        .and_then(|d| d.guild.as_ref())
        .and_then(|g| g.id.clone());
    let occurred_at = event.event.timestamp.as_deref().and_then(|t| {
        // Discord's webhook timestamps omit the offset; they are UTC.
        rfc3339(Some(t)).or_else(|| rfc3339(Some(&format!("{t}Z"))))
    });
    let natural_key = format!(
        "authorized/{}/{}/{}",
        actor.platform_user_id,
        guild.as_deref().unwrap_or(""),
        event.event.timestamp.as_deref().unwrap_or(""),
    );
    let parts = Parts {
        event_type: EventType::MemberJoined,
        actor,
        occurred_at,
        source: Source::default(),
        content: Content {
            labels: vec!["scope:application".to_owned()],
            ..Content::default()
        },
        first_time_contributor: false,
        natural_key,
    };
    Ok(Adapted::Events(vec![draft::build(
        Platform::Discord,
        envelope,
        &name,
        ADAPTER_VERSION,
        parts,
    )?]))
}
