//! What every fuzz target shares: how an input splits into a body and the
//! control bytes that choose the headers, the fixed secrets, keys and clock,
//! how a signature header is made (right, or wrong on purpose), and the
//! invariants every accepted delivery and every adapted event must hold.
//!
//! Input layout: `<body bytes> [0xFF <control bytes>]`. UTF-8 never contains
//! 0xFF, so a payload file is a good input as it is: with no control bytes
//! every choice below takes its first variant, the well-formed one (signed
//! with the current secret, timestamp now, `application/json`, a known event
//! name). The control bytes are decoded with `arbitrary`.

use std::borrow::Cow;
use std::sync::LazyLock;

use arbitrary::{Arbitrary, Unstructured};
use canonical_event::{EXCERPT_MAX_CHARS, Platform, TITLE_MAX_CHARS};
use ed25519_dalek::SigningKey;
use platforms::discord::VerifyingKey;
use platforms::relay::RelaySecret;
use platforms::{Accepted, AdaptError, Adapted, Envelope, QueueMessage, Rejection, Reply};
use secrecy::SecretString;
use serde_json::value::RawValue;
use time::OffsetDateTime;

/// `FUZZ_TRACE=1` prints each decision (for reading seeds and crashes:
/// `FUZZ_TRACE=1 fuzz/target/*/release/<target> <file>`).
pub static TRACE: LazyLock<bool> = LazyLock::new(|| std::env::var_os("FUZZ_TRACE").is_some());

/// Separates the body from the control bytes.
pub const SEPARATOR: u8 = 0xFF;

/// The edge's clock: every delivery arrives at this instant.
pub const NOW: OffsetDateTime = time::macros::datetime!(2026-11-23 10:00:00 UTC);

pub const SECRET: &str = "fuzz-current-secret";
/// Still active during a rotation: must verify too.
pub const ROTATED_SECRET: &str = "fuzz-rotated-secret";
/// Never configured: must never verify.
pub const WRONG_SECRET: &str = "fuzz-wrong-secret";

/// The HMAC secrets the edge is configured with (old and new during rotation).
pub fn secrets() -> Vec<SecretString> {
    vec![
        SecretString::from(ROTATED_SECRET.to_owned()),
        SecretString::from(SECRET.to_owned()),
    ]
}

/// The relay's secrets: one bound to the Discord Gateway relay (the only one
/// that may send `discord-gateway` events), then the rotated and current
/// unbound ones, each parsed from its configured line as production does.
pub const GATEWAY_SECRET: &str = "fuzz-gateway-secret";

pub fn relay_secrets() -> Vec<RelaySecret> {
    [
        format!(
            "{}={GATEWAY_SECRET}",
            platforms::relay::SOURCE_DISCORD_GATEWAY
        ),
        ROTATED_SECRET.to_owned(),
        SECRET.to_owned(),
    ]
    .into_iter()
    .map(|line| RelaySecret::parse(&SecretString::from(line)))
    .collect()
}

/// Discord signing keys: the dev key (seed `[1; 32]`), a second active
/// application key, and one that is never configured.
pub static DISCORD_CURRENT: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[1u8; 32]));
pub static DISCORD_ROTATED: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[2u8; 32]));
pub static DISCORD_WRONG: LazyLock<SigningKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[3u8; 32]));

/// The public keys the edge is configured with, parsed as production does.
pub static DISCORD_KEYS: LazyLock<Vec<VerifyingKey>> = LazyLock::new(|| {
    let lines = [
        hex(DISCORD_ROTATED.verifying_key().as_bytes()),
        hex(DISCORD_CURRENT.verifying_key().as_bytes()),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    platforms::discord::parse_public_keys(&lines).expect("the fuzz keys are valid")
});

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(body, control)`: split at the first 0xFF.
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == SEPARATOR) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// The choices encoded in the control bytes (first variants when empty).
pub fn control<'a, T: Arbitrary<'a>>(bytes: &'a [u8]) -> Option<T> {
    T::arbitrary(&mut Unstructured::new(bytes)).ok()
}

/// Which key a signature is made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Current,
    Rotated,
    Wrong,
}

impl Key {
    pub fn secret(self) -> &'static str {
        match self {
            Key::Current => SECRET,
            Key::Rotated => ROTATED_SECRET,
            Key::Wrong => WRONG_SECRET,
        }
    }

    pub fn discord(self) -> &'static SigningKey {
        match self {
            Key::Current => &DISCORD_CURRENT,
            Key::Rotated => &DISCORD_ROTATED,
            Key::Wrong => &DISCORD_WRONG,
        }
    }
}

/// What the verifier must conclude about a signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Verifies,
    Fails,
    /// A fuzzed header that happens to equal a valid one (ignoring case).
    Unknown,
}

/// How the signature header is made.
#[derive(Arbitrary, Debug, Clone)]
pub enum Sig {
    /// Correct, with the current secret or key.
    Valid,
    /// Correct, with the older secret still active during a rotation.
    Rotated,
    /// Correct, hex digits in upper case (hex decoding ignores case).
    Uppercase,
    /// Made with a secret or key that is not configured.
    WrongKey,
    /// Correct for a message one byte longer than the body sent.
    OtherMessage,
    /// Arbitrary header text.
    Raw(String),
    Absent,
}

impl Sig {
    /// The header value, and what verification must conclude; `sign(key,
    /// body)` is the platform's signing scheme (timestamp already bound).
    pub fn header(
        &self,
        body: &[u8],
        sign: impl Fn(Key, &[u8]) -> String,
    ) -> (Option<String>, Expect) {
        match self {
            Sig::Valid => (Some(sign(Key::Current, body)), Expect::Verifies),
            Sig::Rotated => (Some(sign(Key::Rotated, body)), Expect::Verifies),
            Sig::Uppercase => {
                let valid = sign(Key::Current, body);
                let upper = match valid.split_once('=') {
                    Some((prefix, digits)) => format!("{prefix}={}", digits.to_ascii_uppercase()),
                    None => valid.to_ascii_uppercase(),
                };
                (Some(upper), Expect::Verifies)
            }
            Sig::WrongKey => (Some(sign(Key::Wrong, body)), Expect::Fails),
            Sig::OtherMessage => {
                let mut other = body.to_vec();
                other.push(b' ');
                (Some(sign(Key::Current, &other)), Expect::Fails)
            }
            Sig::Raw(text) => {
                let lucky = [Key::Current, Key::Rotated]
                    .into_iter()
                    .any(|key| sign(key, body).eq_ignore_ascii_case(text));
                let expect = if lucky {
                    Expect::Unknown
                } else {
                    Expect::Fails
                };
                (Some(text.clone()), expect)
            }
            Sig::Absent => (None, Expect::Fails),
        }
    }
}

/// The signed timestamp header.
#[derive(Arbitrary, Debug, Clone)]
pub enum Stamp {
    Now,
    /// `NOW + seconds`: inside the window when |seconds| <= 300.
    Offset(i16),
    Raw(String),
    Absent,
}

impl Stamp {
    pub fn header(&self) -> Option<String> {
        match self {
            Stamp::Now => Some(NOW.unix_timestamp().to_string()),
            Stamp::Offset(seconds) => {
                Some((NOW.unix_timestamp() + i64::from(*seconds)).to_string())
            }
            Stamp::Raw(text) => Some(text.clone()),
            Stamp::Absent => None,
        }
    }

    /// Whether the stamp is inside the replay window, when that is known.
    pub fn in_window(&self) -> Option<bool> {
        match self {
            Stamp::Now => Some(true),
            Stamp::Offset(seconds) => {
                Some(i64::from(*seconds).abs() <= platforms::REPLAY_WINDOW_SECONDS)
            }
            Stamp::Raw(_) => None,
            Stamp::Absent => Some(false),
        }
    }
}

/// The content type, and how the body travels.
#[derive(Arbitrary, Debug, Clone)]
pub enum Media {
    Json,
    JsonCharset,
    /// No content type at all (treated as JSON).
    Absent,
    /// The body as the `payload` field of a form (what GitHub and Discourse
    /// send when configured for forms).
    Form,
    /// The body as is, labelled as a form.
    FormRaw,
    /// A JSON object's fields as form fields (`k=v&…`: Slack slash
    /// commands); any other body as is, labelled as a form.
    FormFields,
    Raw(String),
}

/// One request's content type and wire body, and the JSON document the edge
/// must embed verbatim if it accepts the delivery (when that is known).
#[derive(Debug)]
pub struct Wire {
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub json: Option<String>,
}

impl Wire {
    /// The sent JSON stored byte for byte, when the JSON sent is known.
    pub fn verbatim(&self) -> Stored<'_> {
        self.json
            .as_deref()
            .map_or(Stored::Unknown, Stored::Verbatim)
    }

    /// The sent JSON stored less `fields`, when the JSON sent is known.
    pub fn without<'a>(&'a self, fields: &'a [&'a str]) -> Stored<'a> {
        match &self.json {
            Some(json) => Stored::Without(json, fields),
            None => Stored::Lacks(fields),
        }
    }
}

impl Media {
    /// Whether the request is labelled as a form.
    pub fn is_form(&self) -> bool {
        matches!(self, Media::Form | Media::FormRaw | Media::FormFields)
    }

    pub fn wire(&self, body: &[u8]) -> Wire {
        let as_json = |content_type: Option<&str>| Wire {
            content_type: content_type.map(str::to_owned),
            body: body.to_vec(),
            json: std::str::from_utf8(body).ok().map(str::to_owned),
        };
        match self {
            Media::Json => as_json(Some("application/json")),
            Media::JsonCharset => as_json(Some("application/json; charset=utf-8")),
            Media::Absent => as_json(None),
            Media::Form => {
                let mut form = b"payload=".to_vec();
                form.extend_from_slice(percent_encode(body).as_bytes());
                Wire {
                    content_type: Some("application/x-www-form-urlencoded".to_owned()),
                    body: form,
                    // Form decoding is lossy UTF-8.
                    json: Some(String::from_utf8_lossy(body).into_owned()),
                }
            }
            Media::FormFields => Wire {
                content_type: Some("application/x-www-form-urlencoded".to_owned()),
                body: form_fields(body).unwrap_or_else(|| body.to_vec()),
                json: None,
            },
            Media::FormRaw => Wire {
                content_type: Some("application/x-www-form-urlencoded".to_owned()),
                body: body.to_vec(),
                json: None,
            },
            Media::Raw(content_type) => Wire {
                content_type: Some(content_type.clone()),
                body: body.to_vec(),
                json: None,
            },
        }
    }
}

fn form_fields(body: &[u8]) -> Option<Vec<u8>> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).ok()?;
    let pairs: Vec<String> = object
        .iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            format!(
                "{}={}",
                percent_encode(name.as_bytes()),
                percent_encode(value.as_bytes())
            )
        })
        .collect();
    Some(pairs.join("&").into_bytes())
}

fn percent_encode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A header naming an event, a delivery, a hook.
#[derive(Arbitrary, Debug, Clone)]
pub enum Name {
    /// One of the platform's real names (index modulo the list).
    Known(u8),
    Raw(String),
    Absent,
}

impl Name {
    pub fn value(&self, known: &[&str]) -> Option<String> {
        match self {
            Name::Known(i) if !known.is_empty() => {
                Some(known[usize::from(*i) % known.len()].to_owned())
            }
            Name::Known(_) | Name::Absent => None,
            Name::Raw(text) => Some(text.clone()),
        }
    }
}

/// Lower-case header names to values; the edge's lookup.
#[derive(Debug, Default)]
pub struct Headers(Vec<(&'static str, String)>);

impl Headers {
    pub fn set(&mut self, name: &'static str, value: Option<String>) {
        if let Some(value) = value {
            self.0.push((name, value));
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the envelope's payload must be, when the edge enqueues.
#[derive(Debug, Clone, Copy)]
pub enum Stored<'a> {
    /// The JSON sent, byte for byte (outer whitespace aside).
    Verbatim(&'a str),
    /// The JSON sent, less these top-level fields (credentials the edge
    /// must not store), compared as JSON values.
    Without(&'a str, &'a [&'a str]),
    /// Whatever the edge chose to keep, but none of these top-level fields.
    Lacks(&'a [&'a str]),
    Unknown,
}

/// Invariants of one edge decision: a signature that must fail is refused
/// as a signature problem; an answer is valid JSON; an enqueued message
/// carries a well-formed envelope that decodes, re-encodes to the same text,
/// stores the payload as `stored` says and adapts without panicking.
pub fn check_accept(
    platform: Platform,
    result: &Result<Accepted, Rejection>,
    signature: Expect,
    stored: Stored<'_>,
) {
    if *TRACE {
        eprintln!("{platform:?} edge, signature {signature:?}: {result:?}");
    }
    if signature == Expect::Fails {
        assert!(
            matches!(
                result,
                Err(Rejection::SignatureMissing | Rejection::SignatureInvalid)
            ),
            "a delivery without a valid signature got past verification: {result:?}"
        );
    }
    match result {
        Err(rejection) => {
            assert!((400..500).contains(&rejection.status()));
            assert!(!rejection.code().is_empty());
            if let Rejection::InvalidEnvelope(fields) = rejection {
                assert!(
                    !fields.is_empty() && fields.len() <= 20,
                    "schema rejection lists {} fields",
                    fields.len()
                );
            }
        }
        Ok(Accepted::Answer(reply)) => check_reply(reply),
        Ok(Accepted::Enqueue { message, reply }) => {
            check_reply(reply);
            check_message(platform, message, stored);
        }
    }
}

fn check_reply(reply: &Reply) {
    if let Reply::Json { status, body } = reply {
        assert!((200..300).contains(status));
        assert!(
            serde_json::from_str::<serde_json::Value>(body).is_ok(),
            "reply body is not JSON: {body:?}"
        );
    }
}

/// SQS FIFO ids: 1 to 128 characters of alphanumerics and punctuation.
pub fn is_fifo_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

pub fn check_message(platform: Platform, message: &QueueMessage, stored: Stored<'_>) {
    assert!(
        is_fifo_id(&message.deduplication_id),
        "{:?}",
        message.deduplication_id
    );
    assert!(is_fifo_id(&message.group_id), "{:?}", message.group_id);
    let envelope = match Envelope::decode(&message.body) {
        Ok(envelope) => envelope,
        Err(e) => panic!("enqueued body is not an envelope: {e}: {:?}", message.body),
    };
    assert_eq!(envelope.platform, platform);
    assert_eq!(envelope.v, platforms::ENVELOPE_VERSION);
    assert_eq!(envelope.delivery_id, message.delivery_id);
    assert_eq!(envelope.event_name, message.event_name);
    assert_eq!(envelope.received_at, NOW);
    check_stored(envelope.payload.get(), stored);
    match envelope.encode() {
        Ok(again) => assert_eq!(again, message.body, "decode → encode changed the envelope"),
        Err(e) => panic!("a decoded envelope does not encode: {e}"),
    }
    check_adapted(&envelope, &platforms::adapt(&envelope));
}

fn check_stored(payload: &str, stored: Stored<'_>) {
    let lacks = |fields: &[&str]| {
        let value: serde_json::Value =
            serde_json::from_str(payload).expect("a stored payload is JSON");
        for field in fields {
            assert!(
                value.get(field).is_none(),
                "`{field}` was stored: {payload}"
            );
        }
        value
    };
    match stored {
        Stored::Verbatim(json) => assert_eq!(
            payload,
            json.trim_matches([' ', '\t', '\n', '\r']),
            "the payload is not stored verbatim"
        ),
        Stored::Without(json, fields) => {
            let kept = lacks(fields);
            let mut sent: serde_json::Value =
                serde_json::from_str(json).expect("an accepted body is JSON");
            if let Some(object) = sent.as_object_mut() {
                for field in fields {
                    object.remove(*field);
                }
            }
            assert_eq!(kept, sent, "the stored payload differs from the one sent");
        }
        Stored::Lacks(fields) => {
            lacks(fields);
        }
        Stored::Unknown => {}
    }
}

/// Invariants of one adapter result: events carry the envelope's delivery
/// and are within the canonical text limits; drops name their rule.
pub fn check_adapted(envelope: &Envelope<'_>, result: &Result<Adapted, AdaptError>) {
    if *TRACE {
        eprintln!(
            "{:?} adapter, event {:?}: {result:?}",
            envelope.platform, envelope.event_name
        );
    }
    match result {
        Ok(Adapted::Events(drafts)) => {
            assert!(!drafts.is_empty(), "Events with no event");
            for draft in drafts {
                if let Some(excerpt) = &draft.content.excerpt {
                    let n = excerpt.chars().count();
                    assert!(n <= EXCERPT_MAX_CHARS, "excerpt of {n} chars");
                }
                if let Some(title) = &draft.content.title {
                    let n = title.chars().count();
                    assert!(n <= TITLE_MAX_CHARS, "title of {n} chars");
                }
                assert_eq!(draft.delivery_id, envelope.delivery_id);
                assert_eq!(draft.received_at, envelope.received_at);
                assert!(!draft.adapter.is_empty());
            }
        }
        Ok(Adapted::Dropped { rule, .. }) => assert!(!rule.is_empty()),
        Err(error) => assert!(!error.to_string().is_empty()),
    }
}

/// Envelope fields besides the payload and event name, fuzzed.
#[derive(Arbitrary, Debug, Clone, Default)]
pub struct EnvelopeFields {
    pub delivery_id: Option<String>,
    pub hook_id: Option<String>,
    pub origin: Option<String>,
    pub attempt: Option<u32>,
}

pub const DEFAULT_DELIVERY_ID: &str = "fuzz-delivery-0001";

pub fn envelope<'a>(
    platform: Platform,
    event_name: &'a str,
    fields: &'a EnvelopeFields,
    payload: &'a RawValue,
) -> Envelope<'a> {
    Envelope {
        v: platforms::ENVELOPE_VERSION,
        platform,
        delivery_id: Cow::Borrowed(fields.delivery_id.as_deref().unwrap_or(DEFAULT_DELIVERY_ID)),
        event_name: Cow::Borrowed(event_name),
        hook_id: fields.hook_id.as_deref().map(Cow::Borrowed),
        origin: fields.origin.as_deref().map(Cow::Borrowed),
        attempt: fields.attempt,
        received_at: NOW,
        payload,
    }
}

/// Adapts one envelope and checks the result.
pub fn adapt_one(
    platform: Platform,
    event_name: &str,
    fields: &EnvelopeFields,
    payload: &RawValue,
) {
    let envelope = envelope(platform, event_name, fields, payload);
    check_adapted(&envelope, &platforms::adapt(&envelope));
}

/// The control bytes of a plain adapter target.
#[derive(Arbitrary, Debug)]
pub struct AdaptControl {
    pub event: Name,
    pub fields: EnvelopeFields,
}

/// The body as a JSON document, if it is one.
pub fn raw_json(body: &[u8]) -> Option<&RawValue> {
    let text = std::str::from_utf8(body).ok()?;
    serde_json::from_str::<&RawValue>(text).ok()
}

/// A plain adapter target: the fuzzed JSON wrapped in an envelope for
/// `platform`. Without control bytes every known event name is tried (so a
/// payload file exercises every mapping); with them, the event name and the
/// other envelope fields are fuzzed.
pub fn fuzz_adapt(data: &[u8], platform: Platform, known: &[&str]) {
    let (body, ctl) = split(data);
    let Some(payload) = raw_json(body) else {
        return;
    };
    if ctl.is_empty() {
        let fields = EnvelopeFields::default();
        for name in known {
            adapt_one(platform, name, &fields, payload);
        }
        return;
    }
    let Some(control) = control::<AdaptControl>(ctl) else {
        return;
    };
    let name = control.event.value(known).unwrap_or_default();
    adapt_one(platform, &name, &control.fields, payload);
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Event names each platform really sends (what the adapters map or drop).
pub const GITHUB_EVENTS: &[&str] = &[
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "discussion",
    "discussion_comment",
    "star",
    "fork",
    "release",
    "member",
    "sponsorship",
    "watch",
    "public",
    "ping",
];
pub const SLACK_EVENTS: &[&str] = &[
    "message",
    "app_mention",
    "reaction_added",
    "member_joined_channel",
    "team_join",
];
pub const DISCORD_EVENTS: &[&str] = &[
    platforms::discord::EVENT_INTERACTION,
    "application_authorized",
    "application_deauthorized",
    "entitlement_create",
    "entitlement_delete",
    "lobby_message_delete",
];
pub const DISCOURSE_EVENTS: &[&str] = &[
    "topic_created",
    "post_created",
    "post_edited",
    "accepted_solution",
    "post_liked",
    "user_created",
    "topic_edited",
    "ping",
];
/// Discord Gateway dispatches the relay forwards (and one it does not map).
pub const GATEWAY_DISPATCHES: &[&str] = &[
    "MESSAGE_CREATE",
    "GUILD_MEMBER_ADD",
    "MESSAGE_REACTION_ADD",
    "READY",
];
