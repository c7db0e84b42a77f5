//! `github@2`: GitHub webhook payloads → canonical event drafts.
//!
//! Mapped: issues (opened, closed), issue_comment (created), pull_request
//! (opened; closed with merged = true), pull_request_review (submitted),
//! discussion (created, answered), discussion_comment (created), star
//! (created), fork, release (published), member (added), sponsorship
//! (created). Everything else is dropped by a named rule, never silently.
//!
//! Event ids (since `github@2`) derive from what the event is about, its
//! natural key, not from `X-GitHub-Delivery`: GitHub signs only the body, so
//! a captured delivery resent under a new delivery id verifies at the edge,
//! and only a key taken from the body makes it the same event for the
//! ledger. A payload that holds nothing telling two real events apart
//! (`member.added` carries no time) keeps the delivery id as its key.

use canonical_event::{
    Actor, Content, EXCERPT_MAX_CHARS, EventDraft, EventId, EventType, Platform, Source,
    TITLE_MAX_CHARS, excerpt,
};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::payload::{Label, Payload, User};
use crate::envelope::Envelope;
use crate::{AdaptError, Adapted};

pub const ADAPTER_VERSION: &str = "github@2";

/// Rule ids for drops, stable so they can be counted and alerted on.
pub const DROP_UNSUPPORTED_EVENT: &str = "github.event_not_mapped";
pub const DROP_UNTRACKED_ACTION: &str = "github.action_not_mapped";
pub const DROP_PR_CLOSED_UNMERGED: &str = "github.pull_request_closed_unmerged";
pub const DROP_PING: &str = "github.ping";
pub const DROP_WATCH: &str = "github.watch_duplicates_star";

#[derive(Deserialize)]
struct ActionOnly<'a> {
    #[serde(default, borrow)]
    action: Option<std::borrow::Cow<'a, str>>,
}

/// Maps one verified GitHub delivery to canonical drafts (or a counted drop).
pub fn adapt(envelope: &Envelope<'_>) -> Result<Adapted, AdaptError> {
    let event = envelope.event_name.as_ref();
    let raw = envelope.payload.get();
    let action_only: ActionOnly<'_> =
        serde_json::from_str(raw).map_err(|e| AdaptError::Malformed {
            event: event.to_owned(),
            detail: crate::redacted_json_error(&e),
        })?;
    let action = action_only.action.as_deref().unwrap_or("");
    let name = if action.is_empty() {
        event.to_owned()
    } else {
        format!("{event}.{action}")
    };

    let mapped = match (event, action) {
        ("issues", "opened") => Some(EventType::IssueOpened),
        ("issues", "closed") => Some(EventType::IssueClosed),
        ("issue_comment", "created") => Some(EventType::IssueCommented),
        ("pull_request", "opened") => Some(EventType::PullRequestOpened),
        // Decided below: merged or not.
        ("pull_request", "closed") => Some(EventType::PullRequestMerged),
        ("pull_request_review", "submitted") => Some(EventType::PullRequestReviewed),
        ("discussion", "created") => Some(EventType::DiscussionOpened),
        ("discussion", "answered") => Some(EventType::DiscussionAnswered),
        ("discussion_comment", "created") => Some(EventType::DiscussionCommented),
        ("star", "created") => Some(EventType::RepoStarred),
        ("fork", _) => Some(EventType::RepoForked),
        ("release", "published") => Some(EventType::ReleasePublished),
        ("member", "added") => Some(EventType::MemberJoined),
        ("sponsorship", "created") => Some(EventType::Sponsorship),
        _ => None,
    };
    let Some(event_type) = mapped else {
        let rule = match event {
            "ping" => DROP_PING,
            // GitHub sends `watch.started` alongside `star.created` for the same click.
            "watch" => DROP_WATCH,
            "issues"
            | "issue_comment"
            | "pull_request"
            | "pull_request_review"
            | "discussion"
            | "discussion_comment"
            | "star"
            | "release"
            | "member"
            | "sponsorship" => DROP_UNTRACKED_ACTION,
            _ => DROP_UNSUPPORTED_EVENT,
        };
        return Ok(Adapted::Dropped { rule, name });
    };

    let payload: Payload = serde_json::from_str(raw).map_err(|e| AdaptError::Malformed {
        event: name.clone(),
        detail: crate::redacted_json_error(&e),
    })?;
    let ctx = Ctx {
        envelope,
        name: &name,
        natural_key: None,
    };
    let draft = match event_type {
        EventType::IssueOpened | EventType::IssueClosed => {
            let issue = ctx.need(payload.issue, "issue")?;
            let when = if event_type == EventType::IssueClosed {
                issue.closed_at.as_deref().or(issue.updated_at.as_deref())
            } else {
                issue.created_at.as_deref()
            };
            // Closing is credited to whoever closed it; opening to the author.
            let actor = if event_type == EventType::IssueClosed {
                ctx.need(payload.sender, "sender")?
            } else {
                issue.user
            };
            // An issue opens once; it can close, reopen and close again, each
            // close with its own time.
            let key = if event_type == EventType::IssueClosed {
                issue
                    .closed_at
                    .as_deref()
                    .map(|at| format!("{}#closed@{at}", issue.html_url))
            } else {
                Some(format!("{}#opened", issue.html_url))
            };
            ctx.keyed(key).draft(
                event_type,
                &actor,
                when,
                Source {
                    thread_id: Some(issue.number.to_string()),
                    url: Some(issue.html_url),
                    ..ctx.repo(&payload.repository)
                },
                Content {
                    title: title(&issue.title),
                    excerpt: body(issue.body.as_deref()),
                    labels: labels(&issue.labels),
                },
                issue.author_association.as_deref(),
            )?
        }
        EventType::IssueCommented => {
            let issue = ctx.need(payload.issue, "issue")?;
            let comment = ctx.need(payload.comment, "comment")?;
            // `…/issues/12#issuecomment-345`: one created event per comment.
            ctx.keyed(Some(comment.html_url.clone())).draft(
                event_type,
                &comment.user,
                comment.created_at.as_deref(),
                Source {
                    thread_id: Some(issue.number.to_string()),
                    url: Some(comment.html_url),
                    ..ctx.repo(&payload.repository)
                },
                Content {
                    title: title(&issue.title),
                    excerpt: body(comment.body.as_deref()),
                    labels: labels(&issue.labels),
                },
                comment.author_association.as_deref(),
            )?
        }
        EventType::PullRequestOpened | EventType::PullRequestMerged => {
            let pr = ctx.need(payload.pull_request, "pull_request")?;
            if event_type == EventType::PullRequestMerged && pr.merged != Some(true) {
                return Ok(Adapted::Dropped {
                    rule: DROP_PR_CLOSED_UNMERGED,
                    name,
                });
            }
            let when = if event_type == EventType::PullRequestMerged {
                pr.merged_at.as_deref()
            } else {
                pr.created_at.as_deref()
            };
            // A pull request opens once and merges at most once.
            let key = if event_type == EventType::PullRequestMerged {
                format!("{}#merged", pr.html_url)
            } else {
                format!("{}#opened", pr.html_url)
            };
            // A merge is credited to the author of the pull request, not to the merger.
            ctx.keyed(Some(key)).draft(
                event_type,
                &pr.user,
                when,
                Source {
                    thread_id: Some(pr.number.to_string()),
                    url: Some(pr.html_url),
                    ..ctx.repo(&payload.repository)
                },
                Content {
                    title: title(&pr.title),
                    excerpt: body(pr.body.as_deref()),
                    labels: labels(&pr.labels),
                },
                pr.author_association.as_deref(),
            )?
        }
        EventType::PullRequestReviewed => {
            let pr = ctx.need(payload.pull_request, "pull_request")?;
            let review = ctx.need(payload.review, "review")?;
            // `…/pull/7#pullrequestreview-89`: one submission per review.
            ctx.keyed(Some(review.html_url.clone())).draft(
                event_type,
                &review.user,
                review.submitted_at.as_deref(),
                Source {
                    thread_id: Some(pr.number.to_string()),
                    url: Some(review.html_url),
                    ..ctx.repo(&payload.repository)
                },
                Content {
                    title: title(&pr.title),
                    excerpt: body(review.body.as_deref()),
                    labels: review
                        .state
                        .map(|s| vec![format!("review:{}", s.to_ascii_lowercase())])
                        .unwrap_or_default(),
                },
                review.author_association.as_deref(),
            )?
        }
        EventType::DiscussionOpened => {
            let d = ctx.need(payload.discussion, "discussion")?;
            let mut labels = labels(&d.labels);
            if let Some(category) = &d.category {
                labels.insert(0, format!("category:{}", category.name));
            }
            ctx.keyed(Some(format!("{}#opened", d.html_url))).draft(
                event_type,
                &d.user,
                d.created_at.as_deref(),
                Source {
                    thread_id: Some(d.number.to_string()),
                    url: Some(d.html_url),
                    ..ctx.repo(&payload.repository)
                },
                Content {
                    title: title(&d.title),
                    excerpt: body(d.body.as_deref()),
                    labels,
                },
                d.author_association.as_deref(),
            )?
        }
        EventType::DiscussionAnswered => {
            let d = ctx.need(payload.discussion, "discussion")?;
            let answer = ctx.need(payload.answer, "answer")?;
            // An answer can be unmarked and marked again: each choice has its time.
            let key = d
                .answer_chosen_at
                .as_deref()
                .map(|at| format!("{}#answer@{at}", answer.html_url));
            // The contribution is the answer, so the answerer is the actor.
            ctx.keyed(key).draft(
                event_type,
                &answer.user,
                d.answer_chosen_at
                    .as_deref()
                    .or(answer.created_at.as_deref()),
                Source {
                    thread_id: Some(d.number.to_string()),
                    url: Some(answer.html_url),
                    ..ctx.repo(&payload.repository)
                },
                Content {
                    title: title(&d.title),
                    excerpt: body(answer.body.as_deref()),
                    labels: labels(&d.labels),
                },
                answer.author_association.as_deref(),
            )?
        }
        EventType::DiscussionCommented => {
            let d = ctx.need(payload.discussion, "discussion")?;
            let comment = ctx.need(payload.comment, "comment")?;
            ctx.keyed(Some(comment.html_url.clone())).draft(
                event_type,
                &comment.user,
                comment.created_at.as_deref(),
                Source {
                    thread_id: Some(d.number.to_string()),
                    url: Some(comment.html_url),
                    ..ctx.repo(&payload.repository)
                },
                Content {
                    title: title(&d.title),
                    excerpt: body(comment.body.as_deref()),
                    labels: labels(&d.labels),
                },
                comment.author_association.as_deref(),
            )?
        }
        EventType::RepoStarred => {
            let sender = ctx.need(payload.sender, "sender")?;
            let source = ctx.repo(&payload.repository);
            // Unstarring and starring again gives a new `starred_at`.
            let key = match (&source.repository, payload.starred_at.as_deref()) {
                (Some(repository), Some(at)) => {
                    Some(format!("star/{repository}/{}@{at}", sender.id))
                }
                _ => None,
            };
            ctx.keyed(key).draft(
                event_type,
                &sender,
                payload.starred_at.as_deref(),
                source,
                Content::default(),
                None,
            )?
        }
        EventType::RepoForked => {
            let forkee = ctx.need(payload.forkee, "forkee")?;
            let source = Source {
                url: forkee.html_url.clone(),
                ..ctx.repo(&payload.repository)
            };
            // A fork deleted and made again has the same name, not the same time.
            let key = forkee
                .created_at
                .as_deref()
                .map(|at| format!("fork/{}@{at}", forkee.full_name));
            ctx.keyed(key).draft(
                event_type,
                &forkee.owner,
                forkee.created_at.as_deref(),
                source,
                Content {
                    title: title(&forkee.full_name),
                    ..Content::default()
                },
                None,
            )?
        }
        EventType::ReleasePublished => {
            let release = ctx.need(payload.release, "release")?;
            let heading = release
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| release.tag_name.clone());
            let key = release
                .published_at
                .as_deref()
                .map(|at| format!("{}#published@{at}", release.html_url));
            ctx.keyed(key).draft(
                event_type,
                &release.author,
                release.published_at.as_deref(),
                Source {
                    url: Some(release.html_url),
                    ..ctx.repo(&payload.repository)
                },
                Content {
                    title: title(&heading),
                    excerpt: body(release.body.as_deref()),
                    labels: vec![format!("tag:{}", release.tag_name)],
                },
                None,
            )?
        }
        EventType::MemberJoined => {
            // The member who was added joined; the sender is the admin who added them.
            let member = ctx.need(payload.member, "member")?;
            let source = ctx.repo(&payload.repository);
            // No time or id of the membership in the payload: the delivery is the key.
            ctx.keyed(None)
                .draft(event_type, &member, None, source, Content::default(), None)?
        }
        EventType::Sponsorship => {
            let s = ctx.need(payload.sponsorship, "sponsorship")?;
            let tier = s
                .tier
                .and_then(|t| t.name)
                .map(|n| vec![format!("tier:{n}")])
                .unwrap_or_default();
            let source = Source {
                repository: None,
                channel: s
                    .sponsorable
                    .as_ref()
                    .map(|u| format!("sponsors/{}", u.login)),
                thread_id: None,
                url: s
                    .sponsorable
                    .as_ref()
                    .map(|u| format!("https://github.com/sponsors/{}", u.login)),
            };
            let key = s.created_at.as_deref().map(|at| {
                let sponsorable = s.sponsorable.as_ref().map_or(0, |u| u.id);
                format!("sponsorship/{}/{sponsorable}@{at}", s.sponsor.id)
            });
            ctx.keyed(key).draft(
                event_type,
                &s.sponsor,
                s.created_at.as_deref(),
                source,
                Content {
                    labels: tier,
                    ..Content::default()
                },
                None,
            )?
        }
        // Mapped types from other platforms never come out of the match above.
        EventType::MessagePosted
        | EventType::ReplyPosted
        | EventType::ReactionAdded
        | EventType::MessageEdited
        | EventType::MessageDeleted
        | EventType::CommandInvoked
        | EventType::FirstContribution
        | EventType::StageChanged => {
            return Ok(Adapted::Dropped {
                rule: DROP_UNSUPPORTED_EVENT,
                name,
            });
        }
    };
    Ok(Adapted::Events(vec![draft]))
}

struct Ctx<'e, 'a> {
    envelope: &'e Envelope<'a>,
    name: &'e str,
    /// What the event is about (see the module docs); `None` when the
    /// payload cannot tell two real events apart, and the delivery id stands
    /// in.
    natural_key: Option<String>,
}

impl<'e, 'a> Ctx<'e, 'a> {
    fn need<T>(&self, value: Option<T>, field: &'static str) -> Result<T, AdaptError> {
        value.ok_or_else(|| AdaptError::MissingField {
            event: self.name.to_owned(),
            field,
        })
    }

    fn repo(&self, repository: &Option<super::payload::Repository>) -> Source {
        Source {
            repository: repository.as_ref().map(|r| r.full_name.clone()),
            url: repository.as_ref().and_then(|r| r.html_url.clone()),
            ..Source::default()
        }
    }

    fn keyed(&self, natural_key: Option<String>) -> Ctx<'e, 'a> {
        Ctx {
            envelope: self.envelope,
            name: self.name,
            natural_key,
        }
    }

    fn draft(
        &self,
        event_type: EventType,
        user: &User,
        when: Option<&str>,
        source: Source,
        content: Content,
        author_association: Option<&str>,
    ) -> Result<EventDraft, AdaptError> {
        let env = self.envelope;
        Ok(EventDraft {
            event_id: EventId::derive(
                Platform::Github,
                self.natural_key.as_deref().unwrap_or(&env.delivery_id),
                0,
            )?,
            platform: Platform::Github,
            event_type,
            actor: Actor {
                platform_user_id: user.id.to_string(),
                handle: user.login.clone(),
                display_name: user.name.clone().filter(|n| !n.trim().is_empty()),
                is_bot: user.is_bot(),
            },
            // A payload without a usable time is still an event: it happened
            // no later than the gateway received it.
            timestamp: when
                .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                .unwrap_or(env.received_at),
            received_at: env.received_at,
            source,
            content,
            first_time_contributor: matches!(
                author_association,
                Some("FIRST_TIMER" | "FIRST_TIME_CONTRIBUTOR")
            ),
            delivery_id: env.delivery_id.to_string(),
            index_in_delivery: 0,
            platform_event: self.name.to_owned(),
            adapter: ADAPTER_VERSION.to_owned(),
            identity_hints: Default::default(),
        })
    }
}

fn title(text: &str) -> Option<String> {
    excerpt(text, TITLE_MAX_CHARS)
}

fn body(text: Option<&str>) -> Option<String> {
    text.and_then(|t| excerpt(t, EXCERPT_MAX_CHARS))
}

fn labels(labels: &[Label]) -> Vec<String> {
    labels.iter().map(|l| l.name.clone()).collect()
}
