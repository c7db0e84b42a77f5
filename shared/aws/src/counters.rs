//! Per-day counters: one item per UTC day (`pk = DAY#YYYY-MM-DD`) whose
//! numeric attributes are the counters, so a day is read with one GetItem and
//! bumped with one atomic `ADD` inside the same transaction as the event.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::AwsError;
use crate::ports::CounterReader;

pub fn day_key(day: &str) -> String {
    format!("DAY#{day}")
}

/// Counter names. Stable: dashboards and alerts read them.
pub mod names {
    pub const EVENTS: &str = "events";
    pub const DROPPED: &str = "dropped";
    /// Lifecycle milestones route derived (first contributions, stage changes).
    pub const MILESTONES: &str = "milestones";
    pub fn target(t: &str) -> String {
        format!("target:{t}")
    }
    pub fn event_type(t: &str) -> String {
        format!("type:{t}")
    }
    pub fn signal(s: &str) -> String {
        format!("signal:{s}")
    }
    pub fn platform(p: &str) -> String {
        format!("platform:{p}")
    }
    pub fn dropped_by(rule: &str) -> String {
        format!("dropped:{rule}")
    }
    pub fn category(c: &str) -> String {
        format!("category:{c}")
    }
    pub fn flag(kind: &str) -> String {
        format!("flag:{kind}")
    }
    /// A reviewer's verdict on a held event, counted on the day of the decision.
    pub fn review(verdict: &str) -> String {
        format!("review:{verdict}")
    }
    pub fn bots() -> String {
        "bots".to_owned()
    }
}

/// Builds `ADD #c0 :one, #c1 :one, …` for the given counter names.
pub fn add_expression(counters: &[String]) -> (String, Vec<(String, String)>) {
    let mut parts = Vec::with_capacity(counters.len());
    let mut names = Vec::with_capacity(counters.len());
    for (i, counter) in counters.iter().enumerate() {
        parts.push(format!("#c{i} :one"));
        names.push((format!("#c{i}"), counter.clone()));
    }
    (format!("ADD {}", parts.join(", ")), names)
}

#[derive(Debug, Clone)]
pub struct DynamoCounters {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoCounters {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoCounters {
        DynamoCounters {
            client,
            table: table.into(),
        }
    }
}

#[async_trait]
impl CounterReader for DynamoCounters {
    async fn day(&self, day: &str) -> Result<BTreeMap<String, i64>, AwsError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(day_key(day)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetItem", e))?;
        Ok(output
            .item
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, value)| match value {
                AttributeValue::N(n) => n.parse::<i64>().ok().map(|v| (name, v)),
                _ => None,
            })
            .filter(|(name, _)| name != "expiresAt")
            .collect())
    }
}
