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
/// clock, but never more than half of the time left (a short timeout still
/// leaves time to work). Lambda never invokes with a deadline already
/// past; a runtime that sends one (local emulators send a relative 600000)
/// gets `fallback` from now instead.
pub fn deadline(
    context_deadline_ms: u64,
    margin: std::time::Duration,
    fallback: std::time::Duration,
) -> std::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let remaining = std::time::Duration::from_millis(context_deadline_ms.saturating_sub(now_ms));
    if remaining.is_zero() {
        return std::time::Instant::now() + fallback;
    }
    std::time::Instant::now() + remaining.saturating_sub(margin.min(remaining / 2))
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
        let fallback = std::time::Duration::from_secs(20);
        let left = super::deadline(now_ms + 30_000, margin, fallback) - start;
        // The wall clock is read in whole milliseconds.
        assert!(left <= std::time::Duration::from_millis(25_001), "{left:?}");
        assert!(left >= std::time::Duration::from_secs(24), "{left:?}");
        // No usable deadline (past, or a local runtime's relative value).
        for odd in [now_ms.saturating_sub(10_000), 600_000] {
            let given = super::deadline(odd, margin, fallback) - start;
            assert!(given >= std::time::Duration::from_secs(19), "{given:?}");
            assert!(
                given <= std::time::Duration::from_millis(20_001),
                "{given:?}"
            );
        }
        // A short timeout keeps half of it rather than none.
        let short = super::deadline(now_ms + 8_000, margin, fallback) - start;
        assert!(
            short >= std::time::Duration::from_millis(3_900),
            "{short:?}"
        );
        assert!(
            short <= std::time::Duration::from_millis(4_001),
            "{short:?}"
        );
    }
}
