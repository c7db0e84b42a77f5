//! The whole relay against a local stand-in for the Discord Gateway (plain
//! WebSocket on loopback, through twilight's gateway proxy URL) and a
//! stand-in relay endpoint (wiremock): Hello → Identify (token, intents) →
//! Ready → dispatches → signed envelopes; then a clean shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use discord_relay::config::Config;
use discord_relay::gateway::INTENTS;
use futures_util::{SinkExt as _, StreamExt as _};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_websockets::{Message, ServerBuilder};
use twilight_gateway::{Shard, ShardId};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "MTA0.fake-token.for-tests";
const SECRET: &str = "end-to-end-secret";

fn ready(gateway_url: &str) -> Value {
    json!({
        "v": 10,
        "user": { "id": "1500000000000000001", "username": "relay", "discriminator": "0", "avatar": null, "bot": true, "mfa_enabled": false, "verified": true, "flags": 0 },
        "guilds": [{ "id": GUILD.to_string(), "unavailable": true }],
        "session_id": "fake-session",
        "resume_gateway_url": gateway_url,
        "application": { "id": "1500000000000000001", "flags": 0 }
    })
}

/// Accepts one connection, says Hello, waits for Identify (handed back
/// through `identified`), sends `script` as dispatches, then reads until the
/// client closes.
async fn fake_gateway(
    listener: TcpListener,
    script: Vec<(&'static str, Value)>,
    identified: oneshot::Sender<Value>,
) {
    let (stream, _) = listener.accept().await.unwrap();
    let (_, mut ws) = ServerBuilder::new().accept(stream).await.unwrap();
    let hello = json!({ "op": 10, "d": { "heartbeat_interval": 45_000 } });
    ws.send(Message::text(hello.to_string())).await.unwrap();
    loop {
        let message = ws.next().await.expect("identify").unwrap();
        let Some(text) = message.as_text() else {
            continue;
        };
        let payload: Value = serde_json::from_str(text).unwrap();
        if payload["op"] == 2 {
            identified.send(payload).unwrap();
            break;
        }
    }
    for (seq, (kind, d)) in script.into_iter().enumerate() {
        let dispatch = json!({ "op": 0, "s": seq + 1, "t": kind, "d": d });
        ws.send(Message::text(dispatch.to_string())).await.unwrap();
    }
    while let Some(Ok(message)) = ws.next().await {
        if message.is_close() {
            break;
        }
    }
}

fn signature_ok(request: &wiremock::Request) -> bool {
    let timestamp = request
        .headers
        .get("x-signature-timestamp")
        .unwrap()
        .to_str()
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    request
        .headers
        .get("x-signature")
        .unwrap()
        .to_str()
        .unwrap()
        == expected
}

#[tokio::test]
async fn gateway_dispatches_arrive_signed_at_the_relay() {
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        // Already installed by another test in this process.
    }
    let relay_endpoint = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhooks/relay"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&relay_endpoint)
        .await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!("ws://{}", listener.local_addr().unwrap());
    let mut dm = message(CHANNEL);
    dm.as_object_mut().unwrap().remove("guild_id");
    dm["id"] = json!("1300000000000000999");
    let script = vec![
        ("READY", ready(&gateway_url)),
        ("GUILD_CREATE", guild_create()),
        ("MESSAGE_CREATE", message(THREAD)),
        ("MESSAGE_CREATE", dm),
        (
            "GUILD_MEMBER_ADD",
            member_add(GUILD, Some("2025-03-04T05:00:00+00:00")),
        ),
        (
            "MESSAGE_REACTION_ADD",
            reaction(json!({ "id": null, "name": "🔥" })),
        ),
    ];
    let (identified_tx, identified_rx) = oneshot::channel();
    let gateway = tokio::spawn(fake_gateway(listener, script, identified_tx));

    let relay_url = format!("{}/webhooks/relay", relay_endpoint.uri());
    let config = Config::from_lookup(|name| match name {
        "DISCORD_BOT_TOKEN" => Some(TOKEN.to_owned()),
        "RELAY_URL" => Some(relay_url.clone()),
        "RELAY_SECRET" => Some(SECRET.to_owned()),
        "RELAY_DRAIN_TIMEOUT_SECS" => Some("5".to_owned()),
        _ => None,
    })
    .unwrap();
    let shard = Shard::with_config(
        ShardId::ONE,
        twilight_gateway::ConfigBuilder::new(TOKEN.to_owned(), INTENTS)
            .proxy_url(gateway_url.clone())
            .build(),
    );
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let relay = tokio::spawn(discord_relay::app::serve(config, shard, async {
        let _stopped = stop_rx.await;
    }));

    let identify = tokio::time::timeout(Duration::from_secs(10), identified_rx)
        .await
        .expect("the relay identifies")
        .unwrap();
    // GUILDS | GUILD_MEMBERS | GUILD_MESSAGES | GUILD_MESSAGE_REACTIONS | MESSAGE_CONTENT
    assert_eq!(identify["d"]["intents"], 1 + 2 + 512 + 1024 + 32768);
    assert!(identify["d"]["token"].as_str().unwrap().ends_with(TOKEN));

    // Three relayed dispatches (the DM is not one of them).
    for _ in 0..200 {
        if relay_endpoint.received_requests().await.unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(15), relay)
        .await
        .expect("the relay stops after the signal")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    tokio::time::timeout(Duration::from_secs(5), gateway)
        .await
        .expect("the relay closed the WebSocket")
        .unwrap();

    let requests = relay_endpoint.received_requests().await.unwrap();
    assert_eq!(requests.len(), 3, "exactly the three guild events");
    let mut by_type = BTreeMap::new();
    for request in &requests {
        assert!(signature_ok(request), "bad signature");
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        by_type.insert(body["type"].as_str().unwrap().to_owned(), body);
    }
    let message = &by_type["MESSAGE_CREATE"];
    assert_eq!(message["id"], format!("message-{MESSAGE}"));
    assert_eq!(message["data"]["thread_parent_id"], CHANNEL.to_string());
    assert_eq!(message["data"]["guild_name"], "Rust Builders");
    assert_eq!(
        by_type["GUILD_MEMBER_ADD"]["id"],
        format!("member-{GUILD}-{USER}-1741064400")
    );
    assert!(
        by_type["MESSAGE_REACTION_ADD"]["id"]
            .as_str()
            .unwrap()
            .starts_with(&format!("reaction-{MESSAGE}-{USER}-"))
    );
}
