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

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::Duration;

use hashbrown::{Equivalent, HashMap};
use lakeseal_kafka_batch::{Forwarding, Record, RecordQueue};
use lakeseal_keyclient::{DekCache, KeyService};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::time::Instant;

use crate::broker_errors::{Client, Trouble};
use crate::config::StageConfig;
use crate::encrypted_parquet::{self, WrappedDek};
use crate::health::Health;
use crate::lake::{FileKey, Lake};
use crate::secret_ref;
use crate::window::{ClosedWindow, Window};
use crate::{Error, Result};

/// librdkafka properties that only a consumer understands; the dead-letter producer gets the rest
/// (brokers, security, SASL, TLS, client id).
const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "group.protocol",
    "isolation.level",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "max.partition.fetch.bytes",
];

/// The stage's `fetch.queue.backoff.ms` unless the user sets one. librdkafka stops fetching a
/// partition whose prefetch queue is full and looks again only this long after (1 s by default):
/// a consumer that is at times slower than the broker — any that does work per record — drains
/// the queue in a fraction of that and then waits idle for the rest.
pub const FETCH_QUEUE_BACKOFF_MS: &str = "50";

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

/// Why a window could not be written now.
#[derive(Debug)]
enum FlushError {
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

type TopicPartition = (String, i32);

/// A [`TopicPartition`] looked up by the names a message carries, without copying them.
struct TopicPartitionRef<'a>(&'a str, i32);

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
struct Taken {
    records: u64,
    bytes: u64,
}

/// A closed window not yet committed, and the dead letters it must wait for.
struct Pending {
    closed: ClosedWindow,
    dead_letters: Arc<DeadLetters>,
    id: u64,
}

/// A window's dead letters on their way: each holds the window's `Arc` until its delivery report.
#[derive(Default)]
struct DeadLetters {
    /// Sent and not yet reported.
    outstanding: AtomicUsize,
    /// The first that failed.
    failed: Mutex<Option<KafkaError>>,
}

/// The dead-letter producer's context: delivery reports go to their window's [`DeadLetters`].
///
/// The producer is polled by whoever waits for a window's dead letters, and between checks by
/// the loop — not by a thread of its own: the `rdkafka` crate's polling thread (behind its
/// `FutureProducer`) waits 100 ms at a time and then spins through the last millisecond of each
/// wait (its timeout is rounded down to whole milliseconds, and 0 ms returns at once), about 1 %
/// of a core even when the stage is idle.
struct DeadLetterContext {
    trouble: Arc<Trouble>,
}

impl ClientContext for DeadLetterContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.trouble.report(Client::DeadLetters, &error, reason);
    }
}

impl ProducerContext for DeadLetterContext {
    type DeliveryOpaque = Arc<DeadLetters>;

    fn delivery(&self, result: &DeliveryResult<'_>, window: Arc<DeadLetters>) {
        if let Err((e, _)) = result {
            lock(&window.failed).get_or_insert_with(|| e.clone());
        }
        window.outstanding.fetch_sub(1, Ordering::Release);
    }
}

struct Partition {
    open: Window,
    open_dead_letters: Arc<DeadLetters>,
    /// A closed window that could not be written yet (key core or lake said no): written again,
    /// on the loop's thread, before the partition closes another.
    pending: Option<Pending>,
    /// A closed window of this partition is with the writer thread.
    writing: bool,
    /// The lowest offset not yet taken: anything below is in the lake or in a window already.
    next: i64,
}

/// What the writer thread gives back: the window, and whether it is in the lake.
type Written = (TopicPartition, Pending, Result<(), FlushError>);

/// The assigned partitions, and the way to and from the writer thread.
struct Partitions {
    map: HashMap<TopicPartition, Partition>,
    to_writer: mpsc::Sender<(TopicPartition, Pending)>,
    from_writer: mpsc::Receiver<Written>,
    /// Windows handed to the writer and not yet back.
    with_writer: usize,
}

/// What to wait for from the writer thread before going on.
enum Wait<'a> {
    /// Nothing: take what it has finished.
    Nothing,
    /// Until this partition has no window with the writer and the writer has room for one more.
    For(&'a TopicPartition),
    /// Until every window is back.
    All,
}

/// Which open window [`Shared::flush_partition`] closes, and who writes it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    /// One that is due, for the writer thread.
    IfDue,
    /// Any, for the writer thread.
    ByWriter,
    /// Any, written here and now.
    Here,
}

/// Everything that turns a closed window into a lake file: shared by the loop and the writer.
struct Sink<K> {
    config: StageConfig,
    dead_letters: BaseProducer<DeadLetterContext>,
    keys: DekCache<K>,
    lake: Lake,
    runtime: Handle,
    totals: Arc<Totals>,
    /// Plain Parquet, no key service: the throughput benchmark's baseline only (set by
    /// `Stage::unencrypted_benchmark_baseline`, which only exists for the benches).
    plaintext_baseline: AtomicBool,
}

struct Shared<K> {
    sink: Arc<Sink<K>>,
    partitions: Mutex<Partitions>,
    /// Errors met inside librdkafka's callbacks, which cannot return one, and the health.
    trouble: Arc<Trouble>,
    next_window: AtomicU64,
    /// `lakeseal_stage_bytes_total`, moved by every record: registered once, not looked up per
    /// record.
    bytes_in: metrics::Counter,
}

/// The consumer's context: assigned partitions' records go to the stage's record queue;
/// rebalances write or drop windows before partitions move.
struct Rebalancer<K> {
    shared: Arc<Shared<K>>,
    forwarding: Arc<Forwarding>,
}

type StageConsumer<K> = BaseConsumer<Rebalancer<K>>;

impl<K: KeyService + 'static> ClientContext for Rebalancer<K> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.trouble.report(Client::Consumer, &error, reason);
    }

    /// librdkafka's statistics (every `statistics.interval.ms`): consumer lag per partition, and
    /// whether any broker is up, for the health.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let up = statistics.brokers.values().any(|b| b.state == "UP");
        self.shared.trouble.health().set_brokers_up(up);
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!(
                        "lakeseal_stage_consumer_lag",
                        "topic" => topic.clone(),
                        "partition" => partition.to_string()
                    )
                    .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

/// The librdkafka log level matching what tracing lets through (librdkafka filters before the
/// callback, so an off-by-default debug stays cheap).
fn librdkafka_level() -> RDKafkaLogLevel {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::TRACE | LevelFilter::DEBUG => RDKafkaLogLevel::Debug,
        LevelFilter::INFO => RDKafkaLogLevel::Info,
        LevelFilter::WARN => RDKafkaLogLevel::Warning,
        _ => RDKafkaLogLevel::Error,
    }
}

/// librdkafka's log lines, into tracing under the `librdkafka` target.
pub(crate) fn forward_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    use RDKafkaLogLevel::{Alert, Critical, Debug, Emerg, Error, Info, Notice, Warning};
    match level {
        Emerg | Alert | Critical | Error => {
            tracing::error!(target: "librdkafka", facility, "{message}");
        }
        Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        Notice | Info => tracing::info!(target: "librdkafka", facility, "{message}"),
        Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

impl<K: KeyService + 'static> ConsumerContext for Rebalancer<K> {
    fn pre_rebalance(&self, consumer: &StageConsumer<K>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let left = self.forwarding.forward(consumer, list);
                if left > 0 {
                    // Still consumed, one `poll` at a time.
                    tracing::warn!(
                        partitions = left,
                        "partitions not forwarded to the record queue"
                    );
                }
            }
            Rebalance::Revoke(list) => self.shared.revoke(consumer, list),
            Rebalance::Error(_) => {}
        }
    }

    fn post_rebalance(&self, _: &StageConsumer<K>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.shared.trouble.health().set_assigned(true);
            for e in list.elements() {
                let tp = (e.topic().to_owned(), e.partition());
                if let Err(error) = self.shared.assign(tp) {
                    self.shared.set_fatal(error);
                }
            }
        }
    }
}

/// A record the consumer's own queue gave, as the record queue gives them.
fn record<'m>(message: &'m BorrowedMessage<'_>) -> Record<'m> {
    Record {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
        payload: message.payload(),
        key: message.key(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn kafka(what: &str, e: KafkaError) -> Error {
    Error::Kafka(format!("{what}: {e}"))
}

/// A client that librdkafka refused to create: a property the user set is named by its path in
/// `stage.toml` (the dead-letter producer takes the same properties as the consumer, so its
/// refusal is of the user's property too).
fn kafka_config(what: &str, e: KafkaError) -> Error {
    match e {
        KafkaError::ClientConfig(_, description, key, _value) if !key.is_empty() => {
            Error::Config(format!("source.kafka.\"{key}\": {description}"))
        }
        other => kafka(what, other),
    }
}

/// Refuses a local lake the stage could not write to, at start rather than at the first window.
fn check_writable(root: &std::path::Path) -> Result<()> {
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

/// A running stage: one consumer in its group, one dead-letter producer, one key client.
pub struct Stage<K: KeyService + 'static> {
    shared: Arc<Shared<K>>,
    /// The consumer, and the queue its partitions' records are taken from in batches.
    records: RecordQueue<Rebalancer<K>>,
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
    /// keeps `health` up to date.
    ///
    /// Secret properties are resolved here from their references (see [`secret_ref`]). Each
    /// value is copied once more, into `ClientConfig`'s map (dropped before this returns), and
    /// librdkafka keeps its own for the client's lifetime, to authenticate again on reconnect.
    pub fn new(
        config: StageConfig,
        keys: DekCache<K>,
        runtime: Handle,
        health: Health,
    ) -> Result<Self> {
        let mut consumer_config = ClientConfig::new();
        let mut producer_config = ClientConfig::new();
        // Start from the oldest record when the group has no offset yet; the user may say otherwise.
        consumer_config.set("auto.offset.reset", "earliest");
        // Statistics feed the consumer-lag gauge.
        consumer_config.set("statistics.interval.ms", "5000");
        consumer_config.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
        for (name, value) in config.kafka.iter() {
            let value = secret_ref::property_value(name, value)
                .map_err(|why| Error::Config(format!("source.kafka.\"{name}\": {why}")))?;
            consumer_config.set(name, value.as_str());
            if !CONSUMER_ONLY.contains(&name) {
                producer_config.set(name, value.as_str());
            }
        }
        let trouble = Arc::new(Trouble::new(health, config.topics.clone()));
        let level = librdkafka_level();
        consumer_config.set_log_level(level);
        producer_config.set_log_level(level);
        // The stage commits, by hand, only what the lake holds.
        consumer_config
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        producer_config.set("enable.idempotence", "true");
        let dead_letters = producer_config
            .create_with_context(DeadLetterContext {
                trouble: trouble.clone(),
            })
            .map_err(|e| kafka_config("dead-letter producer", e))?;
        if let crate::config::Sink::Local(root) = &config.sink {
            check_writable(root)?;
        }
        let lake = Lake::open(&config.sink).map_err(|e| Error::Config(format!("sink: {e}")))?;
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
        Ok(Self { shared, records })
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
        // Delivery reports and errors of the dead-letter producer (see [`DeadLetterContext`]).
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

impl<K: KeyService + 'static> Shared<K> {
    fn set_fatal(&self, e: Error) {
        self.trouble.set_fatal(e);
    }

    fn new_partition(&self, tp: &TopicPartition) -> Result<Partition> {
        let sink = &self.sink;
        let highest = sink
            .runtime
            .block_on(
                sink.lake
                    .highest_offset(sink.config.schema.table(), &tp.0, tp.1),
            )
            .map_err(|e| Error::Lake(format!("cannot scan the lake: {e}")))?;
        Ok(Partition {
            open: Window::new(sink.config.schema.clone(), sink.config.window),
            open_dead_letters: Arc::default(),
            pending: None,
            writing: false,
            next: highest.map_or(0, |h| h + 1),
        })
    }

    fn assign(&self, tp: TopicPartition) -> Result<()> {
        let partition = self.new_partition(&tp)?;
        tracing::info!(topic = %tp.0, partition = tp.1, resume_at = partition.next, "assigned");
        lock(&self.partitions).map.insert(tp, partition);
        Ok(())
    }

    fn revoke(&self, consumer: &StageConsumer<K>, list: &TopicPartitionList) {
        let lost = consumer.assignment_lost();
        let mut partitions = lock(&self.partitions);
        let revoked: Vec<TopicPartition> = list
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .filter(|tp| partitions.map.contains_key(tp))
            .collect();
        let outcome = if lost {
            // Windows with the writer come back (a file landing after the partition is gone
            // holds the same records under the same offsets); nothing more is written.
            self.collect(consumer, &mut partitions, Wait::All)
                .and(Err(FlushError::Blocked("the partition was lost".into())))
        } else {
            self.flush_all(consumer, &mut partitions, &revoked)
        };
        let why = match outcome {
            Ok(()) => String::new(),
            Err(FlushError::Blocked(why)) => why,
            Err(FlushError::Fatal(error)) => {
                let why = error.to_string();
                self.set_fatal(error);
                why
            }
        };
        for tp in revoked {
            let Some(partition) = partitions.map.remove(&tp) else {
                continue;
            };
            if !lost
                && !partition.writing
                && partition.pending.is_none()
                && partition.open.is_empty()
            {
                tracing::info!(topic = %tp.0, partition = tp.1, "revoked; windows written");
            } else {
                self.sink
                    .totals
                    .dropped_windows
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = %tp.0, partition = tp.1, error = %why,
                    "revoked; its window is dropped unwritten and uncommitted, for the next owner to read again");
            }
        }
    }

    /// Takes one record of `partition` into its window, or to the dead-letter topic. True when
    /// that window has reached a limit and should be written now.
    fn accept(
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
            self.dead_letter(message, &reason.to_string(), &partition.open_dead_letters)?;
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
    fn count(&self, taken: &mut Taken) {
        let Taken { records, bytes } = std::mem::take(taken);
        if records > 0 {
            self.sink
                .totals
                .consumed
                .fetch_add(records, Ordering::Relaxed);
            self.bytes_in.increment(bytes);
        }
    }

    /// Sends `message` to the dead-letter topic as one of `window`'s dead letters.
    fn dead_letter(
        &self,
        message: &Record<'_>,
        reason: &str,
        window: &Arc<DeadLetters>,
    ) -> Result<()> {
        let partition = message.partition.to_string();
        let offset = message.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "lakeseal.reason",
                value: Some(reason),
            })
            .insert(Header {
                key: "lakeseal.source.topic",
                value: Some(message.topic),
            })
            .insert(Header {
                key: "lakeseal.source.partition",
                value: Some(&partition),
            })
            .insert(Header {
                key: "lakeseal.source.offset",
                value: Some(&offset),
            });
        let mut record = BaseRecord::with_opaque_to(&self.sink.config.dlq_topic, window.clone())
            .payload(message.payload.unwrap_or_default())
            .headers(headers);
        if let Some(key) = message.key {
            record = record.key(key);
        }
        window.outstanding.fetch_add(1, Ordering::Relaxed);
        loop {
            match self.sink.dead_letters.send(record) {
                Ok(()) => return Ok(()),
                // Room is made as delivery reports are served.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.sink.dead_letters.poll(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    window.outstanding.fetch_sub(1, Ordering::Relaxed);
                    return Err(kafka("dead-letter topic", e));
                }
            }
        }
    }

    /// The earliest time an open window must close.
    fn next_deadline(&self) -> Option<Instant> {
        lock(&self.partitions)
            .map
            .values()
            .filter_map(|p| p.open.deadline())
            .min()
    }

    /// Commits what the writer finished and writes every pending window; closes every open window
    /// that is due for the writer — or, with `all` (stop), writes and commits every window
    /// ([`Shared::flush_all`]).
    fn flush_due(
        &self,
        consumer: &StageConsumer<K>,
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
    fn flush_all(
        &self,
        consumer: &StageConsumer<K>,
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
    fn flush_partition(
        &self,
        consumer: &StageConsumer<K>,
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
    fn write_pending(
        &self,
        consumer: &StageConsumer<K>,
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
    fn collect(
        &self,
        consumer: &StageConsumer<K>,
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
    fn commit(&self, consumer: &StageConsumer<K>, (topic, partition): &TopicPartition, last: i64) {
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

fn writer_gone() -> FlushError {
    FlushError::Fatal(Error::Lake("the writer thread stopped".into()))
}

impl<K: KeyService + 'static> Sink<K> {
    /// The writer thread: writes each window it is handed and gives it back, until the loop is
    /// gone.
    fn serve(
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
    fn encrypt(&self, topic: &str, pending: &Pending) -> Result<Vec<u8>, FlushError> {
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

    /// Waits until every dead letter of `window` is delivered, serving the producer's delivery
    /// reports meanwhile (librdkafka fails one after `message.timeout.ms`).
    fn deliver(&self, window: &DeadLetters) -> Result<()> {
        while window.outstanding.load(Ordering::Acquire) > 0 {
            self.dead_letters.poll(Duration::from_millis(10));
        }
        match lock(&window.failed).clone() {
            Some(e) => Err(kafka("dead-letter delivery", e)),
            None => Ok(()),
        }
    }

    /// Makes one closed window durable in the lake (its dead letters delivered first); the caller
    /// commits past it.
    fn write(
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
        self.deliver(&pending.dead_letters)?;
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

fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}
