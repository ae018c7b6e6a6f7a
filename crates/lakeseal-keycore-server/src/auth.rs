//! SigV4 authentication with `scratchstack-aws-signature`, against access keys the key core
//! keeps (secrets sealed under its root key).

use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::request::Parts;
use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use lakeseal_keycore::{KeyCore, Principal};
use scratchstack_aws_signature::{
    GetSigningKeyRequest, GetSigningKeyResponse, KSecretKey, NO_ADDITIONAL_SIGNED_HEADERS,
    SignatureError, SignatureOptions, sigv4_validate_request,
};

use crate::ApiError;

/// The service name requests are signed for.
pub(crate) const SERVICE: &str = "kms";
/// How far a request's `X-Amz-Date` may be from the server's clock.
const MAX_SKEW: TimeDelta = TimeDelta::minutes(5);

/// Checks the request's SigV4 signature; returns the principal of its access key.
pub(crate) async fn authenticate(
    core: &KeyCore,
    parts: &Parts,
    body: &Bytes,
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
        .map_err(|e| auth_error("IncompleteSignatureException", e.to_string()))?;

    // The signing-key lookup runs inside the validator; it hands back the principal here.
    let found: Arc<Mutex<Option<Principal>>> = Arc::default();
    let lookup = {
        let (core, found) = (core.clone(), found.clone());
        let region = core.location().region.clone();
        tower::service_fn(move |req: GetSigningKeyRequest| {
            let (core, found, region) = (core.clone(), found.clone(), region.clone());
            async move {
                let (principal, secret) = core
                    .signing_secret(req.access_key())
                    .map_err(|e| SignatureError::InternalServiceError(Box::new(e)))?
                    .ok_or_else(|| {
                        SignatureError::InvalidClientTokenId(
                            "the security token included in the request is invalid".into(),
                        )
                    })?;
                let secret = std::str::from_utf8(secret.expose_secret())
                    .ok()
                    .and_then(|s| KSecretKey::from_str(s).ok())
                    .ok_or_else(|| {
                        SignatureError::InternalServiceError("malformed secret".into())
                    })?;
                let signing_key = secret.to_ksigning(req.request_date(), &region, SERVICE);
                *found.lock().unwrap_or_else(PoisonError::into_inner) = Some(principal);
                Ok(GetSigningKeyResponse::builder()
                    .signing_key(signing_key)
                    .build()?)
            }
        })
    };
    let mut lookup = lookup;
    let region = core.location().region.clone();
    sigv4_validate_request(
        request,
        &region,
        SERVICE,
        &mut lookup,
        now,
        &NO_ADDITIONAL_SIGNED_HEADERS,
        SignatureOptions::default(),
    )
    .await
    .map_err(|e| match e.downcast::<SignatureError>() {
        Ok(e) => from_signature_error(*e),
        Err(e) => auth_error("InvalidSignatureException", e.to_string()),
    })?;
    let principal = found.lock().unwrap_or_else(PoisonError::into_inner).take();
    principal.ok_or_else(|| {
        auth_error(
            "InvalidSignatureException",
            "no access key was checked".into(),
        )
    })
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
            "MissingAuthenticationTokenException",
            "the request is not signed: X-Amz-Date and Authorization are required".into(),
        ));
    };
    let signed = NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            auth_error(
                "IncompleteSignatureException",
                format!("X-Amz-Date {date:?} is not YYYYMMDDTHHMMSSZ"),
            )
        })?
        .and_utc();
    if (now - signed).abs() > MAX_SKEW {
        return Err(auth_error(
            "InvalidSignatureException",
            format!("Signature expired: {date} is more than 5 minutes from the server's time"),
        ));
    }
    Ok(())
}

fn auth_error(code: &'static str, message: String) -> ApiError {
    ApiError::Auth { code, message }
}

/// The JSON-protocol names AWS KMS uses for these failures.
fn from_signature_error(e: SignatureError) -> ApiError {
    let code = match &e {
        SignatureError::InvalidClientTokenId(_) => "UnrecognizedClientException",
        SignatureError::SignatureDoesNotMatch(_) => "InvalidSignatureException",
        SignatureError::ExpiredToken(_) => "ExpiredTokenException",
        SignatureError::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
        SignatureError::IncompleteSignature(_) => "IncompleteSignatureException",
        _ => "InvalidSignatureException",
    };
    let message = match &e {
        SignatureError::SignatureDoesNotMatch(None) => {
            "the request signature we calculated does not match the signature you provided".into()
        }
        other => other.to_string(),
    };
    auth_error(code, message)
}
