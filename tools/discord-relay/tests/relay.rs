//! The gateway loop's event handling without a socket: the channel
//! directory fills from GUILD_CREATE and THREAD_CREATE, and relayed
//! dispatches land on the queue with their context.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use discord_relay::envelope::{Delivery, Filter, Skip};
use discord_relay::gateway::{Handled, Relay, close_hint};
use discord_relay::queue::{self, QueueError, Stats};
use serde_json::{Value, json};
use time::macros::datetime;
use tokio::sync::mpsc;
use twilight_model::gateway::event::Event;
use twilight_model::id::Id;

struct Harness {
    relay: Relay,
    lane: mpsc::Receiver<Delivery>,
    stats: Arc<Stats>,
}

fn harness(filter: Filter, capacity: usize) -> Harness {
    let stats = Arc::new(Stats::default());
    let (queue, lanes) = queue::queue(1, capacity, Arc::clone(&stats));
    let lane = lanes.into_receivers().pop().unwrap();
    Harness {
        relay: Relay::new(filter, queue, Arc::clone(&stats)),
        lane,
        stats,
    }
}

fn all_guilds() -> Filter {
    Filter {
        forward_bots: true,
        guild_ids: None,
    }
}

impl Harness {
    fn feed(&self, event: &Event) -> Handled {
        self.relay
            .on_event(event, datetime!(2025-03-04 05:06:30 UTC))
    }

    fn next_body(&mut self) -> Value {
        let delivery = self.lane.try_recv().expect("a queued delivery");
        serde_json::from_slice(&delivery.body).unwrap()
    }
}

#[test]
fn thread_messages_carry_their_parent_from_guild_create() {
    let mut h = harness(all_guilds(), 10);
    assert_eq!(
        h.feed(&dispatch("GUILD_CREATE", guild_create())),
        Handled::NotRelayed
    );

    let handled = h.feed(&dispatch("MESSAGE_CREATE", message(THREAD)));
    assert_eq!(
        handled,
        Handled::Queued {
            id: format!("message-{MESSAGE}")
        }
    );
    let body = h.next_body();
    assert_eq!(body["data"]["channel_id"], THREAD.to_string());
    assert_eq!(body["data"]["thread_parent_id"], CHANNEL.to_string());
    assert_eq!(body["data"]["channel_name"], "release-planning");
    assert_eq!(body["data"]["guild_name"], "Rust Builders");
}

#[test]
fn plain_channel_messages_have_names_but_no_parent() {
    let mut h = harness(all_guilds(), 10);
    h.feed(&dispatch("GUILD_CREATE", guild_create()));
    h.feed(&dispatch("MESSAGE_CREATE", message(CHANNEL)));
    let body = h.next_body();
    assert!(body["data"].get("thread_parent_id").is_none(), "{body}");
    assert_eq!(body["data"]["channel_name"], "general");
    assert_eq!(body["data"]["guild_name"], "Rust Builders");
}

#[test]
fn threads_created_later_are_known_and_reactions_in_them_too() {
    let mut h = harness(all_guilds(), 10);
    h.feed(&dispatch("GUILD_CREATE", guild_create()));
    h.feed(&dispatch(
        "THREAD_CREATE",
        thread(LATE_THREAD, CHANNEL, "bug-triage"),
    ));

    h.feed(&dispatch("MESSAGE_CREATE", message(LATE_THREAD)));
    let body = h.next_body();
    assert_eq!(body["data"]["thread_parent_id"], CHANNEL.to_string());
    assert_eq!(body["data"]["channel_name"], "bug-triage");

    let mut in_thread = reaction(json!({ "id": null, "name": "🎉" }));
    in_thread["channel_id"] = json!(LATE_THREAD.to_string());
    h.feed(&dispatch("MESSAGE_REACTION_ADD", in_thread));
    let body = h.next_body();
    assert_eq!(body["type"], "MESSAGE_REACTION_ADD");
    assert_eq!(body["data"]["thread_parent_id"], CHANNEL.to_string());

    // After THREAD_DELETE the relay no longer claims it is a thread.
    h.feed(&dispatch(
        "THREAD_DELETE",
        json!({ "id": LATE_THREAD.to_string(), "guild_id": GUILD.to_string(), "parent_id": CHANNEL.to_string(), "type": 11 }),
    ));
    h.feed(&dispatch("MESSAGE_CREATE", message(LATE_THREAD)));
    let body = h.next_body();
    assert!(body["data"].get("thread_parent_id").is_none(), "{body}");
}

#[test]
fn unknown_channels_are_forwarded_without_context() {
    let mut h = harness(all_guilds(), 10);
    let handled = h.feed(&dispatch("MESSAGE_CREATE", message(THREAD)));
    assert!(matches!(handled, Handled::Queued { .. }), "{handled:?}");
    let body = h.next_body();
    for key in ["thread_parent_id", "channel_name", "guild_name"] {
        assert!(body["data"].get(key).is_none(), "{key}: {body}");
    }
}

#[test]
fn skipped_events_are_counted_and_not_queued() {
    let mut h = harness(
        Filter {
            forward_bots: false,
            guild_ids: Some(BTreeSet::from([Id::new(GUILD)])),
        },
        10,
    );
    let mut bot = message(CHANNEL);
    bot["author"] = user(USER, true);
    assert_eq!(
        h.feed(&dispatch("MESSAGE_CREATE", bot)),
        Handled::Skipped(Skip::Bot)
    );
    assert_eq!(
        h.feed(&dispatch("GUILD_MEMBER_ADD", member_add(OTHER_GUILD, None))),
        Handled::Skipped(Skip::GuildNotAllowed)
    );
    assert!(h.lane.try_recv().is_err());
    let stats = h.stats.snapshot();
    assert_eq!((stats.skipped, stats.queued), (2, 0));
}

#[test]
fn a_full_queue_drops_without_blocking_and_counts() {
    let mut h = harness(all_guilds(), 2);
    let mut ids = Vec::new();
    for n in 0..3u64 {
        let mut m = message(CHANNEL);
        m["id"] = json!((MESSAGE + n).to_string());
        ids.push(h.feed(&dispatch("MESSAGE_CREATE", m)));
    }
    assert!(matches!(ids[0], Handled::Queued { .. }));
    assert!(matches!(ids[1], Handled::Queued { .. }));
    assert_eq!(
        ids[2],
        Handled::NotQueued {
            id: format!("message-{}", MESSAGE + 2),
            reason: QueueError::Full
        }
    );
    let stats = h.stats.snapshot();
    assert_eq!((stats.queued, stats.dropped_queue_full), (2, 1));
    // The two queued ones are intact and in order.
    assert_eq!(h.next_body()["id"], format!("message-{MESSAGE}"));
    assert_eq!(h.next_body()["id"], format!("message-{}", MESSAGE + 1));
}

#[test]
fn fatal_close_codes_say_what_to_do() {
    assert!(close_hint(4004).contains("DISCORD_BOT_TOKEN"));
    assert!(close_hint(4014).contains("MESSAGE CONTENT"));
    assert!(close_hint(4000).contains("transient"));
}
