//! Ports and their AWS adapters. Handlers depend on the traits in [`ports`];
//! the structs here implement them with the AWS SDK (and `reqwest` for Slack).
//! Nothing here knows whether it talks to AWS or to an emulator: the SDK's
//! standard configuration (including `AWS_ENDPOINT_URL`) decides.

pub mod community;
pub mod counters;
pub mod error;
pub mod events;
pub mod ledger;
pub mod lifecycle;
pub mod members;
pub mod memory;
pub mod outbox;
pub mod ports;
pub mod recognition;
pub mod redrive;
pub mod reviews;
pub mod secrets;
pub mod slack;
pub mod sns;
pub mod sqs;
pub mod ssm;
pub mod tickets;

pub use error::{AwsError, ErrorKind, RecordError};

/// SDK clients, built once per cold start and shared by every adapter.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub secretsmanager: aws_sdk_secretsmanager::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    /// Loads the standard AWS configuration chain (env, profile, container,
    /// instance metadata) once.
    pub async fn load() -> Clients {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Clients::from_config(&config)
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Clients {
        Clients {
            sqs: aws_sdk_sqs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            secretsmanager: aws_sdk_secretsmanager::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }
}

/// Seconds since the Unix epoch, for TTL attributes.
pub fn epoch_seconds(at: time::OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

/// A DynamoDB item as the SDK returns it.
pub type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// The TTL attribute every expiring table uses (epoch seconds).
pub const EXPIRES_AT: &str = "expiresAt";

/// Whether an item is past its `expiresAt`. DynamoDB deletes expired items
/// only eventually (and the emulator never), so reads must check.
pub fn is_expired(item: &Item, now: time::OffsetDateTime) -> bool {
    item.get(EXPIRES_AT)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|at| at <= now.unix_timestamp())
}

/// A strongly consistent read of one item by its string hash key; an item
/// past its `expiresAt` reads as absent.
pub async fn get_live_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    key_name: &str,
    key: &str,
    now: time::OffsetDateTime,
) -> Result<Option<Item>, AwsError> {
    let output = client
        .get_item()
        .table_name(table)
        .key(
            key_name,
            aws_sdk_dynamodb::types::AttributeValue::S(key.to_owned()),
        )
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk("GetItem", e))?;
    Ok(output.item.filter(|item| !is_expired(item, now)))
}

/// A transaction item the SDK's builder refused (a missing required field):
/// a programming error, never worth retrying.
pub(crate) fn build_error(e: impl std::fmt::Display) -> AwsError {
    AwsError::permanent("TransactWriteItems", "Build", e.to_string())
}

/// Whether a single-item write failed its condition expression (as opposed
/// to failing for any other reason).
pub fn is_conditional_failure<E, R>(error: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    error
        .as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

/// Every item of a small table (the CLI's listings), optionally only those
/// whose `pk` starts with `pk_prefix`, following pagination.
pub async fn scan_all(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk_prefix: Option<&str>,
) -> Result<Vec<Item>, AwsError> {
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let mut request = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start);
        if let Some(prefix) = pk_prefix {
            request = request
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(
                    ":prefix",
                    aws_sdk_dynamodb::types::AttributeValue::S(prefix.to_owned()),
                );
        }
        let output = request
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("Scan", e))?;
        items.extend(output.items.unwrap_or_default());
        start = output.last_evaluated_key;
        if start.is_none() {
            return Ok(items);
        }
    }
}
