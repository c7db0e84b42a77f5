//! Members and their platform identities in one table:
//! `pk = IDENTITY#<platform>#<platformUserId>` → `memberId`, and
//! `pk = MEMBER#<memberId>` → the member's profile and contribution counters.
//!
//! A first-seen identity gets a deterministic member id (UUID v5 of the
//! identity), and both items are created in one transaction guarded by
//! `attribute_not_exists`, so two concurrent first sightings agree.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use canonical_event::{Actor, IdentityHints, Platform, rfc3339_utc};
use time::OffsetDateTime;

use crate::AwsError;
use crate::ports::{IdentityStore, ResolvedMember};

pub fn identity_key(platform: Platform, platform_user_id: &str) -> String {
    format!("IDENTITY#{platform}#{platform_user_id}")
}

pub fn member_key(member_id: &str) -> String {
    format!("MEMBER#{member_id}")
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

#[derive(Debug, Clone)]
pub struct DynamoMembers {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Handles the deployer marks as bots (lowercase).
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

    /// Marks these handles (any platform, case-insensitive) as bots.
    pub fn with_bot_handles(mut self, handles: Vec<String>) -> DynamoMembers {
        self.bot_handles = handles
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        self
    }

    fn configured_bot(&self, actor: &Actor) -> bool {
        let handle = actor.handle.to_ascii_lowercase();
        handle.ends_with("[bot]") || self.bot_handles.contains(&handle)
    }

    async fn lookup(&self, key: &str, now: OffsetDateTime) -> Result<Option<String>, AwsError> {
        let item = crate::get_live_item(&self.client, &self.table, "pk", key, now).await?;
        Ok(item.and_then(|item| item.get("memberId").and_then(|v| v.as_s().ok()).cloned()))
    }

    fn put(&self, item: HashMap<String, AttributeValue>) -> Result<TransactWriteItem, AwsError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| AwsError::permanent("TransactWriteItems", "Build", e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[async_trait]
impl IdentityStore for DynamoMembers {
    async fn resolve(
        &self,
        platform: Platform,
        actor: &Actor,
        _hints: &IdentityHints,
        now: OffsetDateTime,
    ) -> Result<ResolvedMember, AwsError> {
        let member_id = self.member_of(platform, actor, now).await?;
        self.facts(&member_id, actor.is_bot || self.configured_bot(actor), now)
            .await
    }
}

impl DynamoMembers {
    /// What scoring needs to know about a member (read after resolution).
    async fn facts(
        &self,
        member_id: &str,
        actor_is_bot: bool,
        now: OffsetDateTime,
    ) -> Result<ResolvedMember, AwsError> {
        let item =
            crate::get_live_item(&self.client, &self.table, "pk", &member_key(member_id), now)
                .await?
                .unwrap_or_default();
        let first_seen_at = item
            .get("firstSeenAt")
            .and_then(|v| v.as_s().ok())
            .and_then(|t| {
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .unwrap_or(now);
        Ok(ResolvedMember {
            member_id: member_id.to_owned(),
            first_seen_at,
            contributions: item
                .get("contributions")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            is_bot: actor_is_bot
                || item
                    .get("isBot")
                    .and_then(|v| v.as_bool().ok())
                    .copied()
                    .unwrap_or(false),
        })
    }

    async fn member_of(
        &self,
        platform: Platform,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<String, AwsError> {
        let identity = identity_key(platform, &actor.platform_user_id);
        if let Some(member_id) = self.lookup(&identity, now).await? {
            return Ok(member_id);
        }
        let member_id = first_member_id(platform, &actor.platform_user_id);
        let seen = rfc3339_utc(now);
        let identity_item = HashMap::from([
            ("pk".to_owned(), s(identity.clone())),
            ("kind".to_owned(), s("identity")),
            ("memberId".to_owned(), s(member_id.clone())),
            ("platform".to_owned(), s(platform.as_str())),
            (
                "platformUserId".to_owned(),
                s(actor.platform_user_id.clone()),
            ),
            ("handle".to_owned(), s(actor.handle.clone())),
            ("firstSeenAt".to_owned(), s(seen.clone())),
        ]);
        let mut member_item = HashMap::from([
            ("pk".to_owned(), s(member_key(&member_id))),
            ("kind".to_owned(), s("member")),
            ("memberId".to_owned(), s(member_id.clone())),
            ("handle".to_owned(), s(actor.handle.clone())),
            ("isBot".to_owned(), AttributeValue::Bool(actor.is_bot)),
            (
                "identities".to_owned(),
                AttributeValue::Ss(vec![format!("{platform}:{}", actor.platform_user_id)]),
            ),
            ("firstSeenAt".to_owned(), s(seen)),
        ]);
        if let Some(name) = &actor.display_name {
            member_item.insert("displayName".to_owned(), s(name.clone()));
        }
        // A few attempts: a cancelled transaction means someone else wrote one
        // of the two items meanwhile, and the next lookup usually settles it.
        for _ in 0..3 {
            let member_exists = crate::get_live_item(
                &self.client,
                &self.table,
                "pk",
                &member_key(&member_id),
                now,
            )
            .await?
            .is_some();
            let mut transaction = self
                .client
                .transact_write_items()
                .transact_items(self.put(identity_item.clone())?);
            if !member_exists {
                transaction = transaction.transact_items(self.put(member_item.clone())?);
            }
            match transaction.send().await {
                Ok(_) => {
                    tracing::info!(
                        member_id,
                        platform = platform.as_str(),
                        linked_to_existing = member_exists,
                        "identity resolved"
                    );
                    return Ok(member_id);
                }
                Err(e) if crate::events::was_cancelled(&e) => {
                    if let Some(existing) = self.lookup(&identity, now).await? {
                        return Ok(existing);
                    }
                }
                Err(e) => return Err(AwsError::from_sdk("TransactWriteItems", e)),
            }
        }
        Err(AwsError::retryable(
            "TransactWriteItems",
            "IdentityRace",
            "identity creation kept conflicting",
        ))
    }
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
}

/// All members (not identities), most contributions first.
pub async fn list(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Vec<MemberRow>, AwsError> {
    let mut rows = Vec::new();
    for item in crate::scan_all(client, table, Some("MEMBER#")).await? {
        let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        rows.push(MemberRow {
            member_id: text("memberId").unwrap_or_default(),
            handle: text("handle").unwrap_or_default(),
            identities: item
                .get("identities")
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default(),
            is_bot: item
                .get("isBot")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            contributions: item
                .get("contributions")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            first_seen_at: text("firstSeenAt").unwrap_or_default(),
            last_contribution_at: text("lastContributionAt"),
        });
    }
    rows.sort_by(|a, b| {
        b.contributions
            .cmp(&a.contributions)
            .then(a.handle.cmp(&b.handle))
    });
    Ok(rows)
}
