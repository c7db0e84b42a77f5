//! GitHub's edge: `X-Hub-Signature-256` over the raw body, event, delivery
//! and hook headers, JSON or form bodies. The body is signed correctly unless
//! the control bytes say otherwise, so the parsers behind verification run.
//! Also the shared HMAC primitive with a fuzzed prefix and message split.
#![no_main]

use arbitrary::Arbitrary;
use canonical_event::Platform;
use libfuzzer_sys::fuzz_target;
use platforms::github::{
    self, HEADER_DELIVERY, HEADER_EVENT, HEADER_HOOK_ID, HEADER_SIGNATURE_256,
};
use platforms::hmac_sha256;
use platforms_fuzz::{
    DEFAULT_DELIVERY_ID, Expect, GITHUB_EVENTS, Headers, Media, NOW, Name, SECRET, Sig,
    check_accept, control, secrets, split,
};

#[derive(Arbitrary, Debug)]
struct Control {
    sig: Sig,
    media: Media,
    event: Name,
    delivery: Name,
    hook: Option<Name>,
    prefix: String,
    cut: u16,
}

fuzz_target!(|data: &[u8]| {
    let (body, ctl) = split(data);
    let Some(c) = control::<Control>(ctl) else {
        return;
    };
    let wire = c.media.wire(body);
    let (signature, expect) = c.sig.header(&wire.body, |key, message| {
        github::sign(key.secret(), message).expect("HMAC takes any key")
    });
    let mut headers = Headers::default();
    headers.set(HEADER_SIGNATURE_256, signature);
    headers.set(HEADER_EVENT, c.event.value(GITHUB_EVENTS));
    headers.set(HEADER_DELIVERY, c.delivery.value(&[DEFAULT_DELIVERY_ID]));
    headers.set(HEADER_HOOK_ID, c.hook.and_then(|h| h.value(&["123456789"])));
    headers.set("content-type", wire.content_type.clone());

    let secrets = secrets();
    let delivery = platforms::Delivery {
        header: |name: &str| headers.get(name),
        body: &wire.body,
        received_at: NOW,
    };
    let result = github::accept(&secrets, &delivery);

    let direct = github::verify_signature(&secrets, headers.get(HEADER_SIGNATURE_256), &wire.body);
    match expect {
        Expect::Verifies => assert!(direct.is_ok(), "{direct:?}"),
        Expect::Fails => assert!(direct.is_err()),
        Expect::Unknown => {}
    }
    if result.is_ok() {
        assert!(direct.is_ok());
    }
    check_accept(Platform::Github, &result, expect, wire.verbatim());

    // The primitive: any prefix round-trips, and the message may be split
    // anywhere (HMAC is over the concatenation).
    let signed = hmac_sha256::sign_prefixed_hex(SECRET, &c.prefix, &[&wire.body])
        .expect("HMAC takes any key");
    let cut = usize::from(c.cut) % (wire.body.len() + 1);
    let (left, right) = wire.body.split_at(cut);
    assert_eq!(
        hmac_sha256::verify_prefixed_hex(&secrets, Some(&signed), &c.prefix, &[left, right]),
        Ok(())
    );
    assert_eq!(
        hmac_sha256::verify_prefixed_hex(&[], Some(&signed), &c.prefix, &[&wire.body]),
        Err(hmac_sha256::SignatureError::NoSecret)
    );
});
