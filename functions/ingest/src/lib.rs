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
use platforms::discord::Endpoint;
use platforms::{Accepted, FieldProblem, Rejection, Reply};
use secrecy::SecretString;

/// SQS FIFO messages are at most 1 MiB; the envelope adds a few hundred bytes
/// of metadata to the body, so bodies are capped safely below that.
pub const MAX_BODY_LIMIT: usize = 1_000_000;
pub const DEFAULT_MAX_BODY_BYTES: usize = 512 * 1024;

/// The HTTP API refuses requests whose request line and headers exceed
/// 10,240 bytes, but a direct invoke (or the local stack) has no such
/// limit, and every byte of a header is read before anything is verified.
/// These bounds keep ingest's own refusal (431) just above what API Gateway
/// lets through, with room for the forwarding headers it adds; genuine
/// deliveries carry about a dozen short headers.
pub const MAX_HEADERS: usize = 100;
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

pub mod resolutions;

/// The function's name in metrics.
pub const STAGE: &str = "ingest";

#[derive(Debug, Clone)]
pub struct Config {
    pub raw_events_queue_url: String,
    pub max_body_bytes: usize,
    /// Each enabled platform with the name of the parameter (SSM) or secret
    /// (Secrets Manager ARN) holding its signing secrets or public keys.
    pub platforms: Vec<(Platform, String)>,
    /// Ticket trackers' resolution webhooks (Linear, Jira).
    pub resolutions: resolutions::ResolutionConfig,
}

/// The variable naming where a platform's secrets live.
pub fn secret_variable(platform: Platform) -> &'static str {
    match platform {
        Platform::Github => "GITHUB_WEBHOOK_SECRET_PARAM",
        Platform::Slack => "SLACK_SIGNING_SECRET_PARAM",
        Platform::Discord => "DISCORD_PUBLIC_KEY_PARAM",
        Platform::Discourse => "DISCOURSE_WEBHOOK_SECRET_PARAM",
        Platform::Relay => "RELAY_WEBHOOK_SECRET_PARAM",
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(&config::Env)
    }

    pub fn from_lookup(source: &dyn Lookup) -> Result<Config, ConfigError> {
        let enabled = config::list(source, "ENABLED_PLATFORMS");
        let names = if enabled.is_empty() {
            vec!["github".to_owned()]
        } else {
            enabled
        };
        let mut platforms: Vec<(Platform, String)> = Vec::new();
        for name in names {
            let platform = Platform::parse(&name).ok_or_else(|| ConfigError::Invalid {
                name: "ENABLED_PLATFORMS",
                why: format!("unknown platform `{name}`"),
            })?;
            if platforms.iter().any(|(p, _)| *p == platform) {
                continue;
            }
            let param = config::required(source, secret_variable(platform))?;
            platforms.push((platform, param));
        }
        Ok(Config {
            raw_events_queue_url: config::required(source, "RAW_EVENTS_QUEUE_URL")?,
            max_body_bytes: config::number(
                source,
                "MAX_BODY_BYTES",
                DEFAULT_MAX_BODY_BYTES,
                1024..=MAX_BODY_LIMIT,
            )?,
            platforms,
            resolutions: resolutions::ResolutionConfig::from_lookup(source)?,
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
    #[error("parameter {param} does not hold Discord public keys: {source}")]
    PublicKey {
        param: String,
        source: platforms::discord::KeyError,
    },
    #[error(
        "secret {0} holds JSON (a Secrets Manager key/value secret?): store the plain secret, one per line"
    )]
    JsonSecret(String),
    #[error("the relay envelope schema does not compile: {0}")]
    RelaySchema(String),
}

/// How one platform's deliveries are verified.
enum Verifier {
    /// HMAC-SHA256 signing secrets (several during a rotation).
    Hmac(Vec<SecretString>),
    /// Ed25519 public keys (Discord).
    Ed25519(Vec<platforms::discord::VerifyingKey>),
    /// Relay secrets, each possibly bound to one source.
    Relay(Vec<platforms::relay::RelaySecret>),
    /// Its secret could not be loaded at cold start: 503 until fixed.
    Unavailable,
}

impl Verifier {
    fn len(&self) -> usize {
        match self {
            Verifier::Hmac(s) => s.len(),
            Verifier::Ed25519(k) => k.len(),
            Verifier::Relay(s) => s.len(),
            Verifier::Unavailable => 0,
        }
    }
}

/// One platform's secret, fetched and checked.
async fn load_verifier(
    platform: Platform,
    param: &str,
    secrets: &dyn SecretSource,
) -> Result<Verifier, InitError> {
    use secrecy::ExposeSecret;
    let secret = secrets
        .secret(param)
        .await
        .map_err(|source| InitError::Secret {
            param: param.to_owned(),
            source,
        })?;
    // A Secrets Manager key/value secret is JSON: used as an HMAC key it would
    // fail every request with 401, so it is refused here, loudly.
    if secret.expose_secret().trim_start().starts_with('{') {
        return Err(InitError::JsonSecret(param.to_owned()));
    }
    let lines = community_aws::ssm::split_rotated(&secret);
    if lines.is_empty() {
        return Err(InitError::EmptySecret(param.to_owned()));
    }
    Ok(match platform {
        Platform::Discord => {
            let texts: Vec<&str> = lines.iter().map(|l| l.expose_secret()).collect();
            Verifier::Ed25519(
                platforms::discord::parse_public_keys(&texts).map_err(|source| {
                    InitError::PublicKey {
                        param: param.to_owned(),
                        source,
                    }
                })?,
            )
        }
        Platform::Relay => Verifier::Relay(
            lines
                .iter()
                .map(platforms::relay::RelaySecret::parse)
                .collect(),
        ),
        _ => Verifier::Hmac(lines),
    })
}

/// The ingest handler with everything it needs, built once per cold start.
pub struct Ingest {
    config: Config,
    verifiers: Vec<(Platform, Verifier)>,
    queue: Arc<dyn MessageQueue>,
    resolutions: Option<resolutions::Resolutions>,
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
    /// Loads every enabled platform's secrets (one per line, for rotation),
    /// all at once so a cold start waits for one round trip, not five.
    ///
    /// A platform whose secret cannot be loaded or read is unavailable (503,
    /// logged as an error naming its parameter) while the others keep
    /// working: one platform's misconfiguration does not silence the rest.
    pub async fn load(
        config: Config,
        secrets: &dyn SecretSource,
        queue: Arc<dyn MessageQueue>,
        clock: Clock,
    ) -> Result<Ingest, InitError> {
        if config.platforms.iter().any(|(p, _)| *p == Platform::Relay) {
            platforms::relay::warm_up().map_err(InitError::RelaySchema)?;
        }
        let loaded = futures_util::future::join_all(
            config
                .platforms
                .iter()
                .map(|(platform, param)| load_verifier(*platform, param, secrets)),
        )
        .await;
        let mut verifiers = Vec::with_capacity(loaded.len());
        for ((platform, param), outcome) in config.platforms.iter().zip(loaded) {
            let verifier = match outcome {
                Ok(verifier) => {
                    tracing::info!(
                        platform = platform.as_str(),
                        active_secrets = verifier.len(),
                        "webhook secrets loaded"
                    );
                    verifier
                }
                Err(error) => {
                    tracing::error!(
                        platform = platform.as_str(),
                        param = param.as_str(),
                        error = %error,
                        "platform unavailable: its webhook secret could not be loaded"
                    );
                    Verifier::Unavailable
                }
            };
            verifiers.push((*platform, verifier));
        }
        Ok(Ingest {
            config,
            verifiers,
            queue,
            resolutions: None,
            clock,
        })
    }

    /// Enables the trackers' resolution webhooks, sending to `queue`.
    pub async fn with_resolutions(
        mut self,
        secrets: &dyn SecretSource,
        queue: Arc<dyn MessageQueue>,
    ) -> Ingest {
        self.resolutions =
            Some(resolutions::Resolutions::load(&self.config.resolutions, secrets, queue).await);
        self
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
        let secrets = community_aws::secrets::AwsSecrets::new(
            clients.ssm.clone(),
            clients.secretsmanager.clone(),
        );
        let resolutions_queue = config.resolutions.queue_url.clone();
        let ingest = Ingest::load(config, &secrets, queue, clock).await?;
        Ok(match resolutions_queue {
            Some(url) => {
                let queue = Arc::new(community_aws::sqs::SqsQueue::new(clients.sqs.clone(), url));
                ingest.with_resolutions(&secrets, queue).await
            }
            None => ingest,
        })
    }

    pub async fn handle(&self, request: ApiGatewayV2httpRequest) -> ApiGatewayV2httpResponse {
        match self.process(&request).await {
            Ok(outcome) => outcome,
            Err(refusal) => {
                tracing::warn!(
                    status = refusal.status,
                    code = refusal.code,
                    fields = refusal.fields.len(),
                    "webhook refused"
                );
                lambda_kit::emf::count_by(STAGE, "Reason", refusal.code, "Rejected", 1);
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
        if !headers_within_limits(&request.headers) {
            return Err(Refusal::new(431, "headers_too_large"));
        }
        if let Some(tracker) = resolutions::tracker_of(request) {
            let resolutions = self
                .resolutions
                .as_ref()
                .ok_or(Refusal::new(404, "unknown_platform"))?;
            return resolutions
                .accept(tracker, request, self.config.max_body_bytes, (self.clock)())
                .await;
        }
        let (platform, endpoint) =
            route_of(request).ok_or(Refusal::new(404, "unknown_platform"))?;
        let verifier = self
            .verifiers
            .iter()
            .find(|(p, _)| *p == platform)
            .map(|(_, v)| v)
            .ok_or(Refusal::new(404, "unknown_platform"))?;
        let body = raw_body(request, self.config.max_body_bytes)?;
        let headers = &request.headers;
        let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let delivery = platforms::Delivery {
            header: lookup,
            body: &body,
            received_at: (self.clock)(),
        };
        let accepted = match (platform, verifier) {
            (Platform::Github, Verifier::Hmac(s)) => platforms::github::accept(s, &delivery),
            (Platform::Slack, Verifier::Hmac(s)) => platforms::slack::accept(s, &delivery),
            (Platform::Discourse, Verifier::Hmac(s)) => platforms::discourse::accept(s, &delivery),
            (Platform::Relay, Verifier::Relay(s)) => platforms::relay::accept(s, &delivery),
            (Platform::Discord, Verifier::Ed25519(k)) => {
                platforms::discord::accept(k, endpoint, &delivery)
            }
            (_, Verifier::Unavailable) => {
                tracing::error!(
                    platform = platform.as_str(),
                    "delivery refused: the platform's secret was not loaded at cold start"
                );
                return Err(Refusal::new(503, "platform_unavailable"));
            }
            // `load` pairs every platform with its kind of verifier.
            _ => return Err(Refusal::new(500, "internal_error")),
        }
        .map_err(Refusal::from)?;

        match accepted {
            Accepted::Answer(reply) => {
                tracing::info!(platform = platform.as_str(), "handshake answered");
                Ok(reply_response(&reply, None))
            }
            Accepted::Enqueue { message, reply } => {
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
                    // Validated by the Slack edge; other platforms have no such header.
                    retry_num = (platform == Platform::Slack)
                        .then(|| lookup(platforms::slack::HEADER_RETRY_NUM))
                        .flatten(),
                    "delivery accepted"
                );
                lambda_kit::emf::count_by(STAGE, "Platform", platform.as_str(), "Accepted", 1);
                Ok(reply_response(&reply, Some(&message.delivery_id)))
            }
        }
    }
}

/// The answer a platform's protocol expects.
fn reply_response(reply: &Reply, delivery_id: Option<&str>) -> ApiGatewayV2httpResponse {
    match reply {
        Reply::Accepted => json_response(
            202,
            serde_json::json!({ "status": "accepted", "deliveryId": delivery_id }).to_string(),
        ),
        Reply::Json { status, body } => json_response(i64::from(*status), body.clone()),
        Reply::Empty { status } => {
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = i64::from(*status);
            response.body = None;
            response.is_base64_encoded = false;
            response
        }
    }
}

/// `{platform}` (and Discord's endpoint) from the path: `/webhooks/discord`
/// is the Interactions endpoint, `/webhooks/discord/events` the Webhook
/// Events one. Read from the raw path, which the HTTP API, the local stack
/// and direct invokes all set; path parameters are the fallback.
fn route_of(request: &ApiGatewayV2httpRequest) -> Option<(Platform, Endpoint)> {
    let tail = request
        .raw_path
        .as_deref()
        .and_then(|p| p.trim_end_matches('/').split_once("/webhooks/"))
        .map(|(_, tail)| tail.to_owned())
        .or_else(|| request.path_parameters.get("platform").cloned())?;
    let (name, kind) = match tail.split_once('/') {
        Some((name, kind)) => (name, Some(kind)),
        None => (tail.as_str(), None),
    };
    let platform = Platform::parse(name)?;
    match (platform, kind) {
        (_, None) => Some((platform, Endpoint::Interactions)),
        (Platform::Discord, Some("interactions")) => Some((platform, Endpoint::Interactions)),
        (Platform::Discord, Some("events")) => Some((platform, Endpoint::WebhookEvents)),
        _ => None,
    }
}

/// At most [`MAX_HEADERS`] header values, [`MAX_HEADER_BYTES`] of names and
/// values together.
fn headers_within_limits(headers: &HeaderMap) -> bool {
    if headers.len() > MAX_HEADERS {
        return false;
    }
    let mut total = 0usize;
    for (name, value) in headers {
        total = total.saturating_add(name.as_str().len() + value.len());
        if total > MAX_HEADER_BYTES {
            return false;
        }
    }
    true
}

/// The body exactly as the platform sent it (base64-decoded when API Gateway
/// encoded it), refusing oversized bodies before decoding or verifying them.
pub(crate) fn raw_body(
    request: &ApiGatewayV2httpRequest,
    limit: usize,
) -> Result<Vec<u8>, Refusal> {
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

/// A refusal at the edge: a status, a short code and, for schema
/// violations, which fields; nothing internal and no payload values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub code: &'static str,
    pub fields: Vec<FieldProblem>,
}

impl Refusal {
    pub(crate) const fn new(status: u16, code: &'static str) -> Refusal {
        Refusal {
            status,
            code,
            fields: Vec::new(),
        }
    }

    fn into_response(self) -> ApiGatewayV2httpResponse {
        let body = if self.fields.is_empty() {
            serde_json::json!({ "error": self.code })
        } else {
            serde_json::json!({ "error": self.code, "fields": self.fields })
        };
        json_response(i64::from(self.status), body.to_string())
    }
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Refusal {
        Refusal {
            status: rejection.status(),
            code: rejection.code(),
            fields: rejection.fields().to_vec(),
        }
    }
}

pub(crate) fn json_response(status: i64, body: String) -> ApiGatewayV2httpResponse {
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
