//! Secrets from SSM Parameter Store (SecureString), decrypted on read.

use async_trait::async_trait;
use secrecy::SecretString;

use crate::AwsError;
use crate::ports::SecretSource;

#[derive(Debug, Clone)]
pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
}

impl SsmSecrets {
    pub fn new(client: aws_sdk_ssm::Client) -> SsmSecrets {
        SsmSecrets { client }
    }
}

#[async_trait]
impl SecretSource for SsmSecrets {
    async fn secret(&self, name: &str) -> Result<SecretString, AwsError> {
        let output = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetParameter", e))?;
        output
            .parameter
            .and_then(|p| p.value)
            .map(SecretString::from)
            .ok_or_else(|| {
                AwsError::permanent(
                    "GetParameter",
                    "EmptyParameter",
                    format!("parameter {name} has no value"),
                )
            })
    }
}

/// Splits a secret parameter holding several active secrets (one per line)
/// so a rotation can add the new secret before removing the old one.
pub fn split_rotated(secret: &SecretString) -> Vec<SecretString> {
    use secrecy::ExposeSecret;
    secret
        .expose_secret()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| SecretString::from(l.to_owned()))
        .collect()
}
