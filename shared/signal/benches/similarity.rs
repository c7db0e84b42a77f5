//! What collapsing a report onto an open ticket costs route: one report's
//! title against the open tickets of its category (route compares with at
//! most 200).
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn titles(n: usize) -> Vec<String> {
    let subjects = [
        "CSV export",
        "login page",
        "dashboard",
        "webhook retries",
        "search",
        "dark mode",
        "API keys",
        "billing page",
    ];
    let problems = [
        "crashes on empty columns",
        "times out after 30 s",
        "shows the wrong totals",
        "loses the session",
        "ignores accents",
        "is unreadable on mobile",
    ];
    (0..n)
        .map(|i| {
            format!(
                "{} {} (report {i})",
                subjects[i % subjects.len()],
                problems[(i / subjects.len()) % problems.len()]
            )
        })
        .collect()
}

fn similarity(c: &mut Criterion) {
    let open = titles(200);
    let report = "The CSV export crashes for me too when a column is empty";
    c.bench_function("best_match_against_200_open_tickets", |b| {
        b.iter(|| {
            signal::similarity::best_match(black_box(report), open.iter().map(String::as_str), 0.6)
        })
    });
    c.bench_function("title_terms_one_title", |b| {
        b.iter(|| signal::similarity::title_terms(black_box(report)))
    });
}

criterion_group!(benches, similarity);
criterion_main!(benches);
