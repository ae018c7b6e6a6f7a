//! SigV4 authentication with `scratchstack-aws-signature`, against access keys the key core
//! keeps (secrets sealed under its root key).

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::request::Parts;
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use lakeseal_keycore::iam::sha256_hex;
use lakeseal_keycore::{KeyCore, Principal};
use lakeseal_kms_types::ErrorCode;
use scratchstack_aws_signature::{
    ConstSignedHeaderRequirements, GetSigningKeyRequest, GetSigningKeyResponse, KSecretKey,
    SignatureError, SignatureOptions, sigv4_validate_request,
};

use subtle::ConstantTimeEq;

use crate::ApiError;

/// How far a request's `X-Amz-Date` may be from the server's clock.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(5);
/// Headers a KMS request must sign besides SigV4's own (`host`, `x-amz-date`): the operation
/// (`X-Amz-Target`), so that a signature made for `DescribeKey` cannot be replayed as
/// `DisableKey`; `Content-Type` when sent; and every `X-Amz-*` header sent (the session token
/// among them). AWS refuses the same requests; every AWS SDK signs all three.
static KMS_SIGNED_HEADERS: ConstSignedHeaderRequirements = ConstSignedHeaderRequirements::new(
    &[Cow::Borrowed("x-amz-target")],
    &[Cow::Borrowed("content-type")],
    &[Cow::Borrowed("x-amz-")],
);
/// STS names its action in the (signed) body; the same rule for the headers it has.
static STS_SIGNED_HEADERS: ConstSignedHeaderRequirements = ConstSignedHeaderRequirements::new(
    &[],
    &[Cow::Borrowed("content-type")],
    &[Cow::Borrowed("x-amz-")],
);

/// Checks the request's SigV4 signature; returns the principal of its access key.
pub(crate) async fn authenticate(
    core: &KeyCore,
    parts: &Parts,
    body: &Bytes,
    service: &'static str,
) -> Result<Principal, ApiError> {
    let now = Utc::now();
    check_skew(parts, now)?;
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone());
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let request = builder
        .body(body.clone())
        .map_err(|e| auth_error(ErrorCode::IncompleteSignature, e.to_string()))?;

    // The signing-key lookup runs inside the validator; it hands back the principal here.
    let found: Arc<Mutex<Option<Principal>>> = Arc::default();
    let region = signing_region(parts, service, &core.location().region);
    let lookup = {
        let (core, found, region) = (core.clone(), found.clone(), region.clone());
        // Owned: a captured `&'static str` makes the validator's future `Send` for one lifetime
        // only, which axum's handler bound rejects.
        let service = service.to_owned();
        tower::service_fn(move |req: GetSigningKeyRequest| {
            let result = signing_key(&core, &found, &region, &service, &req);
            async move { result }
        })
    };
    let mut lookup = lookup;
    let required = if service == "kms" || service == "secretsmanager" {
        &KMS_SIGNED_HEADERS
    } else {
        &STS_SIGNED_HEADERS
    };
    sigv4_validate_request(
        request,
        &region,
        service,
        &mut lookup,
        now,
        required,
        SignatureOptions::default(),
    )
    .await
    .map_err(|e| match e.downcast::<SignatureError>() {
        Ok(e) => from_signature_error(*e),
        Err(e) => auth_error(ErrorCode::InvalidSignature, e.to_string()),
    })?;
    let principal = found.lock().unwrap_or_else(PoisonError::into_inner).take();
    principal.ok_or_else(|| {
        auth_error(
            ErrorCode::InvalidSignature,
            "no access key was checked".into(),
        )
    })
}

/// The region a request must be signed for: the key core's own, or for IAM, a global service
/// that SDKs sign for `us-east-1`, that one too.
fn signing_region(parts: &Parts, service: &str, own: &str) -> String {
    const IAM_GLOBAL: &str = "us-east-1";
    let scope_region = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2));
    match scope_region {
        Some(IAM_GLOBAL) if service == "iam" => IAM_GLOBAL.to_owned(),
        _ => own.to_owned(),
    }
}

/// The lookup the validator calls: the access key's secret, turned into this request's
/// signing key, after checking a session's token and expiry.
fn signing_key(
    core: &KeyCore,
    found: &Mutex<Option<Principal>>,
    region: &str,
    service: &str,
    req: &GetSigningKeyRequest,
) -> Result<GetSigningKeyResponse, tower::BoxError> {
    let invalid = || {
        SignatureError::InvalidClientTokenId(
            "the security token included in the request is invalid".into(),
        )
    };
    let identity = core
        .signing_identity(req.access_key())
        .map_err(|e| SignatureError::InternalServiceError(Box::new(e)))?
        .ok_or_else(invalid)?;
    // A session's token must be the one it was issued with; a long-term key has none, and a
    // token sent with one belongs to no credentials (AWS refuses it the same way).
    let token_fits = match (&identity.session_token_sha256, req.session_token()) {
        (Some(expected), Some(given)) => bool::from(
            sha256_hex(given.as_bytes())
                .as_bytes()
                .ct_eq(expected.as_bytes()),
        ),
        (None, None) => true,
        _ => false,
    };
    if !token_fits {
        return Err(invalid().into());
    }
    if identity.expires.is_some_and(|t| t <= core.now_ms()) {
        return Err(SignatureError::ExpiredToken(
            "the security token included in the request is expired".into(),
        )
        .into());
    }
    let secret = std::str::from_utf8(identity.secret.expose_secret())
        .ok()
        .and_then(|s| KSecretKey::from_str(s).ok())
        .ok_or_else(|| SignatureError::InternalServiceError("malformed secret".into()))?;
    let signing_key = secret.to_ksigning(req.request_date(), region, service);
    *found.lock().unwrap_or_else(PoisonError::into_inner) = Some(identity.principal);
    Ok(GetSigningKeyResponse::builder()
        .signing_key(signing_key)
        .build()?)
}

/// SigV4 allows the client's clock to be off by at most five minutes here (the library's own
/// window is fifteen).
fn check_skew(parts: &Parts, now: DateTime<Utc>) -> Result<(), ApiError> {
    let Some(date) = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(auth_error(
            ErrorCode::MissingAuthenticationToken,
            "the request is not signed: X-Amz-Date and Authorization are required".into(),
        ));
    };
    let signed = NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            auth_error(
                ErrorCode::IncompleteSignature,
                format!("X-Amz-Date {date:?} is not YYYYMMDDTHHMMSSZ"),
            )
        })?
        .and_utc();
    if (now - signed).abs() > MAX_SKEW {
        return Err(auth_error(
            ErrorCode::InvalidSignature,
            format!("Signature expired: {date} is more than 5 minutes from the server's time"),
        ));
    }
    Ok(())
}

fn auth_error(code: ErrorCode, message: String) -> ApiError {
    ApiError::Auth { code, message }
}

/// The JSON-protocol names AWS KMS uses for these failures.
fn from_signature_error(e: SignatureError) -> ApiError {
    let code = match &e {
        SignatureError::InvalidClientTokenId(_) => ErrorCode::UnrecognizedClient,
        SignatureError::SignatureDoesNotMatch(_) => ErrorCode::InvalidSignature,
        SignatureError::ExpiredToken(_) => ErrorCode::ExpiredToken,
        SignatureError::MissingAuthenticationToken(_) => ErrorCode::MissingAuthenticationToken,
        SignatureError::IncompleteSignature(_) => ErrorCode::IncompleteSignature,
        _ => ErrorCode::InvalidSignature,
    };
    let message = match &e {
        SignatureError::SignatureDoesNotMatch(None) => {
            "the request signature we calculated does not match the signature you provided".into()
        }
        other => other.to_string(),
    };
    auth_error(code, message)
}
