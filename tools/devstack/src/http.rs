//! The local HTTP API: `POST /webhooks/{platform}` on 127.0.0.1, turned into
//! the same API Gateway HTTP API (payload v2) event the ingest Lambda gets.

use std::sync::Arc;

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;

use crate::Stack;

/// HTTP API's own payload limit; the ingest function enforces its lower one.
const HTTP_API_PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;

pub fn router(stack: Arc<Stack>) -> Router {
    Router::new()
        .route("/webhooks/{platform}", any(webhook))
        .route("/webhooks/{platform}/{kind}", any(webhook))
        .layer(DefaultBodyLimit::max(HTTP_API_PAYLOAD_LIMIT))
        .with_state(stack)
}

/// The API Gateway v2 event for a request, as HTTP API builds it: lower-case
/// headers, text bodies as-is, anything else base64-encoded.
pub fn api_gateway_event(
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    platform: &str,
    body: &[u8],
) -> ApiGatewayV2httpRequest {
    let mut request = ApiGatewayV2httpRequest::default();
    request.version = Some("2.0".to_owned());
    request.route_key = Some("POST /webhooks/{platform}".to_owned());
    request.raw_path = Some(uri.path().to_owned());
    request.raw_query_string = uri.query().map(str::to_owned);
    request.request_context.http.method = method;
    request.request_context.http.path = Some(uri.path().to_owned());
    request.request_context.http.protocol = Some("HTTP/1.1".to_owned());
    request.request_context.http.source_ip = Some("127.0.0.1".to_owned());
    request.request_context.route_key = request.route_key.clone();
    request.request_context.stage = Some("$default".to_owned());
    request.request_context.time_epoch = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    request
        .path_parameters
        .insert("platform".to_owned(), platform.to_owned());
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
    State(stack): State<Arc<Stack>>,
    Path(params): Path<std::collections::HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let platform = params.get("platform").map(String::as_str).unwrap_or("");
    forward(
        &stack,
        api_gateway_event(method, &uri, headers, platform, &body),
    )
    .await
}

async fn forward(stack: &Stack, event: ApiGatewayV2httpRequest) -> Response {
    let response = stack.ingest.handle(event).await;
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
