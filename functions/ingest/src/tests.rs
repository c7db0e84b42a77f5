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
        github_secret_param: "/p".into(),
        max_body_bytes: 4096,
        enabled_platforms: vec![Platform::Github],
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
async fn an_empty_secret_parameter_fails_the_cold_start() {
    let err = Ingest::load(
        config(),
        &FixedSecret(" \n "),
        Arc::new(RecordingQueue::default()),
        lambda_kit::system_clock(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, InitError::EmptySecret(_)));
}

#[test]
fn config_errors_name_the_variable() {
    let env: std::collections::HashMap<String, String> = [
        ("GITHUB_WEBHOOK_SECRET_PARAM", "/p"),
        ("MAX_BODY_BYTES", "5000000"),
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
}
