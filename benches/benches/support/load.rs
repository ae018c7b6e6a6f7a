//! What the loopback HTTP benches share: concurrent loops timed after a warm-up, and a keep-alive
//! client that signs each JSON request with SigV4 as the AWS SDK does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

pub(crate) const REGION: &str = "eu-west-1";

pub(crate) fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub(crate) struct Run {
    pub(crate) ops: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<Duration>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(i).copied().unwrap_or_default()
    }
}

/// Runs `connections` loops of `one` for `seconds` after a one-second warm-up.
pub(crate) async fn drive<F, Fut>(connections: u64, seconds: u64, one: F) -> Run
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let warm = Arc::new(AtomicBool::new(true));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (one, warm, stop) = (one.clone(), warm.clone(), stop.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    one().await;
                    if !warm.load(Ordering::Relaxed) {
                        latencies.push(start.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    warm.store(false, Ordering::Relaxed);
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    Run {
        ops: latencies.len() as u64,
        elapsed,
        latencies,
    }
}

/// A keep-alive HTTP client signing each request for one access key.
pub(crate) struct Signer {
    client: Client<HttpConnector, Full<Bytes>>,
    identity: Identity,
    endpoint: String,
}

impl Signer {
    /// A client of `endpoint` (`http://host:port/`) signing with the given access key.
    pub(crate) fn new(endpoint: &str, access_key_id: &str, secret_access_key: String) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            identity: Credentials::new(access_key_id, secret_access_key, None, None, "bench")
                .into(),
            endpoint: endpoint.to_owned(),
        }
    }

    /// Sends `body` to `target` (`TrentService.GenerateDataKey` …), signed for `service`;
    /// panics unless the answer is a success.
    pub(crate) async fn call(&self, service: &str, target: &str, body: &Bytes) -> Bytes {
        let host = self
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let headers = [
            ("host", host),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ];
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(REGION)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::builder()
            .method("POST")
            .uri(self.endpoint.as_str());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let mut request = request.body(Full::new(body.clone())).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(
            status.is_success(),
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        bytes
    }
}
