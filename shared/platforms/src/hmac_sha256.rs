//! HMAC-SHA256 verification shared by the platforms that use it (GitHub,
//! Slack, Discourse, the relay). Comparison is constant time (`verify_slice`);
//! several secrets may be active at once so they can be rotated.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a `prefix=<hex>` signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature is not `<prefix><64 hex digits>`")]
    BadFormat,
    #[error("signature does not match any active secret")]
    Mismatch,
    #[error("no secret is configured")]
    NoSecret,
}

impl From<SignatureError> for crate::Rejection {
    fn from(error: SignatureError) -> crate::Rejection {
        match error {
            SignatureError::Missing => crate::Rejection::SignatureMissing,
            // A malformed header is as untrustworthy as a wrong one; both are 401.
            SignatureError::BadFormat | SignatureError::Mismatch | SignatureError::NoSecret => {
                crate::Rejection::SignatureInvalid
            }
        }
    }
}

/// Verifies `header` = `prefix` + lowercase-or-uppercase hex HMAC-SHA256 of
/// the message parts (concatenated) under any of `secrets`.
pub fn verify_prefixed_hex(
    secrets: &[SecretString],
    header: Option<&str>,
    prefix: &str,
    message_parts: &[&[u8]],
) -> Result<(), SignatureError> {
    matching_secrets(secrets, header, prefix, message_parts).map(|_| ())
}

/// Like [`verify_prefixed_hex`], but says which of `secrets` verified (a
/// relay secret may be bound to one source). Every secret is still tried.
pub fn matching_secrets<'s>(
    secrets: impl IntoIterator<Item = &'s SecretString>,
    header: Option<&str>,
    prefix: &str,
    message_parts: &[&[u8]],
) -> Result<Vec<bool>, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_digest = header
        .strip_prefix(prefix)
        .ok_or(SignatureError::BadFormat)?;
    if hex_digest.len() != 64 {
        return Err(SignatureError::BadFormat);
    }
    let mut expected = [0u8; 32];
    hex::decode_to_slice(hex_digest, &mut expected).map_err(|_| SignatureError::BadFormat)?;
    let mut matched = Vec::new();
    for secret in secrets {
        let mut mac = HmacSha256::new_from_slice(secret.expose_secret().as_bytes())
            .map_err(|_| SignatureError::NoSecret)?;
        for part in message_parts {
            mac.update(part);
        }
        matched.push(mac.verify_slice(&expected).is_ok());
    }
    if matched.is_empty() {
        Err(SignatureError::NoSecret)
    } else if matched.contains(&true) {
        Ok(matched)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// `prefix` + lowercase hex HMAC-SHA256: for signing fixtures and relays.
pub fn sign_prefixed_hex(
    secret: &str,
    prefix: &str,
    message_parts: &[&[u8]],
) -> Result<String, SignatureError> {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::NoSecret)?;
    for part in message_parts {
        mac.update(part);
    }
    Ok(format!(
        "{prefix}{}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

/// `sha256=<hex>` over the raw body alone: GitHub's `X-Hub-Signature-256`
/// and Discourse's `X-Discourse-Event-Signature` are the same scheme.
pub fn verify_body(
    secrets: &[SecretString],
    header: Option<&str>,
    raw_body: &[u8],
) -> Result<(), SignatureError> {
    verify_prefixed_hex(secrets, header, "sha256=", &[raw_body])
}

/// The `sha256=<hex>` value for `raw_body` under `secret`.
pub fn sign_body(secret: &str, raw_body: &[u8]) -> Result<String, SignatureError> {
    sign_prefixed_hex(secret, "sha256=", &[raw_body])
}
