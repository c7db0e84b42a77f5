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

    async fn status(&self, event_id: &str) -> Result<Option<String>, AwsError> {
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
            .and_then(|i| i.get("status").and_then(|v| v.as_s().ok()).cloned()))
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
        match self.status(event_id).await?.as_deref() {
            None => {}
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
        let record = |status: &str| {
            Put::builder()
                .table_name(&self.members_table)
                .item("pk", AttributeValue::S(recognition_key(event_id)))
                .item("memberId", AttributeValue::S(member_id.to_owned()))
                .item("status", AttributeValue::S(status.to_owned()))
                .item("at", at.clone())
                .condition_expression("attribute_not_exists(pk)")
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
            .transact_items(TransactWriteItem::builder().put(record("posting")?).build())
            .transact_items(TransactWriteItem::builder().update(stamp).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Post),
            Err(e) if condition_failed_at(&e, 0) => Ok(Claim::Done),
            Err(e) if condition_failed_at(&e, 1) => {
                let skipped = self
                    .client
                    .put_item()
                    .table_name(&self.members_table)
                    .item("pk", AttributeValue::S(recognition_key(event_id)))
                    .item("memberId", AttributeValue::S(member_id.to_owned()))
                    .item("status", AttributeValue::S("cooldown".to_owned()))
                    .item("at", at)
                    .condition_expression("attribute_not_exists(pk)")
                    .send()
                    .await;
                match skipped {
                    Ok(_) => Ok(Claim::Cooldown),
                    Err(e) if crate::is_conditional_failure(&e) => Ok(Claim::Done),
                    Err(e) => Err(AwsError::from_sdk("PutItem", e)),
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
}
