//! What every function shares that is not AWS I/O.

pub mod config;
pub mod emf;
pub mod fifo;
pub mod telemetry;

/// The time source handlers use, injectable so tests can move the clock.
pub type Clock = std::sync::Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>;

/// The real clock.
pub fn system_clock() -> Clock {
    std::sync::Arc::new(time::OffsetDateTime::now_utc)
}

/// When to stop starting work: `margin` before the invocation's deadline
/// (the Lambda context's epoch milliseconds), measured on the monotonic
/// clock. A deadline already past (or a clock skew) gives "now".
pub fn deadline(context_deadline_ms: u64, margin: std::time::Duration) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let remaining = std::time::Duration::from_millis(context_deadline_ms.saturating_sub(now_ms));
    std::time::Instant::now() + remaining.saturating_sub(margin)
}

#[cfg(test)]
mod deadline_tests {
    #[test]
    fn the_deadline_keeps_the_margin_and_never_lies_in_the_past() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let margin = std::time::Duration::from_secs(5);
        let start = std::time::Instant::now();
        let left = super::deadline(now_ms + 30_000, margin) - start;
        // The wall clock is read in whole milliseconds.
        assert!(left <= std::time::Duration::from_millis(25_001), "{left:?}");
        assert!(left >= std::time::Duration::from_secs(24), "{left:?}");
        let past = super::deadline(now_ms.saturating_sub(10_000), margin);
        assert!(past >= start && past - start < std::time::Duration::from_secs(1));
    }
}
