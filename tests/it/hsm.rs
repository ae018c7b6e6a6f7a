//! HSM-backed keys over PKCS#11, against SoftHSM2: the same API as software keys, the key
//! material inside the token. Checked with boto3, Python's `cryptography`, PyKCS11 (a PKCS#11
//! client of its own), the stage and pyarrow; and what happens when the token, its module or
//! its PIN is wrong or goes away.
//!
//! PKCS#11 allows one `C_Initialize` per process, and SoftHSM2 reads `SOFTHSM2_CONF` then and
//! lists only the tokens present at that moment. So a test that runs a key core in-process runs
//! again in a process of its own (this binary, filtered to that test) with `SOFTHSM2_CONF` set
//! to a SoftHSM2 directory of its own ([`in_own_process`]); tests that take a token away run
//! `lakeseal keycore serve` with a directory of its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lakeseal_keycore::clock::ManualClock;
use lakeseal_keycore::hsm::KeyStoreConfig;
use lakeseal_keycore::ops::aliases::AliasRequest;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::key_deletion::ScheduleKeyDeletionRequest;
use lakeseal_keycore::{ErrorCode, Principal, RequestContext};
use lakeseal_keycore_server::ServerConfig;
use rdkafka::ClientConfig;
use rdkafka::producer::FutureProducer;
use serde_json::Value;

use crate::broker::Broker;
use crate::stage::{
    DLQ, StageProcess, Window, cli_against, free_port, lakeseal, send_all, seqs, stage_toml,
};
use crate::support::{REGION, RunningKeyCore, venv};
use crate::tls_front::wait_port;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "246810";

/// Set in the process a test runs itself again in.
const CHILD: &str = "LAKESEAL_HSM_TEST_CHILD";

/// In the test's own process: true, run the test's body (`SOFTHSM2_CONF` names its SoftHSM2
/// directory, [`SoftHsm::of_this_process`]). Otherwise makes that directory with a token per
/// label, runs the test `name` (`module::function`) again in a new process of this binary, and
/// returns false once it passed.
fn in_own_process(name: &str, tokens: &[&str]) -> bool {
    if std::env::var_os(CHILD).is_some() {
        return true;
    }
    let (_tmp, hsm) = SoftHsm::fresh(tokens);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .env("SOFTHSM2_CONF", hsm.conf())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{name} did not run:\n{stdout}");
    false
}

/// A SoftHSM2 directory: its configuration, its tokens (each with the user PIN in `pin`), and
/// a PIN file.
struct SoftHsm {
    dir: PathBuf,
}

impl SoftHsm {
    /// The directory `SOFTHSM2_CONF` names, in a test's own process.
    fn of_this_process() -> Self {
        let conf = PathBuf::from(std::env::var_os("SOFTHSM2_CONF").unwrap());
        Self {
            dir: conf.parent().unwrap().to_owned(),
        }
    }

    /// Makes `dir` with a token per label.
    fn create(dir: PathBuf, labels: &[&str]) -> Self {
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        std::fs::write(
            dir.join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        let hsm = Self { dir };
        hsm.write_pin("pin", PIN);
        for label in labels {
            let out = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", label])
                .args(["--so-pin", "13579135", "--pin", PIN])
                .env("SOFTHSM2_CONF", hsm.conf())
                .output()
                .expect("softhsm2-util (Debian's softhsm2) is installed by scripts/test.sh");
            assert!(out.status.success(), "{out:?}");
        }
        hsm
    }

    /// A directory of its own, for a key core process.
    fn fresh(labels: &[&str]) -> (tempfile::TempDir, Self) {
        let tmp = tempfile::tempdir().unwrap();
        let hsm = Self::create(tmp.path().join("softhsm"), labels);
        (tmp, hsm)
    }

    fn conf(&self) -> PathBuf {
        self.dir.join("softhsm2.conf")
    }

    /// Writes a PIN file (mode 0600) named `name`.
    fn write_pin(&self, name: &str, pin: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(name);
        std::fs::write(&path, format!("{pin}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn store(&self, id: &str, token: &str) -> KeyStoreConfig {
        KeyStoreConfig {
            id: id.into(),
            name: id.trim_start_matches("cks-").into(),
            module: MODULE.into(),
            token_label: token.into(),
            pin_file: Some(self.dir.join("pin")),
            pin: None,
            sessions: 4,
        }
    }

    /// `[[key_stores]]` for a server configuration file.
    fn toml(store: &KeyStoreConfig) -> String {
        let pin = match (&store.pin_file, &store.pin) {
            (Some(path), _) => format!("pin_file = \"{}\"", path.display()),
            (None, Some(reference)) => format!("pin = \"{reference}\""),
            (None, None) => String::new(),
        };
        format!(
            "[[key_stores]]\nid = \"{}\"\nname = \"{}\"\nmodule = \"{}\"\ntoken_label = \"{}\"\n\
             {pin}\n",
            store.id,
            store.name,
            store.module.display(),
            store.token_label,
        )
    }

    /// The token's objects as PyKCS11 sees them (`hsm_token_objects.py`).
    fn objects(&self, token: &str) -> Vec<Value> {
        let out = Command::new(venv().join("bin/python"))
            .arg(script("hsm_token_objects.py"))
            .env("SOFTHSM2_CONF", self.conf())
            .env("MODULE", MODULE)
            .env("TOKEN", token)
            .env("PIN_FILE", self.dir.join("pin"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Takes the token directory away, as pulling the token out would; `restore` puts it back.
    fn remove_tokens(&self) {
        std::fs::rename(self.dir.join("tokens"), self.dir.join("tokens.away")).unwrap();
        std::fs::create_dir(self.dir.join("tokens")).unwrap();
    }

    fn restore_tokens(&self) {
        std::fs::remove_dir(self.dir.join("tokens")).unwrap();
        std::fs::rename(self.dir.join("tokens.away"), self.dir.join("tokens")).unwrap();
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

fn admin() -> (Principal, RequestContext) {
    (
        Principal::account_root("111122223333"),
        RequestContext::local("hsm-test"),
    )
}

/// The last line of a script's output that is JSON.
fn json_line(out: &str) -> Value {
    out.lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON in {out}"))
}

fn labels_of(objects: &[Value], key_id: &str) -> Vec<String> {
    let mut labels: Vec<String> = objects
        .iter()
        .filter(|o| o["label"].as_str().unwrap().contains(key_id))
        .map(|o| {
            format!(
                "{} {}",
                o["class"].as_str().unwrap(),
                o["label"].as_str().unwrap()
            )
        })
        .collect();
    labels.sort();
    labels
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hsm_keys_work_through_boto3_stay_in_the_token_and_are_erased_on_deletion() {
    let name = "hsm::hsm_keys_work_through_boto3_stay_in_the_token_and_are_erased_on_deletion";
    if !in_own_process(name, &["it-keys"]) {
        return;
    }
    let hsm = SoftHsm::of_this_process();
    let clock = Arc::new(ManualClock::starting_now());
    let config = ServerConfig {
        key_stores: vec![hsm.store("cks-it-keys", "it-keys")],
        ..ServerConfig::default()
    };
    let kc = RunningKeyCore::start_with_clock(config, clock.clone()).await;
    let out = kc
        .python("hsm_boto3.py", &[("STORE_ID", "cks-it-keys")])
        .await;
    assert!(out.contains("PASS"), "{out}");
    let made = json_line(&out);
    let symmetric = made["symmetric"].as_str().unwrap().to_owned();
    let signing: Vec<String> = made["signing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();

    // PyKCS11 finds every key in the token, locked down: sensitive, not extractable, its value
    // refused.
    let objects = hsm.objects("it-keys");
    assert_eq!(
        labels_of(&objects, &symmetric),
        [
            format!("secret lakeseal:{symmetric}:v1"),
            format!("secret lakeseal:{symmetric}:v2"),
        ],
        "{objects:?}"
    );
    for key in &signing {
        assert_eq!(
            labels_of(&objects, key),
            [
                format!("private lakeseal:{key}"),
                format!("public lakeseal:{key}"),
            ],
            "{objects:?}"
        );
    }
    for object in objects.iter().filter(|o| o["class"] != "public") {
        assert_eq!(object["sensitive"], true, "{object}");
        assert_eq!(object["extractable"], false, "{object}");
        assert_eq!(object["value"], "refused", "{object}");
    }
    // The store file holds records of HSM keys, no material.
    let db = rusqlite::Connection::open(kc.data.join("keycore.db")).unwrap();
    for key in signing.iter().chain([&symmetric]) {
        let rows: i64 = db
            .query_row(
                "SELECT count(*) FROM key_versions WHERE key_id = ?1",
                [key],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0, "the store holds material of HSM key {key}");
    }

    // Deletion destroys the token objects: the blob no longer opens.
    let (root, ctx) = admin();
    kc.core
        .schedule_key_deletion(
            &root,
            &ctx,
            ScheduleKeyDeletionRequest {
                key_id: symmetric.clone(),
                pending_window_in_days: Some(7),
            },
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    kc.core.maintain().await.unwrap();
    let objects = hsm.objects("it-keys");
    assert!(labels_of(&objects, &symmetric).is_empty(), "{objects:?}");
    assert_eq!(labels_of(&objects, &signing[0]).len(), 2, "{objects:?}");
    let blob = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        made["blob"].as_str().unwrap(),
    )
    .unwrap();
    let context = made["context"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let refused = kc
        .core
        .decrypt(
            &root,
            &ctx,
            DecryptRequest {
                ciphertext_blob: blob,
                encryption_context: context,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::NotFound, "{refused}");
    // boto3 sees the same: the blob and the key are gone.
    let out = kc
        .python(
            "hsm_after_deletion.py",
            &[
                ("BLOB", made["blob"].as_str().unwrap()),
                ("CONTEXT", &made["context"].to_string()),
                ("KEY", &symmetric),
            ],
        )
        .await;
    let after = json_line(&out);
    assert_eq!(after["decrypt"], "NotFoundException", "{after}");
    assert_eq!(after["generate"], "NotFoundException", "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_writes_a_lake_under_an_hsm_key_that_pyarrow_reads() {
    if !in_own_process(
        "hsm::the_stage_writes_a_lake_under_an_hsm_key_that_pyarrow_reads",
        &["it-stage"],
    ) {
        return;
    }
    let hsm = SoftHsm::of_this_process();
    let config = ServerConfig {
        key_stores: vec![hsm.store("cks-it-stage", "it-stage")],
        ..ServerConfig::default()
    };
    let kc = RunningKeyCore::start_with(config).await;
    let (root, ctx) = admin();
    let key = kc
        .core
        .create_key(
            &root,
            &ctx,
            CreateKeyRequest {
                origin: Some("AWS_CLOUDHSM".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .key_metadata;
    assert_eq!(key.custom_key_store_id.as_deref(), Some("cks-it-stage"));
    kc.core
        .create_alias(
            &root,
            &ctx,
            AliasRequest {
                alias_name: "alias/telemetry".into(),
                target_key_id: key.key_id.clone(),
            },
        )
        .await
        .unwrap();

    let broker = Broker::start();
    broker.create_topic("telemetry", 1);
    broker.create_topic(DLQ, 1);
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let config = tmp.path().join("stage.toml");
    let window = Window {
        max_records: 10,
        max_age_seconds: 2,
    };
    std::fs::write(
        &config,
        stage_toml(&broker.bootstrap, "", &["telemetry"], &window, &lake, &kc),
    )
    .unwrap();
    let stage = StageProcess::start(&config, &tmp.path().join("stage.log"));
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("linger.ms", "0")
        .create()
        .unwrap();
    let records: Vec<(i64, String)> = (0..25)
        .map(|seq| {
            let body = format!(
                r#"{{"ts":{},"device":"dev-{}","seq":{seq},"temp":{}.5}}"#,
                1_795_000_000_000 + seq * 10,
                seq % 3,
                seq % 40
            );
            (seq, body)
        })
        .collect();
    send_all(&producer, "telemetry", records).await;

    let table = lake.join("telemetry");
    let start = Instant::now();
    let read = loop {
        let out = cli_against(&kc, &["lake", "read", table.to_str().unwrap()], &[]);
        let read = if out.status.success() {
            seqs(&out.stdout)
        } else {
            Vec::new()
        };
        if read.len() == 25 {
            break read;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the lake has {read:?}\n{}",
            std::fs::read_to_string(tmp.path().join("stage.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(read, (0..25).collect::<Vec<_>>());
    assert!(stage.terminate().success());

    // pyarrow reads every file, unwrapping its key through the key core (boto3), where the
    // HSM key opens it.
    let files = lakeseal_stage::lake::list_local(&table).unwrap();
    let mut rows = 0;
    for file in &files {
        let out = kc
            .python(
                "read_stage_file.py",
                &[("FILE", file.path.to_str().unwrap()), ("KEY", "")],
            )
            .await;
        let n: usize = out
            .lines()
            .find_map(|l| l.strip_prefix("pyarrow rows="))
            .unwrap_or_else(|| panic!("{out}"))
            .parse()
            .unwrap();
        rows += n;
    }
    assert_eq!(rows, 25);
    // Every data key of the lake was made under the HSM key.
    let audit = std::fs::read_to_string(kc.data.join("audit.log")).unwrap();
    let made: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .filter(|e| e["operation"] == "GenerateDataKey" && e["result"] == "Success")
        .collect();
    assert!(!made.is_empty(), "{audit}");
    assert!(made.iter().all(|e| e["keyArn"] == key.arn), "{made:?}");
}

/// A key core served by `lakeseal keycore serve` with `SOFTHSM2_CONF` of its own.
struct Served {
    child: Child,
    endpoint: String,
    data: PathBuf,
    log: PathBuf,
}

/// Writes `tmp/server.toml` naming `stores` and initialises the data directory `tmp/keycore`.
fn prepare(tmp: &Path, stores: &[KeyStoreConfig]) -> (PathBuf, PathBuf) {
    let data = tmp.join("keycore");
    let config = tmp.join("server.toml");
    std::fs::write(
        &config,
        stores
            .iter()
            .map(SoftHsm::toml)
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let init = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .args(["keycore", "init", "--region", REGION])
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");
    (data, config)
}

impl Served {
    /// Serves the data directory and configuration [`prepare`] made in `tmp`.
    fn start(tmp: &Path, hsm: &SoftHsm) -> Self {
        let data = tmp.join("keycore");
        let config = tmp.join("server.toml");
        let port = free_port();
        let log = tmp.join("keycore.log");
        let child = Command::new(lakeseal())
            .arg("--data-dir")
            .arg(&data)
            .args(["keycore", "serve", "--insecure-http"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--config")
            .arg(&config)
            .env("SOFTHSM2_CONF", hsm.conf())
            .env("RUST_LOG", "info")
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        wait_port(port);
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            data,
            log,
        }
    }

    fn python(&self, name: &str, args: &[&str]) -> String {
        let out = Command::new(venv().join("bin/python"))
            .arg(script(name))
            .args(args)
            .env("AWS_ENDPOINT_URL_KMS", &self.endpoint)
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.endpoint)
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.data.join("admin-credentials"),
            )
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_DEFAULT_REGION", REGION)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{name}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// `hsm_probe.py` on `keys`: each key's answer to GenerateDataKey, and the stores' states.
    fn probe(&self, keys: &[&str]) -> Value {
        json_line(&self.python("hsm_probe.py", keys))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A key made with the CLI in the data directory `data` (no server running), with the key
/// stores of `config`: its key id.
fn cli_create(data: &Path, config: &Path, conf: &Path, args: &[&str]) -> String {
    let out = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(data)
        .arg("--keycore-config")
        .arg(config)
        .args(["key", "create"])
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    made["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
}

fn store_state(probe: &Value, id: &str) -> (String, Option<String>) {
    let store = probe["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{probe}"));
    (
        store["state"].as_str().unwrap().to_owned(),
        store["code"].as_str().map(str::to_owned),
    )
}

#[test]
fn a_wrong_pin_or_a_missing_module_fails_its_store_alone_with_a_clear_log_line() {
    let (tmp, hsm) = SoftHsm::fresh(&["wrong-pin"]);
    let mut wrong_pin = hsm.store("cks-wrong-pin", "wrong-pin");
    wrong_pin.pin_file = Some(hsm.write_pin("wrong-pin", "111111"));
    let mut no_module = hsm.store("cks-no-module", "wrong-pin");
    no_module.module = tmp.path().join("libabsent-pkcs11.so");
    let no_token = hsm.store("cks-no-token", "absent-token");
    let (data, config) = prepare(tmp.path(), &[wrong_pin, no_module, no_token]);
    let software = cli_create(&data, &config, &hsm.conf(), &[]);
    // The CLI on the data directory reports the same states as the server will.
    let described = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .arg("--keycore-config")
        .arg(&config)
        .args(["key", "describe-key-stores"])
        .env("SOFTHSM2_CONF", hsm.conf())
        .output()
        .unwrap();
    assert!(described.status.success(), "{described:?}");
    let described: Value = serde_json::from_slice(&described.stdout).unwrap();
    let states: Vec<(&str, &str)> = described["CustomKeyStores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["CustomKeyStoreId"].as_str().unwrap(),
                s["ConnectionErrorCode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("cks-wrong-pin", "INVALID_CREDENTIALS"),
            ("cks-no-module", "CLUSTER_NOT_FOUND"),
            ("cks-no-token", "INSUFFICIENT_CLOUDHSM_HSMS"),
        ]
    );
    let served = Served::start(tmp.path(), &hsm);

    let probe = served.probe(&[&software]);
    assert_eq!(probe[&software]["result"], "ok", "{probe}");
    assert_eq!(
        store_state(&probe, "cks-wrong-pin"),
        ("FAILED".into(), Some("INVALID_CREDENTIALS".into()))
    );
    assert_eq!(
        store_state(&probe, "cks-no-module"),
        ("FAILED".into(), Some("CLUSTER_NOT_FOUND".into()))
    );
    assert_eq!(
        store_state(&probe, "cks-no-token"),
        ("FAILED".into(), Some("INSUFFICIENT_CLOUDHSM_HSMS".into()))
    );
    let log = served.log();
    for line in [
        "the token refused the PIN in",
        "libabsent-pkcs11.so does not load",
        "no token labelled \"absent-token\"",
    ] {
        assert!(log.contains(line), "no {line:?} in\n{log}");
    }
    assert!(!log.contains("111111"), "the PIN is in the log");
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_removed_token_fails_its_keys_until_it_returns_while_software_keys_are_served() {
    let (tmp, hsm) = SoftHsm::fresh(&["removable"]);
    let (data, config) = prepare(tmp.path(), &[hsm.store("cks-removable", "removable")]);
    // Keys made before the server starts, with the CLI on the data directory.
    let hsm_key = cli_create(&data, &config, &hsm.conf(), &["--protection-level", "HSM"]);
    let software = cli_create(&data, &config, &hsm.conf(), &[]);
    let served = Served::start(tmp.path(), &hsm);

    let probe = served.probe(&[&hsm_key, &software]);
    assert_eq!(probe[&hsm_key]["result"], "ok", "{probe}");
    assert_eq!(probe[&software]["result"], "ok", "{probe}");

    hsm.remove_tokens();
    let probe = served.probe(&[&hsm_key, &software]);
    assert_eq!(
        probe[&hsm_key]["result"], "KeyUnavailableException",
        "{probe}"
    );
    assert_eq!(probe[&hsm_key]["status"], 500, "{probe}");
    let message = probe[&hsm_key]["message"].as_str().unwrap();
    assert!(
        message.contains("cks-removable") && message.contains("not connected"),
        "{message}"
    );
    assert_eq!(probe[&software]["result"], "ok", "{probe}");
    assert!(
        served.log().contains("PKCS#11 key store disconnected"),
        "{}",
        served.log()
    );

    // The token comes back: the store reconnects (a retry is due a second after the last).
    hsm.restore_tokens();
    let start = Instant::now();
    loop {
        let probe = served.probe(&[&hsm_key, &software]);
        if probe[&hsm_key]["result"] == "ok" {
            assert_eq!(store_state(&probe, "cks-removable").0, "CONNECTED");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{probe}\n{}",
            served.log()
        );
    }
    assert!(!served.log().contains("panicked"), "{}", served.log());
}

#[test]
fn with_the_root_key_in_the_hsm_a_copy_of_the_data_directory_opens_nothing_without_the_token() {
    let (tmp, hsm) = SoftHsm::fresh(&["root"]);
    let store = hsm.store("cks-root", "root");
    let config = tmp.path().join("server.toml");
    std::fs::write(&config, SoftHsm::toml(&store)).unwrap();
    let data = tmp.path().join("keycore");
    let lakeseal_in = |data: &Path, config: Option<&Path>, args: &[&str]| {
        let mut command = Command::new(lakeseal());
        command.arg("--data-dir").arg(data);
        if let Some(config) = config {
            command.arg("--keycore-config").arg(config);
        }
        command
            .args(args)
            .env("SOFTHSM2_CONF", hsm.conf())
            .env_remove("LAKESEAL_KEYCORE_CONFIG")
            .output()
            .unwrap()
    };
    let init = lakeseal_in(
        &data,
        Some(&config),
        &[
            "keycore",
            "init",
            "--region",
            REGION,
            "--root-key-store",
            "cks-root",
        ],
    );
    assert!(init.status.success(), "{init:?}");
    assert!(!data.join("root.key").exists());
    assert!(data.join("root.key.hsm").exists());
    let key = cli_create(&data, &config, &hsm.conf(), &[]);
    let sealed = lakeseal_in(
        &data,
        Some(&config),
        &[
            "crypto",
            "encrypt",
            "--key-id",
            &key,
            "--plaintext",
            "aGVsbG8=",
        ],
    );
    assert!(sealed.status.success(), "{sealed:?}");

    let copy = tmp.path().join("copy");
    let copied = Command::new("cp")
        .arg("-a")
        .arg(&data)
        .arg(&copy)
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::remove_file(copy.join("lock")).ok();

    // Without the store configured, the copy does not open.
    let refused = lakeseal_in(&copy, None, &["key", "list"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("sealed in key store cks-root"), "{stderr}");
    // Nor with it, when the token is not there.
    hsm.remove_tokens();
    let refused = lakeseal_in(&copy, Some(&config), &["key", "list"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("the root key does not open in key store cks-root"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    // With the token back, it does.
    hsm.restore_tokens();
    let listed = lakeseal_in(&copy, Some(&config), &["key", "list"]);
    assert!(listed.status.success(), "{listed:?}");
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&key));
}

#[test]
fn a_pin_kept_as_a_secret_of_the_key_core_connects_its_store_when_it_is_right() {
    let (tmp, hsm) = SoftHsm::fresh(&["secret-pin"]);
    let mut store = hsm.store("cks-secret-pin", "secret-pin");
    store.pin_file = None;
    store.pin = Some("secret://hsm-pin".into());
    let (data, config) = prepare(tmp.path(), &[store]);
    // The scheduler reads the secret: every second here.
    let stores = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("scheduler_tick_seconds = 1\n{stores}")).unwrap();
    // A wrong PIN first, stored as the secret (under the account's software secrets key).
    let wrong = hsm.write_pin("wrong", "111111");
    let created = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .args(["secret", "create", "--name", "hsm-pin", "--secret-string"])
        .arg(format!("file://{}", wrong.display()))
        .output()
        .unwrap();
    assert!(created.status.success(), "{created:?}");
    let served = Served::start(tmp.path(), &hsm);
    let start = Instant::now();
    while !served
        .log()
        .contains("the token refused the PIN of secret://hsm-pin")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let probe = served.probe(&[]);
    assert_eq!(
        store_state(&probe, "cks-secret-pin"),
        ("FAILED".into(), Some("INVALID_CREDENTIALS".into())),
        "{}",
        served.log()
    );
    // The right PIN as the secret's new version: the scheduler reads it and the store connects.
    served.python("hsm_probe.py", &["--put-secret", "hsm-pin", PIN]);
    let start = Instant::now();
    loop {
        let probe = served.probe(&[]);
        if store_state(&probe, "cks-secret-pin").0 == "CONNECTED" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{probe}\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = served.log();
    assert!(
        !log.contains("111111") && !log.contains(PIN),
        "a PIN is in the log"
    );
    // Each read is audited as the key core's own GetSecretValue.
    let (reads, audit) = pin_reads(&data);
    assert_eq!(reads, 2, "{audit}");

    // Offline, the CLI reads the PIN secret when it opens the data directory, as the server's
    // scheduler does: the store's keys work without a server.
    drop(served);
    // (CreateKey in a store that is not connected fails, and `cli_create` with it.)
    cli_create(
        &data,
        &config,
        &hsm.conf(),
        &[
            "--protection-level",
            "HSM",
            "--custom-key-store-id",
            "cks-secret-pin",
        ],
    );
    let (reads, audit) = pin_reads(&data);
    assert_eq!(reads, 3, "the CLI's read is audited too:\n{audit}");
}

/// How many times the key core read a secret for itself (a key store's PIN), by its audit log;
/// and the log.
fn pin_reads(data: &Path) -> (usize, String) {
    let audit = std::fs::read_to_string(data.join("audit.log")).unwrap();
    let reads = audit
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .filter(|e| e["operation"] == "GetSecretValue" && e["principal"] == "lakeseal:keycore")
        .count();
    (reads, audit)
}
