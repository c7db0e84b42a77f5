//! Shared by the sink tests: a draft, deadlines, a client, clocks.
#![allow(dead_code)] // each test binary uses a different subset
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use trackers::{TicketDraft, TicketRef, Tracker};

pub const EVENT_ID: &str = "6d1c5e0a-0b1f-4c8e-9a57-3f2e8c4d1b90";
pub const IDEMPOTENCY_ID: &str = "0f3c2b1a-9e8d-5c7b-a6f5-e4d3c2b1a098";

pub fn draft() -> TicketDraft {
    TicketDraft {
        event_id: EVENT_ID.to_owned(),
        idempotency_id: uuid::Uuid::parse_str(IDEMPOTENCY_ID).unwrap(),
        title: "Login crashes on Android 15".to_owned(),
        body: "Source: [the thread](https://discord.com/channels/1/2/3)\nReported by: ana\n\n- crash on login\n- 3 members agree".to_owned(),
        labels: vec!["community".to_owned(), "needs triage".to_owned()],
    }
}

pub fn ticket(tracker: Tracker, id: &str, key: &str) -> TicketRef {
    TicketRef {
        tracker,
        id: id.to_owned(),
        key: key.to_owned(),
        url: String::new(),
    }
}

pub fn deadline_in(duration: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + duration
}

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn now_epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

pub fn now_epoch_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The JSON body of the `index`-th request the server received.
pub async fn request_json(server: &wiremock::MockServer, index: usize) -> serde_json::Value {
    let requests = server.received_requests().await.unwrap();
    serde_json::from_slice(&requests[index].body).unwrap()
}
