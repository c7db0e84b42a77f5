//! normalize's short-term memory, in the counters table:
//! `THREAD#<platform>#<container>#<thread>` → the category a thread opened
//! with (so a reply inside a bug thread is read as part of the report), and
//! `REPEAT#<memberId>#<fingerprint>` → the distinct events in which a member
//! posted the same text within the window (a spam cue).
//!
//! Both expire (`expiresAt`); DynamoDB removes expired items only eventually
//! (the emulator never), so reads treat an expired item as absent.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use canonical_event::{Category, EventId};
use time::OffsetDateTime;

use crate::ports::SignalMemory;
use crate::{AwsError, EXPIRES_AT};

/// Past this many, a repeat count stops growing: the verdict is the same and
/// the item stays small.
pub const REPEAT_CAP: u32 = 50;

pub fn thread_key(platform: &str, container: &str, thread: &str) -> String {
    format!("THREAD#{platform}#{container}#{thread}")
}

#[derive(Debug, Clone)]
pub struct DynamoSignalMemory {
    client: aws_sdk_dynamodb::Client,
    table: String,
    thread_ttl: time::Duration,
    repeat_window: time::Duration,
}

impl DynamoSignalMemory {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        thread_ttl_days: u32,
        repeat_window_hours: u32,
    ) -> DynamoSignalMemory {
        DynamoSignalMemory {
            client,
            table: table.into(),
            thread_ttl: time::Duration::days(i64::from(thread_ttl_days)),
            repeat_window: time::Duration::hours(i64::from(repeat_window_hours)),
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[async_trait]
impl SignalMemory for DynamoSignalMemory {
    async fn thread_category(
        &self,
        thread_key: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Category>, AwsError> {
        let item = crate::get_live_item(&self.client, &self.table, "pk", thread_key, now).await?;
        Ok(item
            .and_then(|item| item.get("category").and_then(|v| v.as_s().ok()).cloned())
            .and_then(|name| Category::parse(&name)))
    }

    async fn remember_thread(
        &self,
        thread_key: &str,
        category: Category,
        now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(thread_key))
            .item("category", s(category.as_str()))
            .item(EXPIRES_AT, n((now + self.thread_ttl).unix_timestamp()))
            // The opener's category stands; an expired memory may be replaced.
            .condition_expression("attribute_not_exists(pk) OR #exp <= :now")
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if crate::is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(AwsError::from_sdk("PutItem", e)),
        }
    }

    async fn count_repeat(
        &self,
        member_id: &str,
        text_fingerprint: &str,
        event_id: &EventId,
        now: OffsetDateTime,
    ) -> Result<u32, AwsError> {
        let key = format!("REPEAT#{member_id}#{text_fingerprint}");
        let expires = (now + self.repeat_window).unix_timestamp();
        // A live window counts this event (the window runs from the first
        // post, it is not extended); an expired or missing one starts over
        // with it. The condition keeps the two apart even when the emulator
        // (or DynamoDB's lag) still holds an expired item.
        let live = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .update_expression("ADD eventIds :id")
            .condition_expression(
                "#exp > :now AND (size(eventIds) < :cap OR contains(eventIds, :one))",
            )
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":id", AttributeValue::Ss(vec![event_id.to_string()]))
            .expression_attribute_values(":one", s(event_id.to_string()))
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .expression_attribute_values(":cap", n(i64::from(REPEAT_CAP)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match live {
            Ok(output) => {
                return Ok(output
                    .attributes
                    .and_then(|a| a.get("eventIds").and_then(|v| v.as_ss().ok()).map(Vec::len))
                    .map_or(1, |len| u32::try_from(len).unwrap_or(REPEAT_CAP)));
            }
            Err(e) if crate::is_conditional_failure(&e) => {}
            Err(e) => return Err(AwsError::from_sdk("UpdateItem", e)),
        }
        // Missing, expired, or at the cap.
        let item = crate::get_live_item(&self.client, &self.table, "pk", &key, now).await?;
        if item.is_some() {
            return Ok(REPEAT_CAP);
        }
        let fresh = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(&key))
            .item("eventIds", AttributeValue::Ss(vec![event_id.to_string()]))
            .item(EXPIRES_AT, n(expires))
            .condition_expression("attribute_not_exists(pk) OR #exp <= :now")
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":now", n(now.unix_timestamp()))
            .send()
            .await;
        match fresh {
            Ok(_) => Ok(1),
            // Someone started the window meanwhile: count into it.
            Err(e) if crate::is_conditional_failure(&e) => {
                Box::pin(self.count_repeat(member_id, text_fingerprint, event_id, now)).await
            }
            Err(e) => Err(AwsError::from_sdk("PutItem", e)),
        }
    }
}
