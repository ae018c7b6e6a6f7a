//! One partition's open checkpoint window, and when it closes: `max_records`, `max_bytes` or
//! `max_age`, whichever comes first (revocation and shutdown close it too, by the caller).
//!
//! Every offset the partition delivers is covered by some window — a record that does not decode
//! goes to the dead-letter topic but still extends the window's offset range — so the committed
//! offset moves past it and the lake's ranges plus the dead-letter topic account for every offset.

use std::num::NonZeroUsize;
use std::time::Duration;

use arrow_array::RecordBatch;
use tokio::time::Instant;

use crate::decode::{DecodeError, Decoder};
use crate::schema::TableSchema;

/// `[window]` of the stage's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimits {
    /// Close after this many records (default 100,000).
    pub max_records: NonZeroUsize,
    /// Close after this many bytes of records (default 64 MiB).
    pub max_bytes: NonZeroUsize,
    /// Close this long after the first record (default 60 s).
    pub max_age: Duration,
}

impl Default for WindowLimits {
    fn default() -> Self {
        Self {
            max_records: NonZeroUsize::new(100_000).unwrap_or(NonZeroUsize::MIN),
            max_bytes: NonZeroUsize::new(64 << 20).unwrap_or(NonZeroUsize::MIN),
            max_age: Duration::from_secs(60),
        }
    }
}

/// A closed window, ready to be written.
#[derive(Debug)]
pub struct ClosedWindow {
    /// The decoded records (possibly none, if every record went to the dead-letter topic).
    pub batch: RecordBatch,
    /// The first offset the window covers.
    pub first: i64,
    /// The last offset the window covers; commit `last + 1` once the file is durable.
    pub last: i64,
    /// The event time of the first decoded record, which picks the file's `dt`/`hour`.
    pub first_event_ms: Option<i64>,
}

/// The open window of one partition.
#[derive(Debug)]
pub struct Window {
    decoder: Decoder,
    limits: WindowLimits,
    offsets: Option<(i64, i64)>,
    first_event_ms: Option<i64>,
    /// When the open window is old enough to close (its first record's arrival + `max_age`).
    deadline: Option<Instant>,
}

impl Window {
    /// An empty window.
    pub fn new(schema: TableSchema, limits: WindowLimits) -> Self {
        Self {
            decoder: Decoder::new(schema),
            limits,
            offsets: None,
            first_event_ms: None,
            deadline: None,
        }
    }

    /// Adds the record at `offset`. A record that does not decode is refused (for the dead-letter
    /// topic) but its offset is covered all the same.
    pub fn push(&mut self, offset: i64, record: &[u8]) -> Result<(), DecodeError> {
        let max_age = self.limits.max_age;
        self.deadline.get_or_insert_with(|| {
            // An age past what the clock can add (not from a `stage.toml`, which allows 7 days)
            // is as good as never.
            let now = Instant::now();
            now.checked_add(max_age)
                .unwrap_or(now + Duration::from_secs(u64::from(u32::MAX)))
        });
        self.offsets = Some(match self.offsets {
            None => (offset, offset),
            Some((first, last)) => (first.min(offset), last.max(offset)),
        });
        let event_ms = self.decoder.push(record)?;
        self.first_event_ms.get_or_insert(event_ms);
        Ok(())
    }

    /// Whether the window holds nothing, not even a refused record's offset.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_none()
    }

    /// Whether a limit is reached; `now` for the age.
    pub fn should_close(&self, now: Instant) -> bool {
        self.decoder.len() >= self.limits.max_records.get()
            || self.decoder.bytes() >= self.limits.max_bytes.get()
            || self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// When the window will be old enough to close, if it is open.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Closes the window; the next record opens a new one. `None` when it was empty.
    pub fn close(&mut self) -> Result<Option<ClosedWindow>, arrow_schema::ArrowError> {
        let Some((first, last)) = self.offsets.take() else {
            return Ok(None);
        };
        self.deadline = None;
        Ok(Some(ClosedWindow {
            batch: self.decoder.finish()?,
            first,
            last,
            first_event_ms: self.first_event_ms.take(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::RawSchema;

    fn schema() -> TableSchema {
        let raw: RawSchema = serde_json::from_value(serde_json::json!({
            "table": "t", "event_time": "ts",
            "columns": [{"name": "ts", "type": "timestamp_ms"}, {"name": "v", "type": "int64"}]
        }))
        .unwrap();
        TableSchema::try_from(raw).unwrap()
    }

    fn record(ts: i64) -> Vec<u8> {
        format!(r#"{{"ts":{ts},"v":1}}"#).into_bytes()
    }

    fn limits(records: usize, bytes: usize, age: u64) -> WindowLimits {
        WindowLimits {
            max_records: NonZeroUsize::new(records).unwrap(),
            max_bytes: NonZeroUsize::new(bytes).unwrap(),
            max_age: Duration::from_secs(age),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn closes_at_max_records() {
        let mut w = Window::new(schema(), limits(3, 1 << 20, 60));
        for offset in 10..12 {
            w.push(offset, &record(1000)).unwrap();
            assert!(!w.should_close(Instant::now()));
        }
        w.push(12, &record(2000)).unwrap();
        assert!(w.should_close(Instant::now()));
        let closed = w.close().unwrap().unwrap();
        assert_eq!(
            (closed.first, closed.last, closed.batch.num_rows()),
            (10, 12, 3)
        );
        assert_eq!(closed.first_event_ms, Some(1000));
        assert!(w.is_empty() && w.close().unwrap().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn closes_at_max_bytes() {
        let mut w = Window::new(schema(), limits(1000, 40, 60));
        w.push(0, &record(1)).unwrap();
        assert!(!w.should_close(Instant::now()));
        w.push(1, &record(1)).unwrap();
        w.push(2, &record(1)).unwrap();
        assert!(w.should_close(Instant::now()));
    }

    /// A library user's age too large for the clock to add is no panic: the window closes by
    /// its other limits.
    #[tokio::test(start_paused = true)]
    async fn an_age_past_the_clock_is_never() {
        let mut w = Window::new(
            schema(),
            WindowLimits {
                max_age: Duration::MAX,
                ..limits(2, 1 << 20, 1)
            },
        );
        w.push(0, &record(1)).unwrap();
        tokio::time::advance(Duration::from_secs(10 * 365 * 24 * 3600)).await;
        assert!(!w.should_close(Instant::now()));
        w.push(1, &record(1)).unwrap();
        assert!(w.should_close(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn closes_at_max_age_counted_from_the_first_record() {
        let mut w = Window::new(schema(), limits(1000, 1 << 20, 60));
        assert_eq!(w.deadline(), None);
        tokio::time::advance(Duration::from_secs(100)).await;
        w.push(0, &record(1)).unwrap();
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(!w.should_close(Instant::now()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(w.should_close(Instant::now()));
        w.close().unwrap();
        assert_eq!(w.deadline(), None, "a closed window has no deadline");
    }

    #[tokio::test(start_paused = true)]
    async fn refused_records_still_extend_the_offset_range() {
        let mut w = Window::new(schema(), limits(1000, 1 << 20, 60));
        w.push(5, &record(1)).unwrap();
        assert!(w.push(6, b"not json").is_err());
        assert!(w.push(7, br#"{"ts":1}"#).is_err());
        let closed = w.close().unwrap().unwrap();
        assert_eq!(
            (closed.first, closed.last, closed.batch.num_rows()),
            (5, 7, 1)
        );

        assert!(w.push(8, b"garbage").is_err());
        let only_refused = w.close().unwrap().unwrap();
        assert_eq!(
            (
                only_refused.first,
                only_refused.last,
                only_refused.batch.num_rows()
            ),
            (8, 8, 0)
        );
        assert_eq!(only_refused.first_event_ms, None);
    }
}
