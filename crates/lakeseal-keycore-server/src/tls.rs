//! TLS on the key core's listeners: the server's certificate chain and private key from PEM
//! files, and, for `keycore init --tls-name`, a private CA that signs one server certificate.
//!
//! The private CA's key is dropped as soon as it has signed: nothing can issue another
//! certificate the clients would trust, so a stolen data directory yields the server's key but
//! no way to stand up a second, trusted server under another name. New names mean a new CA
//! (and clients given its `ca.pem`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

/// How long a certificate `keycore init` makes stays valid, in days (about two years: less
/// than a CA/Browser Forum limit would allow, more than a lab needs between re-inits).
pub const ISSUED_VALIDITY_DAYS: u64 = 730;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// rustls refused the certificate and key (they do not match, or the key type is not
    /// supported).
    #[error("the TLS certificate and key cannot be used: {0}")]
    Config(#[from] rustls::Error),
    /// The private CA or its certificate could not be made.
    #[error("cannot make the TLS certificate: {0}")]
    Issue(String),
}

/// The key core's TLS identity: its certificate chain and private key, made ready for
/// handshakes. Cheap to clone; `Debug` shows neither key nor certificate.
#[derive(Clone)]
pub struct TlsIdentity {
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// The chain in `cert` (the server's certificate first, then any intermediates) and the
    /// private key in `key` (PKCS#8, PKCS#1 or SEC1 PEM).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let pem_error = |path: &Path, reason: String| TlsError::Pem {
            path: path.to_owned(),
            reason,
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| pem_error(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(pem_error(cert, "holds no CERTIFICATE block".into()));
        }
        // The parse error names the file's structure, never its bytes.
        let key_der =
            PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, e.to_string()))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
        Ok(Self::from_config(config))
    }

    fn from_config(mut config: rustls::ServerConfig) -> Self {
        // The listeners speak HTTP/1.1 only: say so to clients that offer more.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            config: Arc::new(config),
        }
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// A private CA's certificate and the server certificate it signed, as PEM. The CA's key is
/// not here: it was dropped after signing (see the module's comment).
pub struct IssuedCertificates {
    /// The CA's certificate: what clients are given to verify the server (`ca_file`).
    pub ca_pem: String,
    /// The server's certificate.
    pub server_pem: String,
    /// The server's private key (PKCS#8); zeroized on drop.
    pub server_key_pem: Zeroizing<String>,
}

impl std::fmt::Debug for IssuedCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCertificates")
            .field("ca_pem", &self.ca_pem)
            .field("server_pem", &self.server_pem)
            .finish_non_exhaustive()
    }
}

/// Makes a private CA named after `ca_name` and, under it, a server certificate for `names`
/// (DNS names or IP addresses), both P-256 and valid from yesterday for
/// [`ISSUED_VALIDITY_DAYS`].
pub fn issue_private_ca(ca_name: &str, names: &[String]) -> Result<IssuedCertificates, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let issue = |e: rcgen::Error| TlsError::Issue(e.to_string());
    if names.is_empty() {
        return Err(TlsError::Issue(
            "the server certificate needs at least one name".into(),
        ));
    }
    let (not_before, not_after) = validity();

    let mut ca = CertificateParams::new(Vec::new()).map_err(issue)?;
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_key = KeyPair::generate().map_err(issue)?;
    let ca_pem = ca.self_signed(&ca_key).map_err(issue)?.pem();

    let mut server = CertificateParams::new(names.to_vec()).map_err(issue)?;
    server
        .distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    server.not_before = not_before;
    server.not_after = not_after;
    let server_key = KeyPair::generate().map_err(issue)?;
    let issuer = Issuer::new(ca, ca_key);
    let server_pem = server.signed_by(&server_key, &issuer).map_err(issue)?.pem();
    drop(issuer);
    Ok(IssuedCertificates {
        ca_pem,
        server_pem,
        server_key_pem: Zeroizing::new(server_key.serialize_pem()),
    })
}

/// From yesterday (so that a clock a little behind still accepts them) for
/// [`ISSUED_VALIDITY_DAYS`].
fn validity() -> (time::OffsetDateTime, time::OffsetDateTime) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let day = |date: chrono::NaiveDate| {
        // Month and day always fit a u8.
        rcgen::date_time_ymd(date.year(), date.month() as u8, date.day() as u8)
    };
    (
        day(today - chrono::Days::new(1)),
        day(today + chrono::Days::new(ISSUED_VALIDITY_DAYS)),
    )
}
