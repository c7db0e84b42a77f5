//! Hostile input at the webhook edge, table-driven through `Ingest::handle`.
//!
//! All five platforms are configured as production configures them: the
//! environment is `IngestFunction`'s in `events/env.json` (what the template
//! resolves to), the parameters hold what `tools/devstack` stores in them
//! (the documented dev secrets, the Discord public key in hex, the relay's
//! unbound secret plus the one bound to `discord-gateway`), and the body
//! limit is the template's default. Only the queue and the secret store are
//! in-memory fakes, and the clock is fixed.
//!
//! Every row states the status a careful edge answers, the error code of the
//! JSON body, and how many messages reach the queue: none for every refusal
//! and handshake, exactly one for each accepted control. A row that panics
//! is reported as a failure of that row; the test lists every failing row
//! at once instead of stopping at the first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::{HeaderName, HeaderValue, Method};
use base64::Engine;
use community_aws::AwsError;
use community_aws::ports::{MessageQueue, OutgoingMessage, SecretSource};
use futures_util::FutureExt;
use ingest::{Config, Ingest};
use secrecy::SecretString;

// The dev secrets of tools/devstack/src/secrets.rs (the fixtures in events/
// are signed with them). Copied rather than depended on: devstack depends on
// ingest.
const GITHUB_SECRET: &str = "dev-github-webhook-secret";
const SLACK_SECRET: &str = "dev-slack-signing-secret";
const DISCOURSE_SECRET: &str = "dev-discourse-webhook-secret";
const RELAY_SECRET: &str = "dev-relay-webhook-secret";
const GATEWAY_RELAY_SECRET: &str = "dev-discord-gateway-relay-secret";
/// The dev Discord application: seed 32 × 0x01, and its public key as stored.
const DISCORD_SEED: [u8; 32] = [1; 32];
const DISCORD_PUBLIC_KEY: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
/// Some other application's key: signatures made with it must not verify.
const OTHER_DISCORD_SEED: [u8; 32] = [9; 32];

/// When every request arrives: 2026-11-23 12:00:00 UTC.
const NOW: i64 = 1_795_435_200;
const HOOK_ID: &str = "501230";
const GITHUB_DELIVERY: &str = "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9a01";
/// Deep enough to overflow any recursive parser's stack if one were reached.
const DEPTH: usize = 100_000;
/// The deepest nesting the edge accepts (`platforms`' `MAX_JSON_DEPTH`).
const MAX_DEPTH: usize = 64;
const MB: usize = 1024 * 1024;

const ENV_JSON: &str = include_str!("../../../events/env.json");

// The payloads the fixtures are built from (events/payloads/).
const GITHUB_ISSUE_FILE: &str = include_str!("../../../events/payloads/github/issues.opened.json");
const GITHUB_PING_FILE: &str = include_str!("../../../events/payloads/github/ping.json");
const SLACK_EVENT_FILE: &str =
    include_str!("../../../events/payloads/slack/message.bug_report.json");
const SLACK_CHALLENGE_FILE: &str =
    include_str!("../../../events/payloads/slack/url_verification.json");
const SLACK_COMMAND_FILE: &str =
    include_str!("../../../events/payloads/slack/slash_command.report.json");
const DISCORD_PING_FILE: &str =
    include_str!("../../../events/payloads/discord/interaction.ping.json");
const DISCORD_COMMAND_FILE: &str =
    include_str!("../../../events/payloads/discord/interaction.report_command.json");
const DISCORD_EVENTS_PING_FILE: &str =
    include_str!("../../../events/payloads/discord/webhook_event.ping.json");
const DISCORD_AUTHORIZED_FILE: &str =
    include_str!("../../../events/payloads/discord/webhook_event.application_authorized.json");
const DISCOURSE_TOPIC_FILE: &str =
    include_str!("../../../events/payloads/discourse/topic_created.json");
const DISCOURSE_POST_FILE: &str =
    include_str!("../../../events/payloads/discourse/post_created.reply.json");
const DISCOURSE_PING_FILE: &str = include_str!("../../../events/payloads/discourse/ping.json");
const RELAY_ISSUE_FILE: &str =
    include_str!("../../../events/payloads/relay/github_actions.issue_labeled.json");
const RELAY_GATEWAY_FILE: &str =
    include_str!("../../../events/payloads/relay/discord_gateway.message_create.json");

/// A small GitHub payload whose signatures were computed outside Rust
/// (Python's `hmac`), so a legacy SHA-1 signature can be sent without a
/// SHA-1 implementation here. The SHA-256 one is checked against
/// `platforms::github::sign`, which proves both cover exactly these bytes.
const SMALL_ISSUE: &str = r#"{"action":"opened","issue":{"number":1,"title":"It crashes","html_url":"https://github.com/o/r/issues/1","user":{"login":"alice","id":1}},"repository":{"full_name":"o/r"},"sender":{"login":"alice","id":1}}"#;
const SMALL_ISSUE_SHA256: &str =
    "sha256=ce4aa394864600f5b63674b9655a4df9375c2825eccebe412f2e5755c88f4414";
const SMALL_ISSUE_SHA1: &str = "sha1=6381dc6a258215af8246438f73dbd463e787c7de";

/// A payload minified as the platforms send it (the fixtures do the same).
fn minified(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap()
        .to_string()
}

/// `json` (an object) with one more top-level member, `raw` inserted verbatim.
fn with_member(json: &str, name: &str, raw: &str) -> String {
    let open = json.trim_end().strip_suffix('}').unwrap();
    format!("{open},\"{name}\":{raw}}}")
}

/// A GitHub issue payload padded to exactly `len` bytes.
fn padded_issue(len: usize) -> String {
    let issue = minified(GITHUB_ISSUE_FILE);
    let bare = with_member(&issue, "padding", "\"\"");
    with_member(
        &issue,
        "padding",
        &format!("\"{}\"", "x".repeat(len - bare.len())),
    )
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_objects(depth: usize) -> String {
    format!("{}{{}}{}", "{\"\":".repeat(depth), "}".repeat(depth))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The first half of a body: JSON cut off mid-document.
fn truncated(body: &str) -> String {
    body[..body.len() / 2].to_owned()
}

/// The signature with its last hex digit replaced by something that is not hex.
fn garbled(signature: &str) -> String {
    format!("{}g", &signature[..signature.len() - 1])
}

/// The signature missing its last byte (two hex digits).
fn shortened(signature: &str) -> String {
    signature[..signature.len() - 2].to_owned()
}

/// An Ed25519 signature with `L` added to its scalar `s`: the same point
/// equation still holds, but `s` is no longer canonical (malleability), which
/// `verify_strict` must refuse.
fn non_canonical(signature_hex: &str) -> String {
    // The group order L, little-endian.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut bytes = hex::decode(signature_hex).unwrap();
    let mut carry = 0u16;
    for (byte, l) in bytes[32..].iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "s + L fits in 256 bits since s < L < 2^253");
    hex::encode(bytes)
}

// ---------------------------------------------------------------------------
// The request as API Gateway (HTTP API, payload 2.0) hands it to ingest.

#[derive(Clone)]
enum Encoding {
    /// The body as text (it must be UTF-8).
    Text,
    /// `isBase64Encoded: true` with the body base64-encoded, as API Gateway
    /// does for bodies it does not consider text.
    Base64,
    /// `isBase64Encoded: true` with exactly this text as the body.
    Verbatim(String),
}

#[derive(Clone)]
struct Http {
    method: Method,
    raw_path: Option<String>,
    path_platform: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    encoding: Encoding,
}

impl Http {
    fn post(path: &str, body: &[u8]) -> Http {
        // `pathParameters.platform` is what the `/webhooks/{platform}` route sets.
        let platform = path
            .strip_prefix("/webhooks/")
            .map(|tail| tail.split('/').next().unwrap_or("").to_owned());
        Http {
            method: Method::POST,
            raw_path: Some(path.to_owned()),
            path_platform: platform,
            headers: Vec::new(),
            body: Some(body.to_vec()),
            encoding: Encoding::Text,
        }
    }

    /// Sets (or replaces) a header.
    fn with(mut self, name: &str, value: &str) -> Http {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn without(mut self, name: &str) -> Http {
        self.headers.retain(|(n, _)| n != name);
        self
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    }

    /// Replaces the body, keeping every header (and so the old signature).
    fn body(mut self, body: &[u8]) -> Http {
        self.body = Some(body.to_vec());
        self
    }

    fn no_body(mut self) -> Http {
        self.body = None;
        self
    }

    fn base64(mut self) -> Http {
        self.encoding = Encoding::Base64;
        self
    }

    fn verbatim_base64(mut self, text: &str) -> Http {
        self.encoding = Encoding::Verbatim(text.to_owned());
        self
    }

    fn method(mut self, method: Method) -> Http {
        self.method = method;
        self
    }

    fn path(mut self, raw_path: Option<&str>, platform: Option<&str>) -> Http {
        self.raw_path = raw_path.map(str::to_owned);
        self.path_platform = platform.map(str::to_owned);
        self
    }

    fn request(&self) -> ApiGatewayV2httpRequest {
        let mut r = ApiGatewayV2httpRequest::default();
        r.request_context.http.method = self.method.clone();
        r.raw_path = self.raw_path.clone();
        if let Some(platform) = &self.path_platform {
            r.path_parameters
                .insert("platform".to_owned(), platform.clone());
        }
        for (name, value) in &self.headers {
            r.headers.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        match &self.encoding {
            Encoding::Text => {
                r.body = self
                    .body
                    .as_ref()
                    .map(|b| String::from_utf8(b.clone()).expect("text bodies are UTF-8"));
            }
            Encoding::Base64 => {
                r.is_base64_encoded = true;
                r.body = self.body.as_deref().map(b64);
            }
            Encoding::Verbatim(text) => {
                r.is_base64_encoded = true;
                r.body = Some(text.clone());
            }
        }
        r
    }
}

// Each platform's genuine request, built and signed as tools/devstack's
// fixtures build them.

fn github(event: &str, body: &[u8]) -> Http {
    Http::post("/webhooks/github", body)
        .with("content-type", "application/json")
        .with("user-agent", "GitHub-Hookshot/5c6b2f4")
        .with("x-github-event", event)
        .with("x-github-delivery", GITHUB_DELIVERY)
        .with("x-github-hook-id", HOOK_ID)
        .with("x-github-hook-installation-target-id", "88001")
        .with("x-github-hook-installation-target-type", "repository")
        .with(
            "x-hub-signature-256",
            &platforms::github::sign(GITHUB_SECRET, body).unwrap(),
        )
}

fn github_issue() -> Http {
    github("issues", minified(GITHUB_ISSUE_FILE).as_bytes())
}

fn slack_signed(body: &[u8], timestamp: &str, secret: &str) -> Http {
    Http::post("/webhooks/slack", body)
        .with("content-type", "application/json")
        .with("user-agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
        .with("x-slack-request-timestamp", timestamp)
        .with(
            "x-slack-signature",
            &platforms::slack::sign(secret, timestamp, body).unwrap(),
        )
}

fn slack_at(body: &[u8], at: i64) -> Http {
    slack_signed(body, &at.to_string(), SLACK_SECRET)
}

fn slack(body: &[u8]) -> Http {
    slack_at(body, NOW)
}

fn slack_event() -> Http {
    slack(minified(SLACK_EVENT_FILE).as_bytes())
}

fn discord_signed(path: &str, body: &[u8], timestamp: &str, seed: [u8; 32]) -> Http {
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    Http::post(path, body)
        .with("content-type", "application/json")
        .with(
            "user-agent",
            "Discord-Interactions/1.0 (+https://discord.com)",
        )
        .with("x-signature-timestamp", timestamp)
        .with(
            "x-signature-ed25519",
            &platforms::discord::sign(&key, timestamp, body),
        )
}

fn discord_at(path: &str, body: &[u8], at: i64) -> Http {
    discord_signed(path, body, &at.to_string(), DISCORD_SEED)
}

fn discord(body: &[u8]) -> Http {
    discord_at("/webhooks/discord", body, NOW)
}

fn discord_events(body: &[u8]) -> Http {
    discord_at("/webhooks/discord/events", body, NOW)
}

fn discord_command() -> Http {
    discord(minified(DISCORD_COMMAND_FILE).as_bytes())
}

fn discourse_signed(event: &str, event_id: &str, body: &[u8], secret: &str) -> Http {
    let kind = event.split('_').next().unwrap_or("");
    Http::post("/webhooks/discourse", body)
        .with("content-type", "application/json")
        .with("user-agent", "Discourse/3.4.0")
        .with("x-discourse-instance", "https://forum.example.com")
        .with("x-discourse-event-id", event_id)
        .with("x-discourse-event", event)
        .with("x-discourse-event-type", kind)
        .with(
            "x-discourse-event-signature",
            &platforms::discourse::sign(secret, body).unwrap(),
        )
}

fn discourse(event: &str, body: &[u8]) -> Http {
    discourse_signed(event, "9002", body, DISCOURSE_SECRET)
}

fn discourse_topic() -> Http {
    discourse("topic_created", minified(DISCOURSE_TOPIC_FILE).as_bytes())
}

fn relay_signed(body: &[u8], timestamp: &str, secret: &str) -> Http {
    Http::post("/webhooks/relay", body)
        .with("content-type", "application/json")
        .with("user-agent", "community-relay/1")
        .with("x-signature-timestamp", timestamp)
        .with(
            "x-signature",
            &platforms::relay::sign(secret, timestamp, body).unwrap(),
        )
}

fn relay_at(body: &[u8], at: i64) -> Http {
    relay_signed(body, &at.to_string(), RELAY_SECRET)
}

fn relay(body: &[u8]) -> Http {
    relay_at(body, NOW)
}

fn relay_issue() -> Http {
    relay(minified(RELAY_ISSUE_FILE).as_bytes())
}

// ---------------------------------------------------------------------------
// Fakes for the two ports ingest talks to.

#[derive(Default)]
struct RecordingQueue {
    sent: Mutex<Vec<OutgoingMessage>>,
}

impl RecordingQueue {
    fn len(&self) -> usize {
        self.sent.lock().unwrap().len()
    }

    /// The messages sent after the first `skip`.
    fn sent_since(&self, skip: usize) -> Vec<OutgoingMessage> {
        self.sent.lock().unwrap()[skip..].to_vec()
    }
}

#[async_trait]
impl MessageQueue for RecordingQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), AwsError> {
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

/// Parameters by name, as SSM would return them.
struct Parameters(HashMap<String, String>);

#[async_trait]
impl SecretSource for Parameters {
    async fn secret(&self, name: &str) -> Result<SecretString, AwsError> {
        self.0
            .get(name)
            .map(|v| SecretString::from(v.clone()))
            .ok_or_else(|| AwsError::permanent("GetParameter", "ParameterNotFound", name))
    }
}

struct Edge {
    ingest: Ingest,
    raw_events: Arc<RecordingQueue>,
    resolutions: Arc<RecordingQueue>,
    max_body_bytes: usize,
}

/// Ingest wired as `Ingest::from_clients` wires it in production, from the
/// template's environment for `IngestFunction`.
async fn production_edge() -> Edge {
    let env: serde_json::Value = serde_json::from_str(ENV_JSON).unwrap();
    let env: HashMap<String, String> = env["IngestFunction"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let config = Config::from_lookup(&env).unwrap();
    assert_eq!(config.platforms.len(), 5, "all five platforms enabled");
    assert_eq!(config.max_body_bytes, ingest::DEFAULT_MAX_BODY_BYTES);
    let max_body_bytes = config.max_body_bytes;

    let key = ed25519_dalek::SigningKey::from_bytes(&DISCORD_SEED);
    assert_eq!(
        hex::encode(key.verifying_key().to_bytes()),
        DISCORD_PUBLIC_KEY
    );
    let value_of = |variable: &str, value: String| (env[variable].clone(), value);
    let parameters = Parameters(HashMap::from([
        value_of("GITHUB_WEBHOOK_SECRET_PARAM", GITHUB_SECRET.to_owned()),
        value_of("SLACK_SIGNING_SECRET_PARAM", SLACK_SECRET.to_owned()),
        value_of("DISCORD_PUBLIC_KEY_PARAM", DISCORD_PUBLIC_KEY.to_owned()),
        value_of(
            "DISCOURSE_WEBHOOK_SECRET_PARAM",
            DISCOURSE_SECRET.to_owned(),
        ),
        // One unbound secret (Actions, bots) and one bound to the Gateway relay.
        value_of(
            "RELAY_WEBHOOK_SECRET_PARAM",
            format!("{RELAY_SECRET}\ndiscord-gateway={GATEWAY_RELAY_SECRET}"),
        ),
    ]));

    let raw_events = Arc::new(RecordingQueue::default());
    let resolutions = Arc::new(RecordingQueue::default());
    let clock: lambda_kit::Clock =
        Arc::new(|| time::OffsetDateTime::from_unix_timestamp(NOW).unwrap());
    let with_resolutions = config.resolutions.queue_url.is_some();
    let mut ingest = Ingest::load(config, &parameters, raw_events.clone(), clock)
        .await
        .unwrap();
    if with_resolutions {
        ingest = ingest
            .with_resolutions(&parameters, resolutions.clone())
            .await;
    }
    Edge {
        ingest,
        raw_events,
        resolutions,
        max_body_bytes,
    }
}

// ---------------------------------------------------------------------------
// The table.

struct Row {
    name: String,
    http: Http,
    status: i64,
    /// The `error` code of the JSON body; `None` for answers that are not refusals.
    error: Option<&'static str>,
    /// Messages this row puts on the raw-events queue.
    enqueued: usize,
}

fn refused(name: impl Into<String>, http: Http, status: i64, error: &'static str) -> Row {
    Row {
        name: name.into(),
        http,
        status,
        error: Some(error),
        enqueued: 0,
    }
}

/// A control: a genuine request the edge must still serve.
fn served(name: impl Into<String>, http: Http, status: i64, enqueued: usize) -> Row {
    Row {
        name: name.into(),
        http,
        status,
        error: None,
        enqueued,
    }
}

fn rows(limit: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    rows.extend(controls());
    rows.extend(forged_github());
    rows.extend(forged_slack());
    rows.extend(forged_discord());
    rows.extend(forged_discourse());
    rows.extend(forged_relay());
    rows.extend(replayed());
    rows.extend(timestamps());
    rows.extend(oversized(limit));
    rows.extend(deeply_nested());
    rows.extend(malformed_bodies());
    rows.extend(huge_headers());
    rows.extend(content_types());
    rows.extend(unknown_routes());
    rows
}

fn controls() -> Vec<Row> {
    let issue = github_issue();
    let base64_issue = github_issue().base64();
    vec![
        served("control: github issues.opened", issue, 202, 1),
        served(
            "control: github issues.opened, base64-encoded by API Gateway",
            base64_issue,
            202,
            1,
        ),
        served(
            "control: github ping",
            github("ping", minified(GITHUB_PING_FILE).as_bytes()),
            200,
            0,
        ),
        served(
            "control: github small issue, sha256 (the sha1 rows' body)",
            github("issues", SMALL_ISSUE.as_bytes()),
            202,
            1,
        ),
        served("control: slack event_callback", slack_event(), 202, 1),
        served(
            "control: slack url_verification",
            slack(minified(SLACK_CHALLENGE_FILE).as_bytes()),
            200,
            0,
        ),
        served(
            "control: slack timestamp exactly 300 s old",
            slack_at(minified(SLACK_EVENT_FILE).as_bytes(), NOW - 300),
            202,
            1,
        ),
        served(
            "control: discord interaction PING",
            discord(minified(DISCORD_PING_FILE).as_bytes()),
            200,
            0,
        ),
        served(
            "control: discord application command",
            discord_command(),
            200,
            1,
        ),
        served(
            "control: discord webhook events PING",
            discord_events(minified(DISCORD_EVENTS_PING_FILE).as_bytes()),
            204,
            0,
        ),
        served(
            "control: discord webhook event APPLICATION_AUTHORIZED",
            discord_events(minified(DISCORD_AUTHORIZED_FILE).as_bytes()),
            204,
            1,
        ),
        served(
            "control: discord webhook event 15 min old (inside its 20 min window)",
            discord_at(
                "/webhooks/discord/events",
                minified(DISCORD_AUTHORIZED_FILE).as_bytes(),
                NOW - 900,
            ),
            204,
            1,
        ),
        served(
            "control: discourse topic_created",
            discourse_topic(),
            202,
            1,
        ),
        served(
            "control: discourse ping",
            discourse("ping", DISCOURSE_PING_FILE.trim().as_bytes()),
            200,
            0,
        ),
        served("control: relay github-actions issue", relay_issue(), 202, 1),
        served(
            "control: relay discord-gateway with its bound secret",
            relay_signed(
                minified(RELAY_GATEWAY_FILE).as_bytes(),
                &NOW.to_string(),
                GATEWAY_RELAY_SECRET,
            ),
            202,
            1,
        ),
    ]
}

fn forged_github() -> Vec<Row> {
    let body = minified(GITHUB_ISSUE_FILE);
    let signature = github_issue().header("x-hub-signature-256");
    let other_body = body.replace("Export to CSV", "Export to PDF");
    vec![
        refused(
            "github: signed with the wrong secret",
            github_issue().with(
                "x-hub-signature-256",
                &platforms::github::sign("not-the-webhook-secret", body.as_bytes()).unwrap(),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "github: signed with another platform's secret (Slack's)",
            github_issue().with(
                "x-hub-signature-256",
                &platforms::github::sign(SLACK_SECRET, body.as_bytes()).unwrap(),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "github: signature of a different body",
            github_issue().with(
                "x-hub-signature-256",
                &platforms::github::sign(GITHUB_SECRET, other_body.as_bytes()).unwrap(),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "github: signature truncated by one byte",
            github_issue().with("x-hub-signature-256", &shortened(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "github: signature with a non-hex digit",
            github_issue().with("x-hub-signature-256", &garbled(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "github: signature with trailing garbage",
            github_issue().with("x-hub-signature-256", &format!("{signature}00")),
            401,
            "signature_invalid",
        ),
        refused(
            "github: signature as base64 instead of hex",
            github_issue().with(
                "x-hub-signature-256",
                &format!(
                    "sha256={}",
                    b64(&hex::decode(signature.trim_start_matches("sha256=")).unwrap())
                ),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "github: signature header empty",
            github_issue().with("x-hub-signature-256", ""),
            401,
            "signature_invalid",
        ),
        refused(
            "github: prefix in upper case (SHA256=)",
            github_issue().with(
                "x-hub-signature-256",
                &signature.replace("sha256=", "SHA256="),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "github: signature header missing",
            github_issue().without("x-hub-signature-256"),
            401,
            "signature_missing",
        ),
        refused(
            "github: only the legacy X-Hub-Signature (genuine sha1=)",
            github("issues", SMALL_ISSUE.as_bytes())
                .without("x-hub-signature-256")
                .with("x-hub-signature", SMALL_ISSUE_SHA1),
            401,
            "signature_missing",
        ),
        refused(
            "github: genuine sha1= signature in X-Hub-Signature-256 (downgrade)",
            github("issues", SMALL_ISSUE.as_bytes()).with("x-hub-signature-256", SMALL_ISSUE_SHA1),
            401,
            "signature_invalid",
        ),
        refused(
            "github: two signatures, comma-joined by API Gateway",
            github_issue().with(
                "x-hub-signature-256",
                &format!(
                    "{signature},{}",
                    platforms::github::sign("not-the-webhook-secret", body.as_bytes()).unwrap()
                ),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "github: all-zero sha256 signature",
            github_issue().with("x-hub-signature-256", &format!("sha256={}", "0".repeat(64))),
            401,
            "signature_invalid",
        ),
    ]
}

fn forged_slack() -> Vec<Row> {
    let body = minified(SLACK_EVENT_FILE);
    let now = NOW.to_string();
    let signature = slack_event().header("x-slack-signature");
    vec![
        refused(
            "slack: signed with the wrong secret",
            slack_signed(body.as_bytes(), &now, "not-the-signing-secret"),
            401,
            "signature_invalid",
        ),
        refused(
            "slack: signature of a different body",
            slack_event().body(body.replace("crashes", "works").as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "slack: signature truncated by one byte",
            slack_event().with("x-slack-signature", &shortened(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "slack: signature with a non-hex digit",
            slack_event().with("x-slack-signature", &garbled(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "slack: signature header missing",
            slack_event().without("x-slack-signature"),
            401,
            "signature_missing",
        ),
        refused(
            "slack: GitHub's scheme (sha256= over the body alone)",
            slack_event().with(
                "x-slack-signature",
                &platforms::github::sign(SLACK_SECRET, body.as_bytes()).unwrap(),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "slack: v1= instead of v0=",
            slack_event().with("x-slack-signature", &signature.replace("v0=", "v1=")),
            401,
            "signature_invalid",
        ),
        refused(
            "slack: valid v0 hex over the body without the timestamp",
            slack_event().with(
                "x-slack-signature",
                &platforms::hmac_sha256::sign_prefixed_hex(SLACK_SECRET, "v0=", &[body.as_bytes()])
                    .unwrap(),
            ),
            401,
            "signature_invalid",
        ),
    ]
}

fn forged_discord() -> Vec<Row> {
    let body = minified(DISCORD_COMMAND_FILE);
    let now = NOW.to_string();
    let signature = discord_command().header("x-signature-ed25519");
    vec![
        refused(
            "discord: signed by another application's key",
            discord_signed(
                "/webhooks/discord",
                body.as_bytes(),
                &now,
                OTHER_DISCORD_SEED,
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "discord: signature of a different body",
            discord_command().body(body.replace("unreadable", "fine").as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "discord: signature truncated by one byte",
            discord_command().with("x-signature-ed25519", &shortened(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "discord: signature with a non-hex digit",
            discord_command().with("x-signature-ed25519", &garbled(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "discord: signature as base64 instead of hex",
            discord_command().with(
                "x-signature-ed25519",
                &b64(&hex::decode(&signature).unwrap()),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "discord: non-canonical signature (s + L)",
            discord_command().with("x-signature-ed25519", &non_canonical(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "discord: all-zero signature",
            discord_command().with("x-signature-ed25519", &"0".repeat(128)),
            401,
            "signature_invalid",
        ),
        refused(
            "discord: HMAC scheme instead of Ed25519",
            discord_command().with(
                "x-signature-ed25519",
                &platforms::github::sign(DISCORD_PUBLIC_KEY, body.as_bytes()).unwrap(),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "discord: signature header missing",
            discord_command().without("x-signature-ed25519"),
            401,
            "signature_missing",
        ),
        refused(
            "discord: timestamp header missing",
            discord_command().without("x-signature-timestamp"),
            401,
            "signature_missing",
        ),
        refused(
            "discord: PING signed by another key (Discord's own probe)",
            discord_signed(
                "/webhooks/discord",
                minified(DISCORD_PING_FILE).as_bytes(),
                &now,
                OTHER_DISCORD_SEED,
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "discord events: signed by another application's key",
            discord_signed(
                "/webhooks/discord/events",
                minified(DISCORD_AUTHORIZED_FILE).as_bytes(),
                &now,
                OTHER_DISCORD_SEED,
            ),
            401,
            "signature_invalid",
        ),
    ]
}

fn forged_discourse() -> Vec<Row> {
    let body = minified(DISCOURSE_TOPIC_FILE);
    let signature = discourse_topic().header("x-discourse-event-signature");
    vec![
        refused(
            "discourse: signed with the wrong secret",
            discourse_signed("topic_created", "9002", body.as_bytes(), "not-the-secret"),
            401,
            "signature_invalid",
        ),
        refused(
            "discourse: signature of a different body",
            discourse_topic().body(body.replace("PDF", "CSV").as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "discourse: signature truncated by one byte",
            discourse_topic().with("x-discourse-event-signature", &shortened(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "discourse: signature with a non-hex digit",
            discourse_topic().with("x-discourse-event-signature", &garbled(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "discourse: signature header missing (a webhook without a secret)",
            discourse_topic().without("x-discourse-event-signature"),
            401,
            "signature_missing",
        ),
        refused(
            "discourse: sha1= scheme",
            discourse_topic().with(
                "x-discourse-event-signature",
                &format!("sha1={}", &signature["sha256=".len().."sha256=".len() + 40]),
            ),
            401,
            "signature_invalid",
        ),
    ]
}

fn forged_relay() -> Vec<Row> {
    let body = minified(RELAY_ISSUE_FILE);
    let now = NOW.to_string();
    let signature = relay_issue().header("x-signature");
    vec![
        refused(
            "relay: signed with the wrong secret",
            relay_signed(body.as_bytes(), &now, "not-the-relay-secret"),
            401,
            "signature_invalid",
        ),
        refused(
            "relay: signature of a different body",
            relay_issue().body(body.replace("forever", "once").as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "relay: signature truncated by one byte",
            relay_issue().with("x-signature", &shortened(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "relay: signature with a non-hex digit",
            relay_issue().with("x-signature", &garbled(&signature)),
            401,
            "signature_invalid",
        ),
        refused(
            "relay: signature header missing",
            relay_issue().without("x-signature"),
            401,
            "signature_missing",
        ),
        refused(
            "relay: timestamp header missing",
            relay_issue().without("x-signature-timestamp"),
            401,
            "signature_missing",
        ),
        refused(
            "relay: GitHub's scheme (body alone, no timestamp)",
            relay_issue().with(
                "x-signature",
                &platforms::github::sign(RELAY_SECRET, body.as_bytes()).unwrap(),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "relay: Slack's scheme (v0:{ts}:{body})",
            relay_issue().with(
                "x-signature",
                &platforms::slack::sign(RELAY_SECRET, &now, body.as_bytes()).unwrap(),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "relay: discord-gateway event signed with the unbound secret",
            relay(minified(RELAY_GATEWAY_FILE).as_bytes()),
            403,
            "source_not_allowed",
        ),
    ]
}

fn replayed() -> Vec<Row> {
    let slack_body = minified(SLACK_EVENT_FILE);
    let relay_body = minified(RELAY_ISSUE_FILE);
    let discord_body = minified(DISCORD_COMMAND_FILE);
    let discourse_post = minified(DISCOURSE_POST_FILE);
    let captured = NOW - 3600;
    vec![
        refused(
            "replay: github signature replayed on another body",
            github_issue().body(minified(GITHUB_PING_FILE).as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "replay: slack signature replayed on another body",
            slack_event().body(minified(SLACK_CHALLENGE_FILE).as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "replay: slack request captured an hour ago, resent as is",
            slack_at(slack_body.as_bytes(), captured),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "replay: slack old signature under a fresh timestamp header",
            slack_at(slack_body.as_bytes(), captured)
                .with("x-slack-request-timestamp", &NOW.to_string()),
            401,
            "signature_invalid",
        ),
        refused(
            "replay: relay signature replayed on another body",
            relay_issue().body(minified(RELAY_GATEWAY_FILE).as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "replay: relay request captured an hour ago, resent as is",
            relay_at(relay_body.as_bytes(), captured),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "replay: relay old signature under a fresh timestamp header",
            relay_at(relay_body.as_bytes(), captured)
                .with("x-signature-timestamp", &NOW.to_string()),
            401,
            "signature_invalid",
        ),
        refused(
            "replay: discord signature replayed on another body",
            discord_command().body(minified(DISCORD_PING_FILE).as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "replay: discord interaction captured an hour ago, resent as is",
            discord_at("/webhooks/discord", discord_body.as_bytes(), captured),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "replay: discord old signature under a fresh timestamp header",
            discord_at("/webhooks/discord", discord_body.as_bytes(), captured)
                .with("x-signature-timestamp", &NOW.to_string()),
            401,
            "signature_invalid",
        ),
        refused(
            "replay: discord webhook event captured an hour ago, resent as is",
            discord_at(
                "/webhooks/discord/events",
                minified(DISCORD_AUTHORIZED_FILE).as_bytes(),
                captured,
            ),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "replay: discord interaction signature sent to the events endpoint",
            discord_command().path(Some("/webhooks/discord/events"), Some("discord")),
            400,
            "malformed_delivery",
        ),
        refused(
            "replay: discourse signature replayed on another body",
            discourse_topic().body(discourse_post.as_bytes()),
            401,
            "signature_invalid",
        ),
        refused(
            "replay: signed discourse post resent as another kind of event",
            discourse("topic_created", discourse_post.as_bytes()),
            400,
            "bad_header",
        ),
    ]
}

fn timestamps() -> Vec<Row> {
    let slack_body = minified(SLACK_EVENT_FILE);
    let relay_body = minified(RELAY_ISSUE_FILE);
    let discord_body = minified(DISCORD_COMMAND_FILE);
    let events_body = minified(DISCORD_AUTHORIZED_FILE);
    let mut rows = vec![
        refused(
            "slack: timestamp 301 s old",
            slack_at(slack_body.as_bytes(), NOW - 301),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "slack: timestamp 301 s in the future",
            slack_at(slack_body.as_bytes(), NOW + 301),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "slack: timestamp a year in the future",
            slack_at(slack_body.as_bytes(), NOW + 365 * 86_400),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "slack: timestamp header missing",
            slack_event().without("x-slack-request-timestamp"),
            401,
            "signature_missing",
        ),
        refused(
            "relay: timestamp 301 s old",
            relay_at(relay_body.as_bytes(), NOW - 301),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "relay: timestamp 301 s in the future",
            relay_at(relay_body.as_bytes(), NOW + 301),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "discord: interaction timestamp 301 s old",
            discord_at("/webhooks/discord", discord_body.as_bytes(), NOW - 301),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "discord: interaction timestamp 301 s in the future",
            discord_at("/webhooks/discord", discord_body.as_bytes(), NOW + 301),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "discord events: timestamp 1201 s old",
            discord_at(
                "/webhooks/discord/events",
                events_body.as_bytes(),
                NOW - 1201,
            ),
            401,
            "timestamp_out_of_window",
        ),
        refused(
            "discord events: timestamp 1201 s in the future",
            discord_at(
                "/webhooks/discord/events",
                events_body.as_bytes(),
                NOW + 1201,
            ),
            401,
            "timestamp_out_of_window",
        ),
    ];
    // Not a Unix time in seconds, yet correctly signed over exactly that text:
    // only the window check stands between these and the queue.
    let unreadable = [
        "abc",
        "",
        "1795435200.5",
        "1795435200000",
        " 1795435200",
        "+1795435200",
        "-1795435200",
        "1.7954352e9",
        "0x6afd5a40",
        "99999999999999999999999",
    ];
    for stamp in unreadable {
        rows.push(refused(
            format!("slack: signed non-numeric timestamp {stamp:?}"),
            slack_signed(slack_body.as_bytes(), stamp, SLACK_SECRET),
            401,
            "timestamp_out_of_window",
        ));
        rows.push(refused(
            format!("relay: signed non-numeric timestamp {stamp:?}"),
            relay_signed(relay_body.as_bytes(), stamp, RELAY_SECRET),
            401,
            "timestamp_out_of_window",
        ));
        rows.push(refused(
            format!("discord: signed non-numeric timestamp {stamp:?}"),
            discord_signed(
                "/webhooks/discord",
                discord_body.as_bytes(),
                stamp,
                DISCORD_SEED,
            ),
            401,
            "timestamp_out_of_window",
        ));
    }
    rows
}

fn oversized(limit: usize) -> Vec<Row> {
    let at_limit = padded_issue(limit);
    let over = padded_issue(limit + 1);
    assert_eq!(at_limit.len(), limit);
    let slack_over = with_member(
        &minified(SLACK_EVENT_FILE),
        "padding",
        &format!("\"{}\"", "x".repeat(limit)),
    );
    let relay_over = format!("{}{}", minified(RELAY_ISSUE_FILE), " ".repeat(limit));
    vec![
        served(
            "size: github body exactly at MaxBodyBytes",
            github("issues", at_limit.as_bytes()),
            202,
            1,
        ),
        served(
            "size: github body exactly at MaxBodyBytes, base64-encoded",
            github("issues", at_limit.as_bytes()).base64(),
            202,
            1,
        ),
        refused(
            "size: github body one byte over MaxBodyBytes",
            github("issues", over.as_bytes()),
            413,
            "body_too_large",
        ),
        refused(
            "size: github body one byte over MaxBodyBytes, base64-encoded",
            github("issues", over.as_bytes()).base64(),
            413,
            "body_too_large",
        ),
        refused(
            "size: 8 MB base64 body (refused before decoding)",
            github("issues", &vec![b'x'; 8 * MB]).base64(),
            413,
            "body_too_large",
        ),
        refused(
            "size: 8 MB unsigned text body",
            github_issue()
                .without("x-hub-signature-256")
                .body(&vec![b' '; 8 * MB]),
            413,
            "body_too_large",
        ),
        refused(
            "size: slack body over MaxBodyBytes",
            slack(slack_over.as_bytes()),
            413,
            "body_too_large",
        ),
        refused(
            "size: discord body over MaxBodyBytes",
            discord(&vec![b' '; limit + 1]),
            413,
            "body_too_large",
        ),
        refused(
            "size: discourse body over MaxBodyBytes",
            discourse("topic_created", &vec![b' '; limit + 1]),
            413,
            "body_too_large",
        ),
        refused(
            "size: relay body over MaxBodyBytes",
            relay(relay_over.as_bytes()),
            413,
            "body_too_large",
        ),
    ]
}

fn deeply_nested() -> Vec<Row> {
    let arrays = nested_arrays(DEPTH);
    let objects = nested_objects(DEPTH);
    let issue = minified(GITHUB_ISSUE_FILE);
    let discourse_deep = format!(
        r#"{{"topic":{{"id":412,"title":"t","created_at":"2026-11-23T09:40:00.000Z","user_id":77,"x":{arrays}}}}}"#
    );
    let relay_deep = minified(RELAY_ISSUE_FILE).replacen(
        "\"data\":{",
        &format!("\"data\":{{\"x\":{arrays},"),
        1,
    );
    let name = |what: &str| format!("nesting: {what} ({DEPTH} levels, signed)");
    // Brackets and escaped quotes inside strings are text, not nesting.
    let bracketed_title = issue.replacen(
        "\"title\":\"",
        &format!(
            "\"title\":\"{}\\\"{}\\\\",
            "[{".repeat(1000),
            "]}".repeat(1000)
        ),
        1,
    );
    vec![
        served(
            "nesting: github issue whose title holds 2000 brackets and escaped quotes",
            github("issues", bracketed_title.as_bytes()),
            202,
            1,
        ),
        served(
            format!("nesting: github issue nested {MAX_DEPTH} levels deep in all (the bound)"),
            github(
                "issues",
                with_member(&issue, "x", &nested_arrays(MAX_DEPTH - 1)).as_bytes(),
            ),
            202,
            1,
        ),
        refused(
            format!(
                "nesting: {} levels after a string ending in an escaped backslash",
                MAX_DEPTH + 1
            ),
            github(
                "issues",
                with_member(
                    &with_member(&issue, "y", r#""\\""#),
                    "x",
                    &nested_arrays(MAX_DEPTH),
                )
                .as_bytes(),
            ),
            400,
            "malformed_delivery",
        ),
        refused(
            format!(
                "nesting: github issue nested {} levels deep in all",
                MAX_DEPTH + 1
            ),
            github(
                "issues",
                with_member(&issue, "x", &nested_arrays(MAX_DEPTH)).as_bytes(),
            ),
            400,
            "malformed_delivery",
        ),
        refused(
            name("github body that is nested arrays"),
            github("issues", arrays.as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            name("github issue with nested arrays in an unknown field"),
            github("issues", with_member(&issue, "x", &arrays).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            name("github issue with nested objects in an unknown field"),
            github("issues", with_member(&issue, "x", &objects).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            name("github ping with nested arrays"),
            github(
                "ping",
                with_member(&minified(GITHUB_PING_FILE), "x", &arrays).as_bytes(),
            ),
            400,
            "malformed_delivery",
        ),
        refused(
            name("slack event_callback with nested arrays"),
            slack(with_member(&minified(SLACK_EVENT_FILE), "x", &arrays).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            name("slack url_verification with nested objects"),
            slack(with_member(&minified(SLACK_CHALLENGE_FILE), "x", &objects).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            name("discord PING with nested arrays"),
            discord(with_member(&minified(DISCORD_PING_FILE), "x", &arrays).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            name("discord command with nested arrays"),
            discord(with_member(&minified(DISCORD_COMMAND_FILE), "x", &arrays).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            name("discord webhook event with nested arrays"),
            discord_events(
                with_member(&minified(DISCORD_AUTHORIZED_FILE), "x", &arrays).as_bytes(),
            ),
            400,
            "malformed_delivery",
        ),
        refused(
            name("discourse topic with nested arrays"),
            discourse("topic_created", discourse_deep.as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            name("relay envelope with nested arrays in data"),
            relay(relay_deep.as_bytes()),
            400,
            "malformed_delivery",
        ),
    ]
}

fn malformed_bodies() -> Vec<Row> {
    let invalid_utf8: &[u8] = b"{\"action\":\"opened\",\"issue\":{\"title\":\"\xff\xfe\"}}";
    // A UTF-16 surrogate encoded as UTF-8: not valid UTF-8 either.
    let surrogate: &[u8] = b"{\"action\":\"opened\",\"x\":\"\xed\xa0\x80\"}";
    let slack_utf8: &[u8] =
        b"{\"type\":\"event_callback\",\"event_id\":\"Ev1\",\"event\":{\"type\":\"message\",\"text\":\"\xc3\x28\"}}";
    let github_body = minified(GITHUB_ISSUE_FILE);
    let slack_body = minified(SLACK_EVENT_FILE);
    let discord_body = minified(DISCORD_COMMAND_FILE);
    let discourse_body = minified(DISCOURSE_TOPIC_FILE);
    let relay_body = minified(RELAY_ISSUE_FILE);
    let mut rows = vec![
        // Invalid UTF-8, correctly signed over the raw bytes (base64 is the only
        // way API Gateway can hand such bytes over).
        refused(
            "utf-8: github body with invalid bytes",
            github("issues", invalid_utf8).base64(),
            400,
            "malformed_delivery",
        ),
        refused(
            "utf-8: github body with an encoded surrogate",
            github("issues", surrogate).base64(),
            400,
            "malformed_delivery",
        ),
        refused(
            "utf-8: slack body with invalid bytes",
            slack(slack_utf8).base64(),
            400,
            "malformed_delivery",
        ),
        refused(
            "utf-8: discord body with invalid bytes",
            discord(b"{\"type\":1,\"x\":\"\xff\"}").base64(),
            400,
            "malformed_delivery",
        ),
        refused(
            "utf-8: discourse body with invalid bytes",
            discourse(
                "topic_created",
                b"{\"topic\":{\"id\":1,\"title\":\"\xff\"}}",
            )
            .base64(),
            400,
            "malformed_delivery",
        ),
        refused(
            "utf-8: relay body with invalid bytes",
            relay(b"{\"version\":1,\"id\":\"\xff\"}").base64(),
            400,
            "malformed_delivery",
        ),
        // isBase64Encoded with something that is not base64.
        refused(
            "base64: github body is not base64",
            github_issue().verbatim_base64("***not base64***"),
            400,
            "malformed_delivery",
        ),
        refused(
            "base64: slack body is not base64",
            slack_event().verbatim_base64("eyJ0eXBlIjoi%%%"),
            400,
            "malformed_delivery",
        ),
        refused(
            "base64: discord body is base64 without its padding",
            discord_command().verbatim_base64("e30"),
            400,
            "malformed_delivery",
        ),
        refused(
            "base64: discourse body is not base64",
            discourse_topic().verbatim_base64("!!!!"),
            400,
            "malformed_delivery",
        ),
        refused(
            "base64: relay body is not base64",
            relay_issue().verbatim_base64("e30=\u{7f}"),
            400,
            "malformed_delivery",
        ),
        // Truncated JSON, correctly signed.
        refused(
            "truncated: github",
            github("issues", truncated(&github_body).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            "truncated: slack",
            slack(truncated(&slack_body).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            "truncated: discord",
            discord(truncated(&discord_body).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            "truncated: discourse",
            discourse("topic_created", truncated(&discourse_body).as_bytes()),
            400,
            "malformed_delivery",
        ),
        refused(
            "truncated: relay",
            relay(truncated(&relay_body).as_bytes()),
            400,
            "malformed_delivery",
        ),
        // Empty bodies: signed over nothing, unsigned, and no body at all.
        refused(
            "empty: github, signed",
            github("issues", b""),
            400,
            "malformed_delivery",
        ),
        refused(
            "empty: github, no body field at all, signed over nothing",
            github("issues", b"").no_body(),
            400,
            "malformed_delivery",
        ),
        refused(
            "empty: github, unsigned",
            github("issues", b"").without("x-hub-signature-256"),
            401,
            "signature_missing",
        ),
        refused(
            "empty: slack, signed",
            slack(b""),
            400,
            "malformed_delivery",
        ),
        refused(
            "empty: discord, signed",
            discord(b""),
            400,
            "malformed_delivery",
        ),
        refused(
            "empty: discourse, signed",
            discourse("topic_created", b""),
            400,
            "malformed_delivery",
        ),
        refused(
            "empty: relay, signed",
            relay(b""),
            400,
            "malformed_delivery",
        ),
        refused(
            "empty: github base64 body that decodes to nothing, signed",
            github("issues", b"").verbatim_base64(""),
            400,
            "malformed_delivery",
        ),
    ];
    // JSON that is not an object, correctly signed. serde's derived structs
    // also accept an array of their fields, so arrays shaped like the structs
    // the edge reads are included.
    let not_objects: [(&str, Http); 13] = [
        ("github: null", github("issues", b"null")),
        ("github: a string", github("issues", b"\"issues\"")),
        ("github: a number", github("issues", b"412")),
        ("github: an empty array", github("issues", b"[]")),
        (
            "github: an array of ThreadKeys' four fields",
            github("issues", b"[null,null,null,null]"),
        ),
        (
            "github: an array of ThreadKeys' four fields, as a ping",
            github("ping", b"[null,null,null,null]"),
        ),
        (
            "slack: an array shaped like url_verification",
            slack(br#"["url_verification","c-123"]"#),
        ),
        (
            "slack: an array shaped like event_callback",
            slack(br#"["event_callback",null,"Ev1","T1",{"type":"message"}]"#),
        ),
        ("discord: an array shaped like PING", discord(b"[1]")),
        (
            "discord: an array shaped like a command",
            discord(br#"[2,"1316598213468979200"]"#),
        ),
        (
            "discord events: an array shaped like PING",
            discord_events(b"[0]"),
        ),
        (
            "discord events: an array shaped like an event",
            discord_events(br#"[1,"1300000000000000001",["APPLICATION_AUTHORIZED"]]"#),
        ),
        (
            "discourse: an array around a topic",
            discourse(
                "topic_created",
                format!("[{}]", minified(DISCOURSE_TOPIC_FILE)).as_bytes(),
            ),
        ),
    ];
    for (what, http) in not_objects {
        rows.push(refused(
            format!("not an object: {what}"),
            http,
            400,
            "malformed_delivery",
        ));
    }
    // The relay names what breaks its published schema; the root is a field too.
    rows.push(refused(
        "not an object: relay, an array",
        relay(b"[]"),
        400,
        "invalid_envelope",
    ));
    rows
}

fn huge_headers() -> Vec<Row> {
    let one_mb = "a".repeat(MB);
    let mut many = github_issue();
    for i in 0..3000 {
        many = many.with(&format!("x-junk-{i:04}"), "1");
    }
    vec![
        refused(
            "headers: 1 MB X-Hub-Signature-256",
            github_issue().with("x-hub-signature-256", &format!("sha256={one_mb}")),
            431,
            "headers_too_large",
        ),
        refused(
            "headers: 1 MB X-Slack-Signature",
            slack_event().with("x-slack-signature", &format!("v0={one_mb}")),
            431,
            "headers_too_large",
        ),
        refused(
            "headers: 1 MB X-Signature-Ed25519",
            discord_command().with("x-signature-ed25519", &one_mb),
            431,
            "headers_too_large",
        ),
        refused(
            "headers: 1 MB X-Signature-Timestamp (relay)",
            relay_issue().with("x-signature-timestamp", &"1".repeat(MB)),
            431,
            "headers_too_large",
        ),
        refused(
            "headers: 1 MB X-GitHub-Delivery on a signed delivery",
            github_issue().with("x-github-delivery", &one_mb),
            431,
            "headers_too_large",
        ),
        refused(
            "headers: 3000 extra headers on a signed delivery",
            many,
            431,
            "headers_too_large",
        ),
        // Long, but within what API Gateway lets through: each field's own check.
        refused(
            "headers: 8 KB X-Hub-Signature-256",
            github_issue().with(
                "x-hub-signature-256",
                &format!("sha256={}", "ab".repeat(4096)),
            ),
            401,
            "signature_invalid",
        ),
        refused(
            "headers: 129-character X-GitHub-Delivery on a signed delivery",
            github_issue().with("x-github-delivery", &"d".repeat(129)),
            400,
            "bad_header",
        ),
        refused(
            "headers: X-GitHub-Delivery with path characters on a signed delivery",
            github_issue().with("x-github-delivery", "../../etc/passwd"),
            400,
            "bad_header",
        ),
        refused(
            "headers: 4 KB X-GitHub-Event on a signed delivery",
            github_issue().with("x-github-event", &"issues".repeat(700)),
            400,
            "bad_header",
        ),
        refused(
            "headers: X-GitHub-Event missing on a signed delivery",
            github_issue().without("x-github-event"),
            400,
            "bad_header",
        ),
        refused(
            "headers: X-GitHub-Hook-ID with spaces on a signed delivery",
            github_issue().with("x-github-hook-id", "42 OR 1=1"),
            400,
            "bad_header",
        ),
        refused(
            "headers: X-Slack-Retry-Num not a number on a signed event",
            slack_event().with("x-slack-retry-num", "one"),
            400,
            "bad_header",
        ),
        refused(
            "headers: X-Discourse-Event missing on a signed delivery",
            discourse_topic().without("x-discourse-event"),
            400,
            "bad_header",
        ),
    ]
}

fn content_types() -> Vec<Row> {
    let issue = minified(GITHUB_ISSUE_FILE);
    let form = form_urlencoded_payload(&issue);
    let slash: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(SLACK_COMMAND_FILE).unwrap();
    let slash_form = slash
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v.as_str().unwrap())))
        .collect::<Vec<_>>()
        .join("&");
    let form_ct = "application/x-www-form-urlencoded";
    let multipart = "multipart/form-data; boundary=----x";
    vec![
        // Documented (docs/platforms/github.md): JSON, or the same JSON in a
        // form's `payload` field with the signature over the form body.
        served(
            "content-type: github form with payload= (documented)",
            github("issues", form.as_bytes()).with("content-type", form_ct),
            202,
            1,
        ),
        served(
            "content-type: github application/json; charset=utf-8",
            github_issue().with("content-type", "application/json; charset=utf-8"),
            202,
            1,
        ),
        served(
            "content-type: github without a content type (read as JSON)",
            github_issue().without("content-type"),
            202,
            1,
        ),
        refused(
            "content-type: github form without a payload field",
            github("issues", b"action=opened&number=412").with("content-type", form_ct),
            400,
            "malformed_delivery",
        ),
        refused(
            "content-type: github form whose payload is not JSON",
            github("issues", b"payload=%7Boops").with("content-type", form_ct),
            400,
            "malformed_delivery",
        ),
        refused(
            // Percent-encoding triples each bracket: a quarter of DEPTH stays under the limit.
            format!(
                "content-type: github form whose payload is {} nested arrays",
                DEPTH / 4
            ),
            github(
                "issues",
                form_urlencoded_payload(&nested_arrays(DEPTH / 4)).as_bytes(),
            )
            .with("content-type", form_ct),
            400,
            "malformed_delivery",
        ),
        refused(
            "content-type: github text/plain",
            github_issue().with("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        refused(
            "content-type: github multipart/form-data",
            github_issue().with("content-type", multipart),
            415,
            "unsupported_media_type",
        ),
        refused(
            "content-type: github application/xml",
            github_issue().with("content-type", "application/xml"),
            415,
            "unsupported_media_type",
        ),
        served(
            "content-type: slack slash command form (documented)",
            slack(slash_form.as_bytes()).with("content-type", form_ct),
            200,
            1,
        ),
        refused(
            "content-type: slack form that is neither a command nor interactivity",
            slack(b"foo=bar").with("content-type", form_ct),
            400,
            "malformed_delivery",
        ),
        refused(
            "content-type: slack interactivity payload that is an array",
            slack(b"payload=%5B%22block_actions%22%2C%22t1%22%5D").with("content-type", form_ct),
            400,
            "malformed_delivery",
        ),
        refused(
            "content-type: slack text/plain",
            slack_event().with("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        refused(
            "content-type: slack multipart/form-data",
            slack_event().with("content-type", multipart),
            415,
            "unsupported_media_type",
        ),
        refused(
            "content-type: discord text/plain",
            discord_command().with("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        refused(
            "content-type: discord form",
            discord_command().with("content-type", form_ct),
            415,
            "unsupported_media_type",
        ),
        // Documented (docs/platforms/discourse.md): the form setting changes
        // only the header, the body stays JSON; other types are 415.
        served(
            "content-type: discourse form header over a JSON body (documented)",
            discourse_topic().with("content-type", form_ct),
            202,
            1,
        ),
        refused(
            "content-type: discourse text/plain over a JSON body",
            discourse_topic().with("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        refused(
            "content-type: discourse multipart/form-data over a JSON body",
            discourse_topic().with("content-type", multipart),
            415,
            "unsupported_media_type",
        ),
        refused(
            "content-type: relay text/plain",
            relay_issue().with("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        refused(
            "content-type: relay form",
            relay_issue().with("content-type", form_ct),
            415,
            "unsupported_media_type",
        ),
    ]
}

/// `payload=<json>` as GitHub's form content type sends it.
fn form_urlencoded_payload(json: &str) -> String {
    format!("payload={}", percent(json))
}

/// application/x-www-form-urlencoded escaping of one value.
fn percent(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn unknown_routes() -> Vec<Row> {
    let at = |raw: Option<&str>, platform: Option<&str>| github_issue().path(raw, platform);
    let mut rows = vec![
        refused(
            "route: /webhooks/myspace",
            at(Some("/webhooks/myspace"), Some("myspace")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/ (empty platform)",
            at(Some("/webhooks/"), None),
            404,
            "unknown_platform",
        ),
        refused(
            "route: empty platform path parameter, no raw path",
            at(None, Some("")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: neither raw path nor path parameter",
            at(None, None),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/../github",
            at(Some("/webhooks/../github"), Some("..")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/%2e%2e/github",
            at(Some("/webhooks/%2e%2e/github"), Some("%2e%2e")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/github/../slack",
            at(Some("/webhooks/github/../slack"), Some("github")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: path parameter ../github, no raw path",
            at(None, Some("../github")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks//github",
            at(Some("/webhooks//github"), Some("")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/GitHub (names are lower case)",
            at(Some("/webhooks/GitHub"), Some("GitHub")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/github/events (only Discord has sub-endpoints)",
            at(Some("/webhooks/github/events"), Some("github")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/discord/other",
            discord_command().path(Some("/webhooks/discord/other"), Some("discord")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/linear (tracker webhook not configured)",
            at(Some("/webhooks/linear"), Some("linear")),
            404,
            "unknown_platform",
        ),
        refused(
            "route: /webhooks/jira (tracker webhook not configured)",
            at(Some("/webhooks/jira"), Some("jira")),
            404,
            "unknown_platform",
        ),
    ];
    for method in [
        Method::GET,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ] {
        rows.push(refused(
            format!("method: signed github delivery sent with {method}"),
            github_issue().method(method),
            405,
            "method_not_allowed",
        ));
    }
    rows.push(refused(
        "method: GET /webhooks/myspace",
        at(Some("/webhooks/myspace"), Some("myspace")).method(Method::GET),
        405,
        "method_not_allowed",
    ));
    rows
}

// ---------------------------------------------------------------------------
// Running it.

fn text_of(response: &ApiGatewayV2httpResponse) -> Option<String> {
    match &response.body {
        Some(Body::Text(t)) => Some(t.clone()),
        Some(Body::Empty) | None => None,
        Some(Body::Binary(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(other) => Some(format!("{other:?}")),
    }
}

/// Sends one request; `Err` says what was wrong with the answer.
async fn check(edge: &Edge, row: &Row) -> Result<(), String> {
    let before = edge.raw_events.len();
    let response = AssertUnwindSafe(edge.ingest.handle(row.http.request()))
        .catch_unwind()
        .await
        .map_err(|_| "panicked".to_owned())?;
    let new = edge.raw_events.sent_since(before);
    let mut problems = Vec::new();
    if response.status_code != row.status {
        problems.push(format!(
            "status {} (expected {}), body {:?}",
            response.status_code,
            row.status,
            text_of(&response).map(|t| t.chars().take(200).collect::<String>())
        ));
    }
    let body: Option<serde_json::Value> = text_of(&response).and_then(|t| {
        if t.is_empty() {
            None
        } else {
            serde_json::from_str(&t).ok()
        }
    });
    match (row.error, &body) {
        (Some(code), Some(body)) => {
            if body["error"] != code {
                problems.push(format!("error {} (expected {code})", body["error"]));
            }
            // A short code, nothing internal; only schema violations list fields.
            let extra: Vec<&String> = body
                .as_object()
                .map(|o| {
                    o.keys()
                        .filter(|k| {
                            *k != "error" && !(code == "invalid_envelope" && *k == "fields")
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !extra.is_empty() {
                problems.push(format!("unexpected members {extra:?} in the error body"));
            }
        }
        (Some(code), None) => problems.push(format!("no JSON error body (expected {code})")),
        (None, Some(body)) if body.get("error").is_some() => {
            problems.push(format!("refused with {}", body["error"]));
        }
        (None, _) => {}
    }
    let enqueued = new.len();
    if enqueued != row.enqueued {
        problems.push(format!(
            "{enqueued} message(s) enqueued (expected {})",
            row.enqueued
        ));
    }
    for message in &new {
        let envelope = platforms::Envelope::decode(&message.body)
            .map_err(|e| format!("enqueued a message that is not an envelope: {e}"))?;
        let platform = row
            .http
            .raw_path
            .as_deref()
            .and_then(|p| p.strip_prefix("/webhooks/"))
            .and_then(|t| t.split('/').next())
            .unwrap_or("");
        if envelope.platform.as_str() != platform {
            problems.push(format!("enqueued as {}", envelope.platform.as_str()));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[tokio::test]
async fn hostile_requests_get_the_right_answer_and_reach_no_queue() {
    assert_eq!(
        platforms::github::sign(GITHUB_SECRET, SMALL_ISSUE.as_bytes()).unwrap(),
        SMALL_ISSUE_SHA256,
        "the precomputed signatures cover exactly SMALL_ISSUE"
    );
    let edge = production_edge().await;
    let rows = rows(edge.max_body_bytes);
    let mut names = std::collections::HashSet::new();
    for row in &rows {
        assert!(names.insert(row.name.clone()), "duplicate row {}", row.name);
    }
    let mut failures = Vec::new();
    for row in &rows {
        let outcome = check(&edge, row).await;
        eprintln!(
            "{:<4} {} {}",
            row.status,
            if outcome.is_ok() { "ok  " } else { "FAIL" },
            row.name
        );
        if let Err(problem) = outcome {
            failures.push(format!("{}: {problem}", row.name));
        }
    }
    assert!(
        edge.resolutions.len() == 0,
        "nothing reaches the resolutions queue"
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

/// The same genuine delivery sent twice inside its window (a platform retry,
/// a redelivery, or an attacker replaying a captured request): both are
/// answered as accepted, because the edge is stateless, and both carry the
/// same FIFO deduplication id, so SQS keeps one of them.
#[tokio::test]
async fn a_delivery_replayed_inside_its_window_keeps_its_deduplication_id() {
    let edge = production_edge().await;
    let slack_body = minified(SLACK_EVENT_FILE);
    let relay_body = minified(RELAY_ISSUE_FILE);
    let discourse_body = minified(DISCOURSE_TOPIC_FILE);
    let cases: Vec<(&str, Http, Http, i64)> = vec![
        (
            "github: the identical request twice",
            github_issue(),
            github_issue(),
            202,
        ),
        (
            "github: a manual redelivery (same X-GitHub-Delivery)",
            github_issue(),
            github_issue().with("user-agent", "GitHub-Hookshot/redeliver"),
            202,
        ),
        (
            "github: base64-encoded the second time",
            github_issue(),
            github_issue().base64(),
            202,
        ),
        (
            "slack: the identical request twice",
            slack_event(),
            slack_event(),
            202,
        ),
        (
            "slack: a retry signed 60 s later with X-Slack-Retry-Num",
            slack_at(slack_body.as_bytes(), NOW - 60),
            slack_event()
                .with("x-slack-retry-num", "1")
                .with("x-slack-retry-reason", "http_timeout"),
            202,
        ),
        (
            "discord: the identical interaction twice",
            discord_command(),
            discord_command(),
            200,
        ),
        (
            "discord events: the identical event twice",
            discord_events(minified(DISCORD_AUTHORIZED_FILE).as_bytes()),
            discord_events(minified(DISCORD_AUTHORIZED_FILE).as_bytes()),
            204,
        ),
        (
            "discourse: the identical request twice",
            discourse_topic(),
            discourse_topic(),
            202,
        ),
        (
            "discourse: a retry under a new X-Discourse-Event-Id",
            discourse_topic(),
            discourse_signed(
                "topic_created",
                "9102",
                discourse_body.as_bytes(),
                DISCOURSE_SECRET,
            ),
            202,
        ),
        (
            "relay: the identical request twice",
            relay_issue(),
            relay_issue(),
            202,
        ),
        (
            "relay: the same id re-signed 120 s later",
            relay_at(relay_body.as_bytes(), NOW - 120),
            relay_issue(),
            202,
        ),
    ];
    let mut failures = Vec::new();
    for (name, first, second, status) in cases {
        let before = edge.raw_events.len();
        let a = edge.ingest.handle(first.request()).await;
        let b = edge.ingest.handle(second.request()).await;
        let new = edge.raw_events.sent_since(before);
        let outcome = if a.status_code != status || b.status_code != status {
            Err(format!(
                "statuses {} and {} (expected {status} twice)",
                a.status_code, b.status_code
            ))
        } else if new.len() != 2 {
            Err(format!("{} messages (expected 2)", new.len()))
        } else if new[0].deduplication_id != new[1].deduplication_id {
            Err("different deduplication ids".to_owned())
        } else if new[0].group_id != new[1].group_id {
            Err("different message groups".to_owned())
        } else {
            Ok(())
        };
        eprintln!(
            "{status:<4} {} replay: {name}",
            if outcome.is_ok() { "ok  " } else { "FAIL" }
        );
        if let Err(problem) = outcome {
            failures.push(format!("{name}: {problem}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A genuine delivery under a *different* delivery identity is a different
/// message to SQS: the test above is not passing because every id is equal.
#[tokio::test]
async fn different_deliveries_get_different_deduplication_ids() {
    let edge = production_edge().await;
    let relay_body = minified(RELAY_ISSUE_FILE).replace("gh-700000001-57", "gh-700000002-57");
    for (first, second) in [
        (
            github_issue(),
            github_issue().with("x-github-delivery", "5c6b2f40-c8a1-11f0-8d3e-0a7c4e1b9aff"),
        ),
        (relay_issue(), relay(relay_body.as_bytes())),
    ] {
        edge.ingest.handle(first.request()).await;
        edge.ingest.handle(second.request()).await;
    }
    let sent = edge.raw_events.sent_since(0);
    assert_eq!(sent.len(), 4);
    assert_ne!(sent[0].deduplication_id, sent[1].deduplication_id);
    assert_ne!(sent[2].deduplication_id, sent[3].deduplication_id);
}
