//! Members, their platform identities, and how identities are linked, in one
//! table keyed by `pk` alone (no sort key, no index):
//!
//! | `pk`                              | what                                                    |
//! |-----------------------------------|---------------------------------------------------------|
//! | `IDENTITY#<platform>#<userId>`    | `memberId`, `handle`, `isBot`, link facts: `emailHashes` (SHA-256 of normalized verified addresses, never the address), `noreplyLogins` (logins named by GitHub no-reply addresses), `githubHandles` (named in profile fields), `githubLogin` (GitHub identities), `linkVersion` (links checked) |
//! | `MEMBER#<memberId>`               | `handle`, `identities` (SS of `platform:id`), `isBot`, `firstSeenAt`, `contributions`, `lastContributionAt`, `mergedMembers` (SS), `mergedInto`, `history` (SS of history keys), `unmerges`, `version` |
//! | `EMAIL#<sha256>`                  | `identities`: identity keys with that verified address  |
//! | `GITHUB#<login>`                  | `identityKey` of the GitHub identity with that login     |
//! | `GITHUBREF#<login>`               | `noreply` / `profile`: identity keys naming that login   |
//! | `MERGE#<mergeId>`                 | a merge: survivor, merged, identities and contributions moved, rule, why, by, at, `status` active/undone |
//! | `UNMERGE#<unmergeId>`             | the undoing of one merge: by, why, at                    |
//! | `SUGGESTION#<id>`                 | an uncertain link for review (`status` open/accepted)    |
//! | `BLOCK#<key>\|<key>`              | a pair a person separated: never merged again by a rule  |
//!
//! A first-seen identity gets a deterministic member id (UUID v5 of the
//! identity), and both items are created in one transaction guarded by
//! `attribute_not_exists`, so two concurrent first sightings agree. Merges
//! and unmerges are single transactions conditioned on the state they were
//! planned from; ids of merges are derived from what they merge, so a retry
//! finds the merge it already made.

use std::collections::{BTreeSet, HashMap, VecDeque};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use canonical_event::{Actor, IdentityHints, Platform, rfc3339_utc};
use identity::{Confidence, Link, LinkFacts, Rule};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ports::{IdentityStore, ResolvedMember};
use crate::{AwsError, Item};

/// Bump when the link rules change, so identities are checked again once.
const LINK_VERSION: i64 = 1;
/// DynamoDB's limit on the items of one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;
const ATTEMPTS: usize = 6;

/// A short, jittered pause before planning a conflicted write again, so
/// concurrent resolutions of the same person stop colliding.
async fn back_off(attempt: usize) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos() % 40));
    let millis = 10 * (1u64 << attempt.min(4)) + jitter;
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

pub fn identity_key(platform: Platform, platform_user_id: &str) -> String {
    format!("IDENTITY#{platform}#{platform_user_id}")
}

pub fn member_key(member_id: &str) -> String {
    format!("MEMBER#{member_id}")
}

/// How a member item lists an identity: `platform:platformUserId`.
pub fn identity_ref(platform: Platform, platform_user_id: &str) -> String {
    format!("{platform}:{platform_user_id}")
}

/// Parses `platform:platformUserId` (as `members list` prints it).
pub fn parse_identity_ref(text: &str) -> Option<(Platform, &str)> {
    let (platform, id) = text.split_once(':')?;
    let platform = Platform::parse(platform)?;
    (!id.is_empty()).then_some((platform, id))
}

fn ref_to_key(reference: &str) -> Option<String> {
    parse_identity_ref(reference).map(|(p, id)| identity_key(p, id))
}

fn key_to_ref(key: &str) -> String {
    key.strip_prefix("IDENTITY#")
        .and_then(|rest| rest.split_once('#'))
        .map_or_else(|| key.to_owned(), |(p, id)| format!("{p}:{id}"))
}

fn merge_key(merge_id: &str) -> String {
    format!("MERGE#{merge_id}")
}

fn unmerge_key(unmerge_id: &str) -> String {
    format!("UNMERGE#{unmerge_id}")
}

fn suggestion_key(suggestion_id: &str) -> String {
    format!("SUGGESTION#{suggestion_id}")
}

fn email_key(hash: &str) -> String {
    format!("EMAIL#{hash}")
}

fn github_key(login: &str) -> String {
    format!("GITHUB#{}", login.to_ascii_lowercase())
}

fn github_ref_key(login: &str) -> String {
    format!("GITHUBREF#{}", login.to_ascii_lowercase())
}

/// The block on a pair, the same whichever way round.
fn block_key(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    format!("BLOCK#{first}|{second}")
}

/// A short stable id from its parts (128 bits of SHA-256, hex).
fn digest_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    let mut id = hex::encode(hasher.finalize());
    id.truncate(32);
    id
}

/// The id of merging `merged` into `survivor`; `generation` counts how often
/// `merged` was unmerged before, so a merge after an unmerge is a new one.
fn merge_id_of(survivor: &str, merged: &str, generation: i64) -> String {
    digest_id(&["merge", survivor, merged, &generation.to_string()])
}

fn unmerge_id_of(merge_id: &str) -> String {
    digest_id(&["unmerge", merge_id])
}

/// One suggestion per pair of identities, whichever way round.
fn suggestion_id_of(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    digest_id(&["suggestion", first, second])
}

/// The id a member gets when first seen through this identity.
pub fn first_member_id(platform: Platform, platform_user_id: &str) -> String {
    // Reuse the event-id derivation (UUID v5 over a fixed namespace) with a
    // distinct "delivery" so member ids never collide with event ids.
    match canonical_event::EventId::derive(platform, &format!("member\u{1f}{platform_user_id}"), 0)
    {
        Ok(id) => id.to_string(),
        Err(_) => format!("{platform}-{platform_user_id}"),
    }
}

/// Why a members operation failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MembersError {
    #[error("no identity {0}: it has never been seen")]
    UnknownIdentity(String),
    #[error("no member {0}")]
    UnknownMember(String),
    #[error("no merge {0}")]
    UnknownMerge(String),
    #[error("{a} and {b} are already one member ({member_id})")]
    AlreadyOneMember {
        a: String,
        b: String,
        member_id: String,
    },
    #[error("merge {merge_id} was already undone by {by} at {at}")]
    AlreadyUndone {
        merge_id: String,
        by: String,
        at: String,
    },
    #[error("member {member_id} has since been merged into {into}; unmerge that merge first")]
    MergedSince { member_id: String, into: String },
    #[error("{0}")]
    Invalid(String),
    /// Someone changed the same members meanwhile: retry.
    #[error("members changed while {0}; retry")]
    Conflict(&'static str),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl MembersError {
    pub fn is_retryable(&self) -> bool {
        match self {
            MembersError::Conflict(_) => true,
            MembersError::Aws(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl From<MembersError> for AwsError {
    fn from(error: MembersError) -> AwsError {
        match error {
            MembersError::Aws(e) => e,
            MembersError::Conflict(_) => {
                AwsError::retryable("Members", "Conflict", error.to_string())
            }
            other => AwsError::permanent("Members", "Rejected", other.to_string()),
        }
    }
}

/// One merge, as recorded in its `MERGE#` history item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeRecord {
    pub merge_id: String,
    /// The member that remains (the older one).
    pub survivor: String,
    /// The member merged into it; its item stays, with `mergedInto`.
    pub merged: String,
    /// `platform:id` of every identity moved from `merged` to `survivor`.
    pub identities_moved: Vec<String>,
    pub contributions_moved: i64,
    pub rule: String,
    pub why: String,
    /// `rule:<rule>` for automatic merges, else the person who linked.
    pub by: String,
    pub at: String,
    /// `active` or `undone`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undone_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undone_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_reason: Option<String>,
}

impl MergeRecord {
    pub fn is_active(&self) -> bool {
        self.status == STATUS_ACTIVE
    }

    fn from_item(item: &Item) -> MergeRecord {
        MergeRecord {
            merge_id: text(item, "mergeId").unwrap_or_default(),
            survivor: text(item, "survivor").unwrap_or_default(),
            merged: text(item, "merged").unwrap_or_default(),
            identities_moved: strings(item, "identitiesMoved").into_iter().collect(),
            contributions_moved: number(item, "contributionsMoved"),
            rule: text(item, "rule").unwrap_or_default(),
            why: text(item, "why").unwrap_or_default(),
            by: text(item, "by").unwrap_or_default(),
            at: text(item, "at").unwrap_or_default(),
            status: text(item, "status").unwrap_or_default(),
            undone_by: text(item, "undoneBy"),
            undone_at: text(item, "undoneAt"),
            undo_reason: text(item, "undoReason"),
        }
    }
}

const STATUS_ACTIVE: &str = "active";
const STATUS_UNDONE: &str = "undone";

/// One entry of a member's history (a merge or the undoing of one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRow {
    /// `merge` or `unmerge`.
    pub kind: String,
    pub id: String,
    pub merge_id: String,
    pub survivor: String,
    pub merged: String,
    pub identities_moved: Vec<String>,
    pub contributions_moved: i64,
    /// The merge's rule (for an unmerge, the rule of the merge it undid).
    pub rule: String,
    /// Why it was merged, or why it was undone.
    pub why: String,
    pub by: String,
    pub at: String,
    /// A merge's status now (`active` / `undone`); none for an unmerge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// An uncertain link waiting for a person.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuggestionRow {
    pub suggestion_id: String,
    /// `platform:id` of both identities.
    pub identity_a: String,
    pub identity_b: String,
    pub rule: String,
    pub why: String,
    pub created_at: String,
    /// `open`, or `accepted` once a person linked the pair.
    pub status: String,
}

#[derive(Debug, Clone)]
pub struct DynamoMembers {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Handles the deployer marks as bots (lowercase; `handle` or
    /// `platform:handle`).
    bot_handles: Vec<String>,
}

impl DynamoMembers {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoMembers {
        DynamoMembers {
            client,
            table: table.into(),
            bot_handles: Vec::new(),
        }
    }

    /// Marks these handles (any platform, case-insensitive; or
    /// `platform:handle`) as bots.
    pub fn with_bot_handles(mut self, handles: Vec<String>) -> DynamoMembers {
        self.bot_handles = handles
            .into_iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        self
    }

    fn configured_bot(&self, platform: Platform, actor: &Actor) -> bool {
        let handle = actor.handle.to_ascii_lowercase();
        handle.ends_with("[bot]")
            || self.bot_handles.contains(&handle)
            || self.bot_handles.contains(&format!("{platform}:{handle}"))
    }

    fn store(&self) -> Store<'_> {
        Store {
            client: &self.client,
            table: &self.table,
        }
    }
}

#[async_trait]
impl IdentityStore for DynamoMembers {
    async fn resolve(
        &self,
        platform: Platform,
        actor: &Actor,
        hints: &IdentityHints,
        now: OffsetDateTime,
    ) -> Result<ResolvedMember, AwsError> {
        let is_bot = actor.is_bot || self.configured_bot(platform, actor);
        let store = self.store();
        let member_id = store.resolve(platform, actor, hints, is_bot, now).await?;
        store.facts(&member_id, is_bot, now).await
    }
}

/// Explicitly links two identities (a person's decision): their members are
/// merged, the older one surviving. Both identities must have been seen.
pub async fn link_explicit(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    a: (Platform, &str),
    b: (Platform, &str),
    by: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<MergeRecord, MembersError> {
    Store { client, table }
        .link_explicit(a, b, by, reason, now)
        .await
}

/// Reverses one merge exactly: the moved identities and contributions go
/// back, the merge is marked undone, and the pair is never merged again by a
/// rule. Fails if the merge was already undone.
pub async fn unmerge(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    merge_id: &str,
    by: &str,
    reason: &str,
    now: OffsetDateTime,
) -> Result<MergeRecord, MembersError> {
    Store { client, table }
        .unmerge(merge_id, by, reason, now)
        .await
}

/// The merges and unmerges of a member and of every member merged into it,
/// oldest first.
pub async fn history(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    member_id: &str,
    now: OffsetDateTime,
) -> Result<Vec<HistoryRow>, MembersError> {
    Store { client, table }.history(member_id, now).await
}

/// One merge record by id.
pub async fn merge_record(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    merge_id: &str,
    now: OffsetDateTime,
) -> Result<MergeRecord, MembersError> {
    let store = Store { client, table };
    store
        .get(&merge_key(merge_id), now)
        .await?
        .map(|item| MergeRecord::from_item(&item))
        .ok_or_else(|| MembersError::UnknownMerge(merge_id.to_owned()))
}

/// Link suggestions for review, newest first.
pub async fn suggestions(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<SuggestionRow>, AwsError> {
    let mut rows: Vec<SuggestionRow> = crate::scan_all(client, table, Some("SUGGESTION#"))
        .await?
        .iter()
        .map(|item| SuggestionRow {
            suggestion_id: text(item, "suggestionId").unwrap_or_default(),
            identity_a: key_to_ref(&text(item, "identityA").unwrap_or_default()),
            identity_b: key_to_ref(&text(item, "identityB").unwrap_or_default()),
            rule: text(item, "rule").unwrap_or_default(),
            why: text(item, "why").unwrap_or_default(),
            created_at: text(item, "createdAt").unwrap_or_default(),
            status: text(item, "status").unwrap_or_default(),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then(a.suggestion_id.cmp(&b.suggestion_id))
    });
    Ok(rows)
}

/// The member id and every member id currently merged into it (directly or
/// through earlier merges): stored events keep the member id they were
/// recorded under, so a query for a member's events covers all of these.
pub async fn member_ids_of(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    member_id: &str,
    now: OffsetDateTime,
) -> Result<Vec<String>, AwsError> {
    Store { client, table }.member_ids_of(member_id, now).await
}

/// A member as the CLI lists it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRow {
    pub member_id: String,
    pub handle: String,
    pub identities: Vec<String>,
    pub is_bot: bool,
    pub contributions: i64,
    pub first_seen_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_contribution_at: Option<String>,
    /// Members merged into this one (their events keep their own ids).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_members: Vec<String>,
}

/// All current members (not identities, not members merged into another),
/// most contributions first.
pub async fn list(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<MemberRow>, AwsError> {
    let mut rows = Vec::new();
    for item in crate::scan_all(client, table, Some("MEMBER#")).await? {
        if item.contains_key("mergedInto") {
            continue;
        }
        rows.push(MemberRow {
            member_id: text(&item, "memberId").unwrap_or_default(),
            handle: text(&item, "handle").unwrap_or_default(),
            identities: strings(&item, "identities").into_iter().collect(),
            is_bot: flag(&item, "isBot"),
            contributions: number(&item, "contributions"),
            first_seen_at: text(&item, "firstSeenAt").unwrap_or_default(),
            last_contribution_at: text(&item, "lastContributionAt"),
            merged_members: strings(&item, "mergedMembers").into_iter().collect(),
        });
    }
    rows.sort_by(|a, b| {
        b.contributions
            .cmp(&a.contributions)
            .then(a.handle.cmp(&b.handle))
    });
    Ok(rows)
}

// ---------------------------------------------------------------------------
// Item attributes

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A string set; callers never pass an empty one (DynamoDB rejects it).
fn ss(values: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::Ss(values.into_iter().collect())
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn strings(item: &Item, name: &str) -> BTreeSet<String> {
    item.get(name)
        .and_then(|v| v.as_ss().ok())
        .map(|v| v.iter().cloned().collect())
        .unwrap_or_default()
}

fn number(item: &Item, name: &str) -> i64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn flag(item: &Item, name: &str) -> bool {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false)
}

/// What the link rules know about a stored identity.
fn facts_of_item(item: &Item) -> LinkFacts {
    LinkFacts {
        platform: text(item, "platform").and_then(|p| Platform::parse(&p)),
        platform_user_id: text(item, "platformUserId").unwrap_or_default(),
        handle: text(item, "githubLogin")
            .or_else(|| text(item, "handle"))
            .unwrap_or_default(),
        email_hashes: strings(item, "emailHashes"),
        noreply_logins: strings(item, "noreplyLogins"),
        github_handles: strings(item, "githubHandles"),
        is_bot: flag(item, "isBot"),
    }
}

type Names = HashMap<String, String>;
type Values = HashMap<String, AttributeValue>;

/// Names and values of one expression.
#[derive(Debug, Default)]
struct Expr {
    names: Names,
    values: Values,
}

impl Expr {
    fn name(mut self, placeholder: &str, name: &str) -> Expr {
        self.names.insert(placeholder.to_owned(), name.to_owned());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Expr {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    fn parts(self) -> (Option<Names>, Option<Values>) {
        (
            (!self.names.is_empty()).then_some(self.names),
            (!self.values.is_empty()).then_some(self.values),
        )
    }
}

/// The condition that a member item is still at the version it was read at.
fn version_condition(item: &Item, placeholder: &str, expr: Expr) -> (String, Expr) {
    match item.get("version") {
        Some(v) => (
            format!("#version = {placeholder}"),
            expr.name("#version", "version")
                .value(placeholder, v.clone()),
        ),
        None => (
            "attribute_not_exists(#version)".to_owned(),
            expr.name("#version", "version"),
        ),
    }
}

/// The table operations behind [`DynamoMembers`] and the CLI functions.
#[derive(Debug, Clone, Copy)]
struct Store<'a> {
    client: &'a aws_sdk_dynamodb::Client,
    table: &'a str,
}

/// What a merge is for.
#[derive(Debug, Clone)]
struct MergeRequest {
    rule: Rule,
    why: String,
    by: String,
    /// The two identities whose link asked for the merge.
    trigger: (String, String),
}

impl Store<'_> {
    async fn get(&self, key: &str, now: OffsetDateTime) -> Result<Option<Item>, AwsError> {
        crate::get_live_item(self.client, self.table, "pk", key, now).await
    }

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, AwsError> {
        let put = Put::builder()
            .table_name(self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(crate::build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn update(
        &self,
        key: &str,
        expression: &str,
        condition: Option<&str>,
        expr: Expr,
    ) -> Result<TransactWriteItem, AwsError> {
        let (names, values) = expr.parts();
        let update = Update::builder()
            .table_name(self.table)
            .key("pk", s(key))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .build()
            .map_err(crate::build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// One UpdateItem outside a transaction.
    async fn update_now(&self, key: &str, expression: &str, expr: Expr) -> Result<(), AwsError> {
        let (names, values) = expr.parts();
        self.client
            .update_item()
            .table_name(self.table)
            .key("pk", s(key))
            .update_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateItem", e))?;
        Ok(())
    }

    /// Sends a transaction; `Ok(false)` when a condition failed or another
    /// transaction conflicted (re-read and plan again).
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, AwsError> {
        if items.len() > MAX_TRANSACTION_ITEMS {
            return Err(AwsError::permanent(
                "TransactWriteItems",
                "TooManyItems",
                format!(
                    "{} writes exceed one transaction ({MAX_TRANSACTION_ITEMS})",
                    items.len()
                ),
            ));
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if crate::events::was_cancelled(&e) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("TransactWriteItems", e)),
        }
    }

    // -- resolution ---------------------------------------------------------

    async fn resolve(
        &self,
        platform: Platform,
        actor: &Actor,
        hints: &IdentityHints,
        is_bot: bool,
        now: OffsetDateTime,
    ) -> Result<String, MembersError> {
        let key = identity_key(platform, &actor.platform_user_id);
        let mut incoming = LinkFacts::of(&identity::Identity {
            platform,
            platform_user_id: actor.platform_user_id.clone(),
            handle: actor.handle.clone(),
            verified_emails: hints.verified_emails.clone(),
            profile_fields: hints.profile_fields.clone(),
            is_bot,
        });
        if platform == Platform::Github {
            incoming.handle = actor.handle.to_ascii_lowercase();
        }
        let (member_id, facts, needs_linking) = match self.get(&key, now).await? {
            None => {
                // The lookup items first: if we stop before the identity
                // exists, they point at nothing and are skipped.
                self.index(&key, platform, &incoming).await?;
                let nothing_to_link = !incoming.has_hints() && platform != Platform::Github;
                let member_id = self
                    .first_sight(platform, actor, &incoming, nothing_to_link, now)
                    .await?;
                (member_id, incoming, !nothing_to_link)
            }
            Some(item) => {
                let member_id = text(&item, "memberId").ok_or_else(|| {
                    AwsError::permanent("GetItem", "Corrupt", "identity item without memberId")
                })?;
                let stored = facts_of_item(&item);
                let renamed = platform == Platform::Github
                    && text(&item, "githubLogin").as_deref() != Some(incoming.handle.as_str());
                let new_facts = stored.lacks_any_of(&incoming);
                if new_facts || renamed {
                    self.index(&key, platform, &incoming).await?;
                    self.add_facts(&key, platform, &incoming, renamed).await?;
                }
                if is_bot && !flag(&item, "isBot") {
                    self.mark_bot(&key, &member_id).await?;
                }
                let mut facts = stored;
                facts.email_hashes.extend(incoming.email_hashes.clone());
                facts.noreply_logins.extend(incoming.noreply_logins.clone());
                facts.github_handles.extend(incoming.github_handles.clone());
                facts.is_bot |= is_bot;
                if renamed {
                    facts.handle = incoming.handle.clone();
                }
                let needs_linking =
                    new_facts || renamed || number(&item, "linkVersion") < LINK_VERSION;
                (member_id, facts, needs_linking)
            }
        };
        if !needs_linking {
            return Ok(member_id);
        }
        self.link_identity(&key, &facts, now).await?;
        self.update_now(
            &key,
            "SET linkVersion = :v",
            Expr::default().value(":v", n(LINK_VERSION)),
        )
        .await?;
        // A merge may have moved this identity to another member.
        Ok(self
            .member_of_identity(&key, now)
            .await?
            .unwrap_or(member_id))
    }

    async fn member_of_identity(
        &self,
        key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<String>, AwsError> {
        Ok(self
            .get(key, now)
            .await?
            .and_then(|item| text(&item, "memberId")))
    }

    /// Writes the lookup items that let other identities find this one.
    async fn index(
        &self,
        key: &str,
        platform: Platform,
        facts: &LinkFacts,
    ) -> Result<(), AwsError> {
        let identity = ss([key.to_owned()]);
        for hash in &facts.email_hashes {
            self.update_now(
                &email_key(hash),
                "ADD identities :k SET #kind = :kind",
                Expr::default()
                    .name("#kind", "kind")
                    .value(":k", identity.clone())
                    .value(":kind", s("email-index")),
            )
            .await?;
        }
        for (logins, attribute) in [
            (&facts.noreply_logins, "noreply"),
            (&facts.github_handles, "profile"),
        ] {
            for login in logins {
                self.update_now(
                    &github_ref_key(login),
                    "ADD #refs :k SET #kind = :kind",
                    Expr::default()
                        .name("#kind", "kind")
                        .name("#refs", attribute)
                        .value(":k", identity.clone())
                        .value(":kind", s("github-ref-index")),
                )
                .await?;
            }
        }
        if platform == Platform::Github {
            self.update_now(
                &github_key(&facts.handle),
                "SET identityKey = :k, #kind = :kind",
                Expr::default()
                    .name("#kind", "kind")
                    .value(":k", s(key))
                    .value(":kind", s("github-index")),
            )
            .await?;
        }
        Ok(())
    }

    /// Adds newly seen facts to an existing identity and asks for its links
    /// to be checked again.
    async fn add_facts(
        &self,
        key: &str,
        platform: Platform,
        facts: &LinkFacts,
        renamed: bool,
    ) -> Result<(), AwsError> {
        let mut adds = Vec::new();
        let mut expr = Expr::default();
        for (attribute, values) in [
            ("emailHashes", &facts.email_hashes),
            ("noreplyLogins", &facts.noreply_logins),
            ("githubHandles", &facts.github_handles),
        ] {
            if !values.is_empty() {
                let placeholder = format!(":{attribute}");
                adds.push(format!("{attribute} {placeholder}"));
                expr = expr.value(&placeholder, ss(values.iter().cloned()));
            }
        }
        let mut expression = String::from("REMOVE linkVersion");
        if !adds.is_empty() {
            expression.push_str(" ADD ");
            expression.push_str(&adds.join(", "));
        }
        if renamed && platform == Platform::Github {
            expression.push_str(" SET githubLogin = :login");
            expr = expr.value(":login", s(facts.handle.clone()));
        }
        self.update_now(key, &expression, expr).await
    }

    async fn mark_bot(&self, key: &str, member_id: &str) -> Result<(), AwsError> {
        let items = vec![
            self.update(
                key,
                "SET isBot = :t",
                Some("attribute_exists(pk)"),
                Expr::default().value(":t", AttributeValue::Bool(true)),
            )?,
            self.update(
                &member_key(member_id),
                "SET isBot = :t",
                Some("attribute_exists(pk)"),
                Expr::default().value(":t", AttributeValue::Bool(true)),
            )?,
        ];
        if !self.transact(items).await? {
            return Err(AwsError::retryable(
                "TransactWriteItems",
                "Conflict",
                "member changed while marking it a bot",
            ));
        }
        tracing::info!(member_id, "member marked as a bot");
        Ok(())
    }

    async fn first_sight(
        &self,
        platform: Platform,
        actor: &Actor,
        facts: &LinkFacts,
        links_checked: bool,
        now: OffsetDateTime,
    ) -> Result<String, MembersError> {
        let identity = identity_key(platform, &actor.platform_user_id);
        let member_id = first_member_id(platform, &actor.platform_user_id);
        let seen = rfc3339_utc(now);
        let mut identity_item = HashMap::from([
            ("pk".to_owned(), s(identity.clone())),
            ("kind".to_owned(), s("identity")),
            ("memberId".to_owned(), s(member_id.clone())),
            ("platform".to_owned(), s(platform.as_str())),
            (
                "platformUserId".to_owned(),
                s(actor.platform_user_id.clone()),
            ),
            ("handle".to_owned(), s(actor.handle.clone())),
            ("isBot".to_owned(), AttributeValue::Bool(facts.is_bot)),
            ("firstSeenAt".to_owned(), s(seen.clone())),
        ]);
        for (attribute, values) in [
            ("emailHashes", &facts.email_hashes),
            ("noreplyLogins", &facts.noreply_logins),
            ("githubHandles", &facts.github_handles),
        ] {
            if !values.is_empty() {
                identity_item.insert(attribute.to_owned(), ss(values.iter().cloned()));
            }
        }
        if platform == Platform::Github {
            identity_item.insert("githubLogin".to_owned(), s(facts.handle.clone()));
        }
        if links_checked {
            identity_item.insert("linkVersion".to_owned(), n(LINK_VERSION));
        }
        let mut member_item = HashMap::from([
            ("pk".to_owned(), s(member_key(&member_id))),
            ("kind".to_owned(), s("member")),
            ("memberId".to_owned(), s(member_id.clone())),
            ("handle".to_owned(), s(actor.handle.clone())),
            ("isBot".to_owned(), AttributeValue::Bool(facts.is_bot)),
            (
                "identities".to_owned(),
                ss([identity_ref(platform, &actor.platform_user_id)]),
            ),
            ("firstSeenAt".to_owned(), s(seen)),
        ]);
        if let Some(name) = &actor.display_name {
            member_item.insert("displayName".to_owned(), s(name.clone()));
        }
        // A few attempts: a cancelled transaction means someone else wrote one
        // of the two items meanwhile, and the next lookup usually settles it.
        for _ in 0..3 {
            let member_exists = self.get(&member_key(&member_id), now).await?.is_some();
            let mut items =
                vec![self.put(identity_item.clone(), Some("attribute_not_exists(pk)"))?];
            if !member_exists {
                items.push(self.put(member_item.clone(), Some("attribute_not_exists(pk)"))?);
            }
            if self.transact(items).await? {
                tracing::info!(
                    member_id,
                    platform = platform.as_str(),
                    linked_to_existing = member_exists,
                    "identity resolved"
                );
                return Ok(member_id);
            }
            if let Some(existing) = self.member_of_identity(&identity, now).await? {
                return Ok(existing);
            }
        }
        Err(MembersError::Conflict("creating an identity"))
    }

    /// Finds the identities this one may be linked to, through the lookup
    /// items, and applies the rules: certain links merge (unless a person
    /// separated the pair), uncertain ones become suggestions.
    async fn link_identity(
        &self,
        key: &str,
        facts: &LinkFacts,
        now: OffsetDateTime,
    ) -> Result<(), MembersError> {
        let mut candidates = BTreeSet::new();
        for hash in &facts.email_hashes {
            if let Some(item) = self.get(&email_key(hash), now).await? {
                candidates.extend(strings(&item, "identities"));
            }
        }
        for login in facts.noreply_logins.union(&facts.github_handles) {
            if let Some(item) = self.get(&github_key(login), now).await? {
                candidates.extend(text(&item, "identityKey"));
            }
        }
        if facts.platform == Some(Platform::Github)
            && let Some(item) = self.get(&github_ref_key(&facts.handle), now).await?
        {
            candidates.extend(strings(&item, "noreply"));
            candidates.extend(strings(&item, "profile"));
        }
        candidates.remove(key);
        let mut links: Vec<(String, Link)> = Vec::new();
        for candidate in candidates {
            let Some(item) = self.get(&candidate, now).await? else {
                continue;
            };
            if let Some(link) = identity::link_facts(facts, &facts_of_item(&item)) {
                links.push((candidate, link));
            }
        }
        // Certain links first, so a pair about to be merged is not suggested.
        links.sort_by_key(|(_, link)| link.confidence != Confidence::Certain);
        for (candidate, link) in links {
            let (Some(mine), Some(theirs)) = (
                self.member_of_identity(key, now).await?,
                self.member_of_identity(&candidate, now).await?,
            ) else {
                continue;
            };
            if mine == theirs {
                continue;
            }
            match link.confidence {
                Confidence::Certain => {
                    if self
                        .blocked(
                            &[
                                (member_key(&mine), member_key(&theirs)),
                                (key.to_owned(), candidate.clone()),
                            ],
                            now,
                        )
                        .await?
                    {
                        tracing::info!(
                            member_id = mine,
                            other_member_id = theirs,
                            rule = link.rule.as_str(),
                            "link not merged: a person separated these members"
                        );
                        continue;
                    }
                    let request = MergeRequest {
                        rule: link.rule,
                        by: format!("rule:{}", link.rule.as_str()),
                        why: link.why,
                        trigger: (key.to_owned(), candidate),
                    };
                    self.merge(&mine, &theirs, &request, now).await?;
                }
                Confidence::Suggestion => self.suggest(key, &candidate, &link, now).await?,
            }
        }
        Ok(())
    }

    async fn blocked(
        &self,
        pairs: &[(String, String)],
        now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        for (a, b) in pairs {
            if self.get(&block_key(a, b), now).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn suggest(
        &self,
        a: &str,
        b: &str,
        link: &Link,
        now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let suggestion_id = suggestion_id_of(a, b);
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        let item = HashMap::from([
            ("pk".to_owned(), s(suggestion_key(&suggestion_id))),
            ("kind".to_owned(), s("suggestion")),
            ("suggestionId".to_owned(), s(suggestion_id.clone())),
            ("identityA".to_owned(), s(first)),
            ("identityB".to_owned(), s(second)),
            ("rule".to_owned(), s(link.rule.as_str())),
            ("why".to_owned(), s(link.why.clone())),
            ("createdAt".to_owned(), s(rfc3339_utc(now))),
            ("status".to_owned(), s("open")),
        ]);
        match self
            .client
            .put_item()
            .table_name(self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(
                    suggestion_id,
                    rule = link.rule.as_str(),
                    "identity link suggested for review"
                );
                Ok(())
            }
            // Suggested before (and perhaps already reviewed): keep that one.
            Err(e) if crate::is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("PutItem", e)),
        }
    }

    // -- merge and unmerge ----------------------------------------------------

    /// Merges two members, the older surviving; returns the merge record (the
    /// existing one if this exact merge was already made).
    async fn merge(
        &self,
        one: &str,
        other: &str,
        request: &MergeRequest,
        now: OffsetDateTime,
    ) -> Result<MergeRecord, MembersError> {
        for attempt in 0..ATTEMPTS {
            let first = self
                .get(&member_key(one), now)
                .await?
                .ok_or_else(|| MembersError::UnknownMember(one.to_owned()))?;
            let second = self
                .get(&member_key(other), now)
                .await?
                .ok_or_else(|| MembersError::UnknownMember(other.to_owned()))?;
            let seen = |item: &Item, id: &str| {
                (text(item, "firstSeenAt").unwrap_or_default(), id.to_owned())
            };
            let ((survivor, survivor_item), (merged, merged_item)) =
                if seen(&first, one) <= seen(&second, other) {
                    ((one, first), (other, second))
                } else {
                    ((other, second), (one, first))
                };
            let generation = number(&merged_item, "unmerges");
            let merge_id = merge_id_of(survivor, merged, generation);
            if text(&merged_item, "mergedInto").as_deref() == Some(survivor)
                && let Some(existing) = self.get(&merge_key(&merge_id), now).await?
            {
                let record = MergeRecord::from_item(&existing);
                if record.is_active() {
                    return Ok(record);
                }
            }
            if survivor_item.contains_key("mergedInto") || merged_item.contains_key("mergedInto") {
                // Resolved from stale reads: the caller looks again.
                return Err(MembersError::Conflict("merging members"));
            }
            if request.rule == Rule::Explicit
                && flag(&survivor_item, "isBot") != flag(&merged_item, "isBot")
            {
                return Err(MembersError::Invalid(format!(
                    "{survivor} and {merged}: a bot and a person are never one member"
                )));
            }
            let moved = strings(&merged_item, "identities");
            let contributions = number(&merged_item, "contributions");
            let at = rfc3339_utc(now);
            let mut items = Vec::new();
            for reference in &moved {
                let key = ref_to_key(reference).ok_or_else(|| {
                    MembersError::Invalid(format!("member {merged} lists a malformed identity"))
                })?;
                items.push(
                    self.update(
                        &key,
                        "SET memberId = :to",
                        Some("memberId = :from"),
                        Expr::default()
                            .value(":to", s(survivor))
                            .value(":from", s(merged)),
                    )?,
                );
            }
            let history = ss([merge_key(&merge_id)]);
            // The survivor gains the identities, the merged member and its
            // contributions.
            let (version, expr) = version_condition(
                &survivor_item,
                ":v",
                Expr::default()
                    .value(":merged", ss([merged.to_owned()]))
                    .value(":n", n(contributions))
                    .value(":h", history.clone())
                    .value(":one", n(1)),
            );
            let (mut add, mut expr) = (
                String::from(
                    "ADD mergedMembers :merged, contributions :n, #history :h, #version :one",
                ),
                expr.name("#history", "history"),
            );
            if !moved.is_empty() {
                add.push_str(", identities :ids");
                expr = expr.value(":ids", ss(moved.iter().cloned()));
            }
            items.push(self.update(
                &member_key(survivor),
                &add,
                Some(&format!(
                    "attribute_exists(pk) AND attribute_not_exists(mergedInto) AND {version}"
                )),
                expr,
            )?);
            // The merged member stays, pointing at the survivor; its own
            // counters are kept as they were, so an unmerge restores them.
            let (version, expr) = version_condition(
                &merged_item,
                ":v",
                Expr::default()
                    .value(":to", s(survivor))
                    .value(":at", s(at.clone()))
                    .value(":h", history)
                    .value(":one", n(1))
                    .name("#history", "history"),
            );
            let (counted, expr) = if merged_item.contains_key("contributions") {
                ("contributions = :n", expr.value(":n", n(contributions)))
            } else {
                ("attribute_not_exists(contributions)", expr)
            };
            items.push(self.update(
                &member_key(merged),
                "SET mergedInto = :to, mergedAt = :at ADD #history :h, #version :one",
                Some(&format!(
                    "attribute_exists(pk) AND attribute_not_exists(mergedInto) AND {version} AND {counted}"
                )),
                expr,
            )?);
            let record = MergeRecord {
                merge_id: merge_id.clone(),
                survivor: survivor.to_owned(),
                merged: merged.to_owned(),
                identities_moved: moved.iter().cloned().collect(),
                contributions_moved: contributions,
                rule: request.rule.as_str().to_owned(),
                why: request.why.clone(),
                by: request.by.clone(),
                at: at.clone(),
                status: STATUS_ACTIVE.to_owned(),
                undone_by: None,
                undone_at: None,
                undo_reason: None,
            };
            let mut merge_item = HashMap::from([
                ("pk".to_owned(), s(merge_key(&merge_id))),
                ("kind".to_owned(), s("merge")),
                ("mergeId".to_owned(), s(merge_id.clone())),
                ("survivor".to_owned(), s(survivor)),
                ("merged".to_owned(), s(merged)),
                ("contributionsMoved".to_owned(), n(contributions)),
                ("rule".to_owned(), s(request.rule.as_str())),
                ("why".to_owned(), s(request.why.clone())),
                ("by".to_owned(), s(request.by.clone())),
                ("at".to_owned(), s(at)),
                ("status".to_owned(), s(STATUS_ACTIVE)),
                (
                    "trigger".to_owned(),
                    AttributeValue::L(vec![
                        s(request.trigger.0.clone()),
                        s(request.trigger.1.clone()),
                    ]),
                ),
            ]);
            if !moved.is_empty() {
                merge_item.insert("identitiesMoved".to_owned(), ss(moved.iter().cloned()));
            }
            items.push(self.put(merge_item, Some("attribute_not_exists(pk)"))?);
            if self.transact(items).await? {
                tracing::info!(
                    merge_id,
                    survivor,
                    merged,
                    rule = request.rule.as_str(),
                    identities_moved = moved.len(),
                    "members merged"
                );
                return Ok(record);
            }
            tracing::debug!(merge_id, "merge conflicted; planning again");
            back_off(attempt).await;
        }
        Err(MembersError::Conflict("merging members"))
    }

    async fn link_explicit(
        &self,
        a: (Platform, &str),
        b: (Platform, &str),
        by: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<MergeRecord, MembersError> {
        if by.trim().is_empty() {
            return Err(MembersError::Invalid(
                "say who links them: `by` is empty".to_owned(),
            ));
        }
        let (key_a, key_b) = (identity_key(a.0, a.1), identity_key(b.0, b.1));
        let member_a = self
            .member_of_identity(&key_a, now)
            .await?
            .ok_or_else(|| MembersError::UnknownIdentity(identity_ref(a.0, a.1)))?;
        let member_b = self
            .member_of_identity(&key_b, now)
            .await?
            .ok_or_else(|| MembersError::UnknownIdentity(identity_ref(b.0, b.1)))?;
        if member_a == member_b {
            return Err(MembersError::AlreadyOneMember {
                a: identity_ref(a.0, a.1),
                b: identity_ref(b.0, b.1),
                member_id: member_a,
            });
        }
        let why = if reason.trim().is_empty() {
            format!("linked by {by}")
        } else {
            reason.trim().to_owned()
        };
        let request = MergeRequest {
            rule: Rule::Explicit,
            why,
            by: by.trim().to_owned(),
            trigger: (key_a.clone(), key_b.clone()),
        };
        let record = self.merge(&member_a, &member_b, &request, now).await?;
        self.accept_suggestion(&key_a, &key_b, by, now).await?;
        Ok(record)
    }

    /// Marks an open suggestion for this pair accepted, if there is one.
    async fn accept_suggestion(
        &self,
        a: &str,
        b: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let suggestion_id = suggestion_id_of(a, b);
        match self
            .client
            .update_item()
            .table_name(self.table)
            .key("pk", s(suggestion_key(&suggestion_id)))
            .update_expression("SET #status = :accepted, resolvedBy = :by, resolvedAt = :at")
            .condition_expression("attribute_exists(pk) AND #status = :open")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":accepted", s("accepted"))
            .expression_attribute_values(":open", s("open"))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":at", s(rfc3339_utc(now)))
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(suggestion_id, "suggestion accepted by an explicit link");
                Ok(())
            }
            Err(e) if crate::is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }

    async fn unmerge(
        &self,
        merge_id: &str,
        by: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<MergeRecord, MembersError> {
        if by.trim().is_empty() {
            return Err(MembersError::Invalid(
                "say who undoes the merge: `by` is empty".to_owned(),
            ));
        }
        for _ in 0..ATTEMPTS {
            let item = self
                .get(&merge_key(merge_id), now)
                .await?
                .ok_or_else(|| MembersError::UnknownMerge(merge_id.to_owned()))?;
            let record = MergeRecord::from_item(&item);
            if !record.is_active() {
                return Err(MembersError::AlreadyUndone {
                    merge_id: merge_id.to_owned(),
                    by: record.undone_by.unwrap_or_default(),
                    at: record.undone_at.unwrap_or_default(),
                });
            }
            let survivor_item = self
                .get(&member_key(&record.survivor), now)
                .await?
                .ok_or_else(|| MembersError::UnknownMember(record.survivor.clone()))?;
            if let Some(into) = text(&survivor_item, "mergedInto") {
                return Err(MembersError::MergedSince {
                    member_id: record.survivor.clone(),
                    into,
                });
            }
            let (survivor, merged) = (record.survivor.as_str(), record.merged.as_str());
            let unmerge_id = unmerge_id_of(merge_id);
            let at = rfc3339_utc(now);
            let why = if reason.trim().is_empty() {
                format!("unmerged by {}", by.trim())
            } else {
                reason.trim().to_owned()
            };
            let mut items = Vec::new();
            for reference in &record.identities_moved {
                let key = ref_to_key(reference).ok_or_else(|| {
                    MembersError::Invalid(format!("merge {merge_id} lists a malformed identity"))
                })?;
                items.push(
                    self.update(
                        &key,
                        "SET memberId = :to",
                        Some("memberId = :from"),
                        Expr::default()
                            .value(":to", s(merged))
                            .value(":from", s(survivor)),
                    )?,
                );
            }
            let history = ss([unmerge_key(&unmerge_id)]);
            let mut expression = String::from(
                "ADD contributions :minus, #history :h, #version :one DELETE mergedMembers :merged",
            );
            let mut expr = Expr::default()
                .name("#history", "history")
                .name("#version", "version")
                .value(":minus", n(-record.contributions_moved))
                .value(":h", history.clone())
                .value(":one", n(1))
                .value(":merged", ss([merged.to_owned()]))
                .value(":m", s(merged));
            if !record.identities_moved.is_empty() {
                expression.push_str(", identities :ids");
                expr = expr.value(":ids", ss(record.identities_moved.iter().cloned()));
            }
            items.push(self.update(
                &member_key(survivor),
                &expression,
                Some("attribute_not_exists(mergedInto) AND contains(mergedMembers, :m)"),
                expr,
            )?);
            items.push(
                self.update(
                    &member_key(merged),
                    "REMOVE mergedInto, mergedAt ADD unmerges :one, #history :h, #version :one",
                    Some("mergedInto = :survivor"),
                    Expr::default()
                        .name("#history", "history")
                        .name("#version", "version")
                        .value(":one", n(1))
                        .value(":h", history)
                        .value(":survivor", s(survivor)),
                )?,
            );
            items.push(self.update(
                &merge_key(merge_id),
                "SET #status = :undone, undoneBy = :by, undoneAt = :at, undoReason = :why, unmergeId = :u",
                Some("#status = :active"),
                Expr::default()
                    .name("#status", "status")
                    .value(":undone", s(STATUS_UNDONE))
                    .value(":active", s(STATUS_ACTIVE))
                    .value(":by", s(by.trim()))
                    .value(":at", s(at.clone()))
                    .value(":why", s(why.clone()))
                    .value(":u", s(unmerge_id.clone())),
            )?);
            let mut unmerge_item = HashMap::from([
                ("pk".to_owned(), s(unmerge_key(&unmerge_id))),
                ("kind".to_owned(), s("unmerge")),
                ("unmergeId".to_owned(), s(unmerge_id.clone())),
                ("mergeId".to_owned(), s(merge_id)),
                ("survivor".to_owned(), s(survivor)),
                ("merged".to_owned(), s(merged)),
                (
                    "contributionsMoved".to_owned(),
                    n(record.contributions_moved),
                ),
                ("rule".to_owned(), s(record.rule.clone())),
                ("why".to_owned(), s(why.clone())),
                ("by".to_owned(), s(by.trim())),
                ("at".to_owned(), s(at.clone())),
            ]);
            if !record.identities_moved.is_empty() {
                unmerge_item.insert(
                    "identitiesMoved".to_owned(),
                    ss(record.identities_moved.iter().cloned()),
                );
            }
            items.push(self.put(unmerge_item, Some("attribute_not_exists(pk)"))?);
            // A person separated them: no rule merges them again.
            let mut pairs = vec![(member_key(survivor), member_key(merged))];
            if let Some(AttributeValue::L(trigger)) = item.get("trigger")
                && let [a, b] = trigger.as_slice()
                && let (Ok(a), Ok(b)) = (a.as_s(), b.as_s())
            {
                pairs.push((a.clone(), b.clone()));
            }
            for (a, b) in pairs {
                items.push(self.put(
                    HashMap::from([
                        ("pk".to_owned(), s(block_key(&a, &b))),
                        ("kind".to_owned(), s("block")),
                        ("mergeId".to_owned(), s(merge_id)),
                        ("rule".to_owned(), s(record.rule.clone())),
                        ("by".to_owned(), s(by.trim())),
                        ("at".to_owned(), s(at.clone())),
                    ]),
                    None,
                )?);
            }
            if self.transact(items).await? {
                tracing::info!(merge_id, unmerge_id, survivor, merged, "merge undone");
                return Ok(MergeRecord {
                    status: STATUS_UNDONE.to_owned(),
                    undone_by: Some(by.trim().to_owned()),
                    undone_at: Some(at),
                    undo_reason: Some(why),
                    ..record
                });
            }
            tracing::debug!(merge_id, "unmerge conflicted; reading again");
        }
        Err(MembersError::Conflict("undoing a merge"))
    }

    // -- reading ----------------------------------------------------------------

    async fn member_ids_of(
        &self,
        member_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<String>, AwsError> {
        let mut ids = vec![member_id.to_owned()];
        let mut queue = VecDeque::from([member_id.to_owned()]);
        while let Some(id) = queue.pop_front() {
            let Some(item) = self.get(&member_key(&id), now).await? else {
                continue;
            };
            for merged in strings(&item, "mergedMembers") {
                if !ids.contains(&merged) {
                    ids.push(merged.clone());
                    queue.push_back(merged);
                }
            }
        }
        Ok(ids)
    }

    async fn history(
        &self,
        member_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<HistoryRow>, MembersError> {
        if self.get(&member_key(member_id), now).await?.is_none() {
            return Err(MembersError::UnknownMember(member_id.to_owned()));
        }
        let mut keys = BTreeSet::new();
        for id in self.member_ids_of(member_id, now).await? {
            if let Some(item) = self.get(&member_key(&id), now).await? {
                keys.extend(strings(&item, "history"));
            }
        }
        let mut rows = Vec::new();
        for key in keys {
            let Some(item) = self.get(&key, now).await? else {
                continue;
            };
            let unmerge = text(&item, "kind").as_deref() == Some("unmerge");
            rows.push(HistoryRow {
                kind: if unmerge { "unmerge" } else { "merge" }.to_owned(),
                id: text(&item, if unmerge { "unmergeId" } else { "mergeId" }).unwrap_or_default(),
                merge_id: text(&item, "mergeId").unwrap_or_default(),
                survivor: text(&item, "survivor").unwrap_or_default(),
                merged: text(&item, "merged").unwrap_or_default(),
                identities_moved: strings(&item, "identitiesMoved").into_iter().collect(),
                contributions_moved: number(&item, "contributionsMoved"),
                rule: text(&item, "rule").unwrap_or_default(),
                why: text(&item, "why").unwrap_or_default(),
                by: text(&item, "by").unwrap_or_default(),
                at: text(&item, "at").unwrap_or_default(),
                status: if unmerge { None } else { text(&item, "status") },
            });
        }
        rows.sort_by(|a, b| {
            (a.at.as_str(), a.kind.as_str(), a.id.as_str()).cmp(&(
                b.at.as_str(),
                b.kind.as_str(),
                b.id.as_str(),
            ))
        });
        Ok(rows)
    }

    /// What scoring needs to know about a member (read after resolution).
    async fn facts(
        &self,
        member_id: &str,
        actor_is_bot: bool,
        now: OffsetDateTime,
    ) -> Result<ResolvedMember, AwsError> {
        let item = self
            .get(&member_key(member_id), now)
            .await?
            .unwrap_or_default();
        let first_seen_at = text(&item, "firstSeenAt")
            .and_then(|t| {
                OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
            })
            .unwrap_or(now);
        Ok(ResolvedMember {
            member_id: member_id.to_owned(),
            first_seen_at,
            contributions: u32::try_from(number(&item, "contributions").max(0)).unwrap_or(u32::MAX),
            is_bot: actor_is_bot || flag(&item, "isBot"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_refs_round_trip_to_keys() {
        assert_eq!(
            parse_identity_ref("github:12345"),
            Some((Platform::Github, "12345"))
        );
        assert_eq!(parse_identity_ref("github:"), None);
        assert_eq!(parse_identity_ref("myspace:1"), None);
        assert_eq!(
            ref_to_key("slack:U1:x").as_deref(),
            Some("IDENTITY#slack#U1:x")
        );
        assert_eq!(key_to_ref("IDENTITY#slack#U1:x"), "slack:U1:x");
    }

    #[test]
    fn ids_are_stable_and_pairs_unordered() {
        assert_eq!(block_key("b", "a"), block_key("a", "b"));
        assert_eq!(suggestion_id_of("x", "y"), suggestion_id_of("y", "x"));
        assert_eq!(merge_id_of("s", "m", 0), merge_id_of("s", "m", 0));
        assert_ne!(merge_id_of("s", "m", 0), merge_id_of("s", "m", 1));
        assert_ne!(merge_id_of("s", "m", 0), merge_id_of("m", "s", 0));
        assert_eq!(merge_id_of("s", "m", 0).len(), 32);
    }

    #[test]
    fn conflicts_are_retryable_and_rejections_are_not() {
        assert!(MembersError::Conflict("merging members").is_retryable());
        assert!(AwsError::from(MembersError::Conflict("x")).is_retryable());
        let undone = MembersError::AlreadyUndone {
            merge_id: "m".into(),
            by: "kim".into(),
            at: "t".into(),
        };
        assert!(!undone.is_retryable());
        assert!(!AwsError::from(undone).is_retryable());
    }
}
