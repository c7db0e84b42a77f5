//! `communityctl replay DIR`: a folder of raw webhook payloads, one subfolder
//! per platform (the layout of `events/payloads/` and `../shared/corpus/`),
//! through the pipeline's CPU path in-process, without AWS. Every payload is
//! signed as its platform signs it, with throwaway credentials, before
//! anything is timed; then, per delivery and for several rounds: `accept`
//! (verify + envelope) → `Envelope::decode` → `adapt` → `signal::assess`.
//! It reports what the deliveries became (events by category and platform,
//! handshakes answered, drops by rule, refusals) and the CPU time per event.
//!
//! A file becomes a request by the rules of the platform benches
//! (`shared/platforms/benches/platforms.rs`): a sidecar (`*.request.json`) is
//! not a delivery but lends its headers (an event name) to its `body_file`;
//! GitHub and Discourse event names are the file name's first segment;
//! Discord `interaction.*` go to the Interactions endpoint, `webhook_event.*`
//! to Webhook Events, and Gateway objects (`gateway_object.*`) arrive wrapped
//! by the relay, as a relay forwards them. As in the fixtures, a Slack
//! `slash_command.*` file holds the fields Slack posts as a form.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};

use canonical_event::{Category, Platform};
use platforms::discord::Endpoint;
use platforms::{Accepted, Adapted, Envelope};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

/// Throwaway credentials: deliveries are signed and verified with them here,
/// and nowhere else.
const SECRET: &str = "replay-throwaway-secret";
const GATEWAY_SECRET: &str = "replay-throwaway-gateway-secret";
const DISCORD_SEED: [u8; 32] = [0x5e; 32];

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A folder with one subfolder per platform: github/, slack/, discord/,
    /// discourse/, relay/ (other subfolders are reported and skipped).
    dir: PathBuf,
    /// How many timed passes over every delivery (after one untimed warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// One JSON object: events, nsPerEventMedian, categories, platforms, …
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ReplayArgs) -> Result<(), String> {
    let corpus = read(&args.dir)?;
    let keys = Keys::throwaway();
    let now = OffsetDateTime::now_utc();
    let planned = plan(&corpus, &keys, now)?;
    let context = Context {
        keys,
        received_at: now,
        models: signal::Models::shipped().map_err(|e| e.to_string())?,
        facts: signal::Facts::default(),
    };
    let measured = measure(&planned.requests, &context, args.rounds)?;
    let report = Report::new(&args.dir, corpus, planned, &measured);
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

/// The platform folders of a replay directory, as read from disk.
#[derive(Debug, Default)]
pub struct Corpus {
    pub folders: Vec<Folder>,
    /// Subfolders that name no platform.
    pub unknown_folders: Vec<String>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug)]
pub struct Folder {
    pub platform: Platform,
    /// File name and content, by name.
    pub files: Vec<(String, Vec<u8>)>,
}

/// A file that is not a delivery, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: String,
}

impl Corpus {
    fn skip(&mut self, file: String, reason: &str) {
        self.skipped.push(Skipped {
            file,
            reason: reason.to_owned(),
        });
    }
}

/// Reads `dir`: each subfolder named after a platform, its files.
pub fn read(dir: &Path) -> Result<Corpus, String> {
    let mut corpus = Corpus::default();
    for (name, path) in entries(dir)? {
        if !path.is_dir() {
            corpus.skip(name, "not in a platform folder");
            continue;
        }
        let Some(platform) = Platform::ALL.into_iter().find(|p| p.as_str() == name) else {
            corpus.unknown_folders.push(name);
            continue;
        };
        let mut files = Vec::new();
        for (file, path) in entries(&path)? {
            if path.is_file() {
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                files.push((file, bytes));
            } else {
                corpus.skip(format!("{name}/{file}"), "not a file");
            }
        }
        corpus.folders.push(Folder { platform, files });
    }
    Ok(corpus)
}

/// A folder's entries by name.
fn entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", dir.display());
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let path = entry.map_err(cannot)?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        entries.push((name, path));
    }
    entries.sort();
    Ok(entries)
}

/// The throwaway secrets and keys, on both sides of the signature.
#[derive(Debug)]
pub struct Keys {
    hmac: Vec<SecretString>,
    relay: Vec<platforms::relay::RelaySecret>,
    discord: Vec<platforms::discord::VerifyingKey>,
    discord_signer: ed25519_dalek::SigningKey,
}

impl Keys {
    pub fn throwaway() -> Keys {
        let discord_signer = ed25519_dalek::SigningKey::from_bytes(&DISCORD_SEED);
        Keys {
            hmac: vec![SecretString::from(SECRET.to_owned())],
            // Discord Gateway envelopes need a secret bound to that source.
            relay: [
                SECRET.to_owned(),
                format!(
                    "{}={GATEWAY_SECRET}",
                    platforms::relay::SOURCE_DISCORD_GATEWAY
                ),
            ]
            .into_iter()
            .map(|line| platforms::relay::RelaySecret::parse(&SecretString::from(line)))
            .collect(),
            discord: vec![discord_signer.verifying_key()],
            discord_signer,
        }
    }
}

/// Which edge a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Github,
    Slack,
    Discourse,
    Relay,
    Discord(Endpoint),
}

/// One signed request, ready to replay.
#[derive(Debug)]
pub struct Request {
    /// `<platform folder>/<file>`.
    pub file: String,
    /// The folder it came from (a Gateway object counts for Discord even
    /// though the relay carries it).
    pub platform: Platform,
    edge: Edge,
    body: Vec<u8>,
    /// Lower-case names, as the edge looks them up.
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct Planned {
    pub requests: Vec<Request>,
    pub skipped: Vec<Skipped>,
}

/// What a sidecar (`<name>.request.json`) says about its body file.
#[derive(Debug, serde::Deserialize)]
struct Sidecar {
    body_file: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// Every delivery of the corpus, signed as sent at `now`. Pure.
pub fn plan(corpus: &Corpus, keys: &Keys, now: OffsetDateTime) -> Result<Planned, String> {
    let mut planned = Planned::default();
    for folder in &corpus.folders {
        let folder_name = folder.platform.as_str();
        let mut sidecars = BTreeMap::new();
        for (name, bytes) in folder.files.iter().filter(|(n, _)| is_sidecar(n)) {
            match serde_json::from_slice::<Sidecar>(bytes) {
                Ok(sidecar) if folder.files.iter().any(|(n, _)| *n == sidecar.body_file) => {
                    sidecars.insert(sidecar.body_file, sidecar.headers);
                }
                Ok(_) => planned.skip(folder_name, name, "sidecar of a file that is not here"),
                Err(_) => planned.skip(folder_name, name, "sidecar without body_file"),
            }
        }
        for (name, bytes) in folder.files.iter().filter(|(n, _)| !is_sidecar(n)) {
            let headers = sidecars.get(name).cloned().unwrap_or_default();
            match request(folder.platform, name, bytes, headers, keys, now)? {
                Ok(request) => planned.requests.push(request),
                Err(reason) => planned.skip(folder_name, name, reason),
            }
        }
    }
    Ok(planned)
}

impl Planned {
    fn skip(&mut self, folder: &str, name: &str, reason: &str) {
        self.skipped.push(Skipped {
            file: format!("{folder}/{name}"),
            reason: reason.to_owned(),
        });
    }
}

fn is_sidecar(name: &str) -> bool {
    name.ends_with(".request.json")
}

/// One file as its platform would deliver it, signed at `now`; the inner
/// `Err` says why the file is not a delivery.
fn request(
    platform: Platform,
    name: &str,
    bytes: &[u8],
    sidecar_headers: BTreeMap<String, String>,
    keys: &Keys,
    now: OffsetDateTime,
) -> Result<Result<Request, &'static str>, String> {
    let value = match payload(name, bytes) {
        Ok(value) => value,
        Err(reason) => return Ok(Err(reason)),
    };
    // A sidecar's headers win over what the file name suggests.
    let mut headers: BTreeMap<String, String> = sidecar_headers
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let mut default = |name: &str, value: String| {
        headers.entry(name.to_owned()).or_insert(value);
    };
    let event = name.split('.').next().unwrap_or(name);
    let mut body = bytes.to_vec();
    let edge = match platform {
        Platform::Github => {
            default(platforms::github::HEADER_EVENT, event.to_owned());
            default(platforms::github::HEADER_DELIVERY, format!("replay-{name}"));
            default(platforms::github::HEADER_HOOK_ID, "1".to_owned());
            Edge::Github
        }
        Platform::Discourse => {
            default(platforms::discourse::HEADER_EVENT, event.to_owned());
            Edge::Discourse
        }
        Platform::Slack => {
            if event == platforms::slack::EVENT_SLASH_COMMAND {
                body = slash_command_form(&value).into_bytes();
                default(CONTENT_TYPE, FORM.to_owned());
            }
            Edge::Slack
        }
        Platform::Relay => Edge::Relay,
        Platform::Discord => match event {
            "interaction" => Edge::Discord(Endpoint::Interactions),
            "webhook_event" => Edge::Discord(Endpoint::WebhookEvents),
            "gateway_object" => match gateway_dispatch(name) {
                Some(kind) => {
                    body = relayed(name, kind, value, now).into_bytes();
                    Edge::Relay
                }
                None => return Ok(Err("a Discord Gateway object the relay does not forward")),
            },
            _ => {
                return Ok(Err(
                    "neither a Discord interaction, webhook event nor Gateway object",
                ));
            }
        },
    };
    default(CONTENT_TYPE, JSON.to_owned());
    for (header, value) in signature(edge, &body, keys, now)? {
        headers.insert(header.to_owned(), value);
    }
    Ok(Ok(Request {
        file: format!("{}/{name}", platform.as_str()),
        platform,
        edge,
        body,
        headers,
    }))
}

const CONTENT_TYPE: &str = "content-type";
const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// The file's JSON object, or why it is not a delivery.
fn payload(name: &str, bytes: &[u8]) -> Result<Value, &'static str> {
    if !name.ends_with(".json") {
        return Err("not a .json payload");
    }
    match serde_json::from_slice::<Value>(bytes) {
        // GitHub's documented test vector: a secret, a string and its signature.
        Ok(Value::Object(fields)) if fields.contains_key("secret") => {
            Err("a signature test vector, not a delivery")
        }
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err("not a JSON object"),
        Err(_) => Err("not valid JSON"),
    }
}

/// The dispatch a published Gateway object is the `d` of, by its file name
/// (`gateway_object.<object>.….json`).
fn gateway_dispatch(name: &str) -> Option<&'static str> {
    match name.split('.').nth(1)? {
        "message" => Some("MESSAGE_CREATE"),
        "guild_member" => Some("GUILD_MEMBER_ADD"),
        "reaction" => Some("MESSAGE_REACTION_ADD"),
        _ => None,
    }
}

/// A Gateway object in the envelope the relay sends.
fn relayed(name: &str, kind: &str, data: Value, now: OffsetDateTime) -> String {
    serde_json::json!({
        "version": 1,
        "id": format!("replay-{}", name.trim_end_matches(".json")),
        "source": platforms::relay::SOURCE_DISCORD_GATEWAY,
        "type": kind,
        "occurredAt": canonical_event::rfc3339_utc(now),
        "data": data,
    })
    .to_string()
}

/// Slack posts slash commands as a plain form of these fields.
fn slash_command_form(fields: &Value) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields.as_object().into_iter().flatten() {
        match value {
            Value::String(text) => form.append_pair(name, text),
            other => form.append_pair(name, &other.to_string()),
        };
    }
    form.finish()
}

/// The signature headers the platform would send with `body` at `now`.
fn signature(
    edge: Edge,
    body: &[u8],
    keys: &Keys,
    now: OffsetDateTime,
) -> Result<Vec<(&'static str, String)>, String> {
    let stamp = now.unix_timestamp().to_string();
    let failed = |e: platforms::hmac_sha256::SignatureError| e.to_string();
    Ok(match edge {
        Edge::Github => vec![(
            platforms::github::HEADER_SIGNATURE_256,
            platforms::github::sign(SECRET, body).map_err(failed)?,
        )],
        Edge::Discourse => vec![(
            platforms::discourse::HEADER_SIGNATURE,
            platforms::discourse::sign(SECRET, body).map_err(failed)?,
        )],
        Edge::Slack => vec![
            (
                platforms::slack::HEADER_SIGNATURE,
                platforms::slack::sign(SECRET, &stamp, body).map_err(failed)?,
            ),
            (platforms::slack::HEADER_TIMESTAMP, stamp),
        ],
        Edge::Relay => {
            let source = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("source")?.as_str().map(str::to_owned));
            let secret = if source.as_deref() == Some(platforms::relay::SOURCE_DISCORD_GATEWAY) {
                GATEWAY_SECRET
            } else {
                SECRET
            };
            vec![
                (
                    platforms::relay::HEADER_SIGNATURE,
                    platforms::relay::sign(secret, &stamp, body).map_err(failed)?,
                ),
                (platforms::relay::HEADER_TIMESTAMP, stamp),
            ]
        }
        Edge::Discord(_) => vec![
            (
                platforms::discord::HEADER_SIGNATURE,
                platforms::discord::sign(&keys.discord_signer, &stamp, body),
            ),
            (platforms::discord::HEADER_TIMESTAMP, stamp),
        ],
    })
}

/// What a round needs besides the requests, loaded once (as a cold start does).
#[derive(Debug)]
pub struct Context {
    pub keys: Keys,
    /// When the requests "arrive": the time they were signed at.
    pub received_at: OffsetDateTime,
    pub models: signal::Models,
    pub facts: signal::Facts,
}

/// What one pass over the requests produced. Counters, so the timed loop
/// allocates nothing of its own but a drop rule's first entry and a line per
/// refusal or failure (none in a clean corpus).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub events: u64,
    /// Handshakes the edge answers itself (pings, URL verification).
    pub answered: u64,
    /// Events by category, in `Category::ALL` order.
    pub categories: [u64; Category::ALL.len()],
    /// Events by the folder they came from, in `Platform::ALL` order.
    pub platforms: [u64; Platform::ALL.len()],
    /// Deliveries an adapter dropped on purpose, by rule.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Request index and the edge's refusal code.
    pub refused: Vec<(usize, &'static str)>,
    /// Request index and why it cannot become an event (a dead letter).
    pub failed: Vec<(usize, String)>,
}

/// Replays every request once: accept → decode → adapt → assess.
pub fn round(requests: &[Request], context: &Context) -> Tally {
    let mut tally = Tally::default();
    for (index, request) in requests.iter().enumerate() {
        let message = match accept(request, context) {
            Ok(Accepted::Enqueue { message, .. }) => message,
            Ok(Accepted::Answer(_)) => {
                tally.answered += 1;
                continue;
            }
            Err(rejection) => {
                tally.refused.push((index, rejection.code()));
                continue;
            }
        };
        let adapted = Envelope::decode(&message.body)
            .map_err(|e| e.to_string())
            .and_then(|envelope| platforms::adapt(&envelope).map_err(|e| e.to_string()));
        match adapted {
            Ok(Adapted::Events(drafts)) => {
                for draft in &drafts {
                    let assessment =
                        black_box(signal::assess(draft, &context.facts, &context.models));
                    tally.events += 1;
                    tally.platforms[position(&Platform::ALL, request.platform)] += 1;
                    if let Some(classification) = assessment.classification {
                        tally.categories[position(&Category::ALL, classification.category)] += 1;
                    }
                }
            }
            Ok(Adapted::Dropped { rule, .. }) => *tally.dropped.entry(rule).or_default() += 1,
            Err(error) => tally.failed.push((index, error)),
        }
    }
    tally
}

fn position<T: PartialEq>(all: &[T], item: T) -> usize {
    all.iter().position(|x| *x == item).unwrap_or_default()
}

fn accept(request: &Request, context: &Context) -> Result<Accepted, platforms::Rejection> {
    let lookup = |name: &str| request.headers.get(name).map(String::as_str);
    let delivery = platforms::Delivery {
        header: lookup,
        body: &request.body,
        received_at: context.received_at,
    };
    let keys = &context.keys;
    match request.edge {
        Edge::Github => platforms::github::accept(&keys.hmac, &delivery),
        Edge::Slack => platforms::slack::accept(&keys.hmac, &delivery),
        Edge::Discourse => platforms::discourse::accept(&keys.hmac, &delivery),
        Edge::Relay => platforms::relay::accept(&keys.relay, &delivery),
        Edge::Discord(endpoint) => platforms::discord::accept(&keys.discord, endpoint, &delivery),
    }
}

/// The outcome of the rounds and their CPU time.
#[derive(Debug)]
pub struct Measured {
    pub rounds: u32,
    pub tally: Tally,
    /// CPU nanoseconds per event, one per round (none when nothing became an event).
    pub ns_per_event: Vec<u64>,
}

/// One untimed warm-up pass (caches, the relay's compiled schema), then
/// `rounds` timed passes; every pass must produce the same tally.
pub fn measure(requests: &[Request], context: &Context, rounds: u32) -> Result<Measured, String> {
    let tally = round(requests, context);
    let mut ns_per_event = Vec::new();
    for _ in 0..rounds {
        let start = clock::now();
        let again = round(requests, context);
        let spent = clock::now().saturating_sub(start);
        if again != tally {
            return Err(
                "two rounds over the same deliveries differ: replay is not deterministic".into(),
            );
        }
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        ns_per_event.extend(nanos.checked_div(tally.events));
    }
    Ok(Measured {
        rounds,
        tally,
        ns_per_event,
    })
}

/// The process's CPU time where the platform has a clock for it.
#[cfg(unix)]
mod clock {
    pub const NAME: &str = "process-cpu";

    pub fn now() -> std::time::Duration {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        std::time::Duration::new(
            u64::try_from(t.tv_sec).unwrap_or_default(),
            u32::try_from(t.tv_nsec).unwrap_or_default(),
        )
    }
}

/// Elsewhere wall time, on this one thread (the report says `"clock": "wall"`).
#[cfg(not(unix))]
mod clock {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    pub const NAME: &str = "wall";

    pub fn now() -> Duration {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed()
    }
}

/// The median, the mean of the middle two for an even count.
pub fn median(values: &[u64]) -> Option<u64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some(sorted[mid - 1].midpoint(sorted[mid])),
    }
}

/// What `replay` prints; `--json` prints exactly this object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub dir: String,
    pub rounds: u32,
    /// Deliveries replayed per round.
    pub deliveries: usize,
    /// Events produced per round.
    pub events: u64,
    pub answered: u64,
    pub refused: u64,
    pub dropped: u64,
    /// Accepted deliveries no adapter could read (they would be dead letters).
    pub failed: u64,
    /// Events by category (every category, zeros included).
    pub categories: BTreeMap<&'static str, u64>,
    /// Events by platform folder (the folders present).
    pub platforms: BTreeMap<&'static str, u64>,
    pub dropped_by_rule: BTreeMap<&'static str, u64>,
    pub refusals: Vec<Refusal>,
    pub failures: Vec<Failure>,
    pub skipped: Vec<Skipped>,
    pub unknown_folders: Vec<String>,
    /// `process-cpu` (CLOCK_PROCESS_CPUTIME_ID) or `wall`.
    pub clock: &'static str,
    /// Median over rounds; null when nothing became an event.
    pub ns_per_event_median: Option<u64>,
    pub ns_per_event_rounds: Vec<u64>,
}

#[derive(Debug, Serialize)]
pub struct Refusal {
    pub file: String,
    pub code: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    pub file: String,
    pub error: String,
}

impl Report {
    pub fn new(dir: &Path, corpus: Corpus, planned: Planned, measured: &Measured) -> Report {
        let tally = &measured.tally;
        let file = |index: usize| {
            planned
                .requests
                .get(index)
                .map(|r| r.file.clone())
                .unwrap_or_default()
        };
        let mut skipped = corpus.skipped;
        skipped.extend(planned.skipped);
        Report {
            dir: dir.display().to_string(),
            rounds: measured.rounds,
            deliveries: planned.requests.len(),
            events: tally.events,
            answered: tally.answered,
            refused: tally.refused.len() as u64,
            dropped: tally.dropped.values().sum(),
            failed: tally.failed.len() as u64,
            categories: Category::ALL
                .into_iter()
                .zip(tally.categories)
                .map(|(c, n)| (c.as_str(), n))
                .collect(),
            platforms: Platform::ALL
                .into_iter()
                .zip(tally.platforms)
                .filter(|(p, _)| corpus.folders.iter().any(|f| f.platform == *p))
                .map(|(p, n)| (p.as_str(), n))
                .collect(),
            dropped_by_rule: tally.dropped.clone(),
            refusals: tally
                .refused
                .iter()
                .map(|(index, code)| Refusal {
                    file: file(*index),
                    code,
                })
                .collect(),
            failures: tally
                .failed
                .iter()
                .map(|(index, error)| Failure {
                    file: file(*index),
                    error: error.clone(),
                })
                .collect(),
            skipped,
            unknown_folders: corpus.unknown_folders,
            clock: clock::NAME,
            ns_per_event_median: median(&measured.ns_per_event),
            ns_per_event_rounds: measured.ns_per_event.clone(),
        }
    }

    /// The report for a person.
    pub fn text(&self) -> String {
        let list = |pairs: &mut dyn Iterator<Item = (String, u64)>| {
            pairs
                .filter(|(_, n)| *n > 0)
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut out = format!(
            "{}: {} deliveries, {} timed rounds after a warm-up\n",
            self.dir, self.deliveries, self.rounds
        );
        let platforms = list(&mut self.platforms.iter().map(|(p, n)| (p.to_string(), *n)));
        out.push_str(&format!("  events    {:>5}  {platforms}\n", self.events));
        out.push_str(&format!(
            "  answered  {:>5}  handshakes (pings, URL verification)\n",
            self.answered
        ));
        let rules = list(
            &mut self
                .dropped_by_rule
                .iter()
                .map(|(r, n)| (r.to_string(), *n)),
        );
        out.push_str(&format!("  dropped   {:>5}  {rules}\n", self.dropped));
        let refusals: Vec<String> = self
            .refusals
            .iter()
            .map(|r| format!("{} ({})", r.file, r.code))
            .collect();
        out.push_str(&format!(
            "  refused   {:>5}  {}\n",
            self.refused,
            refusals.join(", ")
        ));
        out.push_str(&format!("  failed    {:>5}\n", self.failed));
        for failure in &self.failures {
            out.push_str(&format!("    {}: {}\n", failure.file, failure.error));
        }
        out.push_str("categories\n");
        for (category, count) in &self.categories {
            out.push_str(&format!("  {category:<16} {count:>5}\n"));
        }
        for skipped in &self.skipped {
            out.push_str(&format!("skipped {}: {}\n", skipped.file, skipped.reason));
        }
        for folder in &self.unknown_folders {
            out.push_str(&format!("skipped folder {folder}/: not a platform\n"));
        }
        let clock = if self.clock == "wall" {
            "wall time, one thread"
        } else {
            "CPU time of the process"
        };
        match self.ns_per_event_median {
            Some(ns) => out.push_str(&format!(
                "{:.1} µs per event ({clock}), median of {} rounds: {}\n",
                ns as f64 / 1000.0,
                self.ns_per_event_rounds.len(),
                self.ns_per_event_rounds
                    .iter()
                    .map(|ns| format!("{:.1}", *ns as f64 / 1000.0))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => out.push_str("no events: no time per event\n"),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

    use super::*;

    fn payloads() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/payloads")
    }

    fn corpus(platform: Platform, files: &[(&str, &[u8])]) -> Corpus {
        Corpus {
            folders: vec![Folder {
                platform,
                files: files
                    .iter()
                    .map(|(name, bytes)| (name.to_string(), bytes.to_vec()))
                    .collect(),
            }],
            ..Corpus::default()
        }
    }

    fn context() -> Context {
        Context {
            keys: Keys::throwaway(),
            received_at: OffsetDateTime::now_utc(),
            models: signal::Models::shipped().unwrap(),
            facts: signal::Facts::default(),
        }
    }

    fn replay(corpus: &Corpus) -> (Planned, Tally) {
        let context = context();
        let planned = plan(corpus, &context.keys, context.received_at).unwrap();
        let tally = round(&planned.requests, &context);
        (planned, tally)
    }

    #[test]
    fn the_projects_payloads_all_verify_and_every_platform_yields_events() {
        let corpus = read(&payloads()).unwrap();
        assert!(corpus.unknown_folders.is_empty() && corpus.skipped.is_empty());
        let (planned, tally) = replay(&corpus);
        assert_eq!(planned.skipped, []);
        // Only the relay's deliberately invalid envelope is refused: every
        // signature made here verifies, the slash command's form included.
        let refused: Vec<&str> = tally
            .refused
            .iter()
            .map(|(i, _)| planned.requests[*i].file.as_str())
            .collect();
        assert_eq!(refused, ["relay/invalid.missing_actor.json"]);
        assert_eq!(tally.failed, []);
        assert!(tally.answered >= 5, "the five handshakes: {tally:?}");
        for platform in Platform::ALL {
            let events = tally.platforms[position(&Platform::ALL, platform)];
            assert!(events > 0, "no events from {platform:?}: {tally:?}");
        }
        assert_eq!(tally.categories.iter().sum::<u64>(), tally.events);
        assert_eq!(tally.platforms.iter().sum::<u64>(), tally.events);
    }

    #[test]
    fn a_sidecar_lends_its_headers_to_its_body_file() {
        let sidecar = br#"{"headers": {"X-Discourse-Event": "ping"}, "body_file": "hello.json"}"#;
        let with = corpus(
            Platform::Discourse,
            &[
                ("hello.json", br#"{"ping":"OK"}"#),
                ("hello.request.json", sidecar),
            ],
        );
        let (planned, tally) = replay(&with);
        assert_eq!(planned.requests.len(), 1);
        assert_eq!(tally.answered, 1, "{tally:?}");
        // Without it the file name says `hello`, which is not this body's event.
        let without = corpus(Platform::Discourse, &[("hello.json", br#"{"ping":"OK"}"#)]);
        assert_eq!(replay(&without).1.refused.len(), 1);
    }

    #[test]
    fn files_that_are_not_deliveries_are_skipped_with_their_names() {
        let vector = br#"{"secret": "It's a Secret to Everybody", "payload": "Hello, World!"}"#;
        let mut files = corpus(
            Platform::Github,
            &[
                ("signature_test_vector.json", vector),
                ("notes.txt", b"hello"),
                ("list.json", b"[1, 2]"),
                ("broken.json", b"{"),
                ("orphan.request.json", br#"{"body_file": "gone.json"}"#),
            ],
        );
        files.folders.extend(
            corpus(
                Platform::Discord,
                &[
                    ("gateway_object.channel.docs.json", b"{}"),
                    ("audit_log.json", b"{}"),
                ],
            )
            .folders,
        );
        let (planned, _) = replay(&files);
        assert!(planned.requests.is_empty());
        let skipped: Vec<(&str, &str)> = planned
            .skipped
            .iter()
            .map(|s| (s.file.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (
                    "github/orphan.request.json",
                    "sidecar of a file that is not here"
                ),
                (
                    "github/signature_test_vector.json",
                    "a signature test vector, not a delivery"
                ),
                ("github/notes.txt", "not a .json payload"),
                ("github/list.json", "not a JSON object"),
                ("github/broken.json", "not valid JSON"),
                (
                    "discord/gateway_object.channel.docs.json",
                    "a Discord Gateway object the relay does not forward"
                ),
                (
                    "discord/audit_log.json",
                    "neither a Discord interaction, webhook event nor Gateway object"
                ),
            ]
        );
    }

    #[test]
    fn a_gateway_object_arrives_through_the_relay_and_counts_for_discord() {
        let relayed: Value = serde_json::from_slice(
            &std::fs::read(payloads().join("relay/discord_gateway.message_create.json")).unwrap(),
        )
        .unwrap();
        let object = relayed["data"].to_string();
        let (planned, tally) = replay(&corpus(
            Platform::Discord,
            &[("gateway_object.message.json", object.as_bytes())],
        ));
        assert_eq!(planned.requests[0].edge, Edge::Relay);
        assert_eq!(tally.events, 1, "{tally:?}");
        assert_eq!(
            tally.platforms[position(&Platform::ALL, Platform::Discord)],
            1
        );
    }

    #[test]
    fn unknown_folders_and_stray_files_are_reported_not_fatal() {
        let dir = std::env::temp_dir().join(format!("replay-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("myspace")).unwrap();
        std::fs::create_dir_all(dir.join("github")).unwrap();
        std::fs::write(dir.join("myspace/post.json"), "{}").unwrap();
        std::fs::write(dir.join("README.md"), "notes").unwrap();
        std::fs::copy(
            payloads().join("github/star.created.json"),
            dir.join("github/star.created.json"),
        )
        .unwrap();
        let corpus = read(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let corpus = corpus.unwrap();
        assert_eq!(corpus.unknown_folders, ["myspace"]);
        assert_eq!(corpus.skipped[0].file, "README.md");
        assert_eq!(replay(&corpus).1.events, 1);
    }

    #[test]
    fn rounds_agree_and_the_median_is_the_middle_round() {
        let corpus = read(&payloads()).unwrap();
        let context = context();
        let planned = plan(&corpus, &context.keys, context.received_at).unwrap();
        let measured = measure(&planned.requests, &context, 3).unwrap();
        assert_eq!(measured.ns_per_event.len(), 3);
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[4, 1, 3, 2]), Some(2));
        assert_eq!(median(&[]), None);
    }
}
