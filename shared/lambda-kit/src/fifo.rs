//! The one SQS FIFO batch processor every consumer uses.
//!
//! Records are processed one at a time, in order; nothing of a batch runs
//! concurrently. At the first failure in a message group, that record and
//! every later record *of the same group* are reported in
//! `batchItemFailures` (the later ones unprocessed), so SQS redelivers the
//! group in its original order. Records of other groups carry on: FIFO order
//! only exists within a group, and failing them too would raise their
//! receive counts until a healthy message was dead-lettered beside a poison
//! one. (AWS Powertools' SqsFifoPartialProcessor calls this
//! `skip_group_on_error`.) Records without a group id count as one group,
//! which is the plain "stop at the first failure" rule.

use std::collections::{BTreeSet, HashSet};

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

/// The record's FIFO message group (Lambda passes it as an attribute), so
/// anything derived from the record can keep the conversation's order.
pub fn group_of(record: &SqsMessage) -> &str {
    record
        .attributes
        .get("MessageGroupId")
        .map_or("ungrouped", String::as_str)
}

/// Whether this is the record's last receive: once it fails again, the
/// queue's redrive policy (`maxReceiveCount`) moves it to the DLQ without a
/// reason, so a handler still failing it should dead-letter it itself, with
/// one. A record without the attribute (a direct invoke) is never the last.
pub fn is_last_receive(record: &SqsMessage, max_receive_count: u32) -> bool {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n >= max_receive_count)
}

/// The records of a batch that go back to the queue.
#[derive(Debug)]
pub struct Failures<'e> {
    event: &'e SqsEvent,
    positions: BTreeSet<usize>,
    groups: HashSet<&'e str>,
}

impl<'e> Failures<'e> {
    /// Checks the batch can be reported on per item.
    pub fn new(event: &'e SqsEvent) -> Result<Failures<'e>, BatchError> {
        if let Some(position) = event.records.iter().position(|r| r.message_id.is_none()) {
            return Err(BatchError::MissingMessageId(position));
        }
        Ok(Failures {
            event,
            positions: BTreeSet::new(),
            groups: HashSet::new(),
        })
    }

    /// Whether the record's group has already failed in this batch (so the
    /// record must not be processed).
    pub fn is_blocked(&self, position: usize) -> bool {
        self.event
            .records
            .get(position)
            .is_some_and(|r| self.groups.contains(group_of(r)))
    }

    /// Fails the record at `position` and every later record of its group.
    pub fn fail(&mut self, position: usize) {
        let Some(record) = self.event.records.get(position) else {
            return;
        };
        let group = group_of(record);
        self.groups.insert(group);
        for (later, r) in self.event.records.iter().enumerate().skip(position) {
            if group_of(r) == group {
                self.positions.insert(later);
            }
        }
    }

    pub fn contains(&self, position: usize) -> bool {
        self.positions.contains(&position)
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The partial-batch response Lambda expects.
    pub fn response(&self) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = self
            .positions
            .iter()
            .filter_map(|&p| self.event.records.get(p))
            .filter_map(|r| r.message_id.clone())
            .map(|id| {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                failure
            })
            .collect();
        response
    }
}

/// Runs `handle` over the records in order (skipping records of groups that
/// already failed) and returns what failed.
pub async fn run_in_order<'e, F, E>(
    event: &'e SqsEvent,
    mut handle: F,
) -> Result<Failures<'e>, BatchError>
where
    F: AsyncFnMut(usize, &SqsMessage) -> Result<(), E>,
    E: Failure,
{
    let mut failures = Failures::new(event)?;
    for (position, record) in event.records.iter().enumerate() {
        if failures.is_blocked(position) {
            continue;
        }
        if let Err(error) = handle(position, record).await {
            tracing::warn!(
                message_id = record.message_id.as_deref().unwrap_or_default(),
                position,
                retryable = error.is_retryable(),
                error = %error,
                "record failed; it and the later records of its group go back to the queue"
            );
            failures.fail(position);
        }
    }
    Ok(failures)
}

/// [`run_in_order`] and the partial-batch response, for consumers with
/// nothing to do after the loop.
pub async fn process_in_order<F, E>(
    event: &SqsEvent,
    handle: F,
) -> Result<SqsBatchResponse, BatchError>
where
    F: AsyncFnMut(usize, &SqsMessage) -> Result<(), E>,
    E: Failure,
{
    Ok(run_in_order(event, handle).await?.response())
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

    #[test]
    fn the_last_receive_is_the_redrive_policys_count() {
        let on = |count: Option<&str>| {
            let mut m = SqsMessage::default();
            if let Some(count) = count {
                m.attributes
                    .insert("ApproximateReceiveCount".into(), count.to_owned());
            }
            m
        };
        assert!(!is_last_receive(&on(Some("2")), 3));
        assert!(is_last_receive(&on(Some("3")), 3));
        assert!(
            is_last_receive(&on(Some("4")), 3),
            "a receive past the count"
        );
        assert!(!is_last_receive(&on(None), 3), "a direct invoke");
        assert!(!is_last_receive(&on(Some("x")), 3));
    }

    /// Records `m0..`, in the given groups (None = no group attribute).
    fn batch(groups: &[Option<&str>]) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = groups
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let mut m = SqsMessage::default();
                m.message_id = Some(format!("m{i}"));
                if let Some(g) = g {
                    m.attributes
                        .insert("MessageGroupId".into(), (*g).to_owned());
                }
                m
            })
            .collect();
        event
    }

    fn ids(r: &SqsBatchResponse) -> Vec<&str> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    #[tokio::test]
    async fn without_groups_it_stops_at_the_first_failure_and_reports_every_later_record() {
        let event = batch(&[None; 5]);
        let mut seen = Vec::new();
        let response = process_in_order(&event, async |i, _| {
            seen.push(i);
            if i == 2 { Err(Boom) } else { Ok(()) }
        })
        .await
        .unwrap();
        assert_eq!(
            seen,
            vec![0, 1, 2],
            "records after the failure are not processed"
        );
        assert_eq!(ids(&response), vec!["m2", "m3", "m4"]);
    }

    #[tokio::test]
    async fn a_failure_stops_its_own_group_and_other_groups_carry_on_in_order() {
        let event = batch(&[Some("a"), Some("b"), Some("a"), Some("b"), Some("c")]);
        let mut seen = Vec::new();
        let response = process_in_order(&event, async |i, _| {
            seen.push(i);
            if i == 1 { Err(Boom) } else { Ok(()) }
        })
        .await
        .unwrap();
        assert_eq!(
            seen,
            vec![0, 1, 2, 4],
            "m3 (group b, after b's failure) is not processed"
        );
        assert_eq!(ids(&response), vec!["m1", "m3"]);
    }

    #[tokio::test]
    async fn all_good_reports_nothing() {
        let response =
            process_in_order(&batch(&[Some("a"), None]), async |_, _| Ok::<(), Boom>(()))
                .await
                .unwrap();
        assert!(response.batch_item_failures.is_empty());
    }

    #[tokio::test]
    async fn a_record_without_id_fails_the_invocation_before_any_work() {
        let mut event = batch(&[None, None]);
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

    #[test]
    fn failing_a_record_later_fails_the_rest_of_its_group_only() {
        let event = batch(&[Some("a"), Some("a"), Some("b"), Some("a")]);
        let mut failures = Failures::new(&event).unwrap();
        failures.fail(1);
        assert!(
            !failures.contains(0)
                && failures.contains(1)
                && !failures.contains(2)
                && failures.contains(3)
        );
        assert!(failures.is_blocked(3) && !failures.is_blocked(2));
    }
}
