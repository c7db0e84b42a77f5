//! The canonical community event, version 1.
//!
//! Every platform adapter produces this one shape, so everything downstream
//! (scoring, routing, storage, metrics, the operator CLI) is written once.
//! The crate is pure on purpose: serde, thiserror, time and uuid only, no AWS,
//! no Lambda runtime, no environment reads. It can be unit-tested with real
//! payloads and reused by any tool.
//!
//! JSON is camelCase; enums are snake_case / kebab-case strings as documented
//! on each type. The checked-in JSON Schema (`schema/canonical-event.v1.schema.json`)
//! is generated from these types and a test fails when the two disagree.

mod event_id;
mod text;

pub use event_id::{EventId, EventIdError};
pub use text::{EXCERPT_MAX_CHARS, TITLE_MAX_CHARS, excerpt};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The only schema version this crate produces. Readers reject other versions
/// rather than guessing.
pub const SCHEMA_VERSION: u32 = 1;

/// The platforms a community event can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Github,
    Slack,
    Discord,
    Discourse,
    /// The signed generic relay (GitHub Actions, bots, custom sources).
    Relay,
}

impl Platform {
    pub const ALL: [Platform; 5] = [
        Platform::Github,
        Platform::Slack,
        Platform::Discord,
        Platform::Discourse,
        Platform::Relay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Github => "github",
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Discourse => "discourse",
            Platform::Relay => "relay",
        }
    }

    /// Parses the lower-case name used in URLs (`/webhooks/{platform}`) and config.
    pub fn parse(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, as a closed set. Adding a variant is a schema change: the
/// schema test forces the checked-in schema to follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    MemberJoined,
    MessagePosted,
    ReplyPosted,
    ReactionAdded,
    /// A chat message or forum post was edited (Slack, Discourse).
    MessageEdited,
    /// A chat message was deleted; kept so downstream can retract it.
    MessageDeleted,
    /// A slash / context command or modal was used (Discord interactions).
    CommandInvoked,
    IssueOpened,
    IssueCommented,
    IssueClosed,
    PullRequestOpened,
    PullRequestMerged,
    PullRequestReviewed,
    DiscussionOpened,
    DiscussionCommented,
    DiscussionAnswered,
    ReleasePublished,
    RepoStarred,
    RepoForked,
    Sponsorship,
    /// Derived by route: a member's first contribution ever.
    FirstContribution,
    /// Derived by route: a member moved to another lifecycle stage.
    StageChanged,
}

impl EventType {
    pub const ALL: [EventType; 22] = [
        EventType::MemberJoined,
        EventType::MessagePosted,
        EventType::ReplyPosted,
        EventType::ReactionAdded,
        EventType::MessageEdited,
        EventType::MessageDeleted,
        EventType::CommandInvoked,
        EventType::IssueOpened,
        EventType::IssueCommented,
        EventType::IssueClosed,
        EventType::PullRequestOpened,
        EventType::PullRequestMerged,
        EventType::PullRequestReviewed,
        EventType::DiscussionOpened,
        EventType::DiscussionCommented,
        EventType::DiscussionAnswered,
        EventType::ReleasePublished,
        EventType::RepoStarred,
        EventType::RepoForked,
        EventType::Sponsorship,
        EventType::FirstContribution,
        EventType::StageChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::MemberJoined => "member_joined",
            EventType::MessagePosted => "message_posted",
            EventType::ReplyPosted => "reply_posted",
            EventType::ReactionAdded => "reaction_added",
            EventType::MessageEdited => "message_edited",
            EventType::MessageDeleted => "message_deleted",
            EventType::CommandInvoked => "command_invoked",
            EventType::IssueOpened => "issue_opened",
            EventType::IssueCommented => "issue_commented",
            EventType::IssueClosed => "issue_closed",
            EventType::PullRequestOpened => "pull_request_opened",
            EventType::PullRequestMerged => "pull_request_merged",
            EventType::PullRequestReviewed => "pull_request_reviewed",
            EventType::DiscussionOpened => "discussion_opened",
            EventType::DiscussionCommented => "discussion_commented",
            EventType::DiscussionAnswered => "discussion_answered",
            EventType::ReleasePublished => "release_published",
            EventType::RepoStarred => "repo_starred",
            EventType::RepoForked => "repo_forked",
            EventType::Sponsorship => "sponsorship",
            EventType::FirstContribution => "first_contribution",
            EventType::StageChanged => "stage_changed",
        }
    }

    /// Types the pipeline derives itself (contributor lifecycle); no
    /// platform or relay may deliver them.
    pub fn is_derived(self) -> bool {
        matches!(self, EventType::FirstContribution | EventType::StageChanged)
    }

    /// An answer inside someone else's thread (issue, discussion, chat
    /// thread, forum topic), rather than the thread's opening post.
    pub fn is_reply(self) -> bool {
        matches!(
            self,
            EventType::ReplyPosted | EventType::IssueCommented | EventType::DiscussionCommented
        )
    }
}

impl EventType {
    /// The snake_case name back to the type (the relay names types this way).
    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who did it, as the platform knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Actor {
    /// The platform's stable user id (GitHub numeric id, Slack `U…`, …), never the handle.
    pub platform_user_id: String,
    /// The login / handle at the time of the event.
    pub handle: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Bots are kept (for audit) but excluded from community metrics.
    pub is_bot: bool,
}

/// Where it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    /// `owner/name` for code hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Channel, category or forum for chat platforms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The conversation this belongs to (issue / PR / discussion number, Slack thread ts, topic id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// A human link to the thing itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What was said, bounded: titles and excerpts are truncated so an event
/// always fits comfortably in one queue message and one DynamoDB item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// At most [`EXCERPT_MAX_CHARS`] characters of the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
}

/// The signal band a score falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    Low,
    Medium,
    High,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Low => "low",
            Signal::Medium => "medium",
            Signal::High => "high",
        }
    }
}

/// The kind of community signal an event carries: the category model's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    BugReport,
    FeatureRequest,
    /// A question or support request.
    Question,
    /// Code or docs: a pull request, a commit, an accepted answer.
    Contribution,
    Appreciation,
    Chat,
    Noise,
}

impl Category {
    /// Also the tie-break order: the more actionable category wins a tie.
    pub const ALL: [Category; 7] = [
        Category::BugReport,
        Category::FeatureRequest,
        Category::Question,
        Category::Contribution,
        Category::Appreciation,
        Category::Chat,
        Category::Noise,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::BugReport => "bug_report",
            Category::FeatureRequest => "feature_request",
            Category::Question => "question",
            Category::Contribution => "contribution",
            Category::Appreciation => "appreciation",
            Category::Chat => "chat",
            Category::Noise => "noise",
        }
    }

    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The category model's verdict; its cues are among the event's `reasons`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Classification {
    pub category: Category,
    /// The winning category's evidence, 0.0 ..= 1.0.
    #[cfg_attr(feature = "json-schema", schemars(range(min = 0.0, max = 1.0)))]
    pub score: f64,
    /// The weights file that produced it, e.g. `categories@1`.
    pub weights_version: String,
}

/// What moderation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FlagKind {
    Spam,
    Toxicity,
}

impl FlagKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagKind::Spam => "spam",
            FlagKind::Toxicity => "toxicity",
        }
    }
}

/// One moderation scorer's finding, with its reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModerationFlag {
    pub kind: FlagKind,
    #[cfg_attr(feature = "json-schema", schemars(range(min = 0.0, max = 1.0)))]
    pub score: f64,
    pub reasons: Vec<Reason>,
}

/// Moderation's verdict. A held event is routed to `review` and waits for a
/// human; nothing is ever deleted automatically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Moderation {
    pub held: bool,
    pub flags: Vec<ModerationFlag>,
    /// Where the event goes if a reviewer approves it.
    pub release_target: RoutingTarget,
    /// The lexicon that produced it, e.g. `moderation@1`.
    pub lexicon_version: String,
}

/// Where route sends the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RoutingTarget {
    Analytics,
    ProductBacklog,
    Recognition,
    /// Held for a human (moderation); never dropped silently.
    Review,
}

impl RoutingTarget {
    pub const ALL: [RoutingTarget; 4] = [
        RoutingTarget::Analytics,
        RoutingTarget::ProductBacklog,
        RoutingTarget::Recognition,
        RoutingTarget::Review,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RoutingTarget::Analytics => "analytics",
            RoutingTarget::ProductBacklog => "product-backlog",
            RoutingTarget::Recognition => "recognition",
            RoutingTarget::Review => "review",
        }
    }
}

impl std::fmt::Display for RoutingTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule that contributed to the score, so the score can be explained
/// (and audited) without re-running the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reason {
    /// Stable rule id, e.g. `event:pull_request_merged`, `label:bug`.
    pub rule: String,
    /// What the rule added to (or, negative, took from) the score.
    pub weight: f64,
    /// Human explanation.
    pub detail: String,
}

/// Where the event came from, for audit and replays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Provenance {
    /// The platform's own delivery id (`X-GitHub-Delivery`, Slack `event_id`, …).
    pub delivery_id: String,
    /// Position of this event within the delivery (a delivery may carry several).
    pub index_in_delivery: u32,
    /// The platform's own event name, e.g. `issues.opened`.
    pub platform_event: String,
    /// Adapter that produced the event, e.g. `github@1`.
    pub adapter: String,
    /// Version of the scoring rules.
    pub scoring: String,
}

/// The canonical community event v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanonicalEvent {
    /// Always 1 for this type.
    pub schema_version: u32,
    pub event_id: EventId,
    pub platform: Platform,
    pub event_type: EventType,
    /// The resolved member id (the same person across platforms).
    pub user_id: String,
    pub actor: Actor,
    /// When it happened, from the payload.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "json-schema", schemars(with = "String", extend("format" = "date-time")))]
    pub timestamp: OffsetDateTime,
    /// When the gateway accepted the delivery.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "json-schema", schemars(with = "String", extend("format" = "date-time")))]
    pub received_at: OffsetDateTime,
    pub source: Source,
    pub content: Content,
    /// 0.0 ..= 1.0
    #[cfg_attr(feature = "json-schema", schemars(range(min = 0.0, max = 1.0)))]
    pub signal_score: f64,
    pub signal: Signal,
    pub reasons: Vec<Reason>,
    pub routing_target: RoutingTarget,
    pub provenance: Provenance,
    /// The category model's verdict (absent on events scored before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// Moderation's verdict, when a scorer found something.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<Moderation>,
}

/// Why a JSON document is not a valid canonical event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a canonical event: {0}")]
    Malformed(String),
    #[error("unsupported schemaVersion {0} (this build reads {SCHEMA_VERSION})")]
    UnsupportedVersion(u32),
    #[error("signalScore {0} is outside 0..=1")]
    ScoreOutOfRange(f64),
}

impl CanonicalEvent {
    /// Checks the invariants serde cannot express.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(DecodeError::UnsupportedVersion(self.schema_version));
        }
        let scores = std::iter::once(self.signal_score)
            .chain(self.classification.iter().map(|c| c.score))
            .chain(
                self.moderation
                    .iter()
                    .flat_map(|m| m.flags.iter().map(|f| f.score)),
            );
        for score in scores {
            if !(0.0..=1.0).contains(&score) {
                return Err(DecodeError::ScoreOutOfRange(score));
            }
        }
        Ok(())
    }

    /// The UTC calendar day of [`Self::timestamp`], `YYYY-MM-DD`: the partition
    /// of the by-day index and of the daily counters.
    pub fn day(&self) -> String {
        day_of(self.timestamp)
    }
}

/// `YYYY-MM-DD` of an instant, in UTC.
pub fn day_of(instant: OffsetDateTime) -> String {
    let utc = instant.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day()
    )
}

/// RFC 3339 in UTC with second precision (sortable as text).
pub fn rfc3339_utc(instant: OffsetDateTime) -> String {
    let utc = instant.to_offset(time::UtcOffset::UTC);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        day_of(utc),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

#[cfg(test)]
mod tests;

/// What a platform adapter knows about an event before identity resolution
/// and scoring: everything but `userId` and the assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDraft {
    pub event_id: EventId,
    pub platform: Platform,
    pub event_type: EventType,
    pub actor: Actor,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    pub source: Source,
    pub content: Content,
    /// Whether the platform itself says this is the author's first contribution
    /// (GitHub `author_association` FIRST_TIMER / FIRST_TIME_CONTRIBUTOR).
    pub first_time_contributor: bool,
    pub delivery_id: String,
    pub index_in_delivery: u32,
    pub platform_event: String,
    pub adapter: String,
    /// What the payload says about who the actor is elsewhere; used for
    /// identity resolution and never stored on the event.
    #[serde(default, skip_serializing_if = "IdentityHints::is_empty")]
    pub identity_hints: IdentityHints,
}

/// Identity facts a payload carries (emails, profile fields), used to link a
/// member's identities across platforms. Personal data: not part of the
/// canonical event, never logged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityHints {
    /// Emails the platform says it verified (Slack profile, Git commit author
    /// matching the pusher), as given.
    #[serde(default)]
    pub verified_emails: Vec<String>,
    /// Free-text profile fields (Slack custom fields, Discourse user fields),
    /// searched for a GitHub handle.
    #[serde(default)]
    pub profile_fields: Vec<String>,
}

impl IdentityHints {
    pub fn is_empty(&self) -> bool {
        self.verified_emails.is_empty() && self.profile_fields.is_empty()
    }
}

/// The scoring model's verdict on a draft.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub signal_score: f64,
    pub signal: Signal,
    pub reasons: Vec<Reason>,
    pub routing_target: RoutingTarget,
    /// Version of the rules that produced it, e.g. `categories@1`.
    pub scoring: String,
    pub classification: Option<Classification>,
    pub moderation: Option<Moderation>,
}

impl CanonicalEvent {
    /// Puts a draft, the resolved member id and the assessment together.
    pub fn assemble(draft: EventDraft, user_id: String, assessment: Assessment) -> CanonicalEvent {
        CanonicalEvent {
            schema_version: SCHEMA_VERSION,
            event_id: draft.event_id,
            platform: draft.platform,
            event_type: draft.event_type,
            user_id,
            actor: draft.actor,
            timestamp: draft.timestamp,
            received_at: draft.received_at,
            source: draft.source,
            content: draft.content,
            signal_score: assessment.signal_score.clamp(0.0, 1.0),
            signal: assessment.signal,
            reasons: assessment.reasons,
            routing_target: assessment.routing_target,
            provenance: Provenance {
                delivery_id: draft.delivery_id,
                index_in_delivery: draft.index_in_delivery,
                platform_event: draft.platform_event,
                adapter: draft.adapter,
                scoring: assessment.scoring,
            },
            classification: assessment.classification,
            moderation: assessment.moderation,
        }
    }
}
