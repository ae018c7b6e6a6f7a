//! The stream stage: Kafka → decode → Arrow → per-partition windows → Parquet Modular
//! Encryption → lake → offset commit.
//!
//! * [`config`]: `stage.toml`, refused at start with the field's path.
//! * [`schema`] and [`decode`]: the table's columns; JSON records into Arrow, all or nothing.
//! * [`window`]: one partition's open window and its limits.
//! * [`encrypted_parquet`]: one window as a Parquet Modular Encryption file that pyarrow and
//!   DuckDB can read.
//! * [`lake`] and [`s3`]: atomic, durable, never-overwriting writes (a local directory or an S3
//!   bucket) and the resume scan.
//! * [`run`]: the consumer loop — windows, dead letters, rebalances, key-core back-pressure,
//!   commit after each durable write.
//! * [`read`]: decrypting and checking what is in the lake.
//! * [`health`]: what `/healthz` says; `broker_errors`: which broker errors stop the stage.
//! * [`secret_ref`]: `file://`, `env:` and `secret://` references for librdkafka properties;
//!   [`secrets`]: the `secret://` values read through the key core and kept current.
#![warn(missing_docs)]

mod broker_errors;
pub mod config;
pub mod decode;
pub mod encrypted_parquet;
pub mod health;
mod json;
pub mod keys;
pub mod lake;
pub mod read;
pub mod run;
pub mod schema;
pub mod secret_ref;
pub mod secrets;
pub mod verify;
pub mod window;

/// What the crate's tests share.
#[cfg(test)]
mod testing {
    /// A reproducible stream of numbers (xorshift64) from `state` (not zero): each call gives one
    /// below its argument.
    pub(crate) fn xorshift(mut state: u64) -> impl FnMut(usize) -> usize {
        move |n| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        }
    }
}

/// Errors of the stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Parquet could not write or read a file.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Footer key metadata or `wrappedDEK` that is not what this stage writes.
    #[error("{0}")]
    KeyMetadata(String),
    /// A configuration that cannot be used: the field's path and what was expected.
    #[error("bad configuration: {0}")]
    Config(String),
    /// The broker or librdkafka.
    #[error("kafka: {0}")]
    Kafka(String),
    /// The lake's storage.
    #[error("lake: {0}")]
    Lake(String),
    /// Bytes that are not a well-formed encrypted Parquet file.
    #[error("malformed file: {0}")]
    Malformed(String),
    /// Building the Arrow columns of a window.
    #[error("arrow: {0}")]
    Arrow(String),
    /// The key service failed.
    #[error(transparent)]
    Key(#[from] lakeseal_keyclient::Error),
}

/// `Result` with the stage's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
