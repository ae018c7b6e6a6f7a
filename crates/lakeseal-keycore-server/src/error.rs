//! Errors as the AWS JSON protocol sends them: `{"__type": "...", "message": "..."}`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lakeseal_keycore::Service;
use lakeseal_kms_types::{ErrorBody, ErrorCode};

/// Why a request failed, with the AWS error name a client sees.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The engine refused or failed the operation.
    #[error(transparent)]
    Core(#[from] lakeseal_keycore::Error),
    /// SigV4 authentication failed; `code` is the AWS name (`InvalidSignatureException` …).
    #[error("{message}")]
    Auth {
        /// The AWS error name.
        code: ErrorCode,
        /// What to fix.
        message: String,
    },
    /// The body is not a JSON document of the operation's shape.
    #[error("{0}")]
    Serialization(String),
    /// No such operation.
    #[error("{0}")]
    UnknownOperation(String),
    /// The account is over its request quota.
    #[error("Rate exceeded")]
    Throttled,
    /// The body is over the limit.
    #[error("the request body is over {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive in time.
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
}

impl ApiError {
    /// The AWS error name a caller of `service` sees.
    pub fn code_in(&self, service: Service) -> ErrorCode {
        match self {
            ApiError::Core(e) => e.code_in(service),
            ApiError::TooLarge(_) if service == Service::SecretsManager => {
                ErrorCode::InvalidParameter
            }
            other => other.code(),
        }
    }

    /// The AWS KMS error name.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::Core(e) => e.code(),
            ApiError::Auth { code, .. } => *code,
            ApiError::Serialization(_) => ErrorCode::Serialization,
            ApiError::UnknownOperation(_) => ErrorCode::UnknownOperation,
            ApiError::TooLarge(_) => ErrorCode::Validation,
            ApiError::Throttled => ErrorCode::Throttling,
            ApiError::BodyTimeout(_) => ErrorCode::RequestTimeout,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Core(e) if e.code().is_server_fault() => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Auth { .. } => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

const JSON: &str = "application/x-amz-json-1.1";

/// Turns an operation's outcome into the HTTP response, with the request id header AWS sends.
pub(crate) fn into_response(
    result: Result<Vec<u8>, ApiError>,
    request_id: &str,
    service: Service,
) -> Response {
    let mut response = match result {
        Ok(json) => (StatusCode::OK, [("content-type", JSON)], json).into_response(),
        Err(e) => {
            let body = ErrorBody {
                kind: e.code_in(service).to_string(),
                message: e.to_string(),
            };
            let json = serde_json::to_vec(&body).unwrap_or_default();
            (e.status(), [("content-type", JSON)], json).into_response()
        }
    };
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}

/// The STS query protocol's error names for the same failures.
pub(crate) fn sts_code(e: &ApiError) -> &'static str {
    match e.code() {
        ErrorCode::AccessDenied => "AccessDenied",
        ErrorCode::Validation | ErrorCode::Serialization => "ValidationError",
        ErrorCode::UnrecognizedClient => "InvalidClientTokenId",
        ErrorCode::InvalidSignature => "SignatureDoesNotMatch",
        ErrorCode::ExpiredToken => "ExpiredToken",
        ErrorCode::MissingAuthenticationToken => "MissingAuthenticationToken",
        ErrorCode::IncompleteSignature => "IncompleteSignature",
        ErrorCode::UnknownOperation => "InvalidAction",
        ErrorCode::Throttling => "Throttling",
        _ => "InternalFailure",
    }
}

/// The IAM query protocol's error names: its own for what IAM refuses, STS's (the same query
/// protocol) for authentication and throttling.
pub(crate) fn iam_code(e: &ApiError) -> &'static str {
    match e.code() {
        ErrorCode::NotFound => "NoSuchEntity",
        ErrorCode::AlreadyExists => "EntityAlreadyExists",
        ErrorCode::MalformedPolicy => "MalformedPolicyDocument",
        ErrorCode::DeleteConflict => "DeleteConflict",
        _ => sts_code(e),
    }
}

/// A query-protocol (STS, IAM) outcome as XML, with `code` naming errors.
pub(crate) fn into_xml_response(
    result: Result<Vec<u8>, ApiError>,
    request_id: &str,
    code: fn(&ApiError) -> &'static str,
) -> Response {
    let xml = [("content-type", "text/xml")];
    let mut response = match result {
        Ok(body) => (StatusCode::OK, xml, body).into_response(),
        Err(e) => {
            let kind = if e.status().is_server_error() {
                "Receiver"
            } else {
                "Sender"
            };
            let body = format!(
                concat!(
                    r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">"#,
                    "<Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error>",
                    "<RequestId>{}</RequestId></ErrorResponse>"
                ),
                kind,
                code(&e),
                crate::xml::Escaped(&e.to_string()),
                crate::xml::Escaped(request_id),
            );
            (e.status(), xml, body).into_response()
        }
    };
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}
