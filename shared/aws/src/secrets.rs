//! Secrets from either store: SSM Parameter Store SecureStrings (a name
//! starting with `/`) or AWS Secrets Manager (a secret ARN). Which one is
//! decided by the reference alone, so a deployer can move a secret between
//! stores by changing one stack parameter.

use async_trait::async_trait;
use secrecy::SecretString;

use crate::AwsError;
use crate::ports::SecretSource;
use crate::ssm::SsmSecrets;

/// Where a secret reference points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    ParameterStore,
    SecretsManager,
}

/// `arn:<partition>:secretsmanager:…` is Secrets Manager; anything else is a
/// Parameter Store name.
pub fn store_of(reference: &str) -> Store {
    let mut parts = reference.splitn(4, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("secretsmanager")) => Store::SecretsManager,
        _ => Store::ParameterStore,
    }
}

#[derive(Debug, Clone)]
pub struct AwsSecrets {
    ssm: SsmSecrets,
    secretsmanager: aws_sdk_secretsmanager::Client,
}

impl AwsSecrets {
    pub fn new(
        ssm: aws_sdk_ssm::Client,
        secretsmanager: aws_sdk_secretsmanager::Client,
    ) -> AwsSecrets {
        AwsSecrets {
            ssm: SsmSecrets::new(ssm),
            secretsmanager,
        }
    }
}

#[async_trait]
impl SecretSource for AwsSecrets {
    async fn secret(&self, reference: &str) -> Result<SecretString, AwsError> {
        match store_of(reference) {
            Store::ParameterStore => self.ssm.secret(reference).await,
            Store::SecretsManager => {
                let output = self
                    .secretsmanager
                    .get_secret_value()
                    .secret_id(reference)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("GetSecretValue", e))?;
                output.secret_string.map(SecretString::from).ok_or_else(|| {
                    AwsError::permanent(
                        "GetSecretValue",
                        "NoSecretString",
                        format!("secret {reference} has no string value"),
                    )
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_pick_their_store() {
        assert_eq!(store_of("/community-events/dev/x"), Store::ParameterStore);
        assert_eq!(
            store_of("arn:aws:secretsmanager:eu-west-1:123456789012:secret:slack-AbCdEf"),
            Store::SecretsManager
        );
        assert_eq!(
            store_of("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:s"),
            Store::SecretsManager
        );
        // An SSM parameter ARN is still Parameter Store.
        assert_eq!(
            store_of("arn:aws:ssm:eu-west-1:123456789012:parameter/x"),
            Store::ParameterStore
        );
    }
}
