//! Topics as producers in the field write them: every compression codec, batched by a stock
//! `confluent-kafka` producer, read completely and exactly once; and a topic the stage cannot
//! read stops it at once, naming the cause, instead of a stage that consumes nothing for ever.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use lakeseal_keycore_server::ServerConfig;

use crate::broker::Broker;
use crate::stage::{DLQ, StageProcess, Window, cli_against, key_core_with_alias, seqs, stage_toml};
use crate::support::RunningKeyCore;

/// Every codec a Kafka producer may compress a batch with.
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const PER_CODEC: i64 = 2_000;

fn window() -> Window {
    Window {
        max_records: 500,
        max_age_seconds: 1,
    }
}

/// A key core, and `dir/<name>.toml` reading `topics` from `broker` into `dir/lake`.
async fn pipeline(
    broker: &Broker,
    topics: &[&str],
    dir: &Path,
    name: &str,
) -> (RunningKeyCore, PathBuf) {
    let kc = key_core_with_alias(ServerConfig::default()).await;
    let text = stage_toml(
        &broker.bootstrap,
        "",
        topics,
        &window(),
        &dir.join("lake"),
        &kc,
    );
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(&config, text).unwrap();
    (kc, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_in_every_codec_are_read_completely_and_exactly_once() {
    let broker = Broker::start();
    broker.create_topic(DLQ, 1);
    let topics: Vec<String> = CODECS.iter().map(|c| format!("codec-{c}")).collect();
    let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
    for topic in &topics {
        broker.create_topic(topic, 2);
    }
    let dir = tempfile::tempdir().unwrap();
    let (kc, config) = pipeline(&broker, &topics, dir.path(), "stage").await;
    for (i, (codec, topic)) in CODECS.iter().zip(&topics).enumerate() {
        let first = i64::try_from(i).unwrap() * PER_CODEC;
        let acknowledged = kc
            .python(
                "produce_codecs.py",
                &[
                    ("BOOTSTRAP", &broker.bootstrap),
                    ("TOPIC", topic),
                    ("CODEC", codec),
                    ("RECORDS", &PER_CODEC.to_string()),
                    ("FIRST", &first.to_string()),
                ],
            )
            .await;
        assert_eq!(acknowledged.trim(), PER_CODEC.to_string(), "{codec}");
    }
    let log = dir.path().join("stage.log");
    let stage = StageProcess::start(&config, &log);

    // `lake verify` against the brokers' offsets: every offset of every partition in the lake,
    // no gap, no overlap.
    let lake = dir.path().join("lake");
    let mut verify = vec!["lake", "verify", "--table", "telemetry"];
    verify.extend([lake.to_str().unwrap(), "--brokers", &broker.bootstrap]);
    for topic in &topics {
        verify.extend(["--topic", topic]);
    }
    let start = Instant::now();
    loop {
        let out = cli_against(&kc, &verify, &[]);
        if out.status.success() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the lake never covered every topic:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(stage.terminate().success());

    let read = cli_against(
        &kc,
        &["lake", "read", lake.join("telemetry").to_str().unwrap()],
        &[],
    );
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let all: Vec<i64> = (0..PER_CODEC * i64::try_from(CODECS.len()).unwrap()).collect();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(seqs(&read.stdout), all, "every record exactly once:\n{log}");
    assert!(
        !log.contains("Not implemented"),
        "a codec was refused:\n{log}"
    );
}

/// The stage's closing `error: ` line, once it has exited non-zero within `within`.
fn closing_error(stage: StageProcess, log: &Path, within: Duration) -> String {
    let status = stage.exit_within(within);
    let log = std::fs::read_to_string(log).unwrap();
    let status = status.unwrap_or_else(|| panic!("still running after {within:?}:\n{log}"));
    assert!(!status.success(), "exited 0:\n{log}");
    log.lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{status}, no closing error:\n{log}"))
        .to_owned()
}

/// A topic deleted under a running stage is not tested here: tansu 0.6 then answers metadata
/// with a topic of null name and no error, on which librdkafka 2.12 dereferences the name and
/// crashes (`rd_kafka_metadata_update_op`); Apache Kafka answers `UNKNOWN_TOPIC_OR_PARTITION`,
/// which stops the stage as below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_that_does_not_exist_stops_the_stage_at_once_naming_source_topics() {
    let broker = Broker::start();
    broker.create_topic(DLQ, 1);
    broker.create_topic("telemetry", 1);
    let dir = tempfile::tempdir().unwrap();

    // Subscribed to a topic that is not there (consumers do not ask the broker to create one),
    // beside one that is.
    let (_kc, config) = pipeline(
        &broker,
        &["telemetry", "no-such-topic"],
        dir.path(),
        "stage",
    )
    .await;
    let log = dir.path().join("stage.log");
    let error = closing_error(
        StageProcess::start(&config, &log),
        &log,
        Duration::from_secs(10),
    );
    assert!(
        error.contains("source.topics") && error.contains("no-such-topic"),
        "{error}"
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.matches("broker error; retrying").count() < 5,
        "a loop of warnings before the error:\n{log}"
    );
}
