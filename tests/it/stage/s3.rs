//! An S3 lake (`moto_server`): every record once, by conditional PUTs that never replace a file.

use super::*;

/// `moto_server` from the test venv: an S3-compatible server with conditional PUTs.
pub(super) struct S3Server {
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
