//! The lake on a local filesystem: Hive-style paths, atomic and durable writes, and the scan that
//! tells a partition where to resume.
//!
//! A file is `<root>/<table>/dt=YYYY-MM-DD/hour=HH/<topic>-<partition>-<first>-<last>.parquet`,
//! `dt` and `hour` from an event time (UTC). A write goes to a temporary file in the same
//! directory, is fsynced, then linked into place — which fails if the name exists, so a file is
//! never overwritten — and the directory is fsynced. A crash leaves either no file or the whole
//! file; a leftover temporary file (`.tmp-…`) is ignored and may be deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::config::Sink;
use crate::read::LakeFile;
use crate::s3::{S3Lake, S3Location};

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

/// The highest last offset of `topic`/`partition` among `files`.
fn highest(files: &[LakeFile], topic: &str, partition: i32) -> Option<i64> {
    files
        .iter()
        .filter(|f| f.topic == topic && f.partition == partition)
        .map(|f| f.last)
        .max()
}

/// The lake the stage writes: a local directory or an S3 bucket.
#[derive(Debug, Clone)]
pub enum Lake {
    /// A local directory.
    Local(LocalLake),
    /// A bucket.
    S3(S3Lake),
}

impl Lake {
    /// The lake a `[sink]` names.
    pub fn open(sink: &Sink) -> io::Result<Self> {
        Ok(match sink {
            Sink::Local(root) => Lake::Local(LocalLake::new(root)),
            Sink::S3(location) => Lake::S3(S3Lake::new(location)?),
        })
    }

    /// A lake named by a path or an `s3://bucket/prefix` URL (endpoint from `AWS_ENDPOINT_URL`).
    pub fn from_url(url: &str) -> io::Result<Self> {
        match url.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                Ok(Lake::S3(S3Lake::new(&S3Location {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_end_matches('/').to_owned(),
                    endpoint: std::env::var("AWS_ENDPOINT_URL").ok(),
                    region: None,
                })?))
            }
            None => Ok(Lake::Local(LocalLake::new(url))),
        }
    }

    /// Writes one window's file, atomically, never replacing one (`AlreadyExists`); returns
    /// where it went.
    pub async fn write(&self, key: &FileKey, bytes: Vec<u8>) -> io::Result<String> {
        match self {
            Lake::Local(lake) => lake.write(key, &bytes).map(|p| p.display().to_string()),
            Lake::S3(lake) => lake.write(key, bytes).await,
        }
    }

    /// The highest last offset of `topic`/`partition` in `table`: the partition resumes after.
    pub async fn highest_offset(
        &self,
        table: &str,
        topic: &str,
        partition: i32,
    ) -> io::Result<Option<i64>> {
        Ok(highest(&self.list(table).await?, topic, partition))
    }

    /// Every file under `dir` (a table, or any directory of the lake).
    pub async fn list(&self, dir: &str) -> io::Result<Vec<LakeFile>> {
        match self {
            Lake::Local(lake) => {
                let root = lake.root().join(dir);
                if root.exists() {
                    crate::read::list(&root)
                } else {
                    Ok(Vec::new())
                }
            }
            Lake::S3(lake) => lake.list(dir).await,
        }
    }

    /// A listed file's bytes.
    pub async fn get(&self, file: &LakeFile) -> io::Result<bytes::Bytes> {
        match self {
            Lake::Local(_) => fs::read(&file.path).map(Into::into),
            Lake::S3(lake) => lake.get(&file.path.to_string_lossy()).await,
        }
    }
}

/// A lake in a local directory.
#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
}

impl LocalLake {
    /// The lake rooted at `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The lake's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `bytes` as the file of `key`, atomically and durably; refuses to replace an
    /// existing file (`AlreadyExists`).
    pub fn write(&self, key: &FileKey, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.root.join(key.relative_path());
        let dir = path.parent().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "a file needs a directory")
        })?;
        fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "file name is not UTF-8"))?;
        let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::hard_link(&tmp, &path)?;
            File::open(dir)?.sync_all()
        })();
        // Whether linked or not, the temporary name goes.
        let _ = fs::remove_file(&tmp);
        result.map(|()| path)
    }

    /// The highest last offset of `topic`/`partition` among the files of `table`, if any: the
    /// partition resumes after it.
    pub fn highest_offset(
        &self,
        table: &str,
        topic: &str,
        partition: i32,
    ) -> io::Result<Option<i64>> {
        let table_dir = self.root.join(table);
        if !table_dir.exists() {
            return Ok(None);
        }
        Ok(highest(&crate::read::list(&table_dir)?, topic, partition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(topic: &str, partition: i32, first: i64, last: i64, event_time_ms: i64) -> FileKey {
        FileKey {
            table: "telemetry".into(),
            topic: topic.into(),
            partition,
            first,
            last,
            event_time_ms,
        }
    }

    #[test]
    fn paths_are_hive_partitioned_by_event_time() {
        // 2025-11-24T16:00:00.123Z
        let k = key("iot-telemetry", 3, 100, 199, 1_764_000_000_123);
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

    #[test]
    fn writes_are_atomic_and_never_overwrite() {
        let dir = std::env::temp_dir().join(format!("lakeseal-lake-{}", std::process::id()));
        let lake = LocalLake::new(&dir);
        let k = key("iot", 0, 0, 9, 1_764_000_000_000);
        let path = lake.write(&k, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        let err = lake.write(&k, b"second").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            fs::read(&path).unwrap(),
            b"first",
            "the existing file is untouched"
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn resume_point_is_the_highest_offset_of_the_partition() {
        let dir = std::env::temp_dir().join(format!("lakeseal-resume-{}", std::process::id()));
        let lake = LocalLake::new(&dir);
        assert_eq!(lake.highest_offset("telemetry", "iot", 0).unwrap(), None);
        let hour = 3_600_000;
        lake.write(&key("iot", 0, 0, 9, 0), b"a").unwrap();
        lake.write(&key("iot", 0, 10, 19, hour), b"b").unwrap();
        lake.write(&key("iot", 0, 20, 29, 25 * hour), b"c").unwrap();
        lake.write(&key("iot", 1, 0, 500, 0), b"d").unwrap();
        lake.write(&key("iot-archive", 0, 0, 900, 0), b"e").unwrap();
        fs::write(
            dir.join("telemetry/dt=1970-01-01/hour=00/.tmp-1-iot-0-30-99.parquet"),
            b"torn",
        )
        .unwrap();
        assert_eq!(
            lake.highest_offset("telemetry", "iot", 0).unwrap(),
            Some(29)
        );
        assert_eq!(
            lake.highest_offset("telemetry", "iot", 1).unwrap(),
            Some(500)
        );
        assert_eq!(lake.highest_offset("telemetry", "iot", 2).unwrap(), None);
        assert_eq!(lake.highest_offset("other", "iot", 0).unwrap(), None);
        fs::remove_dir_all(&dir).unwrap();
    }
}
