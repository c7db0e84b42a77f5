//! GitHub webhooks: `X-Hub-Signature-256` verification, delivery keys, and the
//! `github@2` adapter.

mod adapter;
mod ingress;
mod payload;

pub use crate::Delivery;
pub use adapter::{ADAPTER_VERSION, adapt};
pub use ingress::{HEADER_DELIVERY, HEADER_EVENT, HEADER_HOOK_ID, HEADER_SIGNATURE_256, accept};

use crate::hmac_sha256::{self, SignatureError};
use secrecy::SecretString;

/// Verifies `X-Hub-Signature-256: sha256=<hex>` over the raw body (as sent,
/// form-encoded or not) against any active secret, in constant time.
pub fn verify_signature(
    secrets: &[SecretString],
    signature_header: Option<&str>,
    raw_body: &[u8],
) -> Result<(), SignatureError> {
    hmac_sha256::verify_body(secrets, signature_header, raw_body)
}

/// The `X-Hub-Signature-256` value for `raw_body` under `secret`.
pub fn sign(secret: &str, raw_body: &[u8]) -> Result<String, SignatureError> {
    hmac_sha256::sign_body(secret, raw_body)
}

#[cfg(test)]
mod tests;
