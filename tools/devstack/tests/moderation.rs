//! Moderation, the review queue, normalize's memory and the contributor
//! lifecycle on the emulator: real conditional writes and transactions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::time::Duration;

use canonical_event::{Category, EventId, Platform, RoutingTarget};
use common::*;
use community_aws::ports::{CounterReader, SignalMemory};
use community_aws::reviews::{self, Decision, ReviewError, Verdict};
use time::OffsetDateTime;

const SETTLE: Duration = Duration::from_secs(60);

fn tables(stack: &devstack::Stack) -> community_aws::events::RouteTables {
    community_aws::events::RouteTables {
        events: stack.reference("EventsTable").unwrap(),
        counters: stack.reference("CountersTable").unwrap(),
        outbox: stack.reference("OutboxTable").unwrap(),
        members: stack.reference("MembersTable").unwrap(),
        reviews: stack.reference("ReviewsTable").unwrap(),
    }
}

/// A labelled bug report whose text is crypto spam: held, and released to
/// the backlog if a reviewer says it is real.
fn spam_issue(number: u64, login: &str, user_id: u64) -> String {
    format!(
        r#"{{"action":"opened","issue":{{"number":{number},"title":"FREE CRYPTO airdrop {number}","body":"claim your tokens: https://bit.ly/x https://t.co/y","html_url":"https://github.com/o/r/issues/{number}","labels":[{{"name":"bug"}}],"user":{{"login":"{login}","id":{user_id}}},"created_at":"2026-11-23T09:00:00Z"}},"repository":{{"full_name":"o/r"}},"sender":{{"login":"{login}","id":{user_id}}}}}"#
    )
}

/// A member's item (empty when there is none).
async fn member_item(stack: &devstack::Stack, member_id: &str) -> community_aws::Item {
    stack
        .clients
        .dynamodb
        .get_item()
        .table_name(stack.reference("MembersTable").unwrap())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(community_aws::members::member_key(
                member_id,
            )),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default()
}

/// The names of a member's activity counters (`act#<day>#<type>`).
async fn activity_of(stack: &devstack::Stack, member_id: &str) -> Vec<String> {
    let mut names: Vec<String> = member_item(stack, member_id)
        .await
        .into_keys()
        .filter(|k| k.starts_with("act#"))
        .collect();
    names.sort();
    names
}

fn decision<'a>(event_id: &'a str, verdict: Verdict) -> Decision<'a> {
    Decision {
        event_id,
        verdict,
        reviewer: "maria",
        note: "checked",
    }
}

#[tokio::test]
async fn held_events_wait_for_a_reviewer_and_each_verdict_counts_once() {
    let stack = stack("review").await;
    for (n, delivery) in [(1, "spam-1"), (2, "spam-2")] {
        let response = stack
            .ingest
            .handle(github_request(
                "issues",
                delivery,
                &spam_issue(n, "mallory", 66),
            ))
            .await;
        assert_eq!(response.status_code, 202);
    }
    stack.drain(SETTLE).await.unwrap();

    let tables = tables(&stack);
    let db = &stack.clients.dynamodb;
    let pending = reviews::list(db, &tables.reviews, Some("pending"))
        .await
        .unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    for row in &pending {
        assert!(row.flags.iter().any(|f| f.starts_with("spam")), "{row:?}");
        assert_eq!(row.release_target, "product-backlog");
        assert!(row.notified_at.is_some(), "the reviewer was told: {row:?}");
    }
    assert_eq!(
        count_items(&stack, "OutboxTable").await,
        0,
        "held, not ticketed"
    );
    let first = opened_issue_id("o/r", 1).to_string();
    let second = opened_issue_id("o/r", 2).to_string();
    let now = OffsetDateTime::now_utc();
    let held = reader(&stack).get(&first, now).await.unwrap().unwrap();
    assert_eq!(held.routing_target, RoutingTarget::Review);
    assert!(held.moderation.as_ref().unwrap().held);
    assert!(
        activity_of(&stack, &held.user_id).await.is_empty(),
        "held events are not activity"
    );

    // Approve: released to the backlog with its ticket request, exactly once.
    let approved = reviews::decide(db, &tables, 90, &decision(&first, Verdict::Approve), now)
        .await
        .unwrap();
    assert_eq!(approved.status, "approved");
    let again = reviews::decide(db, &tables, 90, &decision(&first, Verdict::Reject), now).await;
    assert!(
        matches!(again, Err(ReviewError::AlreadyDecided { .. })),
        "{again:?}"
    );
    let released = reader(&stack).get(&first, now).await.unwrap().unwrap();
    assert_eq!(released.routing_target, RoutingTarget::ProductBacklog);
    assert!(!released.moderation.as_ref().unwrap().held);
    assert!(
        released
            .reasons
            .iter()
            .any(|r| r.rule == "moderation:released")
    );
    assert_eq!(count_items(&stack, "OutboxTable").await, 1);
    assert_eq!(
        activity_of(&stack, &held.user_id).await,
        ["act#2026-11-23#issue_opened"],
        "released, it counts"
    );

    // Reject: the event stays stored, held, for audit; nothing is ticketed.
    reviews::decide(db, &tables, 90, &decision(&second, Verdict::Reject), now)
        .await
        .unwrap();
    let rejected = reader(&stack).get(&second, now).await.unwrap().unwrap();
    assert_eq!(rejected.routing_target, RoutingTarget::Review);
    assert_eq!(count_items(&stack, "OutboxTable").await, 1);

    let missing = reviews::decide(db, &tables, 90, &decision("nope", Verdict::Approve), now).await;
    assert!(matches!(missing, Err(ReviewError::NotFound(_))));

    // A redelivery of a decided event changes nothing.
    stack
        .ingest
        .handle(github_request(
            "issues",
            "spam-1",
            &spam_issue(1, "mallory", 66),
        ))
        .await;
    stack.drain(SETTLE).await.unwrap();
    let all = reviews::list(db, &tables.reviews, None).await.unwrap();
    let stats = reviews::stats_of(&all);
    assert_eq!((stats.pending, stats.approved, stats.rejected), (0, 1, 1));
    assert_eq!(stats.false_positive_rate, Some(0.5));
    assert_eq!(count_items(&stack, "OutboxTable").await, 1);

    let counters = community_aws::counters::DynamoCounters::new(db.clone(), &tables.counters);
    let today = counters.day(&canonical_event::day_of(now)).await.unwrap();
    assert_eq!(today["review:approved"], 1);
    assert_eq!(today["review:rejected"], 1);
    assert_eq!(today["released:product-backlog"], 1);
    let event_day = counters.day("2026-11-23").await.unwrap();
    assert_eq!(event_day["target:review"], 2);
    assert_eq!(event_day["flag:spam"], 2);
}

#[tokio::test]
async fn repeats_count_distinct_events_within_the_window_and_threads_remember_their_opening() {
    let stack = stack("memory").await;
    let memory = community_aws::memory::DynamoSignalMemory::new(
        stack.clients.dynamodb.clone(),
        stack.reference("CountersTable").unwrap(),
        30,
        24,
    );
    let now = OffsetDateTime::now_utc();
    let a = EventId::derive(Platform::Slack, "a", 0).unwrap();
    let b = EventId::derive(Platform::Slack, "b", 0).unwrap();
    let c = EventId::derive(Platform::Slack, "c", 0).unwrap();
    assert_eq!(memory.count_repeat("m1", "fp", &a, now).await.unwrap(), 1);
    assert_eq!(
        memory.count_repeat("m1", "fp", &a, now).await.unwrap(),
        1,
        "a redelivery counts once"
    );
    assert_eq!(memory.count_repeat("m1", "fp", &b, now).await.unwrap(), 2);
    assert_eq!(
        memory.count_repeat("m2", "fp", &c, now).await.unwrap(),
        1,
        "per member"
    );
    // The emulator never expires items: the window must end by itself.
    let later = now + time::Duration::hours(25);
    assert_eq!(memory.count_repeat("m1", "fp", &c, later).await.unwrap(), 1);
    let item = stack
        .clients
        .dynamodb
        .get_item()
        .table_name(stack.reference("CountersTable").unwrap())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("REPEAT#m1#fp".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(
        expires,
        (later + time::Duration::hours(24)).unix_timestamp()
    );

    let key = community_aws::memory::thread_key("github", "o/r", "7");
    assert_eq!(memory.thread_category(&key, now).await.unwrap(), None);
    memory
        .remember_thread(&key, Category::BugReport, now)
        .await
        .unwrap();
    memory
        .remember_thread(&key, Category::Question, now)
        .await
        .unwrap();
    assert_eq!(
        memory.thread_category(&key, now).await.unwrap(),
        Some(Category::BugReport),
        "the opening category stands"
    );
    let expired = now + time::Duration::days(31);
    assert_eq!(memory.thread_category(&key, expired).await.unwrap(), None);
}

#[tokio::test]
async fn a_first_merged_pull_request_makes_a_contributor_once_with_its_milestones_stored() {
    let stack = stack("lifecycle").await;
    for _ in 0..2 {
        stack
            .ingest
            .handle(fixture_request("github-pull-request-merged.json"))
            .await;
        stack.drain(SETTLE).await.unwrap();
    }
    let now = OffsetDateTime::now_utc();
    let events = reader(&stack).recent(50, now).await.unwrap();
    let merged = events
        .iter()
        .find(|e| e.event_type == canonical_event::EventType::PullRequestMerged)
        .unwrap();
    let milestones: Vec<_> = reader(&stack)
        .by_member(&merged.user_id, 50, now)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type.is_derived())
        .map(|e| e.provenance.platform_event)
        .collect();
    assert_eq!(milestones.len(), 2, "{milestones:?}");
    assert!(milestones.contains(&"lifecycle.first_contribution".to_owned()));
    assert!(milestones.contains(&"lifecycle.stage_up".to_owned()));

    let member = member_item(&stack, &merged.user_id).await;
    assert_eq!(member["stage"].as_s().unwrap(), "contributor");
    assert!(*member["everContributed"].as_bool().unwrap());
    assert_eq!(member["lifecycleTransitions"].as_n().unwrap(), "2");
    assert_eq!(
        member["contributions"].as_n().unwrap(),
        "1",
        "the milestones are not contributions"
    );
    let activity = community_aws::lifecycle::activity_attribute(
        &merged.day(),
        canonical_event::EventType::PullRequestMerged,
    );
    assert_eq!(
        member[&activity].as_n().unwrap(),
        "1",
        "counted once despite the redelivery"
    );
}

#[tokio::test]
async fn bots_are_kept_for_audit_but_not_counted_as_community() {
    let stack = stack("bots").await;
    let response = stack
        .ingest
        .handle(github_request(
            "issues",
            "bot-1",
            &issue_payload("o/deps", 5, "renovate[bot]", 29139614),
        ))
        .await;
    assert_eq!(response.status_code, 202);
    stack.drain(SETTLE).await.unwrap();
    let id = opened_issue_id("o/deps", 5);
    let event = reader(&stack)
        .get(&id.to_string(), OffsetDateTime::now_utc())
        .await
        .unwrap()
        .unwrap();
    assert!(event.actor.is_bot);
    assert_eq!(event.routing_target, RoutingTarget::Analytics);
    let counters = community_aws::counters::DynamoCounters::new(
        stack.clients.dynamodb.clone(),
        stack.reference("CountersTable").unwrap(),
    );
    let day = counters.day(&event.day()).await.unwrap();
    assert_eq!(day.get("bots"), Some(&1));
    assert_eq!(day.get("bots:type:issue_opened"), Some(&1));
    assert_eq!(day.get("events"), None, "{day:?}");
    assert_eq!(day.get("target:analytics"), None);
    let members = community_aws::members::list(
        &stack.clients.dynamodb,
        &stack.reference("MembersTable").unwrap(),
    )
    .await
    .unwrap();
    assert!(members.iter().all(|m| m.is_bot), "{members:?}");
}
