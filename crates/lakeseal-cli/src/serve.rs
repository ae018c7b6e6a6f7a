//! `lakeseal keycore serve`: the key core's API and, beside it, its credentials endpoint and
//! metrics, until SIGTERM.

use std::path::Path;

use anyhow::{Context, bail};

use crate::args::ServeArgs;
use crate::metrics_endpoint;

/// Serves the key core in `dir` as `a` says.
pub(crate) async fn keycore(dir: &Path, a: ServeArgs) -> anyhow::Result<()> {
    let mut config = server_config(a.config.as_deref())?;
    config.tls = crate::tls::identity(dir, &a)?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let s = crate::open_with(dir, &config)?;
    if let Some(addr) = &a.metrics_listen {
        metrics_endpoint::serve(addr, None).await?;
    }
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, region = %s.core.location().region, "key core serving");
    eprintln!("lakeseal key core listening on {scheme}://{local}");
    let server = lakeseal_keycore_server::Server::new(s.core, config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let credentials = match &a.credentials_listen {
        Some(addr) => Some(
            credentials_endpoint(&server, addr, scheme, a.credentials_allow_remote, stopped)
                .await?,
        ),
        None => None,
    };
    server.serve(listener, crate::shutdown_signal()).await?;
    let _ = stop.send(true);
    if let Some(endpoint) = credentials {
        endpoint.await??;
    }
    Ok(())
}

/// The server's configuration file, or the defaults.
pub(crate) fn server_config(
    path: Option<&Path>,
) -> anyhow::Result<lakeseal_keycore_server::ServerConfig> {
    Ok(match path {
        Some(path) => lakeseal_keycore_server::ServerConfig::from_toml(
            &std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => lakeseal_keycore_server::ServerConfig::default(),
    })
}

/// Starts the credentials endpoint on `addr` beside the API; it stops when `stop` turns true.
async fn credentials_endpoint(
    server: &lakeseal_keycore_server::Server,
    addr: &str,
    scheme: &str,
    allow_remote: bool,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    use lakeseal_keycore_server::{CREDENTIALS_PATH, CredentialsAccess};
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (--credentials-listen)"))?;
    let local = listener.local_addr()?;
    let access = if allow_remote {
        CredentialsAccess::AnyAddress
    } else if local.ip().is_loopback() {
        CredentialsAccess::LoopbackOnly
    } else {
        bail!(
            "--credentials-listen {addr} is not a loopback address: the credentials endpoint \
             serves this host only unless --credentials-allow-remote"
        );
    };
    eprintln!("lakeseal credentials endpoint at {scheme}://{local}{CREDENTIALS_PATH}");
    let server = server.clone();
    Ok(tokio::spawn(async move {
        server
            .serve_credentials(listener, access, async move {
                let _ = stop.wait_for(|stopped| *stopped).await;
            })
            .await
    }))
}
