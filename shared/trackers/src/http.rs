//! The one retry loop every sink uses.
//!
//! A tracker call is a closure that builds a `reqwest::RequestBuilder`; the
//! loop sends it, classifies the answer and then returns it, gives up, or
//! waits and sends it again. Waits honour the tracker's own hints
//! (`Retry-After`, the rate-limit reset headers) and otherwise back off
//! exponentially with full jitter. Nothing is retried once the wait would
//! carry the call past the caller's deadline; the error then carries the
//! tracker's hint so the caller can put the work back on its queue.
//!
//! Requests that are not idempotent (a GitHub or Jira create, a comment) are
//! only re-sent when the tracker certainly did not act on them (429, 503,
//! connection refused). After an ambiguous failure (a timeout, 500, 502,
//! 504) the loop stops and says so, and the sink looks for what the first
//! attempt may have created before answering.
//!
//! Errors and logs carry statuses and the tracker's own error message,
//! flattened and cut to [`DETAIL_LIMIT`] characters; never request bodies,
//! answer bodies or credentials.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::time::Instant;

use crate::{SinkError, Tracker};

/// Longest tracker message kept in an error, in characters.
pub const DETAIL_LIMIT: usize = 200;

/// Longest wait any hint may ask for; a larger or absurd header is clamped
/// (it only has to be "longer than any deadline").
const MAX_HINT: Duration = Duration::from_secs(24 * 60 * 60);

/// GitHub: "otherwise, wait for at least one minute before retrying" when a
/// secondary limit names no time.
const GITHUB_SECONDARY_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// How hard the loop tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Backoff ceiling of the first retry; it doubles with each retry.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub cap: Duration,
    /// Kept free before the deadline: no attempt starts, and no wait ends,
    /// inside it (the answer still has to travel back to the caller).
    pub deadline_margin: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(10),
            deadline_margin: Duration::from_millis(100),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in `[0, min(cap, base * 2^(retry - 1))]`.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        let ceiling = self.base.saturating_mul(1u32 << doublings).min(self.cap);
        ceiling.mul_f64(jitter_fraction())
    }
}

/// Whether the tracker may safely receive the same request twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads, and writes the tracker deduplicates (Linear's client-chosen ids).
    Idempotent,
    /// Writes the tracker would perform twice (GitHub/Jira create, comments).
    NotIdempotent,
}

/// One logical tracker call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub tracker: Tracker,
    /// A short name for logs: `create`, `find`, `comment`, ...
    pub operation: &'static str,
    pub deadline: Instant,
    pub replay: Replay,
}

/// A tracker's answer, read in full.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// What an answer means for the loop.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Hand the answer to the sink (a 2xx, or an error the sink interprets).
    Accept,
    /// The tracker throttled us; `min_wait` is a floor the tracker's
    /// documentation sets when its headers say nothing.
    RateLimited {
        detail: String,
        min_wait: Option<Duration>,
    },
    /// Worth retrying; `maybe_applied` when the tracker may have acted on the
    /// request anyway (so a non-idempotent request must not be re-sent).
    Unavailable { detail: String, maybe_applied: bool },
    /// Will never succeed as sent.
    Rejected { detail: String },
}

/// Why a call failed, and whether the tracker may still have acted on it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub error: SinkError,
    /// True when an attempt ended without a clear answer (timeout, 500,
    /// 502, 504): a non-idempotent write may have happened.
    pub maybe_applied: bool,
}

impl From<Failure> for SinkError {
    fn from(failure: Failure) -> SinkError {
        failure.error
    }
}

/// Sends `build()` until it is accepted, rejected, or the deadline (or the
/// attempt budget) would pass.
pub(crate) async fn send(
    call: &Call,
    policy: &RetryPolicy,
    build: impl Fn() -> reqwest::RequestBuilder,
    classify: impl Fn(&Answer) -> Verdict,
) -> Result<Answer, Failure> {
    let tracker = call.tracker.as_str();
    let mut attempt: u32 = 0;
    let mut maybe_applied = false;
    loop {
        attempt += 1;
        let Some(remaining) = call
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|left| *left > policy.deadline_margin)
        else {
            return Err(Failure {
                error: SinkError::Unavailable {
                    tracker,
                    detail: format!("deadline reached before {} could be sent", call.operation),
                },
                maybe_applied,
            });
        };

        // The request may use all the time that is left: a late answer is
        // still better than a retry.
        let outcome = match build().timeout(remaining).send().await {
            Ok(response) => read_answer(response).await,
            Err(error) => Err(transport_failure(&error)),
        };
        let verdict = match &outcome {
            Ok(answer) => classify(answer),
            Err(verdict) => verdict.clone(),
        };
        let status = outcome.as_ref().map(|answer| answer.status).unwrap_or(0);
        let now_wall = OffsetDateTime::now_utc();
        let (error, hint, ambiguous) = match verdict {
            Verdict::Accept => {
                return match outcome {
                    Ok(answer) => Ok(answer),
                    Err(_) => Err(Failure {
                        error: SinkError::Unavailable {
                            tracker,
                            detail: "answer could not be read".to_owned(),
                        },
                        maybe_applied: true,
                    }),
                };
            }
            Verdict::Rejected { detail } => {
                tracing::warn!(
                    tracker,
                    operation = call.operation,
                    attempt,
                    status,
                    detail = %detail,
                    "tracker rejected the request"
                );
                return Err(Failure {
                    error: SinkError::Rejected {
                        tracker,
                        status,
                        detail,
                    },
                    maybe_applied: false,
                });
            }
            Verdict::RateLimited { detail, min_wait } => {
                let headers = outcome.as_ref().ok().map(|answer| &answer.headers);
                let hint = [
                    headers.and_then(|h| retry_after(h, now_wall)),
                    headers.and_then(|h| reset_wait(h, now_wall)),
                    min_wait,
                ]
                .into_iter()
                .flatten()
                .max();
                let error = SinkError::RateLimited {
                    tracker,
                    retry_after: hint,
                    detail,
                };
                (error, hint, false)
            }
            Verdict::Unavailable {
                detail,
                maybe_applied: this_ambiguous,
            } => {
                let hint = outcome
                    .as_ref()
                    .ok()
                    .and_then(|answer| retry_after(&answer.headers, now_wall));
                let detail = if status == 0 {
                    detail
                } else {
                    format!("HTTP {status}: {detail}")
                };
                (
                    SinkError::Unavailable { tracker, detail },
                    hint,
                    this_ambiguous,
                )
            }
        };
        maybe_applied |= ambiguous;

        if ambiguous && call.replay == Replay::NotIdempotent {
            tracing::warn!(
                tracker,
                operation = call.operation,
                attempt,
                status,
                "tracker call ended without a clear answer; not re-sending a non-idempotent request"
            );
            return Err(Failure {
                error,
                maybe_applied,
            });
        }

        let wait = hint.unwrap_or_default().max(policy.backoff(attempt));
        let fits = Instant::now()
            .checked_add(wait + policy.deadline_margin)
            .is_some_and(|ready| ready < call.deadline);
        if attempt >= policy.max_attempts || !fits {
            tracing::warn!(
                tracker,
                operation = call.operation,
                attempt,
                status,
                wait_ms = duration_ms(wait),
                error = %error,
                "tracker call failed; giving up before the deadline"
            );
            return Err(Failure {
                error,
                maybe_applied,
            });
        }
        tracing::info!(
            tracker,
            operation = call.operation,
            attempt,
            status,
            wait_ms = duration_ms(wait),
            "tracker call failed; retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

async fn read_answer(response: reqwest::Response) -> Result<Answer, Verdict> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    match response.bytes().await {
        Ok(body) => Ok(Answer {
            status,
            headers,
            body: body.to_vec(),
        }),
        // The status line arrived, so the tracker saw the request.
        Err(error) => Err(Verdict::Unavailable {
            detail: format!("HTTP {status}, then {}", describe_transport(&error)),
            maybe_applied: true,
        }),
    }
}

fn transport_failure(error: &reqwest::Error) -> Verdict {
    Verdict::Unavailable {
        detail: describe_transport(error),
        // A refused connection never reached the tracker; anything later
        // (a timeout, a reset) may have.
        maybe_applied: !error.is_connect(),
    }
}

/// What went wrong on the wire, without the URL.
fn describe_transport(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "answer body unreadable"
    } else {
        "transport error"
    };
    // reqwest's own message is generic; its sources say what happened
    // ("connection refused", "operation timed out"). None of them carries
    // the URL or a header.
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let detail = if causes.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", causes.join(": "))
    };
    truncate_detail(&detail)
}

/// The classification every tracker shares: 2xx accepted; 429, and GitHub's
/// 403 rate limits, throttled; 408 and 5xx unavailable; other 4xx rejected.
pub(crate) fn classify_status(answer: &Answer) -> Verdict {
    let status = answer.status;
    if (200..300).contains(&status) {
        return Verdict::Accept;
    }
    let detail = error_detail(answer);
    let secondary_limit = detail.to_ascii_lowercase().contains("secondary rate limit");
    let has_retry_after = answer.headers.contains_key("retry-after");
    let remaining_zero = header_str(&answer.headers, "x-ratelimit-remaining")
        .is_some_and(|remaining| remaining.trim() == "0");
    match status {
        429 => Verdict::RateLimited {
            min_wait: (secondary_limit && !has_retry_after).then_some(GITHUB_SECONDARY_LIMIT_WAIT),
            detail,
        },
        // GitHub answers both its primary limit (remaining = 0) and its
        // secondary limits (a message, sometimes a Retry-After) with 403.
        403 if remaining_zero || secondary_limit || has_retry_after => Verdict::RateLimited {
            min_wait: (secondary_limit && !has_retry_after).then_some(GITHUB_SECONDARY_LIMIT_WAIT),
            detail,
        },
        408 => Verdict::Unavailable {
            detail,
            maybe_applied: true,
        },
        // 503 is "not now": the tracker did not act on the request.
        503 => Verdict::Unavailable {
            detail,
            maybe_applied: false,
        },
        500..=599 => Verdict::Unavailable {
            detail,
            maybe_applied: true,
        },
        _ => Verdict::Rejected { detail },
    }
}

/// The tracker's own words about a failed request: GitHub's `message` and
/// `errors`, Jira's `errorMessages` and `errors`, GraphQL `errors[].message`.
/// Falls back to the status when the body is not such JSON (an HTML page
/// from a proxy is never quoted).
pub(crate) fn error_detail(answer: &Answer) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&answer.body) {
        if let Some(message) = value.get("message").and_then(|m| m.as_str()) {
            parts.push(message.to_owned());
        }
        if let Some(messages) = value.get("errorMessages").and_then(|m| m.as_array()) {
            parts.extend(
                messages
                    .iter()
                    .filter_map(|m| m.as_str())
                    .map(str::to_owned),
            );
        }
        match value.get("errors") {
            Some(serde_json::Value::Array(errors)) => {
                for error in errors {
                    match error {
                        serde_json::Value::String(text) => parts.push(text.clone()),
                        serde_json::Value::Object(fields) => {
                            let message = fields
                                .get("extensions")
                                .and_then(|e| e.get("userPresentableMessage"))
                                .or_else(|| fields.get("message"))
                                .and_then(|m| m.as_str());
                            if let Some(message) = message {
                                parts.push(message.to_owned());
                            } else {
                                // GitHub validation errors: {resource, field, code}.
                                let field = fields.get("field").and_then(|f| f.as_str());
                                let code = fields.get("code").and_then(|c| c.as_str());
                                if let (Some(field), Some(code)) = (field, code) {
                                    parts.push(format!("{field}: {code}"));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            Some(serde_json::Value::Object(fields)) => {
                for (field, message) in fields {
                    if let Some(message) = message.as_str() {
                        parts.push(format!("{field}: {message}"));
                    }
                }
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        let reason = reqwest::StatusCode::from_u16(answer.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("unexpected status");
        return format!("HTTP {} {reason}", answer.status);
    }
    truncate_detail(&parts.join("; "))
}

/// Whitespace collapsed to single spaces, control characters dropped, cut
/// to [`DETAIL_LIMIT`] characters.
pub(crate) fn truncate_detail(text: &str) -> String {
    let mut flattened = String::with_capacity(text.len().min(DETAIL_LIMIT * 4));
    let mut count = 0;
    let mut last_was_space = false;
    for character in text.chars() {
        let character = if character.is_whitespace() {
            ' '
        } else {
            character
        };
        if character.is_control() || (character == ' ' && last_was_space) {
            continue;
        }
        if count == DETAIL_LIMIT {
            flattened.push('…');
            break;
        }
        last_was_space = character == ' ';
        flattened.push(character);
        count += 1;
    }
    flattened.trim().to_owned()
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `Retry-After`: delay-seconds or an HTTP-date.
pub(crate) fn retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let value = header_str(headers, "retry-after")?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return seconds_to_duration(seconds);
    }
    parse_http_date(value).map(|at| until(at, now))
}

/// The reset headers that name when a spent budget comes back. Each counts
/// only when its budget is spent (its `remaining` is 0 or absent): GitHub
/// sends `x-ratelimit-reset` on every answer, also for secondary limits whose
/// primary budget is far from spent, and waiting for that would be wrong.
const RESET_HEADERS: [(&str, &str); 4] = [
    // GitHub: epoch seconds. Jira: ISO 8601 (`yyyy-MM-ddTHH:mmZ`).
    ("x-ratelimit-reset", "x-ratelimit-remaining"),
    // Linear: epoch milliseconds.
    (
        "x-ratelimit-requests-reset",
        "x-ratelimit-requests-remaining",
    ),
    (
        "x-ratelimit-endpoint-requests-reset",
        "x-ratelimit-endpoint-requests-remaining",
    ),
    (
        "x-ratelimit-complexity-reset",
        "x-ratelimit-complexity-remaining",
    ),
];

/// The longest time until a spent budget resets, per [`RESET_HEADERS`].
pub(crate) fn reset_wait(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    RESET_HEADERS
        .iter()
        .filter(|(_, remaining)| {
            header_str(headers, remaining)
                .is_none_or(|left| left.trim().parse::<f64>().is_ok_and(|left| left <= 0.0))
        })
        .filter_map(|(reset, _)| header_str(headers, reset))
        .filter_map(|value| parse_reset(value, now))
        .map(|at| until(at, now))
        .max()
}

/// A reset instant in any of the forms the trackers use: epoch
/// milliseconds (Linear), epoch seconds (GitHub), ISO 8601 (Jira), or a
/// small number of seconds from now.
pub(crate) fn parse_reset(value: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let value = value.trim();
    if let Ok(number) = value.parse::<f64>() {
        if !number.is_finite() || number < 0.0 {
            return None;
        }
        // Epoch seconds passed 1e9 in 2001 and reach 1e11 in 5138; epoch
        // milliseconds passed 1e11 in 1973. Anything smaller is a delay.
        let unix_seconds = if number >= 1e11 {
            number / 1000.0
        } else if number >= 1e9 {
            number
        } else {
            return Some(now + seconds_to_duration(number)?);
        };
        let nanos = (unix_seconds * 1e9) as i128;
        return OffsetDateTime::from_unix_timestamp_nanos(nanos).ok();
    }
    if let Ok(at) = OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339) {
        return Some(at);
    }
    // Jira documents `yyyy-MM-ddTHH:mmZ`, which RFC 3339 does not allow.
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]Z");
    time::PrimitiveDateTime::parse(value, minutes)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the HTTP-date form
/// servers send.
fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let imf = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value, imf)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

fn until(at: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let left = at - now;
    if left.is_negative() {
        Duration::ZERO
    } else {
        Duration::try_from(left).unwrap_or(MAX_HINT).min(MAX_HINT)
    }
}

fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(seconds.min(MAX_HINT.as_secs_f64())))
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A number in `[0, 1)`. Retry timing needs spread, not secrecy, so a
/// splitmix64 step over the clock and a per-process counter does.
fn jitter_fraction() -> f64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let clock = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0);
    let step = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    let mut z = clock ^ step;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use time::macros::datetime;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn answer(status: u16, pairs: &[(&'static str, &str)], body: &str) -> Answer {
        Answer {
            status,
            headers: headers(pairs),
            body: body.as_bytes().to_vec(),
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00:00 UTC);

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), NOW),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "0.25")]), NOW),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 01 Mar 2026 12:00:30 GMT")]),
                NOW
            ),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "now", not an error.
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 01 Mar 2026 11:00:00 GMT")]),
                NOW
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), NOW), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")]), NOW), None);
        assert_eq!(retry_after(&HeaderMap::new(), NOW), None);
    }

    #[test]
    fn reset_reads_epoch_seconds_milliseconds_and_jira_iso() {
        let epoch_seconds = (NOW.unix_timestamp() + 90).to_string();
        let epoch_millis = (NOW.unix_timestamp() * 1000 + 1500).to_string();
        assert_eq!(
            reset_wait(
                &headers(&[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &epoch_seconds)
                ]),
                NOW
            ),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            reset_wait(
                &headers(&[
                    ("x-ratelimit-requests-remaining", "0"),
                    ("x-ratelimit-requests-reset", &epoch_millis)
                ]),
                NOW
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            reset_wait(&headers(&[("x-ratelimit-reset", "2026-03-01T12:02Z")]), NOW),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            reset_wait(
                &headers(&[("x-ratelimit-reset", "2026-03-01T12:00:05Z")]),
                NOW
            ),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn reset_of_an_unspent_budget_is_ignored() {
        let in_an_hour = (NOW.unix_timestamp() + 3600).to_string();
        assert_eq!(
            reset_wait(
                &headers(&[
                    ("x-ratelimit-remaining", "4999"),
                    ("x-ratelimit-reset", &in_an_hour)
                ]),
                NOW
            ),
            None
        );
    }

    #[test]
    fn the_longest_spent_budget_wins() {
        let soon = (NOW.unix_timestamp() * 1000 + 200).to_string();
        let later = (NOW.unix_timestamp() * 1000 + 900).to_string();
        assert_eq!(
            reset_wait(
                &headers(&[
                    ("x-ratelimit-requests-remaining", "0"),
                    ("x-ratelimit-requests-reset", &soon),
                    ("x-ratelimit-complexity-remaining", "0"),
                    ("x-ratelimit-complexity-reset", &later),
                ]),
                NOW
            ),
            Some(Duration::from_millis(900))
        );
    }

    #[test]
    fn backoff_stays_under_its_doubling_ceiling() {
        let policy = RetryPolicy::default();
        for _ in 0..200 {
            assert!(policy.backoff(1) <= Duration::from_millis(200));
            assert!(policy.backoff(3) <= Duration::from_millis(800));
            assert!(policy.backoff(30) <= Duration::from_secs(10));
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| policy.backoff(5).as_nanos()).collect();
        assert!(spread.len() > 40, "jitter should spread waits: {spread:?}");
    }

    #[test]
    fn classification_follows_the_trackers_contracts() {
        assert_eq!(classify_status(&answer(201, &[], "{}")), Verdict::Accept);
        assert!(matches!(
            classify_status(&answer(429, &[("retry-after", "1")], "")),
            Verdict::RateLimited { min_wait: None, .. }
        ));
        assert!(matches!(
            classify_status(&answer(
                403,
                &[("x-ratelimit-remaining", "0")],
                r#"{"message":"API rate limit exceeded for user ID 1."}"#
            )),
            Verdict::RateLimited { min_wait: None, .. }
        ));
        assert_eq!(
            classify_status(&answer(
                403,
                &[("x-ratelimit-remaining", "4000")],
                r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#
            )),
            Verdict::RateLimited {
                detail: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.".to_owned(),
                min_wait: Some(Duration::from_secs(60)),
            }
        );
        assert!(matches!(
            classify_status(&answer(
                403,
                &[("x-ratelimit-remaining", "4000")],
                r#"{"message":"Resource not accessible by integration"}"#
            )),
            Verdict::Rejected { .. }
        ));
        assert!(matches!(
            classify_status(&answer(503, &[], "")),
            Verdict::Unavailable {
                maybe_applied: false,
                ..
            }
        ));
        assert!(matches!(
            classify_status(&answer(502, &[], "<html>bad gateway</html>")),
            Verdict::Unavailable {
                maybe_applied: true,
                ..
            }
        ));
        assert!(matches!(
            classify_status(&answer(422, &[], "{}")),
            Verdict::Rejected { .. }
        ));
    }

    #[test]
    fn error_detail_quotes_the_tracker_not_the_page() {
        assert_eq!(
            error_detail(&answer(
                400,
                &[],
                r#"{"errorMessages":[],"errors":{"summary":"You must specify a summary of the issue."}}"#
            )),
            "summary: You must specify a summary of the issue."
        );
        assert_eq!(
            error_detail(&answer(
                422,
                &[],
                r#"{"message":"Validation Failed","errors":[{"resource":"Issue","field":"title","code":"missing_field"}]}"#
            )),
            "Validation Failed; title: missing_field"
        );
        assert_eq!(
            error_detail(&answer(502, &[], "<html><body>secret stuff</body></html>")),
            "HTTP 502 Bad Gateway"
        );
    }

    #[test]
    fn details_are_flattened_and_cut() {
        let long = "word \n\t ".repeat(200);
        let detail = truncate_detail(&long);
        assert!(detail.chars().count() <= DETAIL_LIMIT + 1);
        assert!(detail.ends_with('…'));
        assert!(!detail.contains('\n') && !detail.contains("  "));
        assert_eq!(
            truncate_detail("é".repeat(300).as_str()).chars().count(),
            201
        );
    }
}
