//! The stage end to end on a broker: every record once, malformed ones dead-lettered; crashes,
//! stops and a second stage in the group lose and duplicate nothing.

use super::*;

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
