//! What every platform's edge shares: the request as the edge sees it, the
//! JSON-or-form body rule, and the checks on platform-supplied identifiers.

use std::borrow::Cow;

use time::OffsetDateTime;

use crate::Rejection;

/// One webhook request as the edge sees it: lower-case header lookup, the raw
/// (already base64-decoded) body bytes and the time it arrived.
#[derive(Debug)]
pub struct Delivery<'a, H: Fn(&str) -> Option<&'a str>> {
    pub header: H,
    pub body: &'a [u8],
    pub received_at: OffsetDateTime,
}

/// The JSON document inside a verified body: the body itself for
/// `application/json`, the `payload` form field for
/// `application/x-www-form-urlencoded` (GitHub, Discourse, Slack interactivity).
pub(crate) fn payload_json<'b>(
    content_type: Option<&str>,
    body: &'b [u8],
) -> Result<Cow<'b, str>, Rejection> {
    match media_type(content_type).as_str() {
        // Platforms always set a content type; a missing one is treated as
        // JSON (what relays and curl users mean) rather than refused.
        "application/json" | "" => std::str::from_utf8(body)
            .map(Cow::Borrowed)
            .map_err(|_| Rejection::MalformedBody),
        "application/x-www-form-urlencoded" => form_urlencoded::parse(body)
            .find(|(name, _)| name == "payload")
            .map(|(_, value)| Cow::Owned(value.into_owned()))
            .ok_or(Rejection::MalformedBody),
        _ => Err(Rejection::UnsupportedMediaType),
    }
}

/// The body of a platform that only posts JSON, as text: any other media
/// type is 415, invalid UTF-8 is 400.
pub(crate) fn json_only<'b>(
    content_type: Option<&str>,
    body: &'b [u8],
) -> Result<&'b str, Rejection> {
    match media_type(content_type).as_str() {
        "application/json" | "" => std::str::from_utf8(body).map_err(|_| Rejection::MalformedBody),
        _ => Err(Rejection::UnsupportedMediaType),
    }
}

/// How deeply a platform's JSON may nest. Real payloads stay under 16
/// levels. serde skips the fields the edge does not read without any depth
/// limit, so without this bound a signed 100,000-level document would be
/// queued for every later reader to choke on (serde_json's `Value` gives up
/// at 128; the envelope adds one level).
pub(crate) const MAX_JSON_DEPTH: usize = 64;

/// `Ok` when `json` is one JSON object nested at most [`MAX_JSON_DEPTH`]
/// deep. Every platform posts an object, but serde's derived structs also
/// accept an array of their fields (`[1]` reads as a Discord PING), so the
/// edge checks the shape before reading keys. A byte scan, not a parse:
/// syntax is still left to serde.
pub(crate) fn json_object(json: &str) -> Result<(), Rejection> {
    if !json
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(Rejection::MalformedBody);
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for byte in json.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(Rejection::MalformedBody);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// `application/json; charset=utf-8` → `application/json`.
pub(crate) fn media_type(content_type: Option<&str>) -> String {
    content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// A platform event name we put in envelopes and logs: short, lower snake case.
pub(crate) fn is_event_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A platform-supplied id safe to log and key on.
pub(crate) fn is_token(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// SHA-256 hex of the exact bytes: the delivery id of platforms that send
/// none (Discord Webhook Events, legacy Slack events). A retry resends the
/// same bytes, so it maps to the same id.
pub(crate) fn body_digest(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(body))
}

/// The JSON object without the named top-level fields (credentials that
/// must not reach the queue, the dead-letter queue or the logs).
pub(crate) fn without_fields(json: &str, fields: &[&str]) -> Result<String, Rejection> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|_| Rejection::MalformedBody)?;
    for field in fields {
        object.remove(*field);
    }
    serde_json::to_string(&object).map_err(|_| Rejection::MalformedBody)
}
