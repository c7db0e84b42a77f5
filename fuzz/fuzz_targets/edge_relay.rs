//! The signed relay's edge: `sha256=` HMAC over `<timestamp>.<body>`, the
//! replay window, and the published JSON Schema with its field-level 400s.
//! Signed correctly with a fresh timestamp unless the control bytes say
//! otherwise, so schema validation and the key extraction run.
#![no_main]

use arbitrary::Arbitrary;
use canonical_event::Platform;
use libfuzzer_sys::fuzz_target;
use platforms::relay::{
    self, HEADER_SIGNATURE, HEADER_TIMESTAMP, RelaySecret, SOURCE_DISCORD_GATEWAY,
};
use platforms::{Accepted, Rejection, check_replay_window};
use platforms_fuzz::{
    Expect, GATEWAY_SECRET, Headers, Key, Media, NOW, Sig, Stamp, check_accept, control,
    relay_secrets, split,
};
use secrecy::{ExposeSecret, SecretString};

#[derive(Arbitrary, Debug)]
struct Control {
    sig: Sig,
    stamp: Stamp,
    media: Media,
    signer: Signer,
    /// A configured secret line, parsed.
    secret_line: Option<String>,
}

/// Which of the relay's secrets `Sig::Valid` and `Sig::Uppercase` sign with.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Signer {
    /// The one allowed for the body's `source`.
    ForSource,
    /// The unbound current secret.
    Plain,
    /// The secret bound to `discord-gateway`.
    Gateway,
}

/// The body's `source`, if it has one.
fn source_of(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value.get("source")?.as_str().map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let (body, ctl) = split(data);
    let Some(c) = control::<Control>(ctl) else {
        return;
    };
    let wire = c.media.wire(body);
    let stamp = c.stamp.header();
    let signed_stamp = stamp.clone().unwrap_or_default();
    let source = source_of(body);
    let gateway_body = source.as_deref() == Some(SOURCE_DISCORD_GATEWAY);
    let signer = match c.signer {
        Signer::ForSource if gateway_body => Signer::Gateway,
        Signer::ForSource => Signer::Plain,
        other => other,
    };
    let (signature, mut expect) = c.sig.header(&wire.body, |key, message| {
        let secret = match (key, signer) {
            (Key::Current, Signer::Gateway) => GATEWAY_SECRET,
            (key, _) => key.secret(),
        };
        relay::sign(secret, &signed_stamp, message).expect("HMAC takes any key")
    });
    if stamp.is_none() {
        expect = Expect::Fails;
    }
    let mut headers = Headers::default();
    headers.set(HEADER_SIGNATURE, signature);
    headers.set(HEADER_TIMESTAMP, stamp);
    headers.set("content-type", wire.content_type.clone());

    let secrets = relay_secrets();
    let delivery = platforms::Delivery {
        header: |name: &str| headers.get(name),
        body: &wire.body,
        received_at: NOW,
    };
    let result = relay::accept(&secrets, &delivery);

    let plain: Vec<SecretString> = secrets.iter().map(|s| s.secret.clone()).collect();
    let direct = relay::verify_signature(
        &plain,
        headers.get(HEADER_SIGNATURE),
        headers.get(HEADER_TIMESTAMP),
        &wire.body,
    );
    match expect {
        Expect::Verifies => assert!(direct.is_ok(), "{direct:?}"),
        Expect::Fails => assert!(direct.is_err()),
        Expect::Unknown => {}
    }
    let window = check_replay_window(headers.get(HEADER_TIMESTAMP), NOW);
    if let Some(inside) = c.stamp.in_window() {
        assert_eq!(window.is_ok(), inside, "{:?}", c.stamp);
    }
    if direct.is_ok() && window.is_err() {
        assert_eq!(
            result,
            Err(Rejection::StaleTimestamp),
            "a replayed request got through"
        );
    }
    // Whatever the edge enqueues passes the published schema, and only the
    // gateway-bound secret speaks for `discord-gateway`; the unbound ones
    // (`Sig::Rotated` always signs with one) speak for every other source.
    if let Ok(Accepted::Enqueue { .. }) = &result {
        let value: serde_json::Value =
            serde_json::from_slice(&wire.body).expect("an enqueued relay body is JSON");
        assert_eq!(relay::validate(&value), Ok(()));
        let sent_source = value.get("source").and_then(|s| s.as_str());
        let gateway = sent_source == Some(SOURCE_DISCORD_GATEWAY);
        match (&c.sig, signer) {
            (Sig::Valid | Sig::Uppercase, Signer::Gateway) => {
                assert!(gateway, "the gateway secret spoke for {sent_source:?}")
            }
            (Sig::Valid | Sig::Uppercase, _) | (Sig::Rotated, _) => {
                assert!(!gateway, "an unbound secret spoke for discord-gateway")
            }
            _ => {}
        }
    }
    if let Err(Rejection::SourceNotAllowed) = &result {
        assert!(direct.is_ok());
    }
    check_accept(Platform::Relay, &result, expect, wire.verbatim());

    // Configured secret lines: `<source>=<secret>` binds, anything else is
    // an unbound secret, kept whole.
    if let Some(line) = &c.secret_line {
        let parsed = RelaySecret::parse(&SecretString::from(line.clone()));
        match &parsed.source {
            Some(source) => {
                let rest = line
                    .strip_prefix(source.as_str())
                    .and_then(|r| r.strip_prefix('='));
                assert_eq!(rest, Some(parsed.secret.expose_secret()));
                assert!(!source.is_empty());
            }
            None => assert_eq!(parsed.secret.expose_secret(), line),
        }
    }
});
