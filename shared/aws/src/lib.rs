//! Ports and their AWS adapters. Handlers depend on the traits in [`ports`];
//! the structs here implement them with the AWS SDK (and `reqwest` for Slack).
//! Nothing here knows whether it talks to AWS or to an emulator: the SDK's
//! standard configuration (including `AWS_ENDPOINT_URL`) decides.

pub mod counters;
pub mod error;
pub mod events;
pub mod ledger;
pub mod members;
pub mod outbox;
pub mod ports;
pub mod slack;
pub mod sqs;
pub mod ssm;

pub use error::{AwsError, ErrorKind};

/// SDK clients, built once per cold start and shared by every adapter.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ssm: aws_sdk_ssm::Client,
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
        }
    }
}

/// Seconds since the Unix epoch, for TTL attributes.
pub fn epoch_seconds(at: time::OffsetDateTime) -> i64 {
    at.unix_timestamp()
}
