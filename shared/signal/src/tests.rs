use super::*;
use canonical_event::{Actor, Content, EventId, EventType, FlagKind, Platform, Source};
use proptest::prelude::*;
use time::macros::datetime;

fn draft(platform: Platform, event_type: EventType) -> EventDraft {
    EventDraft {
        event_id: EventId::derive(platform, "d", 0).unwrap(),
        platform,
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
        adapter: "test@1".into(),
        identity_hints: Default::default(),
    }
}

fn models() -> Models {
    Models::shipped().unwrap()
}

fn assessed(d: &EventDraft) -> Assessment {
    assess(d, &Facts::default(), &models())
}

#[test]
fn a_labelled_bug_report_is_medium_and_goes_to_the_backlog_with_its_reasons() {
    let mut d = draft(Platform::Github, EventType::IssueOpened);
    d.content.title = Some("Export crashes on large files".into());
    d.content.labels = vec!["bug".into()];
    d.content.excerpt =
        Some("Steps to reproduce: 1. run it. Expected: a file. Actual: panic".into());
    let a = assessed(&d);
    let c = a.classification.as_ref().unwrap();
    assert_eq!(c.category, Category::BugReport);
    assert_eq!(c.weights_version, "categories@1");
    assert_eq!(a.scoring, "categories@1");
    assert_eq!(a.signal, Signal::Medium);
    assert_eq!(a.routing_target, RoutingTarget::ProductBacklog);
    assert!((MEDIUM_AT..HIGH_AT).contains(&a.signal_score), "{a:?}");
    assert!(a.reasons.iter().any(|r| r.rule == "label:bug"), "{a:?}");
    assert!(a.moderation.is_none());
}

#[test]
fn a_bug_report_in_slack_chat_reaches_the_backlog_too() {
    let mut d = draft(Platform::Slack, EventType::MessagePosted);
    d.content.excerpt = Some(
        "the importer crashes since 2.3 — steps to reproduce: upload a 2GB csv, expected it to load, actual: panicked at src/lib.rs:10".into(),
    );
    let a = assessed(&d);
    assert_eq!(a.classification.unwrap().category, Category::BugReport);
    assert_eq!(a.routing_target, RoutingTarget::ProductBacklog);
}

#[test]
fn a_merged_pull_request_is_high_and_recognised() {
    let mut d = draft(Platform::Github, EventType::PullRequestMerged);
    d.content.title = Some("Fix the importer's off-by-one".into());
    let a = assessed(&d);
    assert_eq!(a.classification.unwrap().category, Category::Contribution);
    assert_eq!(a.signal, Signal::High);
    assert_eq!(a.routing_target, RoutingTarget::Recognition);
    assert!(a.signal_score >= HIGH_AT);
}

#[test]
fn chat_is_low_and_goes_to_analytics() {
    let mut d = draft(Platform::Discord, EventType::MessagePosted);
    d.content.excerpt = Some("good morning everyone, lovely weather here".into());
    let a = assessed(&d);
    assert_eq!(a.signal, Signal::Low);
    assert_eq!(a.routing_target, RoutingTarget::Analytics);
}

#[test]
fn bots_score_zero_go_to_analytics_and_are_not_moderated() {
    let mut d = draft(Platform::Github, EventType::PullRequestOpened);
    d.actor.is_bot = true;
    d.content.title = Some("FREE CRYPTO airdrop https://bit.ly/x https://t.co/y".into());
    let a = assessed(&d);
    assert_eq!(a.signal_score, 0.0);
    assert_eq!(a.routing_target, RoutingTarget::Analytics);
    assert!(a.moderation.is_none());
    assert!(a.reasons.iter().any(|r| r.rule == "actor:bot"));
}

#[test]
fn spam_is_held_for_review_and_keeps_the_target_approval_releases_it_to() {
    let mut d = draft(Platform::Slack, EventType::MessagePosted);
    d.content.excerpt =
        Some("FREE CRYPTO airdrop, claim your tokens: https://bit.ly/x https://t.co/y".into());
    let a = assessed(&d);
    assert_eq!(a.routing_target, RoutingTarget::Review);
    let m = a.moderation.as_ref().unwrap();
    assert!(m.held);
    assert_eq!(m.lexicon_version, "moderation@1");
    assert_eq!(m.release_target, target_of(a.signal));
    assert!(m.flags.iter().any(|f| f.kind == FlagKind::Spam));
    assert!(a.reasons.iter().any(|r| r.rule == "moderation:held"));
}

#[test]
fn a_repeated_link_from_a_brand_new_member_is_held_but_not_from_a_regular() {
    let mut d = draft(Platform::Discord, EventType::MessagePosted);
    d.content.excerpt =
        Some("check out my tool https://mytool.example https://mytool.example/pricing".into());
    let newcomer = Facts {
        moderation: moderation::Context {
            member_age_hours: Some(2),
            same_text_count: 3,
        },
        ..Facts::default()
    };
    assert_eq!(
        assess(&d, &newcomer, &models()).routing_target,
        RoutingTarget::Review
    );
    let regular = Facts {
        moderation: moderation::Context {
            member_age_hours: Some(24 * 400),
            same_text_count: 1,
        },
        ..Facts::default()
    };
    assert_ne!(
        assess(&d, &regular, &models()).routing_target,
        RoutingTarget::Review
    );
}

#[test]
fn a_reply_inside_a_bug_thread_inherits_the_thread_s_category() {
    let mut d = draft(Platform::Discourse, EventType::ReplyPosted);
    d.content.excerpt = Some("same here on 2.3, also on linux".into());
    let facts = Facts {
        classify: classify::Context {
            thread_category: Some(Category::BugReport),
            ..classify::Context::default()
        },
        ..Facts::default()
    };
    let a = assess(&d, &facts, &models());
    assert_eq!(a.classification.unwrap().category, Category::BugReport);
}

fn any_event_type() -> impl Strategy<Value = EventType> {
    proptest::sample::select(EventType::ALL.to_vec())
}

proptest! {
    /// Whatever the input: the score is in 0..=1 and inside its band, the
    /// band follows the category, and the target follows the band unless
    /// moderation held the event (then it is `review` and the band's target
    /// is kept as the release target).
    #[test]
    fn scores_bands_and_targets_agree(
        event_type in any_event_type(),
        title in proptest::option::of(".{0,80}"),
        text in proptest::option::of(".{0,300}"),
        labels in proptest::collection::vec("[a-z: ]{0,12}", 0..3),
        is_bot in any::<bool>(),
        age in proptest::option::of(0u64..10_000),
        repeats in 0u32..6,
    ) {
        let mut d = draft(Platform::Github, event_type);
        d.content.title = title;
        d.content.excerpt = text;
        d.content.labels = labels;
        d.actor.is_bot = is_bot;
        let facts = Facts {
            moderation: moderation::Context { member_age_hours: age, same_text_count: repeats },
            ..Facts::default()
        };
        let a = assess(&d, &facts, &models());
        prop_assert!((0.0..=1.0).contains(&a.signal_score));
        if is_bot {
            prop_assert_eq!(a.routing_target, RoutingTarget::Analytics);
            prop_assert!(a.moderation.is_none());
        } else {
            let category = a.classification.as_ref().unwrap().category;
            prop_assert_eq!(a.signal, band_of(category));
            prop_assert_eq!(band(a.signal_score), a.signal);
            match &a.moderation {
                Some(m) if m.held => {
                    prop_assert_eq!(a.routing_target, RoutingTarget::Review);
                    prop_assert_eq!(m.release_target, target_of(a.signal));
                }
                _ => prop_assert_eq!(a.routing_target, target_of(a.signal)),
            }
        }
    }
}
