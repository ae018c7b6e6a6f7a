//! An S3 lake (`moto_server`): every record once, by conditional PUTs that never replace a file;
//! and a sink signing with an access key from `secret://`, rotated while the stage runs against
//! a moto that checks every signature.

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

/// moto's IAM, driven through boto3 as `user`'s own access key `(id, secret)` (or, before
/// authentication starts, as anyone): `op` is `setup` (bucket, user, policy, first key),
/// `new-key`, `delete-key ID` or `can-list`. Prints a key as `id secret`.
const MOTO_IAM: &str = r#"
import sys, boto3, botocore
endpoint, op, key_id, secret = sys.argv[1:5]
session = dict(endpoint_url=endpoint, region_name="us-east-1",
               aws_access_key_id=key_id, aws_secret_access_key=secret)
iam, s3 = boto3.client("iam", **session), boto3.client("s3", **session)
def key(k): print(k["AccessKeyId"], k["SecretAccessKey"])
if op == "setup":
    s3.create_bucket(Bucket="lake")
    iam.create_user(UserName="stage")
    iam.put_user_policy(UserName="stage", PolicyName="all", PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}')
    key(iam.create_access_key(UserName="stage")["AccessKey"])
elif op == "new-key":
    key(iam.create_access_key(UserName="stage")["AccessKey"])
elif op == "delete-key":
    iam.delete_access_key(UserName="stage", AccessKeyId=sys.argv[5])
elif op == "can-list":
    try:
        s3.list_objects_v2(Bucket="lake")
    except botocore.exceptions.ClientError:
        sys.exit(1)
"#;

/// An access key of moto's user `stage`.
#[derive(Clone)]
struct MotoKey {
    id: String,
    secret: String,
}

impl S3Server {
    /// moto checking signatures against its own IAM once the set-up's four requests are done;
    /// its bucket `lake` and the first access key of its user `stage`.
    fn start_authenticating() -> (Self, MotoKey) {
        let port = free_port();
        let venv = crate::support::venv();
        let child = Command::new(venv.join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "4")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let s3 = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        wait_port(port);
        let anyone = MotoKey {
            id: "AKIDSETUP0000000000".into(),
            secret: "set-up".into(),
        };
        let first = s3.iam(&anyone, &["setup"]).unwrap();
        (s3, first)
    }

    /// Runs `op` as `key`; its key when it prints one.
    fn iam(&self, key: &MotoKey, op: &[&str]) -> Result<MotoKey, String> {
        let out = Command::new(crate::support::venv().join("bin/python"))
            .args(["-c", MOTO_IAM, &self.endpoint, op[0], &key.id, &key.secret])
            .args(&op[1..])
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let text = String::from_utf8(out.stdout).unwrap();
        let mut words = text.split_whitespace();
        Ok(MotoKey {
            id: words.next().unwrap_or_default().to_owned(),
            secret: words.next().unwrap_or_default().to_owned(),
        })
    }

    fn can_list(&self, key: &MotoKey) -> bool {
        self.iam(key, &["can-list"]).is_ok()
    }
}

/// Waits until `lake verify` finds every offset of the topic under `s3://lake/warehouse` (read
/// with `env`), then returns every `seq` there.
fn wait_verified(p: &Pipeline, env: &[(&str, &str)], within: Duration) -> Vec<i64> {
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
            env,
        )
    };
    let start = Instant::now();
    while !verify().status.success() {
        assert!(
            start.elapsed() < within,
            "the bucket never caught up: {}\n{}",
            String::from_utf8_lossy(&verify().stdout),
            p.stage_log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    p.seqs_of("s3://lake/warehouse/telemetry", env)
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

    let s3_env = [("AWS_ENDPOINT_URL", s3.endpoint.as_str())];
    let seqs = wait_verified(&p, &s3_env, Duration::from_secs(120));
    assert!(stage.terminate().success(), "{}", p.stage_log());
    assert_eq!(p.file_count(), 0, "nothing went to the local directory");
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

/// The stage's S3 key as a `secret://` reference: the key core's secret `s3/lake` names moto's
/// key; a new key is put in the secret and the old one deleted from moto while the stage writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_signs_with_a_secret_key_that_rotates_while_it_writes() {
    use lakeseal_envelope::SecretBytes;
    use lakeseal_kms_types::secrets::write::{CreateSecretRequest, PutSecretValueRequest};

    let (s3, first) = S3Server::start_authenticating();
    assert!(s3.can_list(&first), "moto takes its own key");
    let wrong = MotoKey {
        id: first.id.clone(),
        secret: "not-the-secret".into(),
    };
    assert!(!s3.can_list(&wrong), "moto does not check signatures");

    let p = Pipeline::start(ServerConfig::default(), small_windows()).await;
    let (root, ctx) = (
        Principal::account_root("111122223333"),
        RequestContext::local("s3-key-test"),
    );
    let value = |key: &MotoKey| {
        SecretBytes::new(
            serde_json::json!({"access_key_id": key.id, "secret_access_key": key.secret})
                .to_string()
                .into_bytes(),
        )
    };
    p.kc.core
        .create_secret(
            &root,
            &ctx,
            CreateSecretRequest {
                name: "s3/lake".into(),
                secret_string: Some(value(&first)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let config = std::fs::read_to_string(&p.config).unwrap();
    let local = format!("url = \"file://{}\"", p.lake().display());
    std::fs::write(
        &p.config,
        config
            .replace(
                &local,
                &format!(
                    "url = \"s3://lake/warehouse\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n\
                     access_key_id = \"secret://s3/lake#access_key_id\"\n\
                     secret_access_key = \"secret://s3/lake#secret_access_key\"",
                    s3.endpoint
                ),
            )
            .replace(
                "[source.kafka]",
                "secret_refresh_seconds = 1\n[source.kafka]",
            ),
    )
    .unwrap();
    let stage = p.stage();
    let producer = p.producer();
    let mut valid = p.produce(&producer, 0..300).await;

    let caught_up = |key: &MotoKey, within: Duration| {
        let env = [
            ("AWS_ENDPOINT_URL", s3.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", key.id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", key.secret.as_str()),
        ];
        wait_verified(&p, &env, within)
    };
    caught_up(&first, Duration::from_secs(120));

    // A new key into the secret; once the stage signs with it, the old one is deleted.
    let second = s3.iam(&first, &["new-key"]).unwrap();
    p.kc.core
        .put_secret_value(
            &root,
            &ctx,
            PutSecretValueRequest {
                secret_id: "s3/lake".into(),
                secret_string: Some(value(&second)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let start = Instant::now();
    while !p.stage_log().contains("new S3 access key in use") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the stage never took the new key:\n{}",
            p.stage_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    s3.iam(&second, &["delete-key", &first.id]).unwrap();
    assert!(!s3.can_list(&first), "moto still takes the deleted key");

    valid.extend(p.produce(&producer, 300..600).await);
    let seqs = caught_up(&second, Duration::from_secs(120));
    assert!(stage.terminate().success(), "{}", p.stage_log());
    assert_exactly_once(&seqs, &valid);
    let log = p.stage_log();
    for failure in ["cannot write a window", "cannot go on"] {
        assert!(!log.contains(failure), "{failure}:\n{log}");
    }
    for secret in [&first.secret, &second.secret] {
        assert!(!log.contains(secret.as_str()), "a secret key is in the log");
    }
}
