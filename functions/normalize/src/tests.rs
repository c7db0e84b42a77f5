use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use canonical_event::Actor;
use community_aws::AwsError;
use community_aws::ports::Claim;
use time::OffsetDateTime;

use super::*;
use canonical_event::Platform;

#[derive(Default)]
struct MemoryLedger {
    status: Mutex<HashMap<EventId, &'static str>>,
    drops: Mutex<Vec<String>>,
    fail_claims_for: Mutex<HashSet<EventId>>,
}

#[async_trait]
impl EventLedger for MemoryLedger {
    async fn claim(&self, id: &EventId, _now: OffsetDateTime) -> Result<Claim, AwsError> {
        if self.fail_claims_for.lock().unwrap().contains(id) {
            return Err(AwsError::retryable(
                "PutItem",
                "ThrottlingException",
                "slow down",
            ));
        }
        let mut status = self.status.lock().unwrap();
        Ok(match status.get(id).copied() {
            None => {
                status.insert(*id, "pending");
                Claim::New
            }
            Some("pending") => Claim::Unfinished,
            Some(_) => Claim::Done,
        })
    }
    async fn mark_emitted(&self, id: &EventId, _now: OffsetDateTime) -> Result<(), AwsError> {
        self.status.lock().unwrap().insert(*id, "emitted");
        Ok(())
    }
    async fn record_drop(
        &self,
        id: &EventId,
        rule: &str,
        _name: &str,
        _now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        let mut status = self.status.lock().unwrap();
        if status.contains_key(id) {
            return Ok(false);
        }
        status.insert(*id, "dropped");
        self.drops.lock().unwrap().push(rule.to_owned());
        Ok(true)
    }
}

struct MemoryIdentities;

#[async_trait]
impl IdentityStore for MemoryIdentities {
    async fn resolve(
        &self,
        platform: Platform,
        actor: &Actor,
        _hints: &canonical_event::IdentityHints,
        now: OffsetDateTime,
    ) -> Result<ResolvedMember, AwsError> {
        Ok(ResolvedMember {
            member_id: community_aws::members::first_member_id(platform, &actor.platform_user_id),
            first_seen_at: now - time::Duration::days(400),
            contributions: 0,
            is_bot: actor.is_bot,
        })
    }
}

/// Thread categories and repeat counts, in memory (counted by event id, as
/// the DynamoDB adapter does).
#[derive(Default)]
struct MemorySignals {
    threads: Mutex<HashMap<String, canonical_event::Category>>,
    repeats: Mutex<HashMap<String, HashSet<EventId>>>,
}

#[async_trait]
impl SignalMemory for MemorySignals {
    async fn thread_category(
        &self,
        thread_key: &str,
        _now: OffsetDateTime,
    ) -> Result<Option<canonical_event::Category>, AwsError> {
        Ok(self.threads.lock().unwrap().get(thread_key).copied())
    }
    async fn remember_thread(
        &self,
        thread_key: &str,
        category: canonical_event::Category,
        _now: OffsetDateTime,
    ) -> Result<(), AwsError> {
        self.threads
            .lock()
            .unwrap()
            .entry(thread_key.to_owned())
            .or_insert(category);
        Ok(())
    }
    async fn count_repeat(
        &self,
        member_id: &str,
        text_fingerprint: &str,
        event_id: &EventId,
        _now: OffsetDateTime,
    ) -> Result<u32, AwsError> {
        let mut repeats = self.repeats.lock().unwrap();
        let ids = repeats
            .entry(format!("{member_id}#{text_fingerprint}"))
            .or_default();
        ids.insert(*event_id);
        Ok(u32::try_from(ids.len()).unwrap())
    }
}

#[derive(Default)]
struct MemoryQueue {
    sent: Mutex<Vec<OutgoingMessage>>,
    /// Fail sends whose body contains this text.
    fail_containing: Mutex<Option<String>>,
}

#[async_trait]
impl MessageQueue for MemoryQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), AwsError> {
        if let Some(needle) = self.fail_containing.lock().unwrap().as_deref()
            && message.body.contains(needle)
        {
            return Err(AwsError::retryable("SendMessage", "InternalError", "boom"));
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
    /// Honours the port's group-order contract with the adapter's own planner.
    async fn send_all(&self, messages: &[OutgoingMessage]) -> Vec<Result<(), AwsError>> {
        let mut plan = community_aws::sqs::GroupOrderedSends::new(messages);
        while let Some(round) = plan.next_round() {
            for i in round {
                let result = self.send(&messages[i]).await;
                plan.record(i, result);
            }
        }
        plan.finish()
    }
}

struct Harness {
    normalize: Normalize,
    ledger: Arc<MemoryLedger>,
    output: Arc<MemoryQueue>,
    dead_letters: Arc<MemoryQueue>,
}

fn harness() -> Harness {
    let ledger = Arc::new(MemoryLedger::default());
    let output = Arc::new(MemoryQueue::default());
    let dead_letters = Arc::new(MemoryQueue::default());
    Harness {
        normalize: Normalize {
            ledger: ledger.clone(),
            identities: Arc::new(MemoryIdentities),
            memory: Arc::new(MemorySignals::default()),
            models: Arc::new(signal::Models::shipped().unwrap()),
            output: output.clone(),
            dead_letters: dead_letters.clone(),
            max_receive_count: 3,
            clock: Arc::new(|| time::macros::datetime!(2026-11-23 12:00 UTC)),
        },
        ledger,
        output,
        dead_letters,
    }
}

fn envelope(delivery: &str, event: &str, payload: &str) -> String {
    format!(
        r#"{{"v":1,"platform":"github","deliveryId":"{delivery}","eventName":"{event}","receivedAt":"2026-11-23T12:00:00Z","payload":{payload}}}"#
    )
}

fn issue(n: u64, login: &str) -> String {
    format!(
        r#"{{"action":"opened","issue":{{"number":{n},"title":"Crash {n}","body":"Steps to reproduce: run","html_url":"https://github.com/o/r/issues/{n}","labels":[{{"name":"bug"}}],"user":{{"login":"{login}","id":{n}}},"created_at":"2026-11-20T10:00:00Z"}},"repository":{{"full_name":"o/r"}},"sender":{{"login":"{login}","id":{n}}}}}"#
    )
}

/// The event id `github@2` gives `issue(n, …)`: keyed by the issue it
/// opens, whatever delivery carried it.
fn opened_issue_id(n: u64) -> EventId {
    EventId::derive(
        Platform::Github,
        &format!("https://github.com/o/r/issues/{n}#opened"),
        0,
    )
    .unwrap()
}

fn record(id: &str, body: String) -> SqsMessage {
    record_in(id, &format!("group-{id}"), body)
}

fn record_in(id: &str, group: &str, body: String) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.to_owned());
    m.body = Some(body);
    m.attributes
        .insert("MessageGroupId".into(), group.to_owned());
    m
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = records;
    e
}

fn failures(r: &SqsBatchResponse) -> Vec<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

fn emitted(h: &Harness) -> Vec<CanonicalEvent> {
    h.output
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect()
}

#[tokio::test]
async fn events_are_emitted_in_order_poison_is_dead_lettered_and_nothing_fails() {
    let h = harness();
    let response = h
        .normalize
        .handle(batch(vec![
            record("a", envelope("d1", "issues", &issue(1, "alice"))),
            record("b", "this is not an envelope".into()),
            record("c", envelope("d3", "issues", &issue(3, "carol"))),
        ]))
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    let events = emitted(&h);
    assert_eq!(
        events
            .iter()
            .map(|e| e.actor.handle.as_str())
            .collect::<Vec<_>>(),
        ["alice", "carol"]
    );
    assert_eq!(
        events[0].routing_target,
        canonical_event::RoutingTarget::ProductBacklog
    );
    assert!(!events[0].reasons.is_empty());
    let sent = h.output.sent.lock().unwrap();
    assert_eq!(
        sent[0].group_id, "group-a",
        "output keeps the source conversation's group"
    );
    assert_eq!(sent[0].deduplication_id, events[0].event_id.to_string());
    let dead = h.dead_letters.sent.lock().unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "this is not an envelope");
    assert_eq!(dead[0].attributes["failedStage"], "normalize");
    assert!(dead[0].attributes["failureReason"].contains("not an envelope"));
}

fn on_receive(mut record: SqsMessage, count: u32) -> SqsMessage {
    record
        .attributes
        .insert("ApproximateReceiveCount".into(), count.to_string());
    record
}

/// Before its last receive a failing record goes back to SQS; on it, SQS
/// would move it without a reason, so normalize moves it, with one, and the
/// rest of its group goes on.
#[tokio::test]
async fn a_record_failing_on_its_last_receive_is_dead_lettered_with_its_reason() {
    let h = harness();
    h.ledger
        .fail_claims_for
        .lock()
        .unwrap()
        .insert(opened_issue_id(2));
    let stuck = |count| {
        on_receive(
            record_in("b", "thread-2", envelope("d2", "issues", &issue(2, "bob"))),
            count,
        )
    };
    let carol = || {
        record_in(
            "c",
            "thread-2",
            envelope("d3", "issues", &issue(3, "carol")),
        )
    };

    let response = h
        .normalize
        .handle(batch(vec![stuck(2), carol()]))
        .await
        .unwrap();
    assert_eq!(failures(&response), ["b", "c"]);
    assert!(h.dead_letters.sent.lock().unwrap().is_empty());

    let response = h
        .normalize
        .handle(batch(vec![stuck(3), carol()]))
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    let dead = h.dead_letters.sent.lock().unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body.contains("\"deliveryId\":\"d2\""));
    let reason = &dead[0].attributes["failureReason"];
    assert!(
        reason.starts_with("not normalized after 3 receives: "),
        "{reason}"
    );
    let handles: Vec<String> = emitted(&h).into_iter().map(|e| e.actor.handle).collect();
    assert_eq!(handles, ["carol"]);
}

/// A send that fails on the last receive dead-letters the record, and its
/// events are not marked emitted: the redrive sends them.
#[tokio::test]
async fn a_send_failing_on_the_last_receive_dead_letters_the_record_for_a_redrive() {
    let h = harness();
    *h.output.fail_containing.lock().unwrap() = Some("\"bob\"".into());
    let bob = || record_in("b", "thread-2", envelope("d2", "issues", &issue(2, "bob")));
    let response = h
        .normalize
        .handle(batch(vec![on_receive(bob(), 3)]))
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    {
        let dead = h.dead_letters.sent.lock().unwrap();
        assert_eq!(dead.len(), 1);
        let reason = &dead[0].attributes["failureReason"];
        assert!(
            reason.starts_with("events not sent after 3 receives: "),
            "{reason}"
        );
    }
    assert_eq!(
        h.ledger.status.lock().unwrap()[&opened_issue_id(2)],
        "pending"
    );
    assert!(emitted(&h).is_empty());

    // The redrive, once sends work again.
    *h.output.fail_containing.lock().unwrap() = None;
    let response = h.normalize.handle(batch(vec![bob()])).await.unwrap();
    assert!(failures(&response).is_empty());
    assert_eq!(emitted(&h).len(), 1);
    assert_eq!(
        h.ledger.status.lock().unwrap()[&opened_issue_id(2)],
        "emitted"
    );
}

#[tokio::test]
async fn a_redelivery_is_acknowledged_and_produces_nothing() {
    let h = harness();
    let first = batch(vec![record(
        "a",
        envelope("d1", "issues", &issue(1, "alice")),
    )]);
    h.normalize.handle(first.clone()).await.unwrap();
    let again = h.normalize.handle(first).await.unwrap();
    assert!(failures(&again).is_empty());
    assert_eq!(emitted(&h).len(), 1);
}

#[tokio::test]
async fn an_unfinished_claim_is_emitted_again() {
    let h = harness();
    let id = opened_issue_id(1);
    h.ledger.status.lock().unwrap().insert(id, "pending");
    h.normalize
        .handle(batch(vec![record(
            "a",
            envelope("d1", "issues", &issue(1, "alice")),
        )]))
        .await
        .unwrap();
    assert_eq!(emitted(&h).len(), 1);
    assert_eq!(h.ledger.status.lock().unwrap()[&id], "emitted");
}

#[tokio::test]
async fn a_retryable_failure_fails_that_record_and_the_rest_of_its_group_only() {
    let h = harness();
    let stuck = opened_issue_id(2);
    h.ledger.fail_claims_for.lock().unwrap().insert(stuck);
    let response = h
        .normalize
        .handle(batch(vec![
            record_in(
                "a",
                "thread-1",
                envelope("d1", "issues", &issue(1, "alice")),
            ),
            record_in("b", "thread-2", envelope("d2", "issues", &issue(2, "bob"))),
            record_in(
                "c",
                "thread-2",
                envelope("d3", "issues", &issue(3, "carol")),
            ),
            record_in("d", "thread-3", envelope("d4", "issues", &issue(4, "dave"))),
        ]))
        .await
        .unwrap();
    assert_eq!(failures(&response), ["b", "c"]);
    let handles: Vec<String> = emitted(&h).into_iter().map(|e| e.actor.handle).collect();
    assert_eq!(
        handles,
        ["alice", "dave"],
        "c waits behind b in its group; d's group carries on"
    );
    assert!(
        !h.ledger
            .status
            .lock()
            .unwrap()
            .contains_key(&opened_issue_id(3)),
        "c was not processed"
    );
}

#[tokio::test]
async fn an_emit_failure_fails_its_record_and_group_and_leaves_the_claim_unfinished() {
    let h = harness();
    *h.output.fail_containing.lock().unwrap() = Some("\"bob\"".into());
    let response = h
        .normalize
        .handle(batch(vec![
            record_in(
                "a",
                "thread-1",
                envelope("d1", "issues", &issue(1, "alice")),
            ),
            record_in("b", "thread-2", envelope("d2", "issues", &issue(2, "bob"))),
            record_in(
                "c",
                "thread-2",
                envelope("d3", "issues", &issue(3, "carol")),
            ),
            record_in("d", "thread-3", envelope("d4", "issues", &issue(4, "dave"))),
        ]))
        .await
        .unwrap();
    assert_eq!(failures(&response), ["b", "c"]);
    let status = h.ledger.status.lock().unwrap();
    let of = |n: u64| status[&opened_issue_id(n)];
    assert_eq!(of(1), "emitted");
    assert_eq!(of(2), "pending");
    assert_eq!(
        of(3),
        "pending",
        "c was sent but goes back with its group: not marked"
    );
    assert_eq!(of(4), "emitted");
}

#[tokio::test]
async fn records_without_a_group_stop_at_the_first_failure() {
    let h = harness();
    h.ledger
        .fail_claims_for
        .lock()
        .unwrap()
        .insert(opened_issue_id(1));
    let mut a = record("a", envelope("d1", "issues", &issue(1, "alice")));
    let mut b = record("b", envelope("d2", "issues", &issue(2, "bob")));
    a.attributes.clear();
    b.attributes.clear();
    let response = h.normalize.handle(batch(vec![a, b])).await.unwrap();
    assert_eq!(failures(&response), ["a", "b"]);
    assert!(emitted(&h).is_empty());
}

#[tokio::test]
async fn unmapped_events_are_dropped_by_rule_and_counted_once() {
    let h = harness();
    let public = record(
        "a",
        envelope("d9", "public", r#"{"repository":{"full_name":"o/r"}}"#),
    );
    let response = h
        .normalize
        .handle(batch(vec![public.clone(), public]))
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    assert!(emitted(&h).is_empty());
    assert_eq!(
        *h.ledger.drops.lock().unwrap(),
        vec!["github.event_not_mapped".to_owned()]
    );
}

#[tokio::test]
async fn a_supported_event_with_a_broken_payload_is_dead_lettered_with_its_reason() {
    let h = harness();
    let response = h
        .normalize
        .handle(batch(vec![record(
            "a",
            envelope("d1", "issues", r#"{"action":"opened"}"#),
        )]))
        .await
        .unwrap();
    assert!(failures(&response).is_empty());
    let dead = h.dead_letters.sent.lock().unwrap();
    assert!(
        dead[0].attributes["failureReason"].contains("lacks issue"),
        "{:?}",
        dead[0].attributes
    );
}

#[tokio::test]
async fn when_the_dead_letter_queue_is_down_the_poison_record_is_retried() {
    let h = harness();
    *h.dead_letters.fail_containing.lock().unwrap() = Some("garbage".into());
    let response = h
        .normalize
        .handle(batch(vec![record("a", "garbage".into())]))
        .await
        .unwrap();
    assert_eq!(failures(&response), ["a"]);
}

fn comment(n: u64, comment_id: u64, login: &str, body: &str) -> String {
    format!(
        r#"{{"action":"created","issue":{{"number":{n},"title":"Roadmap {n}","html_url":"https://github.com/o/r/issues/{n}","labels":[],"user":{{"login":"someone","id":99}}}},"comment":{{"id":{comment_id},"body":"{body}","html_url":"https://github.com/o/r/issues/{n}#issuecomment-{comment_id}","user":{{"login":"{login}","id":{comment_id}}},"created_at":"2026-11-21T10:00:00Z"}},"repository":{{"full_name":"o/r"}},"sender":{{"login":"{login}","id":{comment_id}}}}}"#
    )
}

#[tokio::test]
async fn a_reply_in_a_bug_thread_is_read_as_part_of_the_report_but_not_elsewhere() {
    let h = harness();
    let text = "same here on 2.3 and linux";
    h.normalize
        .handle(batch(vec![
            record("a", envelope("d1", "issues", &issue(7, "alice"))),
            record(
                "b",
                envelope("d2", "issue_comment", &comment(7, 70, "bob", text)),
            ),
            // The same words in a thread nobody opened as a report.
            record(
                "c",
                envelope("d3", "issue_comment", &comment(8, 80, "bob", text)),
            ),
        ]))
        .await
        .unwrap();
    let events = emitted(&h);
    let category = |e: &CanonicalEvent| e.classification.as_ref().unwrap().category;
    assert_eq!(category(&events[0]), canonical_event::Category::BugReport);
    assert_eq!(category(&events[1]), canonical_event::Category::BugReport);
    assert!(
        events[1]
            .reasons
            .iter()
            .any(|r| r.rule.starts_with("thread")),
        "{:?}",
        events[1].reasons
    );
    assert_ne!(category(&events[2]), canonical_event::Category::BugReport);
}

#[tokio::test]
async fn spam_is_held_for_review_with_its_flags_and_release_target() {
    let h = harness();
    let spam = "FREE CRYPTO airdrop, claim your tokens: https://bit.ly/x https://t.co/y";
    h.normalize
        .handle(batch(vec![record(
            "a",
            envelope("d1", "issue_comment", &comment(9, 90, "mallory", spam)),
        )]))
        .await
        .unwrap();
    let event = emitted(&h).remove(0);
    assert_eq!(event.routing_target, canonical_event::RoutingTarget::Review);
    let moderation = event.moderation.unwrap();
    assert!(moderation.held);
    assert!(
        moderation
            .flags
            .iter()
            .any(|f| f.kind == canonical_event::FlagKind::Spam)
    );
    assert_eq!(moderation.lexicon_version, "moderation@1");
}

#[tokio::test]
async fn the_deployer_s_weights_replace_the_shipped_ones() {
    struct Parameters;
    #[async_trait]
    impl community_aws::ports::SecretSource for Parameters {
        async fn secret(&self, name: &str) -> Result<secrecy::SecretString, AwsError> {
            let text = signal::classify::DEFAULT_WEIGHTS
                .replace("\"categories@1\"", "\"categories@1-tuned\"");
            assert_eq!(name, "/community/weights");
            Ok(secrecy::SecretString::from(text))
        }
    }
    let env: HashMap<String, String> = [
        ("NORMALIZED_EVENTS_QUEUE_URL", "q"),
        ("RAW_EVENTS_DLQ_URL", "d"),
        ("MEMBERS_TABLE", "m"),
        ("LEDGER_TABLE", "l"),
        ("COUNTERS_TABLE", "c"),
        ("SIGNAL_WEIGHTS_PARAM", "/community/weights"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut config = Config::from_lookup(&env).unwrap();
    let models = load_models(&config, &Parameters).await.unwrap();
    assert_eq!(models.weights.version, "categories@1-tuned");
    assert_eq!(models.lexicon.version, "moderation@1");

    config.signal_weights_param = None;
    let models = load_models(&config, &Parameters).await.unwrap();
    assert_eq!(models.weights.version, "categories@1");
}
