//! Compare → notify: thresholds on the community metrics, and the per-metric
//! alert state that turns a run's breaches into notices worth sending.
//!
//! A breach is announced once when it starts, reminded at most once per
//! cooldown while it lasts, and announced once when it ends; a healthy
//! metric says nothing. A metric without a value this run (no tickets
//! resolved, a dead letter that could not be peeked) neither fires nor
//! recovers: unknown is not healthy. Pure: the caller loads the previous
//! states, saves the new ones (conditionally, so overlapping runs cannot
//! both notify) and sends the notices.
//!
//! Thresholds are JSON a deployer can replace:
//! `{"rules":[{"metric":"deadLetters","above":0},{"metric":"activeContributors7d","below":3}],"cooldownHours":24}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::metrics::CommunityMetrics;

/// A metric a rule can watch, by its JSON name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    ActiveContributors7d,
    ActiveContributors30d,
    ActiveCodeContributors7d,
    ActiveCodeContributors30d,
    MedianResolutionHours,
    ConversionRate,
    RepeatContributorRatio,
    ReviewQueueAgeHours,
    DeadLetters,
    DeadLetterAgeSeconds,
}

/// How a metric's values read to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Count,
    Hours,
    Seconds,
    /// 0..=1, shown as a percentage.
    Ratio,
}

impl Metric {
    pub const ALL: [Metric; 10] = [
        Metric::ActiveContributors7d,
        Metric::ActiveContributors30d,
        Metric::ActiveCodeContributors7d,
        Metric::ActiveCodeContributors30d,
        Metric::MedianResolutionHours,
        Metric::ConversionRate,
        Metric::RepeatContributorRatio,
        Metric::ReviewQueueAgeHours,
        Metric::DeadLetters,
        Metric::DeadLetterAgeSeconds,
    ];

    /// The name in threshold JSON and the key of its alert state.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::ActiveContributors7d => "activeContributors7d",
            Metric::ActiveContributors30d => "activeContributors30d",
            Metric::ActiveCodeContributors7d => "activeCodeContributors7d",
            Metric::ActiveCodeContributors30d => "activeCodeContributors30d",
            Metric::MedianResolutionHours => "medianResolutionHours",
            Metric::ConversionRate => "conversionRate",
            Metric::RepeatContributorRatio => "repeatContributorRatio",
            Metric::ReviewQueueAgeHours => "reviewQueueAgeHours",
            Metric::DeadLetters => "deadLetters",
            Metric::DeadLetterAgeSeconds => "deadLetterAgeSeconds",
        }
    }

    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// What a person calls it.
    pub fn label(self) -> &'static str {
        match self {
            Metric::ActiveContributors7d => "Active contributors (7 days)",
            Metric::ActiveContributors30d => "Active contributors (30 days)",
            Metric::ActiveCodeContributors7d => "Active code contributors (7 days)",
            Metric::ActiveCodeContributors30d => "Active code contributors (30 days)",
            Metric::MedianResolutionHours => "Median feedback resolution time (30 days)",
            Metric::ConversionRate => "Newcomer-to-contributor conversion",
            Metric::RepeatContributorRatio => "Repeat contributors",
            Metric::ReviewQueueAgeHours => "Oldest pending review",
            Metric::DeadLetters => "Dead letters waiting",
            Metric::DeadLetterAgeSeconds => "Oldest dead letter",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Metric::ActiveContributors7d
            | Metric::ActiveContributors30d
            | Metric::ActiveCodeContributors7d
            | Metric::ActiveCodeContributors30d
            | Metric::DeadLetters => Kind::Count,
            Metric::MedianResolutionHours | Metric::ReviewQueueAgeHours => Kind::Hours,
            Metric::DeadLetterAgeSeconds => Kind::Seconds,
            Metric::ConversionRate | Metric::RepeatContributorRatio => Kind::Ratio,
        }
    }

    /// A value of this metric (in the metric's own unit) for a person:
    /// `3`, `26 h`, `1.5 days`, `12%`.
    pub fn format(self, value: f64) -> String {
        match self.kind() {
            Kind::Count => trim_number(value, 1),
            Kind::Hours => duration_text(value * 3600.0),
            Kind::Seconds => duration_text(value),
            Kind::Ratio => format!("{}%", trim_number(value * 100.0, 1)),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A number with at most `decimals` decimals, without trailing zeros.
fn trim_number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Seconds as the largest sensible unit: `45 s`, `12 min`, `26 h`, `3.5 days`.
fn duration_text(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{} s", trim_number(seconds, 0))
    } else if seconds < 2.0 * 3600.0 {
        format!("{} min", trim_number(seconds / 60.0, 0))
    } else if seconds < 48.0 * 3600.0 {
        format!("{} h", trim_number(seconds / 3600.0, 1))
    } else {
        format!("{} days", trim_number(seconds / 86_400.0, 1))
    }
}

/// A metric's value this run, in the unit its name says; none when the
/// metrics could not tell (e.g. no ticket resolved in the window).
pub fn value(metrics: &CommunityMetrics, metric: Metric) -> Option<f64> {
    let hours = |seconds: f64| seconds / 3600.0;
    match metric {
        Metric::ActiveContributors7d => Some(metrics.active_contributors_7d as f64),
        Metric::ActiveContributors30d => Some(metrics.active_contributors_30d as f64),
        Metric::ActiveCodeContributors7d => Some(metrics.active_code_contributors_7d as f64),
        Metric::ActiveCodeContributors30d => Some(metrics.active_code_contributors_30d as f64),
        Metric::MedianResolutionHours => metrics.median_resolution_seconds.map(hours),
        Metric::ConversionRate => metrics.conversion_rate,
        Metric::RepeatContributorRatio => metrics.repeat_contributor_ratio,
        Metric::ReviewQueueAgeHours => Some(hours(metrics.review_queue_age_seconds as f64)),
        Metric::DeadLetters => Some(metrics.dead_letters as f64),
        Metric::DeadLetterAgeSeconds => metrics.dead_letter_age_seconds.map(|s| s as f64),
    }
}

/// Which side of the bound is a breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Direction {
    /// Breached when the value is strictly above the bound.
    Above,
    /// Breached when the value is strictly below the bound.
    Below,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }

    fn breached(self, value: f64, bound: f64) -> bool {
        match self {
            Direction::Above => value > bound,
            Direction::Below => value < bound,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub metric: Metric,
    pub direction: Direction,
    pub bound: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// At most one rule per metric: the alert state is per metric.
    pub rules: Vec<Rule>,
    /// The least time between two notices of one ongoing breach.
    pub cooldown: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ThresholdsError {
    #[error("thresholds are not valid JSON of the expected shape: {0}")]
    Json(String),
    #[error("rule {index}: unknown metric {metric:?}; known metrics: {known}")]
    UnknownMetric {
        index: usize,
        metric: String,
        known: String,
    },
    #[error("rule {index} ({metric}): give exactly one of \"above\" or \"below\"")]
    Bounds { index: usize, metric: Metric },
    #[error("rule {index} ({metric}): more than one rule for this metric; keep one")]
    Duplicate { index: usize, metric: Metric },
    #[error("cooldownHours must be a non-negative number of hours, not {0}")]
    Cooldown(f64),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ThresholdsJson {
    rules: Vec<RuleJson>,
    #[serde(default = "default_cooldown_hours")]
    cooldown_hours: f64,
    // Room for the deployer's own notes, like the other shipped configs.
    #[serde(default, rename = "version")]
    _version: Option<String>,
    #[serde(default, rename = "description")]
    _description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    metric: String,
    above: Option<f64>,
    below: Option<f64>,
}

pub const DEFAULT_COOLDOWN_HOURS: f64 = 24.0;

fn default_cooldown_hours() -> f64 {
    DEFAULT_COOLDOWN_HOURS
}

impl Thresholds {
    /// What ships: the pipeline's own health (dead letters at all, or older
    /// than an hour; a review waiting over a day) and a community gone quiet
    /// (nobody active in a week). Community targets beyond that differ per
    /// community: the deployer adds them.
    pub fn shipped() -> Thresholds {
        let rule = |metric, direction, bound| Rule {
            metric,
            direction,
            bound,
        };
        Thresholds {
            rules: vec![
                rule(Metric::DeadLetters, Direction::Above, 0.0),
                rule(Metric::DeadLetterAgeSeconds, Direction::Above, 3600.0),
                rule(Metric::ReviewQueueAgeHours, Direction::Above, 24.0),
                rule(Metric::ActiveContributors7d, Direction::Below, 1.0),
            ],
            cooldown: Duration::hours(24),
        }
    }

    pub fn from_json(text: &str) -> Result<Thresholds, ThresholdsError> {
        let raw: ThresholdsJson =
            serde_json::from_str(text).map_err(|e| ThresholdsError::Json(e.to_string()))?;
        let cooldown = (raw.cooldown_hours >= 0.0)
            .then(|| Duration::checked_seconds_f64(raw.cooldown_hours * 3600.0))
            .flatten()
            .ok_or(ThresholdsError::Cooldown(raw.cooldown_hours))?;
        let mut rules: Vec<Rule> = Vec::with_capacity(raw.rules.len());
        for (i, rule) in raw.rules.into_iter().enumerate() {
            let index = i + 1;
            let metric =
                Metric::parse(&rule.metric).ok_or_else(|| ThresholdsError::UnknownMetric {
                    index,
                    metric: rule.metric.clone(),
                    known: Metric::ALL.map(Metric::as_str).join(", "),
                })?;
            let (direction, bound) = match (rule.above, rule.below) {
                (Some(bound), None) => (Direction::Above, bound),
                (None, Some(bound)) => (Direction::Below, bound),
                _ => return Err(ThresholdsError::Bounds { index, metric }),
            };
            if rules.iter().any(|r| r.metric == metric) {
                return Err(ThresholdsError::Duplicate { index, metric });
            }
            rules.push(Rule {
                metric,
                direction,
                bound,
            });
        }
        Ok(Thresholds { rules, cooldown })
    }
}

/// A rule the metrics break this run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Breach {
    pub metric: Metric,
    pub value: f64,
    pub bound: f64,
    pub direction: Direction,
}

/// The breaches of this run, in rule order. Metrics without a value never
/// breach.
pub fn evaluate(metrics: &CommunityMetrics, thresholds: &Thresholds) -> Vec<Breach> {
    thresholds
        .rules
        .iter()
        .filter_map(|rule| {
            let value = value(metrics, rule.metric)?;
            rule.direction
                .breached(value, rule.bound)
                .then_some(Breach {
                    metric: rule.metric,
                    value,
                    bound: rule.bound,
                    direction: rule.direction,
                })
        })
        .collect()
}

/// One metric's alert state between runs (saved as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertState {
    pub breached: bool,
    /// When the current breach began; none while healthy.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// The last notice about this metric (fired, reminded or recovered).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_notified_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub last_value: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NoticeKind {
    /// A breach began.
    Fired,
    /// A breach goes on (a reminder, at most once per cooldown).
    StillBreached,
    /// A breach ended.
    Recovered,
}

/// Something to tell people about one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Notice {
    pub metric: Metric,
    pub kind: NoticeKind,
    pub value: f64,
    pub bound: f64,
    pub direction: Direction,
    /// When the breach began (for reminders and recoveries: how long).
    pub since: Option<OffsetDateTime>,
    /// When this was decided.
    pub at: OffsetDateTime,
}

impl Notice {
    /// One line for Slack or email.
    pub fn line(&self) -> String {
        let metric = self.metric;
        let now = format!("{}: {}", metric.label(), metric.format(self.value));
        let limit = format!(
            "alert when {} {}",
            self.direction.as_str(),
            metric.format(self.bound)
        );
        let lasted = self
            .since
            .map(|since| duration_text((self.at - since).as_seconds_f64().max(0.0)));
        match (self.kind, lasted) {
            (NoticeKind::Fired, _) => format!(":rotating_light: {now} ({limit})"),
            (NoticeKind::StillBreached, Some(lasted)) => {
                format!(":hourglass: Still: {now} ({limit}; for {lasted})")
            }
            (NoticeKind::StillBreached, None) => format!(":hourglass: Still: {now} ({limit})"),
            (NoticeKind::Recovered, Some(lasted)) => {
                format!(":white_check_mark: Recovered: {now} (after {lasted})")
            }
            (NoticeKind::Recovered, None) => format!(":white_check_mark: Recovered: {now}"),
        }
    }
}

/// The notices as a message: one line each.
pub fn notices_text(notices: &[Notice]) -> String {
    notices
        .iter()
        .map(Notice::line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The alert state machine, per metric of `thresholds`: the new states (to
/// save) and the notices (to send once the save succeeded).
///
/// - healthy → breached: `Fired`;
/// - breached → breached: `StillBreached` when the last notice is at least a
///   cooldown old, else nothing;
/// - breached → healthy: `Recovered`;
/// - healthy → healthy, or no value this run: nothing, state kept.
///
/// Metrics without a rule are dropped from the states (a removed rule ends
/// silently).
pub fn decide(
    previous: &BTreeMap<String, AlertState>,
    breaches: &[Breach],
    metrics: &CommunityMetrics,
    thresholds: &Thresholds,
    now: OffsetDateTime,
) -> (BTreeMap<String, AlertState>, Vec<Notice>) {
    let mut states = BTreeMap::new();
    let mut notices = Vec::new();
    for rule in &thresholds.rules {
        let key = rule.metric.as_str().to_owned();
        let before = previous.get(&key).cloned().unwrap_or_default();
        let Some(value) = value(metrics, rule.metric) else {
            states.insert(key, before);
            continue;
        };
        let breach = breaches.iter().find(|b| b.metric == rule.metric);
        let notice = |kind, since| Notice {
            metric: rule.metric,
            kind,
            value,
            bound: breach.map_or(rule.bound, |b| b.bound),
            direction: breach.map_or(rule.direction, |b| b.direction),
            since,
            at: now,
        };
        let after = match (before.breached, breach.is_some()) {
            (false, true) => {
                notices.push(notice(NoticeKind::Fired, Some(now)));
                AlertState {
                    breached: true,
                    since: Some(now),
                    last_notified_at: Some(now),
                    last_value: Some(value),
                }
            }
            (true, true) => {
                let due = before
                    .last_notified_at
                    .is_none_or(|at| now - at >= thresholds.cooldown);
                let since = before.since.or(Some(now));
                if due {
                    notices.push(notice(NoticeKind::StillBreached, since));
                }
                AlertState {
                    breached: true,
                    since,
                    last_notified_at: if due {
                        Some(now)
                    } else {
                        before.last_notified_at
                    },
                    last_value: Some(value),
                }
            }
            (true, false) => {
                notices.push(notice(NoticeKind::Recovered, before.since));
                AlertState {
                    breached: false,
                    since: None,
                    last_notified_at: Some(now),
                    last_value: Some(value),
                }
            }
            (false, false) => AlertState {
                breached: false,
                since: None,
                last_notified_at: before.last_notified_at,
                last_value: Some(value),
            },
        };
        states.insert(key, after);
    }
    (states, notices)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-11-23 09:00 UTC);

    fn metrics() -> CommunityMetrics {
        CommunityMetrics {
            active_contributors_7d: 4,
            active_contributors_30d: 9,
            active_code_contributors_7d: 1,
            active_code_contributors_30d: 3,
            signal_distribution_7d: BTreeMap::new(),
            resolved_tickets_30d: 2,
            median_resolution_seconds: Some(90_000.0),
            conversion_cohort: 4,
            converted: 1,
            conversion_rate: Some(0.25),
            contributors: 3,
            repeat_contributors: 1,
            repeat_contributor_ratio: Some(1.0 / 3.0),
            review_queue_age_seconds: 7200,
            dead_letters: 0,
            dead_letter_age_seconds: Some(0),
        }
    }

    #[test]
    fn values_are_in_the_unit_their_name_says() {
        let m = metrics();
        assert_eq!(value(&m, Metric::ActiveContributors7d), Some(4.0));
        assert_eq!(value(&m, Metric::MedianResolutionHours), Some(25.0));
        assert_eq!(value(&m, Metric::ReviewQueueAgeHours), Some(2.0));
        assert_eq!(value(&m, Metric::ConversionRate), Some(0.25));
        assert_eq!(value(&m, Metric::DeadLetterAgeSeconds), Some(0.0));
        let unknown = CommunityMetrics {
            median_resolution_seconds: None,
            conversion_rate: None,
            dead_letter_age_seconds: None,
            ..metrics()
        };
        assert_eq!(value(&unknown, Metric::MedianResolutionHours), None);
        assert_eq!(value(&unknown, Metric::ConversionRate), None);
        assert_eq!(value(&unknown, Metric::DeadLetterAgeSeconds), None);
    }

    #[test]
    fn every_metric_name_round_trips() {
        for metric in Metric::ALL {
            assert_eq!(Metric::parse(metric.as_str()), Some(metric));
            // Every metric has a value on complete metrics.
            assert!(value(&metrics(), metric).is_some(), "{metric}");
        }
    }

    #[test]
    fn thresholds_parse_from_json() {
        let thresholds = Thresholds::from_json(
            r#"{"rules":[{"metric":"deadLetters","above":0},{"metric":"activeContributors7d","below":3},{"metric":"medianResolutionHours","above":72}],"cooldownHours":6}"#,
        )
        .unwrap();
        assert_eq!(thresholds.cooldown, Duration::hours(6));
        assert_eq!(
            thresholds.rules,
            vec![
                Rule {
                    metric: Metric::DeadLetters,
                    direction: Direction::Above,
                    bound: 0.0
                },
                Rule {
                    metric: Metric::ActiveContributors7d,
                    direction: Direction::Below,
                    bound: 3.0
                },
                Rule {
                    metric: Metric::MedianResolutionHours,
                    direction: Direction::Above,
                    bound: 72.0
                },
            ]
        );
        // The cooldown defaults to a day.
        let thresholds = Thresholds::from_json(r#"{"rules":[]}"#).unwrap();
        assert_eq!(thresholds.cooldown, Duration::hours(24));
    }

    #[test]
    fn the_shipped_thresholds_watch_the_pipeline_and_a_quiet_community() {
        let shipped = Thresholds::shipped();
        let json = r#"{"rules":[
            {"metric":"deadLetters","above":0},
            {"metric":"deadLetterAgeSeconds","above":3600},
            {"metric":"reviewQueueAgeHours","above":24},
            {"metric":"activeContributors7d","below":1}],"cooldownHours":24}"#;
        assert_eq!(Thresholds::from_json(json).unwrap(), shipped);
        assert!(evaluate(&metrics(), &shipped).is_empty());
    }

    #[test]
    fn invalid_thresholds_say_what_to_fix() {
        let error = |json: &str| Thresholds::from_json(json).unwrap_err().to_string();
        let unknown = error(
            r#"{"rules":[{"metric":"deadLetters","above":0},{"metric":"deadletters","above":0}]}"#,
        );
        assert!(unknown.contains("rule 2"), "{unknown}");
        assert!(unknown.contains("\"deadletters\""), "{unknown}");
        assert!(unknown.contains("deadLetterAgeSeconds"), "{unknown}");
        let neither = error(r#"{"rules":[{"metric":"deadLetters"}]}"#);
        assert!(neither.contains("exactly one of"), "{neither}");
        let both = error(r#"{"rules":[{"metric":"deadLetters","above":1,"below":0}]}"#);
        assert!(both.contains("rule 1 (deadLetters)"), "{both}");
        let twice = error(
            r#"{"rules":[{"metric":"deadLetters","above":1},{"metric":"deadLetters","above":5}]}"#,
        );
        assert!(twice.contains("more than one rule"), "{twice}");
        let typo = error(r#"{"rules":[{"metric":"deadLetters","abvoe":1}]}"#);
        assert!(typo.contains("abvoe"), "{typo}");
        let cooldown = error(r#"{"rules":[],"cooldownHours":-1}"#);
        assert!(cooldown.contains("cooldownHours"), "{cooldown}");
        assert!(Thresholds::from_json(r#"{"rules":[],"cooldownHours":1e300}"#).is_err());
        assert!(Thresholds::from_json("[]").is_err());
        // Notes are allowed.
        assert!(
            Thresholds::from_json(r#"{"version":"alerts@1","description":"ours","rules":[]}"#)
                .is_ok()
        );
    }

    #[test]
    fn evaluate_breaches_strictly_past_the_bound() {
        let thresholds = Thresholds::from_json(
            r#"{"rules":[
                {"metric":"activeContributors7d","below":4},
                {"metric":"activeContributors30d","below":10},
                {"metric":"reviewQueueAgeHours","above":1},
                {"metric":"medianResolutionHours","above":25},
                {"metric":"conversionRate","below":0.5}]}"#,
        )
        .unwrap();
        let breaches = evaluate(&metrics(), &thresholds);
        assert_eq!(
            breaches,
            vec![
                Breach {
                    metric: Metric::ActiveContributors30d,
                    value: 9.0,
                    bound: 10.0,
                    direction: Direction::Below
                },
                Breach {
                    metric: Metric::ReviewQueueAgeHours,
                    value: 2.0,
                    bound: 1.0,
                    direction: Direction::Above
                },
                Breach {
                    metric: Metric::ConversionRate,
                    value: 0.25,
                    bound: 0.5,
                    direction: Direction::Below
                },
            ]
        );
        let unknown = CommunityMetrics {
            conversion_rate: None,
            ..metrics()
        };
        assert_eq!(evaluate(&unknown, &thresholds).len(), 2);
    }

    fn dead_letter_rules(cooldown_hours: i64) -> Thresholds {
        Thresholds {
            rules: vec![Rule {
                metric: Metric::DeadLetters,
                direction: Direction::Above,
                bound: 0.0,
            }],
            cooldown: Duration::hours(cooldown_hours),
        }
    }

    /// One run with `depth` dead letters: the new states and the notice kinds.
    fn run(
        previous: &BTreeMap<String, AlertState>,
        depth: i64,
        thresholds: &Thresholds,
        at: OffsetDateTime,
    ) -> (BTreeMap<String, AlertState>, Vec<NoticeKind>) {
        let m = CommunityMetrics {
            dead_letters: depth,
            ..metrics()
        };
        let breaches = evaluate(&m, thresholds);
        let (states, notices) = decide(previous, &breaches, &m, thresholds, at);
        (states, notices.iter().map(|n| n.kind).collect())
    }

    #[test]
    fn a_breach_fires_reminds_after_the_cooldown_and_recovers_once() {
        let rules = dead_letter_rules(24);
        let (s, kinds) = run(&BTreeMap::new(), 0, &rules, T0);
        assert!(kinds.is_empty());
        assert!(!s["deadLetters"].breached);

        let (s, kinds) = run(&s, 2, &rules, T0 + Duration::hours(1));
        assert_eq!(kinds, [NoticeKind::Fired]);
        assert_eq!(
            s["deadLetters"],
            AlertState {
                breached: true,
                since: Some(T0 + Duration::hours(1)),
                last_notified_at: Some(T0 + Duration::hours(1)),
                last_value: Some(2.0),
            }
        );

        let (s, kinds) = run(&s, 3, &rules, T0 + Duration::hours(12));
        assert!(kinds.is_empty(), "within the cooldown");
        let (s, kinds) = run(&s, 3, &rules, T0 + Duration::hours(25));
        assert_eq!(kinds, [NoticeKind::StillBreached], "a cooldown later");
        assert_eq!(s["deadLetters"].since, Some(T0 + Duration::hours(1)));
        let (s, kinds) = run(&s, 3, &rules, T0 + Duration::hours(26));
        assert!(kinds.is_empty());

        let (s, kinds) = run(&s, 0, &rules, T0 + Duration::hours(27));
        assert_eq!(kinds, [NoticeKind::Recovered]);
        assert!(!s["deadLetters"].breached);
        let (_, kinds) = run(&s, 0, &rules, T0 + Duration::hours(28));
        assert!(kinds.is_empty());
    }

    #[test]
    fn no_value_neither_fires_nor_recovers() {
        let thresholds = Thresholds {
            rules: vec![Rule {
                metric: Metric::MedianResolutionHours,
                direction: Direction::Above,
                bound: 72.0,
            }],
            cooldown: Duration::hours(1),
        };
        let with = |seconds: Option<f64>| CommunityMetrics {
            median_resolution_seconds: seconds,
            ..metrics()
        };
        let step = |previous: &BTreeMap<String, AlertState>, m: &CommunityMetrics, at| {
            decide(previous, &evaluate(m, &thresholds), m, &thresholds, at)
        };
        let (s, notices) = step(&BTreeMap::new(), &with(None), T0);
        assert!(notices.is_empty());
        assert_eq!(s["medianResolutionHours"], AlertState::default());

        let (s, notices) = step(&s, &with(Some(100.0 * 3600.0)), T0);
        assert_eq!(notices.len(), 1);
        let breached = s["medianResolutionHours"].clone();
        // Unknown for days: no reminder, no recovery, state kept.
        let (s, notices) = step(&s, &with(None), T0 + Duration::days(3));
        assert!(notices.is_empty());
        assert_eq!(s["medianResolutionHours"], breached);
        let (_, notices) = step(&s, &with(Some(3600.0)), T0 + Duration::days(4));
        assert_eq!(notices[0].kind, NoticeKind::Recovered);
    }

    #[test]
    fn a_removed_rule_drops_its_state() {
        let previous = BTreeMap::from([(
            "conversionRate".to_owned(),
            AlertState {
                breached: true,
                ..AlertState::default()
            },
        )]);
        let rules = dead_letter_rules(1);
        let (states, notices) = decide(&previous, &[], &metrics(), &rules, T0);
        assert!(notices.is_empty());
        assert_eq!(states.keys().collect::<Vec<_>>(), ["deadLetters"]);
    }

    #[test]
    fn alert_states_round_trip_as_json() {
        let state = AlertState {
            breached: true,
            since: Some(T0),
            last_notified_at: Some(T0 + Duration::minutes(5)),
            last_value: Some(2.5),
        };
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["since"], "2026-11-23T09:00:00Z");
        assert_eq!(json["lastNotifiedAt"], "2026-11-23T09:05:00Z");
        assert_eq!(serde_json::from_value::<AlertState>(json).unwrap(), state);
        assert_eq!(
            serde_json::from_str::<AlertState>(r#"{"breached":false}"#).unwrap(),
            AlertState::default()
        );
    }

    #[test]
    fn notice_lines_read_like_sentences() {
        let notice = |metric, kind, value, bound, direction| Notice {
            metric,
            kind,
            value,
            bound,
            direction,
            since: Some(T0),
            at: T0 + Duration::hours(26),
        };
        assert_eq!(
            notice(
                Metric::DeadLetters,
                NoticeKind::Fired,
                3.0,
                0.0,
                Direction::Above
            )
            .line(),
            ":rotating_light: Dead letters waiting: 3 (alert when above 0)"
        );
        assert_eq!(
            notice(
                Metric::ReviewQueueAgeHours,
                NoticeKind::StillBreached,
                30.0,
                24.0,
                Direction::Above
            )
            .line(),
            ":hourglass: Still: Oldest pending review: 30 h (alert when above 24 h; for 26 h)"
        );
        assert_eq!(
            notice(
                Metric::ConversionRate,
                NoticeKind::Recovered,
                0.125,
                0.1,
                Direction::Below
            )
            .line(),
            ":white_check_mark: Recovered: Newcomer-to-contributor conversion: 12.5% (after 26 h)"
        );
        assert_eq!(
            notice(
                Metric::DeadLetterAgeSeconds,
                NoticeKind::Fired,
                7200.0,
                3600.0,
                Direction::Above
            )
            .line(),
            ":rotating_light: Oldest dead letter: 2 h (alert when above 60 min)"
        );
        assert_eq!(
            notice(
                Metric::MedianResolutionHours,
                NoticeKind::Fired,
                80.0,
                72.0,
                Direction::Above
            )
            .line(),
            ":rotating_light: Median feedback resolution time (30 days): 3.3 days (alert when above 3 days)"
        );
        let two = [
            notice(
                Metric::DeadLetters,
                NoticeKind::Fired,
                1.0,
                0.0,
                Direction::Above,
            ),
            notice(
                Metric::ActiveContributors7d,
                NoticeKind::Fired,
                0.0,
                1.0,
                Direction::Below,
            ),
        ];
        assert_eq!(notices_text(&two).lines().count(), 2);
        assert!(
            notices_text(&two).contains("Active contributors (7 days): 0 (alert when below 1)")
        );
    }

    // -- The state machine's properties over arbitrary runs ----------------
    //
    // Written without proptest (the alert crate has no such dev-dependency):
    // every sequence of up to eight runs exhaustively, then long random
    // sequences with irregular gaps and cooldowns from a fixed-seed
    // generator. Each run's states go through JSON, as they do between runs.

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Observation {
        Breach,
        Healthy,
        Unknown,
    }

    /// The oldest dead letter: breached above an hour, unknown when none.
    fn observed(observation: Observation) -> CommunityMetrics {
        CommunityMetrics {
            dead_letter_age_seconds: match observation {
                Observation::Breach => Some(7200),
                Observation::Healthy => Some(0),
                Observation::Unknown => None,
            },
            ..metrics()
        }
    }

    /// Runs the sequence ((observation, minutes since the previous run)) and
    /// checks: each breach episode (from a breach to the next healthy run;
    /// unknown runs do not end it) has exactly one `Fired`, at its first run,
    /// and exactly one `Recovered`, at the healthy run that ends it; in
    /// between only reminders, each at least a cooldown after the previous
    /// notice and never withheld once a cooldown passed; nothing otherwise.
    fn check(sequence: &[(Observation, i64)], cooldown: Duration) {
        let thresholds = Thresholds {
            rules: vec![Rule {
                metric: Metric::DeadLetterAgeSeconds,
                direction: Direction::Above,
                bound: 3600.0,
            }],
            cooldown,
        };
        let mut states: BTreeMap<String, AlertState> = BTreeMap::new();
        let mut at = T0;
        // Per episode: (fired, recovered, reminders).
        let mut episodes: Vec<(usize, usize, usize)> = Vec::new();
        let mut in_episode = false;
        let mut last_notice: Option<OffsetDateTime> = None;
        for &(observation, minutes) in sequence {
            at += Duration::minutes(minutes);
            let m = observed(observation);
            let breaches = evaluate(&m, &thresholds);
            let (next, notices) = decide(&states, &breaches, &m, &thresholds, at);
            let json = serde_json::to_string(&next).unwrap();
            states = serde_json::from_str(&json).unwrap();
            assert!(notices.len() <= 1, "{sequence:?}");
            let kind = notices.first().map(|n| n.kind);
            match (observation, in_episode) {
                (Observation::Breach, false) => {
                    assert_eq!(kind, Some(NoticeKind::Fired), "{sequence:?}");
                    episodes.push((1, 0, 0));
                    in_episode = true;
                }
                (Observation::Breach, true) => {
                    let due = last_notice.is_none_or(|t| at - t >= cooldown);
                    let expected = due.then_some(NoticeKind::StillBreached);
                    assert_eq!(kind, expected, "{sequence:?}");
                    if let (Some(_), Some(episode)) = (kind, episodes.last_mut()) {
                        episode.2 += 1;
                    }
                }
                (Observation::Healthy, true) => {
                    assert_eq!(kind, Some(NoticeKind::Recovered), "{sequence:?}");
                    if let Some(episode) = episodes.last_mut() {
                        episode.1 += 1;
                    }
                    in_episode = false;
                }
                (Observation::Healthy, false) | (Observation::Unknown, _) => {
                    assert_eq!(kind, None, "{sequence:?}");
                }
            }
            if let Some(notice) = notices.first() {
                if notice.kind == NoticeKind::StillBreached {
                    let previous = last_notice.unwrap();
                    assert!(at - previous >= cooldown, "{sequence:?}");
                }
                last_notice = Some(at);
            }
        }
        let count = episodes.len();
        for (i, &(fired, recovered, _)) in episodes.iter().enumerate() {
            assert_eq!(fired, 1, "{sequence:?}");
            let ended = i + 1 < count || !in_episode;
            assert_eq!(recovered, usize::from(ended), "{sequence:?}");
        }
    }

    #[test]
    fn every_short_sequence_fires_and_recovers_once_per_episode() {
        const OBSERVATIONS: [Observation; 3] = [
            Observation::Breach,
            Observation::Healthy,
            Observation::Unknown,
        ];
        let mut checked = 0;
        for length in 0..=8u32 {
            for code in 0..3usize.pow(length) {
                let mut rest = code;
                let sequence: Vec<(Observation, i64)> = (0..length)
                    .map(|_| {
                        let observation = OBSERVATIONS[rest % 3];
                        rest /= 3;
                        (observation, 60)
                    })
                    .collect();
                // Runs hourly; cooldowns shorter than, equal to and longer
                // than the interval.
                for cooldown_minutes in [0, 60, 150] {
                    check(&sequence, Duration::minutes(cooldown_minutes));
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 3 * (3usize.pow(9) - 1) / 2);
    }

    #[test]
    fn long_random_sequences_keep_the_properties() {
        // xorshift64*: deterministic, so a failure reproduces.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        for _ in 0..2000 {
            let cooldown = Duration::minutes([0, 30, 240, 1440][(next() % 4) as usize]);
            let length = (next() % 60) as usize;
            let sequence: Vec<(Observation, i64)> = (0..length)
                .map(|_| {
                    let observation = match next() % 10 {
                        0..=4 => Observation::Breach,
                        5..=7 => Observation::Healthy,
                        _ => Observation::Unknown,
                    };
                    (observation, (next() % 600) as i64)
                })
                .collect();
            check(&sequence, cooldown);
        }
    }
}
