//! Discourse's edge: `X-Discourse-Event-Signature` over the raw body, the
//! event headers, the unsigned instance header, JSON or form bodies, ping,
//! and content-derived delivery ids. Signed correctly unless the control
//! bytes say otherwise, so the parsers behind verification run.
#![no_main]

use arbitrary::Arbitrary;
use canonical_event::Platform;
use libfuzzer_sys::fuzz_target;
use platforms::discourse::{
    self, HEADER_EVENT, HEADER_EVENT_TYPE, HEADER_INSTANCE, HEADER_SIGNATURE,
};
use platforms_fuzz::{
    DISCOURSE_EVENTS, Expect, Headers, Media, NOW, Name, Sig, check_accept, control, secrets, split,
};

#[derive(Arbitrary, Debug)]
struct Control {
    sig: Sig,
    media: Media,
    event: Event,
    event_type: Option<String>,
    instance: Option<Instance>,
}

#[derive(Arbitrary, Debug)]
enum Event {
    /// The event that goes with the body's root key (`post` → post_created).
    FromBody(u8),
    Named(Name),
}

/// Event names that go with a body's root key, as Discourse sends them.
fn events_for(body: &[u8]) -> Vec<String> {
    let root = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(body)
        .ok()
        .and_then(|object| object.keys().next().cloned())
        .unwrap_or_default();
    match root.as_str() {
        "ping" => vec!["ping".to_owned()],
        "like" => vec!["post_liked".to_owned()],
        "solved" => vec![
            "accepted_solution".to_owned(),
            "unaccepted_solution".to_owned(),
        ],
        root => ["created", "edited", "destroyed", "recovered"]
            .iter()
            .map(|what| format!("{root}_{what}"))
            .collect(),
    }
}

#[derive(Arbitrary, Debug)]
enum Instance {
    Https(String),
    Raw(String),
}

fuzz_target!(|data: &[u8]| {
    let (body, ctl) = split(data);
    let Some(c) = control::<Control>(ctl) else {
        return;
    };
    let wire = c.media.wire(body);
    let (signature, expect) = c.sig.header(&wire.body, |key, message| {
        discourse::sign(key.secret(), message).expect("HMAC takes any key")
    });
    let mut headers = Headers::default();
    headers.set(HEADER_SIGNATURE, signature);
    let event = match &c.event {
        Event::FromBody(i) => {
            let names = events_for(body);
            names.get(usize::from(*i) % names.len().max(1)).cloned()
        }
        Event::Named(name) => name.value(DISCOURSE_EVENTS),
    };
    headers.set(HEADER_EVENT, event);
    headers.set(HEADER_EVENT_TYPE, c.event_type);
    headers.set(
        HEADER_INSTANCE,
        c.instance.map(|i| match i {
            Instance::Https(host) => format!("https://{host}"),
            Instance::Raw(text) => text,
        }),
    );
    headers.set("content-type", wire.content_type.clone());

    let secrets = secrets();
    let delivery = platforms::Delivery {
        header: |name: &str| headers.get(name),
        body: &wire.body,
        received_at: NOW,
    };
    let result = discourse::accept(&secrets, &delivery);

    let direct = discourse::verify_signature(&secrets, headers.get(HEADER_SIGNATURE), &wire.body);
    match expect {
        Expect::Verifies => assert!(direct.is_ok(), "{direct:?}"),
        Expect::Fails => assert!(direct.is_err()),
        Expect::Unknown => {}
    }
    if result.is_ok() {
        assert!(direct.is_ok());
    }
    check_accept(Platform::Discourse, &result, expect, wire.verbatim());
});
