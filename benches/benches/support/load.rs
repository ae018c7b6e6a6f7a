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

use lakeseal_keycore::iam::NewAccessKey;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};
use lakeseal_keycore_server::{Limit, RateLimits, Server, ServerConfig};
use tempfile::TempDir;

pub(crate) const REGION: &str = "eu-west-1";

/// A key core in a temporary data directory with durable audit: its account root, the admin's
/// access key, and one CMK's ARN.
pub(crate) struct Bench {
    pub(crate) core: KeyCore,
    pub(crate) root: Principal,
    pub(crate) admin: NewAccessKey,
    pub(crate) key_arn: String,
    _dir: TempDir,
}

impl Bench {
    pub(crate) async fn open() -> Self {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let location = KeyCore::init(
            dir.path(),
            &InitOptions {
                region: REGION.into(),
                account_id: None,
                partition: "aws".into(),
            },
        )
        .unwrap();
        let core = KeyCore::open(dir.path(), Options::default()).unwrap();
        let ctx = RequestContext::local("bench");
        let admin = core.bootstrap_admin(&ctx).await.unwrap();
        let root = Principal::account_root(&location.account_id);
        let key_arn = core
            .create_key(&root, &ctx, CreateKeyRequest::default())
            .await
            .unwrap()
            .key_metadata
            .arn;
        Self {
            core,
            root,
            admin,
            key_arn,
            _dir: dir,
        }
    }

    /// Serves the key core on a free loopback port with quotas out of the way (this measures
    /// the protocol and the engine, not the limiter); returns `http://host:port/`.
    pub(crate) async fn serve(&self) -> String {
        self.serve_with(None).await
    }

    /// As [`Bench::serve`], over TLS under a private CA made now: returns
    /// `https://127.0.0.1:port/` and the CA's file.
    #[allow(
        dead_code,
        reason = "each bench takes this file whole; only keycore_http serves TLS"
    )]
    pub(crate) async fn serve_tls(&self) -> (String, std::path::PathBuf) {
        let issued =
            lakeseal_keycore_server::issue_private_ca("bench CA", &["127.0.0.1".to_owned()])
                .unwrap();
        let dir = self._dir.path();
        let (cert, key, ca) = (
            dir.join("server.pem"),
            dir.join("server-key.pem"),
            dir.join("ca.pem"),
        );
        std::fs::write(&cert, &issued.server_pem).unwrap();
        std::fs::write(&key, issued.server_key_pem.as_bytes()).unwrap();
        std::fs::write(&ca, &issued.ca_pem).unwrap();
        let tls = lakeseal_keycore_server::TlsIdentity::from_pem_files(&cert, &key).unwrap();
        let endpoint = self.serve_with(Some(tls)).await;
        (endpoint.replacen("http://", "https://", 1), ca)
    }

    async fn serve_with(&self, tls: Option<lakeseal_keycore_server::TlsIdentity>) -> String {
        let max = std::num::NonZeroU32::MAX;
        let config = ServerConfig {
            rate_limits: RateLimits {
                cryptographic: Limit::per_second(max),
                control: Limit::per_second(max),
            },
            tls,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(
            Server::new(self.core.clone(), config).serve(listener, std::future::pending()),
        );
        endpoint
    }

    /// A signing client of `endpoint` with the admin's key.
    pub(crate) fn admin_signer(&self, endpoint: &str) -> Signer {
        let secret =
            String::from_utf8(self.admin.secret_access_key.expose_secret().to_vec()).unwrap();
        Signer::new(endpoint, &self.admin.access_key_id, secret)
    }
}

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

/// Prints one Markdown table row: the path's rate and its p50 and p99 latencies.
pub(crate) fn row(name: &str, run: &mut Run) {
    let (p50, p99) = (run.percentile(0.50), run.percentile(0.99));
    println!(
        "| {name} | {:.0} | {:.2} ms | {:.2} ms |",
        run.rate(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}
