//! The fixture events in `events/`, generated from the payloads in
//! `events/payloads/` and signed with the documented dev secret, so they are
//! valid for `sam local invoke -e`, `cargo lambda invoke --data-file` and the
//! demo alike. `devstack fixtures --write` regenerates them; a test fails
//! when the checked-in files differ from what this code generates.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::secrets::DevSecrets;

/// One webhook delivery of the fixtures and the demo.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// File name under `events/ingest/`.
    pub fixture: &'static str,
    /// What follows `/webhooks/` in the path (`github`, `discord/events`, …).
    pub platform: &'static str,
    /// Folder under `events/payloads/` and file name of the body.
    pub payload_dir: &'static str,
    pub payload: &'static str,
    /// `X-GitHub-Event` / `X-Discourse-Event`; unused by the other platforms.
    pub event: &'static str,
    /// `X-GitHub-Delivery` / `X-Discourse-Event-Id`.
    pub delivery_id: &'static str,
    pub form_encoded: bool,
    pub signature: Signature,
    pub expect_status: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    Valid,
    WrongSecret,
    /// Correctly signed an hour before the request arrives.
    Stale,
}

pub const HOOK_ID: &str = "501230";
/// When the checked-in fixtures were "sent": 2026-11-23 10:00:00 UTC.
pub const FIXTURE_UNIX: i64 = 1_795_428_000;
pub const DISCOURSE_INSTANCE: &str = "https://forum.example.com";
/// Seed of the dev Discord application key (its public key is the dev default).
pub const DEV_DISCORD_SEED: [u8; 32] = [1u8; 32];

impl Delivery {
    /// The platform name (the first path segment).
    pub fn platform_name(&self) -> &'static str {
        self.platform.split('/').next().unwrap_or(self.platform)
    }

    /// Whether the signature covers a timestamp that must be recent.
    pub fn timestamped(&self) -> bool {
        matches!(self.platform_name(), "slack" | "discord" | "relay")
    }
}

/// A genuine Slack Events API delivery of a payload in events/payloads/slack
/// (the demo's extra acts, not fixtures).
fn slack(fixture: &'static str, payload: &'static str) -> Delivery {
    Delivery {
        fixture,
        platform: "slack",
        payload_dir: "slack",
        payload,
        event: "",
        delivery_id: "",
        form_encoded: false,
        signature: Signature::Valid,
        expect_status: 202,
    }
}

/// The demo's second act (not fixtures): a spam message moderation holds for
/// review, and the Slack join of a person already known on GitHub, whose
/// profile email is GitHub's no-reply address for their login.
pub fn moderation_and_identity_demo() -> Vec<Delivery> {
    vec![
        slack("slack-message-spam.json", "message.spam.json"),
        slack("slack-team-join-linked.json", "team_join.linked.json"),
    ]
}

/// The demo's third act (not fixtures): a second member reporting the bug
/// the fixtures' Slack report describes (it joins that ticket), and an
/// unrelated bug report that meets a tracker outage.
pub fn tickets_demo() -> Vec<Delivery> {
    vec![
        slack(
            "slack-message-bug-report-again.json",
            "message.bug_report.again.json",
        ),
        slack(
            "slack-message-bug-report-login.json",
            "message.bug_report.login.json",
        ),
    ]
}

/// Every delivery of the fixtures and the demo: each platform's handshake,
/// genuine events, and the refusals that prove the edge works.
pub fn deliveries() -> Vec<Delivery> {
    let base = |platform, payload_dir, fixture, payload, expect_status| Delivery {
        fixture,
        platform,
        payload_dir,
        payload,
        event: "",
        delivery_id: "",
        form_encoded: false,
        signature: Signature::Valid,
        expect_status,
    };
    let mut all = github_deliveries();
    all.extend([
        base(
            "slack",
            "slack",
            "slack-url-verification.json",
            "url_verification.json",
            200,
        ),
        base(
            "slack",
            "slack",
            "slack-message-bug-report.json",
            "message.bug_report.json",
            202,
        ),
        base(
            "slack",
            "slack",
            "slack-thread-reply.json",
            "message.thread_reply.json",
            202,
        ),
        base(
            "slack",
            "slack",
            "slack-reaction-added.json",
            "reaction_added.json",
            202,
        ),
        base(
            "slack",
            "slack",
            "slack-member-joined-channel.json",
            "member_joined_channel.json",
            202,
        ),
        Delivery {
            form_encoded: true,
            ..base(
                "slack",
                "slack",
                "slack-slash-command.json",
                "slash_command.report.json",
                200,
            )
        },
        Delivery {
            signature: Signature::Stale,
            ..base(
                "slack",
                "slack",
                "slack-stale-timestamp.json",
                "message.bug_report.json",
                401,
            )
        },
        base(
            "discord",
            "discord",
            "discord-interaction-ping.json",
            "interaction.ping.json",
            200,
        ),
        base(
            "discord",
            "discord",
            "discord-report-command.json",
            "interaction.report_command.json",
            200,
        ),
        Delivery {
            signature: Signature::WrongSecret,
            ..base(
                "discord",
                "discord",
                "discord-bad-signature.json",
                "interaction.ping.json",
                401,
            )
        },
        base(
            "discord/events",
            "discord",
            "discord-webhook-events-ping.json",
            "webhook_event.ping.json",
            204,
        ),
        base(
            "discord/events",
            "discord",
            "discord-application-authorized.json",
            "webhook_event.application_authorized.json",
            204,
        ),
        Delivery {
            event: "ping",
            delivery_id: "9001",
            ..base(
                "discourse",
                "discourse",
                "discourse-ping.json",
                "ping.json",
                200,
            )
        },
        Delivery {
            event: "topic_created",
            delivery_id: "9002",
            ..base(
                "discourse",
                "discourse",
                "discourse-topic-created.json",
                "topic_created.json",
                202,
            )
        },
        Delivery {
            event: "post_created",
            delivery_id: "9003",
            form_encoded: true,
            ..base(
                "discourse",
                "discourse",
                "discourse-post-created-form-encoded.json",
                "post_created.reply.json",
                202,
            )
        },
        Delivery {
            event: "post_liked",
            delivery_id: "9004",
            ..base(
                "discourse",
                "discourse",
                "discourse-post-liked.json",
                "post_liked.json",
                202,
            )
        },
        Delivery {
            event: "accepted_solution",
            delivery_id: "9005",
            ..base(
                "discourse",
                "discourse",
                "discourse-accepted-solution.json",
                "accepted_solution.json",
                202,
            )
        },
        Delivery {
            event: "user_created",
            delivery_id: "9006",
            ..base(
                "discourse",
                "discourse",
                "discourse-user-created.json",
                "user_created.json",
                202,
            )
        },
        Delivery {
            event: "post_created",
            delivery_id: "9007",
            signature: Signature::WrongSecret,
            ..base(
                "discourse",
                "discourse",
                "discourse-bad-signature.json",
                "post_created.reply.json",
                401,
            )
        },
        base(
            "relay",
            "relay",
            "relay-github-actions-issue.json",
            "github_actions.issue_labeled.json",
            202,
        ),
        base(
            "relay",
            "relay",
            "relay-discord-gateway-message.json",
            "discord_gateway.message_create.json",
            202,
        ),
        base(
            "relay",
            "relay",
            "relay-discord-gateway-member-join.json",
            "discord_gateway.guild_member_add.json",
            202,
        ),
        base(
            "relay",
            "relay",
            "relay-invalid-envelope.json",
            "invalid.missing_actor.json",
            400,
        ),
    ]);
    all
}

pub fn github_deliveries() -> Vec<Delivery> {
    let d = |fixture, payload, event, delivery_id, expect_status| Delivery {
        fixture,
        platform: "github",
        payload_dir: "github",
        payload,
        event,
        delivery_id,
        form_encoded: false,
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

/// A GitHub payload file, minified as GitHub sends it.
pub fn payload(root: &Path, name: &str) -> Result<String, FixtureError> {
    payload_in(root, "github", name)
}

/// The JSON document in `events/payloads/<dir>/<name>`, minified.
pub fn payload_in(root: &Path, dir: &str, name: &str) -> Result<String, FixtureError> {
    let path = root.join("events/payloads").join(dir).join(name);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| FixtureError::Read(path.display().to_string(), e))?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| FixtureError::Invalid(format!("{name}: {e}")))?;
    Ok(value.to_string())
}

/// The raw body and headers of a delivery as its platform sends it, signed
/// at the fixtures' fixed time.
pub fn http_request(
    root: &Path,
    delivery: &Delivery,
    secrets: &DevSecrets,
) -> Result<(BTreeMap<String, String>, String), FixtureError> {
    http_request_at(root, delivery, secrets, FIXTURE_UNIX)
}

/// The raw body and headers of a delivery, signed as if sent at `now`.
pub fn http_request_at(
    root: &Path,
    delivery: &Delivery,
    secrets: &DevSecrets,
    now: i64,
) -> Result<(BTreeMap<String, String>, String), FixtureError> {
    let json = payload_in(root, delivery.payload_dir, delivery.payload)?;
    signed_request(
        delivery,
        json,
        delivery.delivery_id,
        delivery.signature,
        secrets,
        now,
    )
}

/// Headers and body of payload `json` as the delivery's platform sends it
/// under `delivery_id`, signed (as `signature` says) at `now`.
pub fn signed_request(
    delivery: &Delivery,
    json: String,
    delivery_id: &str,
    signature: Signature,
    secrets: &DevSecrets,
    now: i64,
) -> Result<(BTreeMap<String, String>, String), FixtureError> {
    let (body, content_type) = if delivery.form_encoded && delivery.platform_name() == "slack" {
        // Slack slash commands post their fields as a plain form.
        let fields: BTreeMap<String, String> =
            serde_json::from_str(&json).map_err(|e| FixtureError::Invalid(e.to_string()))?;
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &fields {
            form.append_pair(name, value);
        }
        (form.finish(), "application/x-www-form-urlencoded")
    } else if delivery.form_encoded && delivery.platform_name() == "discourse" {
        // Discourse's form setting changes only the header; the body stays JSON.
        (json, "application/x-www-form-urlencoded")
    } else if delivery.form_encoded {
        (
            form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &json)
                .finish(),
            "application/x-www-form-urlencoded",
        )
    } else {
        (json, "application/json")
    };
    let signing = Signing {
        platform: delivery.platform_name(),
        event: delivery.event,
        delivery_id,
        relay_gateway: delivery.payload.starts_with("discord_gateway"),
        signature,
    };
    let headers = signed_headers(&signing, &body, content_type, secrets, now)?;
    Ok((headers, body))
}

/// What a platform's signature covers besides the body.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// The platform name (the first path segment).
    pub platform: &'a str,
    /// `X-GitHub-Event` / `X-Discourse-Event`.
    pub event: &'a str,
    /// `X-GitHub-Delivery` / `X-Discourse-Event-Id`.
    pub delivery_id: &'a str,
    /// A relay body from the Discord Gateway bridge (its own secret).
    pub relay_gateway: bool,
    pub signature: Signature,
}

/// The headers a platform sends with `body`, signed as if sent at `now`.
pub fn signed_headers(
    signing: &Signing<'_>,
    body: &str,
    content_type: &str,
    secrets: &DevSecrets,
    now: i64,
) -> Result<BTreeMap<String, String>, FixtureError> {
    let stamp = match signing.signature {
        Signature::Stale => now - 3600,
        _ => now,
    }
    .to_string();
    let wrong = signing.signature == Signature::WrongSecret;
    let hmac_secret = |real: &str| {
        if wrong {
            "not-the-webhook-secret".to_owned()
        } else {
            real.to_owned()
        }
    };
    let invalid = |e: platforms::hmac_sha256::SignatureError| FixtureError::Invalid(e.to_string());
    let mut headers = BTreeMap::from([("content-type".to_owned(), content_type.to_owned())]);
    let mut put = |name: &str, value: String| {
        headers.insert(name.to_owned(), value);
    };
    match signing.platform {
        "slack" => {
            put(
                "user-agent",
                "Slackbot 1.0 (+https://api.slack.com/robots)".into(),
            );
            put("x-slack-request-timestamp", stamp.clone());
            put(
                "x-slack-signature",
                platforms::slack::sign(&hmac_secret(&secrets.slack), &stamp, body.as_bytes())
                    .map_err(invalid)?,
            );
        }
        "discord" => {
            let seed = if wrong { [9u8; 32] } else { DEV_DISCORD_SEED };
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            put(
                "user-agent",
                "Discord-Interactions/1.0 (+https://discord.com)".into(),
            );
            put("x-signature-timestamp", stamp.clone());
            put(
                "x-signature-ed25519",
                platforms::discord::sign(&key, &stamp, body.as_bytes()),
            );
        }
        "discourse" => {
            let event_type = signing.event.split('_').next().unwrap_or("").to_owned();
            put("user-agent", "Discourse/3.4.0".into());
            put("x-discourse-instance", DISCOURSE_INSTANCE.into());
            put("x-discourse-event-id", signing.delivery_id.into());
            put("x-discourse-event", signing.event.into());
            put(
                "x-discourse-event-type",
                match event_type.as_str() {
                    "accepted" => "solved".to_owned(),
                    other => other.to_owned(),
                },
            );
            put(
                "x-discourse-event-signature",
                platforms::discourse::sign(&hmac_secret(&secrets.discourse), body.as_bytes())
                    .map_err(invalid)?,
            );
        }
        "relay" => {
            put("user-agent", "community-relay/1".into());
            put("x-signature-timestamp", stamp.clone());
            put(
                "x-signature",
                platforms::relay::sign(
                    &hmac_secret(if signing.relay_gateway {
                        &secrets.relay_discord_gateway
                    } else {
                        &secrets.relay
                    }),
                    &stamp,
                    body.as_bytes(),
                )
                .map_err(invalid)?,
            );
        }
        // GitHub, and the unknown platform (which must 404 before any check).
        _ => {
            put("user-agent", "GitHub-Hookshot/5c6b2f4".into());
            put("x-github-delivery", signing.delivery_id.into());
            put("x-github-event", signing.event.into());
            put("x-github-hook-id", HOOK_ID.into());
            put("x-github-hook-installation-target-id", "88001".into());
            put(
                "x-github-hook-installation-target-type",
                "repository".into(),
            );
            put(
                "x-hub-signature-256",
                platforms::github::sign(&hmac_secret(&secrets.github), body.as_bytes())
                    .map_err(invalid)?,
            );
        }
    }
    Ok(headers)
}

/// What ingest makes of a delivery, computed in-process with the dev secrets
/// (fixtures of the later stages, and the demo's expected event ids).
pub fn accept_locally(
    delivery: &Delivery,
    headers: &BTreeMap<String, String>,
    body: &str,
    secrets: &DevSecrets,
    received_at: time::OffsetDateTime,
) -> Result<platforms::Accepted, FixtureError> {
    accept_at(delivery.platform, headers, body, secrets, received_at)
        .map_err(|e| FixtureError::Invalid(format!("{}: {e}", delivery.fixture)))
}

/// What ingest makes of a request to `/webhooks/<platform_path>`, computed
/// in-process with the dev secrets.
pub fn accept_at(
    platform_path: &str,
    headers: &BTreeMap<String, String>,
    body: &str,
    secrets: &DevSecrets,
    received_at: time::OffsetDateTime,
) -> Result<platforms::Accepted, FixtureError> {
    let lookup = |name: &str| headers.get(name).map(String::as_str);
    let request = platforms::Delivery {
        header: lookup,
        body: body.as_bytes(),
        received_at,
    };
    let hmac = |s: &str| [secrecy::SecretString::from(s.to_owned())];
    let outcome = match platform_path {
        "github" => platforms::github::accept(&hmac(&secrets.github), &request),
        "slack" => platforms::slack::accept(&hmac(&secrets.slack), &request),
        "discourse" => platforms::discourse::accept(&hmac(&secrets.discourse), &request),
        "relay" => platforms::relay::accept(
            &[
                platforms::relay::RelaySecret::parse(&secrecy::SecretString::from(
                    secrets.relay.clone(),
                )),
                platforms::relay::RelaySecret::parse(&secrecy::SecretString::from(format!(
                    "discord-gateway={}",
                    secrets.relay_discord_gateway
                ))),
            ],
            &request,
        ),
        "discord" | "discord/events" => {
            let keys = platforms::discord::parse_public_keys(&[&secrets.discord_public_key])
                .map_err(|e| FixtureError::Invalid(e.to_string()))?;
            let endpoint = if platform_path == "discord" {
                platforms::discord::Endpoint::Interactions
            } else {
                platforms::discord::Endpoint::WebhookEvents
            };
            platforms::discord::accept(&keys, endpoint, &request)
        }
        other => return Err(FixtureError::Invalid(format!("no platform {other}"))),
    };
    outcome.map_err(|e| FixtureError::Invalid(e.to_string()))
}

/// An API Gateway HTTP API (payload v2) event for a delivery, signed at the
/// fixtures' fixed time.
pub fn api_gateway_event(
    root: &Path,
    delivery: &Delivery,
    secrets: &DevSecrets,
) -> Result<Value, FixtureError> {
    api_gateway_event_at(root, delivery, secrets, FIXTURE_UNIX)
}

pub fn api_gateway_event_at(
    root: &Path,
    delivery: &Delivery,
    secrets: &DevSecrets,
    now: i64,
) -> Result<Value, FixtureError> {
    let (headers, body) = http_request_at(root, delivery, secrets, now)?;
    Ok(api_gateway_request(
        delivery.platform,
        &headers,
        &body,
        now,
        &format!("req-{}", delivery.fixture.trim_end_matches(".json")),
    ))
}

/// The API Gateway HTTP API (payload v2) event of a POST to
/// `/webhooks/<platform_path>` with these headers and body.
pub fn api_gateway_request(
    platform_path: &str,
    headers: &BTreeMap<String, String>,
    body: &str,
    now: i64,
    request_id: &str,
) -> Value {
    let path = format!("/webhooks/{platform_path}");
    let (route_key, parameters) = match platform_path.split_once('/') {
        Some((platform, kind)) => (
            "POST /webhooks/{platform}/{kind}",
            json!({ "platform": platform, "kind": kind }),
        ),
        None => (
            "POST /webhooks/{platform}",
            json!({ "platform": platform_path }),
        ),
    };
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "devapi0001",
            "domainName": "devapi0001.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "devapi0001",
            "http": { "method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "140.82.115.10", "userAgent": user_agent },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": "23/Nov/2026:10:00:00 +0000",
            "timeEpoch": now * 1000
        },
        "pathParameters": parameters,
        "body": body,
        "isBase64Encoded": false
    })
}

/// The timestamped fixtures re-signed at `now`, by file name: what
/// `make invoke-fixtures` (and anyone using `sam local invoke` more than
/// five minutes after generation) sends instead of the checked-in copies.
pub fn fresh(
    root: &Path,
    secrets: &DevSecrets,
    now: i64,
) -> Result<BTreeMap<String, String>, FixtureError> {
    let mut files = BTreeMap::new();
    for delivery in deliveries() {
        if delivery.timestamped() && delivery.signature != Signature::Stale {
            let event = api_gateway_event_at(root, &delivery, secrets, now)?;
            files.insert(delivery.fixture.to_owned(), pretty(&event));
        }
    }
    Ok(files)
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
    for delivery in deliveries() {
        let event = api_gateway_event(root, &delivery, secrets)?;
        let path = format!("events/ingest/{}", delivery.fixture);
        files.insert(path.clone(), pretty(&event));
        let mut entry = json!({ "function": "ingest", "event": path, "expect": { "statusCode": delivery.expect_status } });
        if delivery.timestamped() && delivery.signature != Signature::Stale {
            // Signed at a fixed time: invoke-fixtures sends a copy re-signed now.
            entry["fresh"] = json!(true);
        }
        manifest.push(entry);
    }

    // normalize: a raw-events batch as ingest enqueues it, one or two
    // deliveries of every platform.
    let received_at = time::macros::datetime!(2026-11-23 10:00:30 UTC);
    let mut raw_records = Vec::new();
    let mut drafts = Vec::new();
    let in_batch = [
        "github-issue-opened.json",
        "github-star-created.json",
        "slack-message-bug-report.json",
        "discord-report-command.json",
        "discourse-topic-created.json",
        "relay-github-actions-issue.json",
        "relay-discord-gateway-message.json",
    ];
    for (index, delivery) in deliveries()
        .iter()
        .filter(|d| in_batch.contains(&d.fixture))
        .enumerate()
    {
        let (headers, body) = http_request(root, delivery, secrets)?;
        let accepted = accept_locally(delivery, &headers, &body, secrets, received_at)?;
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
            platforms::adapt(&envelope).map_err(|e| FixtureError::Invalid(e.to_string()))?
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
    let models = signal::Models::shipped().map_err(|e| FixtureError::Invalid(e.to_string()))?;
    for (index, draft) in drafts.into_iter().enumerate() {
        let user_id =
            community_aws::members::first_member_id(draft.platform, &draft.actor.platform_user_id);
        let assessment = signal::assess(&draft, &signal::Facts::default(), &models);
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

    // route: a tracker's resolution as ingest relays it (a ticket this stack
    // never opened: acknowledged, nothing changes).
    let mut resolution = sqs_record(
        0,
        "normalized-events.fifo",
        r#"{"tracker":"linear","ticketId":"2f6a1c3e-9d4b-4a8f-b1e2-7c5d3a9e0f11","resolvedAt":"2026-11-23T11:00:00Z"}"#,
        "ticket:linear:2f6a1c3e-9d4b-4a8f-b1e2-7c5d3a9e0f11",
        "4b1f0c2d9e8a7f6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b",
    );
    resolution["messageAttributes"] = json!({
        "kind": { "stringValue": route::RESOLUTION_KIND, "stringListValues": [], "binaryListValues": [], "dataType": "String" }
    });
    files.insert(
        "events/route/sqs-ticket-resolution.json".to_owned(),
        pretty(&json!({ "Records": [resolution] })),
    );
    manifest.push(json!({ "function": "route", "event": "events/route/sqs-ticket-resolution.json", "expect": { "batchItemFailures": [] } }));

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
    // Whether a threshold fires depends on the emulator's state; the sweep
    // itself must run and report (no reviews have been decided here).
    manifest.push(json!({ "function": "alert", "event": "events/alert/schedule.json", "expect": { "reviewsApproved": 0, "reviewsRejected": 0 } }));
    // GET /metrics through the HTTP API (IAM-authorized route: no token).
    files.insert(
        "events/alert/get-metrics.json".to_owned(),
        pretty(&json!({
            "version": "2.0",
            "routeKey": "GET /metrics",
            "rawPath": "/metrics",
            "rawQueryString": "",
            "headers": { "accept": "application/json", "host": "devapi0001.execute-api.us-east-1.amazonaws.com" },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "devapi0001",
                "domainName": "devapi0001.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "devapi0001",
                "http": { "method": "GET", "path": "/metrics", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0" },
                "requestId": "req-get-metrics",
                "routeKey": "GET /metrics",
                "stage": "$default",
                "time": "23/Nov/2026:11:00:00 +0000",
                "timeEpoch": 1_795_431_600_000_i64
            },
            "isBase64Encoded": false
        })),
    );
    manifest.push(json!({ "function": "alert", "event": "events/alert/get-metrics.json", "expect": { "statusCode": 200 } }));
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
