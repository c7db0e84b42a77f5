//! Gateway dispatch → relay envelope: ids, required fields, the schema, the
//! filters. Pure: no network, the clock is passed in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::OnceLock;

use common::*;
use discord_relay::envelope::{
    self, Context, DispatchKind, Filter, Relayable, Skip, member_delivery_id, message_delivery_id,
    reaction_delivery_id,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::datetime;
use twilight_model::channel::message::EmojiReactionType;
use twilight_model::gateway::event::Event;
use twilight_model::id::Id;

const NOW: OffsetDateTime = datetime!(2025-03-04 05:06:30 UTC);

fn schema() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/platforms/schema/relay-envelope.v1.schema.json"
        );
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("the relay contract schema should be at {path}: {e}"));
        let schema: Value = serde_json::from_str(&text).unwrap();
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap()
    })
}

fn assert_valid(envelope: &Value) {
    let errors: Vec<String> = schema()
        .iter_errors(envelope)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "envelope breaks the schema: {errors:#?}");
}

fn build(event: &Event, context: &Context) -> (envelope::Delivery, Value) {
    let relayable = Relayable::from_event(event).expect("a relayed dispatch");
    let delivery = envelope::build(&relayable, context, NOW).unwrap();
    let body: Value = serde_json::from_slice(&delivery.body).unwrap();
    (delivery, body)
}

fn everything() -> Filter {
    Filter {
        forward_bots: true,
        guild_ids: None,
    }
}

#[test]
fn message_create_envelope_has_the_contract_fields() {
    let event = dispatch("MESSAGE_CREATE", message(CHANNEL));
    let (delivery, body) = build(&event, &Context::default());

    assert_eq!(delivery.id, format!("message-{MESSAGE}"));
    assert_eq!(delivery.kind, DispatchKind::MessageCreate);
    assert_eq!(delivery.order_key, CHANNEL);
    assert_eq!(body["version"], 1);
    assert_eq!(body["id"], delivery.id.as_str());
    assert_eq!(body["source"], "discord-gateway");
    assert_eq!(body["type"], "MESSAGE_CREATE");
    // The message's own timestamp, not the time of relaying.
    assert_eq!(body["occurredAt"], "2025-03-04T05:06:07.089Z");
    // `data` is the Message as Discord models it, guild_id and member included.
    let data = &body["data"];
    assert_eq!(data["id"], MESSAGE.to_string());
    assert_eq!(data["channel_id"], CHANNEL.to_string());
    assert_eq!(data["guild_id"], GUILD.to_string());
    assert_eq!(data["author"]["id"], USER.to_string());
    assert_eq!(data["content"], CONTENT);
    assert_eq!(
        data["member"]["joined_at"],
        "2024-01-02T03:04:05.000000+00:00"
    );
    assert!(data.get("thread_parent_id").is_none(), "{data}");
    assert!(data.get("channel_name").is_none(), "{data}");
    assert_valid(&body);
}

#[test]
fn thread_context_becomes_thread_parent_id_and_names() {
    let event = dispatch("MESSAGE_CREATE", message(THREAD));
    let context = Context {
        thread_parent_id: Some(Id::new(CHANNEL)),
        channel_name: Some("release-planning".to_owned()),
        guild_name: Some("Rust Builders".to_owned()),
    };
    let (_, body) = build(&event, &context);
    assert_eq!(body["data"]["thread_parent_id"], CHANNEL.to_string());
    assert_eq!(body["data"]["channel_id"], THREAD.to_string());
    assert_eq!(body["data"]["channel_name"], "release-planning");
    assert_eq!(body["data"]["guild_name"], "Rust Builders");
    assert_valid(&body);
}

#[test]
fn names_are_cut_to_the_schema_limit() {
    let event = dispatch("MESSAGE_CREATE", message(CHANNEL));
    let long = "é".repeat(150);
    let context = Context {
        thread_parent_id: None,
        channel_name: Some(long.clone()),
        guild_name: Some(long),
    };
    let (_, body) = build(&event, &context);
    assert_eq!(
        body["data"]["channel_name"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        100
    );
    assert_valid(&body);
}

#[test]
fn member_add_envelope_keys_on_guild_user_and_join_time() {
    let event = dispatch(
        "GUILD_MEMBER_ADD",
        member_add(GUILD, Some("2025-03-04T05:00:00.500000+00:00")),
    );
    let (delivery, body) = build(&event, &Context::default());
    // 2025-03-04T05:00:00Z is 1741064400.
    assert_eq!(delivery.id, format!("member-{GUILD}-{USER}-1741064400"));
    assert_eq!(delivery.order_key, GUILD);
    assert_eq!(body["type"], "GUILD_MEMBER_ADD");
    assert_eq!(body["occurredAt"], "2025-03-04T05:00:00.5Z");
    assert_eq!(body["data"]["guild_id"], GUILD.to_string());
    assert_eq!(body["data"]["user"]["id"], USER.to_string());
    assert_eq!(
        body["data"]["joined_at"],
        "2025-03-04T05:00:00.500000+00:00"
    );
    assert_valid(&body);
}

#[test]
fn member_add_without_joined_at_stays_deterministic() {
    let event = dispatch("GUILD_MEMBER_ADD", member_add(GUILD, None));
    let (first, body) = build(&event, &Context::default());
    let relayable = Relayable::from_event(&event).unwrap();
    let later = envelope::build(
        &relayable,
        &Context::default(),
        NOW + time::Duration::hours(1),
    )
    .unwrap();
    assert_eq!(first.id, format!("member-{GUILD}-{USER}-0"));
    assert_eq!(first.id, later.id);
    assert_eq!(body["occurredAt"], "2025-03-04T05:06:30Z");
    assert_valid(&body);
}

#[test]
fn reaction_envelope_hashes_the_emoji() {
    let event = dispatch(
        "MESSAGE_REACTION_ADD",
        reaction(json!({ "id": null, "name": "🔥" })),
    );
    let (delivery, body) = build(&event, &Context::default());
    let expected_hash = &hex::encode(Sha256::digest("🔥".as_bytes()))[..16];
    assert_eq!(
        delivery.id,
        format!("reaction-{MESSAGE}-{USER}-{expected_hash}")
    );
    assert_eq!(delivery.order_key, CHANNEL);
    assert_eq!(body["type"], "MESSAGE_REACTION_ADD");
    // A reaction carries no time: the relay's clock.
    assert_eq!(body["occurredAt"], "2025-03-04T05:06:30Z");
    let data = &body["data"];
    for key in ["user_id", "channel_id", "message_id", "guild_id"] {
        assert!(data[key].is_string(), "{key} missing: {data}");
    }
    assert_eq!(data["emoji"]["name"], "🔥");
    assert_eq!(data["member"]["user"]["id"], USER.to_string());
    assert_valid(&body);

    let custom = dispatch(
        "MESSAGE_REACTION_ADD",
        reaction(json!({ "id": "41771983429993937", "name": "ferris", "animated": false })),
    );
    let (custom, _) = build(&custom, &Context::default());
    let custom_hash = &hex::encode(Sha256::digest(b"41771983429993937"))[..16];
    assert_eq!(
        custom.id,
        format!("reaction-{MESSAGE}-{USER}-{custom_hash}")
    );
}

#[test]
fn ids_are_in_the_contract_alphabet_and_distinct() {
    let re_ok = |id: &str| {
        !id.is_empty()
            && id.len() <= 128
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
    };
    let max = u64::MAX;
    let ids = [
        message_delivery_id(Id::new(max)),
        member_delivery_id(Id::new(max), Id::new(max), i64::MAX),
        reaction_delivery_id(
            Id::new(max),
            Id::new(max),
            &EmojiReactionType::Unicode {
                name: "👍🏽".to_owned(),
            },
        ),
        reaction_delivery_id(
            Id::new(max),
            Id::new(max),
            &EmojiReactionType::Unicode {
                name: "👍".to_owned(),
            },
        ),
    ];
    for id in &ids {
        assert!(re_ok(id), "{id}");
    }
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}

#[test]
fn the_schema_check_is_not_vacuous() {
    let event = dispatch("MESSAGE_CREATE", message(CHANNEL));
    let (_, body) = build(&event, &Context::default());
    for (field, bad) in [
        ("id", json!("message 1")),
        ("type", json!("MESSAGE_UPDATE")),
        ("occurredAt", json!("yesterday")),
        ("version", json!(2)),
    ] {
        let mut broken = body.clone();
        broken[field] = bad;
        assert!(!schema().is_valid(&broken), "schema accepted a bad {field}");
    }
    let mut broken = body.clone();
    broken["data"]["thread_parent_id"] = json!(CHANNEL); // a number, not a string
    assert!(!schema().is_valid(&broken));
}

#[test]
fn delivery_debug_does_not_show_the_body() {
    let event = dispatch("MESSAGE_CREATE", message(CHANNEL));
    let (delivery, _) = build(&event, &Context::default());
    assert!(String::from_utf8_lossy(&delivery.body).contains(CONTENT));
    let debug = format!("{delivery:?}");
    assert!(debug.contains(&delivery.id), "{debug}");
    assert!(
        !debug.contains(CONTENT) && !debug.contains(EMAIL),
        "{debug}"
    );
}

#[test]
fn filter_skips_dms_webhooks_other_guilds_and_optionally_bots() {
    let mut dm = message(CHANNEL);
    dm.as_object_mut().unwrap().remove("guild_id");
    dm.as_object_mut().unwrap().remove("member");
    let dm = dispatch("MESSAGE_CREATE", dm);

    let mut webhook = message(CHANNEL);
    webhook["webhook_id"] = json!("1400000000000000001");
    let webhook = dispatch("MESSAGE_CREATE", webhook);

    let mut bot_message = message(CHANNEL);
    bot_message["author"] = user(USER, true);
    let bot_message = dispatch("MESSAGE_CREATE", bot_message);

    let mut bot_join = member_add(GUILD, Some("2025-03-04T05:00:00+00:00"));
    bot_join["user"] = user(USER, true);
    let bot_join = dispatch("GUILD_MEMBER_ADD", bot_join);

    let mut dm_reaction = reaction(json!({ "id": null, "name": "🔥" }));
    dm_reaction.as_object_mut().unwrap().remove("guild_id");
    dm_reaction.as_object_mut().unwrap().remove("member");
    let dm_reaction = dispatch("MESSAGE_REACTION_ADD", dm_reaction);

    let other_guild = dispatch("GUILD_MEMBER_ADD", member_add(OTHER_GUILD, None));
    let person = dispatch("MESSAGE_CREATE", message(CHANNEL));

    let check =
        |filter: &Filter, event: &Event| filter.check(&Relayable::from_event(event).unwrap());

    let all = everything();
    assert_eq!(check(&all, &dm), Err(Skip::DirectMessage));
    assert_eq!(check(&all, &dm_reaction), Err(Skip::DirectMessage));
    assert_eq!(check(&all, &webhook), Err(Skip::Webhook));
    assert_eq!(
        check(&all, &bot_message),
        Ok(()),
        "bots are kept by default"
    );
    assert_eq!(check(&all, &bot_join), Ok(()));
    assert_eq!(check(&all, &other_guild), Ok(()));
    assert_eq!(check(&all, &person), Ok(()));

    let no_bots = Filter {
        forward_bots: false,
        guild_ids: None,
    };
    assert_eq!(check(&no_bots, &bot_message), Err(Skip::Bot));
    assert_eq!(check(&no_bots, &bot_join), Err(Skip::Bot));
    assert_eq!(check(&no_bots, &person), Ok(()));

    let one_guild = Filter {
        forward_bots: true,
        guild_ids: Some(BTreeSet::from([Id::new(GUILD)])),
    };
    assert_eq!(check(&one_guild, &other_guild), Err(Skip::GuildNotAllowed));
    assert_eq!(check(&one_guild, &person), Ok(()));
}

#[test]
fn only_the_three_dispatches_are_relayed() {
    let thread_create = dispatch("THREAD_CREATE", thread(THREAD, CHANNEL, "release-planning"));
    assert!(Relayable::from_event(&thread_create).is_none());
    let guild = dispatch("GUILD_CREATE", guild_create());
    assert!(Relayable::from_event(&guild).is_none());
}
