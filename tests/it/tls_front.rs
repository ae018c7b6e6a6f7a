//! TLS in front of a plain TCP service, terminated by stunnel as a load balancer terminates it
//! for many managed brokers: a throwaway CA, a certificate for 127.0.0.1 under it, and stunnel
//! forwarding to the service.
//!
//! tansu 0.6 cannot serve TLS itself (its `--cert` and `--key` flags exclude each other), so the
//! TLS broker tests and the throughput bench's TLS row put this in front of it. Only `std`, so
//! that the bench can take this file too (`#[path]`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A CA (`ca.pem`), a second CA that signed nothing (`other-ca.pem`), and a server certificate
/// for 127.0.0.1 and localhost under the first (`server.pem`, `server.key`), all in `dir`.
pub(crate) fn make_certificates(dir: &Path) {
    make_ca(dir, "ca");
    make_ca(dir, "other-ca");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

/// A self-signed CA, `<name>.pem` and `<name>.key`, in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): scripts/test.sh installs it"));
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
}

/// stunnel accepting TLS on `accept` with `dir`'s `server.pem`, forwarding to `connect`; stopped
/// on drop.
#[derive(Debug)]
pub(crate) struct TlsFront(Child);

impl TlsFront {
    /// Starts it (certificates made already) and waits until it listens.
    pub(crate) fn start(dir: &Path, accept: u16, connect: u16) -> Self {
        let config: PathBuf = dir.join(format!("stunnel-{accept}.conf"));
        std::fs::write(
            &config,
            format!(
                "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{accept}\n\
                 connect = 127.0.0.1:{connect}\ncert = {cert}\nkey = {key}\n",
                cert = dir.join("server.pem").display(),
                key = dir.join("server.key").display(),
            ),
        )
        .unwrap();
        let child = Command::new("stunnel")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start stunnel ({e}): scripts/test.sh installs it"));
        let front = Self(child);
        wait_port(accept);
        front
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (up to 30 s) until something listens on local `port`.
pub(crate) fn wait_port(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
