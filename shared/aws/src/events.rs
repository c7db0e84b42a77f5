//! The events table: the hot time series of canonical events.
//!
//! Item = the canonical event's own attributes (via serde_dynamo, so `userId`
//! and `eventType` are top-level and indexable) plus `day` (`YYYY-MM-DD`),
//! `sortKey` (`<timestamp>#<eventId>`, sortable) and `expiresAt` (TTL).
//! Indexes: `byMember` (userId, sortKey), `byType` (eventType, sortKey),
//! `byDay` (day, sortKey). Reads skip items past `expiresAt` because DynamoDB
//! deletes them only eventually.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use canonical_event::EventType;
use canonical_event::{CanonicalEvent, RoutingTarget, day_of, rfc3339_utc};
use time::{Duration, OffsetDateTime};

use crate::AwsError;
use crate::counters::{day_key, names};
use crate::members::member_key;
use crate::ports::{EventStore, Recorded};

/// Where route's side effects go.
#[derive(Debug, Clone)]
pub struct RouteTables {
    pub events: String,
    pub counters: String,
    pub outbox: String,
    pub members: String,
    pub reviews: String,
}

#[derive(Debug, Clone)]
pub struct DynamoEventStore {
    client: aws_sdk_dynamodb::Client,
    tables: RouteTables,
    retention: Duration,
}

impl DynamoEventStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        tables: RouteTables,
        retention_days: u32,
    ) -> DynamoEventStore {
        DynamoEventStore {
            client,
            tables,
            retention: Duration::days(i64::from(retention_days)),
        }
    }
}

pub fn sort_key(event: &CanonicalEvent) -> String {
    format!("{}#{}", rfc3339_utc(event.timestamp), event.event_id)
}

/// The event's item, with the index and TTL attributes.
pub fn event_item(
    event: &CanonicalEvent,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<HashMap<String, AttributeValue>, AwsError> {
    let mut item: HashMap<String, AttributeValue> = serde_dynamo::to_item(event)
        .map_err(|e| AwsError::permanent("PutItem", "Serialize", e.to_string()))?;
    item.insert("day".to_owned(), AttributeValue::S(event.day()));
    item.insert("sortKey".to_owned(), AttributeValue::S(sort_key(event)));
    item.insert(
        "expiresAt".to_owned(),
        AttributeValue::N(expires_at.unix_timestamp().to_string()),
    );
    item.insert("storedAt".to_owned(), AttributeValue::S(rfc3339_utc(now)));
    Ok(item)
}

/// Reads an item back into the canonical event (dropping storage-only attributes).
pub fn event_from_item(
    mut item: HashMap<String, AttributeValue>,
) -> Result<CanonicalEvent, AwsError> {
    for storage_only in ["day", "sortKey", "expiresAt", "storedAt"] {
        item.remove(storage_only);
    }
    serde_dynamo::from_item(item)
        .map_err(|e| AwsError::permanent("Query", "Deserialize", e.to_string()))
}

/// Whether a TransactWriteItems failure was the condition of item `index`.
pub fn condition_failed_at<R>(error: &SdkError<TransactWriteItemsError, R>, index: usize) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .get(index)
            .and_then(|r| r.code())
            .is_some_and(|c| c == "ConditionalCheckFailed"),
        _ => false,
    }
}

/// Whether a transaction lost to a concurrent write (no condition failed):
/// worth trying again at once.
pub fn conflicted<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            let codes: Vec<&str> = e
                .cancellation_reasons()
                .iter()
                .filter_map(|r| r.code())
                .collect();
            codes.contains(&"TransactionConflict") && !codes.contains(&"ConditionalCheckFailed")
        }
        Some(TransactWriteItemsError::TransactionInProgressException(_)) => true,
        _ => false,
    }
}

/// Whether a transaction was cancelled by a condition or a conflicting
/// concurrent write (as opposed to failing for another reason).
pub fn was_cancelled<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        _ => false,
    }
}

/// `ADD 1` to each named counter of one day's counters item.
pub fn bump_counters(
    table: &str,
    day: &str,
    counters: &[String],
) -> Result<TransactWriteItem, AwsError> {
    let amounts = counters.iter().map(|c| (c.clone(), 1)).collect();
    bump_counters_by(table, day, &amounts)
}

/// `ADD n` to each named counter of one day's counters item (names must be
/// distinct: one update cannot name an attribute twice).
pub fn bump_counters_by(
    table: &str,
    day: &str,
    amounts: &std::collections::BTreeMap<String, usize>,
) -> Result<TransactWriteItem, AwsError> {
    let mut parts = Vec::with_capacity(amounts.len());
    let mut bump = Update::builder()
        .table_name(table)
        .key("pk", AttributeValue::S(day_key(day)));
    for (i, (counter, amount)) in amounts.iter().enumerate() {
        parts.push(format!("#c{i} :c{i}"));
        bump = bump
            .expression_attribute_names(format!("#c{i}"), counter)
            .expression_attribute_values(format!(":c{i}"), AttributeValue::N(amount.to_string()));
    }
    let bump = bump
        .update_expression(format!("ADD {}", parts.join(", ")))
        .build()
        .map_err(crate::build_error)?;
    Ok(TransactWriteItem::builder().update(bump).build())
}

/// The bookkeeping of sending `event` to `target`, as transaction items:
/// product-backlog → a ticket request in the outbox (first item, so a
/// cancellation can be told apart); recognition → the member's contribution
/// counters; review → a pending review item. With `activity`, a community
/// member's activity for the lifecycle is counted on the member in the same
/// update (once per event, because the transaction is guarded by the event).
pub fn target_items(
    tables: &RouteTables,
    event: &CanonicalEvent,
    target: RoutingTarget,
    activity: bool,
    now: OffsetDateTime,
) -> Result<Vec<TransactWriteItem>, AwsError> {
    let mut items = Vec::new();
    match target {
        // A closed issue is a resolution signal, never a new request.
        RoutingTarget::ProductBacklog if event.event_type == EventType::IssueClosed => {}
        RoutingTarget::ProductBacklog => {
            let put_ticket = Put::builder()
                .table_name(&tables.outbox)
                .set_item(Some(crate::outbox::ticket_request(event, now)))
                .condition_expression("attribute_not_exists(eventId)")
                .build()
                .map_err(crate::build_error)?;
            items.push(TransactWriteItem::builder().put(put_ticket).build());
        }
        RoutingTarget::Review => {
            let put_review = Put::builder()
                .table_name(&tables.reviews)
                .set_item(Some(crate::reviews::review_item(event, now)?))
                .condition_expression("attribute_not_exists(eventId)")
                .build()
                .map_err(crate::build_error)?;
            items.push(TransactWriteItem::builder().put(put_review).build());
        }
        RoutingTarget::Analytics | RoutingTarget::Recognition => {}
    }
    let contribution = target == RoutingTarget::Recognition && !event.event_type.is_derived();
    let counts_activity = activity && !event.actor.is_bot && !event.event_type.is_derived();
    if contribution || counts_activity {
        let mut sets = vec!["memberId = :member"];
        let mut adds = Vec::new();
        let mut update = Update::builder()
            .table_name(&tables.members)
            .key("pk", AttributeValue::S(member_key(&event.user_id)))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":member", AttributeValue::S(event.user_id.clone()));
        if contribution {
            adds.push("contributions :one");
            adds.push("#byType :one");
            sets.push("lastContributionAt = :at");
            update = update
                .expression_attribute_names(
                    "#byType",
                    format!("contributions:{}", event.event_type),
                )
                .expression_attribute_values(
                    ":at",
                    AttributeValue::S(rfc3339_utc(event.timestamp)),
                );
        }
        if counts_activity {
            adds.push("#activity :one");
            adds.push("activityVersion :one");
            update = update.expression_attribute_names(
                "#activity",
                crate::lifecycle::activity_attribute(&event.day(), event.event_type),
            );
        }
        let update = update
            .update_expression(format!("ADD {} SET {}", adds.join(", "), sets.join(", ")))
            .build()
            .map_err(crate::build_error)?;
        items.push(TransactWriteItem::builder().update(update).build());
    }
    Ok(items)
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn record(
        &self,
        event: &CanonicalEvent,
        now: OffsetDateTime,
    ) -> Result<Recorded, AwsError> {
        // Hot retention counts from arrival, so a late-arriving old event is
        // still kept for the full window.
        let expires_at = event.received_at.max(now) + self.retention;
        let put_event = Put::builder()
            .table_name(&self.tables.events)
            .set_item(Some(event_item(event, expires_at, now)?))
            .condition_expression("attribute_not_exists(eventId) OR expiresAt <= :now")
            .expression_attribute_values(
                ":now",
                AttributeValue::N(now.unix_timestamp().to_string()),
            )
            .build()
            .map_err(crate::build_error)?;

        // Community metrics count people: lifecycle milestones (conclusions
        // about members) and bots (kept for audit) are counted apart, so they
        // never inflate them.
        let counters = if event.event_type.is_derived() {
            vec![
                names::MILESTONES.to_owned(),
                names::event_type(event.event_type.as_str()),
            ]
        } else if event.actor.is_bot {
            vec![
                names::bots(),
                format!("bots:{}", names::event_type(event.event_type.as_str())),
            ]
        } else {
            let mut counters = vec![
                names::EVENTS.to_owned(),
                names::target(event.routing_target.as_str()),
                names::event_type(event.event_type.as_str()),
                names::signal(event.signal.as_str()),
                names::platform(event.platform.as_str()),
            ];
            if let Some(classification) = &event.classification {
                counters.push(names::category(classification.category.as_str()));
            }
            for flag in event.moderation.iter().flat_map(|m| &m.flags) {
                counters.push(names::flag(flag.kind.as_str()));
            }
            counters
        };
        let mut items = vec![
            TransactWriteItem::builder().put(put_event).build(),
            bump_counters(&self.tables.counters, &event.day(), &counters)?,
        ];
        // The target's first item (outbox ticket or review) may already
        // exist when an event that expired from the hot table comes back.
        let target_item_at = match event.routing_target {
            RoutingTarget::ProductBacklog | RoutingTarget::Review => Some(items.len()),
            RoutingTarget::Analytics | RoutingTarget::Recognition => None,
        };
        // A held event is not activity until a reviewer releases it (then
        // the release counts it), so spam never advances its author's stage.
        let counts_activity = event.routing_target != RoutingTarget::Review;
        items.extend(target_items(
            &self.tables,
            event,
            event.routing_target,
            counts_activity,
            now,
        )?);

        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::Stored),
            Err(e) if condition_failed_at(&e, 0) => Ok(Recorded::Duplicate),
            // The event had expired from the hot table but its ticket request
            // (or review) is still there (neither expires): it exists, so
            // store the event again without a second one.
            Err(e) if target_item_at.is_some_and(|i| condition_failed_at(&e, i)) => {
                if let Some(i) = target_item_at {
                    items.remove(i);
                }
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(items))
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("TransactWriteItems", e))?;
                Ok(Recorded::Stored)
            }
            Err(e) => Err(AwsError::from_sdk("TransactWriteItems", e)),
        }
    }
}

/// Reads for the operator CLI and alerts.
#[derive(Debug, Clone)]
pub struct EventReader {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retention_days: u32,
}

impl EventReader {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        retention_days: u32,
    ) -> EventReader {
        EventReader {
            client,
            table: table.into(),
            retention_days,
        }
    }

    /// Newest first, walking the by-day index back from today over the hot
    /// retention window; expired items are skipped.
    pub async fn recent(
        &self,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<CanonicalEvent>, AwsError> {
        let mut events = Vec::new();
        for days_back in 0..=i64::from(self.retention_days) {
            if events.len() >= limit {
                break;
            }
            let day = day_of(now - Duration::days(days_back));
            let more = self
                .newest("byDay", "day", &day, limit - events.len(), now)
                .await?;
            events.extend(more);
        }
        Ok(events)
    }

    /// One event by id, unless expired.
    pub async fn get(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<CanonicalEvent>, AwsError> {
        let Some(item) =
            crate::get_live_item(&self.client, &self.table, "eventId", id, now).await?
        else {
            return Ok(None);
        };
        event_from_item(item).map(Some)
    }

    /// A member's events, newest first (by the byMember index), unexpired.
    pub async fn by_member(
        &self,
        member_id: &str,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<CanonicalEvent>, AwsError> {
        self.newest("byMember", "userId", member_id, limit, now)
            .await
    }

    /// Events of one type, newest first (by the byType index), unexpired.
    pub async fn by_type(
        &self,
        event_type: &str,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<CanonicalEvent>, AwsError> {
        self.newest("byType", "eventType", event_type, limit, now)
            .await
    }

    /// Up to `limit` unexpired events of one index partition, newest first.
    /// Paginates: DynamoDB applies a query's Limit before its filter, so one
    /// page can hold fewer live events than exist.
    async fn newest(
        &self,
        index: &str,
        key: &str,
        value: &str,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<CanonicalEvent>, AwsError> {
        let mut events = Vec::new();
        let mut start_key = None;
        while events.len() < limit {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#k = :v")
                .filter_expression("expiresAt > :now")
                .expression_attribute_names("#k", key)
                .expression_attribute_values(":v", AttributeValue::S(value.to_owned()))
                .expression_attribute_values(
                    ":now",
                    AttributeValue::N(now.unix_timestamp().to_string()),
                )
                .scan_index_forward(false)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("Query", e))?;
            for item in output
                .items
                .unwrap_or_default()
                .into_iter()
                .take(limit - events.len())
            {
                events.push(event_from_item(item)?);
            }
            start_key = output.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canonical_event::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-zA-Z0-9 éü漢🎉_\\-\\n\"]{0,24}").unwrap()
    }

    prop_compose! {
        fn arb_event()(
            delivery in "[a-f0-9]{1,12}",
            event_type in proptest::sample::select(EventType::ALL.to_vec()),
            routing in proptest::sample::select(RoutingTarget::ALL.to_vec()),
            handle in "[a-z0-9-]{1,12}",
            display in proptest::option::of(text()),
            title in proptest::option::of(text()),
            excerpt in proptest::option::of(text()),
            labels in proptest::collection::vec(text(), 0..3),
            reasons in proptest::collection::vec((text(), -1.0f64..1.0, text()), 0..3),
            score in 0.0f64..=1.0,
            secs in 1_500_000_000i64..2_500_000_000,
            nanos in 0u32..1_000_000_000,
            repository in proptest::option::of(text()),
            category in proptest::option::of(proptest::sample::select(canonical_event::Category::ALL.to_vec())),
            held in proptest::option::of(any::<bool>()),
        ) -> CanonicalEvent {
            let timestamp = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
            CanonicalEvent {
                schema_version: SCHEMA_VERSION,
                event_id: EventId::derive(Platform::Github, &delivery, 0).unwrap(),
                platform: Platform::Github,
                event_type,
                user_id: format!("m-{delivery}"),
                actor: Actor { platform_user_id: delivery.clone(), handle, display_name: display, is_bot: secs % 2 == 0 },
                timestamp,
                received_at: timestamp.replace_nanosecond(nanos).unwrap(),
                source: Source { repository, channel: None, thread_id: Some("1".into()), url: None },
                content: Content { title, excerpt, labels },
                signal_score: score,
                signal: Signal::Medium,
                reasons: reasons.into_iter().map(|(rule, weight, detail)| Reason { rule, weight, detail }).collect(),
                routing_target: routing,
                provenance: Provenance {
                    delivery_id: delivery,
                    index_in_delivery: 0,
                    platform_event: "issues.opened".into(),
                    adapter: "github@1".into(),
                    scoring: "categories@1".into(),
                },
                classification: category.map(|category| canonical_event::Classification {
                    category,
                    score,
                    weights_version: "categories@1".into(),
                }),
                moderation: held.map(|held| canonical_event::Moderation {
                    held,
                    flags: vec![canonical_event::ModerationFlag {
                        kind: canonical_event::FlagKind::Spam,
                        score,
                        reasons: vec![Reason { rule: "spam:phrase".into(), weight: score, detail: "a known spam phrase".into() }],
                    }],
                    release_target: routing,
                    lexicon_version: "moderation@1".into(),
                }),
            }
        }
    }

    proptest! {
        /// What route stores is exactly what communityctl reads back: the
        /// DynamoDB item round-trips every field (floats, empty strings and
        /// lists, absent options, sub-second times) of the canonical event.
        #[test]
        fn the_stored_item_reads_back_as_the_same_event(event in arb_event()) {
            let now = time::OffsetDateTime::now_utc();
            let item = event_item(&event, now + Duration::days(90), now).unwrap();
            prop_assert_eq!(item["userId"].as_s().unwrap(), &event.user_id, "indexed attributes are top-level");
            prop_assert_eq!(item["eventType"].as_s().unwrap(), event.event_type.as_str());
            prop_assert_eq!(item["day"].as_s().unwrap(), &event.day());
            let back = event_from_item(item).unwrap();
            prop_assert_eq!(back, event);
        }
    }
}
