//! The stage's and the key core's metrics move with the records; the shipped scenario runs as
//! shipped. The key core here serves TLS under the private CA `keycore init` made.

use super::*;

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
    let ca_file = data.join("tls/ca.pem");
    let config = std::fs::read_to_string(&p.config)
        .unwrap()
        .replace(
            &format!("endpoint = \"{}\"", p.kc.endpoint),
            &format!(
                "endpoint = \"https://127.0.0.1:{kc_port}\"\nca_file = \"{}\"",
                ca_file.display()
            ),
        )
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
    // And per key: all of them under the one key's id, never a string a caller sent.
    assert_eq!(
        sample(
            &k1,
            "lakeseal_keycore_key_requests_total",
            &[r#"operation="GenerateDataKey""#, r#"result="Success""#]
        ),
        files,
        "{k1}"
    );
    let key_ids: std::collections::BTreeSet<&str> = k1
        .lines()
        .filter(|l| l.starts_with("lakeseal_keycore_key_requests_total{"))
        .filter_map(|l| l.split("key_id=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(key_ids.len(), 1, "{k1}");
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
    // As shipped, the stage holds a workload identity's token, not an access key.
    crate::credentials_endpoint::stage_role_for_workload(&p.kc.core, "stage").await;
    let token_file = p.dir.path().join("stage.token");
    crate::credentials_endpoint::workload_token(&p.kc.core, "stage", None, &token_file).await;
    let credentials_uri = p.kc.serve_credentials().await;
    let config = shipped
        .replace("127.0.0.1:9092", &p.broker.bootstrap)
        // This harness's key core speaks plain HTTP on loopback; the shipped TLS settings run
        // in scripts/demo.sh and in the metrics test above.
        .replace("https://127.0.0.1:7070", &p.kc.endpoint)
        .replace("https://127.0.0.1:7071/v1/credentials", &credentials_uri)
        .replace("ca_file = \"./ca.pem\"", "")
        .replace("./stage.token", token_file.to_str().unwrap())
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
