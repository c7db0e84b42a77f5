//! An SNS topic as a notifier (the alert email: subscribers confirm the
//! subscription once; SNS delivers each publish to every subscriber).

use async_trait::async_trait;

use crate::AwsError;
use crate::ports::Notifier;

/// SNS wants email subjects shorter than 100 characters, on one line
/// (longer ones are refused with InvalidParameter); keep a margin.
const SUBJECT_CHARS: usize = 90;

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

/// The email subject: the text's first line (what happened), bounded.
pub fn subject_of(text: &str) -> String {
    let subject: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(SUBJECT_CHARS)
        .collect();
    if subject.trim().is_empty() {
        "Community events alert".to_owned()
    } else {
        subject
    }
}

#[async_trait]
impl Notifier for SnsTopic {
    async fn notify(&self, text: &str) -> Result<(), AwsError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(subject_of(text))
            .message(text)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Publish", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_are_one_short_line() {
        let long = format!("{}\nsecond line", "x".repeat(300));
        let subject = super::subject_of(&long);
        assert!(subject.chars().count() < 100, "{}", subject.len());
        assert!(!subject.contains('\n'));
        assert_eq!(super::subject_of("\n"), "Community events alert");
        assert_eq!(super::subject_of("Dead letters: 2"), "Dead letters: 2");
    }
}
