//! Cold start, measured: exec of a function binary → its first `GET
//! /runtime/invocation/next` (ready: config read, SDK clients built, secrets
//! fetched) → its first invocation's response, against a local Lambda Runtime
//! API. Only wall-clock numbers for BENCHMARKS.md; no test depends on them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};

#[derive(Debug, Default)]
struct Marks {
    ready: Option<Instant>,
    responded: Option<Instant>,
    served: bool,
}

#[derive(Clone)]
struct Api {
    marks: Arc<Mutex<Marks>>,
    event: Arc<String>,
}

async fn next(State(api): State<Api>) -> (HeaderMap, String) {
    let first = {
        let mut marks = api.marks.lock().unwrap_or_else(|p| p.into_inner());
        if marks.ready.is_none() {
            marks.ready = Some(Instant::now());
        }
        let first = !marks.served;
        marks.served = true;
        first
    };
    if !first {
        // Park later polls: the process is killed once measured.
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    (
        invocation_headers("coldstart-1", "coldstart", Duration::from_secs(30)),
        api.event.as_str().to_owned(),
    )
}

/// The headers Lambda's Runtime API sends with an invocation from `GET
/// /runtime/invocation/next`: the request id, the deadline (`timeout` from
/// now) the runtime hands the handler, the function's ARN and a trace id.
pub fn invocation_headers(request_id: &str, function: &str, timeout: Duration) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let deadline = time::OffsetDateTime::now_utc().unix_timestamp() * 1000
        + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2);
    for (name, value) in [
        ("lambda-runtime-aws-request-id", request_id.to_owned()),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000".to_owned(),
        ),
    ] {
        if let Ok(v) = value.parse() {
            headers.insert(name, v);
        }
    }
    headers
}

/// `binary` started as Lambda's provided runtime starts a function: its
/// template-derived `environment` plus the runtime's own variables, with the
/// Runtime API at `runtime_api`. `label` names the log group and stream.
pub fn lambda_command(
    binary: &std::path::Path,
    environment: &BTreeMap<String, String>,
    runtime_api: std::net::SocketAddr,
    label: &str,
) -> tokio::process::Command {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut command = tokio::process::Command::new(binary);
    command
        .envs(environment)
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        // template.yaml's MemorySize for every function.
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", label)
        .env("AWS_LAMBDA_LOG_GROUP_NAME", label)
        .kill_on_drop(true);
    command
}

async fn respond(State(api): State<Api>, Path(_id): Path<String>) -> &'static str {
    let mut marks = api.marks.lock().unwrap_or_else(|p| p.into_inner());
    marks.responded.get_or_insert_with(Instant::now);
    "{}"
}

#[derive(Debug, Clone, Copy)]
pub struct ColdStart {
    pub ready: Duration,
    pub first_response: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} did not reach its first invocation within 30 s")]
    Timeout(String),
}

/// One cold start of `binary` with `environment`, answering its first
/// `next` with `event`.
pub async fn measure(
    binary: &std::path::Path,
    environment: &BTreeMap<String, String>,
    event: &str,
) -> Result<ColdStart, ColdStartError> {
    let api = Api {
        marks: Arc::new(Mutex::new(Marks::default())),
        event: Arc::new(event.to_owned()),
    };
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(respond),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(respond))
        .route("/2018-06-01/runtime/init/error", post(respond))
        .with_state(api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(axum::serve(listener, router).into_future());

    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let started = Instant::now();
    let mut child = lambda_command(binary, environment, address, "coldstart")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let outcome = loop {
        let (ready, responded) = {
            let marks = api.marks.lock().unwrap_or_else(|p| p.into_inner());
            (marks.ready, marks.responded)
        };
        if let (Some(ready), Some(responded)) = (ready, responded) {
            break Ok(ColdStart {
                ready: ready - started,
                first_response: responded - started,
            });
        }
        if started.elapsed() > Duration::from_secs(30) {
            break Err(ColdStartError::Timeout(name.clone()));
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    child.kill().await.ok();
    server.abort();
    outcome
}
