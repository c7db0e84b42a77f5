//! Redrive: dead letters back to the queue they came from, once the cause is
//! fixed.
//!
//! Each dead letter is sent to the source queue in its own message group,
//! with its body and message attributes (minus the ones dead-lettering
//! added, plus [`REDRIVEN_FROM`]), and only then deleted from the
//! dead-letter queue. The copy's deduplication id is derived from the dead
//! letter's message id ([`deduplication_id`]): the original one would be
//! swallowed by the source queue's five-minute deduplication window, and a
//! derived one means a crash between send and delete cannot duplicate the
//! message if the redrive is run again within those five minutes.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_sqs::types::{Message, MessageAttributeValue, MessageSystemAttributeName};

use crate::AwsError;
use crate::ports::QueueStats;

/// The message attributes [`crate::sqs::dead_letter`] adds to say why a
/// message was dead-lettered; they do not go back to the source queue.
pub const DEAD_LETTER_ATTRIBUTES: [&str; 3] = ["failedStage", "failureReason", "sourceMessageId"];

/// The attribute a redriven message carries: the dead letter's message id.
pub const REDRIVEN_FROM: &str = "redrivenFrom";

const REASON_ATTRIBUTE: &str = "failureReason";
const SOURCE_MESSAGE_ID_ATTRIBUTE: &str = "sourceMessageId";

/// The reason reported for a dead letter without a `failureReason`: SQS's
/// own redrive policy moved it, after `maxReceiveCount` failed receives.
pub const NO_REASON: &str = "(none recorded: SQS moved it after maxReceiveCount failed receives)";

/// ReceiveMessage returns at most ten messages.
const RECEIVE_LIMIT: usize = 10;
/// SendMessage takes at most ten message attributes.
const ATTRIBUTE_LIMIT: usize = 10;
/// Long enough for one send and one delete; a message still held when the
/// run ends is made visible again at once.
const VISIBILITY_SECONDS: i32 = 60;
/// Long polling (queries every SQS server, unlike short polling), kept short
/// because an empty receive ends the run.
const WAIT_SECONDS: i32 = 1;

/// What a redrive did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    pub dry_run: bool,
    /// Messages waiting in the dead-letter queue when the run started
    /// (approximate, as SQS counts them).
    pub waiting: i64,
    /// Sent to the source queue and deleted from the dead-letter queue; in a
    /// dry run, the messages that would be.
    pub moved: usize,
    /// Messages left in the dead-letter queue, in the order they were seen.
    pub failed: Vec<RedriveFailure>,
    /// Moved messages per message group.
    pub groups: BTreeMap<String, usize>,
    /// Every message seen (moved or not) per `failureReason` ([`NO_REASON`]
    /// when it has none).
    pub reasons: BTreeMap<String, usize>,
    /// Why the run stopped before the queue was empty or `max` was reached.
    pub interrupted: Option<String>,
}

impl RedriveReport {
    /// Messages handled so far: moved or failed.
    pub fn seen(&self) -> usize {
        self.moved + self.failed.len()
    }
}

/// A dead letter the redrive left in the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveFailure {
    /// The dead letter's message id.
    pub message_id: String,
    pub group_id: String,
    /// Whether the copy reached the source queue (then only the delete
    /// failed, and a redrive within five minutes removes the dead letter
    /// without sending it twice).
    pub sent: bool,
    pub error: String,
}

/// What a dead letter becomes on the source queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Redriven {
    pub group_id: String,
    pub deduplication_id: String,
    pub body: String,
    pub attributes: HashMap<String, MessageAttributeValue>,
}

/// The deduplication id of a redriven copy: `redrive-` and the SHA-256 of
/// the dead letter's message id, so the same dead letter always gets the
/// same id and a different one from any it had before.
pub fn deduplication_id(dlq_message_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(dlq_message_id.as_bytes()));
    // SQS allows 128 characters; this is 72.
    format!("redrive-{digest}").chars().take(128).collect()
}

/// Why a dead letter was dead-lettered: its `failureReason` attribute, or
/// [`NO_REASON`].
pub fn reason_of(message: &Message) -> String {
    string_attribute(message, REASON_ATTRIBUTE).map_or_else(|| NO_REASON.to_owned(), str::to_owned)
}

fn string_attribute<'m>(message: &'m Message, name: &str) -> Option<&'m str> {
    message
        .message_attributes()
        .and_then(|a| a.get(name))
        .and_then(MessageAttributeValue::string_value)
}

fn group_of(message: &Message) -> Option<&str> {
    message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
        .map(String::as_str)
}

/// The copy of a received dead letter that goes back to the source queue.
/// The error says why it cannot go back as it is.
pub fn redriven(message: &Message) -> Result<Redriven, String> {
    let message_id = message
        .message_id()
        .ok_or("the dead letter has no message id")?;
    let group_id = group_of(message)
        .ok_or("the dead letter has no MessageGroupId: is the dead-letter queue FIFO?")?;
    let body = message.body().ok_or("the dead letter has no body")?;
    let mut attributes = HashMap::new();
    for (name, value) in message.message_attributes().into_iter().flatten() {
        if DEAD_LETTER_ATTRIBUTES.contains(&name.as_str()) || name == REDRIVEN_FROM {
            continue;
        }
        // Only the fields SQS implements: the list fields are reserved.
        let copy = MessageAttributeValue::builder()
            .data_type(value.data_type())
            .set_string_value(value.string_value().map(str::to_owned))
            .set_binary_value(value.binary_value().cloned())
            .build()
            .map_err(|e| format!("attribute {name}: {e}"))?;
        attributes.insert(name.clone(), copy);
    }
    let redriven_from = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(message_id)
        .build()
        .map_err(|e| format!("attribute {REDRIVEN_FROM}: {e}"))?;
    attributes.insert(REDRIVEN_FROM.to_owned(), redriven_from);
    if attributes.len() > ATTRIBUTE_LIMIT {
        return Err(format!(
            "{} message attributes with {REDRIVEN_FROM}; SQS takes at most {ATTRIBUTE_LIMIT}: move it by hand",
            attributes.len()
        ));
    }
    Ok(Redriven {
        group_id: group_id.to_owned(),
        deduplication_id: deduplication_id(message_id),
        body: body.to_owned(),
        attributes,
    })
}

/// Whether `message` is a copy a redrive sent that came back: its id (SQS
/// moved it, keeping the id) or its `sourceMessageId` (a function
/// dead-lettered it) is one of the source-queue ids the redrive's sends
/// returned.
fn came_back(message: &Message, sent: &HashSet<String>) -> bool {
    message
        .message_id()
        .into_iter()
        .chain(string_attribute(message, SOURCE_MESSAGE_ID_ATTRIBUTE))
        .any(|id| sent.contains(id))
}

/// Moves up to `max` dead letters from `dlq_url` back to `source_url`, in
/// the order they are received, each sent before it is deleted. A message
/// that cannot be sent stays in the dead-letter queue (and so do the later
/// messages of its group this run receives, so order within a group is
/// kept); so does a message that comes back to the dead-letter queue during
/// the run, so a cause that is not fixed cannot loop. Messages left behind
/// are made visible again when the run ends.
///
/// A dry run receives with visibility timeout 0 and sends and deletes
/// nothing. As the messages it sees stay visible, a FIFO queue hands it the
/// same first messages again, so it sees at most one receive's worth (ten);
/// `waiting` says how many there are in all.
///
/// Errs only when nothing was done (the queue cannot be read); a failure
/// later ends the run with [`RedriveReport::interrupted`] set.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    source_url: &str,
    max: usize,
    dry_run: bool,
) -> Result<RedriveReport, AwsError> {
    let mut run = Run {
        sqs,
        dlq_url,
        source_url,
        report: RedriveReport {
            dry_run,
            waiting: sqs.depth(dlq_url).await?.visible,
            ..RedriveReport::default()
        },
        seen: HashSet::new(),
        sent: HashSet::new(),
        failed_groups: HashSet::new(),
        held: Vec::new(),
    };
    while run.report.seen() < max {
        let want = (max - run.report.seen()).min(RECEIVE_LIMIT);
        let received = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(i32::try_from(want).unwrap_or(10))
            .visibility_timeout(if dry_run { 0 } else { VISIBILITY_SECONDS })
            .wait_time_seconds(WAIT_SECONDS)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await;
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(e) => {
                let error = AwsError::from_sdk("ReceiveMessage", e);
                if run.report.seen() == 0 {
                    return Err(error);
                }
                run.report.interrupted = Some(format!("{error}; run the redrive again"));
                break;
            }
        };
        let mut new = 0;
        for message in &messages {
            if run.take(message, max) {
                new += 1;
                run.handle(message).await;
            }
        }
        if new == 0 {
            break;
        }
    }
    run.release().await;
    Ok(run.report)
}

/// The state of one redrive.
struct Run<'a> {
    sqs: &'a aws_sdk_sqs::Client,
    dlq_url: &'a str,
    source_url: &'a str,
    report: RedriveReport,
    /// Dead-letter message ids this run has received.
    seen: HashSet<String>,
    /// Source-queue message ids of the copies this run sent.
    sent: HashSet<String>,
    /// Groups with a message left behind: their later messages stay too.
    failed_groups: HashSet<String>,
    /// Receipt handles of messages left in the queue but still invisible.
    held: Vec<String>,
}

impl Run<'_> {
    /// Whether this run handles `message`: not if it was seen before (a dry
    /// run's repeat, or a message left behind whose visibility ran out) or
    /// `max` is reached; such a message is held until the end.
    fn take(&mut self, message: &Message, max: usize) -> bool {
        let id = message.message_id().unwrap_or_default();
        if self.report.seen() < max && self.seen.insert(id.to_owned()) {
            return true;
        }
        self.hold(message);
        false
    }

    /// Remembers a message left in the queue, to make it visible again when
    /// the run ends (a dry run's messages never stop being visible).
    fn hold(&mut self, message: &Message) {
        if let (false, Some(receipt)) = (self.report.dry_run, message.receipt_handle()) {
            self.held.push(receipt.to_owned());
        }
    }

    fn fail(&mut self, message: &Message, sent: bool, error: String) {
        let group_id = group_of(message).unwrap_or_default().to_owned();
        if !sent {
            self.failed_groups.insert(group_id.clone());
        }
        self.report.failed.push(RedriveFailure {
            message_id: message.message_id().unwrap_or_default().to_owned(),
            group_id,
            sent,
            error,
        });
        self.hold(message);
    }

    fn moved(&mut self, group_id: String) {
        self.report.moved += 1;
        *self.report.groups.entry(group_id).or_default() += 1;
    }

    async fn handle(&mut self, message: &Message) {
        *self.report.reasons.entry(reason_of(message)).or_default() += 1;
        let copy = match redriven(message) {
            Ok(copy) => copy,
            Err(error) => return self.fail(message, false, error),
        };
        if self.report.dry_run {
            return self.moved(copy.group_id);
        }
        if came_back(message, &self.sent) {
            let error = "dead-lettered again during this redrive: the cause is not fixed";
            return self.fail(message, false, error.to_owned());
        }
        if self.failed_groups.contains(&copy.group_id) {
            let error = "not sent: an earlier message of its group was not moved, and order within a group is kept";
            return self.fail(message, false, error.to_owned());
        }
        let Some(receipt) = message.receipt_handle() else {
            return self.fail(
                message,
                false,
                "received without a receipt handle".to_owned(),
            );
        };
        let group_id = copy.group_id.clone();
        let sent = self
            .sqs
            .send_message()
            .queue_url(self.source_url)
            .message_group_id(copy.group_id)
            .message_deduplication_id(copy.deduplication_id)
            .message_body(copy.body)
            .set_message_attributes(Some(copy.attributes))
            .send()
            .await;
        match sent {
            Ok(output) => self.sent.extend(output.message_id),
            Err(e) => {
                let error = AwsError::from_sdk("SendMessage", e).to_string();
                return self.fail(message, false, error);
            }
        }
        let deleted = self
            .sqs
            .delete_message()
            .queue_url(self.dlq_url)
            .receipt_handle(receipt)
            .send()
            .await;
        match deleted {
            Ok(_) => self.moved(group_id),
            Err(e) => {
                let error = format!(
                    "{}; the copy is on the source queue: run the redrive again within 5 minutes and the dead letter is removed without a second copy",
                    AwsError::from_sdk("DeleteMessage", e)
                );
                self.fail(message, true, error);
            }
        }
    }

    /// Makes the messages left behind visible again, so the next run (or
    /// listing) sees them at once instead of after the visibility timeout.
    async fn release(&self) {
        for receipt in &self.held {
            let released = self
                .sqs
                .change_message_visibility()
                .queue_url(self.dlq_url)
                .receipt_handle(receipt)
                .visibility_timeout(0)
                .send()
                .await;
            if let Err(e) = released {
                let error = AwsError::from_sdk("ChangeMessageVisibility", e);
                tracing::warn!(%error, "a dead letter left behind stays invisible until its visibility timeout");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dead letter as ReceiveMessage returns it, from what
    /// [`crate::sqs::dead_letter`] sends.
    fn received(dlq_message_id: &str, sent: &crate::ports::OutgoingMessage) -> Message {
        let mut message = Message::builder()
            .message_id(dlq_message_id)
            .receipt_handle("receipt")
            .body(&sent.body)
            .attributes(MessageSystemAttributeName::MessageGroupId, &sent.group_id)
            .attributes(
                MessageSystemAttributeName::MessageDeduplicationId,
                &sent.deduplication_id,
            );
        for (name, value) in &sent.attributes {
            message = message.message_attributes(
                name,
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .unwrap(),
            );
        }
        message.build()
    }

    fn dead_letter_with_kind() -> crate::ports::OutgoingMessage {
        let mut sent = crate::sqs::dead_letter("route", "src-1", "group-a", "{\"x\":1}", "boom");
        sent.attributes
            .insert("kind".to_owned(), "ticketResolution".to_owned());
        sent
    }

    #[test]
    fn redrive_drops_every_attribute_dead_lettering_adds_and_keeps_the_rest() {
        let copy = redriven(&received("dlq-1", &dead_letter_with_kind())).unwrap();
        let mut names: Vec<_> = copy.attributes.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["kind", REDRIVEN_FROM]);
        assert_eq!(
            copy.attributes["kind"].string_value(),
            Some("ticketResolution")
        );
        assert_eq!(copy.attributes[REDRIVEN_FROM].string_value(), Some("dlq-1"));
        assert_eq!(copy.group_id, "group-a");
        assert_eq!(copy.body, "{\"x\":1}");
    }

    #[test]
    fn redrive_deduplication_id_is_new_and_derived_from_the_dead_letter_id() {
        let sent = dead_letter_with_kind();
        let copy = redriven(&received("dlq-1", &sent)).unwrap();
        assert_ne!(copy.deduplication_id, sent.deduplication_id);
        assert_eq!(copy.deduplication_id, deduplication_id("dlq-1"));
        assert_eq!(
            redriven(&received("dlq-1", &sent))
                .unwrap()
                .deduplication_id,
            copy.deduplication_id,
            "the same dead letter always gets the same id"
        );
        assert_ne!(deduplication_id("dlq-1"), deduplication_id("dlq-2"));
        assert!(copy.deduplication_id.starts_with("redrive-"));
        assert!(copy.deduplication_id.len() <= 128);
        assert!(
            copy.deduplication_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "SQS allows alphanumerics and punctuation"
        );
    }

    #[test]
    fn redrive_replaces_an_earlier_redriven_from_and_keeps_binary_attributes() {
        let message = Message::builder()
            .message_id("dlq-2")
            .body("b")
            .attributes(MessageSystemAttributeName::MessageGroupId, "g")
            .message_attributes(
                REDRIVEN_FROM,
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("dlq-1")
                    .build()
                    .unwrap(),
            )
            .message_attributes(
                "blob",
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(aws_sdk_sqs::primitives::Blob::new(vec![1, 2, 3]))
                    .build()
                    .unwrap(),
            )
            .build();
        let copy = redriven(&message).unwrap();
        assert_eq!(copy.attributes[REDRIVEN_FROM].string_value(), Some("dlq-2"));
        assert_eq!(copy.attributes["blob"].data_type(), "Binary");
        assert_eq!(
            copy.attributes["blob"]
                .binary_value()
                .map(|b| b.as_ref().to_vec()),
            Some(vec![1, 2, 3])
        );
    }

    #[test]
    fn redrive_refuses_what_sqs_would_refuse() {
        let no_group = Message::builder().message_id("m").body("b").build();
        assert!(redriven(&no_group).unwrap_err().contains("MessageGroupId"));

        let mut crowded = crate::sqs::dead_letter("route", "src", "g", "b", "why");
        for n in 0..10 {
            crowded.attributes.insert(format!("a{n}"), "v".to_owned());
        }
        let error = redriven(&received("m", &crowded)).unwrap_err();
        assert!(error.contains("at most 10"), "{error}");
    }

    #[test]
    fn redrive_recognises_its_own_copies_coming_back() {
        let sent = HashSet::from(["copy-1".to_owned()]);
        // SQS's redrive policy moves a message keeping its id.
        let moved_by_sqs = Message::builder().message_id("copy-1").body("b").build();
        assert!(came_back(&moved_by_sqs, &sent));
        // A function dead-letters it under a new id, naming the copy.
        let dead_lettered = crate::sqs::dead_letter("route", "copy-1", "g", "b", "why");
        assert!(came_back(&received("dlq-9", &dead_lettered), &sent));
        let other = crate::sqs::dead_letter("route", "copy-2", "g", "b", "why");
        assert!(!came_back(&received("dlq-10", &other), &sent));
    }

    #[test]
    fn redrive_reports_the_reason_or_says_there_is_none() {
        let sent = crate::sqs::dead_letter("route", "src", "g", "b", "ticket refused: 422");
        assert_eq!(reason_of(&received("m", &sent)), "ticket refused: 422");
        let moved_by_sqs = Message::builder().message_id("m").body("b").build();
        assert_eq!(reason_of(&moved_by_sqs), NO_REASON);
    }
}
