use std::sync::Mutex;

use async_trait::async_trait;

use super::*;

struct FixedCounters(BTreeMap<String, i64>);

#[async_trait]
impl CounterReader for FixedCounters {
    async fn day(&self, day: &str) -> Result<BTreeMap<String, i64>, AwsError> {
        // Today's counters; the earlier days of the 7-day window are empty.
        Ok(if day == "2026-11-23" {
            self.0.clone()
        } else {
            BTreeMap::new()
        })
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

/// The community side in memory: dead letters can be added and cleared.
#[derive(Default)]
struct FakeCommunity {
    dead_letters: Mutex<i64>,
}

#[async_trait]
impl CommunityReader for FakeCommunity {
    async fn members(&self) -> Result<Vec<MemberSnapshot>, AwsError> {
        Ok(vec![MemberSnapshot {
            member_id: "m1".into(),
            is_bot: false,
            merged_into: None,
            first_seen_at: Some(time::macros::datetime!(2026-11-01 09:00 UTC)),
            contributions: 2,
            activity: vec![("2026-11-22".into(), "pull_request_merged".into(), 1)],
        }])
    }
    async fn resolved_tickets(
        &self,
        _since: OffsetDateTime,
    ) -> Result<Vec<ResolvedTicket>, AwsError> {
        Ok(vec![ResolvedTicket {
            first_report_at: time::macros::datetime!(2026-11-20 09:00 UTC),
            resolved_at: time::macros::datetime!(2026-11-21 09:00 UTC),
        }])
    }
    async fn oldest_pending_review(&self) -> Result<Option<OffsetDateTime>, AwsError> {
        Ok(None)
    }
    async fn dead_letters(
        &self,
        queue_url: &str,
        _now: OffsetDateTime,
    ) -> Result<DeadLetterStats, AwsError> {
        let depth = if queue_url.ends_with("raw-events-dlq.fifo") {
            *self.dead_letters.lock().unwrap()
        } else {
            0
        };
        Ok(DeadLetterStats {
            depth,
            oldest_age_seconds: Some(if depth > 0 { 120 } else { 0 }),
        })
    }
}

/// The breach state in memory; `lose_next_save` plays an overlapping run.
#[derive(Default)]
struct MemoryStates {
    stored: Mutex<community_aws::community::StoredAlertStates<AlertState>>,
    lose_next_save: Mutex<bool>,
}

#[async_trait]
impl AlertStates for MemoryStates {
    async fn load(
        &self,
    ) -> Result<community_aws::community::StoredAlertStates<AlertState>, AwsError> {
        Ok(self.stored.lock().unwrap().clone())
    }
    async fn save(
        &self,
        states: &BTreeMap<String, AlertState>,
        loaded_version: i64,
        _now: OffsetDateTime,
    ) -> Result<bool, AwsError> {
        let mut stored = self.stored.lock().unwrap();
        let mut lose = self.lose_next_save.lock().unwrap();
        if *lose || stored.version != loaded_version {
            *lose = false;
            stored.version += 1;
            return Ok(false);
        }
        stored.version += 1;
        stored.states = states.clone();
        Ok(true)
    }
}

struct Harness {
    alert: Alert,
    slack: Arc<Captured>,
    email: Arc<Captured>,
    community: Arc<FakeCommunity>,
    states: Arc<MemoryStates>,
    now: Arc<Mutex<OffsetDateTime>>,
}

fn harness(counters: BTreeMap<String, i64>) -> Harness {
    let slack = Arc::new(Captured::default());
    let email = Arc::new(Captured::default());
    let community = Arc::new(FakeCommunity::default());
    let states = Arc::new(MemoryStates::default());
    let now = Arc::new(Mutex::new(time::macros::datetime!(2026-11-23 18:00 UTC)));
    let clock_now = now.clone();
    let alert = Alert {
        counters: Arc::new(FixedCounters(counters)),
        queues: Arc::new(Depths),
        community: community.clone(),
        states: states.clone(),
        dead_letter_queue_urls: vec![
            "http://x/1/s-raw-events-dlq.fifo".into(),
            "http://x/1/s-normalized-events-dlq.fifo".into(),
        ],
        notifier: slack.clone(),
        email: Some(email.clone()),
        posts: true,
        thresholds: Arc::new(Thresholds::shipped()),
        contribution: Arc::new(ContributionRule::shipped().unwrap()),
        cohort_days: 90,
        clock: Arc::new(move || *clock_now.lock().unwrap()),
    };
    Harness {
        alert,
        slack,
        email,
        community,
        states,
        now,
    }
}

#[tokio::test]
async fn a_breach_is_told_once_reminded_after_the_cooldown_and_told_again_on_recovery() {
    let h = harness(BTreeMap::new());
    let sent = |c: &Captured| c.0.lock().unwrap().clone();

    let healthy = h.alert.handle().await.unwrap();
    assert!(healthy.notices.is_empty(), "{:?}", healthy.notices);
    assert!(sent(&h.slack).is_empty() && !healthy.notified);
    assert_eq!(healthy.metrics.median_resolution_seconds, Some(86_400.0));

    *h.community.dead_letters.lock().unwrap() = 3;
    let fired = h.alert.handle().await.unwrap();
    assert_eq!(fired.notices.len(), 1, "{:?}", fired.notices);
    assert!(fired.notified);
    assert_eq!(sent(&h.slack).len(), 1);
    assert_eq!(sent(&h.email), sent(&h.slack), "email gets the same notice");
    assert!(
        sent(&h.slack)[0].to_lowercase().contains("dead"),
        "{}",
        sent(&h.slack)[0]
    );

    // Still breached within the cooldown: nothing new.
    *h.now.lock().unwrap() += time::Duration::hours(1);
    assert!(h.alert.handle().await.unwrap().notices.is_empty());
    assert_eq!(sent(&h.slack).len(), 1);

    // Past the cooldown: one reminder.
    *h.now.lock().unwrap() += time::Duration::hours(24);
    assert_eq!(h.alert.handle().await.unwrap().notices.len(), 1);
    assert_eq!(sent(&h.slack).len(), 2);

    *h.community.dead_letters.lock().unwrap() = 0;
    *h.now.lock().unwrap() += time::Duration::hours(1);
    let recovered = h.alert.handle().await.unwrap();
    assert_eq!(recovered.notices.len(), 1, "{:?}", recovered.notices);
    assert_eq!(sent(&h.slack).len(), 3);
    assert!(
        sent(&h.slack)[2].to_lowercase().contains("recover"),
        "{}",
        sent(&h.slack)[2]
    );
    *h.now.lock().unwrap() += time::Duration::hours(1);
    assert!(h.alert.handle().await.unwrap().notices.is_empty());
    assert_eq!(sent(&h.slack).len(), 3);
}

#[tokio::test]
async fn a_run_that_loses_the_state_race_tells_nothing() {
    let h = harness(BTreeMap::new());
    *h.community.dead_letters.lock().unwrap() = 1;
    *h.states.lose_next_save.lock().unwrap() = true;
    let summary = h.alert.handle().await.unwrap();
    assert!(summary.notices.is_empty());
    assert!(h.slack.0.lock().unwrap().is_empty());
    // The next run (which reads the winner's state, here still healthy) fires.
    assert_eq!(h.alert.handle().await.unwrap().notices.len(), 1);
}

#[tokio::test]
async fn metrics_over_http_iam_route_and_bearer_token_route() {
    let h = harness(BTreeMap::new());
    let auth =
        http::MetricsAuth::token(&secrecy::SecretString::from("a-long-enough-metrics-token"))
            .unwrap();
    let request = |path: &str, authorization: Option<&str>, method: &str| {
        let mut headers = serde_json::Map::new();
        if let Some(value) = authorization {
            headers.insert("authorization".into(), value.into());
        }
        serde_json::from_value::<aws_lambda_events::event::apigw::ApiGatewayV2httpRequest>(
            serde_json::json!({
                "version": "2.0", "routeKey": format!("GET {path}"), "rawPath": path,
                "headers": headers,
                "requestContext": { "http": { "method": method, "path": path } },
                "isBase64Encoded": false
            }),
        )
        .unwrap()
    };
    let status = async |auth: &http::MetricsAuth, path: &str, token: Option<&str>, method: &str| {
        http::respond(&h.alert, auth, &request(path, token, method))
            .await
            .status_code
    };
    let right = Some("Bearer a-long-enough-metrics-token");
    // The token route: missing, wrong, right; methods and paths.
    assert_eq!(status(&auth, "/metrics/token", None, "GET").await, 401);
    assert_eq!(
        status(
            &auth,
            "/metrics/token",
            Some("Bearer wrong-token-of-some-length"),
            "GET"
        )
        .await,
        403
    );
    assert_eq!(
        status(
            &auth,
            "/metrics/token",
            Some("a-long-enough-metrics-token"),
            "GET"
        )
        .await,
        401,
        "not a bearer credential"
    );
    assert_eq!(status(&auth, "/metrics/token", right, "POST").await, 405);
    assert_eq!(status(&auth, "/metricsx", right, "GET").await, 404);
    let ok = http::respond(&h.alert, &auth, &request("/metrics/token", right, "GET")).await;
    assert_eq!(ok.status_code, 200);
    let Some(aws_lambda_events::encodings::Body::Text(body)) = ok.body else {
        panic!("no body")
    };
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["metrics"]["medianResolutionSeconds"], 86_400.0);
    assert!(http::MetricsAuth::token(&secrecy::SecretString::from("short")).is_err());
    // Without a token only the IAM route exists.
    let iam = http::MetricsAuth::Iam;
    assert_eq!(status(&iam, "/metrics", None, "GET").await, 200);
    assert_eq!(status(&iam, "/metrics/token", right, "GET").await, 404);
}

#[tokio::test]
async fn a_breach_notice_carries_the_summary_of_counters_and_dead_letters() {
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
    let h = harness(counters);
    *h.community.dead_letters.lock().unwrap() = 3;
    let notifier = h.slack.clone();
    let summary = h.alert.handle().await.unwrap();
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

/// Refuses until told otherwise (Slack down).
#[derive(Default)]
struct Flaky {
    down: Mutex<bool>,
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl Notifier for Flaky {
    async fn notify(&self, text: &str) -> Result<(), AwsError> {
        if *self.down.lock().unwrap() {
            return Err(AwsError::retryable("SlackWebhook", "503", "unavailable"));
        }
        self.sent.lock().unwrap().push(text.to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn a_notice_that_could_not_be_delivered_is_sent_by_the_next_sweep() {
    let mut h = harness(BTreeMap::new());
    let slack = Arc::new(Flaky::default());
    h.alert.notifier = slack.clone();
    h.alert.email = None;
    *h.community.dead_letters.lock().unwrap() = 2;
    *slack.down.lock().unwrap() = true;
    assert!(h.alert.handle().await.is_err(), "the failure is reported");
    assert!(slack.sent.lock().unwrap().is_empty());
    *slack.down.lock().unwrap() = false;
    *h.now.lock().unwrap() += time::Duration::minutes(5);
    let retried = h.alert.handle().await.unwrap();
    assert_eq!(retried.notices.len(), 1, "{:?}", retried.notices);
    assert_eq!(slack.sent.lock().unwrap().len(), 1);
    assert!(
        h.alert.handle().await.unwrap().notices.is_empty(),
        "and only once"
    );
}
