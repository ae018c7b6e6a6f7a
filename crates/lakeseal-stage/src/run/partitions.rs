//! The assigned partitions and their windows: taking records in, closing windows when due, handing
//! them to the writer and taking them back, and committing what the lake holds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use hashbrown::{Equivalent, HashMap};
use lakeseal_kafka_batch::Record;
use lakeseal_keyclient::KeyService;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;

use super::dead_letters::DeadLetters;
use super::writer::{FlushError, Sink, Written, writer_gone};
use super::{Pending, TopicPartition, WRITER_QUEUE, lock};
use crate::broker_errors::Trouble;
use crate::window::Window;
use crate::{Error, Result};

/// A [`TopicPartition`] looked up by the names a message carries, without copying them.
pub(super) struct TopicPartitionRef<'a>(pub(super) &'a str, pub(super) i32);

/// Hashes as the `(String, i32)` it stands for.
impl std::hash::Hash for TopicPartitionRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.0, self.1).hash(state);
    }
}

impl Equivalent<TopicPartition> for TopicPartitionRef<'_> {
    fn equivalent(&self, key: &TopicPartition) -> bool {
        self.1 == key.1 && self.0 == key.0
    }
}

/// Records taken in and not yet counted in [`Totals`] and the metrics.
#[derive(Default)]
pub(super) struct Taken {
    pub(super) records: u64,
    pub(super) bytes: u64,
}

/// One assigned partition: its open window, and where it stands with the writer.
pub(super) struct Partition {
    pub(super) open: Window,
    pub(super) open_dead_letters: Arc<DeadLetters>,
    /// A closed window that could not be written yet (key core or lake said no): written again,
    /// on the loop's thread, before the partition closes another.
    pub(super) pending: Option<Pending>,
    /// A closed window of this partition is with the writer thread.
    pub(super) writing: bool,
    /// The lowest offset not yet taken: anything below is in the lake or in a window already.
    pub(super) next: i64,
}

/// The assigned partitions, and the way to and from the writer thread.
pub(super) struct Partitions {
    pub(super) map: HashMap<TopicPartition, Partition>,
    pub(super) to_writer: mpsc::Sender<(TopicPartition, Pending)>,
    pub(super) from_writer: mpsc::Receiver<Written>,
    /// Windows handed to the writer and not yet back.
    pub(super) with_writer: usize,
}

/// What to wait for from the writer thread before going on.
pub(super) enum Wait<'a> {
    /// Nothing: take what it has finished.
    Nothing,
    /// Until this partition has no window with the writer and the writer has room for one more.
    For(&'a TopicPartition),
    /// Until every window is back.
    All,
}

/// Which open window [`Shared::flush_partition`] closes, and who writes it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Close {
    /// One that is due, for the writer thread.
    IfDue,
    /// Any, for the writer thread.
    ByWriter,
    /// Any, written here and now.
    Here,
}

/// What the loop, the rebalance callbacks and the writer share.
pub(super) struct Shared<K> {
    pub(super) sink: Arc<Sink<K>>,
    pub(super) partitions: Mutex<Partitions>,
    /// Errors met inside librdkafka's callbacks, which cannot return one, and the health.
    pub(super) trouble: Arc<Trouble>,
    pub(super) next_window: AtomicU64,
    /// `lakeseal_stage_bytes_total`, moved by every record: registered once, not looked up per
    /// record.
    pub(super) bytes_in: metrics::Counter,
}

impl<K: KeyService + 'static> Shared<K> {
    /// Takes one record of `partition` into its window, or to the dead-letter topic. True when
    /// that window has reached a limit and should be written now.
    pub(super) fn accept(
        &self,
        partition: &mut Partition,
        message: &Record<'_>,
        taken: &mut Taken,
        now: Instant,
    ) -> Result<bool> {
        let offset = message.offset;
        if offset < partition.next {
            self.sink.totals.skipped.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("lakeseal_stage_records_total", "outcome" => "skipped").increment(1);
            return Ok(false);
        }
        if offset > partition.next && partition.next > 0 {
            // Kafka leaves holes for compaction and transaction markers; anything else is a
            // broker that skipped records, worth seeing.
            tracing::warn!(
                topic = message.topic,
                partition = message.partition,
                from = partition.next,
                to = offset - 1,
                "offsets never delivered (compacted, transaction markers, or skipped by the broker)"
            );
        }
        partition.next = offset + 1;
        let payload = message.payload.unwrap_or_default();
        taken.records += 1;
        taken.bytes += payload.len() as u64;
        if let Err(reason) = partition.open.push(offset, payload) {
            self.sink.dead_letters.send(
                message,
                &reason.to_string(),
                &partition.open_dead_letters,
            )?;
            self.sink
                .totals
                .dead_letters
                .fetch_add(1, Ordering::Relaxed);
            metrics::counter!("lakeseal_stage_records_total", "outcome" => "dead_letter")
                .increment(1);
        }
        Ok(partition.open.should_close(now))
    }

    /// Adds what was taken in to the shared counters (once a batch: they are atomics other
    /// threads read) and starts `taken` again.
    pub(super) fn count(&self, taken: &mut Taken) {
        let Taken { records, bytes } = std::mem::take(taken);
        if records > 0 {
            self.sink
                .totals
                .consumed
                .fetch_add(records, Ordering::Relaxed);
            self.bytes_in.increment(bytes);
        }
    }

    /// The earliest time an open window must close.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        lock(&self.partitions)
            .map
            .values()
            .filter_map(|p| p.open.deadline())
            .min()
    }

    /// Commits what the writer finished and writes every pending window; closes every open window
    /// that is due for the writer — or, with `all` (stop), writes and commits every window
    /// ([`Shared::flush_all`]).
    pub(super) fn flush_due<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        now: Instant,
        all: bool,
    ) -> Result<(), FlushError> {
        let mut partitions = lock(&self.partitions);
        // A partition's window still with the writer is waited for by `flush_partition`.
        self.collect(consumer, &mut partitions, Wait::Nothing)?;
        let due: Vec<TopicPartition> = partitions
            .map
            .iter()
            .filter(|(_, p)| p.pending.is_some() || all || p.open.should_close(now))
            .map(|(tp, _)| tp.clone())
            .collect();
        if all {
            return self.flush_all(consumer, &mut partitions, &due);
        }
        for tp in &due {
            self.flush_partition(consumer, &mut partitions, tp, Close::IfDue)?;
        }
        Ok(())
    }

    /// Writes and commits every window of `tps` before returning (stop, revoke), two at a time:
    /// the writer thread takes one partition's while this thread writes the next's. Every
    /// window is tried and back from the writer before the first error is returned; one that
    /// could not be written is left as its partition's `pending` (or still open).
    pub(super) fn flush_all<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partitions: &mut Partitions,
        tps: &[TopicPartition],
    ) -> Result<(), FlushError> {
        let mut outcome = Ok(());
        for (i, tp) in tps.iter().enumerate() {
            let close = if i % 2 == 0 {
                Close::ByWriter
            } else {
                Close::Here
            };
            let flushed = self.flush_partition(consumer, partitions, tp, close);
            outcome = outcome.and(flushed);
        }
        let back = self.collect(consumer, partitions, Wait::All);
        outcome.and(back)
    }

    /// Writes the partition's pending window, then closes its open one as `close` says. Its
    /// previous window comes back from the writer first, so offsets are committed in order.
    pub(super) fn flush_partition<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partitions: &mut Partitions,
        tp: &TopicPartition,
        close: Close,
    ) -> Result<(), FlushError> {
        self.collect(consumer, partitions, Wait::For(tp))?;
        let Some(partition) = partitions.map.get_mut(tp) else {
            return Ok(());
        };
        self.write_pending(consumer, tp, partition)?;
        if close == Close::IfDue && !partition.open.should_close(Instant::now()) {
            return Ok(());
        }
        let closed = partition
            .open
            .close()
            .map_err(|e| FlushError::Fatal(Error::Arrow(e.to_string())))?;
        let Some(closed) = closed else {
            return Ok(());
        };
        metrics::counter!("lakeseal_stage_windows_closed_total").increment(1);
        let window = Pending {
            closed,
            dead_letters: std::mem::take(&mut partition.open_dead_letters),
            id: self.next_window.fetch_add(1, Ordering::Relaxed),
        };
        if close == Close::Here {
            partition.pending = Some(window);
            self.write_pending(consumer, tp, partition)?;
        } else {
            partition.writing = true;
            partitions.with_writer += 1;
            partitions
                .to_writer
                .send((tp.clone(), window))
                .map_err(|_| writer_gone())?;
        }
        Ok(())
    }

    /// Writes the partition's pending window here and now, and commits past it; on failure it
    /// stays pending.
    pub(super) fn write_pending<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        tp: &TopicPartition,
        partition: &mut Partition,
    ) -> Result<(), FlushError> {
        if let Some(pending) = partition.pending.as_mut() {
            self.sink.write(pending, tp)?;
            self.commit(consumer, tp, pending.closed.last);
            partition.pending = None;
        }
        Ok(())
    }

    /// Takes the windows the writer gave back, waiting as `wait` says: commits those in the lake
    /// and keeps the others as their partition's `pending` (then says `Blocked`, once every
    /// window waited for is back).
    pub(super) fn collect<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partitions: &mut Partitions,
        wait: Wait<'_>,
    ) -> Result<(), FlushError> {
        let mut blocked = None;
        loop {
            let waiting = match wait {
                Wait::Nothing => false,
                Wait::For(tp) => {
                    partitions.with_writer >= WRITER_QUEUE
                        || partitions.map.get(tp).is_some_and(|p| p.writing)
                }
                Wait::All => partitions.with_writer > 0,
            };
            let (tp, window, result) = if waiting {
                partitions.from_writer.recv().map_err(|_| writer_gone())?
            } else {
                match partitions.from_writer.try_recv() {
                    Ok(written) => written,
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return Err(writer_gone()),
                }
            };
            partitions.with_writer -= 1;
            let Some(partition) = partitions.map.get_mut(&tp) else {
                continue;
            };
            partition.writing = false;
            match result {
                Ok(()) => self.commit(consumer, &tp, window.closed.last),
                Err(FlushError::Blocked(why)) => {
                    partition.pending = Some(window);
                    blocked.get_or_insert(why);
                }
                Err(fatal) => return Err(fatal),
            }
        }
        blocked.map_or(Ok(()), |why| Err(FlushError::Blocked(why)))
    }

    /// Commits past a window that is in the lake.
    pub(super) fn commit<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        (topic, partition): &TopicPartition,
        last: i64,
    ) {
        let mut offsets = TopicPartitionList::new();
        if let Err(e) = offsets.add_partition_offset(topic, *partition, Offset::Offset(last + 1)) {
            tracing::warn!(%topic, partition, error = %e, "cannot name the offset to commit");
            return;
        }
        // The lake is the record of what is done; a failed commit only means some replay, which
        // the resume point skips.
        if let Err(e) = consumer.commit(&offsets, CommitMode::Sync) {
            tracing::warn!(%topic, partition, error = %e, "offset commit failed; the lake still says where to resume");
        }
    }
}
