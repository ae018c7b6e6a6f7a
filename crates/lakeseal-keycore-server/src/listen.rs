//! The accept loop: HTTP/1.1 connections, over TLS when the server has an identity, with a cap
//! on how many are open, a deadline for the TLS handshake and for each request's headers (which
//! also closes a connection left idle), and a bounded graceful shutdown.
//!
//! Written over hyper rather than `axum::serve` because that offers neither a header deadline
//! nor a shutdown deadline: one client holding a half-sent request kept the server from exiting
//! on SIGTERM.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::tls::TlsIdentity;

/// Connection limits and deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// At most this many connections are open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A request's headers must arrive within this time of the connection being ready for
    /// them: a connection idle that long between requests is closed too. The TLS handshake,
    /// when there is one, must finish within this time of the connection being accepted.
    pub header_timeout: Duration,
    /// A request's body must arrive within this time of its headers.
    pub body_timeout: Duration,
    /// After the shutdown signal, requests in flight have this long to finish; connections
    /// still open then are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `router` on `listener` (over TLS with `tls`) until `shutdown` completes; then stops
/// accepting, lets the requests in flight finish for at most `limits.shutdown_grace`, and
/// returns.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<&TlsIdentity>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = tls.map(TlsIdentity::acceptor);
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            permit = open.clone().acquire_owned() => match permit {
                Ok(permit) => tokio::select! {
                    () = &mut shutdown => break,
                    accepted = listener.accept() => accepted.map(|a| (a, permit)),
                },
                Err(_) => break,
            },
        };
        let ((stream, peer), permit) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: pass, rather than stop serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Answers are one small write each: no reason to hold them for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                Ok::<_, Infallible>(router.oneshot(request).await.unwrap_or_else(|e| match e {}))
            }
        });
        let (http, watcher, tls) = (http.clone(), graceful.watcher(), tls.clone());
        connections.spawn(async move {
            let served = match tls {
                None => serve_connection(&http, watcher, stream, service).await,
                Some(tls) => {
                    match tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(&http, watcher, stream, service).await,
                        Ok(Err(e)) => {
                            // Not TLS, a client that does not trust the certificate, no common
                            // protocol version: refused before any request.
                            count_connection_error("tls");
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            count_connection_error("timeout");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = served {
                // Headers over hyper's size limit (431), too slow (timeout), or a broken
                // connection: refused before they reached a handler, so counted here.
                let kind = if e.is_parse_too_large() {
                    "too_large"
                } else if e.is_timeout() {
                    "timeout"
                } else if e.is_parse() {
                    "malformed"
                } else {
                    "other"
                };
                count_connection_error(kind);
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!(
                grace = ?limits.shutdown_grace,
                open = connections.len(),
                "connections still open after the shutdown grace period are dropped"
            );
        }
    }
    connections.shutdown().await;
    Ok(())
}

/// One connection's requests, until it closes or the shutdown `watcher` ends it.
async fn serve_connection<S>(
    http: &hyper::server::conn::http1::Builder,
    watcher: Watcher,
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    service: S,
) -> hyper::Result<()>
where
    S: hyper::service::HttpService<Incoming> + Send,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    watcher
        .watch(http.serve_connection(TokioIo::new(stream), service))
        .await
}

fn count_connection_error(kind: &'static str) {
    metrics::counter!("lakeseal_keycore_connection_errors_total", "kind" => kind).increment(1);
}
