//! An SNS topic as a notifier (the alert email: subscribers confirm the
//! subscription once; SNS delivers each publish to every subscriber).

use async_trait::async_trait;

use crate::AwsError;
use crate::ports::Notifier;

/// SNS email subjects are at most 100 characters, one line.
const SUBJECT_CHARS: usize = 100;

#[derive(Debug, Clone)]
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsTopic {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: &str) -> SnsTopic {
        SnsTopic {
            client,
            topic_arn: topic_arn.to_owned(),
        }
    }
}

#[async_trait]
impl Notifier for SnsTopic {
    async fn notify(&self, text: &str) -> Result<(), AwsError> {
        // The first line says what happened; it becomes the email subject.
        let subject: String = text
            .lines()
            .next()
            .unwrap_or("Community events alert")
            .chars()
            .filter(|c| !c.is_control())
            .take(SUBJECT_CHARS)
            .collect();
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(if subject.trim().is_empty() {
                "Community events alert".to_owned()
            } else {
                subject
            })
            .message(text)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Publish", e))?;
        Ok(())
    }
}
