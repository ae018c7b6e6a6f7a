//! The container-credentials protocol, as a client: `GET` the endpoint with the workload
//! identity's token as `Authorization`, read `AccessKeyId`, `SecretAccessKey`, `Token`,
//! `Expiration`.

use std::path::Path;
use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use lakeseal_envelope::SecretBytes;
use serde::Deserialize;

use super::{Current, renew_at};
use crate::tls::Connector;
use crate::{Error, Result};

/// One `GET` of the endpoint with the token `token_file` holds.
pub(super) async fn fetch(
    http: &Client<Connector, Empty<Bytes>>,
    uri: &str,
    token_file: &Path,
) -> Result<Current> {
    let token = SecretBytes::new(std::fs::read(token_file).map_err(|e| {
        Error::Protocol(format!(
            "cannot read the credentials endpoint's token file {}: {e}",
            token_file.display()
        ))
    })?);
    let token = trim_ascii_end(token.expose_secret());
    let mut request = http::Request::get(uri)
        .body(Empty::new())
        .map_err(|e| Error::Protocol(format!("credentials endpoint {uri:?}: {e}")))?;
    let mut value = http::HeaderValue::from_bytes(token).map_err(|_| {
        Error::Protocol(format!(
            "the token in {} is not a valid header value",
            token_file.display()
        ))
    })?;
    value.set_sensitive(true);
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, value);
    let requested = SystemTime::now();
    let response = http
        .request(request)
        .await
        .map_err(|e| crate::tls::request_failed(&format!("credentials endpoint {uri}"), &e))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::Unavailable(format!("credentials endpoint {uri}: {e}")))?
        .to_bytes();
    if !status.is_success() {
        let refusal: EndpointError = serde_json::from_slice(&body).unwrap_or_default();
        let message = format!("credentials endpoint {uri}: {status} {}", refusal.message);
        return Err(if status.is_server_error() || status.as_u16() == 429 {
            Error::Unavailable(message)
        } else {
            Error::Refused {
                code: refusal.code,
                message,
            }
        });
    }
    // The answer's buffer holds the secret unwiped until it is dropped, here: the one copy
    // of this boundary, as with every HTTP body (ARCHITECTURE.md).
    let answer: EndpointCredentials = serde_json::from_slice(&body)
        .map_err(|e| Error::Protocol(format!("credentials endpoint {uri}: {e}")))?;
    let expires = chrono::DateTime::parse_from_rfc3339(&answer.expiration)
        .map_err(|e| {
            Error::Protocol(format!(
                "credentials endpoint {uri}: Expiration {:?}: {e}",
                answer.expiration
            ))
        })?
        .into();
    Ok(Current {
        identity: AwsCredentials::new(
            answer.access_key_id,
            answer.secret_access_key,
            Some(answer.token),
            Some(expires),
            "lakeseal-container",
        )
        .into(),
        renew_at: Some(renew_at(requested, expires)),
        file: None,
    })
}

fn trim_ascii_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &bytes[..end]
}

/// The endpoint's answer (the ECS container-credentials shape).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointCredentials {
    access_key_id: String,
    secret_access_key: String,
    token: String,
    expiration: String,
}

/// The endpoint's refusal.
#[derive(Deserialize, Default)]
struct EndpointError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_may_end_in_a_newline() {
        assert_eq!(trim_ascii_end(b"abc\n"), b"abc");
        assert_eq!(trim_ascii_end(b"abc"), b"abc");
        assert_eq!(trim_ascii_end(b"\n"), b"");
    }
}
