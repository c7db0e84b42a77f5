//! The pipeline end to end on the emulator: real SDK, real FIFO queues with
//! their redrive policies, real conditional writes and transactions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use canonical_event::{EventId, Platform, RoutingTarget};
use common::*;
use community_aws::AwsError;
use community_aws::ports::{Claim, EventLedger, MessageQueue, OutgoingMessage};
use time::OffsetDateTime;

const SETTLE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_signed_webhook_becomes_a_stored_scored_routed_event() {
    let stack = stack("signed").await;
    let response = stack
        .ingest
        .handle(fixture_request("github-issue-opened.json"))
        .await;
    assert_eq!(response.status_code, 202);
    stack.drain(SETTLE).await.unwrap();

    let id = opened_issue_id("acme-labs/widgets", 412);
    let event = reader(&stack)
        .get(&id.to_string(), OffsetDateTime::now_utc())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(event.actor.handle, "maya-dev");
    assert_eq!(event.routing_target, RoutingTarget::ProductBacklog);
    assert!(event.reasons.iter().any(|r| r.rule == "label:bug"));
    // The same event through the by-member and by-type indexes.
    let now = OffsetDateTime::now_utc();
    assert_eq!(
        reader(&stack)
            .by_member(&event.user_id, 10, now)
            .await
            .unwrap(),
        vec![event.clone()]
    );
    assert_eq!(
        reader(&stack)
            .by_type("issue_opened", 10, now)
            .await
            .unwrap(),
        vec![event.clone()]
    );
    // product-backlog: one ticket request in the outbox; counters by target and type.
    assert_eq!(count_items(&stack, "OutboxTable").await, 1);
    let counters = community_aws::counters::DynamoCounters::new(
        stack.clients.dynamodb.clone(),
        stack.reference("CountersTable").unwrap(),
    );
    let day = community_aws::ports::CounterReader::day(&counters, &event.day())
        .await
        .unwrap();
    assert_eq!(day["events"], 1);
    assert_eq!(day["target:product-backlog"], 1);
    assert_eq!(day["type:issue_opened"], 1);
    // The member was created on first sight.
    let members = community_aws::members::list(
        &stack.clients.dynamodb,
        &stack.reference("MembersTable").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].member_id, event.user_id);
}

/// GitHub signs only the body: a captured delivery resent under a new
/// X-GitHub-Delivery verifies and is queued (the edge cannot tell it from a
/// new delivery), but it reports the same issue, so it is stored and
/// ticketed once.
#[tokio::test]
async fn a_github_body_resent_under_a_new_delivery_id_is_one_event() {
    let stack = stack("replayed").await;
    let body = issue_payload("o/replayed", 9, "alice", 7);
    let deliveries = [
        "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9b01",
        "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9b02",
    ];
    for delivery in deliveries {
        let response = stack
            .ingest
            .handle(github_request("issues", delivery, &body))
            .await;
        assert_eq!(response.status_code, 202);
    }
    stack.drain(SETTLE).await.unwrap();

    assert_eq!(count_items(&stack, "EventsTable").await, 1);
    assert_eq!(count_items(&stack, "OutboxTable").await, 1, "one ticket");
    let event = reader(&stack)
        .get(
            &opened_issue_id("o/replayed", 9).to_string(),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        event.provenance.delivery_id, deliveries[0],
        "the first one won"
    );
}

#[tokio::test]
async fn a_delivery_sent_three_times_and_again_after_the_fifo_window_is_one_event() {
    let stack = stack("dupes").await;
    let request = fixture_request("github-pull-request-merged.json");
    for _ in 0..3 {
        assert_eq!(stack.ingest.handle(request.clone()).await.status_code, 202);
    }
    stack.drain(SETTLE).await.unwrap();

    // After SQS's 5-minute dedup window a redelivery gets onto the queue again:
    // simulate it by enqueueing the same envelope under a fresh dedup id.
    let raw = community_aws::sqs::SqsQueue::new(
        stack.clients.sqs.clone(),
        stack.reference("RawEventsQueue").unwrap(),
    );
    let delivery = devstack::fixtures::github_deliveries()
        .into_iter()
        .find(|d| d.fixture == "github-pull-request-merged.json")
        .unwrap();
    let (headers, body) = devstack::fixtures::http_request(
        &devstack::repo_root(),
        &delivery,
        &devstack::secrets::DevSecrets::default(),
    )
    .unwrap();
    let lookup = |name: &str| headers.get(name).map(String::as_str);
    let platforms::Accepted::Enqueue { message, .. } = platforms::github::accept(
        &[secrecy::SecretString::from(
            devstack::secrets::DEV_GITHUB_WEBHOOK_SECRET.to_owned(),
        )],
        &platforms::github::Delivery {
            header: lookup,
            body: body.as_bytes(),
            received_at: OffsetDateTime::now_utc(),
        },
    )
    .unwrap() else {
        panic!("expected an enqueue")
    };
    raw.send(&OutgoingMessage {
        group_id: message.group_id,
        deduplication_id: "after-the-window".into(),
        body: message.body,
        attributes: BTreeMap::new(),
    })
    .await
    .unwrap();
    stack.drain(SETTLE).await.unwrap();

    let (delivered, milestones) = stored_types(&stack).await;
    assert_eq!(delivered, ["pull_request_merged"]);
    assert_eq!(
        milestones,
        ["first_contribution", "stage_changed"],
        "the author's first contribution and stage-up, recorded once however often it arrived"
    );
    let members = community_aws::members::list(
        &stack.clients.dynamodb,
        &stack.reference("MembersTable").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(members[0].contributions, 1, "recognition counted once");
    let counters = community_aws::counters::DynamoCounters::new(
        stack.clients.dynamodb.clone(),
        stack.reference("CountersTable").unwrap(),
    );
    let day = community_aws::ports::CounterReader::day(&counters, "2026-11-23")
        .await
        .unwrap();
    assert_eq!(day["events"], 1);
    assert_eq!(day["milestones"], 2);
}

#[tokio::test]
async fn a_bad_signature_is_401_and_queues_nothing() {
    let stack = stack("badsig").await;
    let response = stack
        .ingest
        .handle(fixture_request("github-bad-signature.json"))
        .await;
    assert_eq!(response.status_code, 401);
    let mut unsigned = fixture_request("github-issue-opened.json");
    unsigned.headers.remove("x-hub-signature-256");
    assert_eq!(stack.ingest.handle(unsigned).await.status_code, 401);
    assert_eq!(depth(&stack, "RawEventsQueue").await, 0);
}

#[tokio::test]
async fn an_unnormalizable_payload_is_dead_lettered_with_its_reason_while_others_flow() {
    let stack = stack("poison").await;
    // Signed and well-formed JSON, but an `issues.opened` without an issue: it
    // passes the edge and can never be normalized.
    let poison = stack
        .ingest
        .handle(github_request(
            "issues",
            "poison-1",
            r#"{"action":"opened","repository":{"full_name":"o/poison"}}"#,
        ))
        .await;
    assert_eq!(poison.status_code, 202);
    for n in 1..=3 {
        let ok = stack
            .ingest
            .handle(github_request(
                "issues",
                &format!("ok-{n}"),
                &issue_payload("o/healthy", n, "alice", 7),
            ))
            .await;
        assert_eq!(ok.status_code, 202);
    }
    stack.drain(SETTLE).await.unwrap();
    assert_eq!(stored_types(&stack).await.0.len(), 3);
    let dlq = stack.reference("RawEventsDeadLetterQueue").unwrap();
    let received = stack
        .clients
        .sqs
        .receive_message()
        .queue_url(&dlq)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let messages = received.messages.unwrap_or_default();
    assert_eq!(messages.len(), 1);
    let reason = messages[0].message_attributes.as_ref().unwrap()["failureReason"]
        .string_value
        .clone()
        .unwrap();
    assert!(reason.contains("lacks issue"), "{reason}");
}

/// A ledger whose claims keep failing for chosen events: a dependency fault
/// that never heals, to prove redrive after maxReceiveCount.
struct FaultyLedger {
    real: Arc<dyn EventLedger>,
    broken: HashSet<EventId>,
    attempts: Mutex<usize>,
}

#[async_trait]
impl EventLedger for FaultyLedger {
    async fn claim(&self, id: &EventId, now: OffsetDateTime) -> Result<Claim, AwsError> {
        if self.broken.contains(id) {
            *self.attempts.lock().unwrap() += 1;
            return Err(AwsError::retryable(
                "PutItem",
                "InternalServerError",
                "injected fault",
            ));
        }
        self.real.claim(id, now).await
    }
    async fn mark_emitted(&self, id: &EventId, now: OffsetDateTime) -> Result<(), AwsError> {
        self.real.mark_emitted(id, now).await
    }
    async fn record_drop(
        &self,
        id: &EventId,
        rule: &str,
        name: &str,
        now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        self.real.record_drop(id, rule, name, now).await
    }
}

#[tokio::test]
async fn a_record_that_keeps_failing_is_redriven_after_max_receives_while_other_groups_keep_flowing()
 {
    let mut stack = stack("redrive").await;
    let poisoned = opened_issue_id("o/stuck", 1);
    let faulty = Arc::new(FaultyLedger {
        real: stack.normalize.ledger.clone(),
        broken: HashSet::from([poisoned]),
        attempts: Mutex::new(0),
    });
    stack.normalize.ledger = faulty.clone();

    assert_eq!(
        stack
            .ingest
            .handle(github_request(
                "issues",
                "stuck-1",
                &issue_payload("o/stuck", 1, "mallory", 66)
            ))
            .await
            .status_code,
        202
    );
    for n in 1..=4 {
        let r = github_request(
            "issues",
            &format!("flow-{n}"),
            &issue_payload(&format!("o/flow-{n}"), n, "bob", 8),
        );
        assert_eq!(stack.ingest.handle(r).await.status_code, 202);
    }
    stack.drain(SETTLE).await.unwrap();

    assert_eq!(
        stored_types(&stack).await.0.len(),
        4,
        "the other groups were not blocked"
    );
    let max_receive = common::template()
        .queue("RawEventsQueue")
        .unwrap()
        .redrive
        .clone()
        .unwrap()
        .1;
    assert_eq!(
        *faulty.attempts.lock().unwrap() as i64,
        max_receive,
        "tried exactly maxReceiveCount times"
    );
    assert_eq!(
        depth(&stack, "RawEventsDeadLetterQueue").await,
        1,
        "then redriven by the queue's own policy"
    );
}

#[tokio::test]
async fn expired_events_are_ignored_by_reads_and_ttl_is_set() {
    let stack = stack("ttl").await;
    stack
        .ingest
        .handle(fixture_request("github-star-created.json"))
        .await;
    stack.drain(SETTLE).await.unwrap();
    // github@2 keys a star by repository, stargazer and time.
    let id = EventId::derive(
        Platform::Github,
        "star/acme-labs/widgets/5811003@2026-11-23T10:31:07Z",
        0,
    )
    .unwrap();

    let item = stack
        .clients
        .dynamodb
        .get_item()
        .table_name(stack.reference("EventsTable").unwrap())
        .key(
            "eventId",
            aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires_at: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    let in_90_days = (OffsetDateTime::now_utc() + time::Duration::days(90)).unix_timestamp();
    assert!(
        (expires_at - in_90_days).abs() < 120,
        "expiresAt is hot retention (90 days) from now"
    );

    let now = OffsetDateTime::now_utc();
    let later = now + time::Duration::days(91);
    assert!(
        reader(&stack)
            .get(&id.to_string(), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        reader(&stack)
            .get(&id.to_string(), later)
            .await
            .unwrap()
            .is_none(),
        "an item past expiresAt is not read"
    );
    assert_eq!(reader(&stack).recent(10, now).await.unwrap().len(), 1);
    let later_day_reader = community_aws::events::EventReader::new(
        stack.clients.dynamodb.clone(),
        stack.reference("EventsTable").unwrap(),
        120,
    );
    assert!(
        later_day_reader.recent(10, later).await.unwrap().is_empty(),
        "recent() skips expired items too"
    );

    // The ledger entry carries its TTL as well.
    let ledger = stack
        .clients
        .dynamodb
        .get_item()
        .table_name(stack.reference("LedgerTable").unwrap())
        .key(
            "eventId",
            aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ledger_expiry: i64 = ledger["expiresAt"].as_n().unwrap().parse().unwrap();
    let ttl_days: i64 = common::template().parameters["LedgerTtlDays"]
        .parse()
        .unwrap();
    let expected = (OffsetDateTime::now_utc() + time::Duration::days(ttl_days)).unix_timestamp();
    assert!(
        (ledger_expiry - expected).abs() < 120,
        "ledger expiresAt is LedgerTtlDays from now"
    );
    assert_eq!(ledger["status"].as_s().unwrap(), "emitted");
}

#[tokio::test]
async fn an_expired_ledger_entry_is_claimable_again() {
    let stack = stack("ledger").await;
    let ledger = community_aws::ledger::DynamoLedger::new(
        stack.clients.dynamodb.clone(),
        stack.reference("LedgerTable").unwrap(),
        stack.reference("CountersTable").unwrap(),
        7,
    );
    let id = EventId::derive(Platform::Github, "ledger-1", 0).unwrap();
    let now = OffsetDateTime::now_utc();
    assert_eq!(ledger.claim(&id, now).await.unwrap(), Claim::New);
    assert_eq!(ledger.claim(&id, now).await.unwrap(), Claim::Unfinished);
    ledger.mark_emitted(&id, now).await.unwrap();
    assert_eq!(ledger.claim(&id, now).await.unwrap(), Claim::Done);
    // Eight days later the entry is past its TTL (moto never deletes it).
    assert_eq!(
        ledger
            .claim(&id, now + time::Duration::days(8))
            .await
            .unwrap(),
        Claim::New
    );
}

#[tokio::test]
async fn dropped_events_are_counted_once_by_rule() {
    let stack = stack("drops").await;
    assert_eq!(
        stack
            .ingest
            .handle(fixture_request("github-public.json"))
            .await
            .status_code,
        202
    );
    stack.drain(SETTLE).await.unwrap();
    // The same delivery again after SQS's dedup window: only the ledger can
    // tell, so it must not be counted twice.
    let envelope = format!(
        r#"{{"v":1,"platform":"github","deliveryId":"5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a05","eventName":"public","receivedAt":"2026-11-23T12:00:00Z","payload":{}}}"#,
        devstack::fixtures::payload(&devstack::repo_root(), "public.json").unwrap()
    );
    community_aws::sqs::SqsQueue::new(
        stack.clients.sqs.clone(),
        stack.reference("RawEventsQueue").unwrap(),
    )
    .send(&OutgoingMessage {
        group_id: "g".into(),
        deduplication_id: "late-redelivery".into(),
        body: envelope,
        attributes: BTreeMap::new(),
    })
    .await
    .unwrap();
    stack.drain(SETTLE).await.unwrap();
    let counters = community_aws::counters::DynamoCounters::new(
        stack.clients.dynamodb.clone(),
        stack.reference("CountersTable").unwrap(),
    );
    let today = canonical_event::day_of(OffsetDateTime::now_utc());
    let day = community_aws::ports::CounterReader::day(&counters, &today)
        .await
        .unwrap();
    assert_eq!(day["dropped"], 1);
    assert_eq!(day["dropped:github.event_not_mapped"], 1);
    assert_eq!(count_items(&stack, "EventsTable").await, 0);
}

#[tokio::test]
async fn recording_an_event_twice_changes_nothing_the_second_time() {
    use community_aws::ports::EventStore;
    let stack = stack("store").await;
    stack
        .ingest
        .handle(fixture_request("github-issue-opened.json"))
        .await;
    stack
        .ingest
        .handle(fixture_request("github-pull-request-merged.json"))
        .await;
    stack.drain(SETTLE).await.unwrap();
    let now = OffsetDateTime::now_utc();
    let store = community_aws::events::DynamoEventStore::new(
        stack.clients.dynamodb.clone(),
        community_aws::events::RouteTables {
            events: stack.reference("EventsTable").unwrap(),
            counters: stack.reference("CountersTable").unwrap(),
            outbox: stack.reference("OutboxTable").unwrap(),
            members: stack.reference("MembersTable").unwrap(),
            reviews: stack.reference("ReviewsTable").unwrap(),
        },
        90,
    );
    let counters = community_aws::counters::DynamoCounters::new(
        stack.clients.dynamodb.clone(),
        stack.reference("CountersTable").unwrap(),
    );
    let before = community_aws::ports::CounterReader::day(&counters, "2026-11-23")
        .await
        .unwrap();
    let members_before = community_aws::members::list(
        &stack.clients.dynamodb,
        &stack.reference("MembersTable").unwrap(),
    )
    .await
    .unwrap();
    for event in reader(&stack).recent(10, now).await.unwrap() {
        assert_eq!(
            store.record(&event, now).await.unwrap(),
            community_aws::ports::Recorded::Duplicate
        );
    }
    assert_eq!(
        community_aws::ports::CounterReader::day(&counters, "2026-11-23")
            .await
            .unwrap(),
        before
    );
    assert_eq!(count_items(&stack, "OutboxTable").await, 1);
    let members_after = community_aws::members::list(
        &stack.clients.dynamodb,
        &stack.reference("MembersTable").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(
        members_after
            .iter()
            .map(|m| m.contributions)
            .collect::<Vec<_>>(),
        members_before
            .iter()
            .map(|m| m.contributions)
            .collect::<Vec<_>>()
    );

    // After the hot window the event may be stored again, but its ticket
    // request (the outbox never expires) is not duplicated.
    let bug = reader(&stack)
        .by_type("issue_opened", 1, now)
        .await
        .unwrap()
        .remove(0);
    let later = now + time::Duration::days(91);
    assert_eq!(
        store.record(&bug, later).await.unwrap(),
        community_aws::ports::Recorded::Stored
    );
    assert_eq!(count_items(&stack, "OutboxTable").await, 1);
}

#[tokio::test]
async fn concurrent_first_sightings_agree_on_one_member() {
    let stack = stack("members").await;
    let store = community_aws::members::DynamoMembers::new(
        stack.clients.dynamodb.clone(),
        stack.reference("MembersTable").unwrap(),
    );
    let actor = canonical_event::Actor {
        platform_user_id: "42".into(),
        handle: "zoe".into(),
        display_name: None,
        is_bot: false,
    };
    let now = OffsetDateTime::now_utc();
    let hints = canonical_event::IdentityHints::default();
    use community_aws::ports::IdentityStore;
    let (a, b, c) = tokio::join!(
        store.resolve(Platform::Github, &actor, &hints, now),
        store.resolve(Platform::Github, &actor, &hints, now),
        store.resolve(Platform::Github, &actor, &hints, now)
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert_eq!(a, b);
    assert_eq!(b, c);
    assert_eq!(
        count_items(&stack, "MembersTable").await,
        3,
        "one identity item, one member item and the GitHub login's lookup item"
    );
}

#[tokio::test]
async fn alert_tells_slack_once_per_breach_and_once_on_recovery() {
    let slack = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::body_string_contains("stored"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_string("ok"))
        .expect(2)
        .mount(&slack)
        .await;
    let sdk = sdk().await;
    let parameter = format!("/{}/slack-webhook", unique("alert"));
    devstack::provision::put_secret(
        &sdk,
        &parameter,
        &format!("{}/services/T000/B000/XXX", slack.uri()),
    )
    .await
    .unwrap();
    let stack = stack_with(
        "alert",
        BTreeMap::from([("SlackAlertWebhookParam".to_owned(), parameter)]),
    )
    .await;
    stack
        .ingest
        .handle(fixture_request("github-issue-opened.json"))
        .await;
    stack.drain(SETTLE).await.unwrap();
    let healthy = stack.alert.handle().await.unwrap();
    assert!(
        !healthy.notified && healthy.notices.is_empty(),
        "{:?}",
        healthy.notices
    );
    assert_eq!(healthy.dead_letters.len(), 2);

    // A dead letter arrives: one notice, however often the sweep runs.
    let dlq = stack.reference("NormalizedEventsDeadLetterQueue").unwrap();
    stack
        .clients
        .sqs
        .send_message()
        .queue_url(&dlq)
        .message_group_id("g")
        .message_deduplication_id("d1")
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let fired = stack.alert.handle().await.unwrap();
    assert!(fired.notified);
    assert_eq!(fired.notices.len(), 1, "{:?}", fired.notices);
    assert_eq!(fired.metrics.dead_letters, 1);
    assert!(stack.alert.handle().await.unwrap().notices.is_empty());

    // Drained: one recovery notice.
    stack
        .clients
        .sqs
        .purge_queue()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap();
    let recovered = stack.alert.handle().await.unwrap();
    assert_eq!(recovered.notices.len(), 1, "{:?}", recovered.notices);
    assert!(
        recovered.notices[0].to_lowercase().contains("recover"),
        "{:?}",
        recovered.notices
    );
    assert!(stack.alert.handle().await.unwrap().notices.is_empty());
    // wiremock verifies `expect(2)` when dropped.
}
