use canonical_event::{EventType, Platform};
use serde_json::value::RawValue;

use super::*;
use crate::Adapted;
use crate::test_support::{NOW, corpus_dir, corpus_files, envelope, headers, lookup, secrets};

/// Slack's documented example ("Verifying requests from Slack"): a slash
/// command body signed with the example signing secret.
const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const DOC_TIMESTAMP: &str = "1531420618";
const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const DOC_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

const SECRET: &str = "dev-slack-signing-secret";
const TEAM: &str = "T043DB835ML";

fn message_body(event_id: &str, event: &str) -> String {
    format!(
        r#"{{"token":"x","team_id":"{TEAM}","api_app_id":"A1","type":"event_callback","event_id":"{event_id}","event_time":1763899200,"event":{event}}}"#
    )
}

const MESSAGE: &str = r#"{"type":"message","user":"U1","text":"The export crashes: steps to reproduce below","ts":"1763899200.000100","channel":"C1","event_ts":"1763899200.000100","channel_type":"channel"}"#;

fn request(body: &str, timestamp: i64, secret: &str) -> std::collections::HashMap<String, String> {
    let ts = timestamp.to_string();
    let signature = sign(secret, &ts, body.as_bytes()).unwrap();
    headers(&[
        (HEADER_SIGNATURE, &signature),
        (HEADER_TIMESTAMP, &ts),
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

#[test]
fn slack_documented_example_verifies_and_signs() {
    verify_signature(
        &secrets(&[DOC_SECRET]),
        Some(DOC_SIGNATURE),
        Some(DOC_TIMESTAMP),
        DOC_BODY.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY.as_bytes()).unwrap(),
        DOC_SIGNATURE
    );
    // The same bytes under another timestamp are a different message.
    assert_eq!(
        verify_signature(
            &secrets(&[DOC_SECRET]),
            Some(DOC_SIGNATURE),
            Some("1531420619"),
            DOC_BODY.as_bytes(),
        ),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn the_documented_slash_command_is_answered_ephemerally_and_becomes_a_command_event() {
    let map = headers(&[
        (HEADER_SIGNATURE, DOC_SIGNATURE),
        (HEADER_TIMESTAMP, DOC_TIMESTAMP),
        ("content-type", "application/x-www-form-urlencoded"),
    ]);
    let at = time::OffsetDateTime::from_unix_timestamp(1_531_420_618).unwrap();
    let accepted = accept(
        &secrets(&[DOC_SECRET]),
        &Delivery {
            header: lookup(&map),
            body: DOC_BODY.as_bytes(),
            received_at: at,
        },
    )
    .unwrap();
    let Accepted::Enqueue { message, reply } = accepted else {
        panic!("enqueue")
    };
    let Reply::Json { status: 200, body } = reply else {
        panic!("json reply")
    };
    assert!(body.contains(r#""response_type":"ephemeral""#), "{body}");
    assert_eq!(message.event_name, EVENT_SLASH_COMMAND);
    assert_eq!(
        message.delivery_id,
        "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    );
    // The verification token and the response URL are not stored.
    assert!(!message.body.contains("xyzz0WbapA4vBCDEFasx0q6G"));
    assert!(!message.body.contains("hooks.slack.com"));
    let envelope = Envelope::decode(&message.body).unwrap();
    let Adapted::Events(drafts) = adapt(&envelope).unwrap() else {
        panic!("event")
    };
    assert_eq!(drafts[0].event_type, EventType::CommandInvoked);
    assert_eq!(drafts[0].actor.handle, "roadrunner");
    assert_eq!(drafts[0].content.labels[0], "command:webhook-collect");
    // Five minutes later the same signed request is a replay.
    let late = accept(
        &secrets(&[DOC_SECRET]),
        &Delivery {
            header: lookup(&map),
            body: DOC_BODY.as_bytes(),
            received_at: at + time::Duration::seconds(301),
        },
    );
    assert_eq!(late, Err(Rejection::StaleTimestamp));
}

#[test]
fn interactivity_is_acknowledged_and_dropped_by_rule() {
    let payload = r#"{"type":"block_actions","token":"legacy-verification-token","trigger_id":"1.2.abc","response_url":"https://hooks.slack.com/actions/T1/2/secret-capability","user":{"id":"U1"},"actions":[]}"#;
    let body = format!(
        "payload={}",
        form_urlencoded::byte_serialize(payload.as_bytes()).collect::<String>()
    );
    let mut map = request(&body, NOW.unix_timestamp(), SECRET);
    map.insert(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    );
    let Accepted::Enqueue { message, reply } = run(&map, &body, &[SECRET]).unwrap() else {
        panic!("enqueue")
    };
    assert_eq!(reply, Reply::Empty { status: 200 });
    assert!(
        !message.body.contains("legacy-verification-token"),
        "{}",
        message.body
    );
    assert!(
        !message.body.contains("secret-capability"),
        "{}",
        message.body
    );
    let envelope = Envelope::decode(&message.body).unwrap();
    assert_eq!(
        adapt(&envelope).unwrap(),
        Adapted::Dropped {
            rule: DROP_INTERACTIVITY,
            name: "block_actions".into()
        }
    );
    // A form that is neither is refused.
    let odd = "hello=world";
    let mut map = request(odd, NOW.unix_timestamp(), SECRET);
    map.insert(
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    );
    assert_eq!(run(&map, odd, &[SECRET]), Err(Rejection::MalformedBody));
}

#[test]
fn event_callback_is_enqueued_under_its_event_id() {
    let body = message_body("Ev1", MESSAGE);
    let map = request(&body, NOW.unix_timestamp(), SECRET);
    let Accepted::Enqueue { message, reply } = run(&map, &body, &[SECRET]).unwrap() else {
        panic!("expected enqueue");
    };
    assert_eq!(reply, Reply::Accepted);
    assert_eq!(message.deduplication_id, fifo_id(&["slack", TEAM, "Ev1"]));
    assert_eq!(message.delivery_id, "Ev1");
    assert_eq!(message.event_name, "message");
    assert!(
        !message.body.contains(r#""token""#),
        "the verification token is not stored"
    );
    assert_eq!(
        message.group_id,
        fifo_id(&["slack", TEAM, "C1", "1763899200.000100"])
    );
    let envelope = Envelope::decode(&message.body).unwrap();
    assert_eq!(envelope.platform, Platform::Slack);
    let carried: serde_json::Value = serde_json::from_str(envelope.payload.get()).unwrap();
    let mut sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    sent.as_object_mut().unwrap().remove("token");
    assert_eq!(carried, sent, "everything but the token is carried");
    assert_eq!(envelope.attempt, None);
}

#[test]
fn rotation_any_active_secret_verifies() {
    let body = message_body("Ev1", MESSAGE);
    for signer in ["old-secret", "new-secret"] {
        let map = request(&body, NOW.unix_timestamp(), signer);
        assert!(
            run(&map, &body, &["old-secret", "new-secret"]).is_ok(),
            "{signer}"
        );
        assert_eq!(
            run(&map, &body, &["third-secret"]),
            Err(Rejection::SignatureInvalid)
        );
    }
}

#[test]
fn retries_keep_the_delivery_identity_and_are_numbered() {
    let body = message_body("Ev1", MESSAGE);
    let first = request(&body, NOW.unix_timestamp(), SECRET);
    let mut retry = request(&body, NOW.unix_timestamp() - 60, SECRET);
    retry.insert(HEADER_RETRY_NUM.into(), "2".into());
    retry.insert(HEADER_RETRY_REASON.into(), "http_timeout".into());
    let (Ok(Accepted::Enqueue { message: a, .. }), Ok(Accepted::Enqueue { message: b, .. })) =
        (run(&first, &body, &[SECRET]), run(&retry, &body, &[SECRET]))
    else {
        panic!("both accepted");
    };
    assert_eq!(a.deduplication_id, b.deduplication_id);
    assert_eq!(Envelope::decode(&b.body).unwrap().attempt, Some(2));
    retry.insert(HEADER_RETRY_NUM.into(), "two".into());
    assert_eq!(
        run(&retry, &body, &[SECRET]),
        Err(Rejection::BadHeader(HEADER_RETRY_NUM))
    );
}

#[test]
fn url_verification_is_answered_with_the_challenge() {
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let map = request(body, NOW.unix_timestamp(), SECRET);
    assert_eq!(
        run(&map, body, &[SECRET]).unwrap(),
        Accepted::Answer(Reply::Json {
            status: 200,
            body: r#"{"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}"#
                .to_owned()
        })
    );
    // Unsigned handshakes are refused like anything else.
    let mut unsigned = map.clone();
    unsigned.remove(HEADER_SIGNATURE);
    assert_eq!(
        run(&unsigned, body, &[SECRET]),
        Err(Rejection::SignatureMissing)
    );
}

#[test]
fn replay_window_is_five_minutes_each_way() {
    let body = message_body("Ev1", MESSAGE);
    let now = NOW.unix_timestamp();
    for (offset, ok) in [
        (0, true),
        (-300, true),
        (300, true),
        (-301, false),
        (301, false),
        (-86_400, false),
    ] {
        let map = request(&body, now + offset, SECRET);
        let outcome = run(&map, &body, &[SECRET]);
        if ok {
            assert!(outcome.is_ok(), "offset {offset}: {outcome:?}");
        } else {
            assert_eq!(outcome, Err(Rejection::StaleTimestamp), "offset {offset}");
        }
    }
    // A timestamp that is not a number is as bad as a stale one.
    let mut map = request(&body, now, SECRET);
    let signature = sign(SECRET, "soon", body.as_bytes()).unwrap();
    map.insert(HEADER_SIGNATURE.into(), signature);
    map.insert(HEADER_TIMESTAMP.into(), "soon".into());
    assert_eq!(run(&map, &body, &[SECRET]), Err(Rejection::StaleTimestamp));
}

#[test]
fn forged_and_malformed_signatures_are_refused() {
    let body = message_body("Ev1", MESSAGE);
    let good = request(&body, NOW.unix_timestamp(), SECRET);
    let signature = good[HEADER_SIGNATURE].clone();
    let hex = signature.trim_start_matches("v0=");
    let cases: Vec<(String, Rejection)> = vec![
        (format!("v0={}", &hex[..63]), Rejection::SignatureInvalid),
        (format!("v0={}", &hex[..62]), Rejection::SignatureInvalid),
        (format!("v0={}0", hex), Rejection::SignatureInvalid),
        (format!("v0={}zz", &hex[..62]), Rejection::SignatureInvalid),
        (format!("v1={hex}"), Rejection::SignatureInvalid),
        (format!("sha256={hex}"), Rejection::SignatureInvalid),
        (hex.to_owned(), Rejection::SignatureInvalid),
        (String::new(), Rejection::SignatureInvalid),
    ];
    for (value, expected) in cases {
        let mut map = good.clone();
        map.insert(HEADER_SIGNATURE.into(), value.clone());
        assert_eq!(run(&map, &body, &[SECRET]), Err(expected), "{value:?}");
    }
    // Tampered body, wrong secret, missing headers.
    let tampered = body.replace("crashes", "works");
    assert_eq!(
        run(&good, &tampered, &[SECRET]),
        Err(Rejection::SignatureInvalid)
    );
    assert_eq!(
        run(&good, &body, &["wrong"]),
        Err(Rejection::SignatureInvalid)
    );
    for missing in [HEADER_SIGNATURE, HEADER_TIMESTAMP] {
        let mut map = good.clone();
        map.remove(missing);
        assert_eq!(
            run(&map, &body, &[SECRET]),
            Err(Rejection::SignatureMissing),
            "{missing}"
        );
    }
}

#[test]
fn non_json_and_unknown_envelopes_are_refused_after_verification() {
    let body = "{}";
    let mut map = request(body, NOW.unix_timestamp(), SECRET);
    map.insert("content-type".into(), "text/plain".into());
    assert_eq!(
        run(&map, body, &[SECRET]),
        Err(Rejection::UnsupportedMediaType)
    );
    let odd = r#"{"type":"something_else"}"#;
    let map = request(odd, NOW.unix_timestamp(), SECRET);
    assert_eq!(run(&map, odd, &[SECRET]), Err(Rejection::MalformedBody));
}

#[test]
fn events_without_an_event_id_are_keyed_by_their_bytes() {
    let body = r#"{"type":"event_callback","team_id":"T1","event":{"type":"reaction_added","user":"U1","reaction":"tada","item":{"type":"message","channel":"C1","ts":"1.2"},"event_ts":"3.4"}}"#;
    let map = request(body, NOW.unix_timestamp(), SECRET);
    let Ok(Accepted::Enqueue { message, .. }) = run(&map, body, &[SECRET]) else {
        panic!("accepted");
    };
    assert!(message.delivery_id.starts_with("body-"));
    assert_eq!(message.delivery_id.len(), 5 + 64);
}

fn adapt_body(body: &str) -> Adapted {
    let raw: &RawValue = serde_json::from_str(body).unwrap();
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    let event = value["event"]["type"].as_str().unwrap_or("").to_owned();
    adapt(&envelope(Platform::Slack, &event, raw, None)).unwrap()
}

fn one(adapted: Adapted) -> canonical_event::EventDraft {
    match adapted {
        Adapted::Events(mut drafts) if drafts.len() == 1 => drafts.remove(0),
        other => panic!("expected one event, got {other:?}"),
    }
}

#[test]
fn message_and_app_mention_of_one_message_are_one_event() {
    let message = one(adapt_body(&message_body("Ev1", MESSAGE)));
    let mention = one(adapt_body(&message_body(
        "Ev2",
        &MESSAGE.replace(r#""type":"message""#, r#""type":"app_mention""#),
    )));
    assert_eq!(message.event_type, EventType::MessagePosted);
    assert_eq!(message.event_id, mention.event_id);
    assert_eq!(message.actor.platform_user_id, "U1");
    assert_eq!(message.source.channel.as_deref(), Some("C1"));
    assert_eq!(
        message.source.url.as_deref(),
        Some("https://slack.com/archives/C1/p1763899200000100")
    );
    assert_eq!(message.timestamp.unix_timestamp(), 1_763_899_200);
    assert!(
        message
            .content
            .excerpt
            .unwrap()
            .contains("steps to reproduce")
    );
}

#[test]
fn thread_replies_edits_deletions_and_bots() {
    let reply = one(adapt_body(&message_body(
        "Ev3",
        r#"{"type":"message","user":"U2","text":"same here","ts":"1763899300.000200","thread_ts":"1763899200.000100","channel":"C1"}"#,
    )));
    assert_eq!(reply.event_type, EventType::ReplyPosted);
    assert_eq!(reply.source.thread_id.as_deref(), Some("1763899200.000100"));

    let bot = one(adapt_body(&message_body(
        "Ev4",
        r#"{"type":"message","subtype":"bot_message","bot_id":"B1","username":"CI","text":"build green","ts":"1763899400.000300","channel":"C1"}"#,
    )));
    assert!(bot.actor.is_bot);
    assert_eq!(bot.actor.platform_user_id, "B1");

    let edit = one(adapt_body(&message_body(
        "Ev5",
        r#"{"type":"message","subtype":"message_changed","channel":"C1","hidden":true,"message":{"type":"message","user":"U1","text":"fixed typo","ts":"1763899200.000100","edited":{"user":"U1","ts":"1763899500.000000"}},"ts":"1763899500.000400","event_ts":"1763899500.000400"}"#,
    )));
    assert_eq!(edit.event_type, EventType::MessageEdited);
    assert_eq!(edit.timestamp.unix_timestamp(), 1_763_899_500);
    let original = one(adapt_body(&message_body("Ev1", MESSAGE)));
    assert_ne!(edit.event_id, original.event_id, "an edit is its own event");
    let unfurl = adapt_body(&message_body(
        "Ev5b",
        r#"{"type":"message","subtype":"message_changed","channel":"C1","hidden":true,"message":{"type":"message","user":"U1","text":"see <https://x.y>","ts":"1763899200.000100","attachments":[{"id":1}]},"ts":"1763899500.000401","event_ts":"1763899500.000401"}"#,
    ));
    assert_eq!(
        unfurl,
        Adapted::Dropped {
            rule: DROP_NOT_AN_EDIT,
            name: "message.message_changed".into()
        }
    );

    let deletion = one(adapt_body(&message_body(
        "Ev6",
        r#"{"type":"message","subtype":"message_deleted","channel":"C1","hidden":true,"deleted_ts":"1763899200.000100","previous_message":{"type":"message","user":"U1","text":"secret","ts":"1763899200.000100"},"ts":"1763899600.000500","event_ts":"1763899600.000500"}"#,
    )));
    assert_eq!(deletion.event_type, EventType::MessageDeleted);
    assert_eq!(deletion.content.excerpt, None, "deleted text is not kept");

    let topic = adapt_body(&message_body(
        "Ev7",
        r#"{"type":"message","subtype":"channel_topic","user":"U1","topic":"x","ts":"1.1","channel":"C1"}"#,
    ));
    assert_eq!(
        topic,
        Adapted::Dropped {
            rule: DROP_SUBTYPE_NOT_MAPPED,
            name: "message.channel_topic".into()
        }
    );
}

#[test]
fn reactions_and_joins() {
    let reaction = one(adapt_body(&message_body(
        "Ev8",
        r#"{"type":"reaction_added","user":"U3","reaction":"thumbsup","item_user":"U1","item":{"type":"message","channel":"C1","ts":"1763899200.000100"},"event_ts":"1763899700.000600"}"#,
    )));
    assert_eq!(reaction.event_type, EventType::ReactionAdded);
    assert_eq!(reaction.content.title.as_deref(), Some(":thumbsup:"));
    // Toggled off and on again later: still the same reaction.
    let again = one(adapt_body(&message_body(
        "Ev8b",
        r#"{"type":"reaction_added","user":"U3","reaction":"thumbsup","item_user":"U1","item":{"type":"message","channel":"C1","ts":"1763899200.000100"},"event_ts":"1763899990.000900"}"#,
    )));
    assert_eq!(reaction.event_id, again.event_id);
    let joined = one(adapt_body(&message_body(
        "Ev9",
        r#"{"type":"member_joined_channel","user":"U4","channel":"C1","channel_type":"C","team":"T1","event_ts":"1763899800.000700"}"#,
    )));
    assert_eq!(joined.event_type, EventType::MemberJoined);
    let team = one(adapt_body(&message_body(
        "Ev10",
        r#"{"type":"team_join","user":{"id":"U5","name":"ada","real_name":"Ada L","is_bot":false,"profile":{"display_name":"ada"}},"event_ts":"1763899900.000800"}"#,
    )));
    assert_eq!(team.event_type, EventType::MemberJoined);
    assert_eq!(team.actor.handle, "ada");
}

/// Expected outcome of every payload in `../shared/corpus/slack`.
fn expected_for(file: &str) -> Result<EventType, &'static str> {
    match file {
        "event_callback.app_home_opened_home.json" | "event_callback.create_channel.json" => {
            Err(DROP_EVENT_NOT_MAPPED)
        }
        "event_callback.join_channel.json" => Err(DROP_SUBTYPE_NOT_MAPPED),
        "event_callback.bot_message.json" => Ok(EventType::ReplyPosted),
        // A link unfurl: Slack changed the message, its author did not edit it.
        "event_callback.message_change.json" => Err(DROP_NOT_AN_EDIT),
        "event_callback.message_deleted.json" => Ok(EventType::MessageDeleted),
        "event_callback.message_example.json"
        | "event_callback.message_im.json"
        | "event_callback.message_rich_text.json"
        | "event_callback.message_subtype_bot_message.json"
        | "event_callback.share_with_message.json" => Ok(EventType::MessagePosted),
        "event_callback.reaction_added.legacy.json" => Ok(EventType::ReactionAdded),
        // Schema samples with every value blanked: nobody to attribute them to.
        "sdk_sample.AppMentionPayload.json"
        | "sdk_sample.MemberJoinedChannelPayload.json"
        | "sdk_sample.TeamJoinPayload.json" => Err(DROP_NO_ACTOR),
        other => panic!("{other}: new corpus file, add its expected outcome"),
    }
}

#[test]
fn every_corpus_payload_is_answered_normalized_or_dropped_by_a_named_rule() {
    let Some(dir) = corpus_dir("slack") else {
        return;
    };
    let mut seen = 0;
    for (file, body) in corpus_files(&dir) {
        seen += 1;
        if file == "url_verification.json" {
            let map = request(&body, NOW.unix_timestamp(), SECRET);
            assert!(
                matches!(
                    run(&map, &body, &[SECRET]),
                    Ok(Accepted::Answer(Reply::Json { status: 200, .. }))
                ),
                "{file}"
            );
            continue;
        }
        match (expected_for(&file), adapt_body(&body)) {
            (Ok(event_type), Adapted::Events(drafts)) => {
                assert_eq!(drafts.len(), 1, "{file}");
                let d = &drafts[0];
                assert_eq!(d.event_type, event_type, "{file}");
                assert!(!d.actor.platform_user_id.is_empty(), "{file}");
                assert_eq!(d.adapter, ADAPTER_VERSION);
                if file.contains("bot_message") {
                    assert!(d.actor.is_bot, "{file}");
                }
            }
            (Err(rule), Adapted::Dropped { rule: got, .. }) => assert_eq!(got, rule, "{file}"),
            (expected, got) => panic!("{file}: expected {expected:?}, got {got:?}"),
        }
        // Signed as Slack would sign it, every corpus event_callback is accepted at the edge.
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        if value["type"] == "event_callback" {
            let map = request(&body, NOW.unix_timestamp(), SECRET);
            let outcome = run(&map, &body, &[SECRET]);
            if value["event_id"] == "" {
                // A blanked sample: a blank delivery id cannot be keyed, so 400.
                assert_eq!(outcome, Err(Rejection::MalformedBody), "{file}");
            } else {
                assert!(matches!(outcome, Ok(Accepted::Enqueue { .. })), "{file}");
            }
        }
    }
    assert!(seen >= 16, "corpus shrank: {seen} files");
}
