//! `communityctl metrics`: the community and pipeline metrics now, measured
//! by the alert function's own code (`Alert::measure`) against the stack's
//! tables and dead-letter queues: the numbers `GET /metrics` answers and the
//! alert thresholds are compared with.

use alert::metrics::{CommunityMetrics, DEFAULT_COHORT_DAYS, SignalShare};
use time::OffsetDateTime;

/// The dead-letter queues, by the name suffixes template.yaml gives them
/// after `<stack>-` (the alert function's DEAD_LETTER_QUEUE_URLS).
const DEAD_LETTER_QUEUES: [&str; 2] = ["raw-events-dlq.fifo", "normalized-events-dlq.fifo"];

#[derive(Debug, clap::Args)]
pub struct MetricsArgs {
    /// `{"measuredAt": …, "metrics": …}`, exactly as `GET /metrics` answers.
    #[arg(long)]
    json: bool,
    /// The SSM parameter with the deployed lifecycle configuration (the
    /// stack's LifecycleConfigParam), when it replaces the shipped one: its
    /// contribution types decide who is a code contributor.
    #[arg(long, env = "LIFECYCLE_CONFIG_PARAM")]
    lifecycle_config_param: Option<String>,
}

/// The alert configuration of a stack named `stack`, as template.yaml names
/// its resources. Only what measuring reads: no thresholds, no notifiers.
pub fn config(
    stack: &str,
    dead_letter_queue_urls: Vec<String>,
    lifecycle_config_param: Option<String>,
) -> alert::Config {
    alert::Config {
        counters_table: format!("{stack}-counters"),
        members_table: format!("{stack}-members"),
        outbox_table: format!("{stack}-outbox"),
        reviews_table: format!("{stack}-reviews"),
        dead_letter_queue_urls,
        slack_webhook_url_param: None,
        alert_topic_arn: None,
        thresholds: None,
        lifecycle_config_param: lifecycle_config_param.filter(|p| !p.trim().is_empty()),
        cohort_days: DEFAULT_COHORT_DAYS,
        metrics_token_param: None,
    }
}

pub async fn run(
    clients: &community_aws::Clients,
    stack: &str,
    args: MetricsArgs,
    now: OffsetDateTime,
) -> Result<(), String> {
    let mut urls = Vec::new();
    for queue in DEAD_LETTER_QUEUES {
        urls.push(crate::dlq::queue_url(&clients.sqs, &format!("{stack}-{queue}")).await?);
    }
    let config = config(stack, urls, args.lifecycle_config_param);
    // One instant for the whole report (and `measuredAt`).
    let alert = alert::Alert::from_clients(&config, clients, std::sync::Arc::new(move || now))
        .await
        .map_err(|e| e.to_string())?;
    let metrics = alert.measure(now).await.map_err(|e| e.to_string())?;
    if args.json {
        println!("{}", document(now, &metrics));
    } else {
        print!("{}", table(&metrics));
    }
    Ok(())
}

/// The body `GET /metrics` answers (alert's http.rs).
pub fn document(measured_at: OffsetDateTime, metrics: &CommunityMetrics) -> serde_json::Value {
    serde_json::json!({
        "measuredAt": canonical_event::rfc3339_utc(measured_at),
        "metrics": metrics,
    })
}

/// What stands for a value that is not known (an empty cohort, no resolved
/// ticket yet).
const NONE: &str = "—";

/// A duration in its two largest units: `45 s`, `5 min`, `3 h 20 min`,
/// `1 d 6 h`. Negative durations (clock skew) read as zero.
pub fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// A 0..=1 ratio as a whole percentage.
pub fn percent(ratio: f64) -> String {
    format!("{:.0} %", ratio * 100.0)
}

/// `part` of `whole` as a rate with its counts, e.g. `25 % (1 of 4 in the
/// cohort)`; `—` when the rate is undefined.
fn rate(rate: Option<f64>, part: i64, whole: i64, of: &str) -> String {
    rate.map_or_else(
        || NONE.to_owned(),
        |r| format!("{} ({part} of {whole} {of})", percent(r)),
    )
}

/// One line per metric: a human label and the value with its unit.
pub fn rows(m: &CommunityMetrics) -> Vec<(&'static str, String)> {
    let dead_letters = match (m.dead_letters, m.dead_letter_age_seconds) {
        (0, _) => "0".to_owned(),
        (n, age) => format!("{n} (oldest {})", age.map_or(NONE.to_owned(), duration)),
    };
    vec![
        (
            "Active contributors (7 d)",
            m.active_contributors_7d.to_string(),
        ),
        (
            "Active contributors (30 d)",
            m.active_contributors_30d.to_string(),
        ),
        (
            "Active code contributors (7 d)",
            m.active_code_contributors_7d.to_string(),
        ),
        (
            "Active code contributors (30 d)",
            m.active_code_contributors_30d.to_string(),
        ),
        (
            "Tickets resolved (30 d)",
            m.resolved_tickets_30d.to_string(),
        ),
        (
            "Median feedback resolution",
            m.median_resolution_seconds
                .map_or(NONE.to_owned(), |s| duration(s.round() as i64)),
        ),
        (
            "Contribution conversion",
            rate(
                m.conversion_rate,
                m.converted,
                m.conversion_cohort,
                "in the cohort",
            ),
        ),
        (
            "Repeat contributors",
            rate(
                m.repeat_contributor_ratio,
                m.repeat_contributors,
                m.contributors,
                "contributors",
            ),
        ),
        (
            "Review queue age",
            match m.review_queue_age_seconds {
                0 => "none pending".to_owned(),
                age => duration(age),
            },
        ),
        ("Dead letters", dead_letters),
    ]
}

/// The signal categories of the last 7 days, most frequent first:
/// `category count share`.
pub fn signal_lines(distribution: &std::collections::BTreeMap<String, SignalShare>) -> Vec<String> {
    let mut shares: Vec<(&String, &SignalShare)> = distribution.iter().collect();
    shares.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    let width = shares
        .iter()
        .map(|(c, _)| c.chars().count())
        .max()
        .unwrap_or(0);
    let count_width = shares
        .iter()
        .map(|(_, s)| s.count.to_string().len())
        .max()
        .unwrap_or(0);
    shares
        .into_iter()
        .map(|(category, share)| {
            format!(
                "{category:<width$}  {:>count_width$}  {:>5}",
                share.count,
                percent(share.share)
            )
        })
        .collect()
}

/// The whole readable report, labels aligned, ending in a newline.
pub fn table(m: &CommunityMetrics) -> String {
    let rows = rows(m);
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (label, value) in rows {
        out.push_str(&format!("{label:<width$}   {value}\n"));
    }
    out.push_str("\nSignal distribution (7 d)\n");
    let lines = signal_lines(&m.signal_distribution_7d);
    if lines.is_empty() {
        out.push_str(&format!("  {NONE} no categorized events\n"));
    }
    for line in lines {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

    use std::collections::BTreeMap;

    use time::macros::datetime;

    use super::*;

    fn metrics() -> CommunityMetrics {
        CommunityMetrics {
            active_contributors_7d: 3,
            active_contributors_30d: 12,
            active_code_contributors_7d: 1,
            active_code_contributors_30d: 4,
            signal_distribution_7d: BTreeMap::from([
                (
                    "bug_report".to_owned(),
                    SignalShare {
                        count: 3,
                        share: 0.75,
                    },
                ),
                (
                    "question".to_owned(),
                    SignalShare {
                        count: 1,
                        share: 0.25,
                    },
                ),
            ]),
            resolved_tickets_30d: 2,
            median_resolution_seconds: Some(108_000.0),
            conversion_cohort: 4,
            converted: 1,
            conversion_rate: Some(0.25),
            contributors: 3,
            repeat_contributors: 2,
            repeat_contributor_ratio: Some(2.0 / 3.0),
            review_queue_age_seconds: 0,
            dead_letters: 2,
            dead_letter_age_seconds: Some(300),
        }
    }

    fn value<'a>(rows: &'a [(&'static str, String)], label: &str) -> &'a str {
        rows.iter()
            .find(|(l, _)| *l == label)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no row {label}"))
    }

    #[test]
    fn durations_read_in_their_two_largest_units() {
        assert_eq!(duration(0), "0 s");
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(300), "5 min");
        assert_eq!(duration(359), "5 min");
        assert_eq!(duration(3600), "1 h");
        assert_eq!(duration(12_000), "3 h 20 min");
        assert_eq!(duration(86_400), "1 d");
        assert_eq!(duration(108_000), "1 d 6 h");
        // Truncated, not rounded: 1 d 6 h 59 min 59 s.
        assert_eq!(duration(111_599), "1 d 6 h");
        assert_eq!(duration(-5), "0 s");
    }

    #[test]
    fn percentages_are_whole() {
        assert_eq!(percent(0.25), "25 %");
        assert_eq!(percent(2.0 / 3.0), "67 %");
        assert_eq!(percent(0.0), "0 %");
        assert_eq!(percent(1.0), "100 %");
    }

    #[test]
    fn each_metric_has_a_label_and_a_unit() {
        let rows = rows(&metrics());
        assert_eq!(value(&rows, "Active contributors (7 d)"), "3");
        assert_eq!(value(&rows, "Active contributors (30 d)"), "12");
        assert_eq!(value(&rows, "Active code contributors (7 d)"), "1");
        assert_eq!(value(&rows, "Active code contributors (30 d)"), "4");
        assert_eq!(value(&rows, "Tickets resolved (30 d)"), "2");
        assert_eq!(value(&rows, "Median feedback resolution"), "1 d 6 h");
        assert_eq!(
            value(&rows, "Contribution conversion"),
            "25 % (1 of 4 in the cohort)"
        );
        assert_eq!(
            value(&rows, "Repeat contributors"),
            "67 % (2 of 3 contributors)"
        );
        assert_eq!(value(&rows, "Review queue age"), "none pending");
        assert_eq!(value(&rows, "Dead letters"), "2 (oldest 5 min)");
    }

    #[test]
    fn unknown_values_show_a_dash() {
        let m = CommunityMetrics {
            median_resolution_seconds: None,
            conversion_rate: None,
            conversion_cohort: 0,
            converted: 0,
            repeat_contributor_ratio: None,
            dead_letter_age_seconds: None,
            review_queue_age_seconds: 90_000,
            ..metrics()
        };
        let rows = rows(&m);
        assert_eq!(value(&rows, "Median feedback resolution"), "—");
        assert_eq!(value(&rows, "Contribution conversion"), "—");
        assert_eq!(value(&rows, "Repeat contributors"), "—");
        assert_eq!(value(&rows, "Dead letters"), "2 (oldest —)");
        assert_eq!(value(&rows, "Review queue age"), "1 d 1 h");
    }

    #[test]
    fn no_dead_letters_is_a_plain_zero() {
        let m = CommunityMetrics {
            dead_letters: 0,
            dead_letter_age_seconds: Some(0),
            ..metrics()
        };
        assert_eq!(value(&rows(&m), "Dead letters"), "0");
    }

    #[test]
    fn signal_lines_are_most_frequent_first_with_count_and_share() {
        let mut distribution = metrics().signal_distribution_7d;
        distribution.insert(
            "chat".to_owned(),
            SignalShare {
                count: 1,
                share: 0.1,
            },
        );
        assert_eq!(
            signal_lines(&distribution),
            [
                "bug_report  3   75 %",
                "chat        1   10 %",
                "question    1   25 %",
            ]
        );
        assert!(signal_lines(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn the_table_aligns_labels_and_ends_with_the_signal_mix() {
        let text = table(&metrics());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Active contributors (7 d)         3");
        assert_eq!(lines[5], "Median feedback resolution        1 d 6 h");
        assert!(
            lines.contains(&"Dead letters                      2 (oldest 5 min)"),
            "{text}"
        );
        let mix = lines
            .iter()
            .position(|l| *l == "Signal distribution (7 d)")
            .unwrap();
        assert_eq!(
            &lines[mix + 1..],
            ["  bug_report  3   75 %", "  question    1   25 %"]
        );

        let empty = CommunityMetrics {
            signal_distribution_7d: BTreeMap::new(),
            ..metrics()
        };
        assert!(table(&empty).ends_with("Signal distribution (7 d)\n  — no categorized events\n"));
    }

    #[test]
    fn json_is_the_get_metrics_body() {
        let m = metrics();
        let doc = document(datetime!(2026-11-23 10:00 UTC), &m);
        assert_eq!(doc["measuredAt"], "2026-11-23T10:00:00Z");
        assert_eq!(doc["metrics"]["activeContributors7d"], 3);
        assert_eq!(doc["metrics"]["deadLetterAgeSeconds"], 300);
        assert_eq!(doc.as_object().unwrap().len(), 2);
        let back: CommunityMetrics = serde_json::from_value(doc["metrics"].clone()).unwrap();
        assert_eq!(back, m);
    }
}
