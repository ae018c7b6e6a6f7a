//! The key core's TLS files in its data directory: `keycore init --tls-name` writes them,
//! `keycore serve` reads them (or the PEM files it is given).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lakeseal_keycore_server::{TlsIdentity, issue_private_ca};

use crate::args::ServeArgs;

/// Where, under the data directory, the private CA's certificate and the server's certificate
/// and key are kept.
const TLS_DIR: &str = "tls";
const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "server.pem";
const KEY_FILE: &str = "server-key.pem";

/// Makes a private CA and a server certificate for `names` in `data_dir`'s `tls/` (the key
/// 0600, never over existing files); returns the CA file, the one clients are given.
pub(crate) fn issue(data_dir: &Path, names: &[String]) -> anyhow::Result<PathBuf> {
    let issued = issue_private_ca("Lakeseal key core private CA", names)?;
    let dir = data_dir.join(TLS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = dir.join(KEY_FILE);
    crate::credentials_file::write_credentials(
        &key,
        &issued.server_key_pem.as_bytes().to_vec().into(),
    )?;
    for (name, pem) in [(CERT_FILE, &issued.server_pem), (CA_FILE, &issued.ca_pem)] {
        let path = dir.join(name);
        std::fs::write(&path, pem).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir.join(CA_FILE))
}

/// The identity `serve` presents: the PEM files it was given, else the ones `init --tls-name`
/// wrote; `None` when it was asked for plain HTTP, which is allowed on loopback addresses only.
pub(crate) fn identity(data_dir: &Path, a: &ServeArgs) -> anyhow::Result<Option<TlsIdentity>> {
    if a.insecure_http {
        for (flag, addr) in [
            ("--listen", Some(&a.listen)),
            ("--credentials-listen", a.credentials_listen.as_ref()),
        ] {
            if let Some(addr) = addr
                && !is_loopback(addr)
            {
                bail!(
                    "{flag} {addr}: --insecure-http serves plain HTTP on loopback addresses \
                     only; give the key core a certificate to listen elsewhere"
                );
            }
        }
        return Ok(None);
    }
    let (cert, key) = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let dir = data_dir.join(TLS_DIR);
            let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
            if !cert.exists() {
                bail!(
                    "no TLS certificate: run `keycore init --tls-name NAME` (a private CA and a \
                     certificate in {}), give --tls-cert and --tls-key, or ask for \
                     --insecure-http (loopback only)",
                    dir.display()
                );
            }
            (cert, key)
        }
    };
    Ok(Some(TlsIdentity::from_pem_files(&cert, &key)?))
}

/// Whether `addr` (`host:port`) names a loopback address; a name is resolved as `bind` would.
fn is_loopback(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    addr.to_socket_addrs()
        .map(|mut addrs| addrs.all(|a| a.ip().is_loopback()))
        .unwrap_or(false)
}
