//! What every function shares that is not AWS I/O.

pub mod config;
pub mod fifo;
pub mod telemetry;

/// The time source handlers use, injectable so tests can move the clock.
pub type Clock = std::sync::Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    std::sync::Arc::new(time::OffsetDateTime::now_utc)
}
