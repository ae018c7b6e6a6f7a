//! The stream stage: Kafka → decode → Arrow → per-partition windows → Parquet Modular
//! Encryption → lake → offset commit.
//!
//! Built so far: [`config`] (`stage.toml`, refused at start with the field's path), [`schema`]
//! (the table's columns), [`window`] (one partition's
//! open window and its limits), [`decode`] (JSON records into
//! Arrow columns, all or nothing per record), [`lake`] (atomic, durable, never-overwriting local
//! writes and the resume scan) and [`encrypted_parquet`] (one window as an encrypted
//! Parquet file that pyarrow and DuckDB can read). The Kafka consumer, windows, the S3 sink, the
//! dead-letter topic and the `stage run` loop that commits offsets after each write come next.
#![warn(missing_docs)]

pub mod config;
pub mod decode;
pub mod encrypted_parquet;
pub mod lake;
pub mod schema;
pub mod window;

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
    /// The key service failed.
    #[error(transparent)]
    Key(#[from] lakeseal_keyclient::Error),
}

/// `Result` with the stage's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
