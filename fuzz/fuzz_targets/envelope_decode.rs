//! `Envelope::decode` on arbitrary text (what normalize reads off the queue),
//! then what normalize does next: adapt. A decoded envelope re-encodes, and
//! encoding is a fixed point after one round.
#![no_main]

use libfuzzer_sys::fuzz_target;
use platforms::Envelope;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(envelope) = Envelope::decode(text) else {
        return;
    };
    assert_eq!(envelope.v, platforms::ENVELOPE_VERSION);
    let once = match envelope.encode() {
        Ok(once) => once,
        Err(e) => panic!("a decoded envelope does not encode: {e}"),
    };
    let again = match Envelope::decode(&once) {
        Ok(again) => again,
        Err(e) => panic!("an encoded envelope does not decode: {e}: {once:?}"),
    };
    assert_eq!(again.platform, envelope.platform);
    assert_eq!(again.delivery_id, envelope.delivery_id);
    assert_eq!(again.event_name, envelope.event_name);
    assert_eq!(again.hook_id, envelope.hook_id);
    assert_eq!(again.origin, envelope.origin);
    assert_eq!(again.attempt, envelope.attempt);
    assert_eq!(again.received_at, envelope.received_at);
    assert_eq!(again.payload.get(), envelope.payload.get());
    assert_eq!(again.encode().ok().as_deref(), Some(once.as_str()));
    platforms_fuzz::check_adapted(&envelope, &platforms::adapt(&envelope));
});
