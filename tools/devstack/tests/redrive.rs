//! Redrive on the emulator: dead letters written the way the functions write
//! them go back to their source queue, in their groups, once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use common::*;
use community_aws::ports::{MessageQueue, OutgoingMessage, QueueStats};
use community_aws::redrive::{self, DEAD_LETTER_ATTRIBUTES, REDRIVEN_FROM};
use community_aws::sqs::{SqsQueue, dead_letter, send_dead_letter};

const BODY_A: &str = r#"{"eventId":"a","note":"resolution"}"#;
const BODY_B: &str = r#"{"eventId":"b"}"#;
const REASON_A: &str = "not a ticket resolution: missing field `ticketId`";
const REASON_B: &str = "ticket refused: 422 Unprocessable Entity";

/// The normalized-events dead-letter queue and its source queue.
fn queues(stack: &devstack::Stack) -> (String, String) {
    (
        stack.reference("NormalizedEventsDeadLetterQueue").unwrap(),
        stack.reference("NormalizedEventsQueue").unwrap(),
    )
}

/// A record as route receives it from the normalized-events queue.
fn record(id: &str, group: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.to_owned());
    m.body = Some(body.to_owned());
    m.attributes
        .insert("MessageGroupId".into(), group.to_owned());
    m
}

/// Two dead letters, as route writes them: one in group `g-a` carrying a
/// `kind` attribute, one in group `g-b` through `send_dead_letter` itself.
async fn put_two_dead_letters(stack: &devstack::Stack, dlq: &str) {
    let queue = SqsQueue::new(stack.clients.sqs.clone(), dlq);
    let mut a = dead_letter("route", "src-a", "g-a", BODY_A, REASON_A);
    a.attributes
        .insert("kind".to_owned(), "ticketResolution".to_owned());
    queue.send(&a).await.unwrap();
    send_dead_letter(&queue, "route", &record("src-b", "g-b", BODY_B), REASON_B)
        .await
        .unwrap();
}

async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, visibility: i32) -> Vec<Message> {
    sqs.receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(visibility)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

/// Every message on a queue, in the order received, deleting them.
async fn take_all(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Message> {
    let mut all = Vec::new();
    loop {
        let messages = receive(sqs, url, 30).await;
        if messages.is_empty() {
            return all;
        }
        for m in &messages {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        all.extend(messages);
    }
}

fn group(m: &Message) -> &str {
    &m.attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId]
}

fn attribute<'m>(m: &'m Message, name: &str) -> Option<&'m str> {
    m.message_attributes()
        .and_then(|a| a.get(name))
        .and_then(|v| v.string_value())
}

async fn visible(stack: &devstack::Stack, url: &str) -> i64 {
    stack.clients.sqs.depth(url).await.unwrap().visible
}

async fn total(stack: &devstack::Stack, url: &str) -> i64 {
    let depth = stack.clients.sqs.depth(url).await.unwrap();
    depth.visible + depth.in_flight
}

fn counts<const N: usize>(pairs: [(&str, usize); N]) -> BTreeMap<String, usize> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[tokio::test]
async fn dead_letters_go_back_to_their_source_queue_once() {
    let stack = stack("redrive").await;
    let sqs = &stack.clients.sqs;
    let (dlq, source) = queues(&stack);
    put_two_dead_letters(&stack, &dlq).await;
    // The dead letters' ids, by group (visibility 0: they stay visible).
    let dlq_ids: BTreeMap<String, String> = receive(sqs, &dlq, 0)
        .await
        .iter()
        .map(|m| (group(m).to_owned(), m.message_id().unwrap().to_owned()))
        .collect();
    assert_eq!(dlq_ids.len(), 2);
    let reasons = counts([(REASON_A, 1), (REASON_B, 1)]);
    let groups = counts([("g-a", 1), ("g-b", 1)]);

    // A dry run says what would move, and moves nothing.
    let dry = redrive::redrive(sqs, &dlq, &source, usize::MAX, true)
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.waiting, 2);
    assert_eq!(dry.moved, 2, "{dry:?}");
    assert!(dry.failed.is_empty(), "{dry:?}");
    assert_eq!(dry.groups, groups);
    assert_eq!(dry.reasons, reasons);
    assert_eq!(total(&stack, &source).await, 0, "a dry run sends nothing");
    assert_eq!(
        visible(&stack, &dlq).await,
        2,
        "a dry run neither deletes nor hides a dead letter"
    );

    let report = redrive::redrive(sqs, &dlq, &source, usize::MAX, false)
        .await
        .unwrap();
    assert!(!report.dry_run);
    assert_eq!(report.moved, 2, "{report:?}");
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.interrupted, None);
    assert_eq!(report.groups, groups);
    assert_eq!(report.reasons, reasons, "the operator sees why they failed");
    assert_eq!(
        total(&stack, &dlq).await,
        0,
        "the dead-letter queue is empty"
    );

    let mut copies = take_all(sqs, &source).await;
    copies.sort_by(|x, y| group(x).cmp(group(y)));
    let moved: Vec<_> = copies
        .iter()
        .map(|m| (group(m), m.body().unwrap()))
        .collect();
    assert_eq!(
        moved,
        [("g-a", BODY_A), ("g-b", BODY_B)],
        "same groups, same bodies"
    );
    for copy in &copies {
        for name in DEAD_LETTER_ATTRIBUTES {
            assert_eq!(attribute(copy, name), None, "{name} is dropped");
        }
        let dlq_id = &dlq_ids[group(copy)];
        assert_eq!(attribute(copy, REDRIVEN_FROM), Some(dlq_id.as_str()));
        assert_eq!(
            copy.attributes().unwrap()[&MessageSystemAttributeName::MessageDeduplicationId],
            redrive::deduplication_id(dlq_id),
            "a new deduplication id, derived from the dead letter's id"
        );
    }
    assert_eq!(
        attribute(&copies[0], "kind"),
        Some("ticketResolution"),
        "other attributes survive"
    );
    assert_eq!(attribute(&copies[1], "kind"), None);

    let again = redrive::redrive(sqs, &dlq, &source, usize::MAX, false)
        .await
        .unwrap();
    assert_eq!((again.moved, again.failed.len()), (0, 0), "{again:?}");
    assert!(again.reasons.is_empty());
    let dry_again = redrive::redrive(sqs, &dlq, &source, usize::MAX, true)
        .await
        .unwrap();
    assert_eq!((dry_again.moved, dry_again.failed.len()), (0, 0));
    assert_eq!(total(&stack, &source).await, 0, "nothing was sent twice");
}

#[tokio::test]
async fn nothing_is_deleted_when_the_source_queue_refuses() {
    let stack = stack("redrive-refused").await;
    let sqs = &stack.clients.sqs;
    let (dlq, source) = queues(&stack);
    put_two_dead_letters(&stack, &dlq).await;
    let missing = format!("{source}-missing");

    let report = redrive::redrive(sqs, &dlq, &missing, usize::MAX, false)
        .await
        .unwrap();
    assert_eq!(report.moved, 0, "{report:?}");
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert!(report.failed.iter().all(|f| !f.sent), "{report:?}");
    assert!(report.groups.is_empty());
    assert_eq!(
        visible(&stack, &dlq).await,
        2,
        "both stay, and are visible again at once"
    );
    assert_eq!(total(&stack, &source).await, 0);

    // Once the cause is gone they move as usual.
    let report = redrive::redrive(sqs, &dlq, &source, usize::MAX, false)
        .await
        .unwrap();
    assert_eq!((report.moved, report.failed.len()), (2, 0), "{report:?}");
}

#[tokio::test]
async fn a_message_left_behind_holds_back_the_rest_of_its_group() {
    let stack = stack("redrive-group").await;
    let sqs = &stack.clients.sqs;
    let (dlq, source) = queues(&stack);
    let queue = SqsQueue::new(sqs.clone(), &dlq);
    // As SQS's redrive policy leaves a message: its own attributes, no
    // reason. Ten of them leave no room for `redrivenFrom`.
    let crowded = OutgoingMessage {
        group_id: "g".to_owned(),
        deduplication_id: "g-1".to_owned(),
        body: "g-1".to_owned(),
        attributes: (0..10).map(|n| (format!("a{n}"), "v".to_owned())).collect(),
    };
    let later = OutgoingMessage {
        group_id: "g".to_owned(),
        deduplication_id: "g-2".to_owned(),
        body: "g-2".to_owned(),
        attributes: Default::default(),
    };
    let elsewhere = OutgoingMessage {
        group_id: "h".to_owned(),
        deduplication_id: "h-1".to_owned(),
        body: "h-1".to_owned(),
        attributes: Default::default(),
    };
    for message in [&crowded, &later, &elsewhere] {
        queue.send(message).await.unwrap();
    }

    let report = redrive::redrive(sqs, &dlq, &source, usize::MAX, false)
        .await
        .unwrap();
    assert_eq!(report.moved, 1, "{report:?}");
    assert_eq!(report.groups, counts([("h", 1)]));
    assert_eq!(report.reasons, counts([(redrive::NO_REASON, 3)]));
    let failed: Vec<_> = report
        .failed
        .iter()
        .map(|f| (f.group_id.as_str(), f.sent))
        .collect();
    assert_eq!(failed, [("g", false), ("g", false)], "{report:?}");
    assert!(report.failed[0].error.contains("at most 10"), "{report:?}");
    assert!(
        report.failed[1]
            .error
            .contains("earlier message of its group")
    );
    let bodies: Vec<_> = take_all(sqs, &source)
        .await
        .iter()
        .map(|m| m.body().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["h-1"], "g-2 never overtakes g-1");
    assert_eq!(visible(&stack, &dlq).await, 2);
}

#[tokio::test]
async fn order_within_a_group_survives_and_max_stops_the_run() {
    let stack = stack("redrive-order").await;
    let sqs = &stack.clients.sqs;
    let (dlq, source) = queues(&stack);
    let queue = SqsQueue::new(sqs.clone(), &dlq);
    for n in 1..=3 {
        let body = format!("g-{n}");
        queue
            .send(&dead_letter("route", &body, "g", &body, "boom"))
            .await
            .unwrap();
    }

    let first = redrive::redrive(sqs, &dlq, &source, 2, false)
        .await
        .unwrap();
    assert_eq!((first.moved, first.failed.len()), (2, 0), "{first:?}");
    assert_eq!(total(&stack, &dlq).await, 1, "max stops the run");
    assert_eq!(
        visible(&stack, &dlq).await,
        1,
        "and hides nothing it did not move"
    );
    let rest = redrive::redrive(sqs, &dlq, &source, usize::MAX, false)
        .await
        .unwrap();
    assert_eq!((rest.moved, rest.failed.len()), (1, 0), "{rest:?}");

    let bodies: Vec<_> = take_all(sqs, &source)
        .await
        .iter()
        .map(|m| m.body().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, ["g-1", "g-2", "g-3"]);
}

/// A redriven message that fails again and comes back while the redrive is
/// still running is left alone: here the "source" is the dead-letter queue
/// itself, so every copy comes straight back (with the id SQS gave it, as
/// SQS's own redrive policy keeps it). Without the guard the run would only
/// stop at `max`.
#[tokio::test]
async fn a_copy_that_comes_back_during_the_run_is_not_redriven_again() {
    let stack = stack("redrive-loop").await;
    let sqs = &stack.clients.sqs;
    let (dlq, _) = queues(&stack);
    put_two_dead_letters(&stack, &dlq).await;

    let report = redrive::redrive(sqs, &dlq, &dlq, 50, false).await.unwrap();
    assert_eq!(report.moved, 2, "{report:?}");
    assert_eq!(report.failed.len(), 2, "{report:?}");
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.error.contains("dead-lettered again"))
    );
    assert_eq!(visible(&stack, &dlq).await, 2);
}
