//! Signed delivery to the relay endpoint, with retries.
//!
//! Every attempt is signed afresh (`x-signature-timestamp` = now, so a long
//! retry never goes stale against the relay's 300 s window) over the same
//! bytes. 2xx is delivered; 429, 5xx, 408 and transport errors are retried
//! with exponential backoff and jitter, never sooner than `Retry-After`;
//! every other status is permanent (400 invalid envelope, 401 signature or
//! clock, 413 too large, 3xx/404 a wrong RELAY_URL) and is logged with the
//! id and the status only: never a body.

use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

use crate::envelope::Delivery;

pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
pub const SIGNATURE_HEADER: &str = "x-signature";
pub const SIGNATURE_PREFIX: &str = "sha256=";

/// `sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(
    secret: &SecretString,
    timestamp: &str,
    body: &[u8],
) -> Result<String, platforms::hmac_sha256::SignatureError> {
    platforms::hmac_sha256::sign_prefixed_hex(
        secret.expose_secret(),
        SIGNATURE_PREFIX,
        &[timestamp.as_bytes(), b".", body],
    )
}

/// How often and how patiently a delivery is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// The first backoff; it doubles per failed attempt.
    pub base_delay: Duration,
    /// Backoff never exceeds this (before Retry-After is considered).
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is shortened to it.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// 0.5 s doubling to at most 60 s: 8 attempts span about a minute.
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(300),
        }
    }

    /// The wait after the `failed_attempts`-th failure (1-based). Backoff is
    /// `base · 2^(n-1)` capped at `max_delay`, with "equal jitter" (half
    /// fixed, half random from `unit_random` ∈ [0, 1)); a `Retry-After` is a
    /// floor, capped at `max_retry_after`.
    pub fn delay(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        unit_random: f64,
    ) -> Duration {
        let exponent = failed_attempts.saturating_sub(1).min(31);
        let backoff = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let half = backoff / 2;
        let jittered = half + half.mul_f64(unit_random.clamp(0.0, 1.0));
        match retry_after {
            Some(asked) => jittered.max(asked.min(self.max_retry_after)),
            None => jittered,
        }
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// What a status means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    Permanent,
}

pub fn classify(status: StatusCode) -> Verdict {
    if status.is_success() {
        Verdict::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Verdict::Retry
    } else {
        Verdict::Permanent
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered {
        status: u16,
        attempts: u32,
    },
    /// A permanent refusal; not retried.
    Rejected {
        status: u16,
        attempts: u32,
    },
    /// Every attempt failed with a retryable error.
    GaveUp {
        attempts: u32,
    },
}

/// Waiting between attempts. Injected so that tests can record the waits
/// instead of sleeping.
pub trait Pause: Send + Sync + 'static {
    fn pause(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TokioPause;

impl Pause for TokioPause {
    fn pause(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// One attempt's result, before the retry decision.
enum Attempt {
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    Transport(&'static str),
    Unsigned,
}

#[derive(Debug)]
pub struct Forwarder<P = TokioPause> {
    client: reqwest::Client,
    url: Url,
    secret: SecretString,
    policy: RetryPolicy,
    pause: P,
}

/// Per-attempt timeout: the relay answers 202 after enqueueing, well under this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Forwarder<TokioPause> {
    pub fn new(url: Url, secret: SecretString, policy: RetryPolicy) -> Result<Self, ForwardError> {
        Self::with_pause(url, secret, policy, TokioPause)
    }
}

impl<P: Pause> Forwarder<P> {
    pub fn with_pause(
        url: Url,
        secret: SecretString,
        policy: RetryPolicy,
        pause: P,
    ) -> Result<Self, ForwardError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("discord-relay/", env!("CARGO_PKG_VERSION")))
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // A redirected POST would be replayed as a GET: a 3xx means
            // RELAY_URL is wrong, and is reported as such.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ForwardError::Client)?;
        Ok(Forwarder {
            client,
            url,
            secret,
            policy,
            pause,
        })
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Delivers one envelope, retrying as the policy allows. Logs the outcome.
    pub async fn deliver(&self, delivery: &Delivery) -> Outcome {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let retry_after = match self.attempt(delivery).await {
                Attempt::Answered {
                    status,
                    retry_after,
                } => match classify(status) {
                    Verdict::Delivered => {
                        tracing::debug!(id = %delivery.id, kind = %delivery.kind, status = status.as_u16(), attempts, "delivered");
                        return Outcome::Delivered {
                            status: status.as_u16(),
                            attempts,
                        };
                    }
                    Verdict::Permanent => {
                        tracing::error!(
                            id = %delivery.id,
                            kind = %delivery.kind,
                            status = status.as_u16(),
                            attempts,
                            hint = rejection_hint(status),
                            "relay refused the event; dropped, not retried"
                        );
                        return Outcome::Rejected {
                            status: status.as_u16(),
                            attempts,
                        };
                    }
                    Verdict::Retry => {
                        tracing::warn!(id = %delivery.id, kind = %delivery.kind, status = status.as_u16(), attempt = attempts, "relay temporarily unavailable");
                        retry_after
                    }
                },
                Attempt::Transport(error) => {
                    tracing::warn!(id = %delivery.id, kind = %delivery.kind, error, attempt = attempts, "could not reach the relay");
                    None
                }
                Attempt::Unsigned => {
                    tracing::error!(id = %delivery.id, kind = %delivery.kind, "could not sign the request; check RELAY_SECRET; dropped");
                    return Outcome::Rejected {
                        status: 0,
                        attempts,
                    };
                }
            };
            if attempts >= self.policy.max_attempts {
                tracing::error!(
                    id = %delivery.id,
                    kind = %delivery.kind,
                    attempts,
                    "relay still unavailable after the last attempt (RELAY_MAX_ATTEMPTS); dropped"
                );
                return Outcome::GaveUp { attempts };
            }
            let wait = self.policy.delay(attempts, retry_after, fastrand::f64());
            tracing::debug!(id = %delivery.id, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "retrying");
            self.pause.pause(wait).await;
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> Attempt {
        let timestamp = unix_seconds_now().to_string();
        let Ok(signature) = sign(&self.secret, &timestamp, &delivery.body) else {
            return Attempt::Unsigned;
        };
        let sent = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(delivery.body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => Attempt::Answered {
                status: response.status(),
                retry_after: retry_after(response.headers()),
            },
            Err(e) => Attempt::Transport(transport_error_kind(&e)),
        }
    }
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

fn unix_seconds_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fixed word instead of the error text, which can be long and nested.
fn transport_error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_request() {
        "request"
    } else if e.is_body() {
        "body"
    } else {
        "transport"
    }
}

/// What the operator should do about a permanent refusal.
fn rejection_hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => {
            "the relay found the envelope invalid: this relay and the pipeline disagree on relay-envelope.v1; deploy matching versions"
        }
        401 => {
            "signature or timestamp refused: RELAY_SECRET's first line must be one of the relay's active secrets, and this host's clock must be within 300 s"
        }
        413 => "the envelope is larger than the relay accepts",
        300..=399 | 404 | 405 => {
            "RELAY_URL does not point at the relay endpoint (expected …/webhooks/relay)"
        }
        403 => "the relay endpoint refused access: check any WAF or resource policy in front of it",
        _ => "permanent refusal from the relay",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(30),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy();
        // unit_random = 1.0 takes the top of the jitter range: the full backoff.
        assert_eq!(p.delay(1, None, 1.0), Duration::from_millis(100));
        assert_eq!(p.delay(2, None, 1.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, None, 1.0), Duration::from_millis(400));
        assert_eq!(p.delay(6, None, 1.0), Duration::from_secs(2));
        assert_eq!(p.delay(200, None, 1.0), Duration::from_secs(2));
    }

    #[test]
    fn jitter_stays_within_the_upper_half() {
        let p = policy();
        assert_eq!(p.delay(3, None, 0.0), Duration::from_millis(200));
        assert_eq!(p.delay(3, None, 0.5), Duration::from_millis(300));
    }

    #[test]
    fn retry_after_is_a_floor_with_a_cap() {
        let p = policy();
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(7)), 0.0),
            Duration::from_secs(7)
        );
        // A shorter Retry-After does not cut the backoff short.
        assert_eq!(
            p.delay(6, Some(Duration::from_millis(10)), 1.0),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(3600)), 0.0),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn statuses_are_classified() {
        for (status, verdict) in [
            (200, Verdict::Delivered),
            (202, Verdict::Delivered),
            (204, Verdict::Delivered),
            (301, Verdict::Permanent),
            (400, Verdict::Permanent),
            (401, Verdict::Permanent),
            (404, Verdict::Permanent),
            (413, Verdict::Permanent),
            (408, Verdict::Retry),
            (429, Verdict::Retry),
            (500, Verdict::Retry),
            (502, Verdict::Retry),
            (503, Verdict::Retry),
        ] {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
            assert_eq!(classify(status), verdict, "{status}");
        }
    }
}
