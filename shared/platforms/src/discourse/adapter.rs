//! `discourse@1`: Discourse webhook bodies → canonical drafts.
//!
//! Mapped: topic_created → discussion_opened; post_created → the first post
//! of a topic is the same discussion_opened (one event id for both, whichever
//! arrives first), later posts → reply_posted; post_edited → message_edited;
//! post_liked → reaction_added (by the liker); accepted_solution →
//! discussion_answered (credited to the solution's author); user_created →
//! member_joined. Everything else is dropped by a named rule.

use canonical_event::{Actor, Content, EventType, Platform, Source};
use serde::Deserialize;

use crate::draft::{self, Parts, body, name, nonblank, rfc3339};
use crate::envelope::Envelope;
use crate::{AdaptError, Adapted};

pub const ADAPTER_VERSION: &str = "discourse@1";

pub const DROP_EVENT_NOT_MAPPED: &str = "discourse.event_not_mapped";
pub const DROP_NO_ACTOR: &str = "discourse.no_actor";
/// Discourse's own accounts (system, discobot) have ids ≤ 0; their posts are
/// housekeeping, not community activity.
pub const DROP_SYSTEM_USER: &str = "discourse.system_user";
/// Private messages are between their participants, not community activity:
/// neither they nor their text are stored.
pub const DROP_PRIVATE_MESSAGE: &str = "discourse.private_message";
/// Whispers (staff-only), small actions ("closed this topic") and moderator
/// actions are post types other than a regular post.
pub const DROP_NOT_A_REGULAR_POST: &str = "discourse.not_a_regular_post";
/// `post_edited` for a post never changed since it was created.
pub const DROP_NOT_AN_EDIT: &str = "discourse.edit_without_change";

#[derive(Deserialize, Default)]
struct Body {
    #[serde(default)]
    post: Option<Post>,
    #[serde(default)]
    solved: Option<Post>,
    #[serde(default)]
    topic: Option<Topic>,
    #[serde(default)]
    user: Option<User>,
    #[serde(default)]
    like: Option<Like>,
}

#[derive(Deserialize)]
struct Post {
    id: i64,
    #[serde(default)]
    user_id: Option<i64>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    post_number: Option<u32>,
    #[serde(default)]
    topic_id: Option<i64>,
    #[serde(default)]
    topic_slug: Option<String>,
    #[serde(default)]
    topic_title: Option<String>,
    #[serde(default)]
    category_slug: Option<String>,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    cooked: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    trust_level: Option<u8>,
    /// 1 regular, 2 moderator action, 3 small action, 4 whisper.
    #[serde(default)]
    post_type: Option<u8>,
    #[serde(default)]
    topic_archetype: Option<String>,
}

#[derive(Deserialize)]
struct Topic {
    id: i64,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    slug: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    user_id: Option<i64>,
    #[serde(default)]
    created_by: Option<User>,
    #[serde(default)]
    details: Option<TopicDetails>,
    #[serde(default)]
    tags: Vec<serde_json::Value>,
    #[serde(default)]
    category_slug: Option<String>,
    #[serde(default)]
    archetype: Option<String>,
}

#[derive(Deserialize)]
struct TopicDetails {
    #[serde(default)]
    created_by: Option<User>,
}

#[derive(Deserialize, Clone)]
struct User {
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

#[derive(Deserialize)]
struct Like {
    post: Post,
    user: User,
}

pub fn adapt(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    let event = envelope.event_name.as_ref();
    let name = event.to_owned();
    let parsed: Body =
        serde_json::from_str(envelope.payload.get()).map_err(|e| draft::malformed(event, &e))?;
    let forum = envelope.origin.as_deref().map(|o| o.trim_end_matches('/'));
    let missing = |field: &'static str| AdaptError::MissingField {
        event: name.clone(),
        field,
    };
    let parts = match event {
        "topic_created" => {
            let topic = parsed.topic.ok_or_else(|| missing("topic"))?;
            if topic.archetype.as_deref() == Some("private_message") {
                return dropped(DROP_PRIVATE_MESSAGE, name);
            }
            let author = topic
                .created_by
                .clone()
                .or(topic.details.and_then(|d| d.created_by))
                .or(topic.user_id.map(|id| User {
                    id: Some(id),
                    username: None,
                    name: None,
                    created_at: None,
                }));
            let Some(author) = author else {
                return dropped(DROP_NO_ACTOR, name);
            };
            actor_of(&author).map(|actor| Parts {
                event_type: EventType::DiscussionOpened,
                actor,
                occurred_at: rfc3339(topic.created_at.as_deref()),
                source: Source {
                    channel: topic.category_slug.clone(),
                    thread_id: Some(topic.id.to_string()),
                    url: forum.map(|f| topic_url(f, topic.slug.as_deref(), topic.id, None)),
                    repository: None,
                },
                content: Content {
                    title: draft::title(topic.title.as_deref()),
                    excerpt: None,
                    labels: tags(&topic.tags),
                },
                first_time_contributor: false,
                natural_key: format!("topic/{}/opened", topic.id),
            })
        }
        "post_created" | "post_edited" | "accepted_solution" => {
            // The root key is checked against the event at the edge; each
            // event reads only its own.
            let post = if event == "accepted_solution" {
                parsed.solved.ok_or_else(|| missing("solved"))?
            } else {
                parsed.post.ok_or_else(|| missing("post"))?
            };
            if post.topic_archetype.as_deref() == Some("private_message") {
                return dropped(DROP_PRIVATE_MESSAGE, name);
            }
            if post.post_type.is_some_and(|t| t != 1) {
                return dropped(DROP_NOT_A_REGULAR_POST, name);
            }
            // A real edit is later than the post; a post_created body replayed
            // under a post_edited header is not an edit.
            if event == "post_edited"
                && post.updated_at.is_some()
                && post.updated_at == post.created_at
            {
                return dropped(DROP_NOT_AN_EDIT, name);
            }
            let topic_id = post.topic_id.ok_or_else(|| missing("post.topic_id"))?;
            let first = post.post_number == Some(1);
            let (event_type, natural_key, when) = match event {
                "post_created" if first => (
                    EventType::DiscussionOpened,
                    format!("topic/{topic_id}/opened"),
                    post.created_at.as_deref(),
                ),
                "post_created" => (
                    EventType::ReplyPosted,
                    format!("post/{}", post.id),
                    post.created_at.as_deref(),
                ),
                "post_edited" => (
                    EventType::MessageEdited,
                    format!(
                        "post/{}/edited/{}",
                        post.id,
                        post.updated_at.as_deref().unwrap_or("")
                    ),
                    post.updated_at.as_deref(),
                ),
                _ => (
                    EventType::DiscussionAnswered,
                    format!("topic/{topic_id}/solved/{}", post.id),
                    post.updated_at.as_deref(),
                ),
            };
            post_actor(&post).map(|actor| Parts {
                event_type,
                actor,
                occurred_at: rfc3339(when),
                source: post_source(&post, topic_id, forum),
                content: Content {
                    title: draft::title(post.topic_title.as_deref()),
                    excerpt: post_text(&post),
                    labels: trust_label(post.trust_level),
                },
                first_time_contributor: false,
                natural_key,
            })
        }
        "post_liked" => {
            let like = parsed.like.ok_or_else(|| missing("like"))?;
            if like.post.topic_archetype.as_deref() == Some("private_message") {
                return dropped(DROP_PRIVATE_MESSAGE, name);
            }
            let topic_id = like.post.topic_id.unwrap_or_default();
            actor_of(&like.user).map(|actor| Parts {
                event_type: EventType::ReactionAdded,
                natural_key: format!("like/{}/{}", like.post.id, actor.platform_user_id),
                actor,
                occurred_at: None,
                source: post_source(&like.post, topic_id, forum),
                content: Content {
                    title: Some(":heart:".to_owned()),
                    labels: like
                        .post
                        .user_id
                        .map(|u| vec![format!("item_user:{u}")])
                        .unwrap_or_default(),
                    ..Content::default()
                },
                first_time_contributor: false,
            })
        }
        "user_created" => {
            let user = parsed.user.ok_or_else(|| missing("user"))?;
            actor_of(&user).map(|actor| Parts {
                event_type: EventType::MemberJoined,
                natural_key: format!("user/{}", actor.platform_user_id),
                actor,
                occurred_at: rfc3339(user.created_at.as_deref()),
                source: Source {
                    url: forum
                        .zip(user.username.as_deref())
                        .map(|(f, u)| format!("{f}/u/{u}")),
                    ..Source::default()
                },
                content: Content {
                    labels: vec!["scope:forum".to_owned()],
                    ..Content::default()
                },
                first_time_contributor: false,
            })
        }
        _ => return dropped(DROP_EVENT_NOT_MAPPED, name),
    };
    match parts {
        Ok(parts) => Ok(Adapted::Events(vec![draft::build(
            Platform::Discourse,
            envelope,
            &name,
            ADAPTER_VERSION,
            parts,
        )?])),
        Err(rule) => dropped(rule, name),
    }
}

fn dropped(rule: &'static str, name: String) -> Result<Adapted, AdaptError> {
    Ok(Adapted::Dropped { rule, name })
}

/// A person, or the rule that drops the event for lack of one.
fn actor_of(user: &User) -> Result<Actor, &'static str> {
    let id = user.id.ok_or(DROP_NO_ACTOR)?;
    if id <= 0 {
        return Err(DROP_SYSTEM_USER);
    }
    let id = id.to_string();
    Ok(Actor {
        handle: nonblank(user.username.as_deref()).unwrap_or(&id).to_owned(),
        display_name: name(user.name.as_deref()),
        platform_user_id: id,
        is_bot: false,
    })
}

fn post_actor(post: &Post) -> Result<Actor, &'static str> {
    actor_of(&User {
        id: post.user_id,
        username: post.username.clone(),
        name: post.name.clone(),
        created_at: None,
    })
}

fn post_source(post: &Post, topic_id: i64, forum: Option<&str>) -> Source {
    Source {
        channel: post.category_slug.clone(),
        thread_id: Some(topic_id.to_string()),
        url: forum.map(|f| topic_url(f, post.topic_slug.as_deref(), topic_id, post.post_number)),
        repository: None,
    }
}

fn topic_url(forum: &str, slug: Option<&str>, topic_id: i64, post_number: Option<u32>) -> String {
    let slug = slug.filter(|s| !s.is_empty()).unwrap_or("-");
    match post_number {
        Some(n) if n > 1 => format!("{forum}/t/{slug}/{topic_id}/{n}"),
        _ => format!("{forum}/t/{slug}/{topic_id}"),
    }
}

/// The post's Markdown when Discourse includes it, else its HTML without tags.
fn post_text(post: &Post) -> Option<String> {
    if let Some(raw) = post.raw.as_deref().filter(|r| !r.trim().is_empty()) {
        return body(Some(raw));
    }
    post.cooked
        .as_deref()
        .and_then(|html| body(Some(&strip_tags(html))))
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn tags(values: &[serde_json::Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(|t| match t {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Object(o) => {
                o.get("name").and_then(|n| n.as_str()).map(str::to_owned)
            }
            _ => None,
        })
        .collect()
}

fn trust_label(level: Option<u8>) -> Vec<String> {
    level
        .map(|l| vec![format!("trust_level:{l}")])
        .unwrap_or_default()
}
