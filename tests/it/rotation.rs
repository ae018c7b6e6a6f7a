//! A PostgreSQL password rotated by the key core while a client keeps logging in: a real
//! server, the `postgresql-alternating-users` rotator, five rotations, no failed login; and a
//! key core killed with SIGKILL between `setSecret` and `finishSecret`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use lakeseal_envelope::SecretBytes;
use lakeseal_keycore::rotation::Rotators;
use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};
use lakeseal_kms_types::secrets::read::GetSecretValueRequest;
use lakeseal_kms_types::secrets::rotate::RotateSecretRequest;
use lakeseal_kms_types::secrets::write::CreateSecretRequest;
use lakeseal_kms_types::secrets::{RotationRules, SecretIdRequest};
use lakeseal_rotator_postgres::PostgresAlternatingUsers;
use serde_json::{Value, json};

use crate::postgres::{MASTER, Postgres};

const APP_SECRET: &str = "prod/telemetry/postgres";

fn open(dir: &Path) -> KeyCore {
    KeyCore::open(
        dir,
        Options {
            rotators: Rotators::builtin().with(Arc::new(PostgresAlternatingUsers)),
            ..Options::default()
        },
    )
    .unwrap()
}

fn root(core: &KeyCore) -> Principal {
    Principal::account_root(&core.location().account_id)
}

fn ctx() -> RequestContext {
    RequestContext::local("rotation-test")
}

/// A key core with the master secret and the application's secret (user `app`, which exists).
async fn set_up(pg: &Postgres, dir: &Path) -> KeyCore {
    KeyCore::init(
        dir,
        &InitOptions {
            region: "eu-west-1".into(),
            account_id: Some("111122223333".into()),
            partition: "aws".into(),
        },
    )
    .unwrap();
    let core = open(dir);
    pg.as_master("CREATE ROLE app LOGIN PASSWORD 'first-app-password'; CREATE TABLE readings (v int); GRANT SELECT ON readings TO app")
        .await;
    let server =
        json!({"engine": "postgres", "host": "127.0.0.1", "port": pg.port, "dbname": "postgres"});
    let mut master = server.clone();
    master["username"] = json!(MASTER);
    master["password"] = json!(pg.master_password);
    let master_arn = create(&core, "prod/postgres/master", &master).await;
    let mut app = server;
    app["username"] = json!("app");
    app["password"] = json!("first-app-password");
    app["masterarn"] = json!(master_arn);
    create(&core, APP_SECRET, &app).await;
    core
}

async fn create(core: &KeyCore, name: &str, value: &Value) -> String {
    core.create_secret(
        &root(core),
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

async fn value(core: &KeyCore, stage: &str) -> Value {
    let got = core
        .get_secret_value(
            &root(core),
            &ctx(),
            GetSecretValueRequest {
                secret_id: APP_SECRET.into(),
                version_id: None,
                version_stage: Some(stage.into()),
            },
        )
        .await
        .unwrap();
    serde_json::from_slice(got.secret_string.unwrap().expose_secret()).unwrap()
}

async fn rotate(core: &KeyCore) -> lakeseal_keycore::Result<()> {
    core.rotate_secret(
        &root(core),
        &ctx(),
        RotateSecretRequest {
            secret_id: APP_SECRET.into(),
            rotation_lambda_arn: Some(
                "arn:aws:lakeseal:eu-west-1:111122223333:rotator/postgresql-alternating-users"
                    .into(),
            ),
            rotation_rules: Some(RotationRules {
                automatically_after_days: Some(30),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await
    .map(drop)
}

async fn logs_in(pg: &Postgres, secret: &Value) -> bool {
    let (user, password) = (
        secret["username"].as_str().unwrap(),
        secret["password"].as_str().unwrap(),
    );
    match pg.login(user, password).await {
        Ok(client) => client
            .simple_query("SELECT count(*) FROM readings")
            .await
            .is_ok(),
        Err(_) => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_keeps_logging_in_while_the_password_rotates() {
    let pg = Postgres::start().await;
    let dir = tempfile::tempdir().unwrap();
    let core = set_up(&pg, dir.path()).await;

    // The client: logs in with the current value, re-reading it when a login fails.
    let stop = Arc::new(AtomicBool::new(false));
    let (logins, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let pg = Arc::new(pg);
    let client = {
        let (core, pg, stop) = (core.clone(), pg.clone(), stop.clone());
        let (logins, failed) = (logins.clone(), failed.clone());
        tokio::spawn(async move {
            let mut secret = value(&core, "AWSCURRENT").await;
            while !stop.load(Ordering::SeqCst) {
                if logs_in(&pg, &secret).await {
                    logins.fetch_add(1, Ordering::SeqCst);
                } else {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                secret = value(&core, "AWSCURRENT").await;
            }
        })
    };
    let wait_for_logins = |at_least: u64| {
        let logins = logins.clone();
        async move {
            while logins.load(Ordering::SeqCst) < at_least {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };

    let mut users = Vec::new();
    for _ in 0..5 {
        let before = logins.load(Ordering::SeqCst);
        wait_for_logins(before + 5).await;
        rotate(&core).await.unwrap();
        let current = value(&core, "AWSCURRENT").await;
        users.push(current["username"].as_str().unwrap().to_owned());
        // Whoever still holds the previous value keeps logging in until the next rotation.
        assert!(logs_in(&pg, &value(&core, "AWSPREVIOUS").await).await);
    }
    let before = logins.load(Ordering::SeqCst);
    wait_for_logins(before + 5).await;
    stop.store(true, Ordering::SeqCst);
    client.await.unwrap();

    let (logins, failed) = (logins.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    println!("postgres rotation: 5 rotations, {logins} logins, {failed} failed logins");
    assert_eq!(failed, 0);
    assert_eq!(users, ["app_clone", "app", "app_clone", "app", "app_clone"]);
    let described = core
        .describe_secret(&root(&core), &ctx(), SecretIdRequest::new(APP_SECRET))
        .await
        .unwrap();
    assert!(described.rotation_enabled && described.last_rotated_date.is_some());
    // The master password never changed, and is not in the application's secret.
    assert!(
        !value(&core, "AWSCURRENT")
            .await
            .to_string()
            .contains(&pg.master_password)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_core_killed_between_set_and_finish_leaves_current_working() {
    let pg = Postgres::start().await;
    let dir = tempfile::tempdir().unwrap();
    let core = set_up(&pg, dir.path()).await;
    // One completed rotation first, so the crash hits a role whose password is in use.
    rotate(&core).await.unwrap();
    let current = value(&core, "AWSCURRENT").await;
    let arn = core
        .describe_secret(&root(&core), &ctx(), SecretIdRequest::new(APP_SECRET))
        .await
        .unwrap()
        .arn;
    drop(core);

    let mut child = Command::new(env!("CARGO_BIN_EXE_rotation-crash"))
        .arg(dir.path())
        .arg(&arn)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "setSecret done",
        "the key core did not reach setSecret"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let core = open(dir.path());
    // AWSCURRENT is what it was, and logs in; the half-done version waits as AWSPENDING.
    assert_eq!(value(&core, "AWSCURRENT").await, current);
    assert!(logs_in(&pg, &current).await);
    let stale = value(&core, "AWSPENDING").await;
    assert_ne!(stale["password"], current["password"]);

    // The next rotation completes, with a new password rather than the half-applied one.
    rotate(&core).await.unwrap();
    let after = value(&core, "AWSCURRENT").await;
    assert_eq!(after["username"], stale["username"]);
    assert_ne!(after["password"], stale["password"]);
    assert!(logs_in(&pg, &after).await);
    assert!(!logs_in(&pg, &stale).await);
    assert!(logs_in(&pg, &value(&core, "AWSPREVIOUS").await).await);
    let pending = core
        .get_secret_value(
            &root(&core),
            &ctx(),
            GetSecretValueRequest {
                secret_id: APP_SECRET.into(),
                version_id: None,
                version_stage: Some("AWSPENDING".into()),
            },
        )
        .await;
    assert!(
        pending.is_err(),
        "AWSPENDING should be gone once the rotation finished"
    );
}
