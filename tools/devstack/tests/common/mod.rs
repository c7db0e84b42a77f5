//! Shared set-up for the emulator-backed tests: each test provisions its own
//! stack under a unique name, so tests run in parallel and never see each
//! other's messages (and moto's FIFO queues stay small).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report
#![allow(dead_code)]

use std::collections::BTreeMap;

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use devstack::fixtures;
use devstack::secrets::DevSecrets;
use devstack::template::Template;
use devstack::{Stack, StackOptions};

pub async fn sdk() -> aws_config::SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "these tests run against the moto emulator: use `make test` (it starts moto and sets AWS_ENDPOINT_URL)"
    );
    devstack::sdk_config().await
}

pub fn template() -> Template {
    Template::load(&devstack::repo_root().join("template.yaml")).unwrap()
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

pub async fn stack(prefix: &str) -> Stack {
    stack_with(prefix, BTreeMap::new()).await
}

pub async fn stack_with(prefix: &str, overrides: BTreeMap<String, String>) -> Stack {
    let mut options = StackOptions::new(unique(prefix));
    options.secrets = DevSecrets::default();
    options.parameter_overrides = overrides;
    Stack::start(&template(), &sdk().await, options)
        .await
        .unwrap()
}

/// The API Gateway event of a fixture delivery, by fixture file name.
pub fn fixture_request(name: &str) -> ApiGatewayV2httpRequest {
    let delivery = fixtures::github_deliveries()
        .into_iter()
        .find(|d| d.fixture == name)
        .unwrap();
    let value =
        fixtures::api_gateway_event(&devstack::repo_root(), &delivery, &DevSecrets::default())
            .unwrap();
    serde_json::from_value(value).unwrap()
}

/// A signed GitHub delivery with a chosen delivery id and JSON payload.
pub fn github_request(event: &str, delivery_id: &str, payload: &str) -> ApiGatewayV2httpRequest {
    let signature = platforms::github::sign(
        devstack::secrets::DEV_GITHUB_WEBHOOK_SECRET,
        payload.as_bytes(),
    )
    .unwrap();
    let value = serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /webhooks/{platform}",
        "rawPath": "/webhooks/github",
        "headers": {
            "content-type": "application/json",
            "x-github-event": event,
            "x-github-delivery": delivery_id,
            "x-github-hook-id": "1",
            "x-hub-signature-256": signature
        },
        "requestContext": { "http": { "method": "POST", "path": "/webhooks/github" } },
        "pathParameters": { "platform": "github" },
        "body": payload,
        "isBase64Encoded": false
    });
    serde_json::from_value(value).unwrap()
}

/// The event id `github@2` gives an opened issue: keyed by the issue, not by
/// the delivery that carried it (a body resent under a new X-GitHub-Delivery
/// is the same event).
pub fn opened_issue_id(repo: &str, number: u64) -> canonical_event::EventId {
    canonical_event::EventId::derive(
        canonical_event::Platform::Github,
        &format!("https://github.com/{repo}/issues/{number}#opened"),
        0,
    )
    .unwrap()
}

pub fn issue_payload(repo: &str, number: u64, login: &str, user_id: u64) -> String {
    format!(
        r#"{{"action":"opened","issue":{{"number":{number},"title":"Bug {number}","body":"Steps to reproduce: crash","html_url":"https://github.com/{repo}/issues/{number}","labels":[{{"name":"bug"}}],"user":{{"login":"{login}","id":{user_id}}},"created_at":"2026-11-23T09:00:00Z"}},"repository":{{"full_name":"{repo}"}},"sender":{{"login":"{login}","id":{user_id}}}}}"#
    )
}

/// The events table of a stack, with the default hot retention.
pub fn reader(stack: &Stack) -> community_aws::events::EventReader {
    community_aws::events::EventReader::new(
        stack.clients.dynamodb.clone(),
        stack.reference("EventsTable").unwrap(),
        90,
    )
}

/// The `eventType` of every stored event, split into what the platforms
/// delivered and the lifecycle milestones route derived from them.
pub async fn stored_types(stack: &Stack) -> (Vec<String>, Vec<String>) {
    let table = stack.reference("EventsTable").unwrap();
    let items = community_aws::scan_all(&stack.clients.dynamodb, &table, None)
        .await
        .unwrap();
    let mut delivered = Vec::new();
    let mut derived = Vec::new();
    for item in items {
        let name = item["eventType"].as_s().unwrap().clone();
        match canonical_event::EventType::parse(&name) {
            Some(t) if t.is_derived() => derived.push(name),
            _ => delivered.push(name),
        }
    }
    derived.sort();
    (delivered, derived)
}

pub async fn depth(stack: &Stack, logical_id: &str) -> i64 {
    use community_aws::ports::QueueStats;
    let d = stack
        .clients
        .sqs
        .depth(&stack.reference(logical_id).unwrap())
        .await
        .unwrap();
    d.visible + d.in_flight
}

pub async fn count_items(stack: &Stack, logical_id: &str) -> usize {
    let output = stack
        .clients
        .dynamodb
        .scan()
        .table_name(stack.reference(logical_id).unwrap())
        .send()
        .await
        .unwrap();
    output.items.unwrap_or_default().len()
}

/// A Slack Events API delivery signed with the dev secret at `now`.
pub fn slack_request(body: &str, now: i64) -> ApiGatewayV2httpRequest {
    let ts = now.to_string();
    let signature = platforms::slack::sign(
        devstack::secrets::DEV_SLACK_SIGNING_SECRET,
        &ts,
        body.as_bytes(),
    )
    .unwrap();
    serde_json::from_value(serde_json::json!({
        "version": "2.0",
        "rawPath": "/webhooks/slack",
        "headers": {
            "content-type": "application/json",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": signature
        },
        "requestContext": { "http": { "method": "POST", "path": "/webhooks/slack" } },
        "body": body,
        "isBase64Encoded": false
    }))
    .unwrap()
}
