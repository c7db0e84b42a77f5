//! A fault-injecting HTTP proxy, put between the functions and what they
//! call (the emulator, the third-party stand-ins), so the storm can show that
//! nothing is lost or duplicated when the network and the services misbehave
//! the way real ones do: added latency, connections reset before the request
//! is served or after it was (the answer lost), 500/503 answers before or
//! after the work, and throttling. At rate 0 it only forwards and counts the
//! requests by operation, which is what the cost figures are computed from.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// What sits behind the proxy decides what a throttle looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// AWS JSON protocols (DynamoDB, SQS, SSM, Secrets Manager): a 400 with
    /// `ThrottlingException`, as the SDKs' retry classifiers expect.
    Aws,
    /// A plain HTTP API (Linear, Slack): a 429 with `Retry-After: 1`.
    Http,
}

/// One kind of injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Fault {
    /// 20–200 ms before forwarding (the request then succeeds).
    Latency,
    /// The connection closed before the request reached the service.
    ResetBefore,
    /// The service did the work, then the connection closed: the answer lost.
    ResetAfter,
    /// HTTP 500 without forwarding.
    ServerErrorBefore,
    /// HTTP 500 after the service did the work.
    ServerErrorAfter,
    /// HTTP 503 without forwarding.
    Unavailable,
    /// The platform's throttling answer, without forwarding.
    Throttled,
}

const FAULTS: [Fault; 7] = [
    Fault::Latency,
    Fault::ResetBefore,
    Fault::ResetAfter,
    Fault::ServerErrorBefore,
    Fault::ServerErrorAfter,
    Fault::Unavailable,
    Fault::Throttled,
];

/// Requests of one operation that reached the proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperationStats {
    /// Every request, faulted or not.
    pub requests: u64,
    /// Requests the service answered (what AWS bills).
    pub served: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Items named by served DynamoDB transactions and batches; messages
    /// sent by served SQS batches.
    pub items: u64,
    /// Served DynamoDB reads with `ConsistentRead` (twice the read units).
    pub consistent_reads: u64,
    /// Served `ReceiveMessage` calls that returned no message (a poller's
    /// idle cost, not an event's).
    pub empty_receives: u64,
    /// Messages returned by served `ReceiveMessage` calls.
    pub messages_received: u64,
    /// Time the service took to answer, summed (where the time goes).
    pub upstream_millis: u64,
}

/// What the proxy saw, by operation (`X-Amz-Target`'s operation for AWS,
/// the path for plain HTTP), and the faults it injected.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStats {
    pub operations: BTreeMap<String, OperationStats>,
    pub faults: BTreeMap<Fault, u64>,
}

#[derive(Debug)]
struct State {
    upstream: String,
    flavour: Flavour,
    /// Faults per million requests.
    rate_ppm: AtomicU32,
    client: reqwest::Client,
    stats: Mutex<ProxyStats>,
    random: Mutex<fastrand::Rng>,
}

impl State {
    fn stats(&self) -> MutexGuard<'_, ProxyStats> {
        // A panic while counting leaves numbers, not broken invariants.
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn roll(&self) -> Option<Fault> {
        let rate = self.rate_ppm.load(Ordering::Relaxed);
        if rate == 0 {
            return None;
        }
        let mut random = self.random.lock().unwrap_or_else(|p| p.into_inner());
        if random.u32(0..1_000_000) >= rate {
            return None;
        }
        Some(FAULTS[random.usize(0..FAULTS.len())])
    }

    fn latency(&self) -> Duration {
        let mut random = self.random.lock().unwrap_or_else(|p| p.into_inner());
        Duration::from_millis(random.u64(20..=200))
    }
}

/// A running proxy. Dropping it stops it.
#[derive(Debug)]
pub struct FaultProxy {
    /// `http://127.0.0.1:<port>`: the endpoint to give the clients.
    pub base_url: String,
    state: Arc<State>,
    server: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("proxy could not listen: {0}")]
    Listen(#[from] std::io::Error),
    #[error("proxy HTTP client: {0}")]
    Client(String),
}

impl FaultProxy {
    /// Listens on an ephemeral loopback port and forwards to `upstream`
    /// (`http://host:port`), injecting faults at `rate` (0..=1).
    pub async fn start(
        upstream: &str,
        flavour: Flavour,
        rate: f64,
        seed: u64,
    ) -> Result<FaultProxy, ProxyError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| ProxyError::Client(e.to_string()))?;
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            flavour,
            rate_ppm: AtomicU32::new(ppm(rate)),
            client,
            stats: Mutex::new(ProxyStats::default()),
            random: Mutex::new(fastrand::Rng::with_seed(seed)),
        });
        let serving = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { serve(&state, request).await }
                    });
                    // A reset fault ends the connection with an error: that is the point.
                    if let Err(error) = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(%error, "proxied connection ended");
                    }
                });
            }
        });
        Ok(FaultProxy {
            base_url: format!("http://{address}"),
            state,
            server,
        })
    }

    /// Changes the fault rate (0..=1) for the requests that follow.
    pub fn set_rate(&self, rate: f64) {
        self.state.rate_ppm.store(ppm(rate), Ordering::Relaxed);
    }

    pub fn stats(&self) -> ProxyStats {
        self.state.stats().clone()
    }

    pub fn reset_stats(&self) {
        *self.state.stats() = ProxyStats::default();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn ppm(rate: f64) -> u32 {
    // Saturating float-to-int casts: NaN → 0, above 1 → always.
    (rate.clamp(0.0, 1.0) * 1_000_000.0) as u32
}

/// An injected reset: hyper closes the connection without an answer when
/// the service fails, which the client sees as a connection closed mid-request.
#[derive(Debug, thiserror::Error)]
#[error("injected connection reset")]
struct InjectedReset;

type Answer = Result<Response<Full<Bytes>>, InjectedReset>;

async fn serve(state: &State, request: Request<Incoming>) -> Answer {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(InjectedReset),
    };
    let operation = operation_of(state.flavour, &parts);
    let fault = state.roll();
    {
        let mut stats = state.stats();
        let entry = stats.operations.entry(operation.clone()).or_default();
        entry.requests += 1;
        entry.request_bytes += body.len() as u64;
        if let Some(fault) = fault {
            *stats.faults.entry(fault).or_default() += 1;
        }
    }
    match fault {
        Some(Fault::ResetBefore) => return Err(InjectedReset),
        Some(Fault::ServerErrorBefore) => return Ok(error_answer(state.flavour, 500)),
        Some(Fault::Unavailable) => return Ok(error_answer(state.flavour, 503)),
        Some(Fault::Throttled) => return Ok(throttle_answer(state.flavour, &operation)),
        Some(Fault::Latency) => tokio::time::sleep(state.latency()).await,
        _ => {}
    }
    let started = std::time::Instant::now();
    let answer = forward(state, &parts, body.clone()).await;
    let Ok((status, headers, answer_body)) = answer else {
        return Ok(error_answer(state.flavour, 502));
    };
    let elapsed = started.elapsed();
    record_served(state, &operation, &body, &answer_body, status, elapsed);
    match fault {
        Some(Fault::ResetAfter) => Err(InjectedReset),
        Some(Fault::ServerErrorAfter) => Ok(error_answer(state.flavour, 500)),
        _ => {
            let mut response = Response::new(Full::new(answer_body));
            *response.status_mut() = status;
            for (name, value) in headers.iter() {
                // hyper sets the framing of the answer it sends.
                if !matches!(
                    name.as_str(),
                    "content-length" | "transfer-encoding" | "connection"
                ) {
                    response.headers_mut().append(name.clone(), value.clone());
                }
            }
            Ok(response)
        }
    }
}

async fn forward(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<(StatusCode, reqwest::header::HeaderMap, Bytes), reqwest::Error> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", hyper::http::uri::PathAndQuery::as_str);
    let mut request = state
        .client
        .request(parts.method.clone(), format!("{}{path}", state.upstream));
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            request = request.header(name, value);
        }
    }
    let response = request.body(body).send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok((status, headers, body))
}

/// The operation a request performs: the AWS JSON protocols name it in
/// `X-Amz-Target` (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`).
fn operation_of(flavour: Flavour, parts: &hyper::http::request::Parts) -> String {
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    match (flavour, target) {
        (Flavour::Aws, Some(target)) => {
            let (service, operation) = target.rsplit_once('.').unwrap_or(("", target));
            let service = if service.starts_with("DynamoDB") {
                "dynamodb"
            } else if service.starts_with("AmazonSQS") {
                "sqs"
            } else if service.starts_with("AmazonSSM") {
                "ssm"
            } else if service.starts_with("secretsmanager") {
                "secretsmanager"
            } else {
                service
            };
            format!("{service}:{operation}")
        }
        _ => format!("{} {}", parts.method, parts.uri.path()),
    }
}

fn record_served(
    state: &State,
    operation: &str,
    request: &[u8],
    answer: &[u8],
    status: StatusCode,
    elapsed: Duration,
) {
    let parsed = |bytes: &[u8]| serde_json::from_slice::<serde_json::Value>(bytes).ok();
    let mut stats = state.stats();
    let entry = stats.operations.entry(operation.to_owned()).or_default();
    entry.served += 1;
    entry.upstream_millis += u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    entry.response_bytes += answer.len() as u64;
    if !status.is_success() || state.flavour != Flavour::Aws {
        return;
    }
    let length = |value: Option<&serde_json::Value>| {
        value
            .and_then(serde_json::Value::as_array)
            .map_or(0, Vec::len) as u64
    };
    match operation {
        "dynamodb:TransactWriteItems" | "dynamodb:TransactGetItems" => {
            entry.items += parsed(request).map_or(0, |v| length(v.get("TransactItems")));
        }
        "dynamodb:BatchWriteItem" => {
            entry.items += parsed(request)
                .and_then(|v| v.get("RequestItems").cloned())
                .and_then(|v| v.as_object().cloned())
                .map_or(0, |tables| tables.values().map(|v| length(Some(v))).sum());
        }
        "sqs:SendMessageBatch" | "sqs:DeleteMessageBatch" => {
            entry.items += parsed(request).map_or(0, |v| length(v.get("Entries")));
        }
        "sqs:ReceiveMessage" => {
            let received = parsed(answer).map_or(0, |v| length(v.get("Messages")));
            entry.messages_received += received;
            if received == 0 {
                entry.empty_receives += 1;
            }
        }
        _ => {}
    }
    if operation.starts_with("dynamodb:")
        && parsed(request)
            .and_then(|v| v.get("ConsistentRead").and_then(serde_json::Value::as_bool))
            .unwrap_or(false)
    {
        entry.consistent_reads += 1;
    }
}

fn error_answer(flavour: Flavour, status: u16) -> Response<Full<Bytes>> {
    let body = match (flavour, status) {
        (Flavour::Aws, 503) => {
            r#"{"__type":"ServiceUnavailable","message":"injected: service unavailable"}"#
        }
        (Flavour::Aws, _) => {
            r#"{"__type":"InternalServerError","message":"injected: internal server error"}"#
        }
        (Flavour::Http, _) => r#"{"error":"injected server error"}"#,
    };
    answer(flavour, status, body, None)
}

fn throttle_answer(flavour: Flavour, operation: &str) -> Response<Full<Bytes>> {
    match flavour {
        Flavour::Aws => {
            let namespace = if operation.starts_with("dynamodb:") {
                "com.amazonaws.dynamodb.v20120810"
            } else {
                "com.amazonaws.sqs"
            };
            let body = format!(
                r#"{{"__type":"{namespace}#ThrottlingException","message":"injected: rate exceeded"}}"#
            );
            answer(flavour, 400, &body, None)
        }
        Flavour::Http => answer(
            flavour,
            429,
            r#"{"ok":false,"error":"rate_limited"}"#,
            Some("1"),
        ),
    }
}

fn answer(
    flavour: Flavour,
    status: u16,
    body: &str,
    retry_after: Option<&str>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = match flavour {
        Flavour::Aws => "application/x-amz-json-1.0",
        Flavour::Http => "application/json",
    };
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    if status == 400 && flavour == Flavour::Aws {
        // SQS's JSON protocol also names the code in this header.
        response.headers_mut().insert(
            "x-amzn-query-error",
            hyper::header::HeaderValue::from_static("ThrottlingException;Sender"),
        );
    }
    if let Some(seconds) = retry_after
        && let Ok(value) = hyper::header::HeaderValue::from_str(seconds)
    {
        response
            .headers_mut()
            .insert(hyper::header::RETRY_AFTER, value);
    }
    response
}
