//! `lakeseal stage run`: consume, decode into per-partition windows, write each closed window as
//! one encrypted file, and only then commit its offsets.
//!
//! The loop runs on one thread with a `BaseConsumer`, so librdkafka's rebalance callbacks — which
//! run inside `poll` — never race the loop. Records come a batch at a time from a queue of the
//! stage's own, to which each partition is forwarded as it is assigned (`lakeseal-kafka-batch`);
//! `poll` still serves rebalances, commit results and errors. The loop decodes each batch into
//! the partitions' windows. A window that closes is handed to one writer thread (encode,
//! encrypt, lake write) while the loop goes on decoding; the loop commits each window's offsets
//! when the writer gives it back, in order: a partition has at most one window with the writer.
//!
//! * **Assign**: a partition resumes after the highest offset already in the lake or at the
//!   committed offset, whichever is later; records below that point are skipped, never rewritten.
//! * **Revoke**: the windows with the writer come back first; then the revoked partitions'
//!   windows are written and committed, two at a time (the writer thread takes one while the
//!   loop's thread writes the next), before the partitions are given up. One that
//!   cannot be written (key core down) is dropped unwritten and uncommitted, so the next owner
//!   reads it again; a *lost* partition (the group moved on without us) is dropped without
//!   writing, since another process may own it already. Records of a revoked partition that
//!   librdkafka still held are left to the next owner.
//! * **Key-core trouble** (throttling, outage, a disabled key): the closed window stays in memory
//!   as `pending`, consumption pauses, the write is retried with backoff, and consumption resumes
//!   once it lands. Nothing is written unencrypted; nothing is committed that is not in the lake.
//! * **Dead letters**: a record that does not decode goes to the dead-letter topic with its
//!   reason and source; its delivery is awaited before the window's offsets are committed.
//! * **Stop** (SIGTERM/SIGINT, by the caller's flag): every window is written and committed, two
//!   at a time as at a revoke.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use hashbrown::HashMap;
use lakeseal_kafka_batch::{Forwarding, Record, RecordQueue};
use lakeseal_keyclient::{DekCache, KeyService};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaResult;
use tokio::runtime::Handle;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use self::dead_letters::{DeadLetterProducer, DeadLetters};
use self::kafka::{kafka, kafka_config, record};
use self::partitions::{Partition, Partitions, Shared, Taken, TopicPartitionRef};
use self::rebalance::{Rebalancer, StageConsumer};
use self::writer::{FlushError, Sink, check_writable};
use crate::broker_errors::{Client, Trouble};
use crate::config::StageConfig;
use crate::health::Health;
use crate::lake::Lake;
use crate::secrets::{SaslCredentials, StageSecrets};
use crate::window::ClosedWindow;
use crate::{Error, Result};

mod dead_letters;
mod kafka;
mod partitions;
mod rebalance;
mod writer;

pub use kafka::FETCH_QUEUE_BACKOFF_MS;
pub(crate) use kafka::login_probe;

/// Records taken from librdkafka at once, before any is decoded (see [`Stage::run`]).
const BATCH: usize = 256;

/// The longest the loop waits for records: rebalances, commit results and errors wait on the
/// consumer's own queue meanwhile.
const MAX_WAIT: Duration = Duration::from_millis(20);

/// Windows the writer thread may hold at once, all partitions together (each has one at most):
/// one thread writes them in turn, so more queued would only hold memory.
const WRITER_QUEUE: usize = 4;

/// When the loop looks at its windows next. Between looks a record costs one lock of the
/// partition map, not a scan of every window.
struct Schedule {
    /// Consumption is paused while the key core or the lake says no.
    paused: bool,
    backoff: Duration,
    /// Blocked: when to try again.
    retry_at: Option<Instant>,
    /// The earliest age deadline of an open window, at most 200 ms away.
    next_check: Instant,
}

impl Schedule {
    fn due(&self, now: Instant) -> bool {
        now >= self.retry_at.unwrap_or(self.next_check)
    }
}

/// The longest the stop path keeps retrying a window the key core will not take.
const STOP_PATIENCE: Duration = Duration::from_secs(30);

/// A partition of a topic.
type TopicPartition = (String, i32);

/// A closed window not yet committed, and the dead letters it must wait for.
struct Pending {
    closed: ClosedWindow,
    dead_letters: Arc<DeadLetters>,
    id: u64,
}

/// Counts since start, for logs and tests.
#[derive(Debug, Default)]
pub struct Totals {
    /// Records written to the lake.
    pub records: AtomicU64,
    /// Records sent to the dead-letter topic.
    pub dead_letters: AtomicU64,
    /// Records skipped because the lake already holds them (replay after a crash or rebalance).
    pub skipped: AtomicU64,
    /// Files written.
    pub files: AtomicU64,
    /// Windows given up unwritten at a revoke (their records are read again by the next owner).
    pub dropped_windows: AtomicU64,
    /// Records taken from the broker into a window or the dead-letter topic.
    pub consumed: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running stage: one consumer in its group, one dead-letter producer, one key client.
pub struct Stage<K: KeyService + 'static> {
    shared: Arc<Shared<K>>,
    /// The consumer, and the queue its partitions' records are taken from in batches.
    records: RecordQueue<Rebalancer<K>>,
    /// New SASL credentials from the `secret://` refresher, for both clients.
    new_credentials: Option<Mutex<UnboundedReceiver<SaslCredentials>>>,
}

impl<K: KeyService + 'static> std::fmt::Debug for Stage<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage")
            .field("topics", &self.shared.sink.config.topics)
            .field("totals", &self.shared.sink.totals)
            .finish_non_exhaustive()
    }
}

impl<K: KeyService + 'static> Stage<K> {
    /// Connects to the brokers (lazily, as librdkafka does) and subscribes; call [`Stage::run`]
    /// from a thread that may block, with `runtime` the handle the key client runs on. The stage
    /// keeps `health` up to date. `secrets` holds the `secret://` values, read already
    /// ([`StageSecrets::resolve`]); other secret properties are resolved here
    /// ([`kafka::client_configs`]).
    pub fn new(
        config: StageConfig,
        keys: DekCache<K>,
        runtime: Handle,
        health: Health,
        secrets: StageSecrets,
    ) -> Result<Self> {
        let (consumer_config, producer_config) =
            kafka::client_configs(&config.kafka, &secrets.kafka)?;
        let trouble = Arc::new(Trouble::new(
            health,
            config.topics.clone(),
            secrets.refused.clone(),
        ));
        let dead_letters =
            DeadLetterProducer::new(&producer_config, &config.dlq_topic, trouble.clone())?;
        if let crate::lake::Location::Local(root) = &config.sink {
            check_writable(root)?;
        }
        let lake = Lake::open_with(&config.sink, secrets.sink_keys.clone())
            .map_err(|e| Error::Config(format!("sink: {e}")))?;
        let sink = Arc::new(Sink {
            config,
            dead_letters,
            keys,
            lake,
            runtime,
            totals: Arc::new(Totals::default()),
            plaintext_baseline: AtomicBool::new(false),
        });
        let (to_writer, jobs) = mpsc::channel();
        let (written, from_writer) = mpsc::channel();
        let writer = sink.clone();
        std::thread::Builder::new()
            .name("lakeseal-writer".into())
            .spawn(move || writer.serve(&jobs, &written))
            .map_err(|e| Error::Lake(format!("cannot start the writer thread: {e}")))?;
        let shared = Arc::new(Shared {
            sink,
            partitions: Mutex::new(Partitions {
                map: HashMap::new(),
                to_writer,
                from_writer,
                with_writer: 0,
            }),
            trouble,
            next_window: AtomicU64::new(0),
            bytes_in: metrics::counter!("lakeseal_stage_bytes_total"),
        });
        let forwarding = Forwarding::new();
        let consumer: StageConsumer<K> = consumer_config
            .create_with_context(Rebalancer {
                shared: shared.clone(),
                forwarding: forwarding.clone(),
            })
            .map_err(|e| kafka_config("consumer", e))?;
        let records = RecordQueue::new(consumer, forwarding);
        let topics: Vec<&str> = shared
            .sink
            .config
            .topics
            .iter()
            .map(String::as_str)
            .collect();
        records
            .consumer()
            .subscribe(&topics)
            .map_err(|e| kafka("subscribe", e))?;
        Ok(Self {
            shared,
            records,
            new_credentials: secrets.updates.map(Mutex::new),
        })
    }

    /// Gives both clients the SASL credentials the `secret://` refresher sent, if any. A client
    /// that refuses them keeps the ones it has (and the broker's refusal, if it comes, wakes the
    /// refresher again).
    fn take_new_credentials(&self) {
        let Some(updates) = &self.new_credentials else {
            return;
        };
        while let Ok(new) = lock(updates).try_recv() {
            let consumer = lakeseal_kafka_sasl::set_credentials(
                self.records.consumer().client(),
                &new.username,
                &new.password,
            );
            let producer = self
                .shared
                .sink
                .dead_letters
                .set_credentials(&new.username, &new.password);
            match consumer.and(producer) {
                Ok(()) => {
                    self.shared.trouble.credentials_changed();
                    tracing::info!(versions = %new.versions, "new SASL credentials in use");
                }
                Err(e) => tracing::warn!(
                    versions = %new.versions,
                    error = %e,
                    "cannot give the Kafka clients their new SASL credentials"
                ),
            }
        }
    }

    /// **Dangerous: the same stage writing UNENCRYPTED Parquet**, for the throughput
    /// benchmark's "encryption off" baseline only. It exists only with the crate's
    /// `unencrypted-benchmark-baseline` feature, which only the benches crate turns on; nothing
    /// in `stage.toml` or the command line reaches it. Call it before [`Stage::run`].
    #[cfg(feature = "unencrypted-benchmark-baseline")]
    pub fn unencrypted_benchmark_baseline(self) -> Self {
        self.shared
            .sink
            .plaintext_baseline
            .store(true, Ordering::Relaxed);
        self
    }

    /// The counters, shared with the running stage.
    pub fn totals(&self) -> Arc<Totals> {
        self.shared.sink.totals.clone()
    }

    /// Runs until `stop` is set, then writes and commits every window. Blocks the thread.
    ///
    /// Returns early with an error that waiting will not cure (see `broker_errors`): nothing of
    /// the open windows is committed, so a restarted stage reads them again.
    pub fn run(self, stop: &AtomicBool) -> Result<()> {
        let result = self.consume(stop).and_then(|()| self.finish());
        if let Err(e) = &result {
            self.shared.trouble.health().set_failed(e.to_string());
            // Closing the consumer leaves the group and dropping the producer flushes: both talk
            // to a broker that may be refusing us (a wrong password holds a close for minutes).
            // Nothing past what the lake holds is committed either way, so the clients close on
            // a thread of their own and the error is returned now.
            let closing = std::thread::Builder::new()
                .name("lakeseal-close".into())
                .spawn(move || drop(self));
            if let Err(e) = closing {
                tracing::warn!(error = %e, "no thread to close the Kafka clients on; closed here");
            }
        }
        result
    }

    fn consume(&self, stop: &AtomicBool) -> Result<()> {
        let mut schedule = Schedule {
            paused: false,
            backoff: Duration::from_millis(100),
            retry_at: None,
            next_check: Instant::now(),
        };
        let mut batch = self.records.batch(BATCH);
        while !stop.load(Ordering::Relaxed) {
            if let Some(e) = self.shared.trouble.take_fatal() {
                return Err(e);
            }
            self.take_new_credentials();
            let now = Instant::now();
            if schedule.due(now) {
                self.check(&mut schedule, now)?;
            }
            // Blocked, nothing is due before the retry; otherwise the next check.
            let wait = schedule
                .retry_at
                .unwrap_or(schedule.next_check)
                .saturating_duration_since(now)
                .clamp(Duration::from_millis(5), MAX_WAIT);
            // Rebalances (which forward assigned partitions to the record queue), commit results
            // and errors come from the consumer's own queue; records from it only for a partition
            // that could not be forwarded.
            while let Some(polled) = self.records.consumer().poll(Duration::ZERO) {
                match polled {
                    Ok(message) => self.take_in([Ok(record(&message))], &mut schedule, now)?,
                    Err(e) => self.shared.trouble.report(Client::Consumer, &e, ""),
                }
            }
            // Records come a batch at a time, then are taken in: alternating librdkafka's queue
            // and the decoder record by record, and taking them one `poll` (one event) each, cost
            // about half as much CPU again a record (throughput bench). A rebalance revokes
            // partitions only between batches.
            self.records.take(wait, &mut batch);
            self.take_in(batch.iter(), &mut schedule, now)?;
        }
        Ok(())
    }

    /// Records into their windows, the partitions locked once for all. A window that fills up
    /// is written at once, unless the key core is being waited for.
    fn take_in<'r>(
        &self,
        records: impl IntoIterator<Item = KafkaResult<Record<'r>>>,
        schedule: &mut Schedule,
        now: Instant,
    ) -> Result<()> {
        let mut partitions = lock(&self.shared.partitions);
        let mut taken = Taken::default();
        // A batch holds runs of one partition's records: the partition is looked up once a run.
        let mut current: Option<(&'r str, i32, Option<&mut Partition>)> = None;
        for polled in records {
            let record = match polled {
                Ok(record) => record,
                Err(e) => {
                    self.shared.trouble.report(Client::Consumer, &e, "");
                    continue;
                }
            };
            let same = matches!(&current, Some((topic, p, _))
                // librdkafka names each topic once (records of a topic share the string).
                if *p == record.partition && topic.as_ptr() == record.topic.as_ptr());
            if !same {
                let found = partitions
                    .map
                    .get_mut(&TopicPartitionRef(record.topic, record.partition));
                current = Some((record.topic, record.partition, found));
            }
            let Some((_, _, Some(partition))) = &mut current else {
                // Revoked since librdkafka queued the record: nothing of it was taken or
                // committed, and the partition's next owner reads it from the committed offset.
                tracing::debug!(
                    topic = record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    "record of a partition no longer assigned; left to its next owner"
                );
                continue;
            };
            if self.shared.accept(partition, &record, &mut taken, now)?
                && schedule.retry_at.is_none()
            {
                current = None;
                drop(partitions);
                self.shared.count(&mut taken);
                self.check(schedule, now)?;
                partitions = lock(&self.shared.partitions);
            }
        }
        self.shared.count(&mut taken);
        Ok(())
    }

    /// Commits what the writer finished, writes what is pending, hands due windows to the writer;
    /// pauses consumption while the key core or the lake says no, and resumes once it answers.
    fn check(&self, schedule: &mut Schedule, now: Instant) -> Result<()> {
        // Delivery reports and errors of the dead-letter producer (see [`DeadLetterProducer`]).
        self.shared.sink.dead_letters.poll(Duration::ZERO);
        match self.shared.flush_due(self.records.consumer(), now, false) {
            Ok(()) => {
                schedule.retry_at = None;
                schedule.backoff = Duration::from_millis(100);
                if schedule.paused {
                    self.shared.trouble.health().set_paused(None);
                    self.set_paused(false);
                    schedule.paused = false;
                    tracing::info!("the key core answers again; consuming");
                }
            }
            Err(FlushError::Blocked(why)) => {
                if !schedule.paused {
                    tracing::warn!(error = %why, "cannot write a window; pausing consumption and retrying");
                }
                // Again each time: partitions assigned since are not paused yet.
                self.set_paused(true);
                self.shared.trouble.health().set_paused(Some(why));
                schedule.paused = true;
                schedule.retry_at = Some(now + schedule.backoff);
                schedule.backoff = (schedule.backoff * 2).min(Duration::from_secs(5));
            }
            Err(FlushError::Fatal(e)) => return Err(e),
        }
        let ceiling = now + Duration::from_millis(200);
        schedule.next_check = self
            .shared
            .next_deadline()
            .map_or(ceiling, |d| d.min(ceiling));
        Ok(())
    }

    fn set_paused(&self, pause: bool) {
        metrics::gauge!("lakeseal_stage_paused").set(if pause { 1.0 } else { 0.0 });
        let Ok(assignment) = self.records.consumer().assignment() else {
            return;
        };
        let result = if pause {
            self.records.consumer().pause(&assignment)
        } else {
            self.records.consumer().resume(&assignment)
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, pause, "cannot pause or resume partitions");
        }
    }

    /// Writes and commits every window, retrying a blocked key core for a while, then leaves the
    /// group.
    fn finish(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            match self
                .shared
                .flush_due(self.records.consumer(), Instant::now(), true)
            {
                Ok(()) => break,
                Err(FlushError::Fatal(e)) => return Err(e),
                Err(FlushError::Blocked(why)) if started.elapsed() >= STOP_PATIENCE => {
                    return Err(Error::Kafka(format!(
                        "stopped with windows unwritten and uncommitted (they will be read again): {why}"
                    )));
                }
                Err(FlushError::Blocked(_)) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
        self.records.consumer().unsubscribe();
        let t = &self.shared.sink.totals;
        tracing::info!(
            records = t.records.load(Ordering::Relaxed),
            dead_letters = t.dead_letters.load(Ordering::Relaxed),
            files = t.files.load(Ordering::Relaxed),
            "stopped; every window written and committed"
        );
        Ok(())
    }
}

fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
