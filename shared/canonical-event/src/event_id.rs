use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Platform;

/// The namespace for v5 event ids. Fixed forever: changing it would give every
/// redelivered webhook a new id and break deduplication across a deploy.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d1c_5e0a_0b1f_4c8e_9a57_3f2e_8c4d_1b90);

/// A deterministic event id: UUID v5 of `platform`, the platform's own delivery
/// id and the index of the event within that delivery. A redelivered webhook
/// (same delivery id) maps to the same id, which is what the ledger keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "json-schema", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct EventId(
    #[cfg_attr(feature = "json-schema", schemars(with = "String", extend("format" = "uuid")))] Uuid,
);

#[derive(Debug, thiserror::Error)]
pub enum EventIdError {
    #[error("delivery id is empty")]
    EmptyDeliveryId,
    #[error("not an event id: {0}")]
    Malformed(String),
}

impl EventId {
    pub fn derive(
        platform: Platform,
        delivery_id: &str,
        index_in_delivery: u32,
    ) -> Result<EventId, EventIdError> {
        if delivery_id.trim().is_empty() {
            return Err(EventIdError::EmptyDeliveryId);
        }
        // The separator cannot occur in a platform name, and the index is last,
        // so distinct inputs cannot collide by concatenation.
        let name = format!(
            "{}\u{1f}{}\u{1f}{}",
            platform.as_str(),
            delivery_id,
            index_in_delivery
        );
        Ok(EventId(Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes())))
    }

    pub fn parse(text: &str) -> Result<EventId, EventIdError> {
        Uuid::parse_str(text)
            .map(EventId)
            .map_err(|_| EventIdError::Malformed(text.chars().take(64).collect()))
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}
