//! The fixture events in `events/`, generated from the payloads in
//! `events/payloads/` and signed with the documented dev secret, so they are
//! valid for `sam local invoke -e`, `cargo lambda invoke --data-file` and the
//! demo alike. `devstack fixtures --write` regenerates them; a test fails
//! when the checked-in files differ from what this code generates.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::secrets::DevSecrets;

/// One GitHub delivery of the demo.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub fixture: &'static str,
    pub payload: &'static str,
    pub event: &'static str,
    pub delivery_id: &'static str,
    pub form_encoded: bool,
    pub platform: &'static str,
    pub signature: Signature,
    pub expect_status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Valid,
    WrongSecret,
}

pub const HOOK_ID: &str = "501230";

pub fn github_deliveries() -> Vec<Delivery> {
    let d = |fixture, payload, event, delivery_id, expect_status| Delivery {
        fixture,
        payload,
        event,
        delivery_id,
        form_encoded: false,
        platform: "github",
        signature: Signature::Valid,
        expect_status,
    };
    vec![
        d(
            "github-issue-opened.json",
            "issues.opened.json",
            "issues",
            "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a01",
            202,
        ),
        Delivery {
            form_encoded: true,
            ..d(
                "github-issue-comment-form-encoded.json",
                "issue_comment.created.json",
                "issue_comment",
                "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a02",
                202,
            )
        },
        d(
            "github-pull-request-merged.json",
            "pull_request.closed.merged.json",
            "pull_request",
            "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a03",
            202,
        ),
        d(
            "github-star-created.json",
            "star.created.json",
            "star",
            "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a04",
            202,
        ),
        d(
            "github-public.json",
            "public.json",
            "public",
            "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a05",
            202,
        ),
        d(
            "github-ping.json",
            "ping.json",
            "ping",
            "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a06",
            200,
        ),
        Delivery {
            signature: Signature::WrongSecret,
            ..d(
                "github-bad-signature.json",
                "issues.opened.json",
                "issues",
                "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a07",
                401,
            )
        },
        Delivery {
            platform: "myspace",
            ..d(
                "unknown-platform.json",
                "issues.opened.json",
                "issues",
                "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a08",
                404,
            )
        },
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("cannot write {0}: {1}")]
    Write(String, std::io::Error),
    #[error("{0}")]
    Invalid(String),
}

/// The JSON document in a payload file, minified as GitHub sends it.
pub fn payload(root: &Path, name: &str) -> Result<String, FixtureError> {
    let path = root.join("events/payloads/github").join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| FixtureError::Read(path.display().to_string(), e))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| FixtureError::Invalid(format!("{name}: {e}")))?;
    Ok(value.to_string())
}

/// The raw body and headers of a delivery, as GitHub would send them.
pub fn http_request(
    root: &Path,
    delivery: &Delivery,
    secrets: &DevSecrets,
) -> Result<(BTreeMap<String, String>, String), FixtureError> {
    let json = payload(root, delivery.payload)?;
    let (body, content_type) = if delivery.form_encoded {
        (
            form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &json)
                .finish(),
            "application/x-www-form-urlencoded",
        )
    } else {
        (json, "application/json")
    };
    let secret = match delivery.signature {
        Signature::Valid => secrets.github.clone(),
        Signature::WrongSecret => "not-the-webhook-secret".to_owned(),
    };
    let signature = platforms::github::sign(&secret, body.as_bytes())
        .map_err(|e| FixtureError::Invalid(e.to_string()))?;
    let headers = BTreeMap::from([
        ("content-type".to_owned(), content_type.to_owned()),
        (
            "user-agent".to_owned(),
            "GitHub-Hookshot/5c6b2f4".to_owned(),
        ),
        (
            "x-github-delivery".to_owned(),
            delivery.delivery_id.to_owned(),
        ),
        ("x-github-event".to_owned(), delivery.event.to_owned()),
        ("x-github-hook-id".to_owned(), HOOK_ID.to_owned()),
        (
            "x-github-hook-installation-target-id".to_owned(),
            "88001".to_owned(),
        ),
        (
            "x-github-hook-installation-target-type".to_owned(),
            "repository".to_owned(),
        ),
        ("x-hub-signature-256".to_owned(), signature),
    ]);
    Ok((headers, body))
}

/// An API Gateway HTTP API (payload v2) event for a delivery.
pub fn api_gateway_event(
    root: &Path,
    delivery: &Delivery,
    secrets: &DevSecrets,
) -> Result<Value, FixtureError> {
    let (headers, body) = http_request(root, delivery, secrets)?;
    let path = format!("/webhooks/{}", delivery.platform);
    Ok(json!({
        "version": "2.0",
        "routeKey": "POST /webhooks/{platform}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "devapi0001",
            "domainName": "devapi0001.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "devapi0001",
            "http": { "method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "140.82.115.10", "userAgent": "GitHub-Hookshot/5c6b2f4" },
            "requestId": format!("req-{}", &delivery.delivery_id[..8]),
            "routeKey": "POST /webhooks/{platform}",
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_428_000_000_i64
        },
        "pathParameters": { "platform": delivery.platform },
        "body": body,
        "isBase64Encoded": false
    }))
}

fn sqs_record(index: usize, queue: &str, body: &str, group: &str, dedup: &str) -> Value {
    json!({
        "messageId": format!("0e5d7a9c-1b7e-4a3c-9d2f-00000000000{index}"),
        "receiptHandle": format!("AQEB-dev-receipt-{index}"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1795428000000",
            "SenderId": "AIDADEVSENDER",
            "ApproximateFirstReceiveTimestamp": "1795428000100",
            "SequenceNumber": format!("1879000000000000000{index}"),
            "MessageGroupId": group,
            "MessageDeduplicationId": dedup
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:community-events-{queue}"),
        "awsRegion": "us-east-1"
    })
}

/// Every generated file, by path relative to the repository root.
pub fn generate(
    root: &Path,
    secrets: &DevSecrets,
) -> Result<BTreeMap<String, String>, FixtureError> {
    let mut files = BTreeMap::new();
    files.insert("events/env.json".to_owned(), sam_env_json(root)?);
    let mut manifest = Vec::new();
    for delivery in github_deliveries() {
        let event = api_gateway_event(root, &delivery, secrets)?;
        let path = format!("events/ingest/{}", delivery.fixture);
        files.insert(path.clone(), pretty(&event));
        manifest.push(json!({ "function": "ingest", "event": path, "expect": { "statusCode": delivery.expect_status } }));
    }

    // normalize: a raw-events batch as ingest enqueues it.
    let received_at = time::macros::datetime!(2026-11-23 10:40:00 UTC);
    let mut raw_records = Vec::new();
    let mut drafts = Vec::new();
    for (index, delivery) in github_deliveries()
        .iter()
        .filter(|d| {
            ["issues.opened.json", "star.created.json"].contains(&d.payload)
                && d.signature == Signature::Valid
                && d.platform == "github"
        })
        .enumerate()
    {
        let (headers, body) = http_request(root, delivery, secrets)?;
        let lookup = |name: &str| headers.get(name).map(String::as_str);
        let accepted = platforms::github::accept(
            &[secrecy::SecretString::from(secrets.github.clone())],
            &platforms::github::Delivery {
                header: lookup,
                body: body.as_bytes(),
                received_at,
            },
        )
        .map_err(|e| FixtureError::Invalid(format!("{}: {e}", delivery.fixture)))?;
        let platforms::Accepted::Enqueue { message, .. } = accepted else {
            return Err(FixtureError::Invalid(format!(
                "{} is not enqueued",
                delivery.fixture
            )));
        };
        raw_records.push(sqs_record(
            index,
            "raw-events.fifo",
            &message.body,
            &message.group_id,
            &message.deduplication_id,
        ));
        let envelope = platforms::Envelope::decode(&message.body)
            .map_err(|e| FixtureError::Invalid(e.to_string()))?;
        if let platforms::Adapted::Events(mut found) =
            platforms::github::adapt(&envelope).map_err(|e| FixtureError::Invalid(e.to_string()))?
        {
            drafts.append(&mut found);
        }
    }
    files.insert(
        "events/normalize/sqs-raw-events.json".to_owned(),
        pretty(&json!({ "Records": raw_records })),
    );
    manifest.push(json!({ "function": "normalize", "event": "events/normalize/sqs-raw-events.json", "expect": { "batchItemFailures": [] } }));

    // route: the normalized events those records become.
    let mut normalized_records = Vec::new();
    for (index, draft) in drafts.into_iter().enumerate() {
        let user_id =
            community_aws::members::first_member_id(draft.platform, &draft.actor.platform_user_id);
        let assessment = signal::assess(&draft);
        let event = canonical_event::CanonicalEvent::assemble(draft, user_id, assessment);
        let body =
            serde_json::to_string(&event).map_err(|e| FixtureError::Invalid(e.to_string()))?;
        normalized_records.push(sqs_record(
            index,
            "normalized-events.fifo",
            &body,
            "acme-labs/widgets",
            &event.event_id.to_string(),
        ));
    }
    files.insert(
        "events/route/sqs-normalized-events.json".to_owned(),
        pretty(&json!({ "Records": normalized_records })),
    );
    manifest.push(json!({ "function": "route", "event": "events/route/sqs-normalized-events.json", "expect": { "batchItemFailures": [] } }));

    files.insert(
        "events/alert/schedule.json".to_owned(),
        pretty(&json!({
            "version": "0",
            "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "account": "123456789012",
            "time": "2026-11-23T11:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/community-events-alert-sweep"],
            "detail": {}
        })),
    );
    manifest.push(json!({ "function": "alert", "event": "events/alert/schedule.json", "expect": { "notified": false } }));
    files.insert(
        "events/manifest.json".to_owned(),
        pretty(&Value::Array(manifest)),
    );
    Ok(files)
}

/// The stack `sam deploy --guided` creates by default (samconfig.toml).
pub const DEPLOYED_STACK: &str = "community-events";

/// `--env-vars` for `sam local invoke`: every function's environment as the
/// template resolves it for the default stack name in us-east-1. Replace the
/// account id (123456789012) with yours to invoke against a deployed stack.
pub fn sam_env_json(root: &Path) -> Result<String, FixtureError> {
    let template = crate::template::Template::load(&root.join("template.yaml"))
        .map_err(|e| FixtureError::Invalid(e.to_string()))?;
    let resolved = crate::provision::resolve_offline(
        &template,
        DEPLOYED_STACK,
        "us-east-1",
        "123456789012",
        "https://sqs.us-east-1.amazonaws.com",
        &BTreeMap::new(),
    )
    .map_err(|e| FixtureError::Invalid(e.to_string()))?;
    let value = serde_json::to_value(&resolved.environments)
        .map_err(|e| FixtureError::Invalid(e.to_string()))?;
    Ok(pretty(&value))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes the generated files.
pub fn write(root: &Path, files: &BTreeMap<String, String>) -> Result<(), FixtureError> {
    for (relative, content) in files {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| FixtureError::Write(parent.display().to_string(), e))?;
        }
        std::fs::write(&path, content)
            .map_err(|e| FixtureError::Write(path.display().to_string(), e))?;
    }
    Ok(())
}

/// Paths whose checked-in content differs from the generated content.
pub fn stale(root: &Path, files: &BTreeMap<String, String>) -> Vec<String> {
    files
        .iter()
        .filter(|(relative, content)| {
            std::fs::read_to_string(root.join(relative)).ok().as_deref() != Some(content.as_str())
        })
        .map(|(relative, _)| relative.clone())
        .collect()
}
