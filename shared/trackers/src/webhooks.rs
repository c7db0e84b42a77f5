//! The trackers' resolution webhooks: verify, then parse. Pure, no I/O.
//!
//! A resolved ticket becomes a [`Resolution`] whose `ticket_id` is the same
//! id [`TicketRef::id`](crate::TicketRef) carries, so the pipeline can find
//! the event the ticket came from and tell the member.
//!
//! - Linear signs the raw body: `Linear-Signature` = hex HMAC-SHA256 with the
//!   webhook's secret. The body's `webhookTimestamp` (epoch ms) must be
//!   within a minute of now, the window Linear's own SDK enforces.
//! - Jira Cloud admin webhooks registered with a secret send
//!   `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>` (WebSub).
//!   Jira signs no timestamp, so replays are caught by deduplicating on
//!   `X-Atlassian-Webhook-Identifier`, not here.
//! - GitHub closed issues arrive through the pipeline's GitHub webhook; this
//!   module only spells their ticket ids.
//!
//! Delivery ids live in headers (`Linear-Delivery`,
//! `X-Atlassian-Webhook-Identifier`), which these body parsers never see;
//! attach one with [`Resolution::with_delivery_id`].

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::Tracker;

type HmacSha256 = Hmac<Sha256>;

/// Linear's replay window: "more than one minute delta between provided ts
/// and current time" is rejected by its SDK.
pub const LINEAR_TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(60);

/// A ticket the tracker reports as done.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolution {
    pub tracker: Tracker,
    /// The same id as `TicketRef::id`.
    pub ticket_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub resolved_at: OffsetDateTime,
    pub delivery_id: Option<String>,
}

impl Resolution {
    /// The same resolution, tagged with the delivery id from the request's
    /// headers (for deduplicating redeliveries).
    pub fn with_delivery_id(mut self, delivery_id: Option<&str>) -> Resolution {
        self.delivery_id = delivery_id
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(|id| id.chars().take(200).collect());
        self
    }
}

/// Why a webhook was refused. [`WebhookError::status`] is the answer to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("signature header missing")]
    MissingSignature,
    /// Malformed, or not made with our secret.
    #[error("signature does not verify")]
    BadSignature,
    #[error("webhook timestamp is outside the replay window")]
    StaleTimestamp,
    #[error("webhook body is malformed: {0}")]
    MalformedBody(String),
    /// Our side: the secret is empty.
    #[error("no webhook secret is configured")]
    NoSecret,
}

impl WebhookError {
    /// 401 for anything that fails authentication (missing or wrong
    /// signature, a replayed delivery); 400 for a body we cannot read; 500
    /// when our own configuration is missing.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::MissingSignature
            | WebhookError::BadSignature
            | WebhookError::StaleTimestamp => 401,
            WebhookError::MalformedBody(_) => 400,
            WebhookError::NoSecret => 500,
        }
    }
}

/// Checks `Linear-Signature` (hex HMAC-SHA256 of `body`) and that the body's
/// `webhookTimestamp` is within [`LINEAR_TIMESTAMP_TOLERANCE`] of `now`.
pub fn verify_linear(
    secret: &[u8],
    signature_header: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<(), WebhookError> {
    verify_hex_hmac(secret, signature_header, "", body)?;
    // Only a signed body is parsed: its timestamp is covered by the MAC.
    let payload: Value = serde_json::from_slice(body)
        .map_err(|_| WebhookError::MalformedBody("not JSON".to_owned()))?;
    let sent_ms = payload
        .get("webhookTimestamp")
        .and_then(Value::as_i64)
        .ok_or_else(|| WebhookError::MalformedBody("webhookTimestamp missing".to_owned()))?;
    let now_ms = now.unix_timestamp_nanos() / 1_000_000;
    let skew_ms = (now_ms - i128::from(sent_ms)).unsigned_abs();
    if skew_ms > LINEAR_TIMESTAMP_TOLERANCE.as_millis() {
        return Err(WebhookError::StaleTimestamp);
    }
    Ok(())
}

/// A completed Linear issue, or `None` for every other event (other types,
/// removals, updates that do not complete the issue).
pub fn parse_linear(body: &[u8]) -> Result<Option<Resolution>, WebhookError> {
    let payload: Value = serde_json::from_slice(body)
        .map_err(|_| WebhookError::MalformedBody("not JSON".to_owned()))?;
    if payload.get("type").and_then(Value::as_str) != Some("Issue") {
        return Ok(None);
    }
    let action = payload.get("action").and_then(Value::as_str);
    if !matches!(action, Some("create" | "update")) {
        return Ok(None);
    }
    let data = payload
        .get("data")
        .ok_or_else(|| WebhookError::MalformedBody("Issue event without data".to_owned()))?;
    let completed_at = data.get("completedAt").and_then(Value::as_str);
    let state_completed = data
        .get("state")
        .and_then(|state| state.get("type"))
        .and_then(Value::as_str)
        == Some("completed");
    if completed_at.is_none() && !state_completed {
        return Ok(None);
    }
    // An update of an already completed issue (a title edit, a label) names
    // its changed fields in `updatedFrom`; only a change of state or
    // completion is the resolution itself.
    if action == Some("update")
        && let Some(changed) = payload.get("updatedFrom").and_then(Value::as_object)
        && !changed.contains_key("completedAt")
        && !changed.contains_key("stateId")
    {
        return Ok(None);
    }
    let ticket_id = data
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| WebhookError::MalformedBody("Issue event without data.id".to_owned()))?;
    let resolved_at = completed_at
        .or_else(|| data.get("updatedAt").and_then(Value::as_str))
        .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok())
        .or_else(|| {
            payload
                .get("webhookTimestamp")
                .and_then(Value::as_i64)
                .and_then(from_epoch_ms)
        })
        .ok_or_else(|| WebhookError::MalformedBody("no completion time".to_owned()))?;
    Ok(Some(Resolution {
        tracker: Tracker::Linear,
        ticket_id: ticket_id.to_owned(),
        resolved_at,
        delivery_id: None,
    }))
}

/// Checks `X-Hub-Signature: sha256=<hex>` (HMAC-SHA256 of `body`).
pub fn verify_jira(
    secret: &[u8],
    signature_header: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    verify_hex_hmac(secret, signature_header, "sha256=", body)
}

/// A resolved Jira issue (`jira:issue_updated`, `jira:issue_created` or an
/// `issue_resolved` event whose issue has a resolution or sits in the
/// `done` status category), or `None` for every other event.
pub fn parse_jira(body: &[u8]) -> Result<Option<Resolution>, WebhookError> {
    let payload: Value = serde_json::from_slice(body)
        .map_err(|_| WebhookError::MalformedBody("not JSON".to_owned()))?;
    let event = payload
        .get("webhookEvent")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let relevant = ["issue_updated", "issue_created", "issue_resolved"]
        .iter()
        .any(|name| event == *name || event == format!("jira:{name}"));
    if !relevant {
        return Ok(None);
    }
    let issue = payload
        .get("issue")
        .ok_or_else(|| WebhookError::MalformedBody("issue event without issue".to_owned()))?;
    let fields = issue.get("fields").unwrap_or(&Value::Null);
    let has_resolution = fields.get("resolution").is_some_and(|r| !r.is_null());
    let done_category = fields
        .get("status")
        .and_then(|status| status.get("statusCategory"))
        .and_then(|category| category.get("key"))
        .and_then(Value::as_str)
        == Some("done");
    if !has_resolution && !done_category {
        return Ok(None);
    }
    // An edit of an already resolved issue carries a changelog without a
    // status or resolution item; only the transition is the resolution.
    if let Some(items) = payload
        .get("changelog")
        .and_then(|changelog| changelog.get("items"))
        .and_then(Value::as_array)
        && !items.is_empty()
        && !items.iter().any(|item| {
            matches!(
                item.get("field").and_then(Value::as_str),
                Some("status" | "resolution")
            )
        })
    {
        return Ok(None);
    }
    let ticket_id = match issue.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => return Err(WebhookError::MalformedBody("issue without id".to_owned())),
    };
    let resolved_at = fields
        .get("resolutiondate")
        .and_then(Value::as_str)
        .and_then(parse_jira_time)
        .or_else(|| {
            payload
                .get("timestamp")
                .and_then(Value::as_i64)
                .and_then(from_epoch_ms)
        })
        .ok_or_else(|| WebhookError::MalformedBody("no resolution time".to_owned()))?;
    Ok(Some(Resolution {
        tracker: Tracker::Jira,
        ticket_id,
        resolved_at,
        delivery_id: None,
    }))
}

/// `owner/repo#number`: the id a GitHub `TicketRef` carries.
pub fn github_ticket_id(owner_repo: &str, number: u64) -> String {
    format!("{owner_repo}#{number}")
}

/// The ticket id of `https://github.com/{owner}/{repo}/issues/{number}` (an
/// issue's `html_url`), or `None` for anything else (pull requests included).
pub fn github_ticket_id_from_url(html_url: &str) -> Option<String> {
    let path = html_url.trim().strip_prefix("https://github.com/")?;
    let path = path.split(['#', '?']).next()?.trim_end_matches('/');
    let parts: Vec<&str> = path.split('/').collect();
    let [owner, repo, "issues", number] = parts.as_slice() else {
        return None;
    };
    let name_ok = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    // Issue numbers are written without leading zeros; `012` is not #12's URL.
    let number_ok = !number.starts_with('0') && number.chars().all(|c| c.is_ascii_digit());
    if !name_ok(owner) || !name_ok(repo) || !number_ok {
        return None;
    }
    let number: u64 = number.parse().ok()?;
    Some(github_ticket_id(&format!("{owner}/{repo}"), number))
}

/// `prefix` + hex HMAC-SHA256 of `body`, compared in constant time.
fn verify_hex_hmac(
    secret: &[u8],
    signature_header: Option<&str>,
    prefix: &str,
    body: &[u8],
) -> Result<(), WebhookError> {
    if secret.is_empty() {
        return Err(WebhookError::NoSecret);
    }
    let header = signature_header
        .ok_or(WebhookError::MissingSignature)?
        .trim();
    let hex_digest = header
        .strip_prefix(prefix)
        .ok_or(WebhookError::BadSignature)?;
    if hex_digest.len() != 64 {
        return Err(WebhookError::BadSignature);
    }
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut expected).map_err(|_| WebhookError::BadSignature)?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| WebhookError::NoSecret)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| WebhookError::BadSignature)
}

fn from_epoch_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// Jira's `2026-03-01T12:00:00.000+0000` (offset without a colon), or RFC 3339.
fn parse_jira_time(text: &str) -> Option<OffsetDateTime> {
    let jira = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    OffsetDateTime::parse(text, jira)
        .or_else(|_| OffsetDateTime::parse(text, &Rfc3339))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn jira_times_parse_with_and_without_colon() {
        assert_eq!(
            parse_jira_time("2026-03-01T12:00:00.000+0100"),
            Some(datetime!(2026-03-01 11:00:00 UTC))
        );
        assert_eq!(
            parse_jira_time("2026-03-01T12:00:00Z"),
            Some(datetime!(2026-03-01 12:00:00 UTC))
        );
        assert_eq!(parse_jira_time("yesterday"), None);
    }

    #[test]
    fn status_codes_split_auth_from_malformed() {
        assert_eq!(WebhookError::MissingSignature.status(), 401);
        assert_eq!(WebhookError::BadSignature.status(), 401);
        assert_eq!(WebhookError::StaleTimestamp.status(), 401);
        assert_eq!(WebhookError::MalformedBody(String::new()).status(), 400);
        assert_eq!(WebhookError::NoSecret.status(), 500);
    }

    #[test]
    fn delivery_ids_are_trimmed_and_bounded() {
        let resolution = Resolution {
            tracker: Tracker::Jira,
            ticket_id: "10001".to_owned(),
            resolved_at: datetime!(2026-03-01 12:00:00 UTC),
            delivery_id: None,
        };
        assert_eq!(
            resolution
                .clone()
                .with_delivery_id(Some(" abc "))
                .delivery_id
                .as_deref(),
            Some("abc")
        );
        assert_eq!(
            resolution.clone().with_delivery_id(Some("  ")).delivery_id,
            None
        );
        assert_eq!(
            resolution
                .with_delivery_id(Some(&"x".repeat(500)))
                .delivery_id
                .map(|id| id.len()),
            Some(200)
        );
    }
}
