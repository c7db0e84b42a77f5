//! The checked-in JSON Schema must be exactly what the types generate, and
//! every serialized event must agree with the types' own names.
//! Regenerate with `UPDATE_SCHEMA=1 cargo test -p canonical-event --test schema`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use canonical_event::*;
use proptest::prelude::*;

const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/schema/canonical-event.v1.schema.json"
);

fn generated_schema() -> String {
    let schema = schemars::schema_for!(CanonicalEvent);
    let mut text = serde_json::to_string_pretty(&schema).unwrap();
    text.push('\n');
    text
}

#[test]
fn checked_in_schema_matches_the_types() {
    let generated = generated_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(SCHEMA_PATH, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(SCHEMA_PATH).expect(
        "schema file missing: run UPDATE_SCHEMA=1 cargo test -p canonical-event --test schema",
    );
    assert!(
        checked_in == generated,
        "schema/canonical-event.v1.schema.json is stale: run UPDATE_SCHEMA=1 cargo test -p canonical-event --test schema"
    );
}

/// Every property the schema declares is a field a serialized event can
/// carry, and every field of a full event is declared: a hand edit of the
/// schema (or of the serde attributes) shows up here.
#[test]
fn schema_properties_are_the_serialized_fields() {
    let schema: serde_json::Value = serde_json::from_str(&generated_schema()).unwrap();
    let declared: std::collections::BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let event = serde_json::to_value(sample_event()).unwrap();
    let present: std::collections::BTreeSet<String> =
        event.as_object().unwrap().keys().cloned().collect();
    assert_eq!(declared, present);
    let required: std::collections::BTreeSet<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    // Every top-level field is required except the verdicts added after v1
    // shipped, which events stored before them lack.
    let optional: std::collections::BTreeSet<String> = ["classification", "moderation"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        required,
        present.difference(&optional).cloned().collect(),
        "every other top-level field is required"
    );
    // Enum values in the schema are exactly the serialized names.
    let types: Vec<String> = EventType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    let text = generated_schema();
    for t in &types {
        assert!(
            text.contains(&format!("\"{t}\"")),
            "schema lacks event type {t}"
        );
        assert_eq!(
            serde_json::to_value(EventType::ALL[types.iter().position(|x| x == t).unwrap()])
                .unwrap(),
            *t
        );
    }
    for r in RoutingTarget::ALL {
        assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        assert!(text.contains(&format!("\"{}\"", r.as_str())));
    }
}

fn sample_event() -> CanonicalEvent {
    CanonicalEvent {
        schema_version: SCHEMA_VERSION,
        event_id: EventId::derive(Platform::Github, "d1", 0).unwrap(),
        platform: Platform::Github,
        event_type: EventType::IssueOpened,
        user_id: "mem_1".into(),
        actor: Actor {
            platform_user_id: "1".into(),
            handle: "octocat".into(),
            display_name: Some("The Octocat".into()),
            is_bot: false,
        },
        timestamp: time::macros::datetime!(2026-11-23 10:00:00 UTC),
        received_at: time::macros::datetime!(2026-11-23 10:00:01 UTC),
        source: Source {
            repository: Some("octo/repo".into()),
            channel: None,
            thread_id: Some("1".into()),
            url: Some("https://github.com/octo/repo/issues/1".into()),
        },
        content: Content {
            title: Some("crash".into()),
            excerpt: Some("steps to reproduce".into()),
            labels: vec!["bug".into()],
        },
        signal_score: 0.6,
        signal: Signal::Medium,
        reasons: vec![Reason {
            rule: "label:bug".into(),
            weight: 0.2,
            detail: "labelled bug".into(),
        }],
        routing_target: RoutingTarget::ProductBacklog,
        provenance: Provenance {
            delivery_id: "d1".into(),
            index_in_delivery: 0,
            platform_event: "issues.opened".into(),
            adapter: "github@1".into(),
            scoring: "categories@1".into(),
        },
        classification: Some(Classification {
            category: Category::BugReport,
            score: 0.8,
            weights_version: "categories@1".into(),
        }),
        moderation: Some(Moderation {
            held: false,
            flags: vec![ModerationFlag {
                kind: FlagKind::Toxicity,
                score: 0.3,
                reasons: vec![Reason {
                    rule: "toxicity:mild".into(),
                    weight: 0.3,
                    detail: "mild language".into(),
                }],
            }],
            release_target: RoutingTarget::ProductBacklog,
            lexicon_version: "moderation@1".into(),
        }),
    }
}

fn arb_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 éü漢🎉_\\-\\n\"\\\\]{0,40}").unwrap()
}

prop_compose! {
    fn arb_event()(
        delivery in "[a-f0-9\\-]{1,36}",
        index in 0u32..5,
        platform in proptest::sample::select(Platform::ALL.to_vec()),
        event_type in proptest::sample::select(EventType::ALL.to_vec()),
        routing in proptest::sample::select(RoutingTarget::ALL.to_vec()),
        handle in arb_text(),
        display in proptest::option::of(arb_text()),
        is_bot in any::<bool>(),
        title in proptest::option::of(arb_text()),
        body in proptest::option::of(arb_text()),
        labels in proptest::collection::vec(arb_text(), 0..3),
        score in 0.0f64..=1.0,
        secs in 0i64..4_000_000_000,
        category in proptest::option::of(proptest::sample::select(Category::ALL.to_vec())),
        held in proptest::option::of(any::<bool>()),
    ) -> CanonicalEvent {
        let mut e = sample_event();
        e.event_id = EventId::derive(platform, &delivery, index).unwrap();
        e.platform = platform;
        e.event_type = event_type;
        e.routing_target = routing;
        e.actor.handle = handle;
        e.actor.display_name = display;
        e.actor.is_bot = is_bot;
        e.content.title = title;
        e.content.excerpt = body;
        e.content.labels = labels;
        e.signal_score = score;
        e.timestamp = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        e.classification = category.map(|category| Classification {
            category,
            score,
            weights_version: "categories@1".into(),
        });
        match held {
            Some(held) => {
                if let Some(m) = e.moderation.as_mut() {
                    m.held = held;
                }
            }
            None => e.moderation = None,
        }
        e
    }
}

proptest! {
    #[test]
    fn json_round_trip_is_lossless(event in arb_event()) {
        let text = serde_json::to_string(&event).unwrap();
        let back: CanonicalEvent = serde_json::from_str(&text).unwrap();
        back.validate().unwrap();
        prop_assert_eq!(back, event);
    }

    #[test]
    fn excerpt_never_exceeds_its_bound(text in any::<String>(), max in 0usize..50) {
        if let Some(cut) = excerpt(&text, max) {
            prop_assert!(cut.chars().count() <= max);
        }
    }
}

#[test]
fn unknown_fields_and_versions_are_rejected() {
    let mut value = serde_json::to_value(sample_event()).unwrap();
    value["surprise"] = serde_json::json!(1);
    assert!(serde_json::from_value::<CanonicalEvent>(value).is_err());
    let mut event = sample_event();
    event.schema_version = 2;
    assert!(matches!(
        event.validate(),
        Err(DecodeError::UnsupportedVersion(2))
    ));
    event.schema_version = 1;
    event.signal_score = 1.5;
    assert!(matches!(
        event.validate(),
        Err(DecodeError::ScoreOutOfRange(_))
    ));
    let mut event = sample_event();
    event.moderation.as_mut().unwrap().flags[0].score = -0.1;
    assert!(matches!(
        event.validate(),
        Err(DecodeError::ScoreOutOfRange(_))
    ));
}

#[test]
fn events_scored_before_classification_still_read() {
    let mut value = serde_json::to_value(sample_event()).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("classification");
    object.remove("moderation");
    let event: CanonicalEvent = serde_json::from_value(value).unwrap();
    assert_eq!(event.classification, None);
    assert_eq!(event.moderation, None);
    let text = serde_json::to_string(&event).unwrap();
    assert!(!text.contains("classification") && !text.contains("moderation"));
}
