//! The key core as a network service speaking the AWS KMS and Secrets Manager JSON 1.1 protocols
//! and the STS and IAM query protocols, on one listener.
//!
//! `POST /` with `X-Amz-Target: TrentService.<Operation>` (KMS) or
//! `secretsmanager.<Operation>` and a JSON body, signed with SigV4 (service `kms` or
//! `secretsmanager`, the key core's region); STS and IAM as form bodies. Existing AWS clients
//! work unchanged with an endpoint override. Every request is authenticated, then authorised and audited by the engine; a
//! request refused before it reaches an operation (bad signature, unknown key, malformed body) is
//! audited here.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use lakeseal_keycore::{KeyCore, Options};
//! use lakeseal_keycore_server::{Server, ServerConfig};
//!
//! let core = KeyCore::open("/var/lib/lakeseal".as_ref(), Options::default())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7070").await?;
//! Server::new(core, ServerConfig::default())
//!     .serve(listener, async { let _ = tokio::signal::ctrl_c().await; })
//!     .await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod auth;
mod config;
mod credentials;
mod error;
mod iam;
mod json;
mod kms;
mod limits;
mod listen;
mod refusals;
mod secrets;
mod sts;
mod tls;
mod xml;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Request, Uri};
use axum::response::Response;
use axum::routing::any;
use lakeseal_keycore::{KeyCore, RequestContext, Service};
use tracing::Instrument;

pub use crate::config::ConfigError;
pub use crate::credentials::{CREDENTIALS_PATH, CredentialsAccess};
pub use crate::error::ApiError;
use crate::limits::Limiter;
pub use crate::limits::{Limit, RateLimits};
pub use crate::listen::ConnectionLimits;
use crate::refusals::Refusals;
pub use crate::refusals::{RefusalAudit, SUMMARY_OPERATION};
pub use crate::tls::{
    ISSUED_VALIDITY_DAYS, IssuedCertificates, TlsError, TlsIdentity, issue_private_ca,
};

/// The largest request body accepted, in bytes.
/// 128 KiB: a Secrets Manager value may be 64 KiB of binary, sent as base64.
pub const DEFAULT_MAX_BODY: usize = 128 * 1024;

/// The scheduler's default tick.
pub const DEFAULT_SCHEDULER_TICK: Duration = Duration::from_secs(10);

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest request body, in bytes; larger ones get a `ValidationException`.
    pub max_body: usize,
    /// Per-account quotas.
    pub rate_limits: RateLimits,
    /// Open connections, request deadlines and the shutdown deadline.
    pub connections: ConnectionLimits,
    /// How requests refused before an operation are audited, per source address.
    pub refusal_audit: RefusalAudit,
    /// How often the key core's scheduler runs due work (secret rotations among it), measured
    /// against the key core's clock.
    pub scheduler_tick: Duration,
    /// The shortest `AssumeRole` session: the engine enforces it, so whoever opens the key core
    /// for this server passes it on as [`lakeseal_keycore::Options::min_session_seconds`].
    pub min_session_seconds: u32,
    /// When the audit trail's anomaly alerts fire: like `min_session_seconds`, the engine's
    /// ([`lakeseal_keycore::Options::alerts`]).
    pub alerts: lakeseal_keycore::audit::alerts::AlertThresholds,
    /// TLS on both listeners; `None`: plain HTTP, which whoever starts the server asks for by
    /// name (`keycore serve --insecure-http`).
    pub tls: Option<TlsIdentity>,
    /// The PKCS#11 key stores: like `alerts`, the engine's
    /// ([`lakeseal_keycore::Options::key_stores`]).
    pub key_stores: Vec<lakeseal_keycore::hsm::KeyStoreConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body: DEFAULT_MAX_BODY,
            rate_limits: RateLimits::default(),
            connections: ConnectionLimits::default(),
            refusal_audit: RefusalAudit::default(),
            scheduler_tick: DEFAULT_SCHEDULER_TICK,
            min_session_seconds: lakeseal_keycore::iam::MIN_SESSION_SECONDS,
            alerts: Default::default(),
            tls: None,
            key_stores: Vec::new(),
        }
    }
}

/// The HTTP front of a [`KeyCore`].
#[derive(Debug, Clone)]
pub struct Server {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    core: KeyCore,
    config: ServerConfig,
    limiter: Limiter,
    refusals: Refusals,
}

impl Server {
    /// A server for `core`.
    pub fn new(core: KeyCore, config: ServerConfig) -> Self {
        Self {
            inner: Arc::new(Shared {
                limiter: Limiter::new(config.rate_limits),
                refusals: Refusals::new(config.refusal_audit),
                core,
                config,
            }),
        }
    }

    /// The router, for embedding or testing.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/", any(handle))
            .fallback(handle)
            .with_state(self.inner.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then lets the requests in flight finish
    /// (for at most [`ConnectionLimits::shutdown_grace`]). Writes the summaries of refusals not
    /// audited one by one every [`RefusalAudit::summary_interval`], and once more at the end.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let summaries = {
            let shared = self.inner.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(shared.config.refusal_audit.summary_interval);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    shared.write_summaries().await;
                }
            })
        };
        let scheduler = {
            let core = self.inner.core.clone();
            let tick = self.inner.config.scheduler_tick;
            tokio::spawn(async move { core.run_scheduler(tick, std::future::pending()).await })
        };
        let served = listen::serve(
            listener,
            self.router(),
            self.inner.config.connections,
            self.inner.config.tls.as_ref(),
            shutdown,
        )
        .await;
        summaries.abort();
        // A rotation cut short here is safe as a crash is: AWSCURRENT is untouched until
        // finishSecret, and the next attempt discards the pending version.
        scheduler.abort();
        self.inner.write_summaries().await;
        served
    }

    /// Serves the credentials endpoint ([`CREDENTIALS_PATH`], see the `credentials` module) on
    /// its own `listener` until `shutdown` completes. Runs beside [`Server::serve`], which does
    /// the scheduled work and writes the refusal summaries for both.
    pub async fn serve_credentials(
        &self,
        listener: tokio::net::TcpListener,
        access: CredentialsAccess,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        listen::serve(
            listener,
            credentials::router(self.inner.clone(), access),
            self.inner.config.connections,
            self.inner.config.tls.as_ref(),
            shutdown,
        )
        .await
    }
}

impl Shared {
    async fn write_summaries(&self) {
        if let Err(e) = self.refusals.write_summaries(&self.core).await {
            tracing::error!(error = %e, "cannot audit the summary of refused requests");
        }
    }
}

/// Which protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    /// AWS KMS JSON 1.1 (`X-Amz-Target: TrentService.<Op>`), signed for `kms`.
    Kms,
    /// AWS Secrets Manager JSON 1.1 (`X-Amz-Target: secretsmanager.<Op>`), signed for
    /// `secretsmanager`.
    SecretsManager,
    /// The STS query protocol (form body with `Action=...`), signed for `sts`.
    Sts,
    /// The IAM query protocol (form body with an IAM `Action`), signed for `iam`.
    Iam,
}

impl Protocol {
    fn of(headers: &HeaderMap) -> Self {
        let form = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        match target {
            None if form => Protocol::Sts,
            Some(t) if t.starts_with(SECRETS_PREFIX) => Protocol::SecretsManager,
            _ => Protocol::Kms,
        }
    }

    /// The `X-Amz-Target` prefix of the JSON protocols.
    fn target_prefix(self) -> &'static str {
        match self {
            Protocol::SecretsManager => SECRETS_PREFIX,
            _ => KMS_PREFIX,
        }
    }

    /// The API the engine names its errors for.
    fn engine_service(self) -> Service {
        match self {
            Protocol::SecretsManager => Service::SecretsManager,
            _ => Service::Kms,
        }
    }

    fn service(self) -> &'static str {
        match self {
            Protocol::Kms => "kms",
            Protocol::SecretsManager => "secretsmanager",
            Protocol::Sts => "sts",
            Protocol::Iam => "iam",
        }
    }
}

/// The operation as a metric label: a served operation's name, else `Unknown`, so that labels
/// stay bounded whatever callers put in their headers.
pub(crate) fn operation_label(operation: &str) -> &'static str {
    kms::OPERATIONS
        .iter()
        .chain(secrets::OPERATIONS)
        .chain(iam::ACTIONS)
        .chain(&["AssumeRole", credentials::OPERATION])
        .find(|known| **known == operation)
        .copied()
        .unwrap_or("Unknown")
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = std::time::Instant::now();
    tracing::trace!(peer = %peer.ip(), "request received");
    let (parts, body) = request.into_parts();
    let ctx = RequestContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        source_ip: Some(peer.ip()),
        region: None,
        user_agent: parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let request_id = ctx.request_id.clone();
    let body = read_body(&shared.config, &parts.headers, body).await;
    let (protocol, operation) = match (Protocol::of(&parts.headers), &body) {
        // The query protocols share a shape: the action says which service it is for.
        (Protocol::Sts, Ok(body)) => {
            let action = sts::action(body).unwrap_or_else(|| "Unknown".into());
            let protocol = if iam::ACTIONS.contains(&action.as_str()) {
                Protocol::Iam
            } else {
                Protocol::Sts
            };
            (protocol, action)
        }
        (protocol, _) => (
            protocol,
            target(&parts.headers, protocol)
                .unwrap_or("Unknown")
                .to_owned(),
        ),
    };
    let label = operation_label(&operation);
    let span = tracing::info_span!("keycore_request", operation = label, request_id = %request_id);
    let response = handle_in(&shared, &parts, body, protocol, &operation, &ctx)
        .instrument(span)
        .await;
    let result = match &response {
        Ok(_) => "Success",
        Err(e) => e.code_in(protocol.engine_service()).as_str(),
    };
    metrics::counter!("lakeseal_keycore_requests_total", "operation" => label, "result" => result)
        .increment(1);
    metrics::histogram!("lakeseal_keycore_request_duration_seconds", "operation" => label)
        .record(started.elapsed().as_secs_f64());
    match protocol {
        Protocol::Kms | Protocol::SecretsManager => {
            error::into_response(response, &request_id, protocol.engine_service())
        }
        Protocol::Sts => error::into_xml_response(response, &request_id, error::sts_code),
        Protocol::Iam => error::into_xml_response(response, &request_id, error::iam_code),
    }
}

/// The request body, refused when its declared length is over the limit before any of it is
/// read (so a client waiting for `100 Continue` gets `413` instead), when it grows over the limit,
/// or when it does not arrive within the body deadline.
async fn read_body(
    config: &ServerConfig,
    headers: &HeaderMap,
    body: Body,
) -> Result<bytes::Bytes, ApiError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > config.max_body as u64) {
        return Err(ApiError::TooLarge(config.max_body));
    }
    match tokio::time::timeout(
        config.connections.body_timeout,
        axum::body::to_bytes(body, config.max_body),
    )
    .await
    {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(_)) => Err(ApiError::TooLarge(config.max_body)),
        Err(_) => Err(ApiError::BodyTimeout(config.connections.body_timeout)),
    }
}

/// Authenticates, rate-limits and runs one request; audits what is refused before an operation,
/// and what the protocol layer refuses after it (a body that is not the operation's shape).
async fn handle_in(
    shared: &Shared,
    parts: &http::request::Parts,
    body: Result<bytes::Bytes, ApiError>,
    protocol: Protocol,
    operation: &str,
    ctx: &RequestContext,
) -> Result<Vec<u8>, ApiError> {
    let result = async {
        let body = body?;
        if matches!(protocol, Protocol::Kms | Protocol::SecretsManager) {
            check_shape(&parts.method, &parts.uri, &parts.headers, protocol)?;
        }
        let who = auth::authenticate(&shared.core, parts, &body, protocol.service()).await?;
        Ok::<_, ApiError>((who, body))
    }
    .await;
    let result = match result {
        Ok((who, body)) if !shared.limiter.admit(&who.account_id, operation) => {
            if protocol == Protocol::Kms {
                count_throttled_key(&shared.core, operation, &body);
            }
            Err((Some(who), ApiError::Throttled))
        }
        Ok(ok) => Ok(ok),
        Err(e) => Err((None, e)),
    };
    let (who, e) = match result {
        Ok((who, body)) => {
            let answer = match protocol {
                Protocol::Kms => kms::dispatch(&shared.core, &who, ctx, operation, &body).await,
                Protocol::SecretsManager => {
                    secrets::dispatch(&shared.core, &who, ctx, operation, &body).await
                }
                Protocol::Sts => sts::dispatch(&shared.core, &who, ctx, &body).await,
                Protocol::Iam => iam::dispatch(&shared.core, &who, ctx, operation, &body).await,
            };
            match answer {
                // The engine audited its own outcome, refusals included.
                Ok(_) | Err(ApiError::Core(_)) => return answer,
                // Refused by the protocol layer (malformed body, unknown operation): the
                // engine never saw it. Signed, so audited one by one whatever the address.
                Err(e) => (Some(who), e),
            }
        }
        Err((who, e)) => {
            // Refused before any operation ran. Anyone can send these: audited one by one up to
            // a rate per address, then counted into a summary.
            if !shared.refusals.audit_one_by_one(ctx.source_ip) {
                return Err(e);
            }
            (who, e)
        }
    };
    match shared
        .core
        .audit_refusal(
            operation,
            who.as_ref(),
            ctx,
            e.code_in(protocol.engine_service()).as_str(),
            &e.to_string(),
        )
        .await
    {
        Ok(()) => Err(e),
        Err(audit) => {
            tracing::error!(error = %audit, "cannot audit a refused request");
            Err(ApiError::Core(audit))
        }
    }
}
/// Counts a throttled data-plane request under its key, when it names (or its ciphertext blob
/// was made under) a key this key core holds.
fn count_throttled_key(core: &KeyCore, operation: &str, body: &[u8]) {
    use base64::Engine;
    if !lakeseal_keycore::key_metrics::KEY_OPERATIONS.contains(&operation) {
        return;
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let named = ["DestinationKeyId", "KeyId"]
        .iter()
        .find_map(|member| request.get(*member)?.as_str().map(str::to_owned))
        .or_else(|| {
            let blob = base64::engine::general_purpose::STANDARD
                .decode(request.get("CiphertextBlob")?.as_str()?)
                .ok()?;
            lakeseal_envelope::Blob::parse(&blob)
                .ok()
                .map(|b| b.key_id().to_owned())
        });
    if let Some(key_id) = named.and_then(|n| core.held_key_id(&n)) {
        lakeseal_keycore::key_metrics::record_throttled(&key_id, operation);
    }
}

const KMS_PREFIX: &str = "TrentService.";
const SECRETS_PREFIX: &str = "secretsmanager.";

/// The operation named by `X-Amz-Target: <prefix>.<Operation>`.
fn target(headers: &HeaderMap, protocol: Protocol) -> Option<&str> {
    headers
        .get("x-amz-target")?
        .to_str()
        .ok()?
        .strip_prefix(protocol.target_prefix())
}

fn check_shape(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    protocol: Protocol,
) -> Result<(), ApiError> {
    if method != Method::POST || uri.path() != "/" {
        return Err(ApiError::UnknownOperation(format!(
            "{method} {} is not an operation of this service",
            uri.path()
        )));
    }
    if target(headers, protocol).is_none() {
        return Err(ApiError::UnknownOperation(
            "X-Amz-Target must be TrentService.<Operation> or secretsmanager.<Operation>".into(),
        ));
    }
    Ok(())
}
