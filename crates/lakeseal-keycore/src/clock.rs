//! Time, injectable so that rotation periods and deletion windows can be tested.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time: milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Milliseconds in a day.
pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> Millis;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Millis::try_from(since.as_millis()).unwrap_or(Millis::MAX)
    }
}

/// A clock that moves only when told to, for tests and simulations.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock that reads `start_ms`.
    pub fn new(start_ms: Millis) -> Self {
        Self(AtomicI64::new(start_ms))
    }

    /// A clock that starts at the system's current time.
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_ms())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = Millis::try_from(by.as_millis()).unwrap_or(Millis::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// Formats a time as RFC 3339 with milliseconds, UTC.
pub fn rfc3339(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// Parses an RFC 3339 time.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Millis::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        let ms = 1_764_000_000_123;
        let text = rfc3339(ms);
        assert_eq!(text, "2025-11-24T16:00:00.123Z");
        assert_eq!(parse_rfc3339(&text), Some(ms));
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1000);
        assert_eq!(clock.now_ms(), 1000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3000);
    }
}
