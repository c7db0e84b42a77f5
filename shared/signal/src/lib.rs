//! The first signal model, `rules@1`: a few clear rules, each leaving a
//! reason, so every score can be explained. The full weighted model comes
//! later; the shape (draft in, assessment with reasons out) stays.
//!
//! Bands: `low` < 0.4 ≤ `medium` < 0.7 ≤ `high`. Routing follows the band
//! (low → analytics, medium → product-backlog, high → recognition), except
//! that bots always go to analytics. Reports (issues, discussions) are
//! product feedback however strong, so their score stays below `high`:
//! a well-written bug report becomes a ticket, not a recognition.

pub mod classify;
pub mod evaluation;
pub mod lifecycle;
pub mod moderation;

use canonical_event::{Assessment, EventDraft, EventType, Reason, RoutingTarget, Signal};

pub const SCORING_VERSION: &str = "rules@1";

pub const MEDIUM_AT: f64 = 0.4;
pub const HIGH_AT: f64 = 0.7;
/// The highest score a report can reach: the top of the medium band.
pub const REPORT_CEILING: f64 = 0.69;

/// Labels that mark a report as product feedback.
const BUG_LABELS: &[&str] = &[
    "bug",
    "type: bug",
    "kind/bug",
    "defect",
    "regression",
    "crash",
];
const FEATURE_LABELS: &[&str] = &[
    "enhancement",
    "feature",
    "feature request",
    "type: feature",
    "kind/feature",
    "idea",
];
/// Text cues of a well-formed bug report.
const BUG_TEXT_CUES: &[&str] = &[
    "steps to reproduce",
    "expected behavior",
    "expected behaviour",
    "actual behavior",
    "actual behaviour",
    "stack trace",
    "traceback",
    "panicked at",
    "exception",
];

/// Scores one draft.
pub fn assess(draft: &EventDraft) -> Assessment {
    let mut reasons = Vec::new();
    let base = base_weight(draft.event_type);
    reasons.push(Reason {
        rule: format!("event:{}", draft.event_type),
        weight: base,
        detail: base_detail(draft.event_type).to_owned(),
    });

    if draft.actor.is_bot {
        reasons.push(Reason {
            rule: "actor:bot".into(),
            weight: -base,
            detail: "automated account; kept for audit, not community signal".into(),
        });
        return finish(0.0, reasons, Some(RoutingTarget::Analytics));
    }

    let mut score = base;
    if is_report(draft.event_type) {
        if let Some(label) = first_label(draft, BUG_LABELS) {
            score += add(
                &mut reasons,
                "label:bug",
                0.15,
                format!("labelled `{label}`"),
            );
        } else if let Some(label) = first_label(draft, FEATURE_LABELS) {
            score += add(
                &mut reasons,
                "label:feature",
                0.1,
                format!("labelled `{label}`"),
            );
        }
        let text = draft
            .content
            .excerpt
            .as_deref()
            .unwrap_or("")
            .to_lowercase();
        if let Some(cue) = BUG_TEXT_CUES.iter().find(|cue| text.contains(*cue)) {
            score += add(
                &mut reasons,
                "text:bug_report_structure",
                0.1,
                format!("mentions \"{cue}\""),
            );
        }
        score = score.min(REPORT_CEILING);
    }
    if draft.first_time_contributor && is_contribution(draft.event_type) {
        score += add(
            &mut reasons,
            "author:first_time",
            0.05,
            "first contribution to this project".into(),
        );
    }
    finish(score, reasons, None)
}

fn add(reasons: &mut Vec<Reason>, rule: &str, weight: f64, detail: String) -> f64 {
    reasons.push(Reason {
        rule: rule.to_owned(),
        weight,
        detail,
    });
    weight
}

fn finish(score: f64, reasons: Vec<Reason>, forced: Option<RoutingTarget>) -> Assessment {
    // Round to 3 decimals so the same inputs print and compare the same everywhere.
    let score = (score.clamp(0.0, 1.0) * 1000.0).round() / 1000.0;
    let signal = band(score);
    let routing_target = forced.unwrap_or(match signal {
        Signal::Low => RoutingTarget::Analytics,
        Signal::Medium => RoutingTarget::ProductBacklog,
        Signal::High => RoutingTarget::Recognition,
    });
    Assessment {
        signal_score: score,
        signal,
        reasons,
        routing_target,
        scoring: SCORING_VERSION.to_owned(),
    }
}

pub fn band(score: f64) -> Signal {
    if score >= HIGH_AT {
        Signal::High
    } else if score >= MEDIUM_AT {
        Signal::Medium
    } else {
        Signal::Low
    }
}

fn base_weight(t: EventType) -> f64 {
    match t {
        EventType::PullRequestMerged => 0.9,
        EventType::PullRequestOpened => 0.75,
        EventType::DiscussionAnswered => 0.75,
        EventType::PullRequestReviewed => 0.7,
        EventType::Sponsorship => 0.7,
        EventType::IssueOpened => 0.45,
        EventType::DiscussionOpened => 0.4,
        EventType::ReleasePublished => 0.3,
        EventType::IssueCommented | EventType::DiscussionCommented | EventType::ReplyPosted => 0.25,
        EventType::MessagePosted => 0.2,
        EventType::IssueClosed => 0.2,
        EventType::RepoForked => 0.15,
        EventType::RepoStarred | EventType::MemberJoined => 0.1,
        EventType::CommandInvoked => 0.3,
        EventType::MessageEdited => 0.05,
        EventType::ReactionAdded => 0.05,
        EventType::MessageDeleted => 0.0,
    }
}

fn base_detail(t: EventType) -> &'static str {
    match t {
        EventType::PullRequestMerged => "merged code or docs contribution",
        EventType::PullRequestOpened => "code or docs contribution proposed",
        EventType::DiscussionAnswered => "answered another member's question",
        EventType::PullRequestReviewed => "reviewed a contribution",
        EventType::Sponsorship => "sponsored the project",
        EventType::IssueOpened => "reported an issue (bug, feature request or support)",
        EventType::DiscussionOpened => "opened a discussion (question or idea)",
        EventType::ReleasePublished => "maintainer activity",
        EventType::IssueCommented | EventType::DiscussionCommented | EventType::ReplyPosted => {
            "took part in a conversation"
        }
        EventType::MessagePosted => "chat message",
        EventType::IssueClosed => "closed an issue",
        EventType::RepoForked => "forked the repository",
        EventType::RepoStarred => "starred the repository",
        EventType::MemberJoined => "joined the community",
        EventType::ReactionAdded => "reacted",
        EventType::CommandInvoked => "used a community command (report, question or feedback)",
        EventType::MessageEdited => "edited a message",
        EventType::MessageDeleted => "deleted a message",
    }
}

fn is_report(t: EventType) -> bool {
    matches!(
        t,
        EventType::IssueOpened | EventType::DiscussionOpened | EventType::CommandInvoked
    )
}

fn is_contribution(t: EventType) -> bool {
    matches!(
        t,
        EventType::PullRequestOpened | EventType::PullRequestMerged | EventType::DiscussionAnswered
    )
}

fn first_label<'d>(draft: &'d EventDraft, wanted: &[&str]) -> Option<&'d str> {
    draft
        .content
        .labels
        .iter()
        .map(String::as_str)
        .find(|l| wanted.iter().any(|w| l.eq_ignore_ascii_case(w)))
}

#[cfg(test)]
mod tests;
