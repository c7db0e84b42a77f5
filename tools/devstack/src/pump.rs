//! Lambda's SQS event-source mapping, emulated: long-poll up to BatchSize
//! messages, invoke the handler with an SQS event, delete what succeeded and
//! make the reported failures visible again. Redrive to the dead-letter queue
//! is left to the queue's own RedrivePolicy (maxReceiveCount), as in AWS.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_lambda_events::event::sqs::{
    BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute,
};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};

use crate::ProvisionError;

#[derive(Debug, Clone)]
pub struct Mapping {
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
    pub region: String,
    /// How long a failed record stays invisible before its retry. Lambda
    /// waits for the queue's visibility timeout; locally that is shortened so
    /// retries (and redrive) are visible within seconds.
    pub retry_after_seconds: i32,
    pub wait_seconds: i32,
    /// What the function behind this mapping was invoked with.
    pub invocations: Arc<Invocations>,
}

/// Invocations through one mapping: Lambda's request count and duration,
/// measured (the duration is the handler's wall time against the emulator).
#[derive(Debug, Default)]
pub struct Invocations {
    pub count: AtomicU64,
    pub records: AtomicU64,
    /// Sum of the invocations' durations, each rounded up to Lambda's 1 ms.
    pub billed_millis: AtomicU64,
}

impl Invocations {
    /// Records one invocation of `records` records that took `elapsed`.
    pub fn record(&self, records: usize, elapsed: std::time::Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records as u64, Ordering::Relaxed);
        let millis = elapsed.as_micros().div_ceil(1000).max(1);
        self.billed_millis
            .fetch_add(u64::try_from(millis).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// (invocations, records, billed milliseconds).
    pub fn snapshot(&self) -> (u64, u64, u64) {
        (
            self.count.load(Ordering::Relaxed),
            self.records.load(Ordering::Relaxed),
            self.billed_millis.load(Ordering::Relaxed),
        )
    }
}

fn sqs_error<E: std::fmt::Debug>(operation: &'static str) -> impl Fn(E) -> ProvisionError {
    move |e| ProvisionError::Aws {
        operation,
        message: format!("{e:?}"),
    }
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polled {
    pub received: usize,
    pub failed: usize,
}

impl Mapping {
    /// One poll + invoke. The handler is the function's own `handle`.
    pub async fn poll_once<F, Fut, E>(
        &self,
        sqs: &aws_sdk_sqs::Client,
        handler: F,
    ) -> Result<Polled, ProvisionError>
    where
        F: FnOnce(SqsEvent) -> Fut,
        Fut: Future<Output = Result<SqsBatchResponse, E>>,
        E: std::fmt::Display,
    {
        let output = sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.batch_size.clamp(1, 10))
            .wait_time_seconds(self.wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        let messages = output.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(Polled::default());
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(|m| self.record(m)).collect();
        let records = event.records.len();
        let started = std::time::Instant::now();
        let answer = handler(event).await;
        self.invocations.record(records, started.elapsed());
        let failed: HashSet<String> = match answer {
            Ok(response) => response
                .batch_item_failures
                .into_iter()
                .map(|f: BatchItemFailure| f.item_identifier)
                .collect(),
            Err(error) => {
                // A failed invocation retries the whole batch, as Lambda does.
                tracing::warn!(error = %error, "invocation failed; the whole batch returns to the queue");
                messages
                    .iter()
                    .filter_map(|m| m.message_id.clone())
                    .collect()
            }
        };
        let (retry, done): (Vec<&Message>, Vec<&Message>) = messages
            .iter()
            .partition(|m| m.message_id.as_ref().is_some_and(|id| failed.contains(id)));
        for chunk in done.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                        .build()
                        .ok()
                })
                .collect();
            sqs.delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error("DeleteMessageBatch"))?;
        }
        for chunk in retry.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle.clone().unwrap_or_default())
                        .visibility_timeout(self.retry_after_seconds)
                        .build()
                        .ok()
                })
                .collect();
            sqs.change_message_visibility_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error("ChangeMessageVisibilityBatch"))?;
        }
        Ok(Polled {
            received: messages.len(),
            failed: retry.len(),
        })
    }

    /// The Lambda SQS record for a received message.
    fn record(&self, m: &Message) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = m.message_id.clone();
        record.receipt_handle = m.receipt_handle.clone();
        record.body = m.body.clone();
        record.md5_of_body = m.md5_of_body.clone();
        record.md5_of_message_attributes = m.md5_of_message_attributes.clone();
        record.event_source = Some("aws:sqs".to_owned());
        record.event_source_arn = Some(self.queue_arn.clone());
        record.aws_region = Some(self.region.clone());
        if let Some(attributes) = &m.attributes {
            for (name, value) in attributes {
                record
                    .attributes
                    .insert(name.as_str().to_owned(), value.clone());
            }
        }
        if let Some(attributes) = &m.message_attributes {
            for (name, value) in attributes {
                let mut attribute = SqsMessageAttribute::default();
                attribute.string_value = value.string_value.clone();
                attribute.data_type = Some(value.data_type.clone());
                record.message_attributes.insert(name.clone(), attribute);
            }
        }
        record
    }
}
