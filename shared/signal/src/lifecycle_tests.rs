use canonical_event::EventType;
use time::macros::datetime;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

fn config() -> LifecycleConfig {
    LifecycleConfig::shipped().unwrap()
}

fn did(event_type: EventType, days_ago: i64) -> Activity {
    Activity {
        event_type,
        at: NOW - time::Duration::days(days_ago),
    }
}

#[test]
fn stages_rise_with_activity_and_contributions() {
    assert_eq!(standing(&[], NOW, &config()).stage, Stage::Newcomer);
    let chatty: Vec<Activity> = (0..10).map(|d| did(EventType::MessagePosted, d)).collect();
    let s = standing(&chatty, NOW, &config());
    assert_eq!(s.stage, Stage::Participant, "{s:?}");
    // Chat alone never makes a contributor, however much of it.
    let very_chatty: Vec<Activity> = (0..200)
        .map(|d| did(EventType::MessagePosted, d % 5))
        .collect();
    assert_eq!(
        standing(&very_chatty, NOW, &config()).stage,
        Stage::Participant
    );
    let mut first_pr = chatty.clone();
    first_pr.push(did(EventType::PullRequestMerged, 1));
    let s = standing(&first_pr, NOW, &config());
    assert_eq!((s.stage, s.contributions), (Stage::Contributor, 1));
    let mut regular = first_pr.clone();
    regular.extend([
        did(EventType::PullRequestOpened, 3),
        did(EventType::PullRequestReviewed, 4),
    ]);
    assert_eq!(standing(&regular, NOW, &config()).stage, Stage::Regular);
}

#[test]
fn inactivity_decays_the_stage() {
    let bursts: Vec<Activity> = (0..4)
        .map(|i| did(EventType::PullRequestMerged, i))
        .chain((0..5).map(|i| did(EventType::ReplyPosted, i)))
        .collect();
    let fresh = standing(&bursts, NOW, &config());
    assert_eq!(fresh.stage, Stage::Regular, "{fresh:?}");
    // The same activity, two months on: points have halved twice.
    let later = standing(&bursts, NOW + time::Duration::days(60), &config());
    assert!(later.points < fresh.points / 3.5, "{later:?}");
    assert!(later.stage < fresh.stage);
    // Outside the window it no longer counts at all.
    let gone = standing(&bursts, NOW + time::Duration::days(120), &config());
    assert_eq!((gone.stage, gone.points), (Stage::Newcomer, 0.0));
}

#[test]
fn transitions_are_first_contribution_and_stage_changes() {
    let after = Standing {
        stage: Stage::Contributor,
        points: 10.0,
        contributions: 1,
    };
    assert_eq!(
        transitions(Stage::Participant, &after, false),
        vec![
            Transition::FirstContribution,
            Transition::StageUp {
                from: Stage::Participant,
                to: Stage::Contributor
            }
        ]
    );
    assert_eq!(transitions(Stage::Contributor, &after, true), vec![]);
    assert_eq!(
        transitions(Stage::Regular, &after, true),
        vec![Transition::StageDown {
            from: Stage::Regular,
            to: Stage::Contributor
        }]
    );
}

#[test]
fn thresholds_are_configurable_and_checked() {
    let mut json: serde_json::Value = serde_json::from_str(DEFAULT_LIFECYCLE).unwrap();
    json["stages"][1]["minPoints"] = serde_json::json!(1);
    let lenient = LifecycleConfig::from_json(&json.to_string()).unwrap();
    let two = [
        did(EventType::MessagePosted, 0),
        did(EventType::MessagePosted, 1),
    ];
    assert_eq!(standing(&two, NOW, &lenient).stage, Stage::Participant);
    assert_eq!(standing(&two, NOW, &config()).stage, Stage::Newcomer);
    json["stages"][1]["minPoints"] = serde_json::json!(100);
    assert!(
        LifecycleConfig::from_json(&json.to_string()).is_err(),
        "out of order"
    );
    json["stages"][1]["minPoints"] = serde_json::json!(3);
    json["halfLifeDays"] = serde_json::json!(0);
    assert!(LifecycleConfig::from_json(&json.to_string()).is_err());
}

#[test]
fn stage_names_round_trip() {
    for stage in Stage::ALL {
        assert_eq!(Stage::parse(stage.as_str()), Some(stage));
    }
    assert_eq!(Stage::parse("legend"), None);
}
