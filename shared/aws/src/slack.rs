//! Slack incoming webhooks (`POST {"text": …}` to a secret URL).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::AwsError;
use crate::ports::Notifier;

#[derive(Debug, Clone)]
pub struct SlackWebhook {
    http: reqwest::Client,
    url: SecretString,
}

impl SlackWebhook {
    pub fn new(http: reqwest::Client, url: SecretString) -> SlackWebhook {
        SlackWebhook { http, url }
    }
}

#[async_trait]
impl Notifier for SlackWebhook {
    async fn notify(&self, text: &str) -> Result<(), AwsError> {
        let response = self
            .http
            .post(self.url.expose_secret())
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            // Never include the error's URL: it is the secret.
            .map_err(|e| {
                AwsError::retryable("SlackWebhook", "Transport", e.without_url().to_string())
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let code = status.as_u16().to_string();
        if status.as_u16() == 429 || status.is_server_error() {
            Err(AwsError::retryable(
                "SlackWebhook",
                &code,
                "Slack did not accept the message yet",
            ))
        } else {
            Err(AwsError::permanent(
                "SlackWebhook",
                &code,
                "Slack rejected the message",
            ))
        }
    }
}

/// The webhook whose URL is the SecureString parameter `param`, or the
/// log-only notifier when there is none.
pub async fn notifier_from_ssm(
    ssm: &aws_sdk_ssm::Client,
    param: Option<&str>,
) -> Result<std::sync::Arc<dyn Notifier>, AwsError> {
    use crate::ports::SecretSource;
    let Some(param) = param else {
        return Ok(std::sync::Arc::new(LogNotifier));
    };
    let url = crate::ssm::SsmSecrets::new(ssm.clone())
        .secret(param)
        .await?;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| AwsError::permanent("HttpClient", "Build", e.to_string()))?;
    Ok(std::sync::Arc::new(SlackWebhook::new(http, url)))
}

/// Logs instead of posting, when no webhook is configured.
#[derive(Debug, Clone, Default)]
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, text: &str) -> Result<(), AwsError> {
        // The first line only: the rest may quote members' own words.
        let headline = text.lines().next().unwrap_or_default();
        tracing::info!(headline, "notification (no Slack webhook configured)");
        Ok(())
    }
}
