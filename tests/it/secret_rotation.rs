//! A stage whose SASL/SCRAM login is a `secret://` reference, rotated three times by the key
//! core's `kafka-scram-user` rotator — the Kafka admin API's `AlterUserScramCredentials`, against
//! tansu behind TLS — while records keep coming. The stage follows each new version without a
//! restart, logs in with it when its connections are cut, never fails a window, and every record
//! lands exactly once; the broker refuses each old password once its rotation is done; no
//! password reaches the stage's log, librdkafka's SASL trace included.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use lakeseal_envelope::SecretBytes;
use lakeseal_keycore::{KeyCore, Principal, RequestContext};
use lakeseal_keycore_server::ServerConfig;
use lakeseal_kms_types::secrets::RotationRules;
use lakeseal_kms_types::secrets::read::GetSecretValueRequest;
use lakeseal_kms_types::secrets::rotate::RotateSecretRequest;
use lakeseal_kms_types::secrets::write::CreateSecretRequest;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use serde_json::{Value, json};

use crate::secure_broker::{ADMIN, ADMIN_PASSWORD, PASSWORD, SecureBroker, TOPIC, USER, wait_lake};
use crate::stage::{StageProcess, Window, cli_against, free_port, key_core_with_alias, send_all};
use crate::stage::{scrape, stage_toml, wait_health};

const STAGE_SECRET: &str = "kafka/stage";
const ADMIN_SECRET: &str = "kafka/admin";
const ROTATIONS: usize = 3;
/// The stage's log line when its clients take new credentials.
const TAKEN: &str = "new SASL credentials in use";

fn root() -> Principal {
    Principal::account_root("111122223333")
}

fn ctx() -> RequestContext {
    RequestContext::local("secret-rotation-test")
}

async fn create(core: &KeyCore, name: &str, value: &Value) -> String {
    core.create_secret(
        &root(),
        &ctx(),
        CreateSecretRequest {
            name: name.into(),
            secret_string: Some(SecretBytes::new(value.to_string().into_bytes())),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .secret
    .arn
}

/// The stage's current password, as the key core holds it.
async fn current_password(core: &KeyCore) -> String {
    let got = core
        .get_secret_value(
            &root(),
            &ctx(),
            GetSecretValueRequest {
                secret_id: STAGE_SECRET.into(),
                version_id: None,
                version_stage: Some("AWSCURRENT".into()),
            },
        )
        .await
        .unwrap();
    let value: Value = serde_json::from_slice(got.secret_string.unwrap().expose_secret()).unwrap();
    value["password"].as_str().unwrap().to_owned()
}

async fn rotate(core: &KeyCore) {
    core.rotate_secret(
        &root(),
        &ctx(),
        RotateSecretRequest {
            secret_id: STAGE_SECRET.into(),
            rotation_lambda_arn: Some(
                "arn:aws:lakeseal:eu-west-1:111122223333:rotator/kafka-scram-user".into(),
            ),
            rotation_rules: Some(RotationRules {
                automatically_after_days: Some(30),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

/// Whether the broker lets `USER` in with `password`: a fresh client reads the metadata.
fn logs_in(broker: &SecureBroker, password: &str) -> bool {
    let consumer: BaseConsumer = broker.client_as(USER, password).create().unwrap();
    consumer
        .fetch_metadata(Some(TOPIC), Duration::from_secs(5))
        .is_ok()
}

/// How many times the stage's log says its clients took new credentials.
fn taken(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log).unwrap().matches(TAKEN).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_follows_its_scram_password_through_three_rotations_without_a_restart() {
    let mut broker = SecureBroker::start();
    let kc = key_core_with_alias(ServerConfig::default()).await;
    let cluster = json!({
        "engine": "kafka",
        "bootstrap_servers": broker.bootstrap,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "ssl_ca_location": broker.path("ca.pem"),
    });
    let mut admin = cluster.clone();
    admin["username"] = json!(ADMIN);
    admin["password"] = json!(ADMIN_PASSWORD);
    let admin_arn = create(&kc.core, ADMIN_SECRET, &admin).await;
    let mut stage_secret = cluster;
    stage_secret["username"] = json!(USER);
    stage_secret["password"] = json!(PASSWORD);
    stage_secret["masterarn"] = json!(admin_arn);
    create(&kc.core, STAGE_SECRET, &stage_secret).await;

    // The stage's login comes only from the key core; librdkafka traces its SASL exchanges. The
    // test cuts the stage's connections after each rotation: librdkafka's reconnect backoff
    // (up to 10 s by default) is capped below the test's 6 s session timeout, so that the cut
    // costs no rebalance and the group keeps its partitions.
    let properties = format!(
        r#""security.protocol" = "SASL_SSL"
"reconnect.backoff.max.ms" = "500"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "secret://{STAGE_SECRET}#username"
"sasl.password" = "secret://{STAGE_SECRET}#password"
"ssl.ca.location" = "{ca}"
"debug" = "security""#,
        ca = broker.path("ca.pem").display()
    );
    let window = Window {
        max_records: 200,
        max_age_seconds: 1,
    };
    let lake = broker.path("lake");
    let text = stage_toml(
        &broker.bootstrap,
        &properties,
        &[TOPIC],
        &window,
        &lake,
        &kc,
    )
    .replace(
        "[source.kafka]",
        "secret_refresh_seconds = 2\n[source.kafka]",
    );
    let config = broker.path("stage.toml");
    std::fs::write(&config, text).unwrap();
    let log = broker.path("stage.log");
    let metrics = free_port();
    let stage = StageProcess::start_with(
        &config,
        &log,
        &["--metrics-listen", &format!("127.0.0.1:{metrics}")],
        "info,librdkafka=debug",
    );

    // Steady input, produced as another user, whose password never changes. Idempotent: the
    // cuts below also cut this producer, and a batch it sends again after a cut must not land
    // twice in the topic (the stage would rightly copy both into the lake).
    let producer: FutureProducer = broker
        .client_as(ADMIN, ADMIN_PASSWORD)
        .set("linger.ms", "5")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    let produced = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let input = tokio::spawn({
        let (produced, stop) = (produced.clone(), stop.clone());
        async move {
            let mut seq = 0i64;
            while !stop.load(Ordering::Relaxed) {
                let batch = (seq..seq + 20)
                    .map(|s| {
                        let body = format!(
                            r#"{{"ts":{},"device":"dev-{}","seq":{s},"temp":20.5}}"#,
                            1_795_000_000_000 + s * 10,
                            s % 7
                        );
                        (s, body)
                    })
                    .collect();
                send_all(&producer, TOPIC, batch).await;
                seq += 20;
                produced.store(seq, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let (code, health) = wait_health(metrics, "consuming", Duration::from_secs(60));
    assert_eq!(code, 200, "{health}");

    let mut passwords = vec![PASSWORD.to_owned()];
    for rotation in 1..=ROTATIONS {
        rotate(&kc.core).await;
        let new = current_password(&kc.core).await;
        let old = passwords.last().unwrap().clone();
        assert_ne!(new, old, "rotation {rotation} changed nothing");
        assert!(
            !logs_in(&broker, &old),
            "rotation {rotation}: the broker still takes the old password"
        );
        assert!(
            logs_in(&broker, &new),
            "rotation {rotation}: the broker refuses the new password"
        );
        passwords.push(new);

        // The stage takes the new version on its own, within a few checks.
        let start = Instant::now();
        while taken(&log) < rotation {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "rotation {rotation}: the stage never took the new credentials:\n{}",
                std::fs::read_to_string(&log).unwrap()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Its connections cut, it logs in again — with the new password, the only one the
        // broker takes — and goes on writing what keeps coming.
        broker.cut_connections();
        let target = usize::try_from(produced.load(Ordering::Relaxed)).unwrap() + 100;
        let lake_so_far = wait_lake(&kc, &lake, target, Duration::from_secs(90));
        assert!(lake_so_far.len() >= target);
    }

    stop.store(true, Ordering::Relaxed);
    input.await.unwrap();
    let total = usize::try_from(produced.load(Ordering::Relaxed)).unwrap();
    let held = wait_lake(&kc, &lake, total, Duration::from_secs(90));
    // The lake's files cover their partitions' offsets with no gap and no overlap: a record the
    // stage wrote twice would be an overlap. Then every record produced is there once.
    let verify = cli_against(
        &kc,
        &[
            "lake",
            "verify",
            "--table",
            "telemetry",
            lake.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let want: Vec<i64> = (0..i64::try_from(total).unwrap()).collect();
    assert!(
        held == want,
        "not every record exactly once: {}",
        difference(&held, &want)
    );

    let scraped = scrape(metrics);
    let (code, health) = wait_health(metrics, "consuming", Duration::from_secs(5));
    assert_eq!(code, 200, "never failed, never restarted: {health}");
    assert!(stage.terminate().success(), "the stage stopped cleanly");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("SCRAM"),
        "librdkafka's SASL trace is not in the log, so it proves nothing"
    );
    for password in passwords.iter().chain([&ADMIN_PASSWORD.to_owned()]) {
        assert!(!log.contains(password.as_str()), "a password is in the log");
        assert!(
            !scraped.contains(password.as_str()),
            "a password is a metric"
        );
    }
    for failure in ["cannot go on", "cannot write a window", "dropped unwritten"] {
        assert!(!log.contains(failure), "{failure}:\n{log}");
    }
    assert!(
        scraped.contains("lakeseal_stage_secret_checks_total{result=\"updated\"} 3"),
        "three new versions taken:\n{scraped}"
    );
}

/// What `held` (sorted) has twice and what it lacks of `want`, the first few of each.
fn difference(held: &[i64], want: &[i64]) -> String {
    let twice: Vec<i64> = held
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .take(20)
        .collect();
    let missing: Vec<i64> = want
        .iter()
        .filter(|s| held.binary_search(s).is_err())
        .copied()
        .take(20)
        .collect();
    format!(
        "{} held, {} wanted; twice: {twice:?}; missing: {missing:?}",
        held.len(),
        want.len()
    )
}
