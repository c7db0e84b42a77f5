//! Tickets, recognition and the closed loop end to end: the real functions
//! on the emulator, with Linear and Slack answered by local stand-ins that
//! follow their documented contracts (tools/devstack/src/standins.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use community_aws::tickets::{DynamoTicketLedger, TicketLedger};
use devstack::standins::{Faults, StandIns};
use hmac::Mac;
use trackers::{SinkError, TicketDraft, TicketRef, TicketSink, Tracker};

const SETTLE: Duration = Duration::from_secs(60);
const LINEAR_WEBHOOK_SECRET: &str = StandIns::LINEAR_WEBHOOK_SECRET;

/// A stack whose route files tickets in the Linear stand-in and posts to its
/// Slack stand-in, and whose ingest accepts the stand-in's signed webhooks.
async fn tracked_stack(standins: &StandIns, prefix: &str) -> devstack::Stack {
    let sdk = sdk().await;
    let mut overrides = BTreeMap::new();
    for (parameter, name, value) in standins.stack_parameters(&format!("/{}", unique(prefix))) {
        devstack::provision::put_secret(&sdk, &name, &value)
            .await
            .unwrap();
        overrides.insert(parameter, name);
    }
    stack_with(prefix, overrides).await
}

fn ledger(stack: &devstack::Stack) -> DynamoTicketLedger {
    DynamoTicketLedger::new(
        stack.clients.dynamodb.clone(),
        &stack.reference("OutboxTable").unwrap(),
        &stack.reference("CountersTable").unwrap(),
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A Slack message event from `user`: distinct `event_id`s are distinct
/// messages (Slack names a message by its channel and `ts`, so each gets
/// its own `ts` from the id's digits).
fn slack_message(event_id: &str, user: &str, text: &str) -> String {
    let ts = now();
    let sequence: u32 = event_id
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap();
    serde_json::json!({
        "token": "dev-verification-token", "team_id": "T0DEVTEAM1", "api_app_id": "A0DEVAPP01",
        "type": "event_callback", "event_id": event_id, "event_time": ts,
        "event": {
            "type": "message", "text": text, "user": user,
            "ts": format!("{ts}.{sequence:06}"), "team": "T0DEVTEAM1",
            "channel": "C0DEVHELP1", "event_ts": format!("{ts}.000100"), "channel_type": "channel"
        }
    })
    .to_string()
}

const CSV_CRASH: &str = "Bug: the CSV export crashes with a stack trace when a column is empty. Steps to reproduce: create a table with an empty column, click Export. Expected: a file. Actual: error 500.";
const CSV_AGAIN: &str = "The CSV export crashes for me too, error 500 with a stack trace when I click Export. Steps to reproduce: any table with an empty column.";
const LOGIN_BUG: &str = "Bug: the login page rejects valid passwords after a reset. Steps to reproduce: reset the password, log in. Expected: logged in. Actual: invalid password error.";

async fn post(stack: &devstack::Stack, body: &str) {
    let response = stack.ingest.handle(slack_request(body, now())).await;
    assert_eq!(response.status_code, 202, "{:?}", response.body);
}

/// The product-backlog requests in the ledger, by state.
async fn request_states(stack: &devstack::Stack) -> Vec<String> {
    let table = stack.reference("OutboxTable").unwrap();
    let mut states: Vec<String> = community_aws::outbox::list(&stack.clients.dynamodb, &table)
        .await
        .unwrap()
        .into_iter()
        .map(|request| request.status)
        .collect();
    states.sort();
    states
}

/// Linear's Issue webhook for a completed issue, signed like Linear signs it.
fn linear_completed(issue_id: &str) -> aws_lambda_events::event::apigw::ApiGatewayV2httpRequest {
    let now = time::OffsetDateTime::now_utc();
    let body = serde_json::json!({
        "action": "update", "type": "Issue",
        "createdAt": canonical_event::rfc3339_utc(now),
        "data": {
            "id": issue_id, "identifier": "COM-1", "title": "CSV export crashes",
            "completedAt": canonical_event::rfc3339_utc(now),
            "state": { "id": "s-done", "name": "Done", "type": "completed" }
        },
        "updatedFrom": { "completedAt": null, "stateId": "s-progress" },
        "url": "https://linear.app/dev/issue/COM-1",
        "webhookTimestamp": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        "webhookId": "wh-dev"
    })
    .to_string();
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(LINEAR_WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    serde_json::from_value(serde_json::json!({
        "version": "2.0",
        "rawPath": "/webhooks/linear",
        "headers": {
            "content-type": "application/json",
            "linear-signature": signature,
            "linear-delivery": uuid::Uuid::new_v4().to_string(),
            "linear-event": "Issue"
        },
        "requestContext": { "http": { "method": "POST", "path": "/webhooks/linear" } },
        "body": body,
        "isBase64Encoded": false
    }))
    .unwrap()
}

#[tokio::test]
async fn one_ticket_per_report_similar_reports_join_it_and_its_resolution_closes_the_loop() {
    let standins = StandIns::start().await.unwrap();
    let stack = tracked_stack(&standins, "tickets").await;

    post(&stack, &slack_message("EvT0001", "U0REPORT1", CSV_CRASH)).await;
    stack.drain(SETTLE).await.unwrap();
    assert_eq!(standins.issues().len(), 1, "{:#?}", standins.issues());

    // The same stored event redelivered to route after the SQS window (as a
    // crash-and-retry would): still one ticket.
    let stored = reader(&stack)
        .recent(10, time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    let report = stored
        .iter()
        .find(|e| e.routing_target == canonical_event::RoutingTarget::ProductBacklog)
        .unwrap()
        .clone();
    for _ in 0..2 {
        let mut batch = aws_lambda_events::event::sqs::SqsEvent::default();
        let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
        record.message_id = Some(uuid::Uuid::new_v4().to_string());
        record.body = Some(serde_json::to_string(&report).unwrap());
        batch.records.push(record);
        let response = stack.route.handle(batch).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    assert_eq!(standins.issues().len(), 1);

    // A similar report from another member joins it; an unrelated one does not.
    post(&stack, &slack_message("EvT0002", "U0REPORT2", CSV_AGAIN)).await;
    post(&stack, &slack_message("EvT0003", "U0REPORT3", LOGIN_BUG)).await;
    stack.drain(SETTLE).await.unwrap();
    let issues = standins.issues();
    assert_eq!(issues.len(), 2, "{issues:#?}");
    let csv = &issues[0];
    assert!(csv.title.contains("CSV export crashes"), "{}", csv.title);
    assert!(
        csv.description.contains("bug_report"),
        "{}",
        csv.description
    );
    assert!(
        csv.description.contains("Why this became a ticket"),
        "{}",
        csv.description
    );
    assert_eq!(csv.comments.len(), 1, "{:?}", csv.comments);
    assert!(
        csv.comments[0].contains("+1") && csv.comments[0].contains("2 members"),
        "{}",
        csv.comments[0]
    );
    assert_eq!(
        request_states(&stack).await,
        ["complete", "complete", "complete"]
    );
    let ticket = ledger(&stack)
        .ticket(&community_aws::tickets::ticket_pk("linear", &csv.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticket.askers.len(), 2);
    assert!(ticket.open);

    // Linear says it is done: resolved once, the reporters told once.
    for _ in 0..2 {
        let response = stack.ingest.handle(linear_completed(&csv.id)).await;
        assert_eq!(response.status_code, 202, "{:?}", response.body);
        stack.drain(SETTLE).await.unwrap();
    }
    let resolved = ledger(&stack)
        .ticket(&community_aws::tickets::ticket_pk("linear", &csv.id))
        .await
        .unwrap()
        .unwrap();
    assert!(!resolved.open);
    assert!(resolved.resolution_seconds.unwrap() >= 0);
    let told = standins.slack_messages("feedback");
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(
        told[0].contains("Fixed") && told[0].contains("COM-1"),
        "{}",
        told[0]
    );
    // Resolved tickets leave the open index: a new report opens a new one.
    let open = ledger(&stack).open_tickets("bug_report", 10).await.unwrap();
    assert_eq!(open.len(), 1, "only the login ticket is open");
    // And the alert's median resolution time sees it.
    let metrics = stack
        .alert
        .measure(time::OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(metrics.resolved_tickets_30d, 1);
    assert!(metrics.median_resolution_seconds.is_some());
}

/// Performs the tracker call, then "crashes" before route can record the
/// answer in the ledger.
struct CrashAfterCall(Arc<dyn TicketSink>);

#[async_trait]
impl TicketSink for CrashAfterCall {
    fn tracker(&self) -> Tracker {
        self.0.tracker()
    }
    async fn create(
        &self,
        draft: &TicketDraft,
        deadline: tokio::time::Instant,
    ) -> Result<TicketRef, SinkError> {
        self.0.create(draft, deadline).await?;
        Err(SinkError::Unavailable {
            tracker: "linear",
            detail: "process died".into(),
        })
    }
    async fn find(
        &self,
        draft: &TicketDraft,
        since: time::OffsetDateTime,
        deadline: tokio::time::Instant,
    ) -> Result<Option<TicketRef>, SinkError> {
        self.0.find(draft, since, deadline).await
    }
    async fn comment(
        &self,
        ticket: &TicketRef,
        marker: &str,
        body: &str,
        deadline: tokio::time::Instant,
    ) -> Result<(), SinkError> {
        self.0.comment(ticket, marker, body, deadline).await
    }
    async fn has_comment(
        &self,
        ticket: &TicketRef,
        marker: &str,
        deadline: tokio::time::Instant,
    ) -> Result<bool, SinkError> {
        self.0.has_comment(ticket, marker, deadline).await
    }
}

#[tokio::test]
async fn a_crash_between_the_tracker_call_and_the_ledger_leaves_no_duplicate() {
    let standins = StandIns::start().await.unwrap();
    let stack = tracked_stack(&standins, "crash").await;
    let mut crashing = stack.route.clone();
    crashing.tickets.sink = Some(Arc::new(CrashAfterCall(
        stack.route.tickets.sink.clone().unwrap(),
    )));

    post(&stack, &slack_message("EvC0001", "U0REPORT1", CSV_CRASH)).await;
    stack
        .raw_events
        .poll_once(&stack.clients.sqs, |e| stack.normalize.handle(e))
        .await
        .unwrap();
    let polled = stack
        .normalized_events
        .poll_once(&stack.clients.sqs, |e| crashing.handle(e))
        .await
        .unwrap();
    assert_eq!(polled.failed, 1, "{polled:?}");
    assert_eq!(standins.issues().len(), 1, "the call landed");
    assert_eq!(request_states(&stack).await, ["attempting"]);

    // The redelivery finds the ticket by its id instead of opening another.
    stack.drain(SETTLE).await.unwrap();
    assert_eq!(standins.issues().len(), 1, "{:#?}", standins.issues());
    assert_eq!(request_states(&stack).await, ["complete"]);
}

#[tokio::test]
async fn rate_limits_are_waited_out_and_an_outage_dead_letters_with_a_reason_until_redriven() {
    let standins = StandIns::start().await.unwrap();
    let stack = tracked_stack(&standins, "ratelimit").await;

    // A short rate limit: waited out inside the invocation.
    standins.set_linear_faults(Faults {
        rate_limit_next: 1,
        ..Faults::default()
    });
    post(&stack, &slack_message("EvR0001", "U0REPORT1", CSV_CRASH)).await;
    stack.drain(SETTLE).await.unwrap();
    assert_eq!(standins.issues().len(), 1);

    // Linear down for longer than maxReceiveCount deliveries: dead-lettered
    // with the reason, nothing lost.
    standins.set_linear_faults(Faults {
        unavailable_next: 10_000,
        ..Faults::default()
    });
    post(&stack, &slack_message("EvR0002", "U0REPORT2", LOGIN_BUG)).await;
    stack.drain(SETTLE).await.unwrap();
    assert_eq!(standins.issues().len(), 1);
    let dlq = stack.reference("NormalizedEventsDeadLetterQueue").unwrap();
    let letters = stack
        .clients
        .sqs
        .receive_message()
        .queue_url(&dlq)
        .message_attribute_names("All")
        .visibility_timeout(0)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let letters = letters.messages();
    assert_eq!(letters.len(), 1);
    let reasons: Vec<String> = letters[0]
        .message_attributes()
        .unwrap()
        .values()
        .filter_map(|v| v.string_value().map(str::to_owned))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("not filed after 3 attempts")),
        "{reasons:?}"
    );

    // Linear is back: the operator redrives and the ticket is filed once.
    standins.set_linear_faults(Faults::default());
    let source = stack.reference("NormalizedEventsQueue").unwrap();
    let report = community_aws::redrive::redrive(&stack.clients.sqs, &dlq, &source, 10, false)
        .await
        .unwrap();
    assert_eq!(report.moved, 1);
    stack.drain(SETTLE).await.unwrap();
    assert_eq!(standins.issues().len(), 2, "{:#?}", standins.issues());
    assert_eq!(request_states(&stack).await, ["complete", "complete"]);
}

#[tokio::test]
async fn a_first_contribution_is_recognised_once_and_the_cooldown_holds_the_next() {
    let standins = StandIns::start().await.unwrap();
    let stack = tracked_stack(&standins, "recognise").await;
    let merged = |number: u64| {
        format!(
            r#"{{"action":"closed","number":{number},"pull_request":{{"number":{number},"title":"Fix CSV export {number}","body":"fixes the crash","merged":true,"merged_at":"2026-11-23T09:30:00Z","html_url":"https://github.com/o/r/pull/{number}","user":{{"login":"newcomer","id":4242}},"created_at":"2026-11-23T09:00:00Z"}},"repository":{{"full_name":"o/r"}},"sender":{{"login":"newcomer","id":4242}}}}"#
        )
    };
    // Slack is rate limited at first: the milestone is posted on the retry.
    standins.set_slack_faults(1);
    stack
        .ingest
        .handle(github_request("pull_request", "pr-delivery-1", &merged(7)))
        .await;
    stack.drain(SETTLE).await.unwrap();
    let posts = standins.slack_messages("recognition");
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert!(
        posts[0].contains("newcomer") && posts[0].contains("first contribution"),
        "{}",
        posts[0]
    );

    // A second merged PR the same day: recorded, not posted (cooldown).
    stack
        .ingest
        .handle(github_request("pull_request", "pr-delivery-2", &merged(8)))
        .await;
    stack.drain(SETTLE).await.unwrap();
    assert_eq!(standins.slack_messages("recognition").len(), 1);
    let table = stack.reference("MembersTable").unwrap();
    let items = community_aws::scan_all(&stack.clients.dynamodb, &table, Some("RECOGNITION#"))
        .await
        .unwrap();
    let mut statuses: Vec<String> = items
        .iter()
        .map(|i| i["status"].as_s().unwrap().clone())
        .collect();
    statuses.sort();
    assert!(
        statuses.contains(&"posted".to_owned())
            && statuses.iter().filter(|s| *s == "posted").count() == 1,
        "{statuses:?}"
    );
    assert!(statuses.contains(&"cooldown".to_owned()), "{statuses:?}");
}
