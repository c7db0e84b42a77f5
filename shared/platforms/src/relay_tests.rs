use canonical_event::{EventType, Platform};

use super::*;
use crate::Reply;
use crate::test_support::{NOW, headers, lookup, secrets};

const SECRET: &str = "dev-relay-webhook-secret";
const GOOD: &str = r#"{"version":1,"id":"gh-42-7-labeled-bug","source":"github-actions","type":"issue_opened","occurredAt":"2026-11-23T11:58:00Z","data":{"actor":{"id":"1","handle":"ada","displayName":"Ada"},"title":"Export crashes","text":"Steps to reproduce: …","labels":["bug"],"url":"https://github.com/o/r/issues/7","repository":"o/r","threadId":"7"}}"#;

fn signed(body: &str, at: i64, secret: &str) -> std::collections::HashMap<String, String> {
    let ts = at.to_string();
    headers(&[
        (
            HEADER_SIGNATURE,
            &sign(secret, &ts, body.as_bytes()).unwrap(),
        ),
        (HEADER_TIMESTAMP, &ts),
        ("content-type", "application/json"),
    ])
}

fn relay_secrets(lines: &[&str]) -> Vec<RelaySecret> {
    secrets(lines).iter().map(RelaySecret::parse).collect()
}

fn run(map: &std::collections::HashMap<String, String>, body: &str) -> Result<Accepted, Rejection> {
    accept(
        &relay_secrets(&[SECRET]),
        &Delivery {
            header: lookup(map),
            body: body.as_bytes(),
            received_at: NOW,
        },
    )
}

/// A vector anyone can recompute with openssl (docs/platforms/relay.md):
/// `printf '%s.%s' 1795435200 '{}' | openssl dgst -sha256 -hmac dev-relay-webhook-secret`
#[test]
fn signature_is_hmac_of_timestamp_dot_body() {
    assert_eq!(
        sign(SECRET, "1795435200", b"{}").unwrap(),
        format!(
            "sha256={}",
            hex::encode({
                use hmac::{Hmac, Mac};
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
                mac.update(b"1795435200.{}");
                mac.finalize().into_bytes()
            })
        )
    );
}

#[test]
fn a_valid_envelope_is_enqueued_and_adapted() {
    let map = signed(GOOD, NOW.unix_timestamp(), SECRET);
    let Accepted::Enqueue { message, reply } = run(&map, GOOD).unwrap() else {
        panic!("enqueue")
    };
    assert_eq!(reply, Reply::Accepted);
    assert_eq!(
        message.deduplication_id,
        fifo_id(&["relay", "github-actions", "gh-42-7-labeled-bug"])
    );
    assert_eq!(message.group_id, fifo_id(&["relay", "github-actions", "7"]));
    let envelope = Envelope::decode(&message.body).unwrap();
    let Adapted::Events(drafts) = adapt(&envelope).unwrap() else {
        panic!("event")
    };
    let d = &drafts[0];
    assert_eq!(d.platform, Platform::Relay);
    assert_eq!(d.event_type, EventType::IssueOpened);
    assert_eq!(d.actor.platform_user_id, "github-actions:1");
    assert_eq!(d.content.labels, vec!["bug"]);
    assert_eq!(d.timestamp, time::macros::datetime!(2026-11-23 11:58 UTC));
}

#[test]
fn replay_window_and_forgeries() {
    for offset in [-301, 301] {
        let map = signed(GOOD, NOW.unix_timestamp() + offset, SECRET);
        assert_eq!(run(&map, GOOD), Err(Rejection::StaleTimestamp), "{offset}");
    }
    let good = signed(GOOD, NOW.unix_timestamp(), SECRET);
    // The timestamp is signed: moving it forward breaks the signature.
    let mut moved = good.clone();
    moved.insert(
        HEADER_TIMESTAMP.into(),
        (NOW.unix_timestamp() + 1).to_string(),
    );
    assert_eq!(run(&moved, GOOD), Err(Rejection::SignatureInvalid));
    let hex = good[HEADER_SIGNATURE]
        .trim_start_matches("sha256=")
        .to_owned();
    for bad in [
        format!("sha256={}", &hex[..63]),
        format!("sha256={}", &hex[..62]),
        format!("sha256={}gg", &hex[..62]),
        format!("v0={hex}"),
        hex.clone(),
    ] {
        let mut map = good.clone();
        map.insert(HEADER_SIGNATURE.into(), bad.clone());
        assert_eq!(run(&map, GOOD), Err(Rejection::SignatureInvalid), "{bad}");
    }
    assert_eq!(
        run(&good, &GOOD.replace("ada", "eve")),
        Err(Rejection::SignatureInvalid)
    );
    assert_eq!(
        run(&signed(GOOD, NOW.unix_timestamp(), "wrong"), GOOD),
        Err(Rejection::SignatureInvalid)
    );
    for missing in [HEADER_SIGNATURE, HEADER_TIMESTAMP] {
        let mut map = good.clone();
        map.remove(missing);
        assert_eq!(
            run(&map, GOOD),
            Err(Rejection::SignatureMissing),
            "{missing}"
        );
    }
}

fn problems(body: &str) -> Vec<FieldProblem> {
    let map = signed(body, NOW.unix_timestamp(), SECRET);
    match run(&map, body) {
        Err(Rejection::InvalidEnvelope(fields)) => fields,
        other => panic!("expected a schema rejection, got {other:?}"),
    }
}

fn field(problems: &[FieldProblem], name: &str) -> String {
    problems
        .iter()
        .find(|p| p.field == name)
        .map(|p| p.problem.clone())
        .unwrap_or_else(|| panic!("{name} not in {problems:?}"))
}

#[test]
fn schema_violations_name_each_field() {
    let p = problems(
        r#"{"version":2,"source":"Bad Source","type":"issue_opened","occurredAt":"yesterday","data":{"actor":{"id":"1","handle":"ada"},"labels":"bug","colour":"crimson-value"}}"#,
    );
    assert_eq!(field(&p, "/id"), "required");
    assert_eq!(
        field(&p, "/version"),
        "must be exactly the documented value"
    );
    assert_eq!(field(&p, "/source"), "does not match the pattern");
    assert_eq!(field(&p, "/occurredAt"), "wrong format");
    assert_eq!(field(&p, "/data/labels"), "wrong type");
    assert_eq!(field(&p, "/data/colour"), "not allowed");
    // Values are never echoed back.
    let text = serde_json::to_string(&p).unwrap();
    assert!(
        !text.contains("Bad Source") && !text.contains("crimson"),
        "{text}"
    );
    // Discord Gateway dispatches have their own list of types.
    let p = problems(
        r#"{"version":1,"id":"m-1","source":"discord-gateway","type":"issue_opened","occurredAt":"2026-11-23T11:00:00Z","data":{}}"#,
    );
    assert_eq!(field(&p, "/type"), "not one of the allowed values");
    let p = problems(
        r#"{"version":1,"id":"m-1","source":"discord-gateway","type":"MESSAGE_CREATE","occurredAt":"2026-11-23T11:00:00Z","data":{"id":"1","channel_id":5}}"#,
    );
    assert_eq!(field(&p, "/data/channel_id"), "wrong type");
    // Links are web links: no javascript: or data: URLs reach a ticket.
    let p = problems(&GOOD.replace("https://github.com/o/r/issues/7", "javascript:alert(1)"));
    assert_eq!(field(&p, "/data/url"), "does not match the pattern");
    // Not JSON at all is a plain 400.
    let map = signed("{nope", NOW.unix_timestamp(), SECRET);
    assert_eq!(run(&map, "{nope"), Err(Rejection::MalformedBody));
}

const GATEWAY: &str = r#"{"version":1,"id":"message-1","source":"discord-gateway","type":"MESSAGE_CREATE","occurredAt":"2026-11-23T11:00:00Z","data":{"id":"1","channel_id":"2","author":{"id":"3","username":"mia"},"content":"hi","timestamp":"2026-11-23T11:00:00+00:00","type":0}}"#;

#[test]
fn secrets_bound_to_a_source_speak_only_for_it_and_discord_needs_a_bound_one() {
    let configured = relay_secrets(&[
        SECRET,
        "discord-gateway=gateway-secret",
        "release-bot=bot-secret",
    ]);
    let send = |body: &str, secret: &str| {
        let map = signed(body, NOW.unix_timestamp(), secret);
        accept(
            &configured,
            &Delivery {
                header: lookup(&map),
                body: body.as_bytes(),
                received_at: NOW,
            },
        )
        .map(|_| ())
    };
    // An unbound secret (e.g. a CI workflow's) cannot speak for Discord members…
    assert_eq!(send(GATEWAY, SECRET), Err(Rejection::SourceNotAllowed));
    // …the gateway's own bound secret can…
    assert_eq!(send(GATEWAY, "gateway-secret"), Ok(()));
    // …but only for its own source.
    assert_eq!(
        send(GOOD, "gateway-secret"),
        Err(Rejection::SourceNotAllowed)
    );
    assert_eq!(send(GOOD, "bot-secret"), Err(Rejection::SourceNotAllowed));
    assert_eq!(send(GOOD, SECRET), Ok(()));
    // The bound part is not the secret: signing with the whole line fails.
    assert_eq!(
        send(GATEWAY, "discord-gateway=gateway-secret"),
        Err(Rejection::SignatureInvalid)
    );
    // Lines whose prefix is not a source name stay whole secrets.
    let odd = RelaySecret::parse(&secrecy::SecretString::from("Abc=def".to_owned()));
    assert_eq!(odd.source, None);
    assert!(
        !format!("{odd:?}").contains("def"),
        "Debug hides the secret"
    );
}

#[test]
fn the_schema_compiles_and_accepts_the_documented_example() {
    warm_up().unwrap();
    validate(&serde_json::from_str(GOOD).unwrap()).unwrap();
}
