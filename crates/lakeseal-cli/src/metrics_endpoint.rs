//! `--metrics-listen`: the process's metrics in the Prometheus text format at `/metrics`, and for
//! the stage its health at `/healthz` (200 while it consumes or starts, 503 when it is paused,
//! cut off from its brokers or failed; the JSON body says which and why).

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use lakeseal_stage::health::Health;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from a cached key (sub-millisecond) to a stalled write.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the Prometheus recorder and serves it on `addr` in the background, with `/healthz`
/// when there is a `health` to report.
pub(crate) async fn serve(addr: &str, health: Option<Health>) -> anyhow::Result<()> {
    let handle: PrometheusHandle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .context("histogram buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for metrics"))?;
    let local = listener.local_addr()?;
    let mut app = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { handle.render() }
        }),
    );
    if let Some(health) = health {
        app = app.route(
            "/healthz",
            get(move || {
                let (ok, body) = health.report();
                let status = if ok {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
                async move { (status, json, body.to_string()) }
            }),
        );
    }
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics endpoint stopped");
        }
    });
    tracing::info!(%local, "metrics at /metrics");
    eprintln!("lakeseal metrics on http://{local}/metrics");
    Ok(())
}
