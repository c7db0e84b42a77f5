//! SQS FIFO queues.

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};

use crate::AwsError;
use crate::ports::{MessageQueue, OutgoingMessage, QueueDepth, QueueStats};

/// SendMessageBatch takes at most ten entries.
const BATCH_LIMIT: usize = 10;

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

fn attributes(
    message: &OutgoingMessage,
) -> Result<Option<std::collections::HashMap<String, MessageAttributeValue>>, AwsError> {
    if message.attributes.is_empty() {
        return Ok(None);
    }
    let mut map = std::collections::HashMap::new();
    for (name, value) in &message.attributes {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .map_err(|e| AwsError::permanent("SendMessage", "Build", e.to_string()))?;
        map.insert(name.clone(), attribute);
    }
    Ok(Some(map))
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send(&self, message: &OutgoingMessage) -> Result<(), AwsError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_group_id(&message.group_id)
            .message_deduplication_id(&message.deduplication_id)
            .message_body(&message.body)
            .set_message_attributes(attributes(message)?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("SendMessage", e))?;
        Ok(())
    }

    async fn send_all(&self, messages: &[OutgoingMessage]) -> Vec<Result<(), AwsError>> {
        let mut plan = GroupOrderedSends::new(messages);
        while let Some(round) = plan.next_round() {
            for chunk in round.chunks(BATCH_LIMIT) {
                let batch: Vec<OutgoingMessage> =
                    chunk.iter().map(|&i| messages[i].clone()).collect();
                for (&i, result) in chunk.iter().zip(self.send_chunk(&batch).await) {
                    plan.record(i, result);
                }
            }
        }
        plan.finish()
    }
}

/// Plans `send_all` so order within a message group survives partial
/// failure: each round holds at most the next unsent message of every group
/// in good standing, and once a group has a failure its later messages are
/// failed without being sent. Rounds batch across groups, so the common case
/// (one message per group) is a single SendMessageBatch per ten messages.
#[derive(Debug)]
pub struct GroupOrderedSends<'m> {
    messages: &'m [OutgoingMessage],
    results: Vec<Option<Result<(), AwsError>>>,
    failed_groups: std::collections::HashSet<&'m str>,
}

impl<'m> GroupOrderedSends<'m> {
    pub fn new(messages: &'m [OutgoingMessage]) -> GroupOrderedSends<'m> {
        GroupOrderedSends {
            messages,
            results: messages.iter().map(|_| None).collect(),
            failed_groups: Default::default(),
        }
    }

    /// The positions to send next, or `None` when every message has a result.
    pub fn next_round(&mut self) -> Option<Vec<usize>> {
        loop {
            let mut round = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for (i, message) in self.messages.iter().enumerate() {
                let group = message.group_id.as_str();
                if self.results[i].is_some() || !seen.insert(group) {
                    continue;
                }
                if self.failed_groups.contains(group) {
                    self.results[i] = Some(Err(AwsError::retryable(
                        "SendMessageBatch",
                        "EarlierMessageFailed",
                        "not sent: an earlier message of its group failed",
                    )));
                } else {
                    round.push(i);
                }
            }
            if !round.is_empty() {
                return Some(round);
            }
            if self.results.iter().all(Option::is_some) {
                return None;
            }
        }
    }

    pub fn record(&mut self, position: usize, result: Result<(), AwsError>) {
        if result.is_err() {
            self.failed_groups
                .insert(self.messages[position].group_id.as_str());
        }
        self.results[position] = Some(result);
    }

    pub fn finish(self) -> Vec<Result<(), AwsError>> {
        self.results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(AwsError::retryable(
                        "SendMessageBatch",
                        "NotSent",
                        "not sent",
                    ))
                })
            })
            .collect()
    }
}

impl SqsQueue {
    async fn send_chunk(&self, chunk: &[OutgoingMessage]) -> Vec<Result<(), AwsError>> {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, message) in chunk.iter().enumerate() {
            let entry = attributes(message).and_then(|attrs| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_group_id(&message.group_id)
                    .message_deduplication_id(&message.deduplication_id)
                    .message_body(&message.body)
                    .set_message_attributes(attrs)
                    .build()
                    .map_err(|e| AwsError::permanent("SendMessageBatch", "Build", e.to_string()))
            });
            match entry {
                Ok(entry) => entries.push(entry),
                Err(e) => return chunk.iter().map(|_| Err(e.clone())).collect(),
            }
        }
        let output = match self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(output) => output,
            Err(e) => {
                let error = AwsError::from_sdk("SendMessageBatch", e);
                return chunk.iter().map(|_| Err(error.clone())).collect();
            }
        };
        let mut results: Vec<Result<(), AwsError>> = chunk.iter().map(|_| Ok(())).collect();
        for failed in output.failed() {
            if let Some(slot) = failed
                .id()
                .parse::<usize>()
                .ok()
                .and_then(|i| results.get_mut(i))
            {
                let error = if failed.sender_fault() {
                    AwsError::permanent(
                        "SendMessageBatch",
                        failed.code(),
                        failed.message().unwrap_or(""),
                    )
                } else {
                    AwsError::retryable(
                        "SendMessageBatch",
                        failed.code(),
                        failed.message().unwrap_or(""),
                    )
                };
                *slot = Err(error);
            }
        }
        results
    }
}

#[async_trait]
impl QueueStats for aws_sdk_sqs::Client {
    async fn depth(&self, queue_url: &str) -> Result<QueueDepth, AwsError> {
        let output = self
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetQueueAttributes", e))?;
        let read = |name: QueueAttributeName| -> i64 {
            output
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueDepth {
            visible: read(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: read(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        })
    }
}

/// Dead-letters a queue record that can never be processed (see
/// [`dead_letter`]), in its original message group, and logs why.
pub async fn send_dead_letter(
    queue: &dyn MessageQueue,
    stage: &str,
    record: &aws_lambda_events::event::sqs::SqsMessage,
    reason: &str,
) -> Result<(), AwsError> {
    let message_id = record.message_id.as_deref().unwrap_or_default();
    let body = record.body.as_deref().unwrap_or("");
    let mut letter = dead_letter(
        stage,
        message_id,
        lambda_kit::fifo::group_of(record),
        body,
        reason,
    );
    // The record's own string attributes (route's `kind`) travel with it, so
    // a redrive brings back the message exactly as it was.
    for (name, attribute) in &record.message_attributes {
        if let Some(value) = &attribute.string_value {
            letter
                .attributes
                .entry(name.clone())
                .or_insert_with(|| value.clone());
        }
    }
    queue.send(&letter).await?;
    tracing::error!(
        stage,
        message_id,
        reason,
        "record dead-lettered: it can never be processed"
    );
    Ok(())
}

/// A dead letter for a record that can never be processed: the original body
/// with the reason as message attributes, so an operator can read why and
/// redrive it after a fix. The deduplication id is derived from the source
/// message id, so a retried dead-lettering does not duplicate it.
pub fn dead_letter(
    stage: &str,
    source_message_id: &str,
    group_id: &str,
    body: &str,
    reason: &str,
) -> OutgoingMessage {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(
        format!("{stage}\u{1f}{source_message_id}").as_bytes(),
    ));
    OutgoingMessage {
        group_id: group_id.to_owned(),
        deduplication_id: digest,
        body: body.to_owned(),
        attributes: std::collections::BTreeMap::from([
            ("failedStage".to_owned(), stage.to_owned()),
            // SQS attribute values are limited; a reason is a sentence, not a dump.
            (
                "failureReason".to_owned(),
                reason.chars().take(1000).collect(),
            ),
            ("sourceMessageId".to_owned(), source_message_id.to_owned()),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(group: &str, n: usize) -> OutgoingMessage {
        OutgoingMessage {
            group_id: group.to_owned(),
            deduplication_id: format!("{group}-{n}"),
            body: format!("{group}-{n}"),
            attributes: Default::default(),
        }
    }

    /// Drives the planner with a sender that fails the named bodies; returns
    /// the bodies in the order they were sent and the per-message results.
    fn drive(messages: &[OutgoingMessage], failing: &[&str]) -> (Vec<String>, Vec<bool>) {
        let mut plan = GroupOrderedSends::new(messages);
        let mut sent = Vec::new();
        let mut rounds = 0;
        while let Some(round) = plan.next_round() {
            rounds += 1;
            assert!(rounds <= messages.len(), "the planner terminates");
            let groups: std::collections::HashSet<_> =
                round.iter().map(|&i| &messages[i].group_id).collect();
            assert_eq!(
                groups.len(),
                round.len(),
                "at most one message per group per round"
            );
            for i in round {
                let body = messages[i].body.clone();
                let ok = !failing.contains(&body.as_str());
                if ok {
                    sent.push(body);
                }
                plan.record(
                    i,
                    if ok {
                        Ok(())
                    } else {
                        Err(AwsError::retryable("SendMessageBatch", "X", "boom"))
                    },
                );
            }
        }
        (sent, plan.finish().iter().map(Result::is_ok).collect())
    }

    #[test]
    fn a_failure_stops_the_rest_of_its_group_and_only_its_group() {
        let messages = vec![
            message("a", 1),
            message("b", 1),
            message("a", 2),
            message("b", 2),
            message("a", 3),
        ];
        let (sent, ok) = drive(&messages, &["a-2"]);
        assert_eq!(sent, ["a-1", "b-1", "b-2"]);
        assert_eq!(
            ok,
            [true, true, false, true, false],
            "a-3 is never sent after a-2 failed"
        );
    }

    #[test]
    fn distinct_groups_go_in_one_round() {
        let messages: Vec<_> = (0..10).map(|n| message(&format!("g{n}"), 0)).collect();
        let mut plan = GroupOrderedSends::new(&messages);
        assert_eq!(plan.next_round().unwrap().len(), 10);
    }

    #[test]
    fn order_within_a_group_is_kept() {
        let messages = vec![message("a", 1), message("a", 2), message("a", 3)];
        let (sent, ok) = drive(&messages, &[]);
        assert_eq!(sent, ["a-1", "a-2", "a-3"]);
        assert!(ok.iter().all(|x| *x));
    }
}
