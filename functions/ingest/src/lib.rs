//! ingest: `POST /webhooks/{platform}` (API Gateway HTTP API, payload v2).
//!
//! verify → envelope → enqueue. Every platform's signature is checked on the
//! raw bytes before anything is parsed; accepted deliveries go to
//! `raw-events.fifo` keyed by the platform's own delivery id and answered
//! 202 long before any platform's deadline (GitHub's is 10 s).

use std::sync::Arc;

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use base64::Engine;
use canonical_event::Platform;
use community_aws::ports::{MessageQueue, OutgoingMessage, SecretSource};
use lambda_kit::Clock;
use lambda_kit::config::{self, ConfigError, Lookup};
use platforms::{Accepted, Rejection};
use secrecy::SecretString;

/// SQS FIFO messages are at most 1 MiB; the envelope adds a few hundred bytes
/// of metadata to the body, so bodies are capped safely below that.
pub const MAX_BODY_LIMIT: usize = 1_000_000;
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub raw_events_queue_url: String,
    pub github_secret_param: String,
    pub max_body_bytes: usize,
    pub enabled_platforms: Vec<Platform>,
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(&config::Env)
    }

    pub fn from_lookup(source: &dyn Lookup) -> Result<Config, ConfigError> {
        let enabled = config::list(source, "ENABLED_PLATFORMS");
        let mut enabled_platforms = Vec::new();
        for name in if enabled.is_empty() {
            vec!["github".to_owned()]
        } else {
            enabled
        } {
            let platform = Platform::parse(&name).ok_or_else(|| ConfigError::Invalid {
                name: "ENABLED_PLATFORMS",
                why: format!("unknown platform `{name}`"),
            })?;
            if platform != Platform::Github {
                return Err(ConfigError::Invalid {
                    name: "ENABLED_PLATFORMS",
                    why: format!("`{name}` has no verifier in this build"),
                });
            }
            enabled_platforms.push(platform);
        }
        Ok(Config {
            raw_events_queue_url: config::required(source, "RAW_EVENTS_QUEUE_URL")?,
            github_secret_param: config::required(source, "GITHUB_WEBHOOK_SECRET_PARAM")?,
            max_body_bytes: config::number(
                source,
                "MAX_BODY_BYTES",
                DEFAULT_MAX_BODY_BYTES,
                1024..=MAX_BODY_LIMIT,
            )?,
            enabled_platforms,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("could not load the webhook secret {param}: {source}")]
    Secret {
        param: String,
        source: community_aws::AwsError,
    },
    #[error("webhook secret parameter {0} is empty")]
    EmptySecret(String),
}

/// The ingest handler with everything it needs, built once per cold start.
pub struct Ingest {
    config: Config,
    github_secrets: Vec<SecretString>,
    queue: Arc<dyn MessageQueue>,
    clock: Clock,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are deliberately not printed.
        f.debug_struct("Ingest")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Ingest {
    /// Loads the webhook secrets (one per line in the parameter, for rotation).
    pub async fn load(
        config: Config,
        secrets: &dyn SecretSource,
        queue: Arc<dyn MessageQueue>,
        clock: Clock,
    ) -> Result<Ingest, InitError> {
        let secret = secrets
            .secret(&config.github_secret_param)
            .await
            .map_err(|source| InitError::Secret {
                param: config.github_secret_param.clone(),
                source,
            })?;
        let github_secrets = community_aws::ssm::split_rotated(&secret);
        if github_secrets.is_empty() {
            return Err(InitError::EmptySecret(config.github_secret_param.clone()));
        }
        tracing::info!(
            active_github_secrets = github_secrets.len(),
            "webhook secrets loaded"
        );
        Ok(Ingest {
            config,
            github_secrets,
            queue,
            clock,
        })
    }

    /// Wires the real adapters from SDK clients.
    pub async fn from_clients(
        config: Config,
        clients: &community_aws::Clients,
        clock: Clock,
    ) -> Result<Ingest, InitError> {
        let queue = Arc::new(community_aws::sqs::SqsQueue::new(
            clients.sqs.clone(),
            config.raw_events_queue_url.clone(),
        ));
        let secrets = community_aws::ssm::SsmSecrets::new(clients.ssm.clone());
        Ingest::load(config, &secrets, queue, clock).await
    }

    pub async fn handle(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        match self.process(&request).await {
            Ok(outcome) => outcome,
            Err(refusal) => {
                tracing::warn!(
                    status = refusal.status,
                    code = refusal.code,
                    "webhook refused"
                );
                refusal.into_response()
            }
        }
    }

    async fn process(
        &self,
        request: &ApiGatewayV2httpRequest,
    ) -> Result<ApiGatewayV2httpResponse, Refusal> {
        if request.request_context.http.method != aws_lambda_events::http::Method::POST {
            return Err(Refusal::new(405, "method_not_allowed"));
        }
        let platform = platform_of(request)
            .filter(|p| self.config.enabled_platforms.contains(p))
            .ok_or(Refusal::new(404, "unknown_platform"))?;
        let body = raw_body(request, self.config.max_body_bytes)?;
        let headers = &request.headers;
        let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let accepted = match platform {
            Platform::Github => platforms::github::accept(
                &self.github_secrets,
                &platforms::github::Delivery {
                    header: lookup,
                    body: &body,
                    received_at: (self.clock)(),
                },
            ),
            // Config refuses platforms without a verifier, so this is unreachable in practice.
            _ => return Err(Refusal::new(404, "unknown_platform")),
        }
        .map_err(Refusal::from)?;

        match accepted {
            Accepted::Ping => {
                tracing::info!(platform = platform.as_str(), "ping answered");
                Ok(json_response(200, r#"{"status":"pong"}"#.to_owned()))
            }
            Accepted::Enqueue(message) => {
                let outgoing = OutgoingMessage {
                    group_id: message.group_id,
                    deduplication_id: message.deduplication_id,
                    body: message.body,
                    attributes: Default::default(),
                };
                if let Err(error) = self.queue.send(&outgoing).await {
                    tracing::error!(
                        platform = platform.as_str(),
                        delivery_id = message.delivery_id.as_str(),
                        retryable = error.is_retryable(),
                        error = %error,
                        "could not enqueue a verified delivery"
                    );
                    // Either way the platform records a failed delivery that can be
                    // redelivered; 503 says "try again", 500 says a retry will not help
                    // until the deployment is fixed.
                    return Err(if error.is_retryable() {
                        Refusal::new(503, "temporarily_unavailable")
                    } else {
                        Refusal::new(500, "internal_error")
                    });
                }
                tracing::info!(
                    platform = platform.as_str(),
                    delivery_id = message.delivery_id.as_str(),
                    event_name = message.event_name.as_str(),
                    "delivery accepted"
                );
                Ok(json_response(
                    202,
                    serde_json::json!({ "status": "accepted", "deliveryId": message.delivery_id })
                        .to_string(),
                ))
            }
        }
    }
}

/// `{platform}` from the route's path parameters, else from the raw path
/// (the local stack and direct invokes may not set path parameters).
fn platform_of(request: &ApiGatewayV2httpRequest) -> Option<Platform> {
    let name = request
        .path_parameters
        .get("platform")
        .cloned()
        .or_else(|| {
            request
                .raw_path
                .as_deref()
                .and_then(|p| p.trim_end_matches('/').rsplit_once("/webhooks/"))
                .map(|(_, name)| name.to_owned())
        })?;
    Platform::parse(&name)
}

/// The body exactly as the platform sent it (base64-decoded when API Gateway
/// encoded it), refusing oversized bodies before decoding or verifying them.
fn raw_body(request: &ApiGatewayV2httpRequest, limit: usize) -> Result<Vec<u8>, Refusal> {
    let text = request.body.as_deref().unwrap_or("");
    if request.is_base64_encoded {
        // base64 is 4/3 of the decoded size: refuse early without allocating.
        if text.len() > limit.div_ceil(3) * 4 + 4 {
            return Err(Refusal::new(413, "body_too_large"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| Refusal::new(400, "malformed_delivery"))?;
        if decoded.len() > limit {
            return Err(Refusal::new(413, "body_too_large"));
        }
        Ok(decoded)
    } else {
        if text.len() > limit {
            return Err(Refusal::new(413, "body_too_large"));
        }
        Ok(text.as_bytes().to_vec())
    }
}

/// A refusal at the edge: a status and a short code, nothing internal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
}

impl Refusal {
    const fn new(status: u16, code: &'static str) -> Refusal {
        Refusal { status, code }
    }

    fn into_response(self) -> ApiGatewayV2httpResponse {
        json_response(
            i64::from(self.status),
            serde_json::json!({ "error": self.code }).to_string(),
        )
    }
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Refusal {
        Refusal::new(rejection.status(), rejection.code())
    }
}

fn json_response(status: i64, body: String) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = status;
    response.headers = headers;
    response.body = Some(Body::Text(body));
    response.is_base64_encoded = false;
    response
}

#[cfg(test)]
mod tests;
