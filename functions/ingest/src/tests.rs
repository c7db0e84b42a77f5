use std::sync::Mutex;

use async_trait::async_trait;
use aws_lambda_events::http::Method;
use community_aws::AwsError;
use secrecy::SecretString;

use super::*;

const SECRET: &str = "dev-github-secret";
const ISSUE: &str = r#"{"action":"opened","issue":{"number":1,"title":"It crashes","html_url":"https://github.com/o/r/issues/1","user":{"login":"alice","id":1}},"repository":{"full_name":"o/r"},"sender":{"login":"alice","id":1}}"#;

#[derive(Default)]
struct RecordingQueue {
    sent: Mutex<Vec<OutgoingMessage>>,
    fail: bool,
}

#[async_trait]
impl MessageQueue for RecordingQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), AwsError> {
        if self.fail {
            return Err(AwsError::retryable(
                "SendMessage",
                "ServiceUnavailable",
                "down",
            ));
        }
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
    async fn send_all(&self, messages: &[OutgoingMessage]) -> Vec<Result<(), AwsError>> {
        let mut out = Vec::new();
        for m in messages {
            out.push(self.send(m).await);
        }
        out
    }
}

struct FixedSecret(&'static str);

#[async_trait]
impl SecretSource for FixedSecret {
    async fn secret(&self, _name: &str) -> Result<SecretString, AwsError> {
        Ok(SecretString::from(self.0.to_owned()))
    }
}

fn config() -> Config {
    Config {
        raw_events_queue_url: "q".into(),
        max_body_bytes: 4096,
        platforms: vec![(Platform::Github, "/p".into())],
        resolutions: Default::default(),
    }
}

async fn ingest_with(queue: Arc<RecordingQueue>) -> Ingest {
    Ingest::load(
        config(),
        &FixedSecret("old-secret\ndev-github-secret\n"),
        queue,
        Arc::new(|| time::macros::datetime!(2026-11-23 12:00 UTC)),
    )
    .await
    .unwrap()
}

fn request(
    platform: &str,
    event: &str,
    body: &str,
    signature: Option<String>,
) -> ApiGatewayV2httpRequest {
    let mut r = ApiGatewayV2httpRequest::default();
    r.request_context.http.method = Method::POST;
    r.raw_path = Some(format!("/webhooks/{platform}"));
    r.path_parameters.insert("platform".into(), platform.into());
    r.headers
        .insert("content-type", HeaderValue::from_static("application/json"));
    r.headers
        .insert("x-github-event", HeaderValue::from_str(event).unwrap());
    r.headers.insert(
        "x-github-delivery",
        HeaderValue::from_static("11111111-2222-3333-4444-555555555555"),
    );
    r.headers
        .insert("x-github-hook-id", HeaderValue::from_static("42"));
    if let Some(sig) = signature {
        r.headers
            .insert("x-hub-signature-256", HeaderValue::from_str(&sig).unwrap());
    }
    r.body = Some(body.to_owned());
    r
}

fn signed(platform: &str, event: &str, body: &str) -> ApiGatewayV2httpRequest {
    request(
        platform,
        event,
        body,
        Some(platforms::github::sign(SECRET, body.as_bytes()).unwrap()),
    )
}

fn body_of(r: &ApiGatewayV2httpResponse) -> serde_json::Value {
    match &r.body {
        Some(Body::Text(t)) => serde_json::from_str(t).unwrap(),
        other => panic!("unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn signed_delivery_is_enqueued_and_answered_202() {
    let queue = Arc::new(RecordingQueue::default());
    let ingest = ingest_with(queue.clone()).await;
    let response = ingest.handle(signed("github", "issues", ISSUE)).await;
    assert_eq!(response.status_code, 202);
    assert_eq!(body_of(&response)["status"], "accepted");
    let sent = queue.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    let envelope = platforms::Envelope::decode(&sent[0].body).unwrap();
    assert_eq!(envelope.delivery_id, "11111111-2222-3333-4444-555555555555");
    assert_eq!(envelope.hook_id.as_deref(), Some("42"));
}

#[tokio::test]
async fn refusals_have_the_right_status_a_short_code_and_queue_nothing() {
    let queue = Arc::new(RecordingQueue::default());
    let ingest = ingest_with(queue.clone()).await;
    let mut get = signed("github", "issues", ISSUE);
    get.request_context.http.method = Method::GET;
    let oversized = "x".repeat(5000);
    let mut bad_base64 = signed("github", "issues", ISSUE);
    bad_base64.is_base64_encoded = true;
    bad_base64.body = Some("***".into());
    let cases = vec![
        (
            "bad signature",
            request(
                "github",
                "issues",
                ISSUE,
                Some(platforms::github::sign("wrong", ISSUE.as_bytes()).unwrap()),
            ),
            401,
            "signature_invalid",
        ),
        (
            "missing signature",
            request("github", "issues", ISSUE, None),
            401,
            "signature_missing",
        ),
        (
            "unknown platform",
            signed("myspace", "issues", ISSUE),
            404,
            "unknown_platform",
        ),
        (
            "known but disabled platform",
            signed("slack", "issues", ISSUE),
            404,
            "unknown_platform",
        ),
        (
            "oversized",
            signed("github", "issues", &oversized),
            413,
            "body_too_large",
        ),
        (
            "malformed",
            signed("github", "issues", "{oops"),
            400,
            "malformed_delivery",
        ),
        ("bad base64", bad_base64, 400, "malformed_delivery"),
        ("wrong method", get, 405, "method_not_allowed"),
    ];
    for (name, req, status, code) in cases {
        let response = ingest.handle(req).await;
        assert_eq!(response.status_code, status, "{name}");
        let body = body_of(&response);
        assert_eq!(
            body,
            serde_json::json!({ "error": code }),
            "{name}: short JSON error only"
        );
    }
    assert!(queue.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn base64_encoded_bodies_are_verified_after_decoding() {
    let queue = Arc::new(RecordingQueue::default());
    let ingest = ingest_with(queue.clone()).await;
    let mut req = signed("github", "issues", ISSUE);
    req.is_base64_encoded = true;
    req.body = Some(base64::engine::general_purpose::STANDARD.encode(ISSUE));
    assert_eq!(ingest.handle(req).await.status_code, 202);
    assert_eq!(queue.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn ping_is_answered_200_and_not_enqueued() {
    let queue = Arc::new(RecordingQueue::default());
    let ingest = ingest_with(queue.clone()).await;
    let response = ingest
        .handle(signed(
            "github",
            "ping",
            r#"{"zen":"Design for failure.","hook_id":42}"#,
        ))
        .await;
    assert_eq!(response.status_code, 200);
    assert!(queue.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn queue_outage_is_503_so_the_delivery_can_be_redelivered() {
    let queue = Arc::new(RecordingQueue {
        fail: true,
        ..Default::default()
    });
    let ingest = ingest_with(queue).await;
    let response = ingest.handle(signed("github", "issues", ISSUE)).await;
    assert_eq!(response.status_code, 503);
    assert_eq!(
        body_of(&response),
        serde_json::json!({ "error": "temporarily_unavailable" })
    );
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let ingest = ingest_with(Arc::new(RecordingQueue::default())).await;
    let printed = format!("{ingest:?}");
    assert!(!printed.contains(SECRET) && !printed.contains("old-secret"));
}

#[tokio::test]
async fn an_unusable_secret_makes_only_its_platform_unavailable() {
    for (value, why) in [
        (" \n ", "empty"),
        (r#"{"secret":"x"}"#, "a Secrets Manager key/value JSON"),
    ] {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = Ingest::load(
            config(),
            &FixedSecret(value),
            queue.clone(),
            lambda_kit::system_clock(),
        )
        .await
        .unwrap();
        let response = ingest.handle(signed("github", "issues", ISSUE)).await;
        assert_eq!(response.status_code, 503, "{why}");
        assert_eq!(
            body_of(&response),
            serde_json::json!({ "error": "platform_unavailable" })
        );
        assert!(queue.sent.lock().unwrap().is_empty());
    }
}

#[test]
fn config_errors_name_the_variable() {
    let env: std::collections::HashMap<String, String> = [
        ("GITHUB_WEBHOOK_SECRET_PARAM", "/p"),
        ("MAX_BODY_BYTES", "5000000"),
        ("ENABLED_PLATFORMS", "github"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        Config::from_lookup(&env).unwrap_err(),
        ConfigError::Missing("RAW_EVENTS_QUEUE_URL")
    );
    let mut env = env;
    env.insert("RAW_EVENTS_QUEUE_URL".into(), "q".into());
    assert!(matches!(
        Config::from_lookup(&env).unwrap_err(),
        ConfigError::Invalid {
            name: "MAX_BODY_BYTES",
            ..
        }
    ));
    // Enabling a platform requires saying where its secret lives.
    env.insert("MAX_BODY_BYTES".into(), "5000".into());
    env.insert("ENABLED_PLATFORMS".into(), "github, slack".into());
    assert_eq!(
        Config::from_lookup(&env).unwrap_err(),
        ConfigError::Missing("SLACK_SIGNING_SECRET_PARAM")
    );
    env.insert("ENABLED_PLATFORMS".into(), "github,myspace".into());
    assert!(matches!(
        Config::from_lookup(&env).unwrap_err(),
        ConfigError::Invalid {
            name: "ENABLED_PLATFORMS",
            ..
        }
    ));
}

mod every_platform {
    //! The handler with all five platforms enabled: each platform's
    //! handshake, a genuine delivery, and a forgery, through `handle`.

    use std::collections::HashMap;

    use super::*;

    const SLACK: &str = "slack-secret";
    const DISCOURSE: &str = "discourse-secret";
    const RELAY: &str = "relay-secret";
    const GATEWAY: &str = "gateway-secret";
    const NOW: i64 = 1_795_435_200; // 2026-11-23 12:00 UTC

    fn discord_key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[1u8; 32])
    }

    pub(super) struct Named(pub(super) HashMap<&'static str, String>);

    #[async_trait]
    impl SecretSource for Named {
        async fn secret(&self, name: &str) -> Result<SecretString, AwsError> {
            self.0
                .get(name)
                .map(|v| SecretString::from(v.clone()))
                .ok_or_else(|| AwsError::permanent("GetParameter", "ParameterNotFound", name))
        }
    }

    async fn ingest(queue: Arc<RecordingQueue>) -> Ingest {
        let config = Config {
            raw_events_queue_url: "q".into(),
            max_body_bytes: 64 * 1024,
            platforms: vec![
                (Platform::Github, "/github".into()),
                (Platform::Slack, "/slack".into()),
                (Platform::Discord, "/discord".into()),
                (Platform::Discourse, "/discourse".into()),
                (Platform::Relay, "/relay".into()),
            ],
            resolutions: Default::default(),
        };
        let public = hex::encode(discord_key().verifying_key().to_bytes());
        let secrets = Named(HashMap::from([
            ("/github", SECRET.to_owned()),
            ("/slack", SLACK.to_owned()),
            ("/discord", format!("{}\n{public}", "11".repeat(32))),
            ("/discourse", DISCOURSE.to_owned()),
            (
                "/relay",
                format!("old-relay\n{RELAY}\ndiscord-gateway={GATEWAY}"),
            ),
        ]));
        Ingest::load(
            config,
            &secrets,
            queue,
            Arc::new(|| time::macros::datetime!(2026-11-23 12:00 UTC)),
        )
        .await
        .unwrap()
    }

    fn post(path: &str, body: &str, headers: &[(&str, String)]) -> ApiGatewayV2httpRequest {
        let mut r = ApiGatewayV2httpRequest::default();
        r.request_context.http.method = Method::POST;
        r.raw_path = Some(path.to_owned());
        r.headers
            .insert("content-type", HeaderValue::from_static("application/json"));
        for (name, value) in headers {
            r.headers.insert(
                aws_lambda_events::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        r.body = Some(body.to_owned());
        r
    }

    fn text(r: &ApiGatewayV2httpResponse) -> Option<String> {
        match &r.body {
            Some(Body::Text(t)) => Some(t.clone()),
            None => None,
            other => panic!("unexpected body {other:?}"),
        }
    }

    fn slack(body: &str, at: i64) -> ApiGatewayV2httpRequest {
        let ts = at.to_string();
        let sig = platforms::slack::sign(SLACK, &ts, body.as_bytes()).unwrap();
        post(
            "/webhooks/slack",
            body,
            &[
                ("x-slack-signature", sig),
                ("x-slack-request-timestamp", ts),
            ],
        )
    }

    fn discord(path: &str, body: &str, at: i64) -> ApiGatewayV2httpRequest {
        let ts = at.to_string();
        let sig = platforms::discord::sign(&discord_key(), &ts, body.as_bytes());
        post(
            path,
            body,
            &[("x-signature-ed25519", sig), ("x-signature-timestamp", ts)],
        )
    }

    fn relay(body: &str, at: i64, secret: &str) -> ApiGatewayV2httpRequest {
        let ts = at.to_string();
        let sig = platforms::relay::sign(secret, &ts, body.as_bytes()).unwrap();
        post(
            "/webhooks/relay",
            body,
            &[("x-signature", sig), ("x-signature-timestamp", ts)],
        )
    }

    #[tokio::test]
    async fn slack_handshake_event_and_stale_replay() {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = ingest(queue.clone()).await;
        let challenge = r#"{"token":"t","challenge":"c-123","type":"url_verification"}"#;
        let response = ingest.handle(slack(challenge, NOW)).await;
        assert_eq!(response.status_code, 200);
        assert_eq!(text(&response).unwrap(), r#"{"challenge":"c-123"}"#);

        let event = r#"{"type":"event_callback","team_id":"T1","event_id":"Ev1","event":{"type":"message","user":"U1","text":"hi","ts":"1.1","channel":"C1"}}"#;
        assert_eq!(ingest.handle(slack(event, NOW)).await.status_code, 202);
        let stale = ingest.handle(slack(event, NOW - 301)).await;
        assert_eq!(stale.status_code, 401);
        assert_eq!(body_of(&stale)["error"], "timestamp_out_of_window");
        assert_eq!(queue.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn discord_interactions_and_webhook_events() {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = ingest(queue.clone()).await;
        let ping = r#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#;
        let pong = ingest.handle(discord("/webhooks/discord", ping, NOW)).await;
        assert_eq!(pong.status_code, 200);
        assert_eq!(text(&pong).unwrap(), r#"{"type":1}"#);

        // Discord's deliberate bad-signature probe: the same PING, one bit off.
        let mut forged = discord("/webhooks/discord", ping, NOW);
        let sig = forged.headers["x-signature-ed25519"]
            .to_str()
            .unwrap()
            .to_owned();
        let flipped = format!(
            "{}{}",
            if sig.starts_with('0') { "1" } else { "0" },
            &sig[1..]
        );
        forged.headers.insert(
            "x-signature-ed25519",
            HeaderValue::from_str(&flipped).unwrap(),
        );
        assert_eq!(ingest.handle(forged).await.status_code, 401);

        let command = r#"{"type":2,"id":"1100000000000000001","application_id":"2","token":"t","version":1,"guild_id":"3","channel_id":"4","member":{"user":{"id":"5","username":"ada"}},"data":{"id":"6","name":"report","type":1,"options":[{"type":3,"name":"text","value":"export crashes"}]}}"#;
        let ack = ingest
            .handle(discord("/webhooks/discord", command, NOW))
            .await;
        assert_eq!(ack.status_code, 200);
        let ack: serde_json::Value = serde_json::from_str(&text(&ack).unwrap()).unwrap();
        assert_eq!(ack["type"], 4);
        assert_eq!(ack["data"]["flags"], 64);

        let events_ping = r#"{"version":1,"application_id":"2","type":0}"#;
        let answer = ingest
            .handle(discord("/webhooks/discord/events", events_ping, NOW))
            .await;
        assert_eq!(answer.status_code, 204);
        assert_eq!(text(&answer), None, "204 must have an empty body");

        let authorized = r#"{"version":1,"application_id":"2","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2026-11-23T11:59:00.000000","data":{"user":{"id":"5","username":"ada"},"scopes":["applications.commands"]}}}"#;
        let answer = ingest
            .handle(discord("/webhooks/discord/events", authorized, NOW))
            .await;
        assert_eq!(answer.status_code, 204);
        assert_eq!(text(&answer), None);
        assert_eq!(
            queue.sent.lock().unwrap().len(),
            2,
            "command + authorization"
        );

        // Only Discord has sub-endpoints.
        let other = ingest
            .handle(discord("/webhooks/discord/other", events_ping, NOW))
            .await;
        assert_eq!(other.status_code, 404);
        let github_sub = ingest
            .handle(post("/webhooks/github/events", "{}", &[]))
            .await;
        assert_eq!(github_sub.status_code, 404);
    }

    #[tokio::test]
    async fn discourse_ping_and_post() {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = ingest(queue.clone()).await;
        let ping = r#"{"ping":"OK"}"#;
        let sig = platforms::discourse::sign(DISCOURSE, ping.as_bytes()).unwrap();
        let response = ingest
            .handle(post(
                "/webhooks/discourse",
                ping,
                &[
                    ("x-discourse-event-signature", sig),
                    ("x-discourse-event", "ping".into()),
                ],
            ))
            .await;
        assert_eq!(response.status_code, 200);
        let post_body = r#"{"post":{"id":7,"post_number":2,"topic_id":3,"user_id":9,"username":"ada","raw":"same here","created_at":"2026-11-23T11:00:00Z","updated_at":"2026-11-23T11:00:00Z"}}"#;
        let sig = platforms::discourse::sign(DISCOURSE, post_body.as_bytes()).unwrap();
        let headers = [
            ("x-discourse-event-signature", sig),
            ("x-discourse-event", "post_created".into()),
            ("x-discourse-event-id", "101".into()),
        ];
        assert_eq!(
            ingest
                .handle(post("/webhooks/discourse", post_body, &headers))
                .await
                .status_code,
            202
        );
        // A retry under a new X-Discourse-Event-Id keeps the same dedup id.
        let mut retry_headers = headers.clone();
        retry_headers[2].1 = "102".into();
        ingest
            .handle(post("/webhooks/discourse", post_body, &retry_headers))
            .await;
        let sent = queue.sent.lock().unwrap();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].deduplication_id, sent[1].deduplication_id);
    }

    #[tokio::test]
    async fn relay_validates_its_schema_and_names_bad_fields() {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = ingest(queue.clone()).await;
        let good = r#"{"version":1,"id":"gh-1-7-labeled-bug","source":"github-actions","type":"issue_opened","occurredAt":"2026-11-23T11:58:00Z","data":{"actor":{"id":"1","handle":"ada"},"title":"Export crashes","labels":["bug"]}}"#;
        assert_eq!(
            ingest.handle(relay(good, NOW, RELAY)).await.status_code,
            202
        );
        // The old secret still verifies during a rotation.
        assert_eq!(
            ingest
                .handle(relay(good, NOW, "old-relay"))
                .await
                .status_code,
            202
        );
        let bad = r#"{"version":1,"id":"x y","source":"github-actions","type":"issue_opend","occurredAt":"2026-11-23T11:58:00Z","data":{"actor":{"handle":"ada"}}}"#;
        let response = ingest.handle(relay(bad, NOW, RELAY)).await;
        assert_eq!(response.status_code, 400);
        let body = body_of(&response);
        assert_eq!(body["error"], "invalid_envelope");
        let fields: Vec<String> = body["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap().to_owned())
            .collect();
        for expected in ["/id", "/type", "/data/actor/id"] {
            assert!(
                fields.iter().any(|f| f == expected),
                "{expected} in {fields:?}"
            );
        }
        assert!(
            !body.to_string().contains("issue_opend"),
            "no values echoed"
        );
        let stale = ingest.handle(relay(good, NOW + 301, RELAY)).await;
        assert_eq!(stale.status_code, 401);
        assert_eq!(queue.sent.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_broken_discord_key_leaves_the_other_platforms_working() {
        let config = Config {
            raw_events_queue_url: "q".into(),
            max_body_bytes: 4096,
            platforms: vec![
                (Platform::Discord, "/discord".into()),
                (Platform::Slack, "/slack".into()),
            ],
            resolutions: Default::default(),
        };
        let secrets = Named(HashMap::from([
            ("/discord", "not-a-key".to_owned()),
            ("/slack", SLACK.to_owned()),
        ]));
        let ingest = Ingest::load(
            config,
            &secrets,
            Arc::new(RecordingQueue::default()),
            Arc::new(|| time::macros::datetime!(2026-11-23 12:00 UTC)),
        )
        .await
        .unwrap();
        let ping = r#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#;
        assert_eq!(
            ingest
                .handle(discord("/webhooks/discord", ping, NOW))
                .await
                .status_code,
            503
        );
        let challenge = r#"{"token":"t","challenge":"c","type":"url_verification"}"#;
        assert_eq!(ingest.handle(slack(challenge, NOW)).await.status_code, 200);
    }

    #[tokio::test]
    async fn only_the_gateway_relay_secret_may_speak_for_discord_members() {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = ingest(queue.clone()).await;
        let gateway = r#"{"version":1,"id":"message-1","source":"discord-gateway","type":"MESSAGE_CREATE","occurredAt":"2026-11-23T11:59:00Z","data":{"id":"1","channel_id":"2","author":{"id":"3","username":"mia"},"content":"hi","type":0}}"#;
        let forged = ingest.handle(relay(gateway, NOW, RELAY)).await;
        assert_eq!(forged.status_code, 403);
        assert_eq!(body_of(&forged)["error"], "source_not_allowed");
        assert_eq!(
            ingest
                .handle(relay(gateway, NOW, GATEWAY))
                .await
                .status_code,
            202
        );
        assert_eq!(queue.sent.lock().unwrap().len(), 1);
    }
}

/// The trackers' resolution webhooks: verified, relayed to route's queue with
/// `kind = ticketResolution`, and everything else answered without retrying.
mod resolutions {
    use std::collections::HashMap;

    use hmac::{Hmac, Mac};
    use trackers::Tracker;

    use super::every_platform::Named;
    use super::*;

    const LINEAR_SECRET: &str = "lin_wh_dev_secret";
    const JIRA_SECRET: &str = "jira-dev-secret";
    const NOW: time::OffsetDateTime = time::macros::datetime!(2026-11-23 12:00 UTC);

    fn hex_mac(secret: &str, body: &str) -> String {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    async fn ingest(queue: Arc<RecordingQueue>) -> Ingest {
        let mut config = config();
        config.resolutions = crate::resolutions::ResolutionConfig {
            webhooks: vec![
                (Tracker::Linear, "/linear".into()),
                (Tracker::Jira, "/jira".into()),
            ],
            queue_url: Some("route-queue".into()),
        };
        let secrets = Named(HashMap::from([
            ("/p", "dev-github-secret".to_owned()),
            ("/linear", LINEAR_SECRET.to_owned()),
            ("/jira", JIRA_SECRET.to_owned()),
        ]));
        Ingest::load(
            config,
            &secrets,
            Arc::new(RecordingQueue::default()),
            Arc::new(|| NOW),
        )
        .await
        .unwrap()
        .with_resolutions(&secrets, queue)
        .await
    }

    fn linear_completed(sent_at: time::OffsetDateTime) -> String {
        serde_json::json!({
            "action": "update", "type": "Issue",
            "createdAt": "2026-11-23T11:59:59.000Z",
            "data": {
                "id": "2f6a1c3e-9d4b-4a8f-b1e2-7c5d3a9e0f11", "identifier": "COM-1",
                "title": "CSV export crashes", "completedAt": "2026-11-23T11:59:58.000Z",
                "state": { "id": "s1", "name": "Done", "type": "completed" }
            },
            "updatedFrom": { "completedAt": null, "stateId": "s0" },
            "url": "https://linear.app/dev/issue/COM-1",
            "webhookTimestamp": (sent_at.unix_timestamp_nanos() / 1_000_000) as i64,
            "webhookId": "w1"
        })
        .to_string()
    }

    fn tracker_request(
        tracker: &str,
        body: &str,
        headers: &[(&'static str, String)],
    ) -> ApiGatewayV2httpRequest {
        let mut r = ApiGatewayV2httpRequest::default();
        r.request_context.http.method = Method::POST;
        r.raw_path = Some(format!("/webhooks/{tracker}"));
        r.path_parameters.insert("platform".into(), tracker.into());
        for (name, value) in headers {
            r.headers
                .insert(*name, HeaderValue::from_str(value).unwrap());
        }
        r.body = Some(body.to_owned());
        r
    }

    #[tokio::test]
    async fn a_signed_linear_completion_goes_to_route_as_a_resolution() {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = ingest(queue.clone()).await;
        let body = linear_completed(NOW);
        let response = ingest
            .handle(tracker_request(
                "linear",
                &body,
                &[
                    ("linear-signature", hex_mac(LINEAR_SECRET, &body)),
                    ("linear-delivery", "d-1".into()),
                ],
            ))
            .await;
        assert_eq!(response.status_code, 202);
        let sent = queue.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].attributes["kind"], "ticketResolution");
        let message: serde_json::Value = serde_json::from_str(&sent[0].body).unwrap();
        assert_eq!(message["tracker"], "linear");
        assert_eq!(message["ticketId"], "2f6a1c3e-9d4b-4a8f-b1e2-7c5d3a9e0f11");
        assert_eq!(message["resolvedAt"], "2026-11-23T11:59:58Z");
        assert!(sent[0].group_id.starts_with("ticket:linear:"));
    }

    #[tokio::test]
    async fn forged_stale_and_unsigned_tracker_webhooks_are_refused() {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = ingest(queue.clone()).await;
        let body = linear_completed(NOW);
        let forged = ingest
            .handle(tracker_request(
                "linear",
                &body,
                &[("linear-signature", hex_mac("wrong", &body))],
            ))
            .await;
        assert_eq!(forged.status_code, 401);
        let unsigned = ingest.handle(tracker_request("linear", &body, &[])).await;
        assert_eq!(unsigned.status_code, 401);
        let stale_body = linear_completed(NOW - time::Duration::minutes(5));
        let stale = ingest
            .handle(tracker_request(
                "linear",
                &stale_body,
                &[("linear-signature", hex_mac(LINEAR_SECRET, &stale_body))],
            ))
            .await;
        assert_eq!(stale.status_code, 401);
        let jira_body = r#"{"webhookEvent":"jira:issue_updated"}"#;
        let jira = ingest
            .handle(tracker_request(
                "jira",
                jira_body,
                &[(
                    "x-hub-signature",
                    format!("sha256={}", hex_mac("wrong", jira_body)),
                )],
            ))
            .await;
        assert_eq!(jira.status_code, 401);
        assert!(queue.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn other_tracker_events_are_acknowledged_and_dropped() {
        let queue = Arc::new(RecordingQueue::default());
        let ingest = ingest(queue.clone()).await;
        let body = linear_completed(NOW)
            .replace(
                "\"completedAt\":\"2026-11-23T11:59:58.000Z\"",
                "\"completedAt\":null",
            )
            .replace("\"type\":\"completed\"", "\"type\":\"started\"");
        let response = ingest
            .handle(tracker_request(
                "linear",
                &body,
                &[("linear-signature", hex_mac(LINEAR_SECRET, &body))],
            ))
            .await;
        assert_eq!(response.status_code, 200);
        assert!(queue.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_tracker_without_a_configured_secret_is_unknown() {
        let queue = Arc::new(RecordingQueue::default());
        let plain = ingest_with(queue.clone()).await;
        let body = linear_completed(NOW);
        let response = plain
            .handle(tracker_request(
                "linear",
                &body,
                &[("linear-signature", hex_mac(LINEAR_SECRET, &body))],
            ))
            .await;
        assert_eq!(response.status_code, 404);
    }
}
