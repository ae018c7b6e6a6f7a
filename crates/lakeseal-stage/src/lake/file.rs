//! A lake file's name: where a window's file goes ([`FileKey`]), and what a listed file holds
//! ([`LakeFile`]), read back from its name alone.

use std::path::{Path, PathBuf};

/// Where one window's file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKey {
    /// The table (directory under the root).
    pub table: String,
    /// The Kafka topic.
    pub topic: String,
    /// The Kafka partition.
    pub partition: i32,
    /// The first offset in the file.
    pub first: i64,
    /// The last offset in the file.
    pub last: i64,
    /// The event time that picks `dt=` and `hour=`, milliseconds since the epoch.
    pub event_time_ms: i64,
}

impl FileKey {
    /// The path under the lake's root.
    pub fn relative_path(&self) -> PathBuf {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(self.event_time_ms) * 1_000_000,
        )
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        PathBuf::from(&self.table)
            .join(format!(
                "dt={:04}-{:02}-{:02}",
                t.year(),
                u8::from(t.month()),
                t.day()
            ))
            .join(format!("hour={:02}", t.hour()))
            .join(file_name(
                &self.topic,
                self.partition,
                self.first,
                self.last,
            ))
    }
}

fn file_name(topic: &str, partition: i32, first: i64, last: i64) -> String {
    format!("{topic}-{partition}-{first}-{last}.parquet")
}

/// `(topic, partition, first, last)` from a file name the stage wrote; `None` for anything else.
pub fn parse_file_name(name: &str) -> Option<(&str, i32, i64, i64)> {
    let stem = name.strip_suffix(".parquet")?;
    let mut parts = stem.rsplitn(4, '-');
    let last = parts.next()?.parse().ok()?;
    let first = parts.next()?.parse().ok()?;
    let partition = parts.next()?.parse().ok()?;
    let topic = parts.next()?;
    (!topic.is_empty() && !topic.starts_with('.') && first <= last)
        .then_some((topic, partition, first, last))
}

/// One file of the lake, as its name describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The first offset it covers.
    pub first: i64,
    /// The last offset it covers.
    pub last: i64,
}

/// Every file the stage wrote under the local directory `dir` (searched recursively), in path
/// order.
pub fn list_local(dir: &Path) -> std::io::Result<Vec<LakeFile>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else if let Some((topic, partition, first, last)) =
                entry.file_name().to_str().and_then(parse_file_name)
            {
                files.push(LakeFile {
                    topic: topic.to_owned(),
                    partition,
                    first,
                    last,
                    path: entry.path(),
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// A `telemetry` table's file key, for tests.
#[cfg(test)]
pub(super) fn test_key(
    topic: &str,
    partition: i32,
    first: i64,
    last: i64,
    event_time_ms: i64,
) -> FileKey {
    FileKey {
        table: "telemetry".into(),
        topic: topic.into(),
        partition,
        first,
        last,
        event_time_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_hive_partitioned_by_event_time() {
        // 2025-11-24T16:00:00.123Z
        let k = test_key("iot-telemetry", 3, 100, 199, 1_764_000_000_123);
        assert_eq!(
            k.relative_path(),
            PathBuf::from("telemetry/dt=2025-11-24/hour=16/iot-telemetry-3-100-199.parquet")
        );
        assert_eq!(
            parse_file_name("iot-telemetry-3-100-199.parquet"),
            Some(("iot-telemetry", 3, 100, 199))
        );
        for junk in [
            "x.parquet",
            "t-1-5-2.parquet",
            ".tmp-1-t-0-1-2.parquet",
            "t-0-1-2.json",
            "-0-1-2.parquet",
        ] {
            assert_eq!(parse_file_name(junk), None, "{junk}");
        }
    }
}
