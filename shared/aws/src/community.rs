//! What the alert sweep measures the community from, read where the pipeline
//! already keeps it, so measuring needs no table of its own:
//!
//! | reader                    | source                                                        |
//! |---------------------------|---------------------------------------------------------------|
//! | [`member_snapshots`]      | members table, `MEMBER#` items (scan; `act#<day>#<type>` counts) |
//! | [`resolved_tickets`]      | outbox table, `TICKET#<tracker>#<id>` items with `status = resolved` |
//! | [`oldest_pending_review`] | reviews table, index `byStatus` (status, heldAt), first pending |
//! | [`dead_letter_stats`]     | a dead-letter queue: depth, and the age of its oldest message |
//! | [`load_alert_states`] / [`save_alert_states`] | counters table, one item `ALERT#state` |
//!
//! The values are plain data; the alert function computes the metrics from
//! them and decides what is healthy. Nothing here judges.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use canonical_event::rfc3339_utc;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::ports::{QueueDepth, QueueStats};
use crate::{AwsError, Item};

/// The member attribute prefix of per-day activity counts (see
/// [`crate::lifecycle`]).
const ACTIVITY_PREFIX: &str = "act#";
/// Ticket items in the outbox: `TICKET#<tracker>#<id>`.
const TICKET_PREFIX: &str = "TICKET#";
/// The one counters-table item holding every metric's alert state. Apart
/// from the `DAY#` items, so a day's counters never read it.
pub const ALERT_STATE_KEY: &str = "ALERT#state";

/// One member as the community metrics see it: who they are (bot? merged
/// away?) and what they did, per day and event type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberSnapshot {
    pub member_id: String,
    /// Bots are kept for audit but excluded from every community metric.
    pub is_bot: bool,
    /// Set on a member merged into another: the survivor carries the person
    /// (and their contributions), so this item must not count again.
    pub merged_into: Option<String>,
    pub first_seen_at: Option<OffsetDateTime>,
    /// Contributions recorded on the member so far (routed to recognition).
    pub contributions: i64,
    /// (UTC day `YYYY-MM-DD`, event type name, count), sorted.
    pub activity: Vec<(String, String, i64)>,
}

/// A feedback ticket the tracker reports resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedTicket {
    /// When the community first reported it.
    pub first_report_at: OffsetDateTime,
    pub resolved_at: OffsetDateTime,
}

/// The oldest held event still waiting for a reviewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReview {
    pub event_id: String,
    pub held_at: OffsetDateTime,
}

/// One dead-letter queue at a glance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadLetterStats {
    /// Messages waiting, visible or in flight.
    pub depth: i64,
    /// Seconds since the oldest message seen was sent; `None` when the queue
    /// is empty or no message could be peeked (all in flight). A lower bound:
    /// see [`dead_letter_stats`].
    pub oldest_age_seconds: Option<i64>,
}

/// Every metric's alert state as last saved, and the version a save must
/// find to succeed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlertStates<T> {
    /// 0 when nothing was ever saved.
    pub version: i64,
    pub states: BTreeMap<String, T>,
}

impl<T> Default for StoredAlertStates<T> {
    fn default() -> Self {
        StoredAlertStates {
            version: 0,
            states: BTreeMap::new(),
        }
    }
}

fn text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn number(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

fn instant(item: &Item, name: &str) -> Option<OffsetDateTime> {
    text(item, name).and_then(|t| OffsetDateTime::parse(&t, &Rfc3339).ok())
}

/// A snapshot of one `MEMBER#` item.
pub fn member_snapshot(item: &Item) -> MemberSnapshot {
    let member_id = text(item, "memberId")
        .or_else(|| text(item, "pk").and_then(|pk| pk.strip_prefix("MEMBER#").map(str::to_owned)))
        .unwrap_or_default();
    let mut activity: Vec<(String, String, i64)> = item
        .iter()
        .filter_map(|(name, value)| {
            let (day, event_type) = name.strip_prefix(ACTIVITY_PREFIX)?.split_once('#')?;
            let count = value.as_n().ok()?.parse::<i64>().ok()?;
            Some((day.to_owned(), event_type.to_owned(), count))
        })
        .collect();
    activity.sort();
    MemberSnapshot {
        member_id,
        is_bot: item
            .get("isBot")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        merged_into: text(item, "mergedInto"),
        first_seen_at: instant(item, "firstSeenAt"),
        contributions: number(item, "contributions").unwrap_or(0),
        activity,
    }
}

/// Every member, merged-away members and bots included (flagged), so the
/// caller decides whom to count. A scan: the members table has no index, and
/// a sweep every few hours over a community's members is cheap; identity and
/// link items are filtered out by key.
pub async fn member_snapshots(
    client: &aws_sdk_dynamodb::Client,
    members_table: &str,
) -> Result<Vec<MemberSnapshot>, AwsError> {
    let items = crate::scan_all(client, members_table, Some("MEMBER#")).await?;
    let members: Vec<MemberSnapshot> = items.iter().map(member_snapshot).collect();
    tracing::debug!(
        table = members_table,
        members = members.len(),
        "member snapshots read"
    );
    Ok(members)
}

/// Tickets resolved at or after `since`. The outbox has no index on status,
/// so this scans it with a filter (one item per backlog event: small), and
/// applies `since` after parsing, since trackers may write `resolvedAt` with
/// an offset or fractional seconds that would not compare as text.
///
/// A ticket without `firstReportAt` but with `resolutionSeconds` is placed
/// that long before its resolution; one without `resolvedAt` cannot be placed
/// in time and is skipped with a warning naming it.
pub async fn resolved_tickets(
    client: &aws_sdk_dynamodb::Client,
    outbox_table: &str,
    since: OffsetDateTime,
) -> Result<Vec<ResolvedTicket>, AwsError> {
    let mut tickets = Vec::new();
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(outbox_table)
            .filter_expression("begins_with(eventId, :ticket) AND #status = :resolved")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":ticket", AttributeValue::S(TICKET_PREFIX.to_owned()))
            .expression_attribute_values(":resolved", AttributeValue::S("resolved".to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Scan", e))?;
        for item in output.items() {
            let ticket_id = text(item, "eventId").unwrap_or_default();
            let Some(resolved_at) = instant(item, "resolvedAt") else {
                tracing::warn!(
                    table = outbox_table,
                    ticket_id = ticket_id.as_str(),
                    "resolved ticket without a readable resolvedAt; skipped"
                );
                continue;
            };
            if resolved_at < since {
                continue;
            }
            let first_report_at = instant(item, "firstReportAt").or_else(|| {
                number(item, "resolutionSeconds")
                    .map(|seconds| resolved_at - time::Duration::seconds(seconds))
            });
            let Some(first_report_at) = first_report_at else {
                tracing::warn!(
                    table = outbox_table,
                    ticket_id = ticket_id.as_str(),
                    "resolved ticket without firstReportAt or resolutionSeconds; skipped"
                );
                continue;
            };
            tickets.push(ResolvedTicket {
                first_report_at,
                resolved_at,
            });
        }
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(tickets);
        }
    }
}

/// The held event that has waited longest, if any: the first item of the
/// `byStatus` index for `pending`, ascending `heldAt` (RFC 3339 UTC, so text
/// order is time order).
pub async fn oldest_pending_review(
    client: &aws_sdk_dynamodb::Client,
    reviews_table: &str,
) -> Result<Option<PendingReview>, AwsError> {
    let output = client
        .query()
        .table_name(reviews_table)
        .index_name("byStatus")
        .key_condition_expression("#status = :pending")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":pending", AttributeValue::S("pending".to_owned()))
        .scan_index_forward(true)
        .limit(1)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("Query", e))?;
    let Some(item) = output.items().first() else {
        return Ok(None);
    };
    let event_id = text(item, "eventId").unwrap_or_default();
    // Hiding an unreadable heldAt would hide a stuck queue; say which item.
    let held_at = instant(item, "heldAt").ok_or_else(|| {
        AwsError::permanent(
            "Query",
            "BadItem",
            format!(
                "review {event_id} in {reviews_table} has no RFC 3339 heldAt; fix or decide it"
            ),
        )
    })?;
    Ok(Some(PendingReview { event_id, held_at }))
}

/// The depth of a dead-letter queue and the age of its oldest message.
///
/// SQS has no queue attribute for the age of the oldest message: CloudWatch's
/// `ApproximateAgeOfOldestMessage` metric is what the template's alarms use,
/// but reading it needs the CloudWatch API (and its own permission) and lags
/// by minutes. So this peeks: a `ReceiveMessage` of up to ten messages with
/// `VisibilityTimeout = 0` (they stay visible, nothing is consumed) asking
/// for `SentTimestamp`, and takes the oldest. That is a lower bound: a peek
/// sees at most ten messages (on a standard queue, a sample) and never
/// those in flight. Receiving bumps the messages' receive counts, which is
/// harmless on a dead-letter queue (it has no redrive of its own). An empty
/// queue is not peeked. The peek downloads the bodies too (up to 1 MiB each
/// on the raw-events queue): fine for a sweep every few hours.
pub async fn dead_letter_stats(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    now: OffsetDateTime,
) -> Result<DeadLetterStats, AwsError> {
    let QueueDepth { visible, in_flight } = sqs.depth(queue_url).await?;
    let depth = visible + in_flight;
    if visible <= 0 {
        return Ok(DeadLetterStats {
            depth,
            oldest_age_seconds: None,
        });
    }
    let output = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        // Long polling asks every SQS server; the queue holds messages, so it
        // returns at once rather than waiting.
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("ReceiveMessage", e))?;
    let oldest_sent_ms = output
        .messages()
        .iter()
        .filter_map(|m| {
            m.attributes()?
                .get(&MessageSystemAttributeName::SentTimestamp)
        })
        .filter_map(|ms| ms.parse::<i64>().ok())
        .min();
    let oldest_age_seconds = oldest_sent_ms.map(|sent_ms| {
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        (now_ms.saturating_sub(sent_ms) / 1000).max(0)
    });
    tracing::debug!(
        queue_url,
        depth,
        peeked = output.messages().len(),
        oldest_age_seconds,
        "dead-letter queue measured"
    );
    Ok(DeadLetterStats {
        depth,
        oldest_age_seconds,
    })
}

/// The alert state of every metric, as last saved (empty, version 0, when
/// never saved). Kept as JSON in one string attribute so the state's shape
/// belongs to the alert function alone.
pub async fn load_alert_states<T: DeserializeOwned>(
    client: &aws_sdk_dynamodb::Client,
    counters_table: &str,
) -> Result<StoredAlertStates<T>, AwsError> {
    let output = client
        .get_item()
        .table_name(counters_table)
        .key("pk", AttributeValue::S(ALERT_STATE_KEY.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetItem", e))?;
    let Some(item) = output.item else {
        return Ok(StoredAlertStates {
            version: 0,
            states: BTreeMap::new(),
        });
    };
    let version = number(&item, "version").unwrap_or(0);
    let states = match text(&item, "states") {
        Some(json) => serde_json::from_str(&json).map_err(|e| {
            AwsError::permanent(
                "GetItem",
                "BadItem",
                format!(
                    "alert state {ALERT_STATE_KEY} in {counters_table} is not readable ({e}); \
                     delete the item to start from a clean state"
                ),
            )
        })?,
        None => BTreeMap::new(),
    };
    Ok(StoredAlertStates { version, states })
}

/// Saves every metric's alert state if nobody saved since `loaded_version`
/// was read; false when someone did. Save before notifying, and notify only
/// on true: of two overlapping runs exactly one wins the write, so a breach
/// is announced once (a crash between save and notify loses that notice
/// rather than repeating it; the next reminder repeats it).
pub async fn save_alert_states<T: Serialize>(
    client: &aws_sdk_dynamodb::Client,
    counters_table: &str,
    states: &BTreeMap<String, T>,
    loaded_version: i64,
    now: OffsetDateTime,
) -> Result<bool, AwsError> {
    let json = serde_json::to_string(states)
        .map_err(|e| AwsError::permanent("PutItem", "Serialize", e.to_string()))?;
    let mut request = client
        .put_item()
        .table_name(counters_table)
        .item("pk", AttributeValue::S(ALERT_STATE_KEY.to_owned()))
        .item("states", AttributeValue::S(json))
        .item(
            "version",
            AttributeValue::N(loaded_version.saturating_add(1).to_string()),
        )
        .item("updatedAt", AttributeValue::S(rfc3339_utc(now)));
    request = if loaded_version == 0 {
        request.condition_expression("attribute_not_exists(pk)")
    } else {
        request
            .condition_expression("version = :loaded")
            .expression_attribute_values(":loaded", AttributeValue::N(loaded_version.to_string()))
    };
    match request.send().await {
        Ok(_) => Ok(true),
        Err(e) if crate::is_conditional_failure(&e) => {
            tracing::info!(
                table = counters_table,
                loaded_version,
                "alert state changed since it was read; another run saved first"
            );
            Ok(false)
        }
        Err(e) => Err(AwsError::from_sdk("PutItem", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    fn n(v: i64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    #[test]
    fn a_member_item_becomes_a_snapshot() {
        let item: Item = [
            ("pk".to_owned(), s("MEMBER#m1")),
            ("isBot".to_owned(), AttributeValue::Bool(true)),
            ("mergedInto".to_owned(), s("m0")),
            ("firstSeenAt".to_owned(), s("2026-11-01T10:00:00Z")),
            ("contributions".to_owned(), n(3)),
            ("act#2026-11-02#message_posted".to_owned(), n(2)),
            ("act#2026-11-01#pull_request_opened".to_owned(), n(1)),
            ("act#broken".to_owned(), n(9)),
            ("activityVersion".to_owned(), n(3)),
        ]
        .into_iter()
        .collect();
        let snapshot = member_snapshot(&item);
        assert_eq!(snapshot.member_id, "m1");
        assert!(snapshot.is_bot);
        assert_eq!(snapshot.merged_into.as_deref(), Some("m0"));
        assert_eq!(
            snapshot.first_seen_at,
            Some(time::macros::datetime!(2026-11-01 10:00 UTC))
        );
        assert_eq!(snapshot.contributions, 3);
        assert_eq!(
            snapshot.activity,
            vec![
                ("2026-11-01".into(), "pull_request_opened".into(), 1),
                ("2026-11-02".into(), "message_posted".into(), 2),
            ]
        );
    }

    #[test]
    fn a_sparse_member_item_reads_as_defaults() {
        let item: Item = [("pk".to_owned(), s("MEMBER#m2"))].into_iter().collect();
        assert_eq!(
            member_snapshot(&item),
            MemberSnapshot {
                member_id: "m2".into(),
                ..MemberSnapshot::default()
            }
        );
    }
}

/// Against the emulator (moto): each test creates its own tables and queues
/// under unique names.
#[cfg(test)]
mod emulator_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    use aws_sdk_sqs::types::QueueAttributeName;
    use time::macros::datetime;

    use super::*;

    /// SDK config from the standard chain, or `None` (test skipped) when no
    /// emulator is configured outside CI: these tests must never reach AWS.
    async fn sdk() -> Option<aws_config::SdkConfig> {
        if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
            assert!(
                std::env::var_os("CI").is_none(),
                "emulator tests need AWS_ENDPOINT_URL in CI: use `make test`"
            );
            eprintln!("AWS_ENDPOINT_URL not set; emulator test skipped (use `make test`)");
            return None;
        }
        Some(aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
    }

    fn unique(prefix: &str) -> String {
        format!(
            "{prefix}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..10]
        )
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    fn n(v: i64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }

    async fn table(client: &aws_sdk_dynamodb::Client, prefix: &str, key: &str) -> String {
        let name = unique(prefix);
        client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(KeyType::Hash)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        name
    }

    /// The reviews table as the template declares it: `eventId`, and the
    /// `byStatus` index (status, heldAt).
    async fn reviews_table(client: &aws_sdk_dynamodb::Client) -> String {
        let name = unique("reviews");
        let attribute = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap()
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .unwrap()
        };
        client
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("eventId"))
            .attribute_definitions(attribute("status"))
            .attribute_definitions(attribute("heldAt"))
            .key_schema(key("eventId", KeyType::Hash))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name("byStatus")
                    .key_schema(key("status", KeyType::Hash))
                    .key_schema(key("heldAt", KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        name
    }

    async fn put(
        client: &aws_sdk_dynamodb::Client,
        table: &str,
        item: Vec<(&str, AttributeValue)>,
    ) {
        client
            .put_item()
            .table_name(table)
            .set_item(Some(
                item.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ))
            .send()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn member_snapshots_flag_bots_and_merged_members_and_skip_other_items() {
        let Some(config) = sdk().await else { return };
        let client = aws_sdk_dynamodb::Client::new(&config);
        let members = table(&client, "members", "pk").await;
        put(
            &client,
            &members,
            vec![
                ("pk", s("MEMBER#alice")),
                ("memberId", s("alice")),
                ("firstSeenAt", s("2026-11-01T09:00:00Z")),
                ("contributions", n(2)),
                ("act#2026-11-20#message_posted", n(3)),
                ("act#2026-11-21#pull_request_opened", n(1)),
            ],
        )
        .await;
        put(
            &client,
            &members,
            vec![
                ("pk", s("MEMBER#ci-bot")),
                ("memberId", s("ci-bot")),
                ("isBot", AttributeValue::Bool(true)),
                ("act#2026-11-21#pull_request_opened", n(40)),
            ],
        )
        .await;
        put(
            &client,
            &members,
            vec![
                ("pk", s("MEMBER#old-alice")),
                ("memberId", s("old-alice")),
                ("mergedInto", s("alice")),
                ("contributions", n(1)),
            ],
        )
        .await;
        put(
            &client,
            &members,
            vec![("pk", s("IDENTITY#github#1")), ("memberId", s("alice"))],
        )
        .await;

        let mut snapshots = member_snapshots(&client, &members).await.unwrap();
        snapshots.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let ids: Vec<&str> = snapshots.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(ids, ["alice", "ci-bot", "old-alice"]);
        let alice = &snapshots[0];
        assert!(!alice.is_bot && alice.merged_into.is_none());
        assert_eq!(alice.first_seen_at, Some(datetime!(2026-11-01 09:00 UTC)));
        assert_eq!(alice.contributions, 2);
        assert_eq!(
            alice.activity,
            vec![
                ("2026-11-20".into(), "message_posted".into(), 3),
                ("2026-11-21".into(), "pull_request_opened".into(), 1),
            ]
        );
        assert!(snapshots[1].is_bot);
        assert_eq!(snapshots[2].merged_into.as_deref(), Some("alice"));
    }

    #[tokio::test]
    async fn resolved_tickets_are_the_resolved_ticket_items_since_the_cutoff() {
        let Some(config) = sdk().await else { return };
        let client = aws_sdk_dynamodb::Client::new(&config);
        let outbox = table(&client, "outbox", "eventId").await;
        put(
            &client,
            &outbox,
            vec![
                ("eventId", s("TICKET#linear#1")),
                ("status", s("resolved")),
                ("firstReportAt", s("2026-11-20T10:00:00Z")),
                ("resolvedAt", s("2026-11-22T10:00:00Z")),
                ("resolutionSeconds", n(172_800)),
            ],
        )
        .await;
        // Only resolutionSeconds: placed that long before resolvedAt.
        put(
            &client,
            &outbox,
            vec![
                ("eventId", s("TICKET#jira#2")),
                ("status", s("resolved")),
                ("resolvedAt", s("2026-11-21T12:00:00+02:00")),
                ("resolutionSeconds", n(3600)),
            ],
        )
        .await;
        // Resolved before the cutoff, still open, not a ticket, unplaceable.
        put(
            &client,
            &outbox,
            vec![
                ("eventId", s("TICKET#linear#3")),
                ("status", s("resolved")),
                ("firstReportAt", s("2026-09-01T10:00:00Z")),
                ("resolvedAt", s("2026-09-02T10:00:00Z")),
            ],
        )
        .await;
        put(
            &client,
            &outbox,
            vec![
                ("eventId", s("TICKET#linear#4")),
                ("status", s("open")),
                ("firstReportAt", s("2026-11-20T10:00:00Z")),
            ],
        )
        .await;
        put(
            &client,
            &outbox,
            vec![
                ("eventId", s("0191f0c4-event")),
                ("status", s("resolved")),
                ("resolvedAt", s("2026-11-22T10:00:00Z")),
                ("resolutionSeconds", n(5)),
            ],
        )
        .await;
        put(
            &client,
            &outbox,
            vec![
                ("eventId", s("TICKET#linear#5")),
                ("status", s("resolved")),
                ("firstReportAt", s("2026-11-20T10:00:00Z")),
            ],
        )
        .await;

        let mut tickets = resolved_tickets(&client, &outbox, datetime!(2026-11-01 00:00 UTC))
            .await
            .unwrap();
        tickets.sort_by_key(|t| t.resolved_at);
        assert_eq!(
            tickets,
            vec![
                ResolvedTicket {
                    first_report_at: datetime!(2026-11-21 09:00 UTC),
                    resolved_at: datetime!(2026-11-21 10:00 UTC),
                },
                ResolvedTicket {
                    first_report_at: datetime!(2026-11-20 10:00 UTC),
                    resolved_at: datetime!(2026-11-22 10:00 UTC),
                },
            ]
        );
    }

    #[tokio::test]
    async fn the_oldest_pending_review_is_the_first_of_the_index() {
        let Some(config) = sdk().await else { return };
        let client = aws_sdk_dynamodb::Client::new(&config);
        let reviews = reviews_table(&client).await;
        assert_eq!(
            oldest_pending_review(&client, &reviews).await.unwrap(),
            None
        );
        for (id, status, held_at) in [
            ("e-new", "pending", "2026-11-23T08:00:00Z"),
            ("e-decided", "approved", "2026-11-01T08:00:00Z"),
            ("e-old", "pending", "2026-11-20T08:00:00Z"),
            ("e-mid", "pending", "2026-11-21T08:00:00Z"),
        ] {
            put(
                &client,
                &reviews,
                vec![
                    ("eventId", s(id)),
                    ("status", s(status)),
                    ("heldAt", s(held_at)),
                ],
            )
            .await;
        }
        assert_eq!(
            oldest_pending_review(&client, &reviews).await.unwrap(),
            Some(PendingReview {
                event_id: "e-old".into(),
                held_at: datetime!(2026-11-20 08:00 UTC),
            })
        );
    }

    #[tokio::test]
    async fn dead_letter_stats_measure_depth_and_age_without_consuming() {
        let Some(config) = sdk().await else { return };
        let sqs = aws_sdk_sqs::Client::new(&config);
        // The template's dead-letter queues are FIFO; standard ones work too.
        for fifo in [true, false] {
            let mut create = sqs.create_queue();
            if fifo {
                create = create
                    .queue_name(format!("{}.fifo", unique("dlq")))
                    .attributes(QueueAttributeName::FifoQueue, "true")
                    .attributes(QueueAttributeName::ContentBasedDeduplication, "true");
            } else {
                create = create.queue_name(unique("dlq"));
            }
            let url = create.send().await.unwrap().queue_url.unwrap();
            let now = OffsetDateTime::now_utc();
            assert_eq!(
                dead_letter_stats(&sqs, &url, now).await.unwrap(),
                DeadLetterStats {
                    depth: 0,
                    oldest_age_seconds: None,
                }
            );
            for (group, body) in [("a", "first"), ("b", "second")] {
                let mut send = sqs.send_message().queue_url(&url).message_body(body);
                if fifo {
                    send = send.message_group_id(group);
                }
                send.send().await.unwrap();
            }
            // Measured "two minutes later": the age is the time since sending.
            let later = OffsetDateTime::now_utc() + time::Duration::minutes(2);
            let stats = dead_letter_stats(&sqs, &url, later).await.unwrap();
            assert_eq!(stats.depth, 2, "fifo {fifo}");
            let age = stats.oldest_age_seconds.unwrap();
            assert!((115..=180).contains(&age), "fifo {fifo}: age {age}");
            // The peek left both messages visible: measuring again agrees.
            let again = dead_letter_stats(&sqs, &url, later).await.unwrap();
            assert_eq!(again, stats, "fifo {fifo}");
            let depth = sqs.depth(&url).await.unwrap();
            assert_eq!(depth.visible, 2, "fifo {fifo}: {depth:?}");
        }
    }

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct State {
        breached: bool,
    }

    #[tokio::test]
    async fn alert_states_round_trip_and_a_stale_save_loses() {
        let Some(config) = sdk().await else { return };
        let client = aws_sdk_dynamodb::Client::new(&config);
        let counters = table(&client, "counters", "pk").await;
        let now = datetime!(2026-11-23 09:00 UTC);

        let empty = load_alert_states::<State>(&client, &counters)
            .await
            .unwrap();
        assert_eq!(empty.version, 0);
        assert!(empty.states.is_empty());

        let states = BTreeMap::from([("deadLetters".to_owned(), State { breached: true })]);
        assert!(
            save_alert_states(&client, &counters, &states, 0, now)
                .await
                .unwrap()
        );
        // A second run that also read version 0 must not win.
        assert!(
            !save_alert_states(
                &client,
                &counters,
                &BTreeMap::<String, State>::new(),
                0,
                now
            )
            .await
            .unwrap()
        );
        let loaded = load_alert_states::<State>(&client, &counters)
            .await
            .unwrap();
        assert_eq!(loaded.version, 1);
        assert_eq!(loaded.states, states);

        let healthy = BTreeMap::from([("deadLetters".to_owned(), State { breached: false })]);
        assert!(
            save_alert_states(&client, &counters, &healthy, 1, now)
                .await
                .unwrap()
        );
        assert!(
            !save_alert_states(&client, &counters, &states, 1, now)
                .await
                .unwrap()
        );
        let loaded = load_alert_states::<State>(&client, &counters)
            .await
            .unwrap();
        assert_eq!((loaded.version, loaded.states), (2, healthy));

        // The state item is no day: the day reader never sees it.
        use crate::ports::CounterReader;
        let day = crate::counters::DynamoCounters::new(client.clone(), &counters)
            .day("2026-11-23")
            .await
            .unwrap();
        assert!(day.is_empty());
    }

    #[tokio::test]
    async fn an_unreadable_alert_state_says_how_to_recover() {
        let Some(config) = sdk().await else { return };
        let client = aws_sdk_dynamodb::Client::new(&config);
        let counters = table(&client, "counters", "pk").await;
        put(
            &client,
            &counters,
            vec![
                ("pk", s(ALERT_STATE_KEY)),
                ("states", s("{not json")),
                ("version", n(4)),
            ],
        )
        .await;
        let error = load_alert_states::<State>(&client, &counters)
            .await
            .unwrap_err();
        assert!(!error.is_retryable());
        assert!(error.message.contains("delete the item"), "{error}");
    }
}
