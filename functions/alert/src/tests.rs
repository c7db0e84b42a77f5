use std::sync::Mutex;

use async_trait::async_trait;

use super::*;

struct FixedCounters(BTreeMap<String, i64>);

#[async_trait]
impl CounterReader for FixedCounters {
    async fn day(&self, day: &str) -> Result<BTreeMap<String, i64>, AwsError> {
        assert_eq!(day, "2026-11-23");
        Ok(self.0.clone())
    }
}

struct Depths;

#[async_trait]
impl QueueStats for Depths {
    async fn depth(&self, url: &str) -> Result<QueueDepth, AwsError> {
        Ok(if url.ends_with("raw-events-dlq.fifo") {
            QueueDepth {
                visible: 2,
                in_flight: 1,
            }
        } else {
            QueueDepth::default()
        })
    }
}

#[derive(Default)]
struct Captured(Mutex<Vec<String>>);

#[async_trait]
impl Notifier for Captured {
    async fn notify(&self, text: &str) -> Result<(), AwsError> {
        self.0.lock().unwrap().push(text.to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn summarises_counters_and_dead_letters_and_notifies_once() {
    let counters = BTreeMap::from([
        ("events".to_owned(), 5),
        ("dropped".to_owned(), 2),
        ("target:product-backlog".to_owned(), 2),
        ("target:analytics".to_owned(), 3),
        ("type:issue_opened".to_owned(), 2),
        ("type:repo_starred".to_owned(), 3),
        ("flag:spam".to_owned(), 4),
        ("review:approved".to_owned(), 1),
        ("review:rejected".to_owned(), 3),
    ]);
    let notifier = Arc::new(Captured::default());
    let alert = Alert {
        counters: Arc::new(FixedCounters(counters)),
        queues: Arc::new(Depths),
        dead_letter_queue_urls: vec![
            "http://x/1/s-raw-events-dlq.fifo".into(),
            "http://x/1/s-normalized-events-dlq.fifo".into(),
        ],
        notifier: notifier.clone(),
        posts: true,
        clock: Arc::new(|| time::macros::datetime!(2026-11-23 18:00 UTC)),
    };
    let summary = alert.handle().await.unwrap();
    assert_eq!(summary.events, 5);
    assert_eq!(summary.by_routing_target["product-backlog"], 2);
    assert_eq!(summary.dead_letters["s-raw-events-dlq.fifo"], 3);
    assert!(summary.notified);
    let sent = notifier.0.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("5 stored, 2 dropped"));
    assert!(sent[0].contains("Dead letters waiting: s-raw-events-dlq.fifo 3"));
    assert_eq!(summary.false_positive_rate(), Some(0.25));
    assert!(
        sent[0].contains(
            "Moderation: flagged spam 4; reviewed 4 (1 released, 3 rejected: false-positive rate 25%)"
        ),
        "{}",
        sent[0]
    );
}
