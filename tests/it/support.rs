//! Shared harness: a key core server on a free port, and a Python venv with real AWS clients.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use lakeseal_keycore::clock::{Clock, SystemClock};
use lakeseal_keycore::rotation::Rotators;
use lakeseal_rotator_kafka::KafkaScramUser;
use lakeseal_rotator_postgres::PostgresAlternatingUsers;

use lakeseal_keycore::{InitOptions, KeyCore, Options, RequestContext};
use lakeseal_keycore_server::{Server, ServerConfig};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub const REGION: &str = "eu-west-1";

/// A key core served over HTTP (or, started with [`RunningKeyCore::start_tls`], HTTPS) on
/// 127.0.0.1, with an admin access key in a credentials file.
pub struct RunningKeyCore {
    pub endpoint: String,
    pub credentials: PathBuf,
    /// Over HTTPS: the private CA that signed the server's certificate (for 127.0.0.1 and
    /// localhost), and beside it `other-ca.pem`, a CA that signed nothing of the server's.
    pub ca_file: Option<PathBuf>,
    pub core: KeyCore,
    /// The key core's data directory (its `audit.log` is there).
    pub data: PathBuf,
    addr: std::net::SocketAddr,
    config: ServerConfig,
    /// Kept so the data directory lives as long as the server.
    _dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl RunningKeyCore {
    pub async fn start() -> Self {
        Self::start_with(ServerConfig::default()).await
    }

    pub async fn start_with(config: ServerConfig) -> Self {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn start_with_clock(config: ServerConfig, clock: Arc<dyn Clock>) -> Self {
        Self::start_full(config, clock, false).await
    }

    /// Serves HTTPS under a private CA made for the test ([`RunningKeyCore::ca_file`]).
    pub async fn start_tls() -> Self {
        Self::start_tls_with(ServerConfig::default()).await
    }

    /// As [`RunningKeyCore::start_tls`], with `config`.
    pub async fn start_tls_with(config: ServerConfig) -> Self {
        Self::start_full(config, Arc::new(SystemClock), true).await
    }

    async fn start_full(mut config: ServerConfig, clock: Arc<dyn Clock>, tls: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_file = tls.then(|| {
            let tls_dir = dir.path().join("tls");
            std::fs::create_dir(&tls_dir).unwrap();
            let names = ["127.0.0.1".to_owned(), "localhost".to_owned()];
            let issued = lakeseal_keycore_server::issue_private_ca("test CA", &names).unwrap();
            let other = lakeseal_keycore_server::issue_private_ca("other CA", &names).unwrap();
            let (cert, key) = (tls_dir.join("server.pem"), tls_dir.join("server-key.pem"));
            std::fs::write(&cert, &issued.server_pem).unwrap();
            std::fs::write(&key, issued.server_key_pem.as_bytes()).unwrap();
            std::fs::write(tls_dir.join("other-ca.pem"), &other.ca_pem).unwrap();
            std::fs::write(tls_dir.join("ca.pem"), &issued.ca_pem).unwrap();
            config.tls =
                Some(lakeseal_keycore_server::TlsIdentity::from_pem_files(&cert, &key).unwrap());
            tls_dir.join("ca.pem")
        });
        let data = dir.path().join("keycore");
        KeyCore::init(
            &data,
            &InitOptions {
                region: REGION.into(),
                account_id: Some("111122223333".into()),
                partition: "aws".into(),
            },
        )
        .unwrap();
        let core = KeyCore::open(
            &data,
            Options {
                clock,
                // The rotators `lakeseal keycore serve` registers.
                rotators: Rotators::builtin()
                    .with(Arc::new(PostgresAlternatingUsers))
                    .with(Arc::new(KafkaScramUser)),
                min_session_seconds: config.min_session_seconds,
                alerts: config.alerts,
                key_stores: config.key_stores.clone(),
                ..Options::default()
            },
        )
        .unwrap();
        let admin = core
            .bootstrap_admin(&RequestContext::local("test-harness"))
            .await
            .unwrap();
        let credentials = dir.path().join("admin-credentials");
        std::fs::write(
            &credentials,
            admin.credentials_file("default").expose_secret(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if ca_file.is_some() { "https" } else { "http" };
        let mut running = Self {
            endpoint: format!("{scheme}://{addr}"),
            credentials,
            ca_file,
            core,
            data,
            addr,
            config,
            _dir: dir,
            stop: None,
        };
        running.serve(listener);
        running
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        let server = Server::new(self.core.clone(), self.config.clone());
        tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        self.stop = Some(stop);
    }

    /// Serves the credentials endpoint (loopback only) on a free port for the life of the test;
    /// returns its URI, as `AWS_CONTAINER_CREDENTIALS_FULL_URI` takes it.
    pub async fn serve_credentials(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = Server::new(self.core.clone(), self.config.clone());
        tokio::spawn(async move {
            server
                .serve_credentials(
                    listener,
                    lakeseal_keycore_server::CredentialsAccess::LoopbackOnly,
                    std::future::pending(),
                )
                .await
        });
        let scheme = if self.ca_file.is_some() {
            "https"
        } else {
            "http"
        };
        format!(
            "{scheme}://{addr}{}",
            lakeseal_keycore_server::CREDENTIALS_PATH
        )
    }

    /// Stops the server (the key core stays open in this process): clients see it down.
    pub fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Serves again on the same address.
    pub async fn restart_server(&mut self) {
        let start = std::time::Instant::now();
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if start.elapsed() < std::time::Duration::from_secs(10) => {
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        self.serve(listener);
    }

    /// Runs a script from `tests/python/` with the venv's interpreter, pointed at this key core;
    /// panics if it fails, else returns its standard output.
    pub async fn python(&self, script: &str, env: &[(&str, &str)]) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("python")
            .join(script);
        let out = self.python_at(&script, &[], env).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{} failed:\n{stdout}\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Runs any Python script with the venv's interpreter and `args`, pointed at this key core
    /// (with the admin's credentials unless `env` gives others); returns how it ended.
    pub async fn python_at(
        &self,
        script: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> std::process::Output {
        let python = venv().join("bin/python");
        let mut command = Command::new(python);
        command
            .arg(script)
            .args(args)
            .env("AWS_ENDPOINT_URL_KMS", &self.endpoint)
            .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.endpoint)
            .env("AWS_ENDPOINT_URL_STS", &self.endpoint)
            .env("AWS_ENDPOINT_URL_IAM", &self.endpoint)
            .env("AWS_SHARED_CREDENTIALS_FILE", &self.credentials)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_DEFAULT_REGION", REGION)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE");
        if let Some(ca_file) = &self.ca_file {
            command.env("AWS_CA_BUNDLE", ca_file);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for RunningKeyCore {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A venv with the clients of `tests/python/requirements.txt`, made once per build directory
/// and brought up to date whenever the requirements change.
pub fn venv() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lakeseal-py-venv");
        let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/requirements.txt");
        let wanted = std::fs::read_to_string(&requirements).unwrap();
        let marker = dir.join("requirements.installed");
        if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
            return dir;
        }
        if !dir.join("bin/python").exists() {
            let made = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(made.success(), "python3 -m venv failed");
        }
        let installed = Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements)
            .status()
            .unwrap();
        assert!(
            installed.success(),
            "pip install -r {} failed",
            requirements.display()
        );
        std::fs::write(&marker, wanted).unwrap();
        dir
    })
    .clone()
}
