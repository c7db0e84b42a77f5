//! The local HTTP API: `POST /webhooks/{platform}` and `GET /metrics` on
//! 127.0.0.1, each turned into the same API Gateway HTTP API (payload v2)
//! event its Lambda gets (ingest, alert).

use std::sync::Arc;

use alert::http::MetricsAuth;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use tokio::sync::OnceCell;

use crate::Stack;
use crate::stack::ALERT;

/// HTTP API's own payload limit; the ingest function enforces its lower one.
const HTTP_API_PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;

/// What the routes share: the stack, and how `GET /metrics` is authorized
/// (loaded once, like the alert function's cold start).
struct Api {
    stack: Arc<Stack>,
    metrics_auth: OnceCell<MetricsAuth>,
}

/// The API; `GET /metrics`'s authorization is loaded on its first request and
/// kept (use [`router_with_auth`] to load it before serving).
pub fn router(stack: Arc<Stack>) -> Router {
    routes(Api {
        stack,
        metrics_auth: OnceCell::new(),
    })
}

/// The API with `GET /metrics`'s authorization already loaded (see
/// [`metrics_auth`]), so a misconfigured token fails at start, as the alert
/// function's cold start does.
pub fn router_with_auth(stack: Arc<Stack>, auth: MetricsAuth) -> Router {
    routes(Api {
        stack,
        metrics_auth: OnceCell::new_with(Some(auth)),
    })
}

fn routes(api: Api) -> Router {
    Router::new()
        .route("/webhooks/{platform}", any(webhook))
        .route("/webhooks/{platform}/{kind}", any(webhook))
        .route("/metrics", any(metrics))
        .route("/metrics/token", any(metrics))
        .layer(DefaultBodyLimit::max(HTTP_API_PAYLOAD_LIMIT))
        .with_state(Arc::new(api))
}

/// How `GET /metrics` is authorized on this stack, read as the alert function
/// reads it: the bearer token from the SSM parameter its provisioned
/// environment names (METRICS_TOKEN_PARAM, the template's MetricsTokenParam),
/// else IAM. Locally IAM means no check at all: on AWS the HTTP API verifies
/// the SigV4 signature before invoking the function, and nothing here plays
/// that part, so without a token anyone who can reach 127.0.0.1 may read.
pub async fn metrics_auth(stack: &Stack) -> Result<MetricsAuth, alert::AlertError> {
    let environment = stack
        .provisioned
        .environment(ALERT)
        .map_err(|e| alert::AlertError::MetricsToken(e.to_string()))?;
    let param = lambda_kit::config::optional(environment, "METRICS_TOKEN_PARAM");
    MetricsAuth::from_ssm(&stack.clients.ssm, param.as_deref()).await
}

/// The API Gateway v2 event for a webhook request, as HTTP API builds it.
pub fn api_gateway_event(
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    platform: &str,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    let mut request = http_api_event("POST /webhooks/{platform}", method, uri, headers, body);
    request
        .path_parameters
        .insert("platform".to_owned(), platform.to_owned());
    request
}

/// The API Gateway v2 event for any request on a route, as HTTP API builds
/// it: lower-case headers, text bodies as-is, anything else base64-encoded.
fn http_api_event(
    route_key: &str,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    let mut request = ApiGatewayV2httpRequest::default();
    request.version = Some("2.0".to_owned());
    request.route_key = Some(route_key.to_owned());
    request.raw_path = Some(uri.path().to_owned());
    request.raw_query_string = uri.query().map(str::to_owned);
    request.request_context.http.method = method;
    request.request_context.http.path = Some(uri.path().to_owned());
    request.request_context.http.protocol = Some("HTTP/1.1".to_owned());
    request.request_context.http.source_ip = Some("127.0.0.1".to_owned());
    request.request_context.route_key = request.route_key.clone();
    request.request_context.stage = Some("$default".to_owned());
    request.request_context.time_epoch = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    request.headers = headers;
    match std::str::from_utf8(body) {
        Ok(text) => {
            request.body = (!text.is_empty()).then(|| text.to_owned());
            request.is_base64_encoded = false;
        }
        Err(_) => {
            request.body = Some(base64::engine::general_purpose::STANDARD.encode(body));
            request.is_base64_encoded = true;
        }
    }
    request
}

/// Both routes: the path parameters only name the platform (the raw path
/// keeps Discord's `/events`, and ingest reads it from there, as on AWS).
async fn webhook(
    State(api): State<Arc<Api>>,
    Path(params): Path<std::collections::HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let platform = params.get("platform").map(String::as_str).unwrap_or("");
    let event = api_gateway_event(method, &uri, headers, platform, &body);
    into_response(api.stack.ingest.handle(event).await)
}

/// `GET /metrics` (any method reaches the alert handler, which answers 405
/// to all but GET, as the function does behind HTTP API).
async fn metrics(
    State(api): State<Arc<Api>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = match api
        .metrics_auth
        .get_or_try_init(|| metrics_auth(&api.stack))
        .await
    {
        Ok(auth) => auth,
        Err(error) => {
            // Where Lambda would fail the cold start; the next request retries.
            tracing::error!(function = ALERT, error = %error, "metrics authorization could not be loaded");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({ "error": "metrics_auth_unavailable" })),
            )
                .into_response();
        }
    };
    let route_key = format!("GET {}", uri.path());
    let event = http_api_event(&route_key, method, &uri, headers, &body);
    into_response(alert::http::respond(&api.stack.alert, auth, &event).await)
}

fn into_response(response: ApiGatewayV2httpResponse) -> Response {
    let status = u16::try_from(response.status_code)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match response.body {
        Some(Body::Text(text)) => text.into_bytes(),
        Some(Body::Binary(bytes)) => bytes,
        _ => Vec::new(),
    };
    (status, response.headers, body).into_response()
}
