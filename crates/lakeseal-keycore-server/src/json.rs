//! The AWS JSON 1.1 protocol KMS and Secrets Manager share: bodies decoded into an operation's
//! request, responses encoded, and the macros that turn an operation list into a dispatch.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The operation's request from a JSON body.
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // AWS SDKs send `{}` for operations without members; an empty body means the same.
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| ApiError::Serialization(format!("malformed request: {e}")))
}

/// The operation's response as a JSON body.
pub(crate) fn encode<T: Serialize>(response: T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(&response).map_err(|e| ApiError::Serialization(e.to_string()))
}

/// The names of an operation list.
macro_rules! names {
    ($($name:literal => $method:ident,)*) => {
        &[$($name),*]
    };
}

pub(crate) use names;

/// Dispatches `$operation` to the engine method of the same entry, decoding the body into its
/// request and encoding its response.
macro_rules! dispatch_to {
    ($operation:ident, $core:ident, $who:ident, $ctx:ident, $body:ident;
     $($name:literal => $method:ident,)*) => {
        match $operation {
            $($name => encode($core.$method($who, $ctx, decode($body)?).await?),)*
            // Audited by the caller, like every refusal of the protocol layer.
            other => Err(ApiError::UnknownOperation(format!(
                "{other} is not an operation of this key core"
            ))),
        }
    };
}
pub(crate) use dispatch_to;
