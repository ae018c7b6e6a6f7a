//! A real PostgreSQL server for a test: Debian's package (installed by `scripts/test.sh`),
//! `initdb` into a temporary directory with SCRAM logins, started on a free loopback port and
//! stopped when dropped. Run as the `postgres` user when the tests run as root, since the
//! server refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::stage::free_port;

pub const MASTER: &str = "master";

pub struct Postgres {
    pub port: u16,
    pub master_password: String,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The newest installed server's `bin` directory.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/test.sh, which installs it")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .pop()
        .expect("no /usr/lib/postgresql/<version>/bin/initdb")
}

/// `program` as the server's own user when we are root (`setpriv` execs it, so the child we
/// hold is the server itself).
fn as_server_user(program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid=postgres",
                "--regid=postgres",
                "--init-groups",
                "--",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

impl Postgres {
    pub async fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        let (data, sockets) = (dir.path().join("data"), dir.path().join("sockets"));
        std::fs::create_dir(&sockets).unwrap();
        let master_password = format!("m-{}", uuid_like());
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &master_password).unwrap();
        // Only needed (and only possible) as root; harmless to try otherwise.
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status();
        let status = as_server_user(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", MASTER, "--auth=scram-sha-256", "--no-sync"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let child = as_server_user(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-c", "log_min_messages=fatal"])
            .arg("-k")
            .arg(&sockets)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let server = Self {
            port,
            master_password,
            child,
            _dir: dir,
        };
        // Ready once the master can log in.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if server.login(MASTER, &server.master_password).await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "PostgreSQL did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// Logs in as `user`, as a client would.
    pub async fn login(&self, user: &str, password: &str) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(5))
            .connect(NoTls)
            .await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Runs SQL as the master user.
    pub async fn as_master(&self, sql: &str) {
        let client = self.login(MASTER, &self.master_password).await.unwrap();
        client.batch_execute(sql).await.unwrap();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown, the server's children with it.
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn uuid_like() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..24)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}
