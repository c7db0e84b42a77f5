//! Discord's edge: Ed25519 over `<timestamp><body>` with several active
//! public keys, Interactions (replay window, PING/PONG, command acks) and
//! Webhook Events (204, body-digest delivery ids). Signed correctly with the
//! dev key unless the control bytes say otherwise. Also: a malleated
//! signature (s + L) is refused, and public-key parsing on fuzzed text.
#![no_main]

use arbitrary::Arbitrary;
use canonical_event::Platform;
use libfuzzer_sys::fuzz_target;
use platforms::discord::{self, Endpoint, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use platforms_fuzz::{
    DISCORD_KEYS, Expect, Headers, Media, NOW, Sig, Stamp, check_accept, control, hex, split,
};

#[derive(Arbitrary, Debug)]
struct Control {
    endpoint: Endpoints,
    sig: Sig,
    stamp: Stamp,
    media: Media,
    /// Add the group order to the signature's scalar: same point, different
    /// bytes; strict verification must refuse it.
    malleate: bool,
    key_lines: Option<String>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Endpoints {
    Both,
    Interactions,
    WebhookEvents,
}

/// The Ed25519 group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `R || s` → `R || (s + L)` for a well-formed hex signature.
fn malleate(signature: &str) -> Option<String> {
    if signature.len() != 128 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut bytes: Vec<u8> = (0..64)
        .map(|i| u8::from_str_radix(&signature[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let mut carry = 0u16;
    for (i, l) in L.iter().enumerate() {
        let sum = u16::from(bytes[32 + i]) + u16::from(*l) + carry;
        bytes[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    (carry == 0).then(|| hex(&bytes))
}

fuzz_target!(|data: &[u8]| {
    let (body, ctl) = split(data);
    let Some(c) = control::<Control>(ctl) else {
        return;
    };
    let wire = c.media.wire(body);
    let stamp = c.stamp.header();
    let signed_stamp = stamp.clone().unwrap_or_default();
    let (mut signature, mut expect) = c.sig.header(&wire.body, |key, message| {
        discord::sign(key.discord(), &signed_stamp, message)
    });
    if stamp.is_none() {
        expect = Expect::Fails;
    }
    if c.malleate
        && let Some(malleated) = signature.as_deref().and_then(malleate)
    {
        signature = Some(malleated);
        expect = Expect::Fails;
    }
    let mut headers = Headers::default();
    headers.set(HEADER_SIGNATURE, signature);
    headers.set(HEADER_TIMESTAMP, stamp);
    headers.set("content-type", wire.content_type.clone());

    let delivery = platforms::Delivery {
        header: |name: &str| headers.get(name),
        body: &wire.body,
        received_at: NOW,
    };
    let direct = discord::verify_signature(
        &DISCORD_KEYS,
        headers.get(HEADER_SIGNATURE),
        headers.get(HEADER_TIMESTAMP),
        &wire.body,
    );
    match expect {
        Expect::Verifies => assert!(direct.is_ok(), "{direct:?}"),
        Expect::Fails => assert!(direct.is_err()),
        Expect::Unknown => {}
    }
    let endpoints: &[Endpoint] = match c.endpoint {
        Endpoints::Both => &[Endpoint::Interactions, Endpoint::WebhookEvents],
        Endpoints::Interactions => &[Endpoint::Interactions],
        Endpoints::WebhookEvents => &[Endpoint::WebhookEvents],
    };
    for &endpoint in endpoints {
        let result = discord::accept(&DISCORD_KEYS, endpoint, &delivery);
        if result.is_ok() {
            assert!(direct.is_ok());
        }
        // Interactions are answered live: a stale one can only be a replay.
        // Webhook Events get a wider window (Discord retries for 10 minutes).
        let window = match endpoint {
            Endpoint::Interactions => platforms::REPLAY_WINDOW_SECONDS,
            Endpoint::WebhookEvents => discord::WEBHOOK_EVENTS_WINDOW_SECONDS,
        };
        let stale = match &c.stamp {
            Stamp::Offset(seconds) => i64::from(*seconds).abs() > window,
            Stamp::Absent => true,
            Stamp::Now | Stamp::Raw(_) => false,
        };
        if stale {
            assert!(
                result.is_err(),
                "a replayed request got through: {result:?}"
            );
        }
        // The interaction token is a credential: never stored.
        let stored = match endpoint {
            Endpoint::Interactions => wire.without(&["token"]),
            Endpoint::WebhookEvents => wire.verbatim(),
        };
        check_accept(Platform::Discord, &result, expect, stored);
    }

    if let Some(text) = &c.key_lines {
        let lines: Vec<&str> = text.lines().collect();
        if let Ok(keys) = discord::parse_public_keys(&lines) {
            assert_eq!(keys.len(), lines.len());
            for line in &lines {
                let line = line.trim();
                assert!(line.len() == 64 && line.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
    }
});
