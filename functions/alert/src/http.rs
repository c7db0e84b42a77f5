//! `GET /metrics` on the HTTP API: the alert numbers as JSON, read-only.
//!
//! Two routes: `GET /metrics`, which the HTTP API authorizes with IAM
//! (SigV4) before invoking us, and `GET /metrics/token`, which carries a
//! bearer token held in SSM (METRICS_TOKEN_PARAM) and is 404 while none is
//! configured. The token is compared in constant time: both sides are MACed
//! under a per-process random key and the tags compared with `verify_slice`.

use aws_lambda_events::encodings::Body;
use aws_lambda_events::event::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::Alert;

type HmacSha256 = Hmac<Sha256>;

/// Whether `/metrics/token` is served.
pub enum MetricsAuth {
    /// No token configured: only the IAM-authorized `/metrics`.
    Iam,
    /// `/metrics/token` with `Authorization: Bearer <token>`; the MAC of the
    /// expected token.
    Token { key: [u8; 32], expected: Vec<u8> },
}

impl std::fmt::Debug for MetricsAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MetricsAuth::Iam => "MetricsAuth::Iam",
            MetricsAuth::Token { .. } => "MetricsAuth::Token(..)",
        })
    }
}

fn tag(key: &[u8; 32], token: &[u8]) -> Result<HmacSha256, u16> {
    let mut mac = HmacSha256::new_from_slice(key).map_err(|_| 500u16)?;
    mac.update(token);
    Ok(mac)
}

impl MetricsAuth {
    /// The token from SSM when a parameter is named, else IAM.
    pub async fn from_ssm(
        ssm: &aws_sdk_ssm::Client,
        param: Option<&str>,
    ) -> Result<MetricsAuth, crate::AlertError> {
        use community_aws::ports::SecretSource;
        let Some(param) = param else {
            return Ok(MetricsAuth::Iam);
        };
        let token = community_aws::ssm::SsmSecrets::new(ssm.clone())
            .secret(param)
            .await
            .map_err(|source| crate::AlertError::Secret {
                param: param.to_owned(),
                source,
            })?;
        MetricsAuth::token(&token).map_err(crate::AlertError::MetricsToken)
    }

    pub fn token(token: &SecretString) -> Result<MetricsAuth, String> {
        let value = token.expose_secret().trim();
        if value.len() < 16 {
            return Err("the metrics token must be at least 16 characters".to_owned());
        }
        // A per-process key: the MAC only serves the constant-time compare.
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let expected = tag(&key, value.as_bytes())
            .map_err(|_| "mac".to_owned())?
            .finalize()
            .into_bytes()
            .to_vec();
        Ok(MetricsAuth::Token { key, expected })
    }

    /// None when the bearer token is right, else the status to answer.
    pub fn check(&self, headers: &HeaderMap) -> Option<u16> {
        let MetricsAuth::Token { key, expected } = self else {
            return Some(404);
        };
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let Some(presented) = presented else {
            return Some(401);
        };
        match tag(key, presented.as_bytes()).map(|mac| mac.verify_slice(expected).is_ok()) {
            Ok(true) => None,
            Ok(false) => Some(403),
            Err(status) => Some(status),
        }
    }
}

/// Answers one HTTP API request.
pub async fn respond(
    alert: &Alert,
    auth: &MetricsAuth,
    request: &ApiGatewayV2httpRequest,
) -> ApiGatewayV2httpResponse {
    if request.request_context.http.method != aws_lambda_events::http::Method::GET {
        return json(405, serde_json::json!({ "error": "method_not_allowed" }));
    }
    let path = request.raw_path.as_deref().unwrap_or("");
    match path.trim_end_matches('/') {
        // The route's IAM authorizer admitted the caller (locally, the dev
        // stack has no SigV4 check: loopback only).
        "/metrics" => {}
        "/metrics/token" => {
            if let Some(status) = auth.check(&request.headers) {
                tracing::warn!(status, "metrics request refused");
                let code = match status {
                    401 => "unauthorized",
                    404 => "not_found",
                    _ => "forbidden",
                };
                return json(i64::from(status), serde_json::json!({ "error": code }));
            }
        }
        _ => return json(404, serde_json::json!({ "error": "not_found" })),
    }
    let now = (alert.clock)();
    match alert.measure(now).await {
        Ok(metrics) => json(
            200,
            serde_json::json!({
                "measuredAt": canonical_event::rfc3339_utc(now),
                "metrics": metrics,
            }),
        ),
        Err(error) => {
            tracing::error!(error = %error, "metrics could not be measured");
            json(
                503,
                serde_json::json!({ "error": "temporarily_unavailable" }),
            )
        }
    }
}

fn json(status: i64, body: serde_json::Value) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = status;
    response.headers = headers;
    response.body = Some(Body::Text(body.to_string()));
    response.is_base64_encoded = false;
    response
}
