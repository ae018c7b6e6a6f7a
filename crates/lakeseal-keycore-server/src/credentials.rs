//! The credentials endpoint: the ECS container-credentials protocol, which every AWS SDK follows
//! when `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` are
//! set. `GET /v1/credentials` with the workload identity's token as `Authorization` answers
//! `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}`: fresh temporary
//! credentials of the identity's role, issued and audited by the engine.
//!
//! It is the seed's instance-metadata endpoint, and is guarded as IMDSv2 is against being
//! reached through something else: served on its own listener, which the server binds to a
//! loopback address unless told otherwise; a request from another address is refused unless
//! remote callers were allowed by name; a request that carries a proxy's forwarding header
//! (`Forwarded`, `X-Forwarded-For`, `Via` …) is refused whatever its token, so that an SSRF
//! through a proxy on the host cannot fetch credentials. Refusals are audited as every refusal
//! before an operation is, up to a rate per address.

use std::fmt::{self, Display, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use lakeseal_keycore::clock::rfc3339;
use lakeseal_keycore::{Principal, RequestContext};

use crate::Shared;
use crate::xml::SecretText;

/// The path the endpoint answers on.
pub const CREDENTIALS_PATH: &str = "/v1/credentials";

/// The operation name of the endpoint in the audit trail and the request metrics.
pub(crate) const OPERATION: &str = "GetRoleCredentials";

/// Headers a proxy adds: a request carrying one did not come straight from a local workload.
const FORWARDING_HEADERS: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "via",
];

/// Who may call the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CredentialsAccess {
    /// Only processes on this host (loopback peers): the default.
    #[default]
    LoopbackOnly,
    /// Any address that can reach the listener: asked for by name, for a sidecar network.
    AnyAddress,
}

/// Why the endpoint refused a request.
#[derive(Debug)]
enum Refusal {
    /// Not `GET` on [`CREDENTIALS_PATH`].
    NotFound,
    /// From a non-loopback address while only loopback is allowed.
    Remote,
    /// Through a proxy.
    Forwarded(&'static str),
    /// No `Authorization` header.
    NoToken,
    /// A token that belongs to no workload identity (wrong, rotated or revoked).
    BadToken,
    /// The account is over its request quota.
    Throttled,
    /// The engine refused (trust policy, deleted role) or failed; it audited that itself.
    Core(lakeseal_keycore::Error),
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::NotFound => StatusCode::NOT_FOUND,
            Refusal::Remote | Refusal::Forwarded(_) => StatusCode::FORBIDDEN,
            Refusal::NoToken | Refusal::BadToken => StatusCode::UNAUTHORIZED,
            Refusal::Throttled => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Core(e) if e.code().as_str() == "AccessDeniedException" => {
                StatusCode::FORBIDDEN
            }
            Refusal::Core(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &str {
        match self {
            Refusal::NotFound => "NotFound",
            Refusal::Remote | Refusal::Forwarded(_) => "AccessDeniedException",
            Refusal::NoToken | Refusal::BadToken => "UnrecognizedClientException",
            Refusal::Throttled => "ThrottlingException",
            Refusal::Core(e) => e.code().as_str(),
        }
    }
}

impl Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotFound => {
                write!(f, "the credentials endpoint serves GET {CREDENTIALS_PATH}")
            }
            Refusal::Remote => {
                f.write_str("the credentials endpoint answers only processes on its own host")
            }
            Refusal::Forwarded(header) => write!(
                f,
                "a request forwarded by a proxy ({header}) cannot obtain credentials"
            ),
            Refusal::NoToken => f.write_str(
                "no Authorization header: send the workload identity's token \
                 (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)",
            ),
            Refusal::BadToken => {
                f.write_str("the token is not a workload identity's (wrong, rotated or revoked)")
            }
            Refusal::Throttled => f.write_str("Rate exceeded"),
            Refusal::Core(e) => Display::fmt(e, f),
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>, access: CredentialsAccess) -> Router {
    Router::new().fallback(handle).with_state((shared, access))
}

async fn handle(
    State((shared, access)): State<(Arc<Shared>, CredentialsAccess)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    // The body is never read: the endpoint takes GETs.
    let (request, _) = request.into_parts();
    let started = std::time::Instant::now();
    let ctx = RequestContext {
        request_id: uuid::Uuid::new_v4().to_string(),
        source_ip: Some(peer.ip()),
        region: None,
        user_agent: request
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let answer = issue(&shared, access, peer, &request, &ctx).await;
    let result = match &answer {
        Ok(_) => "Success",
        Err(Refusal::Core(e)) => e.code().as_str(),
        Err(_) => "Refused",
    };
    metrics::counter!("lakeseal_keycore_requests_total", "operation" => OPERATION, "result" => result)
        .increment(1);
    metrics::histogram!("lakeseal_keycore_request_duration_seconds", "operation" => OPERATION)
        .record(started.elapsed().as_secs_f64());
    match answer {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(refusal) => {
            let body = serde_json::json!({
                "code": refusal.code(),
                "message": refusal.to_string(),
                "requestId": ctx.request_id,
            });
            let mut response = (refusal.status(), body.to_string()).into_response();
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
    }
}

/// Checks where the request came from and its token, then has the engine issue credentials.
/// Refusals before the engine are audited here (up to a rate per address).
async fn issue(
    shared: &Shared,
    access: CredentialsAccess,
    peer: SocketAddr,
    request: &Parts,
    ctx: &RequestContext,
) -> Result<Vec<u8>, Refusal> {
    let who = match admit(shared, access, peer, request) {
        Ok(who) => who,
        Err(refusal) => return Err(audited(shared, ctx, None, refusal).await),
    };
    if !shared.limiter.admit(&who.account_id, OPERATION) {
        return Err(audited(shared, ctx, Some(&who), Refusal::Throttled).await);
    }
    let credentials = shared
        .core
        .issue_workload_credentials(&who, ctx)
        .await
        .map_err(Refusal::Core)?;
    let secret = std::str::from_utf8(credentials.secret_access_key.expose_secret())
        .map_err(|_| Refusal::Core(internal("the new secret is not UTF-8")))?;
    let token = std::str::from_utf8(credentials.session_token.expose_secret())
        .map_err(|_| Refusal::Core(internal("the new session token is not UTF-8")))?;
    // Room for every character escaped, so that the buffer holding the secret need not grow.
    let mut json = SecretText::with_capacity(512 + 6 * (secret.len() + token.len()));
    write!(
        json,
        r#"{{"AccessKeyId":"{}","SecretAccessKey":"{}","Token":"{}","Expiration":"{}","RoleArn":"{}"}}"#,
        JsonText(&credentials.access_key_id),
        JsonText(secret),
        JsonText(token),
        rfc3339(credentials.expiration),
        // The role's own ARN, as ECS answers, not the session's.
        JsonText(&credentials.role_arn),
    )
    .map_err(|_| Refusal::Core(internal("cannot write the answer")))?;
    Ok(json.into_body())
}

/// Audits a refusal made before the engine, as every such refusal is: one by one up to the
/// per-address budget, then counted into the summaries. Returns the refusal to answer with, or
/// the error that kept it from being audited.
async fn audited(
    shared: &Shared,
    ctx: &RequestContext,
    who: Option<&Principal>,
    refusal: Refusal,
) -> Refusal {
    if !shared.refusals.audit_one_by_one(ctx.source_ip) {
        return refusal;
    }
    match shared
        .core
        .audit_refusal(OPERATION, who, ctx, refusal.code(), &refusal.to_string())
        .await
    {
        Ok(()) => refusal,
        Err(e) => {
            tracing::error!(error = %e, "cannot audit a refused credentials request");
            Refusal::Core(e)
        }
    }
}

/// The workload identity a request is from, if it may ask at all.
fn admit(
    shared: &Shared,
    access: CredentialsAccess,
    peer: SocketAddr,
    request: &Parts,
) -> Result<Principal, Refusal> {
    if request.method != Method::GET || request.uri.path() != CREDENTIALS_PATH {
        return Err(Refusal::NotFound);
    }
    if access == CredentialsAccess::LoopbackOnly && !is_loopback(peer) {
        return Err(Refusal::Remote);
    }
    if let Some(header) = forwarded(&request.headers) {
        return Err(Refusal::Forwarded(header));
    }
    let token = request
        .headers
        .get(http::header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
        .filter(|t| !t.is_empty())
        .ok_or(Refusal::NoToken)?;
    shared
        .core
        .workload_for_token(token)
        .ok_or(Refusal::BadToken)
}

fn is_loopback(peer: SocketAddr) -> bool {
    match peer {
        SocketAddr::V4(v4) => v4.ip().is_loopback(),
        SocketAddr::V6(v6) => {
            v6.ip().is_loopback() || v6.ip().to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The first proxy header a request carries.
fn forwarded(headers: &HeaderMap) -> Option<&'static str> {
    FORWARDING_HEADERS
        .into_iter()
        .find(|name| headers.contains_key(*name))
}

fn internal(why: &str) -> lakeseal_keycore::Error {
    lakeseal_keycore::Error::Internal(why.to_owned())
}

/// Text as the inside of a JSON string, written where it is formatted (no copy of its own).
struct JsonText<'a>(&'a str);

impl Display for JsonText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_text_escapes_what_json_requires() {
        assert_eq!(
            JsonText("a\"b\\c\nd/é").to_string(),
            "a\\\"b\\\\c\\u000ad/é"
        );
    }

    #[test]
    fn proxies_and_remote_peers_are_recognised() {
        let mut headers = HeaderMap::new();
        assert_eq!(forwarded(&headers), None);
        headers.insert("X-Forwarded-For", HeaderValue::from_static("10.0.0.1"));
        assert_eq!(forwarded(&headers), Some("x-forwarded-for"));
        assert!(is_loopback("127.0.0.1:1".parse().unwrap()));
        assert!(is_loopback("[::1]:1".parse().unwrap()));
        assert!(is_loopback("[::ffff:127.0.0.1]:1".parse().unwrap()));
        assert!(!is_loopback("10.0.0.1:1".parse().unwrap()));
    }
}
