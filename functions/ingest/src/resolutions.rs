//! `POST /webhooks/linear` and `POST /webhooks/jira`: the trackers telling us
//! a ticket is done. Verified on the raw bytes like every platform webhook
//! (Linear: `Linear-Signature` HMAC plus its 60 s timestamp window; Jira:
//! `X-Hub-Signature: sha256=`), then put straight on the route queue with
//! the message attribute `kind = ticketResolution`: a resolution is not a
//! community event, so it skips normalize. Everything else a tracker sends
//! (other issue updates, comments) is answered 200 and dropped, so the
//! tracker does not retry or disable the hook.
//! GitHub issues closed arrive as ordinary GitHub events instead.

use std::sync::Arc;

use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use community_aws::ports::{MessageQueue, OutgoingMessage, SecretSource};
use lambda_kit::config::{self, ConfigError, Lookup};
use secrecy::{ExposeSecret, SecretString};
use sha2::Digest;
use trackers::Tracker;
use trackers::webhooks::{self, Resolution, WebhookError};

use crate::{Refusal, json_response, raw_body};

/// The route queue's message attribute naming a resolution.
pub const KIND_ATTRIBUTE: &str = "kind";
pub const RESOLUTION_KIND: &str = "ticketResolution";

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolutionConfig {
    /// Each tracker whose webhook is enabled, with its secret's parameter.
    pub webhooks: Vec<(Tracker, String)>,
    /// The route queue (`normalized-events.fifo`).
    pub queue_url: Option<String>,
}

impl ResolutionConfig {
    pub fn from_lookup(source: &dyn Lookup) -> Result<ResolutionConfig, ConfigError> {
        let mut webhooks = Vec::new();
        for (tracker, name) in [
            (Tracker::Linear, "LINEAR_WEBHOOK_SECRET_PARAM"),
            (Tracker::Jira, "JIRA_WEBHOOK_SECRET_PARAM"),
        ] {
            if let Some(param) = config::optional(source, name) {
                webhooks.push((tracker, param));
            }
        }
        let queue_url = if webhooks.is_empty() {
            config::optional(source, "TICKET_RESOLUTIONS_QUEUE_URL")
        } else {
            Some(config::required(source, "TICKET_RESOLUTIONS_QUEUE_URL")?)
        };
        Ok(ResolutionConfig {
            webhooks,
            queue_url,
        })
    }
}

/// The trackers' webhook secrets and the queue resolutions go to.
pub struct Resolutions {
    /// None: the secret could not be loaded at cold start (503 until fixed).
    secrets: Vec<(Tracker, Option<SecretString>)>,
    queue: Arc<dyn MessageQueue>,
}

impl std::fmt::Debug for Resolutions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let trackers: Vec<&str> = self.secrets.iter().map(|(t, _)| t.as_str()).collect();
        f.debug_struct("Resolutions")
            .field("trackers", &trackers)
            .finish_non_exhaustive()
    }
}

impl Resolutions {
    /// Loads each enabled tracker's secret; one that fails is unavailable
    /// (logged) while the rest work.
    pub async fn load(
        config: &ResolutionConfig,
        secrets: &dyn SecretSource,
        queue: Arc<dyn MessageQueue>,
    ) -> Resolutions {
        let mut loaded = Vec::with_capacity(config.webhooks.len());
        for (tracker, param) in &config.webhooks {
            let secret = match secrets.secret(param).await {
                Ok(secret) if !secret.expose_secret().trim().is_empty() => Some(secret),
                Ok(_) => {
                    tracing::error!(
                        tracker = tracker.as_str(),
                        param,
                        "tracker webhook secret is empty"
                    );
                    None
                }
                Err(error) => {
                    tracing::error!(tracker = tracker.as_str(), param, error = %error, "tracker webhook secret could not be loaded");
                    None
                }
            };
            loaded.push((*tracker, secret));
        }
        Resolutions {
            secrets: loaded,
            queue,
        }
    }

    /// Handles one tracker webhook delivery.
    pub(crate) async fn accept(
        &self,
        tracker: Tracker,
        request: &ApiGatewayV2httpRequest,
        max_body_bytes: usize,
        now: time::OffsetDateTime,
    ) -> Result<ApiGatewayV2httpResponse, Refusal> {
        let secret = self
            .secrets
            .iter()
            .find(|(t, _)| *t == tracker)
            .map(|(_, s)| s)
            .ok_or(Refusal::new(404, "unknown_platform"))?
            .as_ref()
            .ok_or(Refusal::new(503, "platform_unavailable"))?;
        let body = raw_body(request, max_body_bytes)?;
        let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
        let key = secret.expose_secret().trim().as_bytes();
        let parsed = match tracker {
            Tracker::Linear => webhooks::verify_linear(key, header("linear-signature"), &body, now)
                .and_then(|()| webhooks::parse_linear(&body))
                .map(|r| r.map(|r| r.with_delivery_id(header("linear-delivery")))),
            Tracker::Jira => webhooks::verify_jira(key, header("x-hub-signature"), &body)
                .and_then(|()| webhooks::parse_jira(&body))
                .map(|r| r.map(|r| r.with_delivery_id(header("x-atlassian-webhook-identifier")))),
            Tracker::Github => return Err(Refusal::new(404, "unknown_platform")),
        };
        let resolution = parsed.map_err(refusal)?;
        let Some(resolution) = resolution else {
            tracing::info!(
                tracker = tracker.as_str(),
                "tracker webhook ignored: not a resolution"
            );
            return Ok(json_response(
                200,
                serde_json::json!({ "status": "ignored" }).to_string(),
            ));
        };
        let message = message_of(&resolution).map_err(|_| Refusal::new(500, "internal_error"))?;
        if let Err(error) = self.queue.send(&message).await {
            tracing::error!(tracker = tracker.as_str(), ticket_id = resolution.ticket_id, error = %error, "could not enqueue a verified resolution");
            return Err(if error.is_retryable() {
                Refusal::new(503, "temporarily_unavailable")
            } else {
                Refusal::new(500, "internal_error")
            });
        }
        tracing::info!(
            tracker = tracker.as_str(),
            ticket_id = resolution.ticket_id,
            delivery_id = resolution.delivery_id.as_deref(),
            "ticket resolution accepted"
        );
        lambda_kit::emf::count_by(crate::STAGE, "Platform", tracker.as_str(), "Accepted", 1);
        Ok(json_response(
            202,
            serde_json::json!({ "status": "accepted" }).to_string(),
        ))
    }
}

fn refusal(error: WebhookError) -> Refusal {
    match error.status() {
        401 => Refusal::new(401, "invalid_signature"),
        400 => Refusal::new(400, "malformed_delivery"),
        _ => Refusal::new(500, "internal_error"),
    }
}

/// The queue message: one group per ticket (its resolutions stay in order),
/// deduplicated by the resolution itself, so a tracker's redelivery (or a
/// second webhook for the same completion) is one message.
pub fn message_of(resolution: &Resolution) -> Result<OutgoingMessage, serde_json::Error> {
    let body = serde_json::json!({
        "tracker": resolution.tracker,
        "ticketId": resolution.ticket_id,
        "resolvedAt": canonical_event::rfc3339_utc(resolution.resolved_at),
    })
    .to_string();
    let digest = sha2::Sha256::digest(
        format!(
            "{}\n{}\n{}",
            resolution.tracker.as_str(),
            resolution.ticket_id,
            resolution.resolved_at.unix_timestamp()
        )
        .as_bytes(),
    );
    let group: String = resolution
        .ticket_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.#/:".contains(*c))
        .take(100)
        .collect();
    Ok(OutgoingMessage {
        group_id: format!("ticket:{}:{group}", resolution.tracker.as_str()),
        deduplication_id: hex::encode(digest),
        body,
        attributes: [(KIND_ATTRIBUTE.to_owned(), RESOLUTION_KIND.to_owned())].into(),
    })
}

/// `linear` / `jira` from `/webhooks/{name}`.
pub(crate) fn tracker_of(request: &ApiGatewayV2httpRequest) -> Option<Tracker> {
    let tail = request
        .raw_path
        .as_deref()
        .and_then(|p| p.trim_end_matches('/').split_once("/webhooks/"))
        .map(|(_, tail)| tail.to_owned())
        .or_else(|| request.path_parameters.get("platform").cloned())?;
    match tail.as_str() {
        "linear" => Some(Tracker::Linear),
        "jira" => Some(Tracker::Jira),
        _ => None,
    }
}
