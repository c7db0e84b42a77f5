//! One error type for every adapter, saying whether a retry can help.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::error::SdkError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttling, timeouts, 5xx, missing resources during a deploy: SQS
    /// redelivers and, if it keeps failing, dead-letters the record.
    Retryable,
    /// The request itself is wrong (validation, item too large): retrying the
    /// same input cannot help.
    Permanent,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed ({code}): {message}")]
pub struct AwsError {
    pub kind: ErrorKind,
    pub operation: &'static str,
    pub code: String,
    pub message: String,
}

impl AwsError {
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Retryable
    }

    pub fn retryable(operation: &'static str, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            kind: ErrorKind::Retryable,
            operation,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub fn permanent(operation: &'static str, code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            kind: ErrorKind::Permanent,
            operation,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// Classifies any SDK error by its error code.
    pub fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match &error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let code = err.code().unwrap_or("Unknown").to_owned();
                let message = err.message().unwrap_or("").to_owned();
                let kind = if PERMANENT_CODES.contains(&code.as_str()) {
                    ErrorKind::Permanent
                } else {
                    ErrorKind::Retryable
                };
                AwsError {
                    kind,
                    operation,
                    code,
                    message,
                }
            }
            // Timeouts, connection failures and unreadable responses are transient.
            other => AwsError::retryable(operation, "Transport", format!("{other}")),
        }
    }
}

/// Error codes for which retrying the same request cannot succeed.
const PERMANENT_CODES: &[&str] = &[
    "ValidationException",
    "SerializationException",
    "ItemCollectionSizeLimitExceededException",
    "InvalidMessageContents",
    "AWS.SimpleQueueService.InvalidMessageContents",
    "InvalidParameterValue",
    "MissingParameter",
    // SNS: a malformed publish (e.g. a subject too long) never succeeds.
    "InvalidParameter",
];

/// Why one queue record could not be processed: the two cases every SQS
/// consumer distinguishes.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The same bytes can never be processed: dead-letter with this reason
    /// at once instead of retrying.
    #[error("cannot process: {0}")]
    Poison(String),
    /// A dependency failed; SQS redelivers the record (and dead-letters it
    /// after maxReceiveCount).
    #[error(transparent)]
    Dependency(#[from] AwsError),
}

impl lambda_kit::fifo::Failure for RecordError {
    fn is_retryable(&self) -> bool {
        match self {
            RecordError::Poison(_) => false,
            RecordError::Dependency(e) => e.is_retryable(),
        }
    }
}
