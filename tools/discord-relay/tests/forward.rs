//! The forwarder against a stand-in relay (wiremock): signatures, retries,
//! Retry-After, permanent refusals, the attempt limit, per-channel order and
//! draining. Waits between attempts are recorded, not slept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use discord_relay::envelope::{Delivery, DispatchKind};
use discord_relay::forward::{Forwarder, Outcome, Pause, RetryPolicy, TokioPause};
use discord_relay::queue::{self, Stats};
use hmac::{Hmac, Mac};
use reqwest::Url;
use secrecy::SecretString;
use serde_json::Value;
use sha2::Sha256;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SECRET: &str = "relay-test-secret";
const PATH: &str = "/webhooks/relay";

/// Records every requested wait and returns at once.
#[derive(Debug, Clone, Default)]
struct RecordedPauses(Arc<Mutex<Vec<Duration>>>);

impl RecordedPauses {
    fn taken(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

impl Pause for RecordedPauses {
    fn pause(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.0.lock().unwrap().push(duration);
        std::future::ready(())
    }
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(4),
        max_retry_after: Duration::from_secs(60),
    }
}

fn forwarder(
    server: &MockServer,
    max_attempts: u32,
) -> (Forwarder<RecordedPauses>, RecordedPauses) {
    let pauses = RecordedPauses::default();
    let url = Url::parse(&format!("{}{PATH}", server.uri())).unwrap();
    let forwarder = Forwarder::with_pause(
        url,
        SecretString::from(SECRET.to_owned()),
        policy(max_attempts),
        pauses.clone(),
    )
    .unwrap();
    (forwarder, pauses)
}

fn delivery(id: &str, order_key: u64) -> Delivery {
    let body = serde_json::json!({
        "version": 1,
        "id": id,
        "source": "discord-gateway",
        "type": "MESSAGE_CREATE",
        "occurredAt": "2025-03-04T05:06:07.089Z",
        "data": { "id": id, "content": "ünïcode body, exact bytes" }
    });
    Delivery {
        id: id.to_owned(),
        kind: DispatchKind::MessageCreate,
        order_key,
        body: serde_json::to_vec(&body).unwrap(),
    }
}

fn respond(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status)
}

/// HMAC-SHA256 over `<timestamp>.<raw body>` computed here, independently of
/// the crate's signer.
fn expected_signature(secret: &str, request: &Request) -> String {
    let timestamp = header_value(request, "x-signature-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn header_value(request: &Request, name: &str) -> String {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} header missing"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn assert_signed(request: &Request, sent: &Delivery) {
    assert_eq!(
        request.body, sent.body,
        "the body must be sent byte for byte"
    );
    assert_eq!(header_value(request, "content-type"), "application/json");
    let timestamp: i64 = header_value(request, "x-signature-timestamp")
        .parse()
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now - timestamp).abs() < 300,
        "timestamp {timestamp} is not now ({now})"
    );
    assert_eq!(
        header_value(request, "x-signature"),
        expected_signature(SECRET, request)
    );
}

#[tokio::test]
async fn signature_verifies_over_timestamp_and_exact_body() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(respond(202))
        .expect(1)
        .mount(&server)
        .await;
    let (forwarder, pauses) = forwarder(&server, 8);
    let sent = delivery("message-1", 1);

    let outcome = forwarder.deliver(&sent).await;

    assert_eq!(
        outcome,
        Outcome::Delivered {
            status: 202,
            attempts: 1
        }
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_signed(&requests[0], &sent);
    // A different secret would not have produced this header.
    assert_ne!(
        header_value(&requests[0], "x-signature"),
        expected_signature("another-secret", &requests[0])
    );
    // And the pipeline's own verifier accepts it.
    let timestamp = header_value(&requests[0], "x-signature-timestamp");
    platforms::hmac_sha256::verify_prefixed_hex(
        &[SecretString::from(SECRET.to_owned())],
        Some(&header_value(&requests[0], "x-signature")),
        "sha256=",
        &[timestamp.as_bytes(), b".", &requests[0].body],
    )
    .unwrap();
    assert!(pauses.taken().is_empty());
}

#[tokio::test]
async fn a_503_is_retried_then_delivered_once_with_a_fresh_signature() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(respond(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(respond(202))
        .expect(1)
        .mount(&server)
        .await;
    let (forwarder, pauses) = forwarder(&server, 8);
    let sent = delivery("message-2", 1);

    let outcome = forwarder.deliver(&sent).await;

    assert_eq!(
        outcome,
        Outcome::Delivered {
            status: 202,
            attempts: 2
        }
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        // Same bytes (so the same id) on the retry, each attempt signed.
        assert_signed(request, &sent);
    }
    assert_eq!(pauses.taken().len(), 1);
}

#[tokio::test]
async fn a_429_retry_after_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(respond(429).insert_header("retry-after", "7"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(respond(202))
        .mount(&server)
        .await;
    let (forwarder, pauses) = forwarder(&server, 8);

    let outcome = forwarder.deliver(&delivery("message-3", 1)).await;

    assert_eq!(
        outcome,
        Outcome::Delivered {
            status: 202,
            attempts: 2
        }
    );
    // Backoff alone would be at most 4 ms with this policy: the 7 s came
    // from the header.
    assert_eq!(pauses.taken(), vec![Duration::from_secs(7)]);
}

async fn refused_once(status: u16) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            respond(status).set_body_json(
                serde_json::json!({"error": "invalid_envelope", "fields": ["data"]}),
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (forwarder, pauses) = forwarder(&server, 8);

    let outcome = forwarder.deliver(&delivery("message-4", 1)).await;

    assert_eq!(
        outcome,
        Outcome::Rejected {
            status,
            attempts: 1
        },
        "{status}"
    );
    assert!(pauses.taken().is_empty(), "{status} must not be retried");
    server.verify().await;
}

#[tokio::test]
async fn a_400_is_not_retried() {
    refused_once(400).await;
}

#[tokio::test]
async fn a_401_is_not_retried() {
    refused_once(401).await;
}

#[tokio::test]
async fn a_413_is_not_retried() {
    refused_once(413).await;
}

#[tokio::test]
async fn max_attempts_are_respected() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(respond(500))
        .expect(3)
        .mount(&server)
        .await;
    let (forwarder, pauses) = forwarder(&server, 3);

    let outcome = forwarder.deliver(&delivery("message-5", 1)).await;

    assert_eq!(outcome, Outcome::GaveUp { attempts: 3 });
    assert_eq!(
        pauses.taken().len(),
        2,
        "a wait between attempts, none after the last"
    );
    server.verify().await;
}

#[tokio::test]
async fn connection_errors_are_retried() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pauses = RecordedPauses::default();
    let forwarder = Forwarder::with_pause(
        Url::parse(&format!("http://127.0.0.1:{port}{PATH}")).unwrap(),
        SecretString::from(SECRET.to_owned()),
        policy(2),
        pauses.clone(),
    )
    .unwrap();

    let outcome = forwarder.deliver(&delivery("message-6", 1)).await;

    assert_eq!(outcome, Outcome::GaveUp { attempts: 2 });
    assert_eq!(pauses.taken().len(), 1);
}

#[tokio::test]
async fn workers_keep_channel_order_and_drain_on_shutdown() {
    let server = MockServer::start().await;
    // The first attempt of a1 fails: a1 must still arrive before a2.
    Mock::given(method("POST"))
        .and(header("content-type", "application/json"))
        .and(wiremock::matchers::body_partial_json(
            serde_json::json!({"id": "a1"}),
        ))
        .respond_with(respond(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(respond(202))
        .mount(&server)
        .await;
    let (forwarder, _) = forwarder(&server, 8);
    let stats = Arc::new(Stats::default());
    let (queue, lanes) = queue::queue(2, 100, Arc::clone(&stats));
    // Keys 10 and 11 fall on different lanes.
    for (id, key) in [("a1", 10), ("b1", 11), ("a2", 10), ("b2", 11), ("a3", 10)] {
        queue.offer(delivery(id, key)).unwrap();
    }
    drop(queue);

    let workers = queue::spawn_workers(lanes, Arc::new(forwarder), Arc::clone(&stats));
    let drained = queue::drain(workers, Duration::from_secs(30), &stats).await;

    assert!(drained);
    let delivered: Vec<String> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let of = |prefix: &str| -> Vec<&str> {
        delivered
            .iter()
            .map(String::as_str)
            .filter(|id| id.starts_with(prefix))
            .collect()
    };
    assert_eq!(of("a"), vec!["a1", "a1", "a2", "a3"], "{delivered:?}");
    assert_eq!(of("b"), vec!["b1", "b2"], "{delivered:?}");
    let s = stats.snapshot();
    assert_eq!((s.queued, s.delivered, s.in_flight()), (5, 5, 0));
}

#[tokio::test]
async fn drain_gives_up_at_its_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(respond(503).insert_header("retry-after", "3600"))
        .mount(&server)
        .await;
    // Real waits here: the retry waits an hour, the drain allows 50 ms.
    let forwarder = Forwarder::with_pause(
        Url::parse(&format!("{}{PATH}", server.uri())).unwrap(),
        SecretString::from(SECRET.to_owned()),
        RetryPolicy {
            max_retry_after: Duration::from_secs(3600),
            ..policy(8)
        },
        TokioPause,
    )
    .unwrap();
    let stats = Arc::new(Stats::default());
    let (queue, lanes) = queue::queue(1, 10, Arc::clone(&stats));
    queue.offer(delivery("stuck", 1)).unwrap();
    drop(queue);

    let workers = queue::spawn_workers(lanes, Arc::new(forwarder), Arc::clone(&stats));
    let drained = queue::drain(workers, Duration::from_millis(50), &stats).await;

    assert!(!drained);
    assert_eq!(stats.snapshot().in_flight(), 1);
}
