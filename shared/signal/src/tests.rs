use super::*;
use canonical_event::{Actor, Content, EventId, Platform, Source};
use proptest::prelude::*;
use time::macros::datetime;

fn draft(event_type: EventType) -> EventDraft {
    EventDraft {
        event_id: EventId::derive(Platform::Github, "d", 0).unwrap(),
        platform: Platform::Github,
        event_type,
        actor: Actor {
            platform_user_id: "1".into(),
            handle: "alice".into(),
            display_name: None,
            is_bot: false,
        },
        timestamp: datetime!(2026-11-23 12:00 UTC),
        received_at: datetime!(2026-11-23 12:00 UTC),
        source: Source::default(),
        content: Content::default(),
        first_time_contributor: false,
        delivery_id: "d".into(),
        index_in_delivery: 0,
        platform_event: "x".into(),
        adapter: "github@1".into(),
    }
}

#[test]
fn labelled_bug_with_repro_steps_goes_to_the_backlog_with_its_reasons() {
    let mut d = draft(EventType::IssueOpened);
    d.content.labels = vec!["Bug".into()];
    d.content.excerpt = Some("Steps to reproduce: 1. run it".into());
    let a = assess(&d);
    assert_eq!(a.signal, Signal::Medium);
    assert_eq!(a.routing_target, RoutingTarget::ProductBacklog);
    assert_eq!(
        a.signal_score, 0.69,
        "0.45 + 0.15 + 0.1, held at the report ceiling"
    );
    let rules: Vec<_> = a.reasons.iter().map(|r| r.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "event:issue_opened",
            "label:bug",
            "text:bug_report_structure"
        ]
    );
}

#[test]
fn contributions_are_high_and_recognised() {
    for t in [
        EventType::PullRequestMerged,
        EventType::PullRequestOpened,
        EventType::DiscussionAnswered,
        EventType::PullRequestReviewed,
    ] {
        let a = assess(&draft(t));
        assert_eq!(a.signal, Signal::High, "{t}");
        assert_eq!(a.routing_target, RoutingTarget::Recognition, "{t}");
    }
}

#[test]
fn chatter_and_stars_are_low_analytics() {
    for t in [
        EventType::RepoStarred,
        EventType::IssueCommented,
        EventType::MemberJoined,
        EventType::RepoForked,
    ] {
        let a = assess(&draft(t));
        assert_eq!(
            (a.signal, a.routing_target),
            (Signal::Low, RoutingTarget::Analytics),
            "{t}"
        );
    }
}

#[test]
fn bots_score_zero_and_go_to_analytics() {
    let mut d = draft(EventType::PullRequestMerged);
    d.actor.is_bot = true;
    let a = assess(&d);
    assert_eq!(a.signal_score, 0.0);
    assert_eq!(a.routing_target, RoutingTarget::Analytics);
    assert!(a.reasons.iter().any(|r| r.rule == "actor:bot"));
}

proptest! {
    #[test]
    fn score_is_bounded_band_consistent_and_explained(
        t in proptest::sample::select(EventType::ALL.to_vec()),
        labels in proptest::collection::vec("[a-zA-Z :/]{0,12}", 0..4),
        body in proptest::option::of(".{0,80}"),
        bot in any::<bool>(),
        first in any::<bool>(),
    ) {
        let mut d = draft(t);
        d.content.labels = labels;
        d.content.excerpt = body;
        d.actor.is_bot = bot;
        d.first_time_contributor = first;
        let a = assess(&d);
        prop_assert!((0.0..=1.0).contains(&a.signal_score));
        prop_assert_eq!(a.signal, band(a.signal_score));
        prop_assert!(!a.reasons.is_empty());
        prop_assert_eq!(a.scoring.as_str(), SCORING_VERSION);
        if matches!(t, EventType::IssueOpened | EventType::DiscussionOpened) {
            prop_assert!(a.routing_target != RoutingTarget::Recognition, "reports are feedback, not contributions");
        }
    }
}
