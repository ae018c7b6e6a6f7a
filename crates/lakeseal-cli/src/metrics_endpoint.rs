//! `--metrics-listen`: the process's metrics in the Prometheus text format at `/metrics`.

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from a cached key (sub-millisecond) to a stalled write.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder and serves it on `addr` in the background.
pub(crate) async fn serve(addr: &str) -> anyhow::Result<()> {
    let handle: PrometheusHandle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .context("histogram buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    let local = listener.local_addr()?;
    let app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics endpoint stopped");
        }
    });
    tracing::info!(%local, "metrics at /metrics");
    eprintln!("lakeseal metrics on http://{local}/metrics");
    Ok(())
}
