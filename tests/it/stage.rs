//! The stream stage end to end: the `lakeseal` binary between a real broker (tansu) and a local
//! lake, its key core a real server in this process — killed, split, starved of its key core,
//! throttled — and the lake checked for every valid record exactly once.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::aliases::AliasRequest;
use lakeseal_keycore::{Principal, RequestContext};
use lakeseal_keycore_server::{Limit, RateLimits, ServerConfig};
use lakeseal_stage::{lake, verify};
use rand::Rng;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tempfile::TempDir;

use crate::broker::Broker;
use crate::support::{REGION, RunningKeyCore};
use crate::tls_front::wait_port;

const TOPIC: &str = "telemetry";
pub(crate) const DLQ: &str = "telemetry-dlq";
const PARTITIONS: u32 = 4;

/// The `lakeseal` binary, built (once a test run) from the sources as they are: a test of this
/// package alone must not run a binary left from older sources.
pub(crate) fn lakeseal() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            // `target/<profile>/deps/it-…`: the binary goes beside `deps`, built alike.
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
            let mut build = Command::new(env!("CARGO"));
            build.args([
                "build",
                "--quiet",
                "-p",
                "lakeseal-cli",
                "--bin",
                "lakeseal",
            ]);
            if profile_dir.ends_with("release") {
                build.arg("--release");
            }
            assert!(
                build.status().unwrap().success(),
                "cannot build the lakeseal binary"
            );
            profile_dir.join("lakeseal")
        })
        .clone()
}

/// One `lakeseal stage run` process; its log appends to a file shared by every run.
pub(crate) struct StageProcess {
    child: Child,
}

impl StageProcess {
    pub(crate) fn start(config: &Path, log: &Path) -> Self {
        Self::start_with(config, log, &[], "info")
    }

    /// With more `args` for `stage run`, logging at `rust_log`.
    pub(crate) fn start_with(config: &Path, log: &Path, args: &[&str], rust_log: &str) -> Self {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(lakeseal())
            .args(["stage", "run", "--config"])
            .arg(config)
            .args(args)
            .env("RUST_LOG", rust_log)
            // For the s3:// sink's test server; unused by a file:// sink.
            .env("AWS_ACCESS_KEY_ID", "lakeseal-test")
            .env("AWS_SECRET_ACCESS_KEY", "lakeseal-test")
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Self { child }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// How it exited by itself, waiting at most `within`.
    pub(crate) fn exit_within(mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM, and how it exited.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "the stage did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for StageProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A broker, a key core with `alias/telemetry`, a lake directory and a `stage.toml`.
struct Pipeline {
    broker: Broker,
    kc: RunningKeyCore,
    dir: TempDir,
    config: PathBuf,
    log: PathBuf,
}

pub(crate) struct Window {
    pub(crate) max_records: usize,
    pub(crate) max_age_seconds: u64,
}

/// A key core serving `alias/telemetry`, the key every test stage encrypts under.
pub(crate) async fn key_core_with_alias(server: ServerConfig) -> RunningKeyCore {
    let kc = RunningKeyCore::start_with(server).await;
    let root = Principal::account_root("111122223333");
    let ctx = RequestContext::local("stage-test");
    let key = kc
        .core
        .create_key(&root, &ctx, Default::default())
        .await
        .unwrap()
        .key_metadata
        .key_id;
    kc.core
        .create_alias(
            &root,
            &ctx,
            AliasRequest {
                alias_name: "alias/telemetry".into(),
                target_key_id: key,
            },
        )
        .await
        .unwrap();
    kc
}

/// A `stage.toml` reading `topics` from `bootstrap` (with `kafka`, more `"name" = "value"` lines
/// of librdkafka properties) into a local lake at `lake`, under `kc`'s `alias/telemetry`.
pub(crate) fn stage_toml(
    bootstrap: &str,
    kafka: &str,
    topics: &[&str],
    window: &Window,
    lake: &Path,
    kc: &RunningKeyCore,
) -> String {
    format!(
        r#"
[source]
topics = {topics:?}
[source.kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "lakeseal-stage"
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
{kafka}

[schema]
table = "telemetry"
event_time = "ts"
columns = [
  {{ name = "ts", type = "timestamp_ms" }},
  {{ name = "device", type = "string" }},
  {{ name = "seq", type = "int64" }},
  {{ name = "temp", type = "float64", nullable = true }},
]

[window]
max_records = {max_records}
max_age_seconds = {max_age}

[encryption]
key_id = "alias/telemetry"
context = {{ table = "{{table}}", topic = "{{topic}}" }}

[sink]
url = "file://{lake}"

[dlq]
topic = "{DLQ}"

[keycore]
endpoint = "{endpoint}"
region = "{REGION}"
credentials_file = "{credentials}"
"#,
        max_records = window.max_records,
        max_age = window.max_age_seconds,
        lake = lake.display(),
        endpoint = kc.endpoint,
        credentials = kc.credentials.display(),
    )
}

impl Pipeline {
    async fn start(server: ServerConfig, window: Window) -> Self {
        let broker = Broker::start();
        broker.create_topic(TOPIC, PARTITIONS);
        broker.create_topic(DLQ, 1);
        let kc = key_core_with_alias(server).await;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("stage.toml");
        std::fs::write(
            &config,
            stage_toml(
                &broker.bootstrap,
                "",
                &[TOPIC],
                &window,
                &dir.path().join("lake"),
                &kc,
            ),
        )
        .unwrap();
        let log = dir.path().join("stage.log");
        Self {
            broker,
            kc,
            dir,
            config,
            log,
        }
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn stage(&self) -> StageProcess {
        StageProcess::start(&self.config, &self.log)
    }

    /// A stage with a log of its own, `stage-<name>.log` (read with `stage_log_of`).
    fn named_stage(&self, name: &str) -> StageProcess {
        StageProcess::start(
            &self.config,
            &self.dir.path().join(format!("stage-{name}.log")),
        )
    }

    fn stage_log_of(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("stage-{name}.log")))
            .unwrap_or_default()
    }

    fn stage_log(&self) -> String {
        let mut all = std::fs::read_to_string(&self.log).unwrap_or_default();
        for name in ["a", "b"] {
            all.push_str(&self.stage_log_of(name));
        }
        all
    }

    /// One record a batch: tansu 0.6 answers a fetch from an offset inside a record batch with
    /// the batches that *start* after it (Kafka returns the batch holding it), so a consumer
    /// resuming mid-batch would never see the rest of that batch. With one-record batches every
    /// offset starts one.
    fn producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.broker.bootstrap)
            .set("linger.ms", "0")
            .set("batch.num.messages", "1")
            .create()
            .unwrap()
    }

    /// Sends records `seqs`; every 13th is malformed in one of several ways. Returns the valid
    /// sequence numbers.
    async fn produce(&self, producer: &FutureProducer, seqs: std::ops::Range<i64>) -> Vec<i64> {
        let mut valid = Vec::new();
        let mut bodies = Vec::new();
        for seq in seqs {
            let (body, is_valid) = record_body(seq);
            if is_valid {
                valid.push(seq);
            }
            bodies.push((seq, body));
        }
        send_all(producer, TOPIC, bodies).await;
        valid
    }

    fn watermarks(&self) -> BTreeMap<i32, (i64, i64)> {
        verify::watermarks(&self.broker.bootstrap, TOPIC).unwrap()
    }

    /// Waits until the lake's files cover every offset of the topic.
    fn wait_caught_up(&self, within: Duration) {
        let marks = self.watermarks();
        let start = Instant::now();
        loop {
            let files = lake::list_local(&self.lake().join("telemetry")).unwrap_or_default();
            let coverage = verify::coverage(&files);
            let done = marks.iter().all(|(p, (_, high))| {
                *high == 0
                    || coverage
                        .get(&(TOPIC.to_owned(), *p))
                        .is_some_and(|c| c.last == Some(high - 1))
            });
            if done {
                return;
            }
            assert!(
                start.elapsed() < within,
                "the lake did not catch up with {marks:?}; it has {coverage:?}\n{}",
                self.stage_log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with(args, &[])
    }

    /// `lakeseal <args>` against this key core, with test S3 credentials and `env`.
    fn cli_with(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        cli_against(&self.kc, args, env)
    }

    /// Every `seq` in the lake, decrypted by `lakeseal lake read`.
    fn lake_seqs(&self) -> Vec<i64> {
        let lake = self.lake().join("telemetry");
        self.seqs_of(lake.to_str().unwrap(), &[])
    }

    /// Every `seq` under `target` (a directory or an s3:// URL).
    fn seqs_of(&self, target: &str, env: &[(&str, &str)]) -> Vec<i64> {
        let out = self.cli_with(&["lake", "read", target], env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        seqs(&out.stdout)
    }

    /// `lakeseal lake verify` against the broker's offsets: succeeds, and its report.
    fn verify(&self) -> serde_json::Value {
        let lake = self.lake();
        let out = self.cli(&[
            "lake",
            "verify",
            "--table",
            "telemetry",
            lake.to_str().unwrap(),
            "--brokers",
            &self.broker.bootstrap,
            "--topic",
            TOPIC,
        ]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
        assert!(out.status.success(), "lake verify failed: {report:#}");
        // `--output text` says the same, a field a line.
        let text = self.cli(&[
            "--output",
            "text",
            "lake",
            "verify",
            "--table",
            "telemetry",
            lake.to_str().unwrap(),
        ]);
        let text = String::from_utf8(text.stdout).unwrap();
        assert!(
            text.lines()
                .any(|l| l == format!("Rows\t{}", report["Rows"])),
            "{text}"
        );
        report
    }

    /// The dead-letter topic's records: (source offset key, reason).
    fn dead_letters(&self, expected: usize) -> Vec<(String, String)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.broker.bootstrap)
            .set(
                "group.id",
                format!("dlq-reader-{}", rand::rng().random::<u32>()),
            )
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        consumer.subscribe(&[DLQ]).unwrap();
        let mut seen = Vec::new();
        let start = Instant::now();
        while seen.len() < expected && start.elapsed() < Duration::from_secs(60) {
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let headers: HashMap<String, String> = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_owned(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(headers["lakeseal.source.topic"], TOPIC);
            let source = format!(
                "{}/{}",
                headers["lakeseal.source.partition"], headers["lakeseal.source.offset"]
            );
            seen.push((source, headers["lakeseal.reason"].clone()));
        }
        seen
    }

    /// Counts audit records of `operation` with `result`.
    fn audited(&self, operation: &str, result: &str) -> usize {
        std::fs::read_to_string(self.kc.data.join("audit.log"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| {
                let r = r.get("event").unwrap_or(r);
                r["operation"] == operation && r["result"] == result
            })
            .count()
    }

    fn file_count(&self) -> usize {
        lake::list_local(&self.lake().join("telemetry"))
            .unwrap_or_default()
            .len()
    }

    /// Every file is encrypted Parquet (`PARE` footer) with no device name in the clear.
    fn assert_no_plaintext(&self) {
        for f in lake::list_local(&self.lake().join("telemetry")).unwrap() {
            let bytes = std::fs::read(&f.path).unwrap();
            assert!(
                bytes.ends_with(b"PARE"),
                "{} is not encrypted",
                f.path.display()
            );
            assert!(
                !bytes.windows(4).any(|w| w == b"dev-"),
                "{} holds plaintext",
                f.path.display()
            );
        }
    }
}

/// `lakeseal <args>` against `kc`, with test S3 credentials and `env`.
pub(crate) fn cli_against(
    kc: &RunningKeyCore,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    Command::new(lakeseal())
        .args(args)
        .args(["--endpoint", &kc.endpoint, "--region", REGION])
        .arg("--credentials-file")
        .arg(&kc.credentials)
        .env("AWS_ACCESS_KEY_ID", "lakeseal-test")
        .env("AWS_SECRET_ACCESS_KEY", "lakeseal-test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ALLOW_HTTP", "true")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// Sends each `(seq, body)` to `topic`, keyed by its `seq`, and waits until every one is
/// acknowledged.
pub(crate) async fn send_all(producer: &FutureProducer, topic: &str, records: Vec<(i64, String)>) {
    let mut deliveries = Vec::with_capacity(records.len());
    for (seq, body) in &records {
        let key = seq.to_string();
        deliveries.push(
            producer
                .send_result(FutureRecord::to(topic).key(&key).payload(body))
                .unwrap(),
        );
    }
    for d in deliveries {
        d.await.unwrap().unwrap();
    }
}

/// The sorted `seq` of every JSON line of `lake read`.
pub(crate) fn seqs(json_lines: &[u8]) -> Vec<i64> {
    let mut seqs: Vec<i64> = String::from_utf8_lossy(json_lines)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    seqs.sort_unstable();
    seqs
}

fn assert_exactly_once(lake: &[i64], valid: &[i64]) {
    let mut want = valid.to_vec();
    want.sort_unstable();
    if lake != want {
        let mut counts: BTreeMap<i64, i32> = BTreeMap::new();
        for s in lake {
            *counts.entry(*s).or_default() += 1;
        }
        let dup: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).take(10).collect();
        let missing: Vec<_> = want
            .iter()
            .filter(|s| !counts.contains_key(s))
            .take(10)
            .collect();
        panic!(
            "lake has {} records, want {}; duplicates {dup:?}; missing {missing:?}",
            lake.len(),
            want.len()
        );
    }
}

fn small_windows() -> Window {
    Window {
        max_records: 150,
        max_age_seconds: 1,
    }
}

/// Configurations that cannot work are refused at start, naming the field: a key that does not
/// resolve (checked with one dry run), a librdkafka property librdkafka does not know, a local
/// sink that cannot be written. Nothing reaches the lake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_that_cannot_work_are_refused_at_start() {
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let good = std::fs::read_to_string(&p.config).unwrap();
    let cases = [
        (
            good.replace(
                "key_id = \"alias/telemetry\"",
                "key_id = \"alias/no-such-key\"",
            ),
            "encryption.key_id",
            "NotFoundException",
        ),
        (
            good.replace(
                "\"group.id\" = \"lakeseal-stage\"",
                "\"group.id\" = \"lakeseal-stage\"\n\"no.such.property\" = \"1\"",
            ),
            "source.kafka.\"no.such.property\"",
            "No such configuration property",
        ),
        (
            good.replace(
                &format!("file://{}", p.lake().display()),
                "file:///etc/hostname/lake",
            ),
            "sink.url",
            "/etc/hostname/lake",
        ),
    ];
    for (i, (text, field, why)) in cases.into_iter().enumerate() {
        assert_ne!(text, good, "case {i} changed nothing");
        let config = p.dir.path().join(format!("bad-{i}.toml"));
        std::fs::write(&config, text).unwrap();
        let out = Command::new(lakeseal())
            .args(["stage", "run", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "case {i} ran: {stderr}");
        assert!(
            stderr.contains(field) && stderr.contains(why),
            "case {i}: {stderr}"
        );
    }
    assert!(!p.lake().exists() || std::fs::read_dir(p.lake()).unwrap().next().is_none());
    // One dry run for the key that did not resolve, audited as such; no data key was made.
    assert_eq!(
        p.audited("GenerateDataKeyWithoutPlaintext", "NotFoundException"),
        1
    );
    assert_eq!(p.audited("GenerateDataKey", "Success"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_valid_record_lands_once_and_malformed_ones_in_the_dead_letter_topic() {
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let stage = p.stage();
    let producer = p.producer();
    let valid = p.produce(&producer, 0..2000).await;
    p.wait_caught_up(Duration::from_secs(120));
    assert!(stage.terminate().success(), "{}", p.stage_log());

    let report = p.verify();
    assert_eq!(report["Rows"], valid.len());
    assert_exactly_once(&p.lake_seqs(), &valid);
    p.assert_no_plaintext();

    let malformed = 2000 - valid.len();
    let letters = p.dead_letters(malformed);
    let sources: std::collections::BTreeSet<_> = letters.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(sources.len(), malformed, "{letters:?}");
    let reasons: Vec<&str> = letters.iter().map(|(_, r)| r.as_str()).collect();
    for expected in [
        "not JSON",
        "\"seq\" is missing",
        "\"ts\" is not",
        "not a JSON object",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(expected)),
            "no dead letter says {expected:?}: {reasons:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let producer = p.producer();
    let mut valid = Vec::new();
    let mut stage = p.stage();
    let mut next = 0;
    for kill in 1..=5 {
        valid.extend(p.produce(&producer, next..next + 600).await);
        next += 600;
        let pause = rand::rng().random_range(800..2500);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        stage.kill();
        if kill == 5 {
            // tansu 0.6 can keep a killed member in the group until another member joins after
            // its session timeout (6 s here); the last run joins after that, so the group is
            // sure to give it every partition. The runs before it start at once, into churn.
            tokio::time::sleep(Duration::from_secs(7)).await;
        }
        stage = p.stage();
    }
    valid.extend(p.produce(&producer, next..next + 600).await);
    p.wait_caught_up(Duration::from_secs(180));
    assert!(stage.terminate().success(), "{}", p.stage_log());

    p.verify();
    assert_exactly_once(&p.lake_seqs(), &valid);
    let log = p.stage_log();
    assert!(
        log.matches("lakeseal stage running").count() >= 6,
        "six runs of the stage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stage_takes_over_the_partitions_of_one_that_stops() {
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let producer = p.producer();
    let a = p.named_stage("a");
    let b = p.named_stage("b");
    let mut valid = p.produce(&producer, 0..1500).await;
    p.wait_caught_up(Duration::from_secs(120));
    // Both took part: each wrote windows of the partitions it was given.
    for name in ["a", "b"] {
        let log = p.stage_log_of(name);
        assert!(
            log.contains("window written"),
            "stage {name} wrote nothing:\n{log}"
        );
    }

    valid.extend(p.produce(&producer, 1500..2200).await);
    assert!(a.terminate().success(), "{}", p.stage_log());
    let a_files = p.file_count();
    valid.extend(p.produce(&producer, 2200..3000).await);
    p.wait_caught_up(Duration::from_secs(120));
    assert!(p.file_count() > a_files);
    // B now holds every partition.
    let b_log = p.stage_log_of("b");
    for partition in 0..PARTITIONS {
        assert!(
            b_log.contains(&format!("partition={partition} resume_at=")),
            "B never took partition {partition}:\n{b_log}"
        );
    }
    assert!(b.terminate().success(), "{}", p.stage_log());

    p.verify();
    assert_exactly_once(&p.lake_seqs(), &valid);
}

/// Stopping writes every partition's open window and commits each: windows that never close on
/// their own here are all in the lake when the stage exits, one file a partition, and the group's
/// committed offsets are at the end of every partition, so the next stage has nothing to redo.
/// (It checks the outcome, not which thread wrote which window, nor whether the stop or the
/// revoke of its closing `unsubscribe` did.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_writes_and_commits_every_open_window() {
    let p = Pipeline::start(
        ServerConfig::default(),
        Window {
            max_records: 1_000_000,
            max_age_seconds: 3600,
        },
    )
    .await;
    let valid = p.produce(&p.producer(), 0..2000).await;
    let metrics = free_port();
    let stage = StageProcess::start_with(
        &p.config,
        &p.log,
        &["--metrics-listen", &format!("127.0.0.1:{metrics}")],
        "info",
    );
    // Every record taken in, and no window is due for an hour.
    wait_health(metrics, "consuming", Duration::from_secs(60));
    let bytes = (0..2000).map(|seq| record_body(seq).0.len()).sum();
    wait_taken_in(metrics, bytes, Duration::from_secs(60));
    assert_eq!(p.file_count(), 0, "a window closed before the stop");
    assert!(stage.terminate().success(), "{}", p.stage_log());

    assert_eq!(p.file_count(), PARTITIONS as usize, "{}", p.stage_log());
    p.wait_caught_up(Duration::ZERO);
    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &p.broker.bootstrap)
        .set("group.id", "lakeseal-stage")
        .create()
        .unwrap();
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        partitions.add_partition(TOPIC, partition as i32);
    }
    let committed = group
        .committed_offsets(partitions, Duration::from_secs(10))
        .unwrap();
    for (partition, (_, high)) in p.watermarks() {
        let offset = committed
            .find_partition(TOPIC, partition)
            .map(|e| e.offset());
        assert_eq!(
            offset,
            Some(rdkafka::Offset::Offset(high)),
            "partition {partition}'s committed offset"
        );
    }
    p.verify();
    assert_exactly_once(&p.lake_seqs(), &valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_joining_while_records_flow_takes_partitions_without_loss_or_duplicates() {
    // The first stage is working through a backlog when the second joins, so its partitions are
    // revoked in the middle of its polling: records it had polled but not yet taken in are left
    // to their next owner, its windows are written and committed, and the lake ends with every
    // record once.
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let producer = p.producer();
    let mut valid = p.produce(&producer, 0..12_000).await;
    let a = p.named_stage("a");
    let started = Instant::now();
    while !p.stage_log_of("a").contains("window written") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            p.stage_log_of("a")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = p.named_stage("b");
    valid.extend(p.produce(&producer, 12_000..13_000).await);
    p.wait_caught_up(Duration::from_secs(120));
    let a_log = p.stage_log_of("a");
    assert!(
        a_log.contains("revoked; windows written"),
        "A gave up nothing when B joined:\n{a_log}"
    );
    let b_log = p.stage_log_of("b");
    assert!(
        b_log.contains("window written"),
        "B wrote nothing:\n{b_log}"
    );
    assert!(a.terminate().success(), "{}", p.stage_log());
    assert!(b.terminate().success(), "{b_log}");

    p.verify();
    assert_exactly_once(&p.lake_seqs(), &valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_core_outage_pauses_the_stage_and_loses_nothing() {
    let mut p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let producer = p.producer();
    let metrics = free_port();
    let stage = StageProcess::start_with(
        &p.config,
        &p.log,
        &["--metrics-listen", &format!("127.0.0.1:{metrics}")],
        "info",
    );
    let mut valid = p.produce(&producer, 0..800).await;
    p.wait_caught_up(Duration::from_secs(120));

    p.kc.stop_server();
    let before = p.file_count();
    valid.extend(p.produce(&producer, 800..1600).await);
    // Paused for the key core, and saying so to an orchestrator: not healthy, not failed.
    let (code, health) = wait_health(metrics, "paused", Duration::from_secs(60));
    assert_eq!(code, 503, "{health}");
    assert_eq!(
        p.file_count(),
        before,
        "a file was written while the key core was down"
    );
    p.assert_no_plaintext();

    p.kc.restart_server().await;
    p.wait_caught_up(Duration::from_secs(120));
    wait_health(metrics, "consuming", Duration::from_secs(30));
    assert!(stage.terminate().success(), "{}", p.stage_log());
    assert!(
        p.stage_log().contains("pausing consumption"),
        "the stage never noticed the outage"
    );
    p.verify();
    assert_exactly_once(&p.lake_seqs(), &valid);
    p.assert_no_plaintext();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttling_key_core_slows_the_stage_without_errors() {
    let one = std::num::NonZeroU32::new(2).unwrap();
    let server = ServerConfig {
        rate_limits: RateLimits {
            cryptographic: Limit::per_second(one),
            ..RateLimits::default()
        },
        ..ServerConfig::default()
    };
    // Windows of 40 records: ~50 key requests in a burst, against 2 a second.
    let p = Pipeline::start(
        server,
        Window {
            max_records: 40,
            max_age_seconds: 1,
        },
    )
    .await;
    let stage = p.stage();
    let valid = p.produce(&p.producer(), 0..1600).await;
    p.wait_caught_up(Duration::from_secs(180));
    assert!(stage.terminate().success(), "{}", p.stage_log());
    assert!(
        p.audited("GenerateDataKey", "ThrottlingException") > 0,
        "the key core never throttled"
    );
    let log = p.stage_log();
    assert!(!log.contains("ERROR"), "{log}");
    p.verify();
    assert_exactly_once(&p.lake_seqs(), &valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_data_key_per_partition_per_window_not_per_record() {
    let p = Pipeline::start(
        ServerConfig::default(),
        Window {
            max_records: 1_000_000,
            max_age_seconds: 10,
        },
    )
    .await;
    let stage = p.stage();
    let producer = p.producer();
    // A steady stream: 40 records a second for 25 seconds.
    let mut valid = Vec::new();
    for second in 0..25 {
        valid.extend(p.produce(&producer, second * 40..second * 40 + 40).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(stage.terminate().success(), "{}", p.stage_log());
    let files = p.file_count();
    let keys = p.audited("GenerateDataKey", "Success");
    assert_eq!(keys, files, "one data key per file");
    // 25 s of 10 s windows: at most 4 windows a partition (3 by age, 1 at stop), 1000 records.
    assert!(
        keys <= PARTITIONS as usize * 4,
        "{keys} data keys for {} records",
        valid.len()
    );
    p.verify();
    assert_exactly_once(&p.lake_seqs(), &valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyarrow_and_duckdb_read_the_lake_until_the_key_is_disabled() {
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let stage = p.stage();
    let valid = p.produce(&p.producer(), 0..300).await;
    p.wait_caught_up(Duration::from_secs(120));
    assert!(stage.terminate().success(), "{}", p.stage_log());

    let files = lake::list_local(&p.lake().join("telemetry")).unwrap();
    let file = files.iter().max_by_key(|f| f.last - f.first).unwrap();
    assert!(!valid.is_empty());
    let read_both = |expect_ok: bool| {
        let unwrap = p.cli(&["lake", "unwrap-key", file.path.to_str().unwrap()]);
        assert_eq!(
            unwrap.status.success(),
            expect_ok,
            "{}",
            String::from_utf8_lossy(&unwrap.stderr)
        );
        let key = if expect_ok {
            let answer: serde_json::Value = serde_json::from_slice(&unwrap.stdout).unwrap();
            assert!(
                answer["KeyId"]
                    .as_str()
                    .unwrap()
                    .starts_with("arn:aws:kms:")
            );
            answer["Plaintext"].as_str().unwrap().to_owned()
        } else {
            String::new()
        };
        (key, file.path.to_str().unwrap().to_owned())
    };
    let (key, path) = read_both(true);
    let out =
        p.kc.python("read_stage_file.py", &[("FILE", &path), ("KEY", &key)])
            .await;
    assert!(rows(&out, "pyarrow").is_some_and(|n| n > 0), "{out}");
    assert_eq!(rows(&out, "pyarrow"), rows(&out, "duckdb"), "{out}");

    let root = Principal::account_root("111122223333");
    let ctx = RequestContext::local("stage-test");
    let alias = KeyIdRequest {
        key_id: "alias/telemetry".into(),
    };
    p.kc.core
        .disable_key(&root, &ctx, alias.clone())
        .await
        .unwrap();
    let (key, path) = read_both(false);
    assert!(key.is_empty());
    let out =
        p.kc.python("read_stage_file.py", &[("FILE", &path), ("KEY", &key)])
            .await;
    assert!(
        out.contains("pyarrow error=") && out.contains("DisabledException"),
        "{out}"
    );
    assert!(out.contains("duckdb error="), "{out}");

    p.kc.core.enable_key(&root, &ctx, alias).await.unwrap();
    let (key, path) = read_both(true);
    let out =
        p.kc.python("read_stage_file.py", &[("FILE", &path), ("KEY", &key)])
            .await;
    assert!(rows(&out, "pyarrow").is_some_and(|n| n > 0), "{out}");
    assert_eq!(rows(&out, "pyarrow"), rows(&out, "duckdb"), "{out}");
}

/// `<tool> rows=N` out of the reader script's output.
fn rows(out: &str, tool: &str) -> Option<usize> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{tool} rows=")))
        .map(|n| n.parse().unwrap())
}

/// `lakeseal --data-dir DATA <args>`, which must succeed; its stdout.
fn lakeseal_at(data: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A key core made as an operator makes one: `keycore init`, a key, `alias/telemetry`.
fn init_keycore(data: &Path) {
    lakeseal_at(data, &["keycore", "init", "--region", REGION]);
    let created: serde_json::Value =
        serde_json::from_slice(&lakeseal_at(data, &["key", "create"])).unwrap();
    let key_id = created["KeyMetadata"]["KeyId"].as_str().unwrap();
    lakeseal_at(
        data,
        &[
            "alias",
            "create",
            "--alias-name",
            "alias/telemetry",
            "--target-key-id",
            key_id,
        ],
    );
}

/// `moto_server` from the test venv: an S3-compatible server with conditional PUTs.
struct S3Server {
    endpoint: String,
    child: Child,
}

impl S3Server {
    fn start(bucket: &str) -> Self {
        let port = free_port();
        let venv = crate::support::venv();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_port(port);
        let made = Command::new(venv.join("bin/python"))
            .args([
                "-c",
                "import boto3, sys; boto3.client('s3', endpoint_url=sys.argv[1], \
                 aws_access_key_id='lakeseal-test', aws_secret_access_key='lakeseal-test', \
                 region_name='us-east-1').create_bucket(Bucket=sys.argv[2])",
                &endpoint,
                bucket,
            ])
            .status()
            .unwrap();
        assert!(made.success(), "cannot create bucket {bucket}");
        Self { endpoint, child }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_lake_gets_every_record_once_by_conditional_puts() {
    let s3 = S3Server::start("lake");
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let config = std::fs::read_to_string(&p.config).unwrap();
    let local = format!("url = \"file://{}\"", p.lake().display());
    assert!(config.contains(&local));
    std::fs::write(
        &p.config,
        config.replace(
            &local,
            &format!(
                "url = \"s3://lake/warehouse\"\nendpoint = \"{}\"\nregion = \"us-east-1\"",
                s3.endpoint
            ),
        ),
    )
    .unwrap();
    let stage = p.stage();
    let valid = p.produce(&p.producer(), 0..700).await;

    // Done when `lake verify` finds every offset of the topic in the bucket.
    let s3_env = [("AWS_ENDPOINT_URL", s3.endpoint.as_str())];
    let verify = || {
        p.cli_with(
            &[
                "lake",
                "verify",
                "--table",
                "telemetry",
                "s3://lake/warehouse",
                "--brokers",
                &p.broker.bootstrap,
                "--topic",
                TOPIC,
            ],
            &s3_env,
        )
    };
    let start = Instant::now();
    while !verify().status.success() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the bucket never caught up: {}\n{}",
            String::from_utf8_lossy(&verify().stdout),
            p.stage_log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(stage.terminate().success(), "{}", p.stage_log());
    assert_eq!(p.file_count(), 0, "nothing went to the local directory");

    let seqs = p.seqs_of("s3://lake/warehouse/telemetry", &s3_env);
    assert_exactly_once(&seqs, &valid);

    // A file is never replaced: the PUT is conditional.
    let store = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name("lake")
        .with_endpoint(&s3.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("lakeseal-test")
        .with_secret_access_key("lakeseal-test")
        .build()
        .unwrap();
    let lake = lakeseal_stage::lake::S3Lake::from_store(std::sync::Arc::new(store), "warehouse");
    let existing = lake.list("telemetry").await.unwrap().remove(0);
    let err = lake
        .write(
            &lakeseal_stage::lake::FileKey {
                table: "telemetry".into(),
                topic: existing.topic.clone(),
                partition: existing.partition,
                first: existing.first,
                last: existing.last,
                event_time_ms: 1_795_000_000_000,
            },
            b"not a window".to_vec(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{err}");
    let kept = lake.get(&existing.path.to_string_lossy()).await.unwrap();
    assert!(kept.ends_with(b"PARE"), "the window's file is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_key_core_serves_the_stage_and_the_reader() {
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let data = p.dir.path().join("embedded-keycore");
    let run = |args: &[&str]| lakeseal_at(&data, args);
    init_keycore(&data);
    run(&["iam", "create-user", "--user-name", "stage"]);

    let config = std::fs::read_to_string(&p.config).unwrap();
    let remote = config.split("[keycore]").nth(1).unwrap();
    std::fs::write(
        &p.config,
        config.replace(
            remote,
            &format!("\ndata_dir = \"{}\"\nuser = \"stage\"\n", data.display()),
        ),
    )
    .unwrap();

    // The embedded stage is its configured user, not the account root: without an identity
    // policy it may not make data keys, and it says so at start.
    let refused = Command::new(lakeseal())
        .args(["stage", "run", "--config"])
        .arg(&p.config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("encryption.key_id") && said.contains("AccessDeniedException"),
        "{said}"
    );
    assert!(said.contains(":user/stage is not authorized"), "{said}");

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}"#;
    run(&[
        "iam",
        "put-user-policy",
        "--user-name",
        "stage",
        "--policy-name",
        "stage-keys",
        "--policy-document",
        policy,
    ]);
    let stage = p.stage();
    let valid = p.produce(&p.producer(), 0..500).await;
    p.wait_caught_up(Duration::from_secs(120));
    assert!(stage.terminate().success(), "{}", p.stage_log());

    // The stage has let go of the data directory; the reader opens it, as the same user.
    let lake = p.lake().join("telemetry");
    let read = Command::new(lakeseal())
        .args(["lake", "read"])
        .arg(&lake)
        .arg("--config")
        .arg(&p.config)
        .output()
        .unwrap();
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert_exactly_once(&seqs(&read.stdout), &valid);
    let trail =
        String::from_utf8(run(&["audit", "query", "--operation", "GenerateDataKey"])).unwrap();
    assert!(trail.contains(":user/stage"), "{trail}");
    assert!(
        !trail.contains(":root"),
        "the stage never called as root: {trail}"
    );
    assert_eq!(
        p.audited("GenerateDataKey", "Success"),
        0,
        "the remote key core was not used"
    );
}

/// A free local port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The payload [`Pipeline::produce`] sends for `seq`, and whether it fits the schema: one in 13
/// does not (malformed JSON, a missing field, a bad timestamp, not an object, in turn).
fn record_body(seq: i64) -> (String, bool) {
    let device = format!("dev-{}", seq % 10);
    let ts = 1_795_000_000_000 + seq * 10;
    if seq % 13 == 0 {
        let body = match (seq / 13) % 4 {
            0 => "{not json".to_owned(),
            1 => format!(r#"{{"ts":{ts},"device":"{device}"}}"#), // seq missing
            2 => format!(r#"{{"ts":"yesterday","device":"{device}","seq":{seq}}}"#),
            _ => "[1,2,3]".to_owned(),
        };
        return (body, false);
    }
    let temp = if seq % 7 == 0 {
        "null".to_owned()
    } else {
        format!("{}.5", seq % 40)
    };
    let body = format!(r#"{{"ts":{ts},"device":"{device}","seq":{seq},"temp":{temp}}}"#);
    (body, true)
}

/// Waits until the stage's metrics at `port` say it has taken in `bytes` of payloads
/// (`lakeseal_stage_bytes_total`, moved by every record as it is taken, refused ones too).
fn wait_taken_in(port: u16, bytes: usize, within: Duration) {
    let start = Instant::now();
    loop {
        let taken = sample(&scrape(port), "lakeseal_stage_bytes_total", &[]);
        if taken == bytes as f64 {
            return;
        }
        assert!(
            start.elapsed() < within,
            "taken in {taken} of {bytes} bytes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the stage's metrics at `port` show `partitions` consumer-lag gauges, all 0:
/// every record the broker holds has been taken in (librdkafka's statistics, every 5 s).
fn wait_caught_up_in_metrics(port: u16, partitions: usize, within: Duration) {
    let start = Instant::now();
    loop {
        let text = scrape(port);
        let lags: Vec<f64> = text
            .lines()
            .filter(|l| l.starts_with("lakeseal_stage_consumer_lag{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        if lags.len() == partitions && lags.iter().all(|&lag| lag == 0.0) {
            return;
        }
        assert!(start.elapsed() < within, "still lagging: {lags:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET <path>` of the local `port`: the status code and the body.
pub(crate) fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// `GET /metrics` of `port`: the Prometheus text.
fn scrape(port: u16) -> String {
    let (status, text) = http_get(port, "/metrics");
    assert_eq!(status, 200, "{text}");
    text
}

/// Waits until the stage's `/healthz` on `port` says `status`; returns its answer.
pub(crate) fn wait_health(port: u16, status: &str, within: Duration) -> (u16, serde_json::Value) {
    let start = Instant::now();
    loop {
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            drop(stream);
            let (code, body) = http_get(port, "/healthz");
            let health: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("/healthz is not JSON: {body}"));
            if health["status"] == status {
                return (code, health);
            }
            assert!(
                start.elapsed() < within,
                "/healthz still says {health} (waited for {status})"
            );
        }
        assert!(start.elapsed() < within, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sum of the samples of `name` whose labels include every one of `labels` (`k="v"`).
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split(['{', ' ']).next() == Some(name) && labels.iter().all(|x| l.contains(x))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_and_the_key_core_export_metrics_that_move_with_the_records() {
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    // A key core served by the binary, as an operator runs it, with its own metrics endpoint.
    let data = p.dir.path().join("served-keycore");
    init_keycore(&data);
    let (kc_port, kc_metrics, stage_metrics) = (free_port(), free_port(), free_port());
    let mut keycore = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .args([
            "keycore",
            "serve",
            "--listen",
            &format!("127.0.0.1:{kc_port}"),
        ])
        .args(["--metrics-listen", &format!("127.0.0.1:{kc_metrics}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_port(kc_port);
    let config = std::fs::read_to_string(&p.config)
        .unwrap()
        .replace(&p.kc.endpoint, &format!("http://127.0.0.1:{kc_port}"))
        .replace(
            &p.kc.credentials.display().to_string(),
            &data.join("admin-credentials").display().to_string(),
        );
    std::fs::write(&p.config, config).unwrap();
    let stage = StageProcess {
        child: Command::new(lakeseal())
            .args(["stage", "run", "--config"])
            .arg(&p.config)
            .args(["--metrics-listen", &format!("127.0.0.1:{stage_metrics}")])
            .env("RUST_LOG", "info")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    };
    wait_port(stage_metrics);
    wait_port(kc_metrics);

    let producer = p.producer();
    let mut valid = p.produce(&producer, 0..600).await;
    p.wait_caught_up(Duration::from_secs(120));
    // Beside the metrics, the health an orchestrator probes.
    let (code, health) = wait_health(stage_metrics, "consuming", Duration::from_secs(30));
    assert_eq!(code, 200, "{health}");
    let (s1, k1) = (scrape(stage_metrics), scrape(kc_metrics));
    let written1 = sample(
        &s1,
        "lakeseal_stage_records_total",
        &[r#"outcome="written""#],
    );
    let keys1 = sample(
        &k1,
        "lakeseal_keycore_requests_total",
        &[r#"operation="GenerateDataKey""#, r#"result="Success""#],
    );
    assert_eq!(written1, valid.len() as f64, "{s1}");
    // Each series against what it counts: the lake's files, one window and one data key each
    // (every window here holds valid records), a call timed per call.
    let files = p.file_count() as f64;
    let stage_series = |series: &str, labels: &[&str]| sample(&s1, series, labels);
    assert!(files > 0.0);
    for series in [
        "lakeseal_stage_files_written_total",
        "lakeseal_stage_windows_closed_total",
        "lakeseal_stage_file_write_duration_seconds_count",
        "lakeseal_keyclient_dek_cache_misses_total",
    ] {
        assert_eq!(stage_series(series, &[]), files, "{series}:\n{s1}");
    }
    let data_keys = [r#"operation="GenerateDataKey""#, r#"result="success""#];
    assert_eq!(
        stage_series("lakeseal_keyclient_calls_total", &data_keys),
        files,
        "{s1}"
    );
    assert_eq!(keys1, files, "the key core counted the same calls:\n{k1}");
    assert_eq!(
        stage_series("lakeseal_keyclient_call_duration_seconds_count", &[]),
        stage_series("lakeseal_keyclient_calls_total", &[]),
        "{s1}"
    );
    // Every record's bytes, the dead letters' too: at least the smallest record sent ("[1,2,3]")
    // for each of the 600.
    assert!(
        stage_series("lakeseal_stage_bytes_total", &[]) >= 600.0 * 7.0,
        "{s1}"
    );
    assert_eq!(
        sample(
            &s1,
            "lakeseal_stage_records_total",
            &[r#"outcome="dead_letter""#]
        ),
        (600 - valid.len()) as f64,
        "{s1}"
    );
    assert!(sample(&k1, "lakeseal_keycore_request_duration_seconds_count", &[]) > 0.0);

    valid.extend(p.produce(&producer, 600..1200).await);
    p.wait_caught_up(Duration::from_secs(120));
    // The lag gauge comes from librdkafka's statistics, every 5 s.
    wait_caught_up_in_metrics(stage_metrics, PARTITIONS as usize, Duration::from_secs(30));
    let (s2, k2) = (scrape(stage_metrics), scrape(kc_metrics));
    assert_eq!(
        sample(
            &s2,
            "lakeseal_stage_records_total",
            &[r#"outcome="written""#]
        ),
        valid.len() as f64
    );
    assert!(
        sample(
            &k2,
            "lakeseal_keycore_requests_total",
            &[r#"operation="GenerateDataKey""#, r#"result="Success""#]
        ) > keys1
    );
    assert!(s2.contains("lakeseal_stage_consumer_lag{"), "{s2}");
    assert_eq!(
        sample(&s2, "lakeseal_stage_consumer_lag", &[]),
        0.0,
        "caught up"
    );
    assert!(stage.terminate().success());
    let _ = keycore.kill();
    let _ = keycore.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_telemetry_flows_through_the_shipped_scenario() {
    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    // The scenario's own stage.toml, pointed at this broker, key core and lake.
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../pipeline-examples/iot-to-warehouse/stage.toml"),
    )
    .unwrap();
    let config = shipped
        .replace("127.0.0.1:9092", &p.broker.bootstrap)
        .replace("http://127.0.0.1:7070", &p.kc.endpoint)
        .replace(
            "./stage-credentials",
            &p.kc.credentials.display().to_string(),
        )
        .replace("file://./lake", &format!("file://{}", p.lake().display()))
        .replace("max_age_seconds = 10", "max_age_seconds = 1");
    std::fs::write(&p.config, config).unwrap();
    let stage = p.stage();
    let out = Command::new(lakeseal())
        .args([
            "simulate",
            "--brokers",
            &p.broker.bootstrap,
            "--topic",
            TOPIC,
        ])
        .args([
            "--devices",
            "500",
            "--records",
            "5000",
            "--malformed",
            "0.02",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["Records"], 5000);
    let malformed = summary["Malformed"].as_u64().unwrap();
    assert!((50..=150).contains(&malformed), "{summary}");

    p.wait_caught_up(Duration::from_secs(120));
    assert!(stage.terminate().success(), "{}", p.stage_log());
    let report = p.verify();
    assert_eq!(report["Rows"], 5000 - malformed, "{report:#}");
    assert_eq!(p.dead_letters(malformed as usize).len() as u64, malformed);
}
