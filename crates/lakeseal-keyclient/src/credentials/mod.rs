//! [`Credentials`]: the identity a [`crate::Remote`] signs with, renewed before it expires.
//!
//! Three sources ([`CredentialSource`]): fixed credentials; an AWS shared-credentials file,
//! re-read when it changes (an operator or a rotation rewrote it); and the container-credentials
//! endpoint (the key core's `--credentials-listen`, or any ECS-style agent), asked again for
//! fresh temporary credentials before the current ones run out.
//!
//! Written here rather than taken from `aws-config`: its providers pull in the STS and SSO
//! clients, a second HTTP stack and `aws-lc-rs`, which more than doubles the stage's build on
//! this project's machines, for the two small protocols read here. The refresh rule is the
//! SDK's: renew ahead of expiry, one fetch at a time, callers keep the old identity while it is
//! still valid.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials as AwsCredentials;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lakeseal_envelope::SecretBytes;

use self::assume_role::AssumedRole;
use crate::tls::Connector;
use crate::{Error, RemoteCredentials, Result};

mod assume_role;
mod container;

/// The environment variables the AWS SDKs read for the container-credentials endpoint.
pub const CONTAINER_URI_ENV: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// The file holding the endpoint's authorisation token, re-read at every fetch.
pub const CONTAINER_TOKEN_FILE_ENV: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";

/// How often a credentials file is checked for changes, at most.
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Temporary credentials are renewed this long before they expire, or at half their life if
/// that is sooner (credentials that live seconds, in tests).
const RENEW_AHEAD: Duration = Duration::from_secs(300);
/// After a failed renewal, how long until the next attempt.
const RENEW_RETRY: Duration = Duration::from_secs(1);
/// How long one fetch from the endpoint may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where credentials come from. `Debug` shows no secret ([`RemoteCredentials`] hides its own).
#[derive(Debug)]
pub enum CredentialSource {
    /// Fixed for the life of the client.
    Static(RemoteCredentials),
    /// `[profile]` of an AWS shared-credentials file, read again when the file changes.
    File {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
    },
    /// The container-credentials endpoint: `GET uri` with the token in `token_file` as
    /// `Authorization`.
    Container {
        /// `http://127.0.0.1:PORT/v1/credentials`.
        uri: String,
        /// The workload identity's token, read at every fetch (so a rotated token is used).
        token_file: PathBuf,
    },
    /// A role's temporary credentials from STS `AssumeRole`, asked for with `source`'s (an AWS
    /// profile's `source_profile` and `role_arn`).
    AssumeRole {
        /// Who assumes the role.
        source: Box<CredentialSource>,
        /// The STS endpoint, `http://host:port`.
        endpoint: String,
        /// The region to sign for.
        region: String,
        /// The role's ARN.
        role_arn: String,
        /// The session's name (`RoleSessionName`).
        session_name: String,
        /// How long each session lives; `None`: the service's default, an hour.
        duration_seconds: Option<u32>,
    },
}

impl From<RemoteCredentials> for CredentialSource {
    fn from(credentials: RemoteCredentials) -> Self {
        CredentialSource::Static(credentials)
    }
}

impl CredentialSource {
    /// The container endpoint the environment names, as the AWS SDKs find it; `None` when
    /// [`CONTAINER_URI_ENV`] is not set.
    pub fn container_from_env() -> Result<Option<Self>> {
        let Some(uri) = std::env::var_os(CONTAINER_URI_ENV) else {
            return Ok(None);
        };
        let uri = uri
            .into_string()
            .map_err(|_| Error::Protocol(format!("{CONTAINER_URI_ENV} is not UTF-8")))?;
        let token_file = std::env::var_os(CONTAINER_TOKEN_FILE_ENV).ok_or_else(|| {
            Error::Protocol(format!(
                "{CONTAINER_URI_ENV} is set but {CONTAINER_TOKEN_FILE_ENV} is not: the \
                 endpoint needs the workload identity's token"
            ))
        })?;
        Ok(Some(CredentialSource::Container {
            uri,
            token_file: token_file.into(),
        }))
    }
}

/// An identity and when it must be renewed.
#[derive(Clone)]
struct Current {
    identity: Identity,
    /// When to fetch again (`None`: never, for fixed credentials).
    renew_at: Option<SystemTime>,
    /// For a file: its modification time and length when read, and when that was last checked.
    file: Option<(FileStamp, Instant)>,
}

type FileStamp = (SystemTime, u64);

/// The identity requests are signed with, from a [`CredentialSource`]. Cheap to share.
#[derive(Clone)]
pub struct Credentials {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    current: Mutex<Option<Current>>,
    /// One fetch at a time; the others wait for its result.
    fetching: tokio::sync::Mutex<()>,
    http: Client<Connector, Empty<Bytes>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from `source`; fixed ones are checked now, the others at first use. An
    /// endpoint it names (STS, the credentials endpoint) is reached through `connector`.
    pub(crate) fn new(source: CredentialSource, connector: Connector) -> Result<Self> {
        let source = Source::new(source, &connector)?;
        let current = match &source {
            Source::Static(c) => Some(fixed(c)?),
            _ => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                source,
                current: Mutex::new(current),
                fetching: tokio::sync::Mutex::new(()),
                http: Client::builder(TokioExecutor::new()).build(connector),
            }),
        })
    }

    /// The identity to sign the next request with: the current one while it is fresh, else a
    /// new one (one fetch at a time).
    pub async fn identity(&self) -> Result<Identity> {
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let _fetching = self.inner.fetching.lock().await;
        // Someone else may have fetched while this caller waited.
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let fetched = match self.fetch().await {
            Ok(fetched) => fetched,
            Err(e) => return self.keep_current(e),
        };
        let identity = fetched.identity.clone();
        *self.lock() = Some(fetched);
        Ok(identity)
    }

    /// A renewal failed (the endpoint is down, the file half-written): the current identity
    /// stays in use while it is valid, and the renewal is tried again a little later rather
    /// than on every request.
    fn keep_current(&self, error: Error) -> Result<Identity> {
        let mut current = self.lock();
        let now = SystemTime::now();
        let Some(c) = current
            .as_mut()
            .filter(|c| c.identity.expiration().is_none_or(|expires| now < expires))
        else {
            return Err(error);
        };
        tracing::warn!(
            error = %error,
            "cannot renew the key core credentials; the current ones stay in use"
        );
        if let Some(at) = &mut c.renew_at {
            *at = now + RENEW_RETRY;
        }
        if let Some((_, checked)) = &mut c.file {
            *checked = Instant::now();
        }
        Ok(c.identity.clone())
    }

    /// [`Credentials::identity`] as a boxed future: what a [`crate::Remote`] awaits. An assumed
    /// role's STS client is a `Remote` with credentials of its own, so without the box the
    /// future of `identity` would contain itself.
    pub(crate) fn identity_boxed(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Identity>> + Send + '_>> {
        Box::pin(self.identity())
    }

    /// Forgets the current identity (the service said it expired): the next request fetches.
    pub fn invalidate(&self) {
        if !matches!(self.inner.source, Source::Static(_)) {
            *self.lock() = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Current>> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The current identity if it needs no renewal.
    fn fresh(&self) -> Option<Identity> {
        let mut current = self.lock();
        let c = current.as_mut()?;
        if c.renew_at.is_some_and(|at| SystemTime::now() >= at) {
            return None;
        }
        if let (Source::File { path, .. }, Some((stamp, checked))) =
            (&self.inner.source, &mut c.file)
            && checked.elapsed() >= FILE_CHECK_INTERVAL
        {
            if file_stamp(path).ok() != Some(*stamp) {
                return None;
            }
            *checked = Instant::now();
        }
        Some(c.identity.clone())
    }

    async fn fetch(&self) -> Result<Current> {
        match &self.inner.source {
            Source::Static(c) => fixed(c),
            Source::File { path, profile } => {
                let stamp = file_stamp(path).map_err(|e| {
                    Error::Protocol(format!(
                        "cannot read credentials file {}: {e}",
                        path.display()
                    ))
                })?;
                let c = RemoteCredentials::from_file(path, profile)?;
                Ok(Current {
                    identity: identity(
                        c.access_key_id,
                        &c.secret_access_key,
                        c.session_token.as_ref(),
                        None,
                    )?,
                    renew_at: None,
                    file: Some((stamp, Instant::now())),
                })
            }
            Source::AssumeRole(role) => role.fetch().await,
            Source::Container { uri, token_file } => tokio::time::timeout(
                FETCH_TIMEOUT,
                container::fetch(&self.inner.http, uri, token_file),
            )
            .await
            .map_err(|_| {
                Error::Unavailable(format!(
                    "the credentials endpoint {uri} did not answer within {FETCH_TIMEOUT:?}"
                ))
            })?,
        }
    }
}

/// A [`CredentialSource`] made ready: an assumed role's STS client built once.
#[derive(Debug)]
enum Source {
    Static(RemoteCredentials),
    File { path: PathBuf, profile: String },
    Container { uri: String, token_file: PathBuf },
    AssumeRole(Box<AssumedRole>),
}

impl Source {
    fn new(source: CredentialSource, connector: &Connector) -> Result<Self> {
        Ok(match source {
            CredentialSource::Static(c) => Source::Static(c),
            CredentialSource::File { path, profile } => Source::File { path, profile },
            CredentialSource::Container { uri, token_file } => {
                Source::Container { uri, token_file }
            }
            CredentialSource::AssumeRole {
                source,
                endpoint,
                region,
                role_arn,
                session_name,
                duration_seconds,
            } => Source::AssumeRole(Box::new(AssumedRole {
                sts: crate::Remote::with_connector(&endpoint, &region, *source, connector.clone())?,
                region,
                role_arn,
                session_name,
                duration_seconds,
            })),
        })
    }
}

/// When credentials fetched at `fetched` that expire at `expires` are renewed: [`RENEW_AHEAD`]
/// before they expire, or halfway through their life if that is sooner.
fn renew_at(fetched: SystemTime, expires: SystemTime) -> SystemTime {
    let life = expires.duration_since(fetched).unwrap_or_default();
    let ahead = RENEW_AHEAD.min(life / 2);
    expires - ahead
}

/// Fixed credentials as an identity that is never renewed.
fn fixed(c: &RemoteCredentials) -> Result<Current> {
    Ok(Current {
        identity: identity(
            c.access_key_id.clone(),
            &c.secret_access_key,
            c.session_token.as_ref(),
            None,
        )?,
        renew_at: None,
        file: None,
    })
}

fn file_stamp(path: &Path) -> std::io::Result<FileStamp> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.modified()?, meta.len()))
}

fn identity(
    access_key_id: String,
    secret: &SecretBytes,
    token: Option<&SecretBytes>,
    expires: Option<SystemTime>,
) -> Result<Identity> {
    let secret = String::from_utf8(secret.expose_secret().to_vec())
        .map_err(|_| Error::Protocol("the secret access key is not UTF-8".into()))?;
    let token = token
        .map(|t| String::from_utf8(t.expose_secret().to_vec()))
        .transpose()
        .map_err(|_| Error::Protocol("the session token is not UTF-8".into()))?;
    Ok(AwsCredentials::new(access_key_id, secret, token, expires, "lakeseal").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lived_credentials_are_renewed_at_half_life_long_ones_five_minutes_ahead() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            renew_at(t, t + Duration::from_secs(20)),
            t + Duration::from_secs(10)
        );
        assert_eq!(
            renew_at(t, t + Duration::from_secs(3600)),
            t + Duration::from_secs(3300)
        );
        // Already expired: renewed at once.
        assert!(renew_at(t, t - Duration::from_secs(1)) <= t);
    }

    #[tokio::test]
    async fn a_failed_renewal_keeps_the_current_credentials_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        std::fs::write(
            &path,
            "[p]\naws_access_key_id = KEPTKEY\naws_secret_access_key = s3cr3t\n",
        )
        .unwrap();
        let credentials = Credentials::new(
            CredentialSource::File {
                path: path.clone(),
                profile: "p".into(),
            },
            crate::tls::connector(&crate::TrustRoots::System).unwrap(),
        )
        .unwrap();
        credentials.identity().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        // Due for its once-a-second look at the file, which is gone.
        if let Some(Current {
            file: Some((_, checked)),
            ..
        }) = credentials.lock().as_mut()
        {
            *checked -= FILE_CHECK_INTERVAL * 2;
        }
        let kept = credentials.identity().await.unwrap();
        assert_eq!(
            kept.data::<AwsCredentials>().unwrap().access_key_id(),
            "KEPTKEY"
        );
        // Never fetched at all: the error itself.
        let never = Credentials::new(
            CredentialSource::File {
                path,
                profile: "p".into(),
            },
            crate::tls::connector(&crate::TrustRoots::System).unwrap(),
        )
        .unwrap();
        assert!(never.identity().await.is_err());
    }

    #[tokio::test]
    async fn a_rewritten_credentials_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let write = |id: &str| {
            std::fs::write(
                &path,
                format!("[p]\naws_access_key_id = {id}\naws_secret_access_key = s3cr3t-{id}\n"),
            )
            .unwrap()
        };
        write("FIRSTKEY");
        let credentials = Credentials::new(
            CredentialSource::File {
                path: path.clone(),
                profile: "p".into(),
            },
            crate::tls::connector(&crate::TrustRoots::System).unwrap(),
        )
        .unwrap();
        let id = |i: &Identity| {
            i.data::<AwsCredentials>()
                .unwrap()
                .access_key_id()
                .to_owned()
        };
        assert_eq!(id(&credentials.identity().await.unwrap()), "FIRSTKEY");
        write("SECONDKEYLONGER");
        // Checked at most once a second: wait on the condition, not a fixed time.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let now = id(&credentials.identity().await.unwrap());
            if now == "SECONDKEYLONGER" {
                break;
            }
            assert!(Instant::now() < deadline, "the new file was never read");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
