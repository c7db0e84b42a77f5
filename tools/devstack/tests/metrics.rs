//! `GET /metrics` on the local HTTP API (devstack's http.rs): the alert
//! function's numbers through the same handler and authorization as behind
//! HTTP API, served on 127.0.0.1 and called over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use devstack::secrets::DevSecrets;
use devstack::{Stack, StackOptions};
use time::OffsetDateTime;
use time::macros::datetime;

const SETTLE: Duration = Duration::from_secs(60);
/// The fixtures' delivery time: the stack's clock is pinned here, so the
/// fixture's activity (2026-11-23) stays inside the 7-day window.
const NOW: OffsetDateTime = datetime!(2026-11-23 10:00 UTC);
const TOKEN: &str = "local-metrics-token-0123456789";

async fn stack_at_fixture_time(prefix: &str, overrides: BTreeMap<String, String>) -> Arc<Stack> {
    let mut options = StackOptions::new(common::unique(prefix));
    options.secrets = DevSecrets::default();
    options.parameter_overrides = overrides;
    let stack = Stack::start_with_clock(
        &common::template(),
        &common::sdk().await,
        options,
        Arc::new(|| NOW),
    )
    .await
    .unwrap();
    Arc::new(stack)
}

/// Serves `router` on an ephemeral port; the base URL. The server task ends
/// with the test's runtime.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(axum::serve(listener, router).into_future());
    format!("http://{address}")
}

async fn get(base: &str, path: &str, authorization: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

#[tokio::test]
async fn get_metrics_answers_the_alert_numbers_and_nothing_else() {
    let stack = stack_at_fixture_time("metrics-http", BTreeMap::new()).await;
    let base = serve(devstack::http::router(stack.clone())).await;

    // Nothing ingested yet: no one is active.
    let (status, body) = get(&base, "/metrics", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metrics"]["activeContributors7d"], 0, "{body}");

    // The fixture, posted to the webhook route as GitHub would, then drained.
    let fixture = common::fixture_request("github-issue-opened.json");
    let mut post = reqwest::Client::new().post(format!("{base}/webhooks/github"));
    for (name, value) in &fixture.headers {
        post = post.header(name.as_str(), value.as_bytes());
    }
    let response = post.body(fixture.body.unwrap()).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 202);
    stack.drain(SETTLE).await.unwrap();

    // No token configured: IAM, which nothing checks locally, so no header.
    let response = reqwest::Client::new()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "the alert handler's response headers are passed on"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["measuredAt"], "2026-11-23T10:00:00Z", "{body}");
    let active = body["metrics"]["activeContributors7d"].as_i64().unwrap();
    assert!(active >= 1, "{body}");
    assert_eq!(
        body["metrics"],
        serde_json::to_value(stack.alert.measure(NOW).await.unwrap()).unwrap(),
        "the same numbers as Alert::measure"
    );

    // Other methods on /metrics, and other paths.
    let client = reqwest::Client::new();
    for method in [reqwest::Method::POST, reqwest::Method::DELETE] {
        let response = client
            .request(method.clone(), format!("{base}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method}");
    }
    // No token configured: the bearer route does not exist.
    for path in ["/metric", "/metrics/extra", "/", "/metrics/token"] {
        let (status, _) = get(&base, path, None).await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_configured_metrics_token_is_required_and_loaded_once() {
    let param = format!("/{}/metrics-token", common::unique("metrics"));
    let overrides = BTreeMap::from([("MetricsTokenParam".to_owned(), param.clone())]);
    let stack = stack_at_fixture_time("metrics-token", overrides).await;
    let sdk = common::sdk().await;

    // Loaded on the first request: the parameter does not exist yet, so it
    // fails (as Lambda's cold start would) and is tried again next time.
    let lazy = serve(devstack::http::router(stack.clone())).await;
    let (status, body) = get(&lazy, "/metrics/token", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, 500, "{body}");

    devstack::provision::put_secret(&sdk, &param, TOKEN)
        .await
        .unwrap();
    let auth = devstack::http::metrics_auth(&stack).await.unwrap();
    assert_eq!(format!("{auth:?}"), "MetricsAuth::Token(..)");
    let eager = serve(devstack::http::router_with_auth(stack.clone(), auth)).await;

    for base in [&lazy, &eager] {
        let (status, body) = get(base, "/metrics/token", None).await;
        assert_eq!(status, 401, "{base}: {body}");
        assert_eq!(body["error"], "unauthorized");
        let (status, _) = get(base, "/metrics/token", Some(TOKEN)).await;
        assert_eq!(status, 401, "{base}: not a bearer token");
        let (status, body) = get(
            base,
            "/metrics/token",
            Some("Bearer wrong-token-wrong-token"),
        )
        .await;
        assert_eq!(status, 403, "{base}: {body}");
        assert_eq!(body["error"], "forbidden");
        let (status, body) = get(base, "/metrics/token", Some(&format!("Bearer {TOKEN}"))).await;
        assert_eq!(status, 200, "{base}: {body}");
        assert!(body["metrics"]["activeContributors7d"].is_i64(), "{body}");
        // The IAM route is API Gateway's to authorize (no SigV4 locally).
        let (status, _) = get(base, "/metrics", None).await;
        assert_eq!(status, 200, "{base}");
    }

    // Loaded once: a token rotated in SSM takes effect on the next start,
    // not mid-flight.
    devstack::provision::put_secret(&sdk, &param, "rotated-metrics-token-9876543210")
        .await
        .unwrap();
    let (status, _) = get(&lazy, "/metrics/token", Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, 200);
    let (status, _) = get(
        &lazy,
        "/metrics/token",
        Some("Bearer rotated-metrics-token-9876543210"),
    )
    .await;
    assert_eq!(status, 403);
}
