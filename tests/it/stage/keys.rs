//! The stage and its key core: outages and throttling ridden out, one data key per partition per
//! window, readers stopped by a disabled key, an embedded key core called as a user.

use super::*;

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

/// `<tool> rows=N` out of the reader script's output.
pub(super) fn rows(out: &str, tool: &str) -> Option<usize> {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{tool} rows=")))
        .map(|n| n.parse().unwrap())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_on_twenty_second_role_credentials_runs_on_through_their_expiries() {
    let server = ServerConfig {
        min_session_seconds: 20,
        ..ServerConfig::default()
    };
    let p = Pipeline::start(
        server,
        Window {
            max_records: 1_000_000,
            max_age_seconds: 2,
        },
    )
    .await;
    crate::credentials_endpoint::stage_role_for_workload(&p.kc.core, "stage-1").await;
    let token_file = p.dir.path().join("stage-token");
    crate::credentials_endpoint::workload_token(&p.kc.core, "stage-1", Some(20), &token_file).await;
    let uri = p.kc.serve_credentials().await;
    // No access key in the stage's configuration: only the endpoint and the token file.
    let toml = std::fs::read_to_string(&p.config).unwrap();
    let credentials_line = format!("credentials_file = \"{}\"", p.kc.credentials.display());
    assert!(toml.contains(&credentials_line));
    std::fs::write(
        &p.config,
        toml.replace(
            &credentials_line,
            &format!(
                "container_credentials_uri = \"{uri}\"\n\
                 container_authorization_token_file = \"{}\"",
                token_file.display()
            ),
        ),
    )
    .unwrap();

    let stage = p.stage();
    let producer = p.producer();
    // Two minutes of steady input: six lifetimes of the stage's credentials.
    let mut valid = Vec::new();
    let start = Instant::now();
    let mut second = 0;
    while start.elapsed() < Duration::from_secs(120) {
        valid.extend(p.produce(&producer, second * 20..second * 20 + 20).await);
        second += 1;
        // The input's pace (20 records a second), not a wait for something to happen.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    p.wait_caught_up(Duration::from_secs(60));
    assert!(stage.terminate().success(), "{}", p.stage_log());

    let log = p.stage_log();
    assert!(
        !log.contains("pausing consumption"),
        "the stage paused for its credentials:\n{log}"
    );
    assert_eq!(
        p.audited("GenerateDataKey", "ExpiredTokenException"),
        0,
        "a request went out on expired credentials"
    );
    let issued = p.audited("GetRoleCredentials", "Success");
    assert!(
        issued >= 6,
        "{issued} issues of credentials in two minutes of 20-second ones"
    );
    p.verify();
    assert_exactly_once(&p.lake_seqs(), &valid);
    p.assert_no_plaintext();
}
