//! The local stack: `template.yaml`'s queues, tables and parameters on the
//! moto emulator, the four handlers wired as in Lambda, and Lambda's SQS
//! event-source semantics. `make dev` runs it; the integration tests drive it.

pub mod coldstart;
pub mod demo;
pub mod faults;
pub mod fixtures;
pub mod http;
pub mod provision;
pub mod pump;
pub mod rss;
pub mod secrets;
pub mod stack;
pub mod standins;
pub mod storm;
pub mod template;

pub use provision::ProvisionError;
pub use stack::{Stack, StackError, StackOptions};

/// The repository root (where `template.yaml` and `events/` live).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// SDK configuration from the standard chain: `AWS_ENDPOINT_URL` points it at
/// the emulator; nothing else differs from AWS.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
