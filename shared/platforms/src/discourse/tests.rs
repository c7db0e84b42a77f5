use canonical_event::{EventType, Platform};
use serde_json::value::RawValue;

use super::*;
use crate::Adapted;
use crate::test_support::{NOW, corpus_dir, envelope, headers, lookup, secrets};

/// Discourse's own spec vector (PLATFORM-FACTS.md §4).
const VECTOR_SECRET: &str = "my_lovely_secret_for_web_hook";
const VECTOR_BODY: &str = r#"{"ping":"OK"}"#;
const VECTOR_SIGNATURE: &str =
    "sha256=162f107f6b5022353274eb1a7197885cfd35744d8d08e5bcea025d309386b7d6";

const SECRET: &str = "dev-discourse-webhook-secret";

fn request(event: &str, body: &str, secret: &str) -> std::collections::HashMap<String, String> {
    headers(&[
        (HEADER_SIGNATURE, &sign(secret, body.as_bytes()).unwrap()),
        (HEADER_EVENT, event),
        (HEADER_EVENT_TYPE, "post"),
        (HEADER_INSTANCE, "https://forum.example.com"),
        ("x-discourse-event-id", "77"),
        ("content-type", "application/json"),
    ])
}

fn run(
    map: &std::collections::HashMap<String, String>,
    body: &str,
    active: &[&str],
) -> Result<Accepted, Rejection> {
    accept(
        &secrets(active),
        &Delivery {
            header: lookup(map),
            body: body.as_bytes(),
            received_at: NOW,
        },
    )
}

const REPLY: &str = r#"{"post":{"id":11,"name":"Ada L","username":"ada","created_at":"2026-11-23T10:00:00.000Z","cooked":"<p>Same <b>crash</b> here</p>","post_number":3,"updated_at":"2026-11-23T10:00:00.000Z","topic_id":5,"topic_slug":"export-crash","topic_title":"Export crashes","category_slug":"support","user_id":9,"trust_level":1}}"#;

#[test]
fn discourse_published_vector_verifies() {
    verify_signature(
        &secrets(&[VECTOR_SECRET]),
        Some(VECTOR_SIGNATURE),
        VECTOR_BODY.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        sign(VECTOR_SECRET, VECTOR_BODY.as_bytes()).unwrap(),
        VECTOR_SIGNATURE
    );
}

#[test]
fn corpus_ping_verifies_and_is_answered() {
    let Some(dir) = corpus_dir("discourse") else {
        return;
    };
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ping.request.json")).unwrap())
            .unwrap();
    let body = std::fs::read_to_string(dir.join("ping.json")).unwrap();
    let map = headers(&[
        (
            HEADER_SIGNATURE,
            meta["headers"]["X-Discourse-Event-Signature"]
                .as_str()
                .unwrap(),
        ),
        (HEADER_EVENT, "ping"),
        ("content-type", "application/json"),
    ]);
    assert_eq!(
        run(&map, &body, &[meta["secret"].as_str().unwrap()]),
        Ok(Accepted::Answer(Reply::pong()))
    );
}

#[test]
fn retries_under_new_event_ids_share_one_delivery_id() {
    let first = request("post_created", REPLY, SECRET);
    let mut retry = first.clone();
    retry.insert("x-discourse-event-id".into(), "78".into());
    let (Ok(Accepted::Enqueue { message: a, .. }), Ok(Accepted::Enqueue { message: b, .. })) =
        (run(&first, REPLY, &[SECRET]), run(&retry, REPLY, &[SECRET]))
    else {
        panic!("both accepted")
    };
    assert_eq!(a.deduplication_id, b.deduplication_id);
    assert_eq!(a.delivery_id, b.delivery_id);
    // An edit of the same post (new updated_at) is a different delivery.
    let edited = REPLY.replace(
        r#""updated_at":"2026-11-23T10:00:00.000Z""#,
        r#""updated_at":"2026-11-23T10:05:00.000Z""#,
    );
    let Ok(Accepted::Enqueue { message: c, .. }) =
        run(&request("post_edited", &edited, SECRET), &edited, &[SECRET])
    else {
        panic!()
    };
    assert_ne!(a.deduplication_id, c.deduplication_id);
    // Replies of one topic stay in order.
    assert_eq!(a.group_id, c.group_id);
}

#[test]
fn forged_and_malformed_signatures_are_refused() {
    let good = request("post_created", REPLY, SECRET);
    let hex = good[HEADER_SIGNATURE]
        .trim_start_matches("sha256=")
        .to_owned();
    for bad in [
        format!("sha256={}", &hex[..63]),
        format!("sha256={}0", hex),
        format!("sha256={}xy", &hex[..62]),
        format!("sha1={hex}"),
        hex.clone(),
    ] {
        let mut map = good.clone();
        map.insert(HEADER_SIGNATURE.into(), bad.clone());
        assert_eq!(
            run(&map, REPLY, &[SECRET]),
            Err(Rejection::SignatureInvalid),
            "{bad}"
        );
    }
    assert_eq!(
        run(&good, &REPLY.replace("crash", "crush"), &[SECRET]),
        Err(Rejection::SignatureInvalid)
    );
    assert_eq!(
        run(&good, REPLY, &["wrong"]),
        Err(Rejection::SignatureInvalid)
    );
    // Rotation: old and new both verify.
    assert!(run(&good, REPLY, &["newer", SECRET]).is_ok());
    let mut unsigned = good.clone();
    unsigned.remove(HEADER_SIGNATURE);
    assert_eq!(
        run(&unsigned, REPLY, &[SECRET]),
        Err(Rejection::SignatureMissing)
    );
    let mut nameless = good.clone();
    nameless.remove(HEADER_EVENT);
    assert_eq!(
        run(&nameless, REPLY, &[SECRET]),
        Err(Rejection::BadHeader(HEADER_EVENT))
    );
}

#[test]
fn form_typed_webhooks_send_json_and_are_accepted() {
    // Discourse's "application/x-www-form-urlencoded" setting only changes the
    // header: the body is still the JSON document (emit_web_hook_event.rb).
    let mut map = request("post_created", REPLY, SECRET);
    map.insert(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    );
    assert!(matches!(
        run(&map, REPLY, &[SECRET]),
        Ok(Accepted::Enqueue { .. })
    ));
    // A relay that wraps the JSON in `payload=` is accepted too.
    let wrapped = format!(
        "payload={}",
        form_urlencoded::byte_serialize(REPLY.as_bytes()).collect::<String>()
    );
    let mut map = request("post_created", &wrapped, SECRET);
    map.insert(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    );
    assert!(matches!(
        run(&map, &wrapped, &[SECRET]),
        Ok(Accepted::Enqueue { .. })
    ));
}

#[test]
fn an_event_header_that_does_not_match_the_signed_body_is_refused() {
    // The header is unsigned: a captured post body replayed as a solution, a
    // post as a topic, or a user body as a like must not become those events.
    for event in [
        "accepted_solution",
        "topic_created",
        "post_liked",
        "user_created",
    ] {
        let map = request(event, REPLY, SECRET);
        assert_eq!(
            run(&map, REPLY, &[SECRET]),
            Err(Rejection::BadHeader(HEADER_EVENT)),
            "{event}"
        );
    }
    for event in ["post_created", "post_edited", "post_destroyed"] {
        let map = request(event, REPLY, SECRET);
        assert!(run(&map, REPLY, &[SECRET]).is_ok(), "{event}");
    }
    // Two root objects, or none, is not a Discourse body.
    let two = r#"{"post":{"id":1},"user":{"id":2}}"#;
    assert_eq!(
        run(&request("post_created", two, SECRET), two, &[SECRET]),
        Err(Rejection::MalformedBody)
    );
}

#[test]
fn the_content_version_alone_separates_deliveries() {
    let edited_once = REPLY.replace(
        r#""updated_at":"2026-11-23T10:00:00.000Z""#,
        r#""updated_at":"2026-11-23T10:05:00.000Z""#,
    );
    let edited_twice = REPLY.replace(
        r#""updated_at":"2026-11-23T10:00:00.000Z""#,
        r#""updated_at":"2026-11-23T10:09:00.000Z""#,
    );
    let id = |body: &str| match run(&request("post_edited", body, SECRET), body, &[SECRET]) {
        Ok(Accepted::Enqueue { message, .. }) => message.deduplication_id,
        other => panic!("{other:?}"),
    };
    assert_ne!(id(&edited_once), id(&edited_twice));
    assert_eq!(id(&edited_once), id(&edited_once));
    // A type-mismatched field does not collapse identities: no id → 400.
    let no_id = r#"{"post":{"id":null,"topic_id":5}}"#;
    assert_eq!(
        run(&request("post_created", no_id, SECRET), no_id, &[SECRET]),
        Err(Rejection::MalformedBody)
    );
}

#[test]
fn private_messages_whispers_and_non_edits_are_dropped_by_rule() {
    let pm = REPLY.replace(
        r#""post_number":3"#,
        r#""post_number":3,"topic_archetype":"private_message""#,
    );
    assert_eq!(
        adapt_event("post_created", &pm),
        Adapted::Dropped {
            rule: DROP_PRIVATE_MESSAGE,
            name: "post_created".into()
        }
    );
    let whisper = REPLY.replace(r#""post_number":3"#, r#""post_number":3,"post_type":4"#);
    assert_eq!(
        adapt_event("post_created", &whisper),
        Adapted::Dropped {
            rule: DROP_NOT_A_REGULAR_POST,
            name: "post_created".into()
        }
    );
    // REPLY's updated_at equals its created_at: not an edit.
    assert_eq!(
        adapt_event("post_edited", REPLY),
        Adapted::Dropped {
            rule: DROP_NOT_AN_EDIT,
            name: "post_edited".into()
        }
    );
}

fn adapt_event(event: &str, body: &str) -> Adapted {
    let raw: &RawValue = serde_json::from_str(body).unwrap();
    adapt(&envelope(
        Platform::Discourse,
        event,
        raw,
        Some("https://forum.example.com"),
    ))
    .unwrap()
}

fn one(adapted: Adapted) -> canonical_event::EventDraft {
    match adapted {
        Adapted::Events(mut d) if d.len() == 1 => d.remove(0),
        other => panic!("expected one event, got {other:?}"),
    }
}

#[test]
fn each_mapped_event() {
    let reply = one(adapt_event("post_created", REPLY));
    assert_eq!(reply.event_type, EventType::ReplyPosted);
    assert_eq!(reply.content.excerpt.as_deref(), Some("Same crash here"));
    assert_eq!(
        reply.source.url.as_deref(),
        Some("https://forum.example.com/t/export-crash/5/3")
    );
    assert_eq!(reply.actor.handle, "ada");

    let first_post = REPLY.replace(r#""post_number":3"#, r#""post_number":1"#);
    let opened_by_post = one(adapt_event("post_created", &first_post));
    let topic = r#"{"topic":{"id":5,"title":"Export crashes","slug":"export-crash","created_at":"2026-11-23T10:00:00.000Z","user_id":9,"tags":["bug"],"created_by":{"id":9,"username":"ada","name":"Ada L"}}}"#;
    let opened_by_topic = one(adapt_event("topic_created", topic));
    assert_eq!(opened_by_post.event_type, EventType::DiscussionOpened);
    assert_eq!(opened_by_topic.event_type, EventType::DiscussionOpened);
    assert_eq!(
        opened_by_post.event_id, opened_by_topic.event_id,
        "a new topic is one event whichever webhook arrives first"
    );
    assert_eq!(opened_by_topic.content.labels, vec!["bug"]);

    let changed = REPLY.replace(
        r#""updated_at":"2026-11-23T10:00:00.000Z""#,
        r#""updated_at":"2026-11-23T10:07:00.000Z""#,
    );
    let edited = one(adapt_event("post_edited", &changed));
    assert_eq!(edited.event_type, EventType::MessageEdited);
    assert_ne!(edited.event_id, reply.event_id);

    let like = format!(
        r#"{{"like":{{"post":{},"user":{{"id":12,"username":"bo"}}}}}}"#,
        &REPLY[8..REPLY.len() - 1]
    );
    let liked = one(adapt_event("post_liked", &like));
    assert_eq!(liked.event_type, EventType::ReactionAdded);
    assert_eq!(liked.actor.handle, "bo");

    let solved = REPLY.replace(r#"{"post":"#, r#"{"solved":"#);
    let answered = one(adapt_event("accepted_solution", &solved));
    assert_eq!(answered.event_type, EventType::DiscussionAnswered);
    assert_eq!(
        answered.actor.handle, "ada",
        "credited to the solution's author"
    );

    let user =
        r#"{"user":{"id":13,"username":"cy","name":"Cy","created_at":"2026-11-23T09:00:00.000Z"}}"#;
    let joined = one(adapt_event("user_created", user));
    assert_eq!(joined.event_type, EventType::MemberJoined);

    let system = REPLY.replace(r#""user_id":9"#, r#""user_id":-1"#);
    assert_eq!(
        adapt_event("post_created", &system),
        Adapted::Dropped {
            rule: DROP_SYSTEM_USER,
            name: "post_created".into()
        }
    );
    assert_eq!(
        adapt_event("topic_destroyed", topic),
        Adapted::Dropped {
            rule: DROP_EVENT_NOT_MAPPED,
            name: "topic_destroyed".into()
        }
    );
    assert!(matches!(
        adapt(&envelope(
            Platform::Discourse,
            "post_created",
            serde_json::from_str::<&RawValue>(r#"{"topic":{"id":1}}"#).unwrap(),
            None
        )),
        Err(crate::AdaptError::MissingField { field: "post", .. })
    ));
}
