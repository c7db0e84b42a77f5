//! CPU per event for every platform's edge and adapter, over the published
//! payloads in `../shared/corpus/<platform>` plus the project's own
//! `events/payloads/<platform>` (the corpus alone has no Discourse events
//! beyond a ping, and no relay envelopes):
//!
//! - `edge`: `platforms::<platform>::accept` — signature verification on the
//!   raw bytes (+ replay window, + JSON Schema validation for the relay),
//!   envelope and queue message, as ingest does per request;
//! - `normalize`: envelope decode + adapter + `rules@1` scoring, as normalize
//!   does per record (DynamoDB/SQS I/O excluded);
//! - `floor`: the platform's signature primitive (HMAC-SHA256, or Ed25519
//!   `verify_strict` for Discord) + one full JSON parse of the same bytes.
//!
//! Every payload is signed outside the timed loop. Throughput is in events.
//! Run: `cargo bench -p platforms --bench platforms` (or `make bench`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, Mac};
use platforms::{Accepted, Delivery};
use secrecy::SecretString;
use sha2::Sha256;

const SECRET: &str = "bench-secret";
const GATEWAY_SECRET: &str = "bench-gateway-secret";

struct Request {
    path: &'static str,
    body: Vec<u8>,
    headers: HashMap<String, String>,
}

fn dirs(platform: &str) -> Vec<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../../shared/corpus").join(platform),
        manifest.join("../../events/payloads").join(platform),
    ]
    .into_iter()
    .filter(|d| d.is_dir())
    .collect()
}

fn files(platform: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in dirs(platform) {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".json") && !name.ends_with(".request.json") {
                out.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn header_map(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn discord_key() -> SigningKey {
    SigningKey::from_bytes(&[1u8; 32])
}

/// Every request of a platform, signed at `now`.
fn requests(platform: &str, now: i64) -> Vec<Request> {
    let ts = now.to_string();
    let json = ("content-type", "application/json".to_owned());
    let mut out = Vec::new();
    match platform {
        "slack" => {
            for (_, body) in files("slack") {
                let sig = platforms::slack::sign(SECRET, &ts, &body).unwrap();
                out.push(Request {
                    path: "slack",
                    headers: header_map(&[
                        json.clone(),
                        ("x-slack-signature", sig),
                        ("x-slack-request-timestamp", ts.clone()),
                    ]),
                    body,
                });
            }
        }
        "discord" => {
            for (name, body) in files("discord") {
                let path = if name.starts_with("interaction") {
                    "discord"
                } else if name.starts_with("webhook_event") {
                    "discord/events"
                } else {
                    continue; // Gateway objects arrive through the relay.
                };
                let sig = platforms::discord::sign(&discord_key(), &ts, &body);
                out.push(Request {
                    path,
                    headers: header_map(&[
                        json.clone(),
                        ("x-signature-ed25519", sig),
                        ("x-signature-timestamp", ts.clone()),
                    ]),
                    body,
                });
            }
        }
        "discourse" => {
            for (name, body) in files("discourse") {
                let event = match name.split('.').next().unwrap() {
                    "post_created" => "post_created",
                    other => other,
                }
                .to_owned();
                let sig = platforms::discourse::sign(SECRET, &body).unwrap();
                out.push(Request {
                    path: "discourse",
                    headers: header_map(&[
                        json.clone(),
                        ("x-discourse-event-signature", sig),
                        ("x-discourse-event", event),
                    ]),
                    body,
                });
            }
        }
        "relay" => {
            let mut bodies: Vec<Vec<u8>> = files("relay")
                .into_iter()
                .filter(|(name, _)| !name.starts_with("invalid"))
                .map(|(_, b)| b)
                .collect();
            // The published Discord Gateway objects, wrapped as the relay sends them.
            for (name, data) in files("discord") {
                let kind = match name.as_str() {
                    "gateway_object.message.docs.json" => "MESSAGE_CREATE",
                    "gateway_object.guild_member.docs.json" => "GUILD_MEMBER_ADD",
                    _ => continue,
                };
                let data: serde_json::Value = serde_json::from_slice(&data).unwrap();
                bodies.push(
                    serde_json::json!({"version": 1, "id": format!("bench-{kind}"), "source": "discord-gateway",
                        "type": kind, "occurredAt": "2026-11-23T10:00:00Z", "data": data})
                    .to_string()
                    .into_bytes(),
                );
            }
            for body in bodies {
                // Discord Gateway envelopes need the secret bound to that source.
                let source = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["source"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let secret = if source == "discord-gateway" {
                    GATEWAY_SECRET
                } else {
                    SECRET
                };
                let sig = platforms::relay::sign(secret, &ts, &body).unwrap();
                out.push(Request {
                    path: "relay",
                    headers: header_map(&[
                        json.clone(),
                        ("x-signature", sig),
                        ("x-signature-timestamp", ts.clone()),
                    ]),
                    body,
                });
            }
        }
        _ => unreachable!(),
    }
    out
}

fn accept(
    request: &Request,
    secrets: &[SecretString],
    relay_secrets: &[platforms::relay::RelaySecret],
    keys: &[platforms::discord::VerifyingKey],
    received_at: time::OffsetDateTime,
) -> Result<Accepted, platforms::Rejection> {
    let lookup = |name: &str| request.headers.get(name).map(String::as_str);
    let delivery = Delivery {
        header: lookup,
        body: &request.body,
        received_at,
    };
    match request.path {
        "slack" => platforms::slack::accept(secrets, &delivery),
        "discourse" => platforms::discourse::accept(secrets, &delivery),
        "relay" => platforms::relay::accept(relay_secrets, &delivery),
        "discord" => {
            platforms::discord::accept(keys, platforms::discord::Endpoint::Interactions, &delivery)
        }
        _ => {
            platforms::discord::accept(keys, platforms::discord::Endpoint::WebhookEvents, &delivery)
        }
    }
}

fn benches(c: &mut Criterion) {
    let received_at = time::OffsetDateTime::now_utc();
    let secrets = vec![SecretString::from(SECRET.to_owned())];
    let keys = vec![discord_key().verifying_key()];
    let relay_secrets: Vec<platforms::relay::RelaySecret> = [
        SECRET.to_owned(),
        format!("discord-gateway={GATEWAY_SECRET}"),
    ]
    .into_iter()
    .map(|line| platforms::relay::RelaySecret::parse(&SecretString::from(line)))
    .collect();
    for platform in ["slack", "discord", "discourse", "relay"] {
        let requests = requests(platform, received_at.unix_timestamp());
        let messages: Vec<String> = requests
            .iter()
            .filter_map(
                |r| match accept(r, &secrets, &relay_secrets, &keys, received_at) {
                    Ok(Accepted::Enqueue { message, .. }) => Some(message.body),
                    Ok(Accepted::Answer(_)) => None,
                    // Refused at the edge (e.g. the corpus's blanked SDK samples): still
                    // timed in `edge`, nothing to normalize.
                    Err(_) => None,
                },
            )
            .collect();
        eprintln!(
            "{platform}: {} requests ({} enqueued)",
            requests.len(),
            messages.len()
        );
        // Signed here, outside the timed loop (the floor only verifies).
        let ed25519: Vec<ed25519_dalek::Signature> = requests
            .iter()
            .map(|r| discord_key().sign(&r.body))
            .collect();
        let mut group = c.benchmark_group(format!("{platform}_edge"));
        group.throughput(Throughput::Elements(requests.len() as u64));
        group.bench_function("edge_verify_envelope_message", |b| {
            b.iter(|| {
                for r in &requests {
                    black_box(
                        accept(black_box(r), &secrets, &relay_secrets, &keys, received_at).is_ok(),
                    );
                }
            })
        });
        group.bench_function("floor_signature_plus_json_parse", |b| {
            b.iter(|| {
                for (r, sig) in requests.iter().zip(&ed25519) {
                    if platform == "discord" {
                        black_box(keys[0].verify_strict(black_box(&r.body), sig).is_ok());
                    } else {
                        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                        mac.update(black_box(&r.body));
                        black_box(mac.finalize());
                    }
                    black_box(serde_json::from_slice::<serde::de::IgnoredAny>(&r.body).is_ok());
                }
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("{platform}_normalize"));
        group.throughput(Throughput::Elements(messages.len().max(1) as u64));
        // Score + moderation as normalize runs them (context facts are lookups, not CPU).
        let models = signal::Models::shipped().unwrap();
        let facts = signal::Facts::default();
        group.bench_function("normalize_decode_adapt_score", |b| {
            b.iter(|| {
                for m in &messages {
                    let envelope = platforms::Envelope::decode(black_box(m)).unwrap();
                    if let Ok(platforms::Adapted::Events(drafts)) = platforms::adapt(&envelope) {
                        for draft in &drafts {
                            black_box(signal::assess(draft, &facts, &models));
                        }
                    }
                }
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = platforms;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(platforms);
