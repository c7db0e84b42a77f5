//! The small traits handlers depend on. Each says what the handler needs, not
//! how AWS provides it, so tests can put a fault in front of the real adapter.

use std::collections::BTreeMap;

use async_trait::async_trait;
use canonical_event::{Actor, CanonicalEvent, Category, EventId, IdentityHints, Platform};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::AwsError;

/// One message for a FIFO queue.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    pub group_id: String,
    pub deduplication_id: String,
    pub body: String,
    /// String message attributes (e.g. the reason a message was dead-lettered).
    pub attributes: BTreeMap<String, String>,
}

#[async_trait]
pub trait MessageQueue: Send + Sync {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), AwsError>;
    /// Sends any number of messages, batching where it can; the result has
    /// one entry per message, in order. Order within a message group is kept
    /// even under partial failure: once a message of a group fails, the later
    /// messages of that group are not sent (and report failure), so a group
    /// can never reach the queue with a gap that a retry would fill out of
    /// order.
    async fn send_all(&self, messages: &[OutgoingMessage]) -> Vec<Result<(), AwsError>>;
}

#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The decrypted value of a SecureString parameter.
    async fn secret(&self, name: &str) -> Result<SecretString, AwsError>;
}

/// What the ledger already knew about an event id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First sight: go ahead.
    New,
    /// Claimed earlier but never confirmed emitted (a crash in between):
    /// emit again; downstream is idempotent on the event id.
    Unfinished,
    /// Already emitted or dropped: acknowledge and do nothing.
    Done,
}

#[async_trait]
pub trait EventLedger: Send + Sync {
    async fn claim(&self, id: &EventId, now: OffsetDateTime) -> Result<Claim, AwsError>;
    async fn mark_emitted(&self, id: &EventId, now: OffsetDateTime) -> Result<(), AwsError>;
    /// Records a deliberate drop exactly once and counts it by rule for the day.
    /// Returns false when the drop was already recorded.
    async fn record_drop(
        &self,
        id: &EventId,
        rule: &str,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError>;
}

/// The member behind an actor, and what scoring needs to know about them.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedMember {
    pub member_id: String,
    /// When any of the member's identities was first seen.
    pub first_seen_at: OffsetDateTime,
    /// Contributions recorded on the member so far.
    pub contributions: u32,
    /// A bot by the platform's flag or the deployer's list: excluded from
    /// community metrics.
    pub is_bot: bool,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The member of (platform, actor.platformUserId), creating the member on
    /// first sight and applying the link rules to the hints (a certain match
    /// merges, an uncertain one becomes a suggestion).
    async fn resolve(
        &self,
        platform: Platform,
        actor: &Actor,
        hints: &IdentityHints,
        now: OffsetDateTime,
    ) -> Result<ResolvedMember, AwsError>;
}

/// What normalize remembers between events to score them in context.
#[async_trait]
pub trait SignalMemory: Send + Sync {
    /// The category of the thread `thread_key` opened with, if remembered.
    async fn thread_category(
        &self,
        thread_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Category>, AwsError>;
    /// Remembers the category a thread opened with (first one wins).
    async fn remember_thread(
        &self,
        thread_key: &str,
        category: Category,
        now: OffsetDateTime,
    ) -> Result<(), AwsError>;
    /// Counts `event_id` among this member's posts of the same text inside
    /// the window, and returns how many distinct events that is. Counting by
    /// event id makes a redelivery count once.
    async fn count_repeat(
        &self,
        member_id: &str,
        text_fingerprint: &str,
        event_id: &EventId,
        now: OffsetDateTime,
    ) -> Result<u32, AwsError>;
}

/// route's view of the review queue: whether a reviewer still has to be
/// told about a held event. Told first, then marked: a crash in between
/// tells them twice rather than never.
#[async_trait]
pub trait ReviewQueue: Send + Sync {
    async fn needs_notice(&self, event_id: &str, now: OffsetDateTime) -> Result<bool, AwsError>;
    async fn noticed(&self, event_id: &str, now: OffsetDateTime) -> Result<(), AwsError>;
}

/// A member's lifecycle state as stored on the member item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberActivity {
    /// (UTC day `YYYY-MM-DD`, event type name, count).
    pub counts: Vec<(String, String, u32)>,
    pub stage: Option<String>,
    pub ever_contributed: bool,
    /// How many lifecycle transitions were recorded (keys their event ids).
    pub transitions: u32,
    /// Bumped with every activity; a save is conditional on it.
    pub version: i64,
    /// Milestones saved whose recognition is not settled yet.
    pub pending_recognitions: Vec<String>,
}

/// What an evaluation concluded, to be saved on the member.
#[derive(Debug, Clone, PartialEq)]
pub struct StageUpdate {
    pub stage: String,
    pub ever_contributed: bool,
    pub transitions: u32,
    /// Day counts before this UTC day (`YYYY-MM-DD`) are forgotten.
    pub forget_before: String,
}

#[async_trait]
pub trait LifecycleStore: Send + Sync {
    async fn load(
        &self,
        member_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<MemberActivity>, AwsError>;
    /// Saves the new stage and records the transitions' events, all or
    /// nothing, unless activity or another evaluation arrived since `loaded`
    /// (then false: load and evaluate again). Forgets the counts of days
    /// before `forget_before`.
    async fn save(
        &self,
        member_id: &str,
        loaded: &MemberActivity,
        update: &StageUpdate,
        milestones: &[CanonicalEvent],
        now: OffsetDateTime,
    ) -> Result<bool, AwsError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Stored,
    Duplicate,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores the event, bumps the daily counters and performs the routing
    /// target's bookkeeping in one transaction: all of it happens exactly once
    /// per event id, or none of it.
    async fn record(
        &self,
        event: &CanonicalEvent,
        now: OffsetDateTime,
    ) -> Result<Recorded, AwsError>;
}

#[async_trait]
pub trait CounterReader: Send + Sync {
    /// The counters of one UTC day (`YYYY-MM-DD`), by counter name.
    async fn day(&self, day: &str) -> Result<BTreeMap<String, i64>, AwsError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    pub visible: i64,
    pub in_flight: i64,
}

#[async_trait]
pub trait QueueStats: Send + Sync {
    async fn depth(&self, queue_url: &str) -> Result<QueueDepth, AwsError>;
}

#[async_trait]
pub trait Notifier: Send + Sync {
    async fn notify(&self, text: &str) -> Result<(), AwsError>;
}
