//! The stage against a broker as managed Kafka services run one: TLS with a private CA, and SCRAM
//! authentication. It reads over `SASL_SSL` with the password from a file reference, and stops
//! at once, naming the field to fix, when the password is wrong or the certificate untrusted.
//!
//! TLS is stunnel's in front of tansu (`tls_front.rs`); SCRAM runs inside that TLS between
//! librdkafka and tansu. SCRAM credentials live in tansu's SQLite storage (its in-memory storage
//! does not keep them), created while the broker is still open.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lakeseal_keycore_server::ServerConfig;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use tempfile::TempDir;

use crate::stage::{
    DLQ, StageProcess, Window, cli_against, free_port, key_core_with_alias, lakeseal, send_all,
    seqs, stage_toml, wait_health,
};
use crate::support::RunningKeyCore;
use crate::tls_front::{TlsFront, make_certificates, wait_port};

pub(crate) const TOPIC: &str = "telemetry";
pub(crate) const USER: &str = "stage";
/// A password no log may show.
pub(crate) const PASSWORD: &str = "correct-horse-battery-staple-7f3a";
/// A second user, which the broker lets alter users' SCRAM credentials (tansu has no ACLs: any
/// user it authenticates may).
pub(crate) const ADMIN: &str = "kafka-admin";
pub(crate) const ADMIN_PASSWORD: &str = "admin-password-never-logged-91be";

/// tansu behind stunnel: TLS under a test CA, SCRAM-SHA-512 required.
pub(crate) struct SecureBroker {
    /// The TLS listener (stunnel's), which is also what tansu advertises.
    pub(crate) bootstrap: String,
    tansu: Child,
    tls: Option<TlsFront>,
    ports: (u16, u16),
    dir: TempDir,
}

impl SecureBroker {
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        make_certificates(d);

        let (plain, tls) = (free_port(), free_port());
        let plain_url = format!("tcp://127.0.0.1:{plain}");
        // Open first, to make the user and the topics; then again, requiring authentication.
        let mut open = tansu(d, &plain_url, &plain_url, false);
        wait_port(plain);
        for args in [
            vec!["user", "create", "--mechanism", "scram512", USER, PASSWORD],
            vec![
                "user",
                "create",
                "--mechanism",
                "scram512",
                ADMIN,
                ADMIN_PASSWORD,
            ],
            vec!["topic", "create", TOPIC, "--partitions", "4"],
            vec!["topic", "create", DLQ, "--partitions", "1"],
        ] {
            let status = Command::new("tansu")
                .args(&args)
                .args(["--broker", &plain_url])
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success(), "tansu {} failed", args[..2].join(" "));
        }
        open.kill().unwrap();
        open.wait().unwrap();
        while std::net::TcpStream::connect(("127.0.0.1", plain)).is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
        let tansu = tansu(d, &plain_url, &format!("tcp://127.0.0.1:{tls}"), true);
        wait_port(plain);

        let tls_front = TlsFront::start(d, tls, plain);
        Self {
            bootstrap: format!("127.0.0.1:{tls}"),
            tansu,
            tls: Some(tls_front),
            ports: (tls, plain),
            dir,
        }
    }

    /// Cuts every client's connection (stunnel restarted on the same port), as a broker restart
    /// or a load balancer would: each client logs in again.
    pub(crate) fn cut_connections(&mut self) {
        drop(self.tls.take());
        self.tls = Some(TlsFront::start(self.dir.path(), self.ports.0, self.ports.1));
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `stage.toml` lines for `SASL_SSL` with SCRAM-SHA-512, trusting `ca` (a file of this
    /// broker's directory) and reading the password from `password_file`; librdkafka traces its
    /// TLS and SASL handshakes, so a password it let slip would be in the log.
    fn client_properties(&self, ca: &str, password_file: &Path) -> String {
        format!(
            r#""security.protocol" = "SASL_SSL"
"sasl.mechanism" = "SCRAM-SHA-512"
"sasl.username" = "{USER}"
"sasl.password" = "file://{password}"
"ssl.ca.location" = "{ca}"
"debug" = "security""#,
            password = password_file.display(),
            ca = self.path(ca).display(),
        )
    }

    /// A 0600 file holding `password`, as an operator provisions one.
    fn password_file(&self, name: &str, password: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.path(name);
        std::fs::write(&path, format!("{password}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    /// A client configuration that gets in: SASL_SSL, SCRAM-SHA-512, the right password.
    fn client(&self) -> ClientConfig {
        self.client_as(USER, PASSWORD)
    }

    /// A client configuration logging in as `user` with `password`.
    pub(crate) fn client_as(&self, user: &str, password: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap)
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", user)
            .set("sasl.password", password)
            .set("ssl.ca.location", self.path("ca.pem").to_str().unwrap());
        config
    }

    /// Sends `n` valid records over SASL_SSL; returns their sequence numbers.
    async fn produce(&self, n: i64) -> Vec<i64> {
        let producer: FutureProducer = self.client().set("linger.ms", "5").create().unwrap();
        let records = (0..n)
            .map(|seq| {
                let body = format!(
                    r#"{{"ts":{},"device":"dev-{}","seq":{seq},"temp":21.5}}"#,
                    1_795_000_000_000 + seq * 10,
                    seq % 10
                );
                (seq, body)
            })
            .collect();
        send_all(&producer, TOPIC, records).await;
        (0..n).collect()
    }
}

impl Drop for SecureBroker {
    fn drop(&mut self) {
        let _ = self.tansu.kill();
        let _ = self.tansu.wait();
    }
}

/// `tansu broker` on SQLite storage in `dir`, listening on `listen`, advertising `advertise`.
fn tansu(dir: &Path, listen: &str, advertise: &str, authenticate: bool) -> Child {
    let mut command = Command::new("tansu");
    command
        .current_dir(dir)
        .args(["broker", "--storage-engine", "sqlite://tansu.db"])
        .args([
            "--listener-url",
            listen,
            "--advertised-listener-url",
            advertise,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if authenticate {
        command.arg("--authentication");
    }
    command.spawn().unwrap_or_else(|e| {
        panic!("cannot start tansu ({e}): scripts/test.sh installs it with SQLite storage")
    })
}

/// A key core, and a `stage.toml` in the broker's directory reading over SASL_SSL with `ca` and
/// `password_file`.
async fn stage_config(
    broker: &SecureBroker,
    ca: &str,
    password_file: &Path,
    name: &str,
) -> (RunningKeyCore, PathBuf) {
    let kc = key_core_with_alias(ServerConfig::default()).await;
    let config = broker.path(&format!("{name}.toml"));
    let window = Window {
        max_records: 100,
        max_age_seconds: 1,
    };
    let text = stage_toml(
        &broker.bootstrap,
        &broker.client_properties(ca, password_file),
        &[TOPIC],
        &window,
        &broker.path("lake"),
        &kc,
    );
    std::fs::write(&config, text).unwrap();
    (kc, config)
}

/// Every `seq` the lake holds, waiting up to `within` until there are `n`.
pub(crate) fn wait_lake(kc: &RunningKeyCore, lake: &Path, n: usize, within: Duration) -> Vec<i64> {
    let table = lake.join("telemetry");
    let start = Instant::now();
    loop {
        if table.exists() {
            let out = cli_against(kc, &["lake", "read", table.to_str().unwrap()], &[]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let found = seqs(&out.stdout);
            if found.len() >= n {
                return found;
            }
        }
        assert!(start.elapsed() < within, "the lake never held {n} records");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_reads_over_sasl_ssl_with_scram_and_a_password_file() {
    let broker = SecureBroker::start();
    let produced = broker.produce(600).await;
    let password = broker.password_file("password", PASSWORD);
    let (kc, config) = stage_config(&broker, "ca.pem", &password, "stage").await;
    let log = broker.path("stage.log");
    let metrics = free_port();
    // Debug logging, librdkafka's SASL and TLS traces among it: still no password.
    let stage = StageProcess::start_with(
        &config,
        &log,
        &["--metrics-listen", &format!("127.0.0.1:{metrics}")],
        "debug",
    );
    let lake = wait_lake(
        &kc,
        &broker.path("lake"),
        produced.len(),
        Duration::from_secs(120),
    );
    let (code, health) = wait_health(metrics, "consuming", Duration::from_secs(30));
    assert_eq!(code, 200, "{health}");
    assert!(stage.terminate().success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lake, produced, "every record exactly once:\n{log}");
    assert!(
        !log.contains(PASSWORD),
        "the password is in the stage's log"
    );
    assert!(
        log.contains("SCRAM"),
        "librdkafka's SASL trace is not in the log, so it proves nothing:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_an_untrusted_certificate_stops_the_stage_naming_the_field() {
    let broker = SecureBroker::start();
    broker.produce(10).await;
    let right = broker.password_file("password", PASSWORD);
    let wrong = broker.password_file("wrong-password", "not-the-password-4c1d");
    let cases = [
        (
            "ca.pem",
            &wrong,
            "\"sasl.password\"",
            "not-the-password-4c1d",
        ),
        ("other-ca.pem", &right, "\"ssl.ca.location\"", PASSWORD),
    ];
    for (i, (ca, password, field, secret)) in cases.into_iter().enumerate() {
        let (_kc, config) = stage_config(&broker, ca, password, &format!("case-{i}")).await;
        let log = broker.path(&format!("case-{i}.log"));
        let status = StageProcess::start_with(&config, &log, &[], "debug")
            .exit_within(Duration::from_secs(15));
        let log = std::fs::read_to_string(&log).unwrap();
        let status = status.unwrap_or_else(|| panic!("case {i}: still running:\n{log}"));
        assert!(!status.success(), "case {i} exited 0:\n{log}");
        let error = log
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("case {i}: no closing error:\n{log}"));
        assert!(
            error.contains(field),
            "case {i}: {error} does not name {field}"
        );
        assert!(!log.contains(secret), "case {i}: a password is in the log");
        assert!(
            !broker.path("lake").join("telemetry").exists(),
            "case {i} wrote"
        );
    }
}

#[test]
fn the_simulator_produces_over_sasl_ssl_and_refuses_an_inline_password() {
    let broker = SecureBroker::start();
    let password = broker.password_file("password", PASSWORD);
    let ca = broker.path("ca.pem");
    let simulate = |password: &str| {
        Command::new(lakeseal())
            .args(["simulate", "--brokers", &broker.bootstrap, "--topic", TOPIC])
            .args(["--records", "300", "--devices", "10"])
            .args([
                "-X",
                "security.protocol=SASL_SSL",
                "-X",
                "sasl.mechanism=SCRAM-SHA-512",
            ])
            .args(["-X", &format!("sasl.username={USER}")])
            .args(["-X", &format!("sasl.password={password}")])
            .args(["-X", &format!("ssl.ca.location={}", ca.display())])
            .args(["-X", "compression.type=zstd"])
            .output()
            .unwrap()
    };

    let inline = simulate(PASSWORD);
    let stderr = String::from_utf8_lossy(&inline.stderr);
    assert!(!inline.status.success(), "an inline password was taken");
    assert!(
        stderr.contains("sasl.password") && stderr.contains("env:NAME"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(PASSWORD),
        "the password was echoed: {stderr}"
    );

    let out = simulate(&format!("file://{}", password.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["Records"], 300, "{summary}");

    // The broker holds them: the partitions' high watermarks, read over SASL_SSL too.
    let consumer: BaseConsumer = broker.client().create().unwrap();
    let held: i64 = (0..4)
        .map(|p| {
            consumer
                .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum();
    assert_eq!(held, 300);
}
