//! Contributor lifecycle state on the member item (`MEMBER#<memberId>`):
//! activity is counted per UTC day and event type in top-level attributes
//! `act#<YYYY-MM-DD>#<eventType>` (bumped in the event's own transaction, so
//! exactly once per event; small however active the member: one number per
//! day and type, and days past the window are forgotten on save), plus
//! `activityVersion`, `stage`, `stageSince`, `everContributed` and
//! `lifecycleTransitions`.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use canonical_event::{CanonicalEvent, EventType, RoutingTarget, rfc3339_utc};
use time::OffsetDateTime;

use crate::AwsError;
use crate::counters::names;
use crate::events::{RouteTables, bump_counters_by, condition_failed_at, event_item};
use crate::members::member_key;
use crate::ports::{LifecycleStore, MemberActivity, StageUpdate};

const ACTIVITY_PREFIX: &str = "act#";

/// The member attribute counting one day's events of one type.
pub fn activity_attribute(day: &str, event_type: EventType) -> String {
    format!("{ACTIVITY_PREFIX}{day}#{event_type}")
}

#[derive(Debug, Clone)]
pub struct DynamoLifecycle {
    client: aws_sdk_dynamodb::Client,
    tables: RouteTables,
    retention: time::Duration,
}

impl DynamoLifecycle {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        tables: RouteTables,
        retention_days: u32,
    ) -> DynamoLifecycle {
        DynamoLifecycle {
            client,
            tables,
            retention: time::Duration::days(i64::from(retention_days)),
        }
    }
}

fn number(item: &crate::Item, key: &str) -> i64 {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[async_trait]
impl LifecycleStore for DynamoLifecycle {
    async fn load(
        &self,
        member_id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<MemberActivity>, AwsError> {
        let Some(item) = crate::get_live_item(
            &self.client,
            &self.tables.members,
            "pk",
            &member_key(member_id),
            now,
        )
        .await?
        else {
            return Ok(None);
        };
        let mut counts = Vec::new();
        for (name, value) in &item {
            let Some(rest) = name.strip_prefix(ACTIVITY_PREFIX) else {
                continue;
            };
            let Some((day, event_type)) = rest.split_once('#') else {
                continue;
            };
            let count = value
                .as_n()
                .ok()
                .and_then(|n| n.parse::<u32>().ok())
                .unwrap_or(0);
            counts.push((day.to_owned(), event_type.to_owned(), count));
        }
        counts.sort();
        Ok(Some(MemberActivity {
            counts,
            stage: item.get("stage").and_then(|v| v.as_s().ok()).cloned(),
            ever_contributed: item
                .get("everContributed")
                .and_then(|v| v.as_bool().ok())
                .copied()
                .unwrap_or(false),
            transitions: u32::try_from(number(&item, "lifecycleTransitions")).unwrap_or(0),
            version: number(&item, "activityVersion"),
            pending_recognitions: match item.get("pendingRecognitions") {
                Some(AttributeValue::Ss(ids)) => ids.clone(),
                _ => Vec::new(),
            },
        }))
    }

    async fn save(
        &self,
        member_id: &str,
        loaded: &MemberActivity,
        update: &StageUpdate,
        milestones: &[CanonicalEvent],
        now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        let mut member = Update::builder()
            .table_name(&self.tables.members)
            .key("pk", AttributeValue::S(member_key(member_id)))
            .expression_attribute_values(":stage", AttributeValue::S(update.stage.clone()))
            .expression_attribute_values(":ever", AttributeValue::Bool(update.ever_contributed))
            .expression_attribute_values(
                ":transitions",
                AttributeValue::N(update.transitions.to_string()),
            )
            .expression_attribute_values(
                ":before",
                AttributeValue::N(loaded.transitions.to_string()),
            )
            .expression_attribute_values(":version", AttributeValue::N(loaded.version.to_string()));
        let mut set = vec![
            "stage = :stage",
            "everContributed = :ever",
            "lifecycleTransitions = :transitions",
        ];
        if loaded.stage.as_deref() != Some(update.stage.as_str()) {
            // Only bound when used: DynamoDB rejects unused expression values.
            set.push("stageSince = :now");
            member =
                member.expression_attribute_values(":now", AttributeValue::S(rfc3339_utc(now)));
        }
        let mut forget = Vec::new();
        for (i, (day, event_type, _)) in loaded.counts.iter().enumerate() {
            if *day < update.forget_before {
                let placeholder = format!("#old{i}");
                member = member.expression_attribute_names(
                    &placeholder,
                    format!("{ACTIVITY_PREFIX}{day}#{event_type}"),
                );
                forget.push(placeholder);
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !forget.is_empty() {
            expression.push_str(&format!(" REMOVE {}", forget.join(", ")));
        }
        // Milestones to celebrate wait on the member until recognised.
        let celebrated: Vec<&CanonicalEvent> = milestones
            .iter()
            .filter(|m| m.routing_target == RoutingTarget::Recognition && !m.actor.is_bot)
            .collect();
        if !celebrated.is_empty() {
            expression.push_str(" ADD pendingRecognitions :pending");
            member = member.expression_attribute_values(
                ":pending",
                AttributeValue::Ss(celebrated.iter().map(|m| m.event_id.to_string()).collect()),
            );
        }
        // Nothing changed since the evaluation: neither new activity nor a
        // concurrent evaluation that recorded transitions.
        let unchanged_transitions =
            "(attribute_not_exists(lifecycleTransitions) OR lifecycleTransitions = :before)";
        let condition = if loaded.version == 0 {
            format!(
                "(attribute_not_exists(activityVersion) OR activityVersion = :version) AND {unchanged_transitions}"
            )
        } else {
            format!("activityVersion = :version AND {unchanged_transitions}")
        };
        let member = member
            .update_expression(expression)
            .condition_expression(condition)
            .build()
            .map_err(crate::build_error)?;
        let mut items = vec![TransactWriteItem::builder().update(member).build()];
        // The milestones go in the same transaction: recorded if and only if
        // the member's transition count moves past their sequence numbers.
        for milestone in milestones {
            let expires_at = milestone.received_at.max(now) + self.retention;
            let put = Put::builder()
                .table_name(&self.tables.events)
                .set_item(Some(event_item(milestone, expires_at, now)?))
                .condition_expression("attribute_not_exists(eventId)")
                .build()
                .map_err(crate::build_error)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        for milestone in &celebrated {
            items.push(crate::recognition::pending_claim(
                &self.tables.members,
                milestone,
                now,
            )?);
        }
        if let Some(first) = milestones.first() {
            let mut amounts = std::collections::BTreeMap::new();
            amounts.insert(names::MILESTONES.to_owned(), milestones.len());
            for milestone in milestones {
                *amounts
                    .entry(names::event_type(milestone.event_type.as_str()))
                    .or_insert(0) += 1;
            }
            items.push(bump_counters_by(
                &self.tables.counters,
                &first.day(),
                &amounts,
            )?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if condition_failed_at(&e, 0) => Ok(false),
            Err(e) => Err(AwsError::from_sdk("TransactWriteItems", e)),
        }
    }
}
