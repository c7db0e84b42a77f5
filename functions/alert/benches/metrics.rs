//! What one alert sweep costs in CPU once the inputs are read: the
//! community metrics over a community of 10,000 members with 90 days of
//! activity, 7 days of counters and 500 resolved tickets.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;

use alert::metrics::{ContributionRule, MetricsInput, compute};
use community_aws::community::{MemberSnapshot, ResolvedTicket};
use criterion::{Criterion, criterion_group, criterion_main};

fn community(members: usize, now: time::OffsetDateTime) -> Vec<MemberSnapshot> {
    let types = [
        "message_posted",
        "reply_posted",
        "issue_opened",
        "pull_request_merged",
        "reaction_added",
    ];
    (0..members)
        .map(|i| {
            let activity = (0..(i % 12))
                .map(|k| {
                    let day = canonical_event::day_of(
                        now - time::Duration::days(((i + k * 7) % 90) as i64),
                    );
                    (
                        day,
                        types[(i + k) % types.len()].to_owned(),
                        1 + (k as i64 % 3),
                    )
                })
                .collect();
            MemberSnapshot {
                member_id: format!("m{i}"),
                is_bot: i % 97 == 0,
                merged_into: None,
                first_seen_at: Some(now - time::Duration::days((i % 120) as i64)),
                contributions: (i % 5) as i64,
                activity,
            }
        })
        .collect()
}

fn sweep(c: &mut Criterion) {
    let now = time::macros::datetime!(2026-11-27 12:00 UTC);
    let members = community(10_000, now);
    let counters: BTreeMap<String, BTreeMap<String, i64>> = alert::metrics::last_days(now, 7)
        .into_iter()
        .map(|day| {
            let values = [
                "bug_report",
                "feature_request",
                "question",
                "contribution",
                "chat",
                "noise",
            ]
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("category:{c}"), 10 * (i as i64 + 1)))
            .collect();
            (day, values)
        })
        .collect();
    let resolved: Vec<ResolvedTicket> = (0..500)
        .map(|i| ResolvedTicket {
            first_report_at: now - time::Duration::hours(24 + i),
            resolved_at: now - time::Duration::hours(i),
        })
        .collect();
    let rule = ContributionRule::shipped().unwrap();
    let dead_letters = BTreeMap::new();
    c.bench_function("community_metrics_10k_members", |b| {
        b.iter(|| {
            compute(black_box(&MetricsInput {
                now,
                members: &members,
                counters: &counters,
                resolved_tickets: &resolved,
                oldest_pending_review: None,
                dead_letters: &dead_letters,
                contribution: &rule,
                cohort_days: 90,
            }))
        })
    });
}

criterion_group!(benches, sweep);
criterion_main!(benches);
