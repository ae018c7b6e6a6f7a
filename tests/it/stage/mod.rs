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

mod delivery;
mod keys;
mod metrics;
mod observe;
mod s3;
mod stage_toml;

pub(crate) use self::observe::{free_port, sample, scrape, wait_health};
use self::observe::{wait_caught_up_in_metrics, wait_taken_in};
pub(crate) use self::stage_toml::{Window, stage_toml};

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

/// `lakeseal --data-dir DATA <args>`, which must succeed; its stdout.
pub(crate) fn lakeseal_at(data: &Path, args: &[&str]) -> Vec<u8> {
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

/// A key core made as an operator makes one: `keycore init` (with a private CA and a server
/// certificate for 127.0.0.1 in `tls/`), a key, `alias/telemetry`.
fn init_keycore(data: &Path) {
    lakeseal_at(
        data,
        &[
            "keycore",
            "init",
            "--region",
            REGION,
            "--tls-name",
            "127.0.0.1",
        ],
    );
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
