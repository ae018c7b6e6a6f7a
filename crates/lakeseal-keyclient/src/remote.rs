//! [`Remote`]: a key service over the AWS KMS JSON 1.1 protocol, signed with SigV4 by the AWS
//! SDK's own signer (`aws-sigv4`), over keep-alive HTTPS (or, asked for, HTTP) connections.

use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lakeseal_envelope::{DataKey, EncryptionContext, SecretBytes};
use lakeseal_kms_types::decrypt::{DecryptRequest, DecryptResponse};
use lakeseal_kms_types::generate_data_key::{GenerateDataKeyRequest, GenerateDataKeyResponse};
use lakeseal_kms_types::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::credentials::{CredentialSource, Credentials};
use crate::tls::{Connector, TrustRoots};
use crate::{Error, KeyService, NewDataKey, Result, data_key};

/// The error names of a request signed with expired temporary credentials: the JSON
/// protocols', and the query protocols' (without the suffix).
const EXPIRED: [&str; 2] = ["ExpiredTokenException", "ExpiredToken"];

/// An access key (and, for temporary credentials, its session token).
pub struct RemoteCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretBytes,
    /// The session token of temporary credentials.
    pub session_token: Option<SecretBytes>,
}

impl std::fmt::Debug for RemoteCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl RemoteCredentials {
    /// Reads `[profile]` of an AWS shared-credentials file (`aws_access_key_id`,
    /// `aws_secret_access_key`, optional `aws_session_token`).
    pub fn from_file(path: &Path, profile: &str) -> Result<Self> {
        let text = SecretBytes::new(std::fs::read(path).map_err(|e| {
            Error::Protocol(format!(
                "cannot read credentials file {}: {e}",
                path.display()
            ))
        })?);
        let text = std::str::from_utf8(text.expose_secret())
            .map_err(|_| Error::Protocol(format!("{} is not UTF-8", path.display())))?;
        let (mut id, mut secret, mut token) = (None, None, None);
        let mut in_profile = false;
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                in_profile = name.trim() == profile;
            } else if in_profile && let Some((k, v)) = line.split_once('=') {
                let value = v.trim();
                match k.trim() {
                    "aws_access_key_id" => id = Some(value.to_owned()),
                    "aws_secret_access_key" => secret = Some(SecretBytes::from(value.as_bytes())),
                    "aws_session_token" => token = Some(SecretBytes::from(value.as_bytes())),
                    _ => {}
                }
            }
        }
        match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Self {
                access_key_id,
                secret_access_key,
                session_token: token,
            }),
            _ => Err(Error::Protocol(format!(
                "{} has no [{profile}] with aws_access_key_id and aws_secret_access_key",
                path.display()
            ))),
        }
    }
}

/// The key core (or any AWS KMS endpoint) as a [`KeyService`].
#[derive(Debug, Clone)]
pub struct Remote {
    endpoint: String,
    host: String,
    region: String,
    credentials: Credentials,
    client: Client<Connector, Full<Bytes>>,
    timeout: Duration,
}

impl Remote {
    /// A client of `endpoint` (`https://host:port`, verified against the system's roots, or
    /// `http://host:port`) in `region`, signing with credentials from `credentials` (renewed as
    /// they near expiry). Requests time out after 10 s.
    pub fn new(
        endpoint: &str,
        region: &str,
        credentials: impl Into<CredentialSource>,
    ) -> Result<Self> {
        Self::with_roots(endpoint, region, credentials, &TrustRoots::System)
    }

    /// As [`Remote::new`], trusting `roots` for `https://`: for the key service, for the STS
    /// an assumed role is asked of, and for a credentials endpoint alike.
    pub fn with_roots(
        endpoint: &str,
        region: &str,
        credentials: impl Into<CredentialSource>,
        roots: &TrustRoots,
    ) -> Result<Self> {
        Self::with_connector(
            endpoint,
            region,
            credentials.into(),
            crate::tls::connector(roots)?,
        )
    }

    pub(crate) fn with_connector(
        endpoint: &str,
        region: &str,
        credentials: CredentialSource,
        connector: Connector,
    ) -> Result<Self> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| Error::Protocol(format!("endpoint {endpoint:?}: {e}")))?;
        let scheme = match uri.scheme_str() {
            Some(scheme @ ("https" | "http")) => scheme,
            _ => {
                return Err(Error::Protocol(format!(
                    "endpoint {endpoint:?}: an https:// (or http://) URL is expected"
                )));
            }
        };
        let host = uri
            .authority()
            .ok_or_else(|| Error::Protocol(format!("endpoint {endpoint:?} has no host")))?
            .to_string();
        Ok(Self {
            endpoint: format!("{scheme}://{host}/"),
            host,
            region: region.to_owned(),
            credentials: Credentials::new(credentials, connector.clone())?,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(10),
        })
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        operation: &str,
        req: &Req,
    ) -> Result<Resp> {
        self.json(("kms", "TrentService"), operation, req).await
    }

    /// One Secrets Manager operation (`secretsmanager.<Operation>`, signed for the service
    /// `secretsmanager`). A response that carries a value (`GetSecretValue`) is decoded straight
    /// into its type, whose value zeroizes on drop.
    pub async fn secrets<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        operation: &str,
        req: &Req,
    ) -> Result<Resp> {
        self.json(("secretsmanager", "secretsmanager"), operation, req)
            .await
    }

    /// One operation of a JSON 1.1 service: `service` signs it, `prefix.operation` is its
    /// `X-Amz-Target`.
    async fn json<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        (service, prefix): (&str, &str),
        operation: &str,
        req: &Req,
    ) -> Result<Resp> {
        // A request or answer holding a value (PutSecretValue, GetSecretValue) crosses the
        // HTTP boundary as one body buffer each, which hyper owns and frees unwiped: the copies
        // ARCHITECTURE.md lists; the typed values on either side zeroize.
        let body =
            Bytes::from(serde_json::to_vec(req).map_err(|e| Error::Protocol(e.to_string()))?);
        let target = format!("{prefix}.{operation}");
        self.exchange(
            operation,
            (service, &self.region),
            ("application/x-amz-json-1.1", Some(target.as_str())),
            body,
            |status, bytes| json_answer(operation, status, bytes),
        )
        .await
    }
}

/// A JSON 1.1 answer: the operation's response, or its error as an [`Error`].
fn json_answer<Resp: DeserializeOwned>(
    operation: &str,
    status: http::StatusCode,
    bytes: &[u8],
) -> Result<Resp> {
    if status.is_success() {
        return serde_json::from_slice(bytes)
            .map_err(|e| Error::Protocol(format!("{operation}: {e}")));
    }
    let failure: ErrorBody = serde_json::from_slice(bytes).unwrap_or_else(|_| ErrorBody {
        kind: String::new(),
        message: String::from_utf8_lossy(bytes).chars().take(200).collect(),
    });
    let code = failure.name().to_owned();
    Err(match ErrorCode::from_name(&code) {
        Some(known) if known.is_throttling() => Error::Throttled(failure.message),
        _ if status.is_server_error() => {
            Error::Unavailable(format!("{status}: {code} {}", failure.message))
        }
        _ => Error::Refused {
            code,
            message: failure.message,
        },
    })
}

impl Remote {
    /// Sends one request ([`Remote::send`]) and reads the answer with `decode`. A refusal of
    /// expired credentials (they expired between the last renewal and this request: a clock
    /// apart, a suspended host) drops them, and the request is signed anew and sent once more.
    async fn exchange<T>(
        &self,
        operation: &str,
        signing: (&str, &str),
        content: (&str, Option<&str>),
        body: Bytes,
        decode: impl Fn(http::StatusCode, &[u8]) -> Result<T>,
    ) -> Result<T> {
        let mut renewed = false;
        loop {
            let answer = self
                .send(operation, signing, content, body.clone())
                .await
                .and_then(|(status, bytes)| decode(status, &bytes));
            match answer {
                Err(Error::Refused { code, .. })
                    if EXPIRED.contains(&code.as_str()) && !renewed =>
                {
                    renewed = true;
                    self.credentials.invalidate();
                }
                answer => return answer,
            }
        }
    }

    /// Signs (for `service` in `region`) and sends one `POST /` with `content_type` and, for the
    /// JSON protocol, `X-Amz-Target`; returns the status and body.
    async fn send(
        &self,
        operation: &str,
        (service, region): (&str, &str),
        (content_type, target): (&str, Option<&str>),
        body: Bytes,
    ) -> Result<(http::StatusCode, Bytes)> {
        let mut headers = vec![("host", self.host.as_str()), ("content-type", content_type)];
        if let Some(target) = target {
            headers.push(("x-amz-target", target));
        }
        let identity = self.credentials.identity_boxed().await?;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::Protocol(format!("signing: {e}")))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &self.endpoint,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| Error::Protocol(format!("signing: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::Protocol(format!("signing: {e}")))?
            .into_parts();
        let mut request = http::Request::builder().method("POST").uri(&self.endpoint);
        for (k, v) in &headers {
            request = request.header(*k, *v);
        }
        let mut request = request
            .body(Full::new(body))
            .map_err(|e| Error::Protocol(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);

        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| crate::tls::request_failed(&self.endpoint, &e))?;
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Unavailable(e.to_string()))?
                .to_bytes();
            Ok::<_, Error>((status, bytes))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                Error::Unavailable(format!("{operation} timed out after {:?}", self.timeout))
            })?
    }

    /// One action of a query-protocol service (IAM: `service` `iam`, signed for `us-east-1`
    /// as AWS SDKs sign it): `params` as a form body, the XML answer as JSON
    /// ([`crate::xml_to_json`]). An answer can hold a secret (`CreateAccessKey`): the caller
    /// takes it out and drops the rest.
    pub async fn query(
        &self,
        (service, region): (&str, &str),
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value> {
        // Each query service has its API version: STS's is not IAM's.
        let version = if service == "sts" {
            "2011-06-15"
        } else {
            "2010-05-08"
        };
        let mut form = vec![("Action", action), ("Version", version)];
        form.extend_from_slice(params);
        let body = Bytes::from(
            serde_urlencoded::to_string(&form)
                .map_err(|e| Error::Protocol(e.to_string()))?
                .into_bytes(),
        );
        self.exchange(
            action,
            (service, region),
            ("application/x-www-form-urlencoded; charset=utf-8", None),
            body,
            query_answer,
        )
        .await
    }
}

/// A query-protocol answer: its XML as JSON, or its error as an [`Error`].
fn query_answer(status: http::StatusCode, bytes: &[u8]) -> Result<serde_json::Value> {
    if status.is_success() {
        return crate::query::xml_to_json(bytes);
    }
    let (code, message) = crate::query::error_of(bytes).unwrap_or_else(|| {
        (
            String::new(),
            String::from_utf8_lossy(bytes).chars().take(200).collect(),
        )
    });
    Err(match code.as_str() {
        "Throttling" => Error::Throttled(message),
        _ if status.is_server_error() => Error::Unavailable(format!("{status}: {code} {message}")),
        _ => Error::Refused { code, message },
    })
}

impl KeyService for Remote {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<NewDataKey> {
        let req = GenerateDataKeyRequest::aes_256(key_id, context.clone());
        let answer: GenerateDataKeyResponse = self.call("GenerateDataKey", &req).await?;
        answer.try_into()
    }

    async fn decrypt(&self, wrapped: &[u8], context: &EncryptionContext) -> Result<DataKey> {
        let req = DecryptRequest {
            encryption_algorithm: None,
            ciphertext_blob: wrapped.to_vec(),
            encryption_context: context.clone(),
            key_id: None,
        };
        let answer: DecryptResponse = self.call("Decrypt", &req).await?;
        data_key(&answer.plaintext)
    }

    async fn check_key(&self, key_id: &str, context: &EncryptionContext) -> Result<()> {
        let req = GenerateDataKeyRequest::aes_256(key_id, context.clone());
        // Only whether it succeeds matters; the wrapped key is dropped.
        let _: serde_json::Value = self.call("GenerateDataKeyWithoutPlaintext", &req).await?;
        Ok(())
    }
}

impl crate::SecretReader for Remote {
    async fn current_version(&self, secret_id: &str) -> Result<String> {
        let answer = self
            .secrets(
                "DescribeSecret",
                &lakeseal_kms_types::secrets::SecretIdRequest::new(secret_id),
            )
            .await?;
        crate::secrets::current_of(secret_id, answer)
    }

    async fn current_value(&self, secret_id: &str) -> Result<crate::CurrentSecret> {
        let answer = self
            .secrets("GetSecretValue", &crate::secrets::value_request(secret_id))
            .await?;
        crate::secrets::value_of(secret_id, answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = "wJalrXUtnFEMIK7MDENGbPxRfiCYzzzzzzzzzzzz";
        let creds = RemoteCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretBytes::from(secret.as_bytes()),
            session_token: Some(SecretBytes::from(&b"token-token-token"[..])),
        };
        assert!(!format!("{creds:?}").contains(secret));
        let remote = Remote::new("http://127.0.0.1:1", "eu-west-1", creds).unwrap();
        let printed = format!("{remote:?}");
        assert!(!printed.contains(secret), "{printed}");
        assert!(!printed.contains("token-token-token"), "{printed}");
    }

    #[tokio::test]
    async fn endpoints_are_https_or_http_urls() {
        let creds = || RemoteCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: SecretBytes::from(&b"s"[..]),
            session_token: None,
        };
        let refusal = |endpoint: &str| match Remote::new(endpoint, "eu-west-1", creds()) {
            Err(Error::Protocol(why)) => why,
            other => panic!("{endpoint}: {other:?}"),
        };
        for endpoint in [
            "https://kms.eu-west-1.amazonaws.com",
            "http://127.0.0.1:7070",
        ] {
            assert!(
                Remote::new(endpoint, "eu-west-1", creds()).is_ok(),
                "{endpoint}"
            );
        }
        let why = refusal("ftp://127.0.0.1:7070");
        assert!(why.contains("https://"), "{why}");
        let why = refusal("not a url");
        assert!(why.contains("\"not a url\""), "{why}");
    }

    #[test]
    fn credentials_files_are_read_by_profile() {
        let dir = std::env::temp_dir().join(format!("lakeseal-creds-{}", std::process::id()));
        std::fs::write(
            &dir,
            "[other]\naws_access_key_id = A\naws_secret_access_key = B\n[stage]\naws_access_key_id = C\naws_secret_access_key = D\n",
        )
        .unwrap();
        let creds = RemoteCredentials::from_file(&dir, "stage").unwrap();
        assert_eq!(creds.access_key_id, "C");
        assert_eq!(creds.secret_access_key.expose_secret(), b"D");
        match RemoteCredentials::from_file(&dir, "missing") {
            Err(Error::Protocol(why)) => assert!(why.contains("has no [missing]"), "{why}"),
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(&dir).unwrap();
    }
}
