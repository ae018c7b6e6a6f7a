//! The lake: where each window's file goes, and how the files are found again.
//!
//! A file is `<root>/<table>/dt=YYYY-MM-DD/hour=HH/<topic>-<partition>-<first>-<last>.parquet`,
//! `dt` and `hour` from an event time (UTC) ([`FileKey`]); the name alone says which offsets it
//! holds ([`LakeFile`]), so a listing is enough to resume a partition or check coverage. Two
//! stores keep the same promise — a file appears whole or not at all, and is never replaced:
//! a local directory ([`LocalLake`]) and an S3 bucket ([`S3Lake`]).

mod file;
mod local;
mod s3;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

pub use self::file::{FileKey, LakeFile, list_local, parse_file_name};
pub use self::local::LocalLake;
pub use self::s3::{S3Keys, S3Lake, S3Location};

/// Where a lake is: a local directory or an S3 bucket and prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// An S3 bucket and key prefix.
    S3(S3Location),
}

impl Location {
    /// Reads a lake's URL: `file://<path>`, `s3://<bucket>[/<prefix>]`, or (when `bare_paths`)
    /// a plain path. The one parser of lake URLs, for `stage.toml` and the command line alike;
    /// written by hand because it is three prefixes (`url` would refuse `file://./lake`, which
    /// `stage.toml` allows). An S3 location takes the `endpoint` and `region` given.
    pub fn parse(
        url: &str,
        bare_paths: bool,
        endpoint: Option<String>,
        region: Option<String>,
    ) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err("s3:// needs a bucket".into());
            }
            return Ok(Location::S3(S3Location {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                endpoint,
                region,
            }));
        }
        if bare_paths && !url.contains("://") {
            return Ok(Location::Local(PathBuf::from(url)));
        }
        Err(format!("{url:?} is not file:// or s3://"))
    }
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
    /// The lake at `location`; an S3 one signs with the environment's credentials.
    pub fn open(location: &Location) -> io::Result<Self> {
        Self::open_with(location, None)
    }

    /// The lake at `location`; an S3 one signs with `keys` if given.
    pub fn open_with(location: &Location, keys: Option<Arc<S3Keys>>) -> io::Result<Self> {
        Ok(match location {
            Location::Local(root) => Lake::Local(LocalLake::new(root)),
            Location::S3(location) => Lake::S3(S3Lake::new(location, keys)?),
        })
    }

    /// A lake named on the command line: a path, `file://` or `s3://bucket/prefix` URL (the
    /// endpoint from `AWS_ENDPOINT_URL`).
    pub fn from_url(url: &str) -> io::Result<Self> {
        let location = Location::parse(url, true, std::env::var("AWS_ENDPOINT_URL").ok(), None)
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        Self::open(&location)
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
        Ok(self
            .list(table)
            .await?
            .iter()
            .filter(|f| f.topic == topic && f.partition == partition)
            .map(|f| f.last)
            .max())
    }

    /// Every file under `dir` (a table, or any directory of the lake), in path order.
    pub async fn list(&self, dir: &str) -> io::Result<Vec<LakeFile>> {
        match self {
            Lake::Local(lake) => lake.list(dir),
            Lake::S3(lake) => lake.list(dir).await,
        }
    }

    /// A listed file's bytes.
    pub async fn get(&self, file: &LakeFile) -> io::Result<bytes::Bytes> {
        match self {
            Lake::Local(_) => std::fs::read(&file.path).map(Into::into),
            Lake::S3(lake) => lake.get(&file.path.to_string_lossy()).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_parser_reads_every_lake_url() {
        let s3 = |bucket: &str, prefix: &str| {
            Location::S3(S3Location {
                bucket: bucket.into(),
                prefix: prefix.into(),
                endpoint: None,
                region: None,
            })
        };
        let parse = |url, bare| Location::parse(url, bare, None, None);
        assert_eq!(
            parse("file://./lake", false),
            Ok(Location::Local("./lake".into()))
        );
        assert_eq!(parse("s3://lake", false), Ok(s3("lake", "")));
        assert_eq!(
            parse("s3://lake/warehouse/", false),
            Ok(s3("lake", "warehouse"))
        );
        assert_eq!(
            parse("/var/lake", true),
            Ok(Location::Local("/var/lake".into()))
        );
        assert!(
            parse("/var/lake", false).is_err(),
            "stage.toml wants a scheme"
        );
        assert_eq!(parse("s3:///x", true), Err("s3:// needs a bucket".into()));
        assert!(
            parse("ftp://x", true)
                .unwrap_err()
                .contains("not file:// or s3://")
        );
    }

    #[tokio::test]
    async fn resume_point_is_the_highest_offset_of_the_partition() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalLake::new(dir.path());
        let lake = Lake::Local(local.clone());
        assert_eq!(
            lake.highest_offset("telemetry", "iot", 0).await.unwrap(),
            None
        );
        let hour = 3_600_000;
        let key = file::test_key;
        local.write(&key("iot", 0, 0, 9, 0), b"a").unwrap();
        local.write(&key("iot", 0, 10, 19, hour), b"b").unwrap();
        local
            .write(&key("iot", 0, 20, 29, 25 * hour), b"c")
            .unwrap();
        local.write(&key("iot", 1, 0, 500, 0), b"d").unwrap();
        local
            .write(&key("iot-archive", 0, 0, 900, 0), b"e")
            .unwrap();
        std::fs::write(
            dir.path()
                .join("telemetry/dt=1970-01-01/hour=00/.tmp-1-iot-0-30-99.parquet"),
            b"torn",
        )
        .unwrap();
        let highest = |partition| lake.highest_offset("telemetry", "iot", partition);
        assert_eq!(highest(0).await.unwrap(), Some(29));
        assert_eq!(highest(1).await.unwrap(), Some(500));
        assert_eq!(highest(2).await.unwrap(), None);
        assert_eq!(lake.highest_offset("other", "iot", 0).await.unwrap(), None);
    }
}
