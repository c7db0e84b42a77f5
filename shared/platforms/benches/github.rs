//! CPU per GitHub event, over every payload of `../shared/corpus/github`
//! (falling back to `events/payloads/github` when the corpus is absent):
//!
//! - `ingest`: verify the signature + build the envelope and queue message
//!   (`platforms::github::accept`), as the ingest Lambda does per request;
//! - `normalize`: decode the envelope + adapt + score, as normalize does per
//!   record (identity and ledger I/O excluded);
//! - `floor`: HMAC-SHA256 + a full JSON parse of the same bytes, the least
//!   any verifier-and-parser must do.
//!
//! Throughput is in elements (events), so criterion prints events/s; the
//! per-event time is its inverse. Run: `cargo bench -p platforms --bench github`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use sha2::Sha256;

const SECRET: &str = "bench-secret";

struct Delivery {
    event: String,
    body: Vec<u8>,
    headers: HashMap<&'static str, String>,
}

fn corpus() -> Vec<Delivery> {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = manifest.join("../../../shared/corpus/github");
    let dir = if shared.is_dir() {
        shared
    } else {
        manifest.join("../../events/payloads/github")
    };
    let mut deliveries = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name == "signature_test_vector.json" {
            continue;
        }
        let event = name.split('.').next().unwrap().to_owned();
        let body = std::fs::read(&path).unwrap();
        // Signing happens here, outside the timed part.
        let headers = HashMap::from([
            (
                "x-hub-signature-256",
                platforms::github::sign(SECRET, &body).unwrap(),
            ),
            ("x-github-event", event.clone()),
            ("x-github-delivery", format!("d-{}", deliveries.len())),
            ("x-github-hook-id", "1".to_owned()),
            ("content-type", "application/json".to_owned()),
        ]);
        deliveries.push(Delivery {
            event,
            body,
            headers,
        });
    }
    eprintln!(
        "benchmarking {} GitHub payloads from {}",
        deliveries.len(),
        dir.display()
    );
    deliveries
}

fn benches(c: &mut Criterion) {
    let deliveries = corpus();
    let secrets = vec![SecretString::from(SECRET.to_owned())];
    let received_at = time::OffsetDateTime::now_utc();
    let messages: Vec<String> = deliveries
        .iter()
        .filter_map(|d| {
            let lookup = |name: &str| d.headers.get(name).map(String::as_str);
            match platforms::github::accept(
                &secrets,
                &platforms::github::Delivery {
                    header: lookup,
                    body: &d.body,
                    received_at,
                },
            ) {
                Ok(platforms::Accepted::Enqueue { message: m, .. }) => Some(m.body),
                _ => None,
            }
        })
        .collect();

    let mut group = c.benchmark_group("github_corpus");
    group.throughput(Throughput::Elements(deliveries.len() as u64));
    group.bench_function("ingest_verify_envelope_message", |b| {
        b.iter(|| {
            for d in &deliveries {
                let lookup = |name: &str| d.headers.get(name).map(String::as_str);
                let accepted = platforms::github::accept(
                    &secrets,
                    &platforms::github::Delivery {
                        header: lookup,
                        body: black_box(&d.body),
                        received_at,
                    },
                );
                black_box(accepted.is_ok());
            }
        })
    });
    group.bench_function("floor_hmac_sha256_plus_json_parse", |b| {
        b.iter(|| {
            for d in &deliveries {
                let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(black_box(&d.body));
                black_box(mac.finalize());
                black_box(serde_json::from_slice::<serde::de::IgnoredAny>(&d.body).is_ok());
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("github_corpus_normalize");
    group.throughput(Throughput::Elements(messages.len() as u64));
    // Score + moderation as normalize runs them (context facts are lookups, not CPU).
    let models = signal::Models::shipped().unwrap();
    let facts = signal::Facts::default();
    group.bench_function("normalize_decode_adapt_score", |b| {
        b.iter(|| {
            for m in &messages {
                let envelope = platforms::Envelope::decode(black_box(m)).unwrap();
                if let Ok(platforms::Adapted::Events(drafts)) = platforms::github::adapt(&envelope)
                {
                    for draft in &drafts {
                        black_box(signal::assess(draft, &facts, &models));
                    }
                }
            }
        })
    });
    group.finish();
    black_box(deliveries.iter().map(|d| d.event.len()).sum::<usize>());
}

criterion_group! {
    name = github;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = benches
}
criterion_main!(github);
