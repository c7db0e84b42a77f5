use std::sync::Mutex;

use async_trait::async_trait;
use community_aws::AwsError;
use community_aws::ports::OutgoingMessage;
use time::OffsetDateTime;

use super::*;

#[derive(Default)]
struct MemoryStore {
    seen: Mutex<Vec<String>>,
    /// Every stored event, in order.
    stored: Mutex<Vec<CanonicalEvent>>,
    fail_for_handle: Option<&'static str>,
    /// Counts activity on the member as the DynamoDB store does, in the
    /// event's own write.
    lifecycle: Option<Arc<MemoryLifecycle>>,
}

/// The member item's lifecycle attributes, in memory.
#[derive(Default)]
struct MemoryLifecycle {
    members: Mutex<std::collections::HashMap<String, MemberActivity>>,
    /// Milestones saved with a stage, in order.
    milestones: Mutex<Vec<CanonicalEvent>>,
    /// Where milestones' pending recognition claims go (as DynamoDB writes
    /// them in the same transaction).
    recognitions: Arc<tickets::MemoryRecognitions>,
}

#[async_trait]
impl LifecycleStore for MemoryLifecycle {
    async fn load(
        &self,
        member_id: &str,
        _now: OffsetDateTime,
    ) -> Result<Option<MemberActivity>, AwsError> {
        let settled = self.recognitions.settled.lock().unwrap().clone();
        Ok(self
            .members
            .lock()
            .unwrap()
            .get(member_id)
            .cloned()
            .map(|mut m| {
                m.pending_recognitions.retain(|id| !settled.contains(id));
                m
            }))
    }
    async fn save(
        &self,
        member_id: &str,
        loaded: &MemberActivity,
        update: &community_aws::ports::StageUpdate,
        milestones: &[CanonicalEvent],
        _now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        let mut members = self.members.lock().unwrap();
        let Some(member) = members.get_mut(member_id) else {
            return Ok(false);
        };
        if member.version != loaded.version || member.transitions != loaded.transitions {
            return Ok(false);
        }
        self.milestones
            .lock()
            .unwrap()
            .extend_from_slice(milestones);
        for milestone in milestones {
            if milestone.routing_target == canonical_event::RoutingTarget::Recognition {
                let id = milestone.event_id.to_string();
                self.recognitions
                    .texts
                    .lock()
                    .unwrap()
                    .insert(id.clone(), recognition_text(milestone));
                member.pending_recognitions.push(id);
            }
        }
        member.stage = Some(update.stage.clone());
        member.ever_contributed = update.ever_contributed;
        member.transitions = update.transitions;
        member
            .counts
            .retain(|(day, _, _)| *day >= update.forget_before);
        Ok(true)
    }
}

#[derive(Default)]
struct MemoryReviews {
    notified: Mutex<Vec<String>>,
}

#[async_trait]
impl ReviewQueue for MemoryReviews {
    async fn needs_notice(&self, event_id: &str, _now: OffsetDateTime) -> Result<bool, AwsError> {
        Ok(!self
            .notified
            .lock()
            .unwrap()
            .iter()
            .any(|id| id == event_id))
    }
    async fn noticed(&self, event_id: &str, _now: OffsetDateTime) -> Result<(), AwsError> {
        self.notified.lock().unwrap().push(event_id.to_owned());
        Ok(())
    }
}

#[derive(Default)]
struct MemoryNotifier {
    texts: Mutex<Vec<String>>,
    failures_left: Mutex<u32>,
    /// Answer like a revoked webhook.
    revoked: bool,
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn notify(&self, text: &str) -> Result<(), AwsError> {
        if self.revoked {
            return Err(AwsError::permanent("SlackWebhook", "404", "no_service"));
        }
        let mut left = self.failures_left.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return Err(AwsError::retryable("SlackWebhook", "503", "unavailable"));
        }
        self.texts.lock().unwrap().push(text.to_owned());
        Ok(())
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn record(
        &self,
        event: &CanonicalEvent,
        _now: OffsetDateTime,
    ) -> Result<Recorded, AwsError> {
        if Some(event.actor.handle.as_str()) == self.fail_for_handle {
            return Err(AwsError::retryable(
                "TransactWriteItems",
                "ThrottlingException",
                "slow down",
            ));
        }
        let mut seen = self.seen.lock().unwrap();
        let id = event.event_id.to_string();
        if seen.contains(&id) {
            return Ok(Recorded::Duplicate);
        }
        seen.push(id);
        self.stored.lock().unwrap().push(event.clone());
        if let Some(lifecycle) = &self.lifecycle
            && !event.actor.is_bot
            && !event.event_type.is_derived()
            && event.routing_target != canonical_event::RoutingTarget::Review
        {
            let mut members = lifecycle.members.lock().unwrap();
            let member = members.entry(event.user_id.clone()).or_default();
            member
                .counts
                .push((event.day(), event.event_type.as_str().to_owned(), 1));
            member.version += 1;
        }
        Ok(Recorded::Stored)
    }
}

#[derive(Default)]
struct MemoryQueue(Mutex<Vec<OutgoingMessage>>);

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), AwsError> {
        self.0.lock().unwrap().push(message.clone());
        Ok(())
    }
    async fn send_all(&self, messages: &[OutgoingMessage]) -> Vec<Result<(), AwsError>> {
        self.0.lock().unwrap().extend_from_slice(messages);
        messages.iter().map(|_| Ok(())).collect()
    }
}

fn event_json(delivery: &str, handle: &str) -> String {
    format!(
        r#"{{"schemaVersion":1,"eventId":"{id}","platform":"github","eventType":"issue_opened","userId":"m1","actor":{{"platformUserId":"1","handle":"{handle}","isBot":false}},"timestamp":"2026-11-23T10:00:00Z","receivedAt":"2026-11-23T10:00:01Z","source":{{"repository":"o/r"}},"content":{{"labels":[]}},"signalScore":0.5,"signal":"medium","reasons":[],"routingTarget":"product-backlog","provenance":{{"deliveryId":"{delivery}","indexInDelivery":0,"platformEvent":"issues.opened","adapter":"github@1","scoring":"rules@1"}}}}"#,
        id = canonical_event::EventId::derive(canonical_event::Platform::Github, delivery, 0)
            .unwrap()
    )
}

fn batch(bodies: &[String]) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("m{i}"));
            m.body = Some(b.clone());
            m
        })
        .collect();
    e
}

fn route(store: Arc<MemoryStore>, dlq: Arc<MemoryQueue>) -> Route {
    Route {
        store,
        dead_letters: dlq,
        reviews: Arc::new(MemoryReviews::default()),
        reviewer: Arc::new(MemoryNotifier::default()),
        lifecycle: Arc::new(MemoryLifecycle::default()),
        lifecycle_config: Arc::new(LifecycleConfig::shipped().unwrap()),
        tickets: TicketDesk {
            ledger: Arc::new(tickets::MemoryTickets::default()),
            sink: None,
            similarity_threshold: 0.6,
            reporters: Arc::new(MemoryNotifier::default()),
            adopt_repository: None,
        },
        max_receive_count: 3,
        recognitions: Arc::new(tickets::MemoryRecognitions::default()),
        recognizer: Arc::new(MemoryNotifier::default()),
        recognition_cooldown: time::Duration::hours(24),
        clock: Arc::new(|| time::macros::datetime!(2026-11-23 12:00 UTC)),
    }
}

mod tickets;

/// A valid event of `event_type` by member `m1`, routed to `target`.
fn typed_event(delivery: &str, event_type: &str, target: &str) -> String {
    event_json(delivery, "alice")
        .replace("\"issue_opened\"", &format!("\"{event_type}\""))
        .replace("\"product-backlog\"", &format!("\"{target}\""))
}

fn held_event(delivery: &str) -> String {
    typed_event(delivery, "message_posted", "review").replace(
        "\"routingTarget\"",
        r#""moderation":{"held":true,"flags":[{"kind":"spam","score":0.9,"reasons":[{"rule":"spam:phrase","weight":0.9,"detail":"a known spam phrase"}]}],"releaseTarget":"analytics","lexiconVersion":"moderation@1"},"routingTarget""#,
    )
}

#[tokio::test]
async fn a_held_event_is_shown_to_a_reviewer_once_and_a_failed_notice_is_retried() {
    let store = Arc::new(MemoryStore::default());
    let notifier = Arc::new(MemoryNotifier {
        failures_left: Mutex::new(1),
        ..Default::default()
    });
    let mut r = route(store.clone(), Arc::new(MemoryQueue::default()));
    r.reviewer = notifier.clone();
    // Slack is down: the record fails (the event is stored) and SQS retries it.
    let first = r.handle(batch(&[held_event("d1")])).await.unwrap();
    assert_eq!(first.batch_item_failures.len(), 1);
    assert!(notifier.texts.lock().unwrap().is_empty());
    // The retry finds the event stored, and tells the reviewer; a later
    // duplicate does not tell them again.
    for _ in 0..2 {
        let again = r.handle(batch(&[held_event("d1")])).await.unwrap();
        assert!(again.batch_item_failures.is_empty());
    }
    let texts = notifier.texts.lock().unwrap();
    assert_eq!(texts.len(), 1);
    assert!(texts[0].contains("spam 0.90"), "{}", texts[0]);
    assert!(texts[0].contains("communityctl review approve"));
    assert_eq!(store.stored.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_first_contribution_and_stage_ups_become_events_once() {
    let lifecycle = Arc::new(MemoryLifecycle::default());
    let store = Arc::new(MemoryStore {
        lifecycle: Some(lifecycle.clone()),
        ..Default::default()
    });
    let mut r = route(store.clone(), Arc::new(MemoryQueue::default()));
    r.lifecycle = lifecycle.clone();
    let merged = typed_event("d1", "pull_request_merged", "recognition");
    r.handle(batch(std::slice::from_ref(&merged)))
        .await
        .unwrap();
    r.handle(batch(&[merged])).await.unwrap();

    let stored = lifecycle.milestones.lock().unwrap();
    let milestones: Vec<(&str, Vec<String>)> = stored
        .iter()
        .map(|e| {
            (
                e.provenance.platform_event.as_str(),
                e.content.labels.clone(),
            )
        })
        .collect();
    assert_eq!(
        milestones,
        [
            (
                "lifecycle.first_contribution",
                vec!["milestone:first_contribution".to_owned()]
            ),
            (
                "lifecycle.stage_up",
                vec!["stage:contributor".to_owned(), "from:newcomer".to_owned()]
            ),
        ],
        "one merged PR (8 points, 1 contribution; a contributor needs 5 and 1) makes a contributor, once"
    );
    for milestone in stored.iter().filter(|e| e.event_type.is_derived()) {
        assert_eq!(
            milestone.routing_target,
            canonical_event::RoutingTarget::Recognition
        );
        assert_eq!(milestone.user_id, "m1");
        milestone.validate().unwrap();
    }
    let member = lifecycle.members.lock().unwrap()["m1"].clone();
    assert_eq!(member.stage.as_deref(), Some("contributor"));
    assert!(member.ever_contributed);
    assert_eq!(member.transitions, 2);
}

#[tokio::test]
async fn chat_alone_never_makes_a_contributor_and_bots_have_no_lifecycle() {
    let lifecycle = Arc::new(MemoryLifecycle::default());
    let store = Arc::new(MemoryStore {
        lifecycle: Some(lifecycle.clone()),
        ..Default::default()
    });
    let mut r = route(store.clone(), Arc::new(MemoryQueue::default()));
    r.lifecycle = lifecycle.clone();
    let chats: Vec<String> = (0..12)
        .map(|i| typed_event(&format!("c{i}"), "message_posted", "analytics"))
        .collect();
    r.handle(batch(&chats)).await.unwrap();
    let member = lifecycle.members.lock().unwrap()["m1"].clone();
    assert_eq!(member.stage.as_deref(), Some("participant"));
    assert!(!member.ever_contributed);

    let bot = typed_event("b1", "pull_request_merged", "analytics")
        .replace("\"isBot\":false", "\"isBot\":true")
        .replace("\"userId\":\"m1\"", "\"userId\":\"bot1\"");
    r.handle(batch(&[bot])).await.unwrap();
    assert!(!lifecycle.members.lock().unwrap().contains_key("bot1"));
}

#[tokio::test]
async fn stores_each_event_once_and_dead_letters_what_is_not_an_event() {
    let store = Arc::new(MemoryStore::default());
    let dlq = Arc::new(MemoryQueue::default());
    let r = route(store.clone(), dlq.clone());
    let mut future_version = event_json("d3", "x");
    future_version = future_version.replace("\"schemaVersion\":1", "\"schemaVersion\":2");
    let response = r
        .handle(batch(&[
            event_json("d1", "alice"),
            event_json("d1", "alice"),
            "{}".into(),
            future_version,
        ]))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(store.seen.lock().unwrap().len(), 1);
    let dead = dlq.0.lock().unwrap();
    assert_eq!(dead.len(), 2);
    assert!(dead[1].attributes["failureReason"].contains("schemaVersion 2"));
    assert_eq!(dead[0].attributes["failedStage"], "route");
}

#[tokio::test]
async fn a_store_failure_fails_that_record_and_the_rest_in_order() {
    let store = Arc::new(MemoryStore {
        fail_for_handle: Some("bob"),
        ..Default::default()
    });
    let r = route(store.clone(), Arc::new(MemoryQueue::default()));
    let response = r
        .handle(batch(&[
            event_json("d1", "alice"),
            event_json("d2", "bob"),
            event_json("d3", "carol"),
        ]))
        .await
        .unwrap();
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["m1", "m2"]);
    assert_eq!(store.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_revoked_reviewer_webhook_does_not_block_the_queue_and_held_spam_is_not_activity() {
    let lifecycle = Arc::new(MemoryLifecycle::default());
    let store = Arc::new(MemoryStore {
        lifecycle: Some(lifecycle.clone()),
        ..Default::default()
    });
    let reviews = Arc::new(MemoryReviews::default());
    let mut r = route(store.clone(), Arc::new(MemoryQueue::default()));
    r.reviewer = Arc::new(MemoryNotifier {
        revoked: true,
        ..Default::default()
    });
    r.reviews = reviews.clone();
    r.lifecycle = lifecycle.clone();
    let response = r.handle(batch(&[held_event("d1")])).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        reviews.notified.lock().unwrap().len(),
        1,
        "marked: not retried forever"
    );
    assert_eq!(store.stored.lock().unwrap().len(), 1);
    assert!(
        !lifecycle.members.lock().unwrap().contains_key("m1"),
        "a held event does not advance its author's stage"
    );
}
