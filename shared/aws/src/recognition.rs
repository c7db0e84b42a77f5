//! Recognition posts, at most once per event and at most one per member per
//! cooldown, recorded on the member (members table).
//!
//! | `pk`                      | what                                          |
//! |---------------------------|-----------------------------------------------|
//! | `RECOGNITION#<eventId>`   | `memberId`, `status` posting / posted / retry / cooldown, `at` |
//! | `MEMBER#<memberId>`       | `recognitions` (count), `lastRecognizedAt`    |
//!
//! The claim (the RECOGNITION# item and the member's cooldown stamp) is one
//! transaction written *before* the post. A claim found `posting` means a
//! post may have landed (a crash in between): it is not posted again.
//! `retry` means Slack said no for now, so posting again cannot duplicate.
//!
//! Lifecycle milestones are recognised from a `pending` claim (with the
//! post's text) written in the very transaction that records them, and the
//! member keeps their ids in `pendingRecognitions` until each is settled: a
//! retry after a crash or a Slack 429 finds them there, even though the
//! milestone itself is never derived twice.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use canonical_event::rfc3339_utc;
use time::OffsetDateTime;

use crate::AwsError;
use crate::events::condition_failed_at;
use crate::members::member_key;

/// What a claim decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Post now.
    Post,
    /// Posted (or maybe posted) before: never again.
    Done,
    /// The member was recognised within the cooldown: recorded, not posted.
    Cooldown,
}

#[async_trait]
pub trait Recognitions: Send + Sync {
    async fn claim(
        &self,
        member_id: &str,
        event_id: &str,
        cooldown: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Claim, AwsError>;
    /// The post landed.
    async fn posted(&self, event_id: &str, now: OffsetDateTime) -> Result<(), AwsError>;
    /// The post surely did not land (Slack answered 429/5xx): a retry may
    /// post.
    async fn not_posted(&self, event_id: &str, now: OffsetDateTime) -> Result<(), AwsError>;
    /// The text a `pending` milestone claim was written with.
    async fn pending_text(&self, event_id: &str) -> Result<Option<String>, AwsError>;
    /// The member no longer waits for this recognition (posted, held by
    /// the cooldown, or given up).
    async fn settled(&self, member_id: &str, event_id: &str) -> Result<(), AwsError>;
}

/// The `pending` claim of a milestone, written with it (lifecycle.rs).
pub fn pending_claim(
    members_table: &str,
    milestone: &canonical_event::CanonicalEvent,
    now: OffsetDateTime,
) -> Result<TransactWriteItem, AwsError> {
    let put = Put::builder()
        .table_name(members_table)
        .item(
            "pk",
            AttributeValue::S(recognition_key(&milestone.event_id.to_string())),
        )
        .item("memberId", AttributeValue::S(milestone.user_id.clone()))
        .item("status", AttributeValue::S("pending".to_owned()))
        .item("text", AttributeValue::S(recognition_text(milestone)))
        .item("at", AttributeValue::S(rfc3339_utc(now)))
        .build()
        .map_err(crate::build_error)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// The recognition post: who, for what, and a link. No emails, no payload.
pub fn recognition_text(event: &canonical_event::CanonicalEvent) -> String {
    use canonical_event::EventType;
    let who = &event.actor.handle;
    let link = event
        .source
        .url
        .as_deref()
        .map(|u| format!(" {u}"))
        .unwrap_or_default();
    let title = event.content.title.as_deref().unwrap_or("");
    match event.event_type {
        EventType::FirstContribution => {
            format!(":tada: {who} made their first contribution to the community!{link}")
        }
        EventType::StageChanged => {
            let stage = event
                .content
                .labels
                .iter()
                .find_map(|l| l.strip_prefix("stage:"))
                .unwrap_or("regular");
            format!(":star: {who} is now a community {stage}. Thank you!")
        }
        _ => format!(
            ":raised_hands: Thanks {who} for {}: {title}{link}",
            event.event_type.as_str().replace('_', " ")
        ),
    }
}

pub fn recognition_key(event_id: &str) -> String {
    format!("RECOGNITION#{event_id}")
}

#[derive(Debug, Clone)]
pub struct DynamoRecognitions {
    client: aws_sdk_dynamodb::Client,
    members_table: String,
}

impl DynamoRecognitions {
    pub fn new(client: aws_sdk_dynamodb::Client, members_table: &str) -> Self {
        DynamoRecognitions {
            client,
            members_table: members_table.to_owned(),
        }
    }

    /// One attribute of an event's claim, if the claim exists.
    async fn claim_attribute(
        &self,
        event_id: &str,
        name: &str,
    ) -> Result<Option<String>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.members_table)
            .key("pk", AttributeValue::S(recognition_key(event_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetItem", e))?;
        Ok(output
            .item
            .and_then(|i| i.get(name).and_then(|v| v.as_s().ok()).cloned()))
    }

    async fn set_status(
        &self,
        event_id: &str,
        from: &str,
        to: &str,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.members_table)
            .key("pk", AttributeValue::S(recognition_key(event_id)))
            .update_expression("SET #s = :to, #at = :at")
            .condition_expression("#s = :from")
            .expression_attribute_names("#s", "status")
            .expression_attribute_names("#at", "at")
            .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
            .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
            .expression_attribute_values(":at", AttributeValue::S(rfc3339_utc(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if crate::is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("UpdateItem", e)),
        }
    }
}

#[async_trait]
impl Recognitions for DynamoRecognitions {
    async fn claim(
        &self,
        member_id: &str,
        event_id: &str,
        cooldown: time::Duration,
        now: OffsetDateTime,
    ) -> Result<Claim, AwsError> {
        let status = self.claim_attribute(event_id, "status").await?;
        match status.as_deref() {
            None | Some("pending") => {}
            // Slack refused before: this record is the retry.
            Some("retry") => {
                return Ok(
                    if self.set_status(event_id, "retry", "posting", now).await? {
                        Claim::Post
                    } else {
                        Claim::Done
                    },
                );
            }
            Some("cooldown") => return Ok(Claim::Cooldown),
            Some(_) => return Ok(Claim::Done),
        }
        let at = AttributeValue::S(rfc3339_utc(now));
        // New, or a milestone's pending claim (keeping its text).
        let record = |status: &str| {
            Update::builder()
                .table_name(&self.members_table)
                .key("pk", AttributeValue::S(recognition_key(event_id)))
                .update_expression("SET memberId = :member, #s = :status, #at = :at")
                .condition_expression("attribute_not_exists(pk) OR #s = :pending")
                .expression_attribute_names("#s", "status")
                .expression_attribute_names("#at", "at")
                .expression_attribute_values(":member", AttributeValue::S(member_id.to_owned()))
                .expression_attribute_values(":status", AttributeValue::S(status.to_owned()))
                .expression_attribute_values(":pending", AttributeValue::S("pending".to_owned()))
                .expression_attribute_values(":at", at.clone())
                .build()
                .map_err(crate::build_error)
        };
        let stamp = Update::builder()
            .table_name(&self.members_table)
            .key("pk", AttributeValue::S(member_key(member_id)))
            .update_expression("SET lastRecognizedAt = :at ADD recognitions :one")
            .condition_expression(
                "attribute_not_exists(lastRecognizedAt) OR lastRecognizedAt < :cutoff",
            )
            .expression_attribute_values(":at", at.clone())
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cutoff", AttributeValue::S(rfc3339_utc(now - cooldown)))
            .build()
            .map_err(crate::build_error)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(record("posting")?)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().update(stamp).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Post),
            Err(e) if condition_failed_at(&e, 0) => Ok(Claim::Done),
            Err(e) if condition_failed_at(&e, 1) => {
                let skipped = self
                    .client
                    .transact_write_items()
                    .transact_items(
                        TransactWriteItem::builder()
                            .update(record("cooldown")?)
                            .build(),
                    )
                    .send()
                    .await;
                match skipped {
                    Ok(_) => Ok(Claim::Cooldown),
                    Err(e) if condition_failed_at(&e, 0) => Ok(Claim::Done),
                    Err(e) => Err(AwsError::from_sdk("TransactWriteItems", e)),
                }
            }
            Err(e) => Err(AwsError::from_sdk("TransactWriteItems", e)),
        }
    }

    async fn posted(&self, event_id: &str, now: OffsetDateTime) -> Result<(), AwsError> {
        self.set_status(event_id, "posting", "posted", now).await?;
        Ok(())
    }

    async fn not_posted(&self, event_id: &str, now: OffsetDateTime) -> Result<(), AwsError> {
        self.set_status(event_id, "posting", "retry", now).await?;
        Ok(())
    }

    async fn pending_text(&self, event_id: &str) -> Result<Option<String>, AwsError> {
        self.claim_attribute(event_id, "text").await
    }

    async fn settled(&self, member_id: &str, event_id: &str) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.members_table)
            .key("pk", AttributeValue::S(member_key(member_id)))
            .update_expression("DELETE pendingRecognitions :id")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":id", AttributeValue::Ss(vec![event_id.to_owned()]))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateItem", e))?;
        Ok(())
    }
}
