use canonical_event::{EventType, Platform};
use ed25519_dalek::SigningKey;
use serde_json::value::RawValue;

use super::*;
use crate::Adapted;
use crate::test_support::{NOW, corpus_dir, corpus_files, envelope, headers, lookup};

fn dev_key() -> SigningKey {
    SigningKey::from_bytes(&[1u8; 32])
}

fn keys() -> Vec<VerifyingKey> {
    vec![dev_key().verifying_key()]
}

fn signed(body: &str, at: i64) -> std::collections::HashMap<String, String> {
    let ts = at.to_string();
    headers(&[
        (HEADER_SIGNATURE, &sign(&dev_key(), &ts, body.as_bytes())),
        (HEADER_TIMESTAMP, &ts),
        ("content-type", "application/json"),
    ])
}

fn run(
    keys: &[VerifyingKey],
    endpoint: Endpoint,
    map: &std::collections::HashMap<String, String>,
    body: &str,
) -> Result<Accepted, Rejection> {
    accept(
        keys,
        endpoint,
        &Delivery {
            header: lookup(map),
            body: body.as_bytes(),
            received_at: NOW,
        },
    )
}

const PING: &str = r#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#;

/// The dev public key in `tools/devstack` is this seed's (32 × 0x01).
#[test]
fn dev_public_key_matches_its_seed() {
    assert_eq!(
        hex::encode(dev_key().verifying_key().to_bytes()),
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
}

#[test]
fn corpus_vectors_a_real_signed_capture_verifies_and_the_bad_one_does_not() {
    let Some(dir) = corpus_dir("discord") else {
        return;
    };
    for (sidecar, expected_valid) in [
        ("interaction.application_command.signed.request.json", true),
        ("interaction.ping.bad_signature.request.json", false),
    ] {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(sidecar)).unwrap()).unwrap();
        assert_eq!(meta["expected_signature_valid"], expected_valid);
        let body = std::fs::read(dir.join(meta["body_file"].as_str().unwrap())).unwrap();
        let key = parse_public_keys(&[meta["public_key_hex"].as_str().unwrap()]).unwrap();
        let outcome = verify_signature(
            &key,
            meta["headers"]["X-Signature-Ed25519"].as_str(),
            meta["headers"]["X-Signature-Timestamp"].as_str(),
            &body,
        );
        assert_eq!(outcome.is_ok(), expected_valid, "{sidecar}");
        // One byte changed: never valid.
        let mut tampered = body.clone();
        tampered[0] ^= 0x01;
        assert!(
            verify_signature(
                &key,
                meta["headers"]["X-Signature-Ed25519"].as_str(),
                meta["headers"]["X-Signature-Timestamp"].as_str(),
                &tampered,
            )
            .is_err()
        );
    }
}

#[test]
fn ping_is_answered_with_pong_and_webhook_ping_with_an_empty_204() {
    let map = signed(PING, NOW.unix_timestamp());
    assert_eq!(
        run(&keys(), Endpoint::Interactions, &map, PING).unwrap(),
        Accepted::Answer(Reply::Json {
            status: 200,
            body: r#"{"type":1}"#.into()
        })
    );
    let events_ping = r#"{"version":1,"application_id":"2","type":0}"#;
    let map = signed(events_ping, NOW.unix_timestamp());
    assert_eq!(
        run(&keys(), Endpoint::WebhookEvents, &map, events_ping).unwrap(),
        Accepted::Answer(Reply::Empty { status: 204 })
    );
}

#[test]
fn discord_style_bad_signature_probes_are_refused() {
    let good = signed(PING, NOW.unix_timestamp());
    let sig = good[HEADER_SIGNATURE].clone();
    // Discord's probes: a valid-looking signature over other bytes, a flipped bit,
    // truncated, odd-length, non-hex, prefixed, empty.
    let other = sign(&dev_key(), &NOW.unix_timestamp().to_string(), b"{}");
    let flipped = {
        let mut bytes = hex::decode(&sig).unwrap();
        bytes[10] ^= 0x80;
        hex::encode(bytes)
    };
    for bad in [
        other,
        flipped,
        sig[..126].to_owned(),
        sig[..127].to_owned(),
        format!("{}zz", &sig[..126]),
        format!("sha256={sig}"),
        String::new(),
    ] {
        let mut map = good.clone();
        map.insert(HEADER_SIGNATURE.into(), bad.clone());
        assert_eq!(
            run(&keys(), Endpoint::Interactions, &map, PING),
            Err(Rejection::SignatureInvalid),
            "{bad:?}"
        );
    }
    // Signed with another application's key.
    let stranger = SigningKey::from_bytes(&[7u8; 32]);
    let mut map = good.clone();
    map.insert(
        HEADER_SIGNATURE.into(),
        sign(
            &stranger,
            &NOW.unix_timestamp().to_string(),
            PING.as_bytes(),
        ),
    );
    assert_eq!(
        run(&keys(), Endpoint::Interactions, &map, PING),
        Err(Rejection::SignatureInvalid)
    );
    // …which verifies once that application's key is configured too (two apps).
    let both = vec![dev_key().verifying_key(), stranger.verifying_key()];
    assert!(run(&both, Endpoint::Interactions, &map, PING).is_ok());
    // Tampered body, missing headers.
    assert_eq!(
        run(
            &keys(),
            Endpoint::Interactions,
            &good,
            &PING.replace("\"1\"", "\"9\"")
        ),
        Err(Rejection::SignatureInvalid)
    );
    for missing in [HEADER_SIGNATURE, HEADER_TIMESTAMP] {
        let mut map = good.clone();
        map.remove(missing);
        assert_eq!(
            run(&keys(), Endpoint::Interactions, &map, PING),
            Err(Rejection::SignatureMissing)
        );
    }
}

#[test]
fn stale_and_future_interactions_are_refused() {
    for offset in [-301, 301, -3600] {
        let map = signed(PING, NOW.unix_timestamp() + offset);
        assert_eq!(
            run(&keys(), Endpoint::Interactions, &map, PING),
            Err(Rejection::StaleTimestamp),
            "{offset}"
        );
    }
}

#[test]
fn public_keys_are_checked_when_loaded() {
    assert_eq!(parse_public_keys(&["abc"]), Err(KeyError::Format));
    assert_eq!(
        parse_public_keys(&[&"zz".repeat(32)]),
        Err(KeyError::Format)
    );
    assert_eq!(
        parse_public_keys(&["8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"])
            .map(|k| k.len()),
        Ok(1)
    );
}

const COMMAND: &str = r#"{"type":2,"id":"1100000000000000001","application_id":"2","token":"t","version":1,"guild_id":"3","channel_id":"4","member":{"user":{"id":"5","username":"ada","global_name":"Ada"}},"data":{"id":"6","name":"report","type":1,"options":[{"type":3,"name":"text","value":"export crashes on save"}]}}"#;

#[test]
fn commands_are_acknowledged_ephemerally_and_enqueued_by_interaction_id() {
    let map = signed(COMMAND, NOW.unix_timestamp());
    let Accepted::Enqueue { message, reply } =
        run(&keys(), Endpoint::Interactions, &map, COMMAND).unwrap()
    else {
        panic!("enqueue")
    };
    let Reply::Json { status: 200, body } = reply else {
        panic!("json reply")
    };
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (body["type"].as_u64(), body["data"]["flags"].as_u64()),
        (Some(4), Some(64))
    );
    assert_eq!(
        message.deduplication_id,
        fifo_id(&["discord", "interaction", "1100000000000000001"])
    );
    assert!(
        !message.body.contains(r#""token""#),
        "the interaction token is not stored"
    );
    let envelope = Envelope::decode(&message.body).unwrap();
    let Adapted::Events(drafts) = adapt(&envelope).unwrap() else {
        panic!("event")
    };
    let d = &drafts[0];
    assert_eq!(d.event_type, EventType::CommandInvoked);
    assert_eq!(d.actor.handle, "ada");
    assert_eq!(d.content.title.as_deref(), Some("export crashes on save"));
    assert!(d.content.labels.contains(&"command:report".to_owned()));
    assert_eq!(
        d.content.excerpt.as_deref(),
        Some("text: export crashes on save")
    );
    assert_eq!(
        d.source.url.as_deref(),
        Some("https://discord.com/channels/3/4")
    );
    // The snowflake's embedded time, not the receipt time.
    assert_ne!(d.timestamp, NOW);
}

#[test]
fn webhook_events_are_keyed_by_their_bytes_and_acknowledged_with_204() {
    let body = r#"{"version":1,"application_id":"2","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2026-11-23T11:59:00.000000","data":{"user":{"id":"5","username":"ada"}}}}"#;
    // A retry 10 minutes after the first attempt may carry the original stamp.
    let map = signed(body, NOW.unix_timestamp() - 600);
    let Accepted::Enqueue { message, reply } =
        run(&keys(), Endpoint::WebhookEvents, &map, body).unwrap()
    else {
        panic!("enqueue")
    };
    assert_eq!(reply, Reply::Empty { status: 204 });
    assert_eq!(message.event_name, "application_authorized");
    let envelope = Envelope::decode(&message.body).unwrap();
    let Adapted::Events(drafts) = adapt(&envelope).unwrap() else {
        panic!("event")
    };
    assert_eq!(drafts[0].event_type, EventType::MemberJoined);
    // An hour old is a replay, not a retry.
    let replayed = signed(body, NOW.unix_timestamp() - 3600);
    assert_eq!(
        run(&keys(), Endpoint::WebhookEvents, &replayed, body),
        Err(Rejection::StaleTimestamp)
    );
}

fn adapt_raw(event: &str, body: &str) -> Adapted {
    let raw: &RawValue = serde_json::from_str(body).unwrap();
    adapt(&envelope(Platform::Discord, event, raw, None)).unwrap()
}

/// Wraps a Gateway object as the relay sends it and adapts it.
fn relayed(kind: &str, data: &str) -> Adapted {
    let body = format!(
        r#"{{"version":1,"id":"x-1","source":"discord-gateway","type":"{kind}","occurredAt":"2026-11-23T11:00:00Z","data":{data}}}"#
    );
    let raw: &RawValue = serde_json::from_str(&body).unwrap();
    crate::relay::adapt(&envelope(Platform::Relay, kind, raw, None)).unwrap()
}

#[test]
fn gateway_messages_threads_replies_members_and_reactions() {
    let message = r#"{"id":"10","channel_id":"20","guild_id":"30","author":{"id":"5","username":"ada"},"content":"How do I configure SSO?","timestamp":"2026-11-23T10:00:00+00:00","type":0}"#;
    let Adapted::Events(d) = relayed("MESSAGE_CREATE", message) else {
        panic!()
    };
    assert_eq!(d[0].platform, Platform::Discord);
    assert_eq!(d[0].event_type, EventType::MessagePosted);
    assert_eq!(d[0].adapter, GATEWAY_ADAPTER_VERSION);
    let in_thread = message.replace(r#""type":0"#, r#""type":0,"thread_parent_id":"21""#);
    let Adapted::Events(t) = relayed("MESSAGE_CREATE", &in_thread) else {
        panic!()
    };
    assert_eq!(t[0].event_type, EventType::ReplyPosted);
    assert_eq!(t[0].source.channel.as_deref(), Some("21"));
    assert_eq!(t[0].source.thread_id.as_deref(), Some("20"));
    let system = message.replace(r#""type":0"#, r#""type":7"#);
    assert!(matches!(
        relayed("MESSAGE_CREATE", &system),
        Adapted::Dropped {
            rule: DROP_SYSTEM_MESSAGE,
            ..
        }
    ));
    let hooked = message.replace(r#""type":0"#, r#""type":0,"webhook_id":"99""#);
    assert!(matches!(
        relayed("MESSAGE_CREATE", &hooked),
        Adapted::Dropped {
            rule: DROP_WEBHOOK_MESSAGE,
            ..
        }
    ));
    let bot = message.replace(r#""username":"ada""#, r#""username":"ci","bot":true"#);
    let Adapted::Events(b) = relayed("MESSAGE_CREATE", &bot) else {
        panic!()
    };
    assert!(b[0].actor.is_bot);

    let member = r#"{"guild_id":"30","user":{"id":"6","username":"bo"},"joined_at":"2026-11-23T09:00:00+00:00","roles":[]}"#;
    let Adapted::Events(m) = relayed("GUILD_MEMBER_ADD", member) else {
        panic!()
    };
    assert_eq!(m[0].event_type, EventType::MemberJoined);

    let reaction = r#"{"user_id":"6","channel_id":"20","message_id":"10","guild_id":"30","member":{"user":{"id":"6","username":"bo"}},"emoji":{"id":null,"name":"🔥"}}"#;
    let Adapted::Events(r) = relayed("MESSAGE_REACTION_ADD", reaction) else {
        panic!()
    };
    assert_eq!(r[0].event_type, EventType::ReactionAdded);
    assert_eq!(r[0].content.title.as_deref(), Some("🔥"));
}

/// Expected outcome of every payload in `../shared/corpus/discord`.
fn corpus_outcome(file: &str, body: &str) -> (Result<EventType, &'static str>, Adapted) {
    match file {
        f if f.starts_with("interaction.") => (
            Ok(EventType::CommandInvoked),
            adapt_raw(EVENT_INTERACTION, body),
        ),
        f if f.starts_with("webhook_event.") => {
            let value: serde_json::Value = serde_json::from_str(body).unwrap();
            let name = value["event"]["type"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase();
            (Err(DROP_WEBHOOK_EVENT_NOT_MAPPED), adapt_raw(&name, body))
        }
        "gateway_object.message.docs.json" => (
            Ok(EventType::MessagePosted),
            relayed("MESSAGE_CREATE", body),
        ),
        // The docs' example member has an empty user object.
        "gateway_object.guild_member.docs.json" => {
            (Err(DROP_NO_ACTOR), relayed("GUILD_MEMBER_ADD", body))
        }
        other => panic!("{other}: new corpus file, add its expected outcome"),
    }
}

#[test]
fn every_corpus_payload_is_normalized_or_dropped_by_a_named_rule() {
    let Some(dir) = corpus_dir("discord") else {
        return;
    };
    let mut seen = 0;
    for (file, body) in corpus_files(&dir) {
        seen += 1;
        if file.starts_with("interaction.ping") {
            // A PING never reaches an adapter; this one carries a bad signature and
            // must be refused at the edge even though its body is a valid PING.
            let meta: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(dir.join(file.replace(".json", ".request.json"))).unwrap(),
            )
            .unwrap();
            let key = parse_public_keys(&[meta["public_key_hex"].as_str().unwrap()]).unwrap();
            let map = headers(&[
                (
                    HEADER_SIGNATURE,
                    meta["headers"]["X-Signature-Ed25519"].as_str().unwrap(),
                ),
                (
                    HEADER_TIMESTAMP,
                    meta["headers"]["X-Signature-Timestamp"].as_str().unwrap(),
                ),
            ]);
            assert_eq!(
                run(&key, Endpoint::Interactions, &map, &body),
                Err(Rejection::SignatureInvalid),
                "{file}"
            );
            continue;
        }
        match corpus_outcome(&file, &body) {
            (Ok(event_type), Adapted::Events(drafts)) => {
                assert_eq!(drafts.len(), 1, "{file}");
                assert_eq!(drafts[0].event_type, event_type, "{file}");
                assert!(!drafts[0].actor.platform_user_id.is_empty(), "{file}");
            }
            (Err(rule), Adapted::Dropped { rule: got, .. }) => assert_eq!(got, rule, "{file}"),
            (expected, got) => panic!("{file}: expected {expected:?}, got {got:?}"),
        }
    }
    assert!(seen >= 10, "corpus shrank: {seen}");
}
