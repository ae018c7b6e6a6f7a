//! The writer: a closed window becomes one encrypted Parquet file in the lake, on the writer
//! thread (or the loop's, at a revoke or stop).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use lakeseal_keyclient::{DekCache, KeyService};
use tokio::runtime::Handle;
use tokio::time::Instant;

use super::dead_letters::DeadLetterProducer;
use super::{Pending, TopicPartition, Totals, now_ms};
use crate::config::StageConfig;
use crate::encrypted_parquet::{self, WrappedDek};
use crate::lake::{FileKey, Lake};
use crate::{Error, Result};

/// Why a window could not be written now.
#[derive(Debug)]
pub(super) enum FlushError {
    /// The key core or the disk said no for now: keep the window, pause, retry.
    Blocked(String),
    /// Something retrying will not fix: stop without committing.
    Fatal(Error),
}

impl From<Error> for FlushError {
    fn from(e: Error) -> Self {
        FlushError::Fatal(e)
    }
}

/// What the writer thread gives back: the window, and whether it is in the lake.
pub(super) type Written = (TopicPartition, Pending, Result<(), FlushError>);

/// Everything that turns a closed window into a lake file: shared by the loop and the writer.
pub(super) struct Sink<K> {
    pub(super) config: StageConfig,
    pub(super) dead_letters: DeadLetterProducer,
    pub(super) keys: DekCache<K>,
    pub(super) lake: Lake,
    pub(super) runtime: Handle,
    pub(super) totals: Arc<Totals>,
    /// Plain Parquet, no key service: the throughput benchmark's baseline only (set by
    /// `Stage::unencrypted_benchmark_baseline`, which only exists for the benches).
    pub(super) plaintext_baseline: AtomicBool,
}

pub(super) fn writer_gone() -> FlushError {
    FlushError::Fatal(Error::Lake("the writer thread stopped".into()))
}

/// Refuses a local lake the stage could not write to, at start rather than at the first window.
pub(super) fn check_writable(root: &std::path::Path) -> Result<()> {
    let cannot = |e: std::io::Error| {
        Error::Config(format!("sink.url: cannot write to {}: {e}", root.display()))
    };
    std::fs::create_dir_all(root).map_err(cannot)?;
    let probe = root.join(format!(".lakeseal-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(cannot)?;
    std::fs::remove_file(&probe).map_err(cannot)
}

impl<K: KeyService + 'static> Sink<K> {
    /// The writer thread: writes each window it is handed and gives it back, until the loop is
    /// gone.
    pub(super) fn serve(
        &self,
        jobs: &mpsc::Receiver<(TopicPartition, Pending)>,
        written: &mpsc::Sender<Written>,
    ) {
        for (tp, mut window) in jobs {
            let result = self.write(&mut window, &tp);
            if written.send((tp, window, result)).is_err() {
                break;
            }
        }
    }

    /// The window as an encrypted Parquet file under a data key of its own.
    pub(super) fn encrypt(&self, topic: &str, pending: &Pending) -> Result<Vec<u8>, FlushError> {
        let closed = &pending.closed;
        let context = self.config.context_for(topic);
        let size = u64::try_from(closed.batch.get_array_memory_size()).unwrap_or(u64::MAX);
        let dek = self
            .runtime
            .block_on(
                self.keys
                    .data_key(&self.config.key_id, &context, pending.id, size),
            )
            .map_err(|e| FlushError::Blocked(format!("data key: {e}")))?;
        let wrapped = WrappedDek::new(dek.wrapped(), &context);
        let bytes = encrypted_parquet::write(
            std::slice::from_ref(&closed.batch),
            self.config.schema.arrow(),
            self.config.compression,
            dek.key(),
            dek.key_arn(),
            &wrapped,
        )?;
        drop(dek);
        self.keys.end_window(pending.id);
        Ok(bytes)
    }

    /// Makes one closed window durable in the lake (its dead letters delivered first); the caller
    /// commits past it.
    pub(super) fn write(
        &self,
        pending: &mut Pending,
        (topic, partition): &TopicPartition,
    ) -> Result<(), FlushError> {
        let started = Instant::now();
        let _span = tracing::info_span!(
            "window",
            %topic,
            partition,
            first = pending.closed.first,
            last = pending.closed.last
        )
        .entered();
        // Dead letters first: once the offsets are committed, nothing may be missing from the
        // dead-letter topic.
        self.dead_letters.deliver(&pending.dead_letters)?;
        let closed = &pending.closed;
        let bytes = if self.plaintext_baseline.load(Ordering::Relaxed) {
            let mut out = Vec::new();
            let schema = self.config.schema.arrow();
            let properties = encrypted_parquet::layout(&schema, self.config.compression).build();
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut out, schema, Some(properties))
                    .map_err(Error::from)?;
            writer.write(&closed.batch).map_err(Error::from)?;
            writer.close().map_err(Error::from)?;
            out
        } else {
            self.encrypt(topic, pending)?
        };
        let file_size = bytes.len() as u64;
        let key = FileKey {
            table: self.config.schema.table().to_owned(),
            topic: topic.clone(),
            partition: *partition,
            first: closed.first,
            last: closed.last,
            event_time_ms: closed.first_event_ms.unwrap_or_else(now_ms),
        };
        match self.runtime.block_on(self.lake.write(&key, bytes)) {
            Ok(path) => {
                self.totals.files.fetch_add(1, Ordering::Relaxed);
                self.totals
                    .records
                    .fetch_add(closed.batch.num_rows() as u64, Ordering::Relaxed);
                metrics::counter!("lakeseal_stage_records_total", "outcome" => "written")
                    .increment(closed.batch.num_rows() as u64);
                metrics::counter!("lakeseal_stage_files_written_total").increment(1);
                metrics::counter!("lakeseal_stage_file_bytes_total").increment(file_size);
                metrics::histogram!("lakeseal_stage_file_write_duration_seconds")
                    .record(started.elapsed().as_secs_f64());
                tracing::info!(%path, rows = closed.batch.num_rows(), first = closed.first, last = closed.last, "window written");
            }
            // The same offsets, so the same records: written before a crash, not yet committed.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                tracing::info!(
                    first = closed.first,
                    last = closed.last,
                    "window already in the lake"
                );
            }
            Err(e) => return Err(FlushError::Blocked(format!("lake write: {e}"))),
        }
        Ok(())
    }
}
