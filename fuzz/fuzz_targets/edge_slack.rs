//! Slack's edge: v0 signing over `v0:<timestamp>:<body>`, the five-minute
//! replay window, retries, `url_verification`, `event_callback`. Signed
//! correctly with a fresh timestamp unless the control bytes say otherwise.
#![no_main]

use arbitrary::Arbitrary;
use canonical_event::Platform;
use libfuzzer_sys::fuzz_target;
use platforms::slack::{
    self, HEADER_RETRY_NUM, HEADER_RETRY_REASON, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use platforms::{Rejection, check_replay_window};
use platforms_fuzz::{
    Expect, Headers, Media, NOW, Sig, Stamp, Stored, check_accept, control, secrets, split,
};

#[derive(Arbitrary, Debug)]
struct Control {
    sig: Sig,
    stamp: Stamp,
    media: Media,
    retry_num: Option<Retry>,
    retry_reason: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Retry {
    Num(u8),
    Raw(String),
}

fuzz_target!(|data: &[u8]| {
    let (body, ctl) = split(data);
    let Some(c) = control::<Control>(ctl) else {
        return;
    };
    let wire = c.media.wire(body);
    let stamp = c.stamp.header();
    let signed_stamp = stamp.clone().unwrap_or_default();
    let (signature, mut expect) = c.sig.header(&wire.body, |key, message| {
        slack::sign(key.secret(), &signed_stamp, message).expect("HMAC takes any key")
    });
    if stamp.is_none() {
        expect = Expect::Fails;
    }
    let mut headers = Headers::default();
    headers.set(HEADER_SIGNATURE, signature);
    headers.set(HEADER_TIMESTAMP, stamp);
    headers.set(
        HEADER_RETRY_NUM,
        c.retry_num.map(|r| match r {
            Retry::Num(n) => n.to_string(),
            Retry::Raw(text) => text,
        }),
    );
    headers.set(HEADER_RETRY_REASON, c.retry_reason);
    headers.set("content-type", wire.content_type.clone());

    let secrets = secrets();
    let delivery = platforms::Delivery {
        header: |name: &str| headers.get(name),
        body: &wire.body,
        received_at: NOW,
    };
    let result = slack::accept(&secrets, &delivery);

    let direct = slack::verify_signature(
        &secrets,
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
    if let Ok(stamp) = window {
        assert!((NOW.unix_timestamp() - stamp).abs() <= platforms::REPLAY_WINDOW_SECONDS);
    }
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
    if result.is_ok() {
        assert!(direct.is_ok() && window.is_ok());
    }
    // Credentials are never stored: the verification token, and from forms
    // the response URL too (a capability to post as the app).
    let stored = match &c.media {
        media if media.is_form() => Stored::Lacks(&["token", "response_url"]),
        Media::Raw(_) => Stored::Lacks(&["token"]),
        _ => wire.without(&["token"]),
    };
    check_accept(Platform::Slack, &result, expect, stored);
});
