//! Peak memory, measured: each release binary started once (one warm
//! sandbox) against a local Lambda Runtime API and fed a whole replay, with
//! `VmRSS` read after its first invocation and `VmHWM` (the kernel's peak
//! resident set) just before it is stopped. Only numbers for BENCHMARKS.md;
//! no test depends on them.
//!
//! The replay cycles through the enqueued fixture payloads of every platform
//! (`events/payloads/`). Each copy is made a different thing, not only a
//! different delivery: event ids derive from the platform's natural key (a
//! GitHub issue's URL, a Slack message's `ts`, a Discourse post id, …), so
//! copies that differed only in their delivery id would be deduplicated by
//! normalize's ledger and never reach route. The fixtures' people are also
//! multiplied into variants, so the members table (which alert scans) grows
//! as a community's would.
//!
//! Ingest runs first; normalize and route then run side by side, one window
//! of events at a time (route gets what normalize sent in that window), with
//! the emulator reset between windows (see `Tables` for why); alert sweeps
//! last, over everything the windows stored.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::{Mutex, mpsc};

use crate::fixtures::{self, Delivery, FixtureError, Signature};
use crate::secrets::DevSecrets;
use crate::stack::{self, Stack, StackError, StackOptions};
use crate::template::{Template, TemplateError};

#[derive(Debug, thiserror::Error)]
pub enum RssError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Stack(#[from] StackError),
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("{operation} on the emulator: {message} (is moto running at AWS_ENDPOINT_URL?)")]
    Sqs {
        operation: &'static str,
        message: String,
    },
    #[error("the replay would not be honest: {0}")]
    Replay(String),
    #[error("{function} exited ({status}) during the replay; its logs are in {log}")]
    Exited {
        function: String,
        status: String,
        log: String,
    },
    #[error("{function} did not answer invocation {invocation} within {seconds} s")]
    Timeout {
        function: String,
        invocation: usize,
        seconds: u64,
    },
    #[error("{function} failed an invocation: {message}")]
    Invocation { function: String, message: String },
    #[error("cannot read /proc/{pid}/status: {source}")]
    Proc { pid: u32, source: std::io::Error },
}

fn sqs_error<E: std::fmt::Debug>(operation: &'static str) -> impl Fn(E) -> RssError {
    move |e| RssError::Sqs {
        operation,
        message: format!("{e:?}"),
    }
}

/// What `devstack rss` replays.
#[derive(Debug, Clone)]
pub struct Options {
    pub events: usize,
    pub alert_sweeps: usize,
    /// Events per window. Ingest: then the raw queue is emptied (moto's
    /// FIFO sends slow down as a queue grows). Normalize and route: then
    /// the emulator is reset and the stack provisioned again (see `Tables`).
    pub window: usize,
    /// How many variants of each fixture person take part (1: the fixtures'
    /// own people only).
    pub actor_variants: usize,
    pub stack_name: String,
    /// Where the binaries are (`target/release`).
    pub binaries: PathBuf,
}

/// `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the peak resident set since the process started.
    pub hwm: u64,
    /// `RssAnon`: heap, stacks (what the allocator holds).
    pub anon: u64,
    /// `RssFile`: mapped files, mostly the binary's own pages.
    pub file: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Result<Memory, RssError> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|source| RssError::Proc { pid, source })?;
        Ok(Memory::parse(&status))
    }

    /// Field by field, the larger: peaks over several readings.
    fn max(self, other: Memory) -> Memory {
        Memory {
            rss: self.rss.max(other.rss),
            hwm: self.hwm.max(other.hwm),
            anon: self.anon.max(other.anon),
            file: self.file.max(other.file),
        }
    }

    fn parse(status: &str) -> Memory {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss: field("VmRSS"),
            hwm: field("VmHWM"),
            anon: field("RssAnon"),
            file: field("RssFile"),
        }
    }
}

/// One function's run.
#[derive(Debug, Clone)]
pub struct Measured {
    pub function: &'static str,
    /// Events (ingest: requests; alert: none) it was fed.
    pub events: usize,
    pub invocations: usize,
    /// Unexpected ingest statuses; batch item failures (retried).
    pub failures: usize,
    /// Records still failing on their last receive.
    pub dead_lettered: usize,
    pub after_first: Memory,
    pub before_stop: Memory,
    /// The largest reading of each field, after every invocation. `VmHWM`
    /// alone is not enough: when the kernel reclaims a process's file pages
    /// (memory pressure), `VmRSS` drops without the high-water mark being
    /// brought up to date first, and a later `VmHWM` can read lower.
    pub peak: Memory,
    /// `VmRSS` (KiB) after every tenth of the invocations, for growth.
    pub trace: Vec<u64>,
    /// Time in invocations (the first includes the cold start).
    pub busy: Duration,
}

// ---------------------------------------------------------------------------
// A local Lambda Runtime API serving one invocation at a time.
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Invocation {
    request_id: String,
    body: String,
}

#[derive(Debug)]
enum Outcome {
    Response(String),
    Error(String),
}

#[derive(Clone)]
struct Api {
    pending: Arc<Mutex<mpsc::Receiver<Invocation>>>,
    outcomes: mpsc::UnboundedSender<Outcome>,
    function: Arc<str>,
    timeout: Duration,
}

async fn next(State(api): State<Api>) -> Response {
    let invocation = api.pending.lock().await.recv().await;
    match invocation {
        Some(invocation) => (
            crate::coldstart::invocation_headers(
                &invocation.request_id,
                &api.function,
                api.timeout,
            ),
            invocation.body,
        )
            .into_response(),
        // The replay is over: park the poll, the process is stopped next.
        None => std::future::pending().await,
    }
}

async fn respond(
    State(api): State<Api>,
    UrlPath(_id): UrlPath<String>,
    body: String,
) -> &'static str {
    // A closed receiver means the sandbox is being stopped: nothing to tell.
    api.outcomes.send(Outcome::Response(body)).ok();
    "{}"
}

async fn fail(State(api): State<Api>, body: String) -> &'static str {
    api.outcomes.send(Outcome::Error(body)).ok();
    "{}"
}

/// One warm sandbox: the process and the Runtime API it polls.
struct Sandbox {
    function: String,
    log: PathBuf,
    child: tokio::process::Child,
    pid: u32,
    invocations: mpsc::Sender<Invocation>,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    served: usize,
    timeout: Duration,
}

impl Sandbox {
    async fn start(
        binary: &Path,
        environment: &BTreeMap<String, String>,
        timeout: Duration,
        log: PathBuf,
    ) -> Result<Sandbox, RssError> {
        let function = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (invocations, pending) = mpsc::channel(1);
        let (outcomes_tx, outcomes) = mpsc::unbounded_channel();
        let api = Api {
            pending: Arc::new(Mutex::new(pending)),
            outcomes: outcomes_tx,
            function: Arc::from(function.as_str()),
            timeout,
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(fail))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(axum::serve(listener, router).into_future());
        if let Some(parent) = log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Lambda's log level (template LogLevel: INFO), not the shell's: the
        // INFO lines and EMF metrics are part of what the function does.
        let child = crate::coldstart::lambda_command(binary, environment, address, "rss")
            .env_remove("RUST_LOG")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::options().append(true).open(&log)?)
            .spawn()?;
        let pid = child.id().ok_or_else(|| RssError::Exited {
            function: function.clone(),
            status: "before it started".to_owned(),
            log: log.display().to_string(),
        })?;
        Ok(Sandbox {
            function,
            log,
            child,
            pid,
            invocations,
            outcomes,
            server,
            served: 0,
            timeout,
        })
    }

    /// One invocation; its response body. The first includes the cold start.
    async fn invoke(&mut self, body: String) -> Result<String, RssError> {
        self.served += 1;
        let invocation = Invocation {
            request_id: format!("rss-{}-{}", self.function, self.served),
            body,
        };
        // Generous: the function's own timeout plus the cold start.
        let limit = self.timeout + Duration::from_secs(30);
        // The previous invocation has been taken (it was answered), so the
        // one-slot channel has room: this does not wait on the function.
        if self.invocations.send(invocation).await.is_err() {
            return Err(RssError::Invocation {
                function: self.function.clone(),
                message: "the local Runtime API stopped".to_owned(),
            });
        }
        let outcome = tokio::select! {
            outcome = self.outcomes.recv() => outcome,
            status = self.child.wait() => return Err(self.exited(status)),
            () = tokio::time::sleep(limit) => None,
        };
        match outcome {
            Some(Outcome::Response(body)) => Ok(body),
            Some(Outcome::Error(body)) => Err(RssError::Invocation {
                function: self.function.clone(),
                message: body,
            }),
            None => Err(RssError::Timeout {
                function: self.function.clone(),
                invocation: self.served,
                seconds: limit.as_secs(),
            }),
        }
    }

    fn exited(&self, status: std::io::Result<std::process::ExitStatus>) -> RssError {
        RssError::Exited {
            function: self.function.clone(),
            status: match status {
                Ok(status) => status.to_string(),
                Err(e) => e.to_string(),
            },
            log: self.log.display().to_string(),
        }
    }

    fn memory(&self) -> Result<Memory, RssError> {
        Memory::of(self.pid)
    }

    async fn stop(mut self) {
        // Killing an already exited process is not an error worth reporting.
        self.child.kill().await.ok();
        self.server.abort();
    }
}

// ---------------------------------------------------------------------------
// The replay: N distinct events from the enqueued fixture payloads.
// ---------------------------------------------------------------------------

/// A payload of `events/payloads/` that ingest enqueues and normalize turns
/// into exactly one event.
#[derive(Debug, Clone)]
struct Fixture {
    delivery: Delivery,
    payload: Value,
}

/// One replayed request, as the platform would send it.
#[derive(Debug)]
struct Request<'a> {
    delivery: &'a Delivery,
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Debug)]
struct Replay {
    fixtures: Vec<Fixture>,
    secrets: DevSecrets,
    actor_variants: u64,
}

/// What the replay holds, computed in-process before anything is measured.
#[derive(Debug, Clone, Default)]
pub struct ReplayShape {
    pub fixtures: Vec<&'static str>,
    pub events: usize,
    pub actors: usize,
    pub by_type: BTreeMap<String, usize>,
}

impl Replay {
    fn load(root: &Path, secrets: DevSecrets, actor_variants: usize) -> Result<Replay, RssError> {
        let mut candidates: Vec<Delivery> = fixtures::deliveries();
        candidates.extend(fixtures::moderation_and_identity_demo());
        candidates.extend(fixtures::tickets_demo());
        let mut replay = Replay {
            fixtures: Vec::new(),
            secrets,
            actor_variants: actor_variants.max(1) as u64,
        };
        for delivery in candidates {
            // The linked team_join exists to merge one Slack account into a
            // GitHub member by its no-reply email: replayed by the hundred it
            // would pile every copy onto that one member.
            if delivery.signature != Signature::Valid
                || delivery.fixture == "slack-team-join-linked.json"
            {
                continue;
            }
            let payload = fixtures::payload_in(root, delivery.payload_dir, delivery.payload)?;
            let payload: Value = serde_json::from_str(&payload)?;
            let fixture = Fixture { delivery, payload };
            let now = time::OffsetDateTime::now_utc();
            let request = replay.request_for(&fixture, 0, now.unix_timestamp())?;
            // Handshakes and refusals (the relay's invalid envelope) are
            // answered at the edge: not part of a replay of events.
            let one_event = match replay.envelope_of(&request, now) {
                Ok(Some(message)) => events_of(&message.body)?.len() == 1,
                Ok(None) | Err(_) => false,
            };
            if one_event {
                replay.fixtures.push(fixture);
            }
        }
        if replay.fixtures.is_empty() {
            return Err(RssError::Replay(
                "no fixture payload is enqueued".to_owned(),
            ));
        }
        Ok(replay)
    }

    fn fixture(&self, k: usize) -> &Fixture {
        &self.fixtures[k % self.fixtures.len()]
    }

    /// Request `k`, signed at `now`.
    fn request(&self, k: usize, now: i64) -> Result<Request<'_>, RssError> {
        self.request_for(self.fixture(k), k, now)
    }

    fn request_for<'a>(
        &self,
        fixture: &'a Fixture,
        k: usize,
        now: i64,
    ) -> Result<Request<'a>, RssError> {
        let round = (k / self.fixtures.len().max(1)) as u64;
        let mut payload = fixture.payload.clone();
        vary_people(&mut payload, round % self.actor_variants);
        make_unique(fixture.delivery.platform_name(), &mut payload, k as u64);
        let delivery_id = match fixture.delivery.platform_name() {
            // A delivery UUID of its own, as GitHub would send (the event id
            // comes from the body: make_unique).
            "github" => format!("7e5a0000-0000-4000-8000-{k:012}"),
            "discourse" => (100_000 + k).to_string(),
            _ => String::new(),
        };
        let (headers, body) = fixtures::signed_request(
            &fixture.delivery,
            payload.to_string(),
            &delivery_id,
            Signature::Valid,
            &self.secrets,
            now,
        )?;
        Ok(Request {
            delivery: &fixture.delivery,
            headers,
            body,
        })
    }

    /// What ingest enqueues for `request` (None: answered at the edge).
    fn envelope_of(
        &self,
        request: &Request<'_>,
        received_at: time::OffsetDateTime,
    ) -> Result<Option<platforms::QueueMessage>, RssError> {
        let accepted = fixtures::accept_locally(
            request.delivery,
            &request.headers,
            &request.body,
            &self.secrets,
            received_at,
        )?;
        Ok(match accepted {
            platforms::Accepted::Enqueue { message, .. } => Some(message),
            platforms::Accepted::Answer(_) => None,
        })
    }

    /// Every event of the replay, adapted in-process: the event ids must all
    /// differ, or normalize would drop the copies as duplicates.
    fn shape(&self, events: usize) -> Result<ReplayShape, RssError> {
        let now = time::OffsetDateTime::now_utc();
        let mut ids = BTreeSet::new();
        let mut actors = BTreeSet::new();
        let mut shape = ReplayShape {
            fixtures: self.fixtures.iter().map(|f| f.delivery.fixture).collect(),
            ..ReplayShape::default()
        };
        for k in 0..events {
            let request = self.request(k, now.unix_timestamp())?;
            let message = self.envelope_of(&request, now)?.ok_or_else(|| {
                RssError::Replay(format!(
                    "request {k} ({}) is not enqueued",
                    request.delivery.fixture
                ))
            })?;
            for draft in events_of(&message.body)? {
                if !ids.insert(draft.event_id) {
                    return Err(RssError::Replay(format!(
                        "request {k} ({}) repeats event {}",
                        request.delivery.fixture, draft.event_id
                    )));
                }
                actors.insert((
                    draft.platform.as_str(),
                    draft.actor.platform_user_id.clone(),
                ));
                *shape
                    .by_type
                    .entry(format!("{:?}", draft.event_type))
                    .or_default() += 1;
            }
        }
        shape.events = ids.len();
        shape.actors = actors.len();
        Ok(shape)
    }
}

fn events_of(envelope: &str) -> Result<Vec<canonical_event::EventDraft>, RssError> {
    let envelope = platforms::Envelope::decode(envelope)
        .map_err(|e| RssError::Replay(format!("envelope: {e}")))?;
    match platforms::adapt(&envelope).map_err(|e| RssError::Replay(format!("adapt: {e}")))? {
        platforms::Adapted::Events(drafts) => Ok(drafts),
        platforms::Adapted::Dropped { .. } => Ok(Vec::new()),
    }
}

/// The fixtures' people as their variant `v`: names get `-v`, ids move by a
/// stride wider than the fixtures' own id ranges, consistently within one
/// payload, so a variant's reply, reaction and join are by one member.
fn vary_people(value: &mut Value, v: u64) {
    if v == 0 {
        return;
    }
    match value {
        Value::Object(map) => {
            const NAMES: [&str; 4] = ["login", "username", "handle", "user_name"];
            let named = NAMES
                .iter()
                .any(|n| map.get(*n).is_some_and(Value::is_string));
            if named {
                for name in NAMES {
                    if let Some(Value::String(text)) = map.get_mut(name) {
                        text.push_str(&format!("-{v}"));
                    }
                }
                if let Some(id) = map.get_mut("id") {
                    *id = variant_id(id, v);
                }
            }
            // Discourse's numeric author ids (Slack's are strings, below).
            if let Some(id) = map.get_mut("user_id").filter(|id| id.is_number()) {
                *id = variant_id(id, v);
            }
            for (key, child) in map.iter_mut() {
                if key != "id" {
                    vary_people(child, v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| vary_people(item, v)),
        // The fixtures' Slack member ids.
        Value::String(text) if text.starts_with("U0DEV") => text.push_str(&format!("-{v}")),
        _ => {}
    }
}

fn variant_id(id: &Value, v: u64) -> Value {
    match id {
        Value::Number(n) => n
            .as_u64()
            .map(|n| json!(n + v * 100_000_000))
            .unwrap_or_else(|| id.clone()),
        // Discord snowflakes and relay ids: decimal strings.
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<u128>()
            .map(|n| json!((n + u128::from(v) * 1_000_000_000).to_string()))
            .unwrap_or_else(|_| id.clone()),
        Value::String(s) => json!(format!("{s}-{v}")),
        _ => id.clone(),
    }
}

/// Makes copy `k` of a payload a thing of its own: the fields each adapter
/// builds its natural key from (and the delivery ids in the body).
fn make_unique(platform: &str, payload: &mut Value, k: u64) {
    let mut edit = |pointer: &str, change: &dyn Fn(&Value) -> Value| {
        if let Some(field) = payload.pointer_mut(pointer) {
            *field = change(field);
        }
    };
    // "1795427400.000100" → "1795427400.000042": still a timestamp.
    let fraction = |v: &Value| match v.as_str().and_then(|s| s.rsplit_once('.')) {
        Some((whole, _)) => json!(format!("{whole}.{k:06}")),
        None => v.clone(),
    };
    let plus = |v: &Value| match v.as_str().and_then(|s| s.parse::<u128>().ok()) {
        Some(n) => json!((n + u128::from(k)).to_string()),
        None => v.clone(),
    };
    let suffix = |v: &Value| json!(format!("{}-{k}", v.as_str().unwrap_or("")));
    let post_id = |_: &Value| json!(10_000_000 + k);
    let newcomer = |_: &Value| json!(format!("newcomer-{k}"));
    // "2026-11-23T10:31:07Z" → "2026-11-23T10:31:07.000000042Z": still a time.
    let instant = |v: &Value| match v.as_str().and_then(|s| s.strip_suffix('Z')) {
        Some(t) if !t.contains('.') => json!(format!("{t}.{k:09}Z")),
        _ => v.clone(),
    };
    match platform {
        "github" => {
            // github@2 keys an event by its object's URL (another issue,
            // comment, pull request…) and a star by its time.
            for pointer in [
                "/issue/html_url",
                "/comment/html_url",
                "/pull_request/html_url",
                "/review/html_url",
                "/discussion/html_url",
                "/answer/html_url",
                "/release/html_url",
            ] {
                edit(pointer, &suffix);
            }
            edit("/starred_at", &instant);
        }
        "slack" => {
            edit("/event_id", &|_| json!(format!("EvRSS{k:08}")));
            edit("/event/ts", &fraction);
            edit("/event/event_ts", &fraction);
            edit("/event/item/ts", &fraction);
            edit("/trigger_id", &suffix);
        }
        "discord" => {
            edit("/id", &plus);
            edit("/event/timestamp", &fraction);
        }
        "discourse" => {
            for pointer in ["/topic/id", "/post/id", "/like/post/id", "/solved/id"] {
                edit(pointer, &post_id);
            }
            // A signup is a new person each time.
            edit("/user/id", &|_| json!(900_000_000 + k));
            edit("/user/username", &newcomer);
        }
        "relay" => {
            edit("/id", &suffix);
            edit("/data/id", &plus);
            // A Discord member join is a new person each time.
            edit("/data/user/id", &|_| {
                json!((1_390_000_000_000_000_000u128 + u128::from(k)).to_string())
            });
            edit("/data/user/username", &newcomer);
        }
        _ => {}
    }
}

/// The API Gateway HTTP API (payload v2) event for a request.
fn api_gateway_event(request: &Request<'_>, k: usize, now: i64) -> Value {
    let platform = request.delivery.platform;
    let path = format!("/webhooks/{platform}");
    let (route_key, parameters) = match platform.split_once('/') {
        Some((platform, kind)) => (
            "POST /webhooks/{platform}/{kind}",
            json!({ "platform": platform, "kind": kind }),
        ),
        None => ("POST /webhooks/{platform}", json!({ "platform": platform })),
    };
    let user_agent = request
        .headers
        .get("user-agent")
        .cloned()
        .unwrap_or_default();
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": request.headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "devapi0001",
            "domainName": "devapi0001.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "devapi0001",
            "http": { "method": "POST", "path": path, "protocol": "HTTP/1.1", "sourceIp": "140.82.115.10", "userAgent": user_agent },
            "requestId": format!("rss-{k}"),
            "routeKey": route_key,
            "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000",
            "timeEpoch": now * 1000
        },
        "pathParameters": parameters,
        "body": request.body,
        "isBase64Encoded": false
    })
}

/// An SQS record as Lambda's event source delivers a first receive.
fn sqs_record(
    message_id: String,
    body: String,
    group: &str,
    deduplication: &str,
    sequence: usize,
    queue_arn: &str,
) -> SqsMessage {
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).to_string();
    let mut record = SqsMessage::default();
    record.receipt_handle = Some(format!("rss-receipt-{message_id}"));
    record.message_id = Some(message_id);
    record.body = Some(body);
    record.event_source = Some("aws:sqs".to_owned());
    record.event_source_arn = Some(queue_arn.to_owned());
    record.aws_region = Some("us-east-1".to_owned());
    for (name, value) in [
        ("ApproximateReceiveCount", "1".to_owned()),
        ("SentTimestamp", now_ms.clone()),
        ("ApproximateFirstReceiveTimestamp", now_ms),
        ("SenderId", "AIDADEVSENDER".to_owned()),
        (
            "SequenceNumber",
            format!("{:020}", 18_790_000_000_000_000_000u128 + sequence as u128),
        ),
        ("MessageGroupId", group.to_owned()),
        ("MessageDeduplicationId", deduplication.to_owned()),
    ] {
        record.attributes.insert(name.to_owned(), value);
    }
    record
}

/// The record for a message received from the emulator (what
/// `pump::Mapping` builds for the in-process handlers).
fn record_of(message: &Message, queue_arn: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.receipt_handle = message.receipt_handle.clone();
    record.body = message.body.clone();
    record.md5_of_body = message.md5_of_body.clone();
    record.md5_of_message_attributes = message.md5_of_message_attributes.clone();
    record.event_source = Some("aws:sqs".to_owned());
    record.event_source_arn = Some(queue_arn.to_owned());
    record.aws_region = Some("us-east-1".to_owned());
    for (name, value) in message.attributes.iter().flatten() {
        record
            .attributes
            .insert(name.as_str().to_owned(), value.clone());
    }
    for (name, value) in message.message_attributes.iter().flatten() {
        let mut attribute = SqsMessageAttribute::default();
        attribute.string_value = value.string_value.clone();
        attribute.data_type = Some(value.data_type.clone());
        record.message_attributes.insert(name.clone(), attribute);
    }
    record
}

fn batch(records: Vec<SqsMessage>) -> Result<String, RssError> {
    let mut event = SqsEvent::default();
    event.records = records;
    Ok(serde_json::to_string(&event)?)
}

/// The records an SQS handler reported in `batchItemFailures`.
fn batch_failures(response: &str) -> BTreeSet<String> {
    serde_json::from_str::<Value>(response)
        .ok()
        .and_then(|v| {
            let failures = v.get("batchItemFailures")?.as_array()?;
            Some(
                failures
                    .iter()
                    .filter_map(|f| f.get("itemIdentifier")?.as_str().map(str::to_owned))
                    .collect(),
            )
        })
        .unwrap_or_default()
}

/// Empties a queue the function under test sends to. Not PurgeQueue: moto
/// allows one per queue every 60 s, as SQS does, and ingest fills 500
/// messages in a few seconds.
async fn empty(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<(), RssError> {
    drain(sqs, queue_url, &mut Vec::new()).await
}

/// Receives (and deletes) everything visible on a queue.
async fn drain(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    into: &mut Vec<Message>,
) -> Result<(), RssError> {
    loop {
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(0)
            .visibility_timeout(600)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(());
        }
        let entries: Vec<_> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                    .build()
                    .ok()
            })
            .collect();
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(sqs_error("DeleteMessageBatch"))?;
        into.extend(messages);
    }
}

/// One function's invocations: their time and the memory after them.
#[derive(Debug)]
struct Meter {
    function: &'static str,
    events: usize,
    invocations: usize,
    failures: usize,
    dead_lettered: usize,
    after_first: Memory,
    peak: Memory,
    trace: Vec<u64>,
    busy: Duration,
    planned: usize,
}

impl Meter {
    fn new(function: &'static str, planned: usize) -> Meter {
        Meter {
            function,
            events: 0,
            invocations: 0,
            failures: 0,
            dead_lettered: 0,
            after_first: Memory::default(),
            peak: Memory::default(),
            trace: Vec::new(),
            busy: Duration::ZERO,
            planned: planned.max(1),
        }
    }

    /// One invocation, timed: the first includes the cold start (the
    /// process is started just before it), later ones are warm.
    async fn invoke(&mut self, sandbox: &mut Sandbox, body: String) -> Result<String, RssError> {
        let started = Instant::now();
        let response = sandbox.invoke(body).await;
        self.busy += started.elapsed();
        response
    }

    /// After an invocation that handled `events` events: reads memory (a
    /// /proc read, between invocations), keeps the first reading and the
    /// peaks, and reports progress at every tenth of the plan.
    fn after(
        &mut self,
        sandbox: &Sandbox,
        events: usize,
        failures: usize,
        report: &mut dyn FnMut(String),
    ) -> Result<(), RssError> {
        self.invocations += 1;
        self.events += events;
        self.failures += failures;
        let now = sandbox.memory()?;
        if self.invocations == 1 {
            self.after_first = now;
        }
        self.peak = self.peak.max(now);
        let tenth = self.planned.div_ceil(10);
        if self.invocations.is_multiple_of(tenth) {
            self.trace.push(now.rss);
            report(format!(
                "  {:<9} {:>6} invocations {:>6} events  VmRSS {:>5.1} MiB  VmHWM {:>5.1} MiB  {:>5.0} s",
                self.function,
                self.invocations,
                self.events,
                mib(now.rss),
                mib(now.hwm),
                self.busy.as_secs_f64()
            ));
        }
        Ok(())
    }

    /// Feeds SQS records in batches as Lambda's event source does: the
    /// records a batch reports as failed come back in a later batch with
    /// their receive count raised, until `max_receives`.
    async fn feed(
        &mut self,
        sandbox: &mut Sandbox,
        records: Vec<SqsMessage>,
        batch_size: usize,
        max_receives: u32,
        report: &mut dyn FnMut(String),
    ) -> Result<(), RssError> {
        let mut queue: std::collections::VecDeque<SqsMessage> = records.into();
        while !queue.is_empty() {
            let records: Vec<SqsMessage> = queue.drain(..batch_size.min(queue.len())).collect();
            let response = self.invoke(sandbox, batch(records.clone())?).await?;
            let failed = batch_failures(&response);
            let mut handled = 0;
            for mut record in records {
                if !record
                    .message_id
                    .as_ref()
                    .is_some_and(|id| failed.contains(id))
                {
                    handled += 1;
                    continue;
                }
                let receives = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse::<u32>().ok())
                    .unwrap_or(1);
                if receives >= max_receives {
                    self.dead_lettered += 1;
                } else {
                    record.attributes.insert(
                        "ApproximateReceiveCount".to_owned(),
                        (receives + 1).to_string(),
                    );
                    queue.push_back(record);
                }
            }
            self.after(sandbox, handled, failed.len(), report)?;
        }
        Ok(())
    }

    async fn finish(self, sandbox: Sandbox) -> Result<Measured, RssError> {
        let before_stop = sandbox.memory()?;
        sandbox.stop().await;
        Ok(Measured {
            function: self.function,
            events: self.events,
            invocations: self.invocations,
            failures: self.failures,
            dead_lettered: self.dead_lettered,
            after_first: self.after_first,
            before_stop,
            peak: self.peak.max(before_stop),
            trace: self.trace,
            busy: self.busy,
        })
    }
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

fn dynamodb_error<E: std::fmt::Debug>(operation: &'static str) -> impl Fn(E) -> RssError {
    move |e| RssError::Sqs {
        operation,
        message: format!("{e:?}"),
    }
}

/// The emulator between windows. moto copies a whole table for every
/// TransactWriteItems that touches it (its rollback state) and keeps the
/// copies until the emulator is reset (DeleteTable does not free them): a
/// transaction costs time and emulator memory in proportion to the tables it
/// touches, and normalize and route write in transactions. So each window
/// starts from an emulator reset and the stack provisioned again; what the
/// windows wrote to the tables alert reads is kept and put back before the
/// sweeps.
struct Tables<'a> {
    dynamodb: aws_sdk_dynamodb::Client,
    template: &'a Template,
    sdk: &'a aws_config::SdkConfig,
    stack_name: String,
    overrides: BTreeMap<String, String>,
    /// SSM parameters to put back after a reset (name, value).
    parameters: Vec<(String, String)>,
    endpoint: String,
    /// logical id, physical name, key attributes, kept for alert
    tables: Vec<(String, String, Vec<String>, bool)>,
    kept: BTreeMap<String, BTreeMap<String, Item>>,
}

impl<'a> Tables<'a> {
    fn new(
        stack: &Stack,
        template: &'a Template,
        sdk: &'a aws_config::SdkConfig,
        alert_environment: &BTreeMap<String, String>,
        mut parameters: Vec<(String, String)>,
    ) -> Result<Tables<'a>, RssError> {
        let mut tables = Vec::new();
        for spec in &template.tables {
            let name = stack.reference(&spec.logical_id)?;
            let keys = spec.keys.iter().map(|k| k.attribute.clone()).collect();
            let for_alert = alert_environment.values().any(|v| *v == name);
            tables.push((spec.logical_id.clone(), name, keys, for_alert));
        }
        parameters.extend(
            stack
                .options
                .secrets
                .parameters(&stack.provisioned.context.parameters),
        );
        Ok(Tables {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            template,
            sdk,
            stack_name: stack.options.stack_name.clone(),
            overrides: stack.options.parameter_overrides.clone(),
            parameters,
            endpoint: std::env::var("AWS_ENDPOINT_URL").unwrap_or_default(),
            tables,
            kept: BTreeMap::new(),
        })
    }

    /// A reset wipes everything on the emulator: refuse unless it holds
    /// only this tool's stacks (`rss-…`, or the one named for this run).
    async fn ensure_alone(&self, sqs: &aws_sdk_sqs::Client) -> Result<(), RssError> {
        let ours = |name: &str| name.starts_with("rss-") || name.starts_with(&self.stack_name);
        let mut foreign = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .list_tables()
                .set_exclusive_start_table_name(start)
                .send()
                .await
                .map_err(dynamodb_error("ListTables"))?;
            foreign.extend(page.table_names().iter().filter(|n| !ours(n)).cloned());
            start = page.last_evaluated_table_name;
            if start.is_none() {
                break;
            }
        }
        let queues = sqs
            .list_queues()
            .send()
            .await
            .map_err(sqs_error("ListQueues"))?;
        foreign.extend(
            queues
                .queue_urls()
                .iter()
                .filter_map(|url| url.rsplit('/').next())
                .filter(|n| !ours(n))
                .map(str::to_owned),
        );
        if foreign.is_empty() || self.endpoint.is_empty() {
            return Ok(());
        }
        Err(RssError::Replay(format!(
            "the emulator at {} also holds {} (e.g. {}); devstack rss resets it between windows, so run it on an emulator of its own (make rss starts one on port 4600)",
            self.endpoint,
            foreign.len(),
            foreign[0]
        )))
    }

    /// Keeps the items of the tables alert reads, resets the emulator and
    /// provisions the stack again (same names, empty tables and queues).
    async fn keep_and_reset(&mut self) -> Result<(), RssError> {
        for (logical_id, name, keys, for_alert) in &self.tables {
            if !*for_alert {
                continue;
            }
            let kept = self.kept.entry(name.clone()).or_default();
            let mut start = None;
            loop {
                let page = self
                    .dynamodb
                    .scan()
                    .table_name(name)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(dynamodb_error("Scan"))?;
                for item in page.items.unwrap_or_default() {
                    let key = keys
                        .iter()
                        .map(|k| format!("{:?}", item.get(k)))
                        .collect::<Vec<_>>()
                        .join("|");
                    match kept.get_mut(&key) {
                        // Day counters from several windows add up; any other
                        // item is the latest window's version of it.
                        Some(earlier) if logical_id == "CountersTable" => {
                            add_numbers(earlier, item)
                        }
                        _ => {
                            kept.insert(key, item);
                        }
                    }
                }
                start = page.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
        reqwest::Client::new()
            .post(format!(
                "{}/moto-api/reset",
                self.endpoint.trim_end_matches('/')
            ))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| RssError::Sqs {
                operation: "moto-api/reset",
                message: e.to_string(),
            })?;
        crate::provision::provision(self.template, self.sdk, &self.stack_name, &self.overrides)
            .await
            .map_err(StackError::from)?;
        for (name, value) in &self.parameters {
            crate::provision::put_secret(self.sdk, name, value)
                .await
                .map_err(StackError::from)?;
        }
        Ok(())
    }

    /// Puts back everything kept (BatchWriteItem, no transactions).
    async fn restore(&self) -> Result<usize, RssError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut restored = 0;
        for (name, items) in &self.kept {
            let items: Vec<&Item> = items.values().collect();
            for chunk in items.chunks(25) {
                let mut requests = Vec::new();
                for item in chunk {
                    let put = PutRequest::builder()
                        .set_item(Some((*item).clone()))
                        .build()
                        .map_err(dynamodb_error("PutRequest"))?;
                    requests.push(WriteRequest::builder().put_request(put).build());
                }
                let mut pending = Some(BTreeMap::from([(name.clone(), requests)]));
                while let Some(batch) = pending.take().filter(|b| !b.is_empty()) {
                    let output = self
                        .dynamodb
                        .batch_write_item()
                        .set_request_items(Some(batch.into_iter().collect()))
                        .send()
                        .await
                        .map_err(dynamodb_error("BatchWriteItem"))?;
                    pending = output
                        .unprocessed_items
                        .map(|u| u.into_iter().filter(|(_, r)| !r.is_empty()).collect());
                }
                restored += chunk.len();
            }
        }
        Ok(restored)
    }
}

fn add_numbers(into: &mut Item, from: Item) {
    use aws_sdk_dynamodb::types::AttributeValue;
    for (name, value) in from {
        let sum = match (into.get(&name), &value) {
            (Some(AttributeValue::N(a)), AttributeValue::N(b)) => {
                match (a.parse::<i64>(), b.parse::<i64>()) {
                    (Ok(a), Ok(b)) => Some(AttributeValue::N((a + b).to_string())),
                    _ => None,
                }
            }
            _ => None,
        };
        into.insert(name, sum.unwrap_or(value));
    }
}

/// Everything a run produced.
#[derive(Debug, Clone)]
pub struct Run {
    pub shape: ReplayShape,
    pub measured: Vec<Measured>,
    /// Alert's last sweep summary (what the tables held).
    pub last_sweep: Value,
    pub windows: usize,
    pub restored_items: usize,
    pub wall: Duration,
}

/// Provisions the stack (with the Linear and Slack stand-ins, as `make dev`)
/// and runs the four release binaries over one replay: ingest alone, then
/// normalize and route side by side one window at a time (route gets what
/// normalize sent in that window), then alert's sweeps.
pub async fn run(
    root: &Path,
    options: &Options,
    report: &mut dyn FnMut(String),
) -> Result<Run, RssError> {
    let started = Instant::now();
    let template = Template::load(&root.join("template.yaml"))?;
    let sdk = crate::sdk_config().await;
    let mut stack_options = StackOptions::new(options.stack_name.clone());
    // Held to the end: route and alert post to them.
    let standins = crate::standins::StandIns::start().await?;
    let mut parameters = Vec::new();
    for (parameter, name, value) in
        standins.stack_parameters(&format!("/{}/dev", options.stack_name))
    {
        crate::provision::put_secret(&sdk, &name, &value)
            .await
            .map_err(StackError::from)?;
        stack_options
            .parameter_overrides
            .insert(parameter, name.clone());
        parameters.push((name, value));
    }
    let secrets = stack_options.secrets.clone();
    let stack = Stack::start(&template, &sdk, stack_options).await?;
    let aws: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    let environment = |function: &str| -> Result<BTreeMap<String, String>, RssError> {
        let mut environment = stack
            .provisioned
            .environment(function)
            .map_err(StackError::from)?
            .clone();
        environment.extend(aws.iter().cloned());
        Ok(environment)
    };
    let start = |function: &'static str, name: &'static str| {
        let environment = environment(function);
        let timeout = template
            .function(function)
            .map(|spec| Duration::from_secs(spec.timeout_seconds.max(1).unsigned_abs()));
        let binary = options.binaries.join(name);
        let log = root.join(".dev/rss").join(format!("{name}.log"));
        async move { Sandbox::start(&binary, &environment?, timeout?, log).await }
    };

    let replay = Replay::load(root, secrets, options.actor_variants)?;
    let shape = replay.shape(options.events)?;
    report(format!(
        "replay: {} events from {} fixtures, {} distinct actors; stack {}",
        shape.events,
        shape.fixtures.len(),
        shape.actors,
        options.stack_name
    ));
    let sqs = &stack.clients.sqs;
    let alert_environment = environment(stack::ALERT)?;
    let mut tables = Tables::new(&stack, &template, &sdk, &alert_environment, parameters)?;
    tables.ensure_alone(sqs).await?;
    let raw_queue = stack.raw_events.queue_url.clone();
    let normalized_queue = stack.normalized_events.queue_url.clone();
    let window = options.window.max(10);
    let mut measured = Vec::new();

    // ingest: one signed webhook request per event.
    let mut sandbox = start(stack::INGEST, "ingest").await?;
    let mut meter = Meter::new("ingest", options.events);
    for k in 0..options.events {
        // Signed when sent: Slack, Discord and the relay refuse a timestamp
        // older than five minutes, and the replay takes longer.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let request = replay.request(k, now)?;
        let expected = request.delivery.expect_status;
        let event = api_gateway_event(&request, k, now).to_string();
        let response = meter.invoke(&mut sandbox, event).await?;
        let status = serde_json::from_str::<Value>(&response)
            .ok()
            .and_then(|v| v.get("statusCode")?.as_u64());
        let ok = status == Some(u64::from(expected));
        meter.after(&sandbox, usize::from(ok), usize::from(!ok), report)?;
        if (k + 1).is_multiple_of(window) {
            empty(sqs, &raw_queue).await?;
        }
    }
    measured.push(meter.finish(sandbox).await?);
    empty(sqs, &raw_queue).await?;

    // normalize and route, one window at a time.
    tables.keep_and_reset().await?;
    let normalize_batch = usize::try_from(stack.raw_events.batch_size.clamp(1, 10)).unwrap_or(10);
    let route_batch =
        usize::try_from(stack.normalized_events.batch_size.clamp(1, 10)).unwrap_or(10);
    // The queues' RedrivePolicy maxReceiveCount (template.yaml).
    let max_receives = |logical_id: &str| {
        template
            .queues
            .iter()
            .find(|q| q.logical_id == logical_id)
            .and_then(|q| q.redrive.as_ref())
            .and_then(|(_, max)| u32::try_from(*max).ok())
            .unwrap_or(3)
    };
    let raw_receives = max_receives("RawEventsQueue");
    let normalized_receives = max_receives("NormalizedEventsQueue");
    let mut normalize = start(stack::NORMALIZE, "normalize").await?;
    let mut route = start(stack::ROUTE, "route").await?;
    let mut normalize_meter = Meter::new("normalize", options.events.div_ceil(normalize_batch));
    let mut route_meter = Meter::new("route", options.events.div_ceil(route_batch));
    let mut windows = 0;
    for first in (0..options.events).step_by(window) {
        let now = time::OffsetDateTime::now_utc();
        let mut records = Vec::new();
        for k in first..(first + window).min(options.events) {
            let request = replay.request(k, now.unix_timestamp())?;
            let message = replay
                .envelope_of(&request, now)?
                .ok_or_else(|| RssError::Replay(format!("request {k} is not enqueued")))?;
            records.push(sqs_record(
                format!("rss-raw-{k}"),
                message.body,
                &message.group_id,
                &message.deduplication_id,
                k,
                &stack.raw_events.queue_arn,
            ));
        }
        normalize_meter
            .feed(
                &mut normalize,
                records,
                normalize_batch,
                raw_receives,
                report,
            )
            .await?;
        let mut sent = Vec::new();
        drain(sqs, &normalized_queue, &mut sent).await?;
        let records = sent
            .iter()
            .map(|m| record_of(m, &stack.normalized_events.queue_arn))
            .collect();
        route_meter
            .feed(
                &mut route,
                records,
                route_batch,
                normalized_receives,
                report,
            )
            .await?;
        tables.keep_and_reset().await?;
        windows += 1;
    }
    measured.push(normalize_meter.finish(normalize).await?);
    measured.push(route_meter.finish(route).await?);

    // alert: scheduled sweeps over everything the windows stored.
    let restored_items = tables.restore().await?;
    report(format!(
        "restored {restored_items} items of the tables alert reads"
    ));
    let schedule = std::fs::read_to_string(root.join("events/alert/schedule.json"))?;
    let mut sandbox = start(stack::ALERT, "alert").await?;
    let mut meter = Meter::new("alert", options.alert_sweeps);
    let mut last_sweep = Value::Null;
    for _ in 0..options.alert_sweeps {
        let response = meter.invoke(&mut sandbox, schedule.clone()).await?;
        last_sweep = serde_json::from_str(&response)?;
        meter.after(&sandbox, 0, 0, report)?;
    }
    measured.push(meter.finish(sandbox).await?);

    Ok(Run {
        shape,
        measured,
        last_sweep,
        windows,
        restored_items,
        wall: started.elapsed(),
    })
}

/// The table for BENCHMARKS.md, then what it rests on: growth across the
/// run, the resident set's make-up, failures, and what the tables held.
pub fn table(run: &Run) -> Vec<String> {
    let mut lines = vec![
        String::new(),
        "| function | events | invocations | RSS after the first invocation | peak RSS (VmHWM) | peak anonymous (RssAnon) | RSS at the end | time in invocations |".to_owned(),
        "|---|---|---|---|---|---|---|---|".to_owned(),
    ];
    for m in &run.measured {
        let events = if m.function == "alert" {
            "(sweeps)".to_owned()
        } else {
            m.events.to_string()
        };
        lines.push(format!(
            "| {} | {events} | {} | {:.1} MiB | **{:.1} MiB** | {:.1} MiB | {:.1} MiB | {:.0} s |",
            m.function,
            m.invocations,
            mib(m.after_first.rss),
            mib(m.peak.hwm),
            mib(m.peak.anon),
            mib(m.before_stop.rss),
            m.busy.as_secs_f64()
        ));
    }
    lines.push(String::new());
    lines.push("VmRSS at each tenth of the invocations (MiB):".to_owned());
    for m in &run.measured {
        let trace: Vec<String> = m
            .trace
            .iter()
            .map(|kib| format!("{:.1}", mib(*kib)))
            .collect();
        lines.push(format!("  {:<9} {}", m.function, trace.join(" ")));
    }
    for m in &run.measured {
        lines.push(format!(
            "  {:<9} after the first invocation RssAnon {:.1}, RssFile {:.1}; at the end RssAnon {:.1}, RssFile {:.1}, VmHWM {:.1}; failures {} (dead-lettered {})",
            m.function,
            mib(m.after_first.anon),
            mib(m.after_first.file),
            mib(m.before_stop.anon),
            mib(m.before_stop.file),
            mib(m.before_stop.hwm),
            m.failures,
            m.dead_lettered
        ));
    }
    lines.push(format!(
        "replay: {} events, {} distinct actors, {} windows, {} items restored for alert, {:.0} s in all; by type {:?}",
        run.shape.events,
        run.shape.actors,
        run.windows,
        run.restored_items,
        run.wall.as_secs_f64(),
        run.shape.by_type
    ));
    lines.push(format!("fixtures: {}", run.shape.fixtures.join(", ")));
    let sweep = &run.last_sweep;
    lines.push(format!(
        "alert's last sweep: events today {}, dropped {}, by routing target {}, metrics {}",
        sweep.get("events").unwrap_or(&Value::Null),
        sweep.get("dropped").unwrap_or(&Value::Null),
        sweep.get("byRoutingTarget").unwrap_or(&Value::Null),
        sweep.get("metrics").unwrap_or(&Value::Null)
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_status_fields_in_kib() {
        let status = "Name:\tingest\nVmHWM:\t   21480 kB\nVmRSS:\t   19876 kB\nRssAnon:\t    9000 kB\nRssFile:\t   10876 kB\n";
        assert_eq!(
            Memory::parse(status),
            Memory {
                rss: 19876,
                hwm: 21480,
                anon: 9000,
                file: 10876
            }
        );
    }

    #[test]
    fn people_vary_consistently_and_variant_zero_is_the_fixture() {
        let original = json!({
            "sender": { "login": "maya-dev", "id": 5811001 },
            "event": { "user": "U0DEVUSR01", "item_user": "U0DEVUSR01" },
            "author": { "id": "1370000000000000003", "username": "kai_ops" },
            "post": { "user_id": 78 }
        });
        let mut same = original.clone();
        vary_people(&mut same, 0);
        assert_eq!(same, original);
        let mut varied = original.clone();
        vary_people(&mut varied, 3);
        assert_eq!(
            varied["sender"],
            json!({ "login": "maya-dev-3", "id": 305811001u64 })
        );
        assert_eq!(varied["event"]["user"], varied["event"]["item_user"]);
        assert_eq!(varied["event"]["user"], json!("U0DEVUSR01-3"));
        assert_eq!(
            varied["author"]["id"],
            json!("1370000003000000003"),
            "snowflakes stay decimal strings"
        );
        assert_eq!(varied["post"]["user_id"], json!(300000078u64));
    }

    #[test]
    fn the_replay_is_distinct_events_of_every_platform() {
        let replay = Replay::load(&crate::repo_root(), DevSecrets::default(), 50).unwrap();
        let shape = replay.shape(3 * replay.fixtures.len()).unwrap();
        assert_eq!(shape.events, 3 * replay.fixtures.len());
        let platforms: BTreeSet<&str> = replay
            .fixtures
            .iter()
            .map(|f| f.delivery.platform_name())
            .collect();
        assert_eq!(
            platforms,
            BTreeSet::from(["discord", "discourse", "github", "relay", "slack"])
        );
    }

    #[test]
    fn copies_differ_in_their_natural_keys() {
        let mut a = json!({ "event_id": "Ev0DEV00001", "event": { "ts": "1795427400.000100" } });
        let mut b = a.clone();
        make_unique("slack", &mut a, 1);
        make_unique("slack", &mut b, 2);
        assert_eq!(a["event"]["ts"], json!("1795427400.000001"));
        assert_ne!(a["event"]["ts"], b["event"]["ts"]);
        assert_ne!(a["event_id"], b["event_id"]);

        let mut star = json!({ "starred_at": "2026-11-23T10:31:07Z", "issue": { "html_url": "https://github.com/o/r/issues/7" } });
        make_unique("github", &mut star, 42);
        assert_eq!(star["starred_at"], json!("2026-11-23T10:31:07.000000042Z"));
        assert_eq!(
            star["issue"]["html_url"],
            json!("https://github.com/o/r/issues/7-42")
        );
    }
}
