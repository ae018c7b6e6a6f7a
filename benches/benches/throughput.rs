//! The end-to-end throughput benchmark, side by side in one run on the local broker (tansu):
//! 1. the raw consume ceiling: an rdkafka consume-only loop over the topic;
//! 2. the stage writing plain Parquet (encryption off: the benchmark's baseline only);
//! 3. the stage as shipped: encrypted Parquet, data keys from the embedded key core;
//! 4. the same stage reading the same records compressed with zstd, over TLS (a second tansu
//!    behind stunnel, as `tests/it/tls_front.rs` runs it): the cost of what production brokers
//!    ask for;
//! 5. what a Python user would write instead (`benches/python/pipeline.py`): confluent-kafka,
//!    windows parsed with `pyarrow.json`, written with pyarrow's own modular encryption — and the
//!    common per-record `json.loads` version. Their venv is made under the target directory.
//!
//! Each mode runs in a process of its own (this binary again, `--mode`), so CPU time (user +
//! system, librdkafka's threads included) and peak RSS are its own; they come from
//! `/proc/self/stat` (at 100 ticks a second) and `VmHWM`. Beside them: each thread's busy share
//! of the run, the whole machine's (`/proc/stat`: both cores, the broker's process included),
//! and for the stages the tail — from the last record taken to the last window in the lake —
//! which say whether a mode is bound by CPU or by the broker's round trips. Each mode runs
//! `LAKESEAL_BENCH_ROUNDS` times (default 3; the per-record Python one once), interleaved; the
//! run of median rate is reported. Records: `LAKESEAL_BENCH_RECORDS` (default 2,000,000)
//! simulated telemetry records of about 190 bytes over 4 partitions.
//!
//!     cargo bench -p lakeseal-benches --bench throughput
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lakeseal_keyclient::{Either, InProcess};
use lakeseal_keycore::ops::aliases::AliasRequest;
use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};
use lakeseal_stage::config::StageConfig;
use lakeseal_stage::run::{FETCH_QUEUE_BACKOFF_MS, Stage};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde_json::json;

#[path = "../../tests/it/tls_front.rs"]
mod tls_front;

const TOPIC: &str = "bench";
/// Every consumer's `fetch.wait.max.ms`, as the shipped `stage.toml` sets it: tansu 0.6 holds
/// each fetch for its whole wait even with records to send, which at librdkafka's 500 ms caps
/// any consumer at one fetch (5 MB) every 250 ms, about 90,000 records/s.
const FETCH_WAIT_MS: &str = "10";
const MODES: &[&str] = &[
    "raw-consume",
    "stage-plain",
    "stage-encrypted",
    "stage-tls-zstd",
    "python-batched",
    "python-per-record",
];

/// A venv with `benches/python/requirements.txt` under the target directory, made when missing or
/// when the requirements change.
fn python() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/release/deps/throughput-… → target/
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let venv = target.join("bench-venv");
    let requirements =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).unwrap();
    let stamp = venv.join("requirements.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        eprintln!("making {} (confluent-kafka, pyarrow)", venv.display());
        assert!(
            Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap()
                .success()
        );
        assert!(
            Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "--disable-pip-version-check", "-r"])
                .arg(&requirements)
                .status()
                .unwrap()
                .success()
        );
        std::fs::write(&stamp, wanted).unwrap();
    }
    venv.join("bin/python")
}

/// `LAKESEAL_BENCH_ROUNDS` (default 3): runs of each mode but the per-record Python one.
fn rounds() -> usize {
    std::env::var("LAKESEAL_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

/// The broker a mode reads: its address, and the CA to trust when it speaks TLS.
struct Source<'a> {
    bootstrap: &'a str,
    ca: Option<&'a std::path::Path>,
}

/// One run of `mode` in a process of its own: its JSON line.
fn run_mode(
    mode: &str,
    source: &Source<'_>,
    n: u64,
    exe: &std::path::Path,
    python: &std::path::Path,
    script: &std::path::Path,
) -> serde_json::Value {
    let mut command = match mode.strip_prefix("python-") {
        Some(python_mode) => {
            let mut c = Command::new(python);
            c.arg(script)
                .env("MODE", python_mode)
                .env("TOPIC", TOPIC)
                .env("RECORDS", n.to_string())
                .env("FETCH_WAIT_MS", FETCH_WAIT_MS)
                .env("FETCH_QUEUE_BACKOFF_MS", FETCH_QUEUE_BACKOFF_MS);
            c
        }
        None => {
            let mut c = Command::new(exe);
            c.args(["--mode", mode]);
            c
        }
    };
    if let Some(ca) = source.ca {
        command.env("TLS_CA", ca);
    }
    let out = command
        .env("BOOTSTRAP", source.bootstrap)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{mode} failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn records() -> u64 {
    std::env::var("LAKESEAL_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000_000)
}

/// CPU seconds (user + system) in a `/proc/…/stat` line.
fn cpu_seconds(stat: &str) -> f64 {
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// CPU seconds (user + system) and peak RSS in MiB of this process so far.
fn usage() -> (f64, f64) {
    let cpu = cpu_seconds(&std::fs::read_to_string("/proc/self/stat").unwrap());
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    (cpu, hwm_kb / 1024.0)
}

/// Busy and total ticks of the whole machine (every core, the broker's process included) so far.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|t| t.parse().unwrap())
        .collect();
    // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
    let total: u64 = ticks.iter().sum();
    (total - ticks[3] - ticks[4], total)
}

/// CPU seconds of each live thread of this process by name, librdkafka's (`rdk:*`) together.
fn thread_cpu() -> serde_json::Value {
    let mut by_name = serde_json::Map::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let (Ok(stat), Ok(name)) = (
            std::fs::read_to_string(dir.join("stat")),
            std::fs::read_to_string(dir.join("comm")),
        ) else {
            continue; // ended meanwhile
        };
        let name = name.trim();
        let name = if name.starts_with("rdk:") {
            "librdkafka"
        } else {
            name
        };
        let total = by_name.entry(name).or_insert(json!(0.0));
        *total = json!(total.as_f64().unwrap() + cpu_seconds(&stat));
    }
    serde_json::Value::Object(by_name)
}

fn raw_consume(bootstrap: &str, n: u64) -> serde_json::Value {
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("bench-raw-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", FETCH_WAIT_MS)
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let (mut count, mut bytes) = (0u64, 0u64);
    while count < n {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            count += 1;
            bytes += m.payload().map_or(0, |p| p.len() as u64);
        }
    }
    json!({
        "records": count,
        "bytes": bytes,
        "seconds": started.elapsed().as_secs_f64(),
        "key_calls": 0,
        "threads": thread_cpu(),
    })
}

/// The stage over `bootstrap`, with `kafka` properties added to the shipped `stage.toml`'s.
fn stage(bootstrap: &str, kafka: &str, n: u64, encrypted: bool) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("keycore");
    KeyCore::init(
        &data,
        &InitOptions {
            region: "eu-west-1".into(),
            account_id: None,
            partition: "aws".into(),
        },
    )
    .unwrap();
    // The stage calls the embedded key core as its own user, as `lakeseal stage run` does.
    let core = KeyCore::open(&data, Options::default()).unwrap();
    let stage_user = runtime.block_on(async {
        let root = Principal::account_root(&core.location().account_id);
        let ctx = RequestContext::local("bench");
        let key = core
            .create_key(&root, &ctx, Default::default())
            .await
            .unwrap()
            .key_metadata
            .key_id;
        core.create_alias(
            &root,
            &ctx,
            AliasRequest {
                alias_name: "alias/telemetry".into(),
                target_key_id: key,
            },
        )
        .await
        .unwrap();
        core.create_user(&root, &ctx, "stage").await.unwrap();
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}"#;
        core.put_user_policy(&root, &ctx, "stage", "stage-keys", policy)
            .await
            .unwrap();
        core.local_user("stage").unwrap()
    });
    let shipped = include_str!("../../pipeline-examples/iot-to-warehouse/stage.toml");
    assert!(
        shipped.contains(&format!("\"fetch.wait.max.ms\" = \"{FETCH_WAIT_MS}\"")),
        "the stage runs with the same fetch wait as the other modes"
    );
    let keycore = shipped.split("[keycore]").nth(1).unwrap();
    let text = shipped
        .replace(
            keycore,
            &format!("\ndata_dir = \"{}\"\nuser = \"stage\"\n", data.display()),
        )
        .replace("127.0.0.1:9092", bootstrap)
        .replace(
            "topics = [\"telemetry\"]",
            &format!("topics = [\"{TOPIC}\"]"),
        )
        .replace(
            "\"lakeseal-stage\"",
            &format!("\"bench-stage-{}\"", std::process::id()),
        )
        .replace(
            "file://./lake",
            &format!("file://{}", dir.path().join("lake").display()),
        )
        .replace("max_age_seconds = 10", "max_age_seconds = 60")
        .replace("[source.kafka]\n", &format!("[source.kafka]\n{kafka}"));
    assert!(
        text.contains(kafka),
        "the properties went into [source.kafka]"
    );
    let config = StageConfig::from_toml(&text).unwrap();
    let started = Instant::now();
    let keys = lakeseal_stage::keys::key_client(
        Either::InProcess(InProcess::new(core, stage_user)),
        config.keycore_rate,
        config.window.max_age,
        lakeseal_stage::keys::STAGE_RETRIES,
    );
    let mut stage = Stage::new(
        config,
        keys,
        runtime.handle().clone(),
        lakeseal_stage::health::Health::default(),
        lakeseal_stage::secrets::StageSecrets::none(),
    )
    .unwrap();
    if !encrypted {
        stage = stage.unencrypted_benchmark_baseline();
    }
    let totals = stage.totals();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let worker = std::thread::Builder::new()
        .name("lakeseal-stage".into())
        .spawn(move || stage.run(&flag))
        .unwrap();
    // Looked at every 20 ms, then every millisecond near the end: the stop comes within a
    // millisecond of the last record, as the raw loop's does on it.
    loop {
        let left = n.saturating_sub(totals.consumed.load(Ordering::Relaxed));
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(if left > 20_000 { 20 } else { 1 }));
    }
    // Every record is in a window: stop, which writes them all. The clock stops when the lake
    // holds every record, before the consumer leaves its group (as for the raw loop).
    stop.store(true, Ordering::Relaxed);
    let stopped = Instant::now();
    while totals.records.load(Ordering::Relaxed) < n && !worker.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let seconds = started.elapsed().as_secs_f64();
    let tail = stopped.elapsed().as_secs_f64();
    let threads = thread_cpu();
    worker.join().unwrap().unwrap();
    let bytes: u64 = walk(&dir.path().join("lake"));
    json!({
        "records": totals.records.load(Ordering::Relaxed),
        "bytes": bytes,
        "seconds": seconds,
        "key_calls": if encrypted { totals.files.load(Ordering::Relaxed) } else { 0 },
        "files": totals.files.load(Ordering::Relaxed),
        "tail_seconds": tail,
        "threads": threads,
    })
}

/// Bytes of every file under `dir`.
fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap())
                .map(|e| {
                    if e.file_type().unwrap().is_dir() {
                        walk(&e.path())
                    } else {
                        e.metadata().unwrap().len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A tansu broker on memory storage with the bench topic; stopped on drop.
struct Broker(Child);

impl Broker {
    /// Listening on `listen`, advertising `advertise` (a TLS front's port, or `listen` itself).
    fn start(listen: u16, advertise: u16) -> Self {
        let url = |port: u16| format!("tcp://127.0.0.1:{port}");
        let broker = Self(
            Command::new("tansu")
                .args(["broker", "--storage-engine", "memory://tansu/"])
                .args(["--listener-url", &url(listen)])
                .args(["--advertised-listener-url", &url(advertise)])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect(
                    "tansu is needed: cargo install tansu --locked --features dynostore,libsql",
                ),
        );
        tls_front::wait_port(listen);
        let created = Command::new("tansu")
            .args(["topic", "create", TOPIC, "--partitions", "4", "--broker"])
            .arg(url(listen))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(created.success());
        broker
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `n` simulated records into the bench topic at `bootstrap`, with `kafka` properties; the
/// records' mean size.
fn produce(
    runtime: &tokio::runtime::Runtime,
    bootstrap: &str,
    kafka: &[(&str, &str)],
    n: u64,
) -> f64 {
    let produced = runtime.block_on(async {
        // The same seed each time: the same records on every broker.
        let mut fleet = lakeseal_simulator::Fleet::new(10_000, 0.0, 1, 1_795_000_000_000).unwrap();
        let run = lakeseal_simulator::Run {
            brokers: bootstrap.into(),
            kafka: kafka
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned().into()))
                .collect(),
            topic: TOPIC.into(),
            records: n,
            rate: 0,
            progress: false,
        };
        lakeseal_simulator::produce(&mut fleet, &run).await.unwrap()
    });
    produced.bytes as f64 / produced.records as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--mode") {
        let bootstrap = std::env::var("BOOTSTRAP").unwrap();
        let n = records();
        let (busy_before, total_before) = machine_ticks();
        let mut result = match args[i + 1].as_str() {
            "raw-consume" => raw_consume(&bootstrap, n),
            "stage-plain" => stage(&bootstrap, "", n, false),
            "stage-encrypted" => stage(&bootstrap, "", n, true),
            "stage-tls-zstd" => {
                let ca = std::env::var("TLS_CA").unwrap();
                let tls =
                    format!("\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"{ca}\"\n");
                stage(&bootstrap, &tls, n, true)
            }
            other => panic!("unknown mode {other}"),
        };
        let (busy_after, total_after) = machine_ticks();
        result["machine_busy"] =
            json!((busy_after - busy_before) as f64 / (total_after - total_before) as f64);
        let (cpu, rss) = usage();
        result["cpu_seconds"] = json!(cpu);
        result["peak_rss_mib"] = json!(rss);
        println!("{result}");
        return;
    }
    let n = records();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let port = free_port();
    let _broker = Broker::start(port, port);
    let bootstrap = format!("127.0.0.1:{port}");
    eprintln!("producing {n} records into {TOPIC} (4 partitions)");
    let mean = produce(&runtime, &bootstrap, &[], n);

    // The same records, zstd-compressed, on a second broker that clients reach over TLS only.
    let certificates = tempfile::tempdir().unwrap();
    tls_front::make_certificates(certificates.path());
    let ca = certificates.path().join("ca.pem");
    let (behind, tls) = (free_port(), free_port());
    let _tls_broker = Broker::start(behind, tls);
    let _tls_front = tls_front::TlsFront::start(certificates.path(), tls, behind);
    let tls_bootstrap = format!("127.0.0.1:{tls}");
    eprintln!("producing them again, zstd, over TLS");
    let tls_props = [
        ("security.protocol", "SSL"),
        ("ssl.ca.location", ca.to_str().unwrap()),
        ("compression.codec", "zstd"),
    ];
    produce(&runtime, &tls_bootstrap, &tls_props, n);
    println!(
        "{n} records of {mean:.0} bytes on average, 4 partitions, tansu (memory storage); \
         stage-tls-zstd reads the same records, zstd batches, over TLS (stunnel in front of a \
         second tansu)\n"
    );
    let plain_source = Source {
        bootstrap: &bootstrap,
        ca: None,
    };
    let tls_source = Source {
        bootstrap: &tls_bootstrap,
        ca: Some(&ca),
    };
    let exe = std::env::current_exe().unwrap();
    let python = python();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/pipeline.py");
    // Rounds interleave the modes, so that a slow spell of this machine hits them all alike; the
    // per-record Python pipeline (slow, and only a contrast) runs once.
    let rounds = rounds();
    let mut runs: Vec<(&str, Vec<serde_json::Value>)> =
        MODES.iter().map(|mode| (*mode, Vec::new())).collect();
    for round in 0..rounds {
        for (mode, results) in &mut runs {
            if *mode == "python-per-record" && round > 0 {
                continue;
            }
            let source = if *mode == "stage-tls-zstd" {
                &tls_source
            } else {
                &plain_source
            };
            results.push(run_mode(mode, source, n, &exe, &python, &script));
        }
    }
    let rate = |r: &serde_json::Value| n as f64 / r["seconds"].as_f64().unwrap();
    // Each mode's run of median rate (its CPU, RSS and threads with it).
    let rows: Vec<(&str, serde_json::Value)> = runs
        .iter()
        .map(|(mode, results)| {
            let mut sorted = results.clone();
            sorted.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
            let spread = format!(
                "{:.0}–{:.0}",
                rate(&sorted[0]),
                rate(&sorted[sorted.len() - 1])
            );
            let mut median = sorted[sorted.len() / 2].clone();
            median["spread"] = json!(spread);
            (*mode, median)
        })
        .collect();
    println!("median of {rounds} interleaved runs a mode (python-per-record: 1)\n");
    println!(
        "| mode | records/s | (range over runs) | MB/s in | CPU µs/record | peak RSS MiB | key-core calls |\n|---|---|---|---|---|---|---|"
    );
    for (mode, r) in &rows {
        println!(
            "| {mode} | {:.0} | {} | {:.1} | {:.2} | {:.0} | {} |",
            rate(r),
            r["spread"].as_str().unwrap(),
            rate(r) * mean / 1e6,
            r["cpu_seconds"].as_f64().unwrap() * 1e6 / n as f64,
            r["peak_rss_mib"].as_f64().unwrap(),
            r["key_calls"]
        );
    }
    let row = |name: &str| &rows.iter().find(|(mode, _)| *mode == name).unwrap().1;
    let (raw, plain, enc) = (
        rate(row("raw-consume")),
        rate(row("stage-plain")),
        rate(row("stage-encrypted")),
    );
    let tls_zstd = rate(row("stage-tls-zstd"));
    let cpu = |name: &str| row(name)["cpu_seconds"].as_f64().unwrap();
    println!(
        "\nratios: encrypted/raw {:.2}, encrypted/plain {:.2}, plain/raw {:.2}, \
         stage CPU / batched Python CPU {:.2}, stage rate / batched Python rate {:.2}",
        enc / raw,
        enc / plain,
        plain / raw,
        cpu("stage-encrypted") / cpu("python-batched"),
        enc / rate(row("python-batched"))
    );
    println!(
        "TLS and zstd: stage-tls-zstd/stage-encrypted rate {:.2}, CPU {:.2}",
        tls_zstd / enc,
        cpu("stage-tls-zstd") / cpu("stage-encrypted")
    );
    println!(
        "\nCPU µs/record by thread (threads alive when the last record was in), and the share of \
         the run each was busy; the whole machine's busy share (both cores, the broker included):"
    );
    for (mode, r) in &rows {
        let Some(threads) = r["threads"].as_object() else {
            continue;
        };
        let seconds = r["seconds"].as_f64().unwrap();
        let mut threads: Vec<(&String, f64)> = threads
            .iter()
            .map(|(name, s)| (name, s.as_f64().unwrap()))
            .filter(|(_, cpu)| cpu * 1e6 / n as f64 >= 0.01)
            .collect();
        threads.sort_by(|a, b| b.1.total_cmp(&a.1));
        let threads: Vec<String> = threads
            .iter()
            .map(|(name, cpu)| {
                let us = cpu * 1e6 / n as f64;
                format!("{name} {us:.2} ({:.0} %)", 100.0 * cpu / seconds)
            })
            .collect();
        let machine = r["machine_busy"].as_f64().unwrap_or(f64::NAN);
        println!(
            "  {mode}: {}; machine {:.0} % busy",
            threads.join(", "),
            100.0 * machine
        );
        if let Some(tail) = r["tail_seconds"].as_f64() {
            println!(
                "    last windows in the lake {:.0} ms after the last record was taken ({:.0} % of the run)",
                tail * 1e3,
                100.0 * tail / seconds
            );
        }
    }
}
