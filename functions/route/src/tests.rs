use std::sync::Mutex;

use async_trait::async_trait;
use community_aws::AwsError;
use community_aws::ports::OutgoingMessage;
use time::OffsetDateTime;

use super::*;

#[derive(Default)]
struct MemoryStore {
    seen: Mutex<Vec<String>>,
    fail_for_handle: Option<&'static str>,
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
        clock: lambda_kit::system_clock(),
    }
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
