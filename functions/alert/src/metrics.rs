//! Community metrics: how many people take part, how many contribute, what
//! they bring up, how fast feedback is resolved, whether newcomers become
//! contributors, and whether the pipeline keeps up (reviews, dead letters).
//!
//! Pure: [`compute`] takes what the adapters read (member snapshots, day
//! counters, resolved tickets, the oldest pending review, dead-letter stats)
//! and the time. Bots are excluded everywhere; so are members merged into
//! another (the survivor carries the person and their contributions, so the
//! merged item would count them twice).
//!
//! Windows are UTC days ending today: "7 days" is today and the six days
//! before, matching how activity (`act#<day>#<type>`) and counters
//! (`DAY#<day>`) are bucketed. Instant windows (resolutions, the cohort) are
//! `[now - N days, now]`.

use std::collections::BTreeMap;

use canonical_event::{EventType, day_of};
use community_aws::community::{DeadLetterStats, MemberSnapshot, ResolvedTicket};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// The short activity window, in UTC days.
pub const SHORT_WINDOW_DAYS: u32 = 7;
/// The long activity window, in UTC days.
pub const LONG_WINDOW_DAYS: u32 = 30;
/// Resolutions count toward the median for this long.
pub const RESOLUTION_WINDOW_DAYS: i64 = 30;
/// Newcomers first seen this recently form the conversion cohort. Keep it
/// within the lifecycle window (90 days shipped): older activity is forgotten
/// on the member, so an older cohort's first days would be missing.
pub const DEFAULT_COHORT_DAYS: i64 = 90;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("the lifecycle configuration has no readable contributionTypes: {0}")]
    Lifecycle(String),
    #[error(
        "contributionTypes names {0:?}, which is no canonical event type; use the snake_case names (e.g. pull_request_opened)"
    )]
    UnknownType(String),
}

/// Which activity is a contribution. Taken from the lifecycle
/// configuration's `contributionTypes` (the same list that makes a member a
/// "contributor" stage), so a deployer who changes it there changes it here;
/// signal keeps the list private, hence the small parse of the same JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContributionRule {
    types: Vec<EventType>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LifecycleContributions {
    contribution_types: Vec<String>,
}

impl ContributionRule {
    pub fn new(types: impl IntoIterator<Item = EventType>) -> ContributionRule {
        ContributionRule {
            types: types.into_iter().collect(),
        }
    }

    /// The shipped lifecycle configuration's rule (`lifecycle@1`: pull
    /// requests opened, merged or reviewed, and accepted discussion answers).
    pub fn shipped() -> Result<ContributionRule, MetricsError> {
        ContributionRule::from_lifecycle_json(signal::lifecycle::DEFAULT_LIFECYCLE)
    }

    /// The rule of a lifecycle configuration (the JSON route loads from
    /// `LIFECYCLE_CONFIG_PARAM`). An unknown type name is an error rather than
    /// a silent zero.
    pub fn from_lifecycle_json(text: &str) -> Result<ContributionRule, MetricsError> {
        let config: LifecycleContributions =
            serde_json::from_str(text).map_err(|e| MetricsError::Lifecycle(e.to_string()))?;
        let types = config
            .contribution_types
            .iter()
            .map(|name| {
                EventType::parse(name).ok_or_else(|| MetricsError::UnknownType(name.clone()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ContributionRule { types })
    }

    pub fn is_contribution(&self, event_type: EventType) -> bool {
        self.types.contains(&event_type)
    }

    fn is_contribution_name(&self, name: &str) -> bool {
        EventType::parse(name).is_some_and(|t| self.is_contribution(t))
    }
}

/// Saying something in words: the activity a newcomer typically starts with.
/// Passive signals (joins, reactions, stars, forks), edits, commands and
/// maintainer actions are not conversation. Exhaustive on purpose: a new
/// event type must be placed here.
pub fn is_conversation(event_type: EventType) -> bool {
    match event_type {
        EventType::MessagePosted
        | EventType::ReplyPosted
        | EventType::IssueOpened
        | EventType::IssueCommented
        | EventType::DiscussionOpened
        | EventType::DiscussionCommented => true,
        EventType::MemberJoined
        | EventType::ReactionAdded
        | EventType::MessageEdited
        | EventType::MessageDeleted
        | EventType::CommandInvoked
        | EventType::IssueClosed
        | EventType::PullRequestOpened
        | EventType::PullRequestMerged
        | EventType::PullRequestReviewed
        | EventType::DiscussionAnswered
        | EventType::ReleasePublished
        | EventType::RepoStarred
        | EventType::RepoForked
        | EventType::Sponsorship
        | EventType::FirstContribution
        | EventType::StageChanged => false,
    }
}

/// One signal category over the short window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalShare {
    pub count: i64,
    /// Of all categorized events in the window, 0..=1.
    pub share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommunityMetrics {
    /// Distinct people with any activity in the last 7 UTC days.
    pub active_contributors_7d: i64,
    pub active_contributors_30d: i64,
    /// Distinct people with a contribution-type activity in the window.
    pub active_code_contributors_7d: i64,
    pub active_code_contributors_30d: i64,
    /// `category:*` counters over the last 7 days, by category.
    pub signal_distribution_7d: BTreeMap<String, SignalShare>,
    /// Tickets resolved in the last 30 days.
    pub resolved_tickets_30d: i64,
    /// Median first report → resolution of those tickets; none without any.
    pub median_resolution_seconds: Option<f64>,
    /// Newcomers (first seen within the cohort window) who started in
    /// conversation.
    pub conversion_cohort: i64,
    /// Of the cohort, those who went on to contribute.
    pub converted: i64,
    /// `converted / conversion_cohort`; none on an empty cohort.
    pub conversion_rate: Option<f64>,
    /// People with at least one recorded contribution.
    pub contributors: i64,
    /// People with at least two.
    pub repeat_contributors: i64,
    /// `repeat_contributors / contributors`; none without contributors.
    pub repeat_contributor_ratio: Option<f64>,
    /// How long the oldest pending review has waited; 0 when none waits.
    pub review_queue_age_seconds: i64,
    /// Messages in all dead-letter queues.
    pub dead_letters: i64,
    /// Age of the oldest dead letter seen: 0 when the queues are empty, none
    /// when messages wait but none could be peeked.
    pub dead_letter_age_seconds: Option<i64>,
}

/// Everything [`compute`] reads.
#[derive(Debug, Clone, Copy)]
pub struct MetricsInput<'a> {
    pub now: OffsetDateTime,
    pub members: &'a [MemberSnapshot],
    /// Counters by UTC day (as `CounterReader::day` returns them); days
    /// outside a window are ignored, missing days count as zero.
    pub counters: &'a BTreeMap<String, BTreeMap<String, i64>>,
    pub resolved_tickets: &'a [ResolvedTicket],
    /// `heldAt` of the oldest pending review, if any waits.
    pub oldest_pending_review: Option<OffsetDateTime>,
    /// By queue name.
    pub dead_letters: &'a BTreeMap<String, DeadLetterStats>,
    pub contribution: &'a ContributionRule,
    pub cohort_days: i64,
}

/// The UTC days of the last `days` days, oldest first, ending today: the
/// counter items to read for a window.
pub fn last_days(now: OffsetDateTime, days: u32) -> Vec<String> {
    (0..i64::from(days))
        .rev()
        .map(|back| day_of(now - Duration::days(back)))
        .collect()
}

/// The first UTC day of a window of `days` days ending today.
fn window_start(now: OffsetDateTime, days: u32) -> String {
    day_of(now - Duration::days(i64::from(days.max(1)) - 1))
}

/// A person the community metrics count: no bot, not merged into another.
fn is_person(member: &MemberSnapshot) -> bool {
    !member.is_bot && member.merged_into.is_none()
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

pub fn compute(input: &MetricsInput<'_>) -> CommunityMetrics {
    let now = input.now;
    let today = day_of(now);
    let people: Vec<&MemberSnapshot> = input.members.iter().filter(|m| is_person(m)).collect();

    let active = |days: u32, contributions_only: bool| -> i64 {
        let start = window_start(now, days);
        let count = people
            .iter()
            .filter(|m| {
                m.activity.iter().any(|(day, event_type, n)| {
                    *n > 0
                        && day.as_str() >= start.as_str()
                        && day.as_str() <= today.as_str()
                        && (!contributions_only
                            || input.contribution.is_contribution_name(event_type))
                })
            })
            .count();
        i64::try_from(count).unwrap_or(i64::MAX)
    };

    let (resolved_tickets_30d, median_resolution_seconds) = resolution(input.resolved_tickets, now);
    let (conversion_cohort, converted) =
        conversion(&people, input.contribution, now, input.cohort_days);
    let contributors = count(people.iter().filter(|m| m.contributions >= 1));
    let repeat_contributors = count(people.iter().filter(|m| m.contributions >= 2));
    let (dead_letters, dead_letter_age_seconds) = dead_letter_totals(input.dead_letters);

    CommunityMetrics {
        active_contributors_7d: active(SHORT_WINDOW_DAYS, false),
        active_contributors_30d: active(LONG_WINDOW_DAYS, false),
        active_code_contributors_7d: active(SHORT_WINDOW_DAYS, true),
        active_code_contributors_30d: active(LONG_WINDOW_DAYS, true),
        signal_distribution_7d: signal_distribution(input.counters, now, SHORT_WINDOW_DAYS),
        resolved_tickets_30d,
        median_resolution_seconds,
        conversion_cohort,
        converted,
        conversion_rate: ratio(converted, conversion_cohort),
        contributors,
        repeat_contributors,
        repeat_contributor_ratio: ratio(repeat_contributors, contributors),
        review_queue_age_seconds: input
            .oldest_pending_review
            .map_or(0, |held_at| (now - held_at).whole_seconds().max(0)),
        dead_letters,
        dead_letter_age_seconds,
    }
}

fn count<T>(items: impl Iterator<Item = T>) -> i64 {
    i64::try_from(items.count()).unwrap_or(i64::MAX)
}

/// `category:<name>` counters summed over the window. Bots are never
/// counted under `category:` (their events bump `bots:*` only).
fn signal_distribution(
    counters: &BTreeMap<String, BTreeMap<String, i64>>,
    now: OffsetDateTime,
    days: u32,
) -> BTreeMap<String, SignalShare> {
    let start = window_start(now, days);
    let today = day_of(now);
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (_, day) in counters.range(start..=today) {
        for (name, value) in day {
            if let Some(category) = name.strip_prefix("category:")
                && *value > 0
            {
                *counts.entry(category.to_owned()).or_insert(0) += value;
            }
        }
    }
    let total: i64 = counts.values().sum();
    counts
        .into_iter()
        .map(|(category, count)| {
            let share = ratio(count, total).unwrap_or(0.0);
            (category, SignalShare { count, share })
        })
        .collect()
}

/// Tickets resolved in `[now - 30 days, now]` and the median of their
/// resolution times. A resolution before its report (clock skew between
/// trackers) counts as instant rather than negative.
fn resolution(tickets: &[ResolvedTicket], now: OffsetDateTime) -> (i64, Option<f64>) {
    let since = now - Duration::days(RESOLUTION_WINDOW_DAYS);
    let mut seconds: Vec<i64> = tickets
        .iter()
        .filter(|t| t.resolved_at >= since && t.resolved_at <= now)
        .map(|t| (t.resolved_at - t.first_report_at).whole_seconds().max(0))
        .collect();
    seconds.sort_unstable();
    (count(seconds.iter()), median(&seconds))
}

fn median(sorted: &[i64]) -> Option<f64> {
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => sorted.get(middle).map(|&v| v as f64),
        _ => match (sorted.get(middle - 1), sorted.get(middle)) {
            (Some(&a), Some(&b)) => Some((a as f64 + b as f64) / 2.0),
            _ => None,
        },
    }
}

/// The conversion cohort and how many of it converted.
///
/// Cohort: people first seen in `[now - cohort_days, now]` whose first
/// *engaged* day (the first day with conversation or a contribution) had
/// conversation and no contribution: they arrived talking. Passive activity
/// (a join, a star) neither starts nor disqualifies, so someone who joins
/// one day and asks a question the next is in. Converted: they have a
/// contribution on a later day. Newcomers who have not said anything yet are
/// not in the cohort: the rate is about turning talkers into contributors.
fn conversion(
    people: &[&MemberSnapshot],
    rule: &ContributionRule,
    now: OffsetDateTime,
    cohort_days: i64,
) -> (i64, i64) {
    let since = now - Duration::days(cohort_days.max(0));
    let mut cohort = 0;
    let mut converted = 0;
    for member in people {
        let Some(first_seen) = member.first_seen_at else {
            continue;
        };
        if first_seen < since || first_seen > now {
            continue;
        }
        // Day → (had conversation, had a contribution).
        let mut engaged: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for (day, name, n) in &member.activity {
            let Some(event_type) = EventType::parse(name) else {
                continue;
            };
            if *n <= 0 {
                continue;
            }
            let contribution = rule.is_contribution(event_type);
            let talk = is_conversation(event_type) && !contribution;
            if contribution || talk {
                let entry = engaged.entry(day.as_str()).or_insert((false, false));
                entry.0 |= talk;
                entry.1 |= contribution;
            }
        }
        let Some((_, &(talked, contributed))) = engaged.first_key_value() else {
            continue;
        };
        if !talked || contributed {
            continue;
        }
        cohort += 1;
        if engaged.values().any(|&(_, contribution)| contribution) {
            converted += 1;
        }
    }
    (cohort, converted)
}

/// Total depth, and the oldest age seen (0 when nothing waits; none when
/// something waits but no queue could say how old it is).
fn dead_letter_totals(queues: &BTreeMap<String, DeadLetterStats>) -> (i64, Option<i64>) {
    let depth: i64 = queues.values().map(|q| q.depth.max(0)).sum();
    if depth == 0 {
        return (0, Some(0));
    }
    let age = queues
        .values()
        .filter(|q| q.depth > 0)
        .filter_map(|q| q.oldest_age_seconds)
        .max();
    (depth, age)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-11-23 12:00 UTC);

    fn member(id: &str, activity: &[(&str, &str, i64)]) -> MemberSnapshot {
        MemberSnapshot {
            member_id: id.to_owned(),
            first_seen_at: Some(datetime!(2025-01-01 00:00 UTC)),
            activity: activity
                .iter()
                .map(|(d, t, n)| ((*d).to_owned(), (*t).to_owned(), *n))
                .collect(),
            ..MemberSnapshot::default()
        }
    }

    fn bot(mut m: MemberSnapshot) -> MemberSnapshot {
        m.is_bot = true;
        m
    }

    fn merged(mut m: MemberSnapshot) -> MemberSnapshot {
        m.merged_into = Some("survivor".into());
        m
    }

    fn first_seen(mut m: MemberSnapshot, at: OffsetDateTime) -> MemberSnapshot {
        m.first_seen_at = Some(at);
        m
    }

    fn contributions(mut m: MemberSnapshot, n: i64) -> MemberSnapshot {
        m.contributions = n;
        m
    }

    struct Data {
        members: Vec<MemberSnapshot>,
        counters: BTreeMap<String, BTreeMap<String, i64>>,
        tickets: Vec<ResolvedTicket>,
        review: Option<OffsetDateTime>,
        dead_letters: BTreeMap<String, DeadLetterStats>,
        rule: ContributionRule,
    }

    impl Data {
        fn new() -> Data {
            Data {
                members: Vec::new(),
                counters: BTreeMap::new(),
                tickets: Vec::new(),
                review: None,
                dead_letters: BTreeMap::new(),
                rule: ContributionRule::shipped().unwrap(),
            }
        }

        fn members(members: Vec<MemberSnapshot>) -> Data {
            Data {
                members,
                ..Data::new()
            }
        }

        fn compute(&self) -> CommunityMetrics {
            compute(&MetricsInput {
                now: NOW,
                members: &self.members,
                counters: &self.counters,
                resolved_tickets: &self.tickets,
                oldest_pending_review: self.review,
                dead_letters: &self.dead_letters,
                contribution: &self.rule,
                cohort_days: DEFAULT_COHORT_DAYS,
            })
        }
    }

    #[test]
    fn empty_data_gives_zeros_and_no_ratios() {
        let metrics = Data::new().compute();
        assert_eq!(
            metrics,
            CommunityMetrics {
                active_contributors_7d: 0,
                active_contributors_30d: 0,
                active_code_contributors_7d: 0,
                active_code_contributors_30d: 0,
                signal_distribution_7d: BTreeMap::new(),
                resolved_tickets_30d: 0,
                median_resolution_seconds: None,
                conversion_cohort: 0,
                converted: 0,
                conversion_rate: None,
                contributors: 0,
                repeat_contributors: 0,
                repeat_contributor_ratio: None,
                review_queue_age_seconds: 0,
                dead_letters: 0,
                dead_letter_age_seconds: Some(0),
            }
        );
    }

    #[test]
    fn the_shipped_contribution_rule_is_the_lifecycle_list() {
        let rule = ContributionRule::shipped().unwrap();
        for t in [
            EventType::PullRequestOpened,
            EventType::PullRequestMerged,
            EventType::PullRequestReviewed,
            EventType::DiscussionAnswered,
        ] {
            assert!(rule.is_contribution(t), "{t}");
        }
        for t in [
            EventType::MessagePosted,
            EventType::IssueCommented,
            EventType::RepoStarred,
            EventType::FirstContribution,
        ] {
            assert!(!rule.is_contribution(t), "{t}");
        }
    }

    #[test]
    fn a_deployers_lifecycle_list_is_used_and_typos_are_refused() {
        let rule =
            ContributionRule::from_lifecycle_json(r#"{"contributionTypes":["release_published"]}"#)
                .unwrap();
        assert!(rule.is_contribution(EventType::ReleasePublished));
        assert!(!rule.is_contribution(EventType::PullRequestOpened));
        let error = ContributionRule::from_lifecycle_json(r#"{"contributionTypes":["pr_opened"]}"#)
            .unwrap_err();
        assert!(error.to_string().contains("pr_opened"), "{error}");
        assert!(ContributionRule::from_lifecycle_json("{}").is_err());
    }

    #[test]
    fn conversation_is_words_not_contributions_or_passive_signals() {
        assert!(is_conversation(EventType::MessagePosted));
        assert!(is_conversation(EventType::IssueCommented));
        assert!(!is_conversation(EventType::ReactionAdded));
        assert!(!is_conversation(EventType::PullRequestOpened));
        assert!(!is_conversation(EventType::MemberJoined));
    }

    #[test]
    fn active_contributors_count_distinct_people_in_each_window() {
        let metrics = Data::members(vec![
            // Twice in the window: one person.
            member(
                "a",
                &[
                    ("2026-11-23", "message_posted", 2),
                    ("2026-11-20", "reply_posted", 1),
                ],
            ),
            member("b", &[("2026-11-10", "issue_commented", 1)]),
            member("c", &[("2026-10-01", "message_posted", 1)]),
            member("d", &[]),
        ])
        .compute();
        assert_eq!(metrics.active_contributors_7d, 1);
        assert_eq!(metrics.active_contributors_30d, 2);
    }

    #[test]
    fn window_edges_are_whole_utc_days_ending_today() {
        // 7 days: 2026-11-17 ..= 2026-11-23; 30 days: 2026-10-25 ..= today.
        let metrics = Data::members(vec![
            member("first-day-in", &[("2026-11-17", "message_posted", 1)]),
            member("just-out", &[("2026-11-16", "message_posted", 1)]),
            member("thirty-in", &[("2026-10-25", "message_posted", 1)]),
            member("thirty-out", &[("2026-10-24", "message_posted", 1)]),
            member("tomorrow", &[("2026-11-24", "message_posted", 1)]),
        ])
        .compute();
        assert_eq!(metrics.active_contributors_7d, 1);
        assert_eq!(metrics.active_contributors_30d, 3);
        assert_eq!(
            last_days(NOW, 3),
            ["2026-11-21", "2026-11-22", "2026-11-23"]
        );
    }

    #[test]
    fn zero_counts_and_unknown_types_do_not_make_a_contributor() {
        let metrics = Data::members(vec![
            member("zero", &[("2026-11-23", "pull_request_opened", 0)]),
            member("odd", &[("2026-11-23", "telepathy", 3)]),
        ])
        .compute();
        // Unknown types are still activity; zero counts are not.
        assert_eq!(metrics.active_contributors_7d, 1);
        assert_eq!(metrics.active_code_contributors_7d, 0);
    }

    #[test]
    fn bots_and_merged_members_are_never_counted() {
        let activity = [
            ("2026-11-23", "pull_request_merged", 5),
            ("2026-11-22", "message_posted", 5),
        ];
        let metrics = Data::members(vec![
            contributions(bot(member("ci", &activity)), 9),
            contributions(merged(member("old", &activity)), 3),
            first_seen(
                bot(member(
                    "new-bot",
                    &[
                        ("2026-11-20", "message_posted", 1),
                        ("2026-11-21", "pull_request_opened", 1),
                    ],
                )),
                datetime!(2026-11-19 00:00 UTC),
            ),
        ])
        .compute();
        assert_eq!(metrics.active_contributors_7d, 0);
        assert_eq!(metrics.active_contributors_30d, 0);
        assert_eq!(metrics.active_code_contributors_30d, 0);
        assert_eq!(metrics.contributors, 0);
        assert_eq!(metrics.repeat_contributor_ratio, None);
        assert_eq!(metrics.conversion_cohort, 0);
    }

    #[test]
    fn code_contributors_need_a_contribution_type_in_the_window() {
        let metrics = Data::members(vec![
            member("pr", &[("2026-11-22", "pull_request_opened", 1)]),
            member("review", &[("2026-11-01", "pull_request_reviewed", 1)]),
            member("answer", &[("2026-11-20", "discussion_answered", 1)]),
            member("talk", &[("2026-11-22", "message_posted", 9)]),
            member("old-pr", &[("2026-10-01", "pull_request_merged", 1)]),
        ])
        .compute();
        assert_eq!(metrics.active_code_contributors_7d, 2);
        assert_eq!(metrics.active_code_contributors_30d, 3);
        assert_eq!(metrics.active_contributors_7d, 3);
    }

    #[test]
    fn signal_distribution_sums_categories_over_the_window() {
        let mut data = Data::new();
        let day = |pairs: &[(&str, i64)]| -> BTreeMap<String, i64> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        data.counters.insert(
            "2026-11-23".into(),
            day(&[
                ("category:bug_report", 2),
                ("category:question", 1),
                ("events", 10),
                ("type:message_posted", 7),
            ]),
        );
        data.counters.insert(
            "2026-11-17".into(),
            day(&[("category:bug_report", 1), ("category:chat", 0)]),
        );
        // Outside the window.
        data.counters
            .insert("2026-11-16".into(), day(&[("category:noise", 50)]));
        let metrics = data.compute();
        let shares: Vec<(&str, i64, f64)> = metrics
            .signal_distribution_7d
            .iter()
            .map(|(k, v)| (k.as_str(), v.count, v.share))
            .collect();
        assert_eq!(shares, [("bug_report", 3, 0.75), ("question", 1, 0.25)]);
    }

    #[test]
    fn median_resolution_covers_the_last_thirty_days() {
        let ticket = |reported: OffsetDateTime, resolved: OffsetDateTime| ResolvedTicket {
            first_report_at: reported,
            resolved_at: resolved,
        };
        let mut data = Data::new();
        data.tickets = vec![
            ticket(
                datetime!(2026-11-20 12:00 UTC),
                datetime!(2026-11-20 13:00 UTC),
            ),
            ticket(
                datetime!(2026-11-01 12:00 UTC),
                datetime!(2026-11-03 12:00 UTC),
            ),
            // Exactly 30 days ago: in.
            ticket(
                datetime!(2026-10-24 12:00 UTC),
                datetime!(2026-10-24 12:00 UTC),
            ),
            // A second earlier: out.
            ticket(
                datetime!(2026-09-01 00:00 UTC),
                datetime!(2026-10-24 11:59:59 UTC),
            ),
            // Reported after resolution: instant, not negative.
            ticket(
                datetime!(2026-11-22 12:00 UTC),
                datetime!(2026-11-22 11:00 UTC),
            ),
        ];
        let metrics = data.compute();
        assert_eq!(metrics.resolved_tickets_30d, 4);
        // 0, 0, 3600, 172800 → (0 + 3600) / 2.
        assert_eq!(metrics.median_resolution_seconds, Some(1800.0));
        data.tickets.truncate(2);
        // 3600, 172800: even count, mean of the middle two.
        assert_eq!(data.compute().median_resolution_seconds, Some(88_200.0));
        data.tickets.truncate(1);
        assert_eq!(data.compute().median_resolution_seconds, Some(3600.0));
        data.tickets.clear();
        assert_eq!(data.compute().median_resolution_seconds, None);
    }

    #[test]
    fn conversion_follows_newcomers_who_started_talking() {
        let recent = datetime!(2026-11-01 00:00 UTC);
        let metrics = Data::members(vec![
            // Talked, then contributed: converted.
            first_seen(
                member(
                    "convert",
                    &[
                        ("2026-11-01", "member_joined", 1),
                        ("2026-11-02", "message_posted", 1),
                        ("2026-11-09", "pull_request_opened", 1),
                    ],
                ),
                recent,
            ),
            // Talked only: in the cohort, not converted.
            first_seen(
                member("talker", &[("2026-11-05", "issue_commented", 2)]),
                recent,
            ),
            // Started with a contribution the same day: not the cohort.
            first_seen(
                member(
                    "drive-by",
                    &[
                        ("2026-11-03", "pull_request_opened", 1),
                        ("2026-11-03", "message_posted", 1),
                    ],
                ),
                recent,
            ),
            // Said nothing yet: not the cohort.
            first_seen(
                member("lurker", &[("2026-11-03", "repo_starred", 1)]),
                recent,
            ),
            // First seen before the cohort window.
            first_seen(
                member(
                    "veteran",
                    &[
                        ("2026-11-02", "message_posted", 1),
                        ("2026-11-09", "pull_request_opened", 1),
                    ],
                ),
                datetime!(2026-08-01 00:00 UTC),
            ),
            // Unknown first sighting: not placed in any cohort.
            MemberSnapshot {
                first_seen_at: None,
                ..member("unknown", &[("2026-11-02", "message_posted", 1)])
            },
            merged(first_seen(
                member(
                    "merged",
                    &[
                        ("2026-11-02", "message_posted", 1),
                        ("2026-11-09", "pull_request_opened", 1),
                    ],
                ),
                recent,
            )),
        ])
        .compute();
        assert_eq!(metrics.conversion_cohort, 2);
        assert_eq!(metrics.converted, 1);
        assert_eq!(metrics.conversion_rate, Some(0.5));
    }

    #[test]
    fn the_cohort_window_edge_is_inclusive() {
        let edge = NOW - Duration::days(DEFAULT_COHORT_DAYS);
        let talk = [("2026-09-01", "message_posted", 1)];
        let metrics = Data::members(vec![
            first_seen(member("edge", &talk), edge),
            first_seen(member("before", &talk), edge - Duration::seconds(1)),
        ])
        .compute();
        assert_eq!(metrics.conversion_cohort, 1);
        assert_eq!(metrics.conversion_rate, Some(0.0));
    }

    #[test]
    fn repeat_contributors_over_contributors() {
        let metrics = Data::members(vec![
            contributions(member("one", &[]), 1),
            contributions(member("two", &[]), 2),
            contributions(member("many", &[]), 7),
            contributions(member("none", &[]), 0),
            contributions(merged(member("merged", &[])), 5),
        ])
        .compute();
        assert_eq!(metrics.contributors, 3);
        assert_eq!(metrics.repeat_contributors, 2);
        assert_eq!(metrics.repeat_contributor_ratio, Some(2.0 / 3.0));
    }

    #[test]
    fn review_queue_age_is_the_oldest_pending_wait() {
        let mut data = Data::new();
        data.review = Some(NOW - Duration::hours(30));
        assert_eq!(data.compute().review_queue_age_seconds, 30 * 3600);
        // Held "in the future" (clock skew): no negative age.
        data.review = Some(NOW + Duration::minutes(1));
        assert_eq!(data.compute().review_queue_age_seconds, 0);
    }

    #[test]
    fn dead_letters_sum_depths_and_take_the_oldest_age() {
        let mut data = Data::new();
        data.dead_letters = BTreeMap::from([
            (
                "raw-dlq".to_owned(),
                DeadLetterStats {
                    depth: 2,
                    oldest_age_seconds: Some(600),
                },
            ),
            (
                "normalized-dlq".to_owned(),
                DeadLetterStats {
                    depth: 1,
                    oldest_age_seconds: Some(7200),
                },
            ),
            ("empty-dlq".to_owned(), DeadLetterStats::default()),
        ]);
        let metrics = data.compute();
        assert_eq!(metrics.dead_letters, 3);
        assert_eq!(metrics.dead_letter_age_seconds, Some(7200));

        // Messages wait, but all in flight: the age is unknown, not zero.
        data.dead_letters = BTreeMap::from([(
            "raw-dlq".to_owned(),
            DeadLetterStats {
                depth: 1,
                oldest_age_seconds: None,
            },
        )]);
        let metrics = data.compute();
        assert_eq!(metrics.dead_letters, 1);
        assert_eq!(metrics.dead_letter_age_seconds, None);
    }

    #[test]
    fn metrics_serialize_in_camel_case_and_round_trip() {
        let metrics =
            Data::members(vec![member("a", &[("2026-11-23", "message_posted", 1)])]).compute();
        let json = serde_json::to_value(&metrics).unwrap();
        assert_eq!(json["activeContributors7d"], 1);
        assert_eq!(json["activeCodeContributors30d"], 0);
        assert!(json["medianResolutionSeconds"].is_null());
        assert_eq!(json["deadLetterAgeSeconds"], 0);
        let back: CommunityMetrics = serde_json::from_value(json).unwrap();
        assert_eq!(back, metrics);
    }
}
