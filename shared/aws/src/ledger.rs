//! The idempotency ledger: one item per event id, claimed with a conditional
//! put before anything is emitted. It outlives SQS's 5-minute FIFO dedup
//! window (TTL in days) so late redeliveries are caught too.
//!
//! Item: `eventId`, `status` (`pending` | `emitted` | `dropped`), `claimedAt`,
//! `expiresAt` (TTL, epoch seconds). DynamoDB deletes expired items lazily
//! (and the emulator never does), so an expired item counts as absent.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use canonical_event::{EventId, day_of, rfc3339_utc};
use time::{Duration, OffsetDateTime};

use crate::AwsError;
use crate::counters::{add_expression, day_key, names};
use crate::ports::{Claim, EventLedger};

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    counters_table: String,
    ttl: Duration,
}

impl DynamoLedger {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        counters_table: impl Into<String>,
        ttl_days: u32,
    ) -> DynamoLedger {
        DynamoLedger {
            client,
            table: table.into(),
            counters_table: counters_table.into(),
            ttl: Duration::days(i64::from(ttl_days)),
        }
    }

    fn item(
        &self,
        id: &EventId,
        status: &str,
        now: OffsetDateTime,
    ) -> std::collections::HashMap<String, AttributeValue> {
        std::collections::HashMap::from([
            ("eventId".to_owned(), AttributeValue::S(id.to_string())),
            ("status".to_owned(), AttributeValue::S(status.to_owned())),
            ("claimedAt".to_owned(), AttributeValue::S(rfc3339_utc(now))),
            (
                "expiresAt".to_owned(),
                AttributeValue::N((now + self.ttl).unix_timestamp().to_string()),
            ),
        ])
    }

    async fn status(&self, id: &EventId, now: OffsetDateTime) -> Result<Option<String>, AwsError> {
        let item = crate::get_live_item(&self.client, &self.table, "eventId", &id.to_string(), now)
            .await?;
        Ok(item.and_then(|item| item.get("status").and_then(|v| v.as_s().ok()).cloned()))
    }
}

/// Claimable: absent, or present but past its TTL.
const CLAIMABLE: &str = "attribute_not_exists(eventId) OR expiresAt <= :now";

#[async_trait]
impl EventLedger for DynamoLedger {
    async fn claim(&self, id: &EventId, now: OffsetDateTime) -> Result<Claim, AwsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(id, "pending", now)))
            .condition_expression(CLAIMABLE)
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.unix_timestamp().to_string()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::New),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                match self.status(id, now).await?.as_deref() {
                    Some("pending") => Ok(Claim::Unfinished),
                    Some(_) => Ok(Claim::Done),
                    // Expired between the put and the read: claim again next delivery.
                    None => Ok(Claim::Unfinished),
                }
            }
            Err(e) => Err(AwsError::from_sdk("PutItem", e)),
        }
    }

    async fn mark_emitted(&self, id: &EventId, now: OffsetDateTime) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(id, "emitted", now)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("PutItem", e))?;
        Ok(())
    }

    async fn record_drop(
        &self,
        id: &EventId,
        rule: &str,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        let mut item = self.item(id, "dropped", now);
        item.insert("dropRule".to_owned(), AttributeValue::S(rule.to_owned()));
        item.insert(
            "platformEvent".to_owned(),
            AttributeValue::S(name.chars().take(128).collect()),
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(CLAIMABLE)
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.unix_timestamp().to_string()),
            )
            .build()
            .map_err(|e| AwsError::permanent("TransactWriteItems", "Build", e.to_string()))?;
        let (expression, counter_names) =
            add_expression(&[names::DROPPED.to_owned(), names::dropped_by(rule)]);
        let mut update = Update::builder()
            .table_name(&self.counters_table)
            .key("pk", AttributeValue::S(day_key(&day_of(now))))
            .update_expression(expression)
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        for (placeholder, counter) in counter_names {
            update = update.expression_attribute_names(placeholder, counter);
        }
        let update = update
            .build()
            .map_err(|e| AwsError::permanent("TransactWriteItems", "Build", e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if crate::events::condition_failed_at(&e, 0) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("TransactWriteItems", e)),
        }
    }
}
