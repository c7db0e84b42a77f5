//! The one SQS FIFO batch processor every consumer uses.
//!
//! Records are processed one at a time, in order. At the first failure that
//! record and every later one are reported in `batchItemFailures`, so SQS
//! redelivers them in their original order; nothing of the batch runs
//! concurrently. (AWS Powertools' SqsFifoPartialProcessor has the same rule.)

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};

/// What a record handler says about one record.
pub trait Failure: std::fmt::Display {
    /// Whether a later attempt may succeed (logged, for operators).
    fn is_retryable(&self) -> bool;
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Without a message id a failure cannot be reported per item; failing the
    /// whole invocation makes SQS retry the whole batch instead.
    #[error("record {0} has no messageId")]
    MissingMessageId(usize),
}

/// Runs `handle` over the records in order and builds the partial-batch
/// response. `handle` gets the record's position and the record.
pub async fn process_in_order<F, E>(
    event: &SqsEvent,
    handle: F,
) -> Result<SqsBatchResponse, BatchError>
where
    F: AsyncFnMut(usize, &SqsMessage) -> Result<(), E>,
    E: Failure,
{
    Ok(match first_failure(event, handle).await? {
        Some(position) => fail_from(event, position),
        None => SqsBatchResponse::default(),
    })
}

/// The loop behind [`process_in_order`], for consumers that do more work
/// after it (normalize emits the batch's events together): runs `handle` in
/// order and returns the position of the first failed record, if any.
pub async fn first_failure<F, E>(event: &SqsEvent, mut handle: F) -> Result<Option<usize>, BatchError>
where
    F: AsyncFnMut(usize, &SqsMessage) -> Result<(), E>,
    E: Failure,
{
    for (position, record) in event.records.iter().enumerate() {
        if record.message_id.is_none() {
            return Err(BatchError::MissingMessageId(position));
        }
    }
    for (position, record) in event.records.iter().enumerate() {
        if let Err(error) = handle(position, record).await {
            tracing::warn!(
                message_id = record.message_id.as_deref().unwrap_or_default(),
                position,
                retryable = error.is_retryable(),
                error = %error,
                later_records = event.records.len() - position - 1,
                "record failed; it and every later record go back to the queue"
            );
            return Ok(Some(position));
        }
    }
    Ok(None)
}

/// The record's FIFO message group (Lambda passes it as an attribute), so
/// anything derived from the record can keep the conversation's order.
pub fn group_of(record: &SqsMessage) -> &str {
    record.attributes.get("MessageGroupId").map_or("ungrouped", String::as_str)
}

/// A response failing the record at `position` and every later one.
pub fn fail_from(event: &SqsEvent, position: usize) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = event
        .records
        .iter()
        .skip(position)
        .filter_map(|r| r.message_id.clone())
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Boom;
    impl std::fmt::Display for Boom {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("boom")
        }
    }
    impl Failure for Boom {
        fn is_retryable(&self) -> bool {
            true
        }
    }

    fn batch(n: usize) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = (0..n)
            .map(|i| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                m.body = Some(format!("{i}"));
                m
            })
            .collect();
        event
    }

    fn ids(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
    }

    #[tokio::test]
    async fn stops_at_the_first_failure_and_reports_it_and_all_later_records() {
        let event = batch(5);
        let mut seen = Vec::new();
        let response = process_in_order(&event, async |i, _| {
            seen.push(i);
            if i == 2 { Err(Boom) } else { Ok(()) }
        })
        .await
        .unwrap();
        assert_eq!(seen, vec![0, 1, 2], "records after the failure are not processed");
        assert_eq!(ids(&response), vec!["m2", "m3", "m4"]);
    }

    #[tokio::test]
    async fn all_good_reports_nothing() {
        let response = process_in_order(&batch(3), async |_, _| Ok::<(), Boom>(())).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn a_record_without_id_fails_the_invocation_before_any_work() {
        let mut event = batch(2);
        event.records[1].message_id = None;
        let mut calls = 0;
        let result = process_in_order(&event, async |_, _| {
            calls += 1;
            Ok::<(), Boom>(())
        })
        .await;
        assert!(matches!(result, Err(BatchError::MissingMessageId(1))));
        assert_eq!(calls, 0);
    }
}
