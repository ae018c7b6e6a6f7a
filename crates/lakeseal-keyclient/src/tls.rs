//! Which servers the key client trusts over `https://`, and the connector that checks it.
//!
//! rustls with the ring provider (the one object_store's HTTP client already brings), through
//! hyper-rustls. One connector serves the key service, its STS, and the credentials endpoint, so
//! one `ca_file` covers all three.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper_util::client::legacy::connect::HttpConnector;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::{Error, Result};

/// The certificate authorities a server's certificate must chain to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TrustRoots {
    /// The system's store (`/etc/ssl/certs` and the like): for a server with a public
    /// certificate.
    #[default]
    System,
    /// Only the CAs in this PEM file: for a private CA, such as the one `keycore init
    /// --tls-name` makes (`tls/ca.pem`).
    CaFile(PathBuf),
}

impl TrustRoots {
    /// `ca_file` when given, else the system's store.
    pub fn from_ca_file(ca_file: Option<&Path>) -> Self {
        ca_file.map_or(TrustRoots::System, |path| {
            TrustRoots::CaFile(path.to_owned())
        })
    }
}

/// Speaks `http://` and, verifying the server against the roots, `https://`.
pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A connector trusting `roots`. A CA file that cannot be read or holds no certificate is an
/// error now rather than a refused handshake later.
pub(crate) fn connector(roots: &TrustRoots) -> Result<Connector> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        TrustRoots::System => {
            // Certificates the system has but rustls cannot parse are skipped, as browsers do;
            // an empty store only means that https:// endpoints fail to verify.
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
        }
        TrustRoots::CaFile(path) => {
            let certificates = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| Error::Protocol(format!("ca_file {}: {e}", path.display())))?;
            if certificates.is_empty() {
                return Err(Error::Protocol(format!(
                    "ca_file {} holds no CERTIFICATE block",
                    path.display()
                )));
            }
            for certificate in certificates {
                store
                    .add(certificate)
                    .map_err(|e| Error::Protocol(format!("ca_file {}: {e}", path.display())))?;
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Protocol(format!("TLS: {e}")))?
    .with_root_certificates(store)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    // `https_or_http` hands the URI's scheme to the connector, which refuses plain TCP
    // otherwise.
    http.enforce_http(false);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

/// The error for a request that never got an answer: a server whose certificate does not
/// verify is a lasting misconfiguration, said plainly and not retried; anything else (refused
/// connection, reset) may pass.
pub(crate) fn request_failed(target: &str, e: &hyper_util::client::legacy::Error) -> Error {
    match certificate_problem(e) {
        Some(problem) => Error::Protocol(format!(
            "TLS: {target} presented a certificate this client does not trust ({problem}); \
             give the CA that signed it as ca_file (--ca-file)"
        )),
        None => Error::Unavailable(format!("{target}: {}", chain(e))),
    }
}

/// The rustls verdict on the server's certificate, if that is why `e` happened. hyper-rustls
/// wraps it in an `io::Error`, whose `source()` skips the wrapped error, so each link is also
/// looked into through `io::Error::get_ref`.
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(e) = next {
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        for candidate in [Some(e), inner].into_iter().flatten() {
            if let Some(
                problem @ (rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented),
            ) = candidate.downcast_ref::<rustls::Error>()
            {
                return Some(problem.to_string());
            }
        }
        next = inner.or_else(|| e.source());
    }
    None
}

/// `e` and its causes, `: `-separated (hyper's own message is only "client error (Connect)").
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}
