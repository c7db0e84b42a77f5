//! The relay adapter: the envelope's payload is a relay body. Two ways in:
//! the fuzzed JSON is the relay body itself, or it is the `data` of a relay
//! body built here, so the fuzzer reaches the Discord Gateway dispatch
//! mappings and the generic canonical-event mapping without having to find
//! the outer shape first. Without control bytes, the body as is plus its
//! `data` (or the whole document) under every gateway dispatch and every
//! canonical event type.
#![no_main]

use arbitrary::Arbitrary;
use canonical_event::{EventType, Platform};
use libfuzzer_sys::fuzz_target;
use platforms::relay::SOURCE_DISCORD_GATEWAY;
use platforms_fuzz::{
    EnvelopeFields, GATEWAY_DISPATCHES, Name, adapt_one, control, json_string, raw_json, split,
};
use serde_json::value::RawValue;

#[derive(Arbitrary, Debug)]
struct Control {
    wrap: Option<Wrap>,
    /// The envelope's event name (ingest puts the body's `type` there).
    event: Option<String>,
    fields: EnvelopeFields,
}

#[derive(Arbitrary, Debug)]
struct Wrap {
    source: Source,
    kind: Name,
    occurred_at: Option<String>,
    id: String,
}

#[derive(Arbitrary, Debug)]
enum Source {
    DiscordGateway,
    /// A generic source: `type` is a canonical event type.
    Generic,
    Raw(String),
}

#[derive(serde::Deserialize)]
struct Outer<'a> {
    #[serde(borrow, default)]
    r#type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

fn relay_body(
    source: &str,
    kind: &str,
    occurred_at: Option<&str>,
    id: &str,
    data: &RawValue,
) -> String {
    let occurred_at = occurred_at
        .map(|t| format!(r#","occurredAt":{}"#, json_string(t)))
        .unwrap_or_default();
    format!(
        r#"{{"version":1,"id":{},"source":{},"type":{}{occurred_at},"data":{}}}"#,
        json_string(id),
        json_string(source),
        json_string(kind),
        data.get()
    )
}

fn adapt_text(event_name: &str, fields: &EnvelopeFields, body: &str) {
    let payload = serde_json::from_str::<&RawValue>(body).expect("built relay bodies are JSON");
    adapt_one(Platform::Relay, event_name, fields, payload);
}

fuzz_target!(|data: &[u8]| {
    let (body, ctl) = split(data);
    let Some(payload) = raw_json(body) else {
        return;
    };
    let outer: Option<Outer<'_>> = serde_json::from_str(payload.get()).ok();
    let own_type = outer
        .as_ref()
        .and_then(|o| o.r#type.as_deref())
        .unwrap_or("")
        .to_owned();
    if ctl.is_empty() {
        let fields = EnvelopeFields::default();
        adapt_one(Platform::Relay, &own_type, &fields, payload);
        let inner = outer.as_ref().and_then(|o| o.data).unwrap_or(payload);
        for kind in GATEWAY_DISPATCHES {
            let body = relay_body(SOURCE_DISCORD_GATEWAY, kind, None, "fuzz-1", inner);
            adapt_text(kind, &fields, &body);
        }
        for event_type in EventType::ALL {
            let kind = event_type.as_str();
            let body = relay_body("github-actions", kind, None, "fuzz-1", inner);
            adapt_text(kind, &fields, &body);
        }
        return;
    }
    let Some(control) = control::<Control>(ctl) else {
        return;
    };
    match &control.wrap {
        None => {
            let name = control.event.clone().unwrap_or(own_type);
            adapt_one(Platform::Relay, &name, &control.fields, payload);
        }
        Some(wrap) => {
            let types: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            let (source, kind) = match &wrap.source {
                Source::DiscordGateway => (
                    SOURCE_DISCORD_GATEWAY.to_owned(),
                    wrap.kind.value(GATEWAY_DISPATCHES),
                ),
                Source::Generic => ("github-actions".to_owned(), wrap.kind.value(&types)),
                Source::Raw(source) => (source.clone(), wrap.kind.value(&types)),
            };
            let kind = kind.unwrap_or_default();
            let body = relay_body(
                &source,
                &kind,
                wrap.occurred_at.as_deref(),
                &wrap.id,
                payload,
            );
            let name = control.event.clone().unwrap_or_else(|| kind.clone());
            adapt_text(&name, &control.fields, &body);
        }
    }
});
