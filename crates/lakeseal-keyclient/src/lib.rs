//! How the stream stage reaches the key core.
//!
//! * [`KeyService`]: make a data key under a customer master key, and unwrap one. Two
//!   implementations: [`Remote`] (the AWS KMS JSON protocol signed with SigV4, so it also works
//!   against a cloud KMS) and, with the `in-process` feature, `InProcess` (a key core embedded in
//!   this process). The requests and answers are `lakeseal-kms-types`' shapes, so without the
//!   feature the key client does not compile the key core.
//! * [`Resilient`]: any `KeyService` behind a rate limiter (governor) and bounded retries with
//!   jittered exponential backoff on throttling, 5xx and network errors.
//! * [`DekCache`]: data keys cached per (master key, encryption context, window), so that one
//!   checkpoint window makes one key-core call; concurrent misses share it (single flight), and an
//!   entry is also capped by uses, bytes and age. A dropped entry zeroizes its key.
//! * [`Either`]: whichever of the two a configuration file picks.
//! * [`SecretReader`]: a secret's current version and value, for `secret://` references.
//!
//! ```
//! # async fn run(keys: impl lakeseal_keyclient::KeyService) -> Result<(), lakeseal_keyclient::Error> {
//! use lakeseal_envelope::EncryptionContext;
//! use lakeseal_keyclient::KeyService;
//!
//! let context = EncryptionContext::from_iter([("table", "telemetry")]);
//! let dek = keys.generate_data_key("alias/telemetry", &context).await?;
//! let again = keys.decrypt(&dek.wrapped, &context).await?;
//! assert_eq!(again.expose_secret(), dek.key.expose_secret());
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod cache;
mod credentials;
mod either;
#[cfg(feature = "in-process")]
mod in_process;
mod query;
mod remote;
mod retry;
mod secrets;
mod tls;

use std::future::Future;

use lakeseal_envelope::{DataKey, EncryptionContext};

pub use crate::cache::{CachedDek, DekCache, DekCacheConfig};
pub use crate::credentials::{
    CONTAINER_TOKEN_FILE_ENV, CONTAINER_URI_ENV, CredentialSource, Credentials,
};
pub use crate::either::Either;
#[cfg(feature = "in-process")]
pub use crate::in_process::InProcess;
pub use crate::query::xml_to_json;
pub use crate::remote::{Remote, RemoteCredentials};
pub use crate::retry::{Resilient, RetryPolicy};
pub use crate::secrets::{CURRENT, CurrentSecret, SecretReader};
pub use crate::tls::TrustRoots;

/// A fresh data key and its wrapped form.
#[derive(Debug)]
pub struct NewDataKey {
    /// The 256-bit key. Zeroized on drop.
    pub key: DataKey,
    /// The key sealed under the master key (the key core's ciphertext blob).
    pub wrapped: Vec<u8>,
    /// The ARN of the master key that wrapped it.
    pub key_arn: String,
}

impl TryFrom<lakeseal_kms_types::generate_data_key::GenerateDataKeyResponse> for NewDataKey {
    type Error = Error;

    fn try_from(
        answer: lakeseal_kms_types::generate_data_key::GenerateDataKeyResponse,
    ) -> Result<Self> {
        Ok(Self {
            key: data_key(&answer.plaintext)?,
            wrapped: answer.ciphertext_blob,
            key_arn: answer.key_id,
        })
    }
}

/// A 256-bit data key out of a service's plaintext answer.
pub(crate) fn data_key(plaintext: &lakeseal_envelope::SecretBytes) -> Result<DataKey> {
    DataKey::try_from_slice(plaintext.expose_secret()).map_err(|e| Error::Protocol(e.to_string()))
}

/// Errors of a key service.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key service throttled the request; worth retrying after a while.
    #[error("throttled by the key service: {0}")]
    Throttled(String),
    /// The key service could not be reached or failed (network, timeout, 5xx); worth retrying.
    #[error("key service unavailable: {0}")]
    Unavailable(String),
    /// The key service refused the request (denied, not found, disabled, invalid ciphertext …);
    /// retrying will not help.
    #[error("key service refused the request ({code}): {message}")]
    Refused {
        /// The AWS error name.
        code: String,
        /// The service's message.
        message: String,
    },
    /// An answer that is not what the protocol promises.
    #[error("unexpected answer from the key service: {0}")]
    Protocol(String),
}

impl Error {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Throttled(_) | Error::Unavailable(_))
    }

    /// A bounded name for metrics: `throttled`, `unavailable`, `refused` or `protocol`.
    pub fn class(&self) -> &'static str {
        match self {
            Error::Throttled(_) => "throttled",
            Error::Unavailable(_) => "unavailable",
            Error::Refused { .. } => "refused",
            Error::Protocol(_) => "protocol",
        }
    }

    /// The AWS error name, when the service gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Refused { code, .. } => Some(code),
            Error::Throttled(_) => Some("ThrottlingException"),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A key-management service: the key core, in process or remote, or a cloud KMS.
pub trait KeyService: Send + Sync {
    /// A new 256-bit data key wrapped under `key_id` (id, ARN or alias) with `context` bound.
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<NewDataKey>> + Send;

    /// Unwraps a data key; `context` must be the one it was wrapped with.
    fn decrypt(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<DataKey>> + Send;

    /// Checks that `key_id` names a key this caller may make data keys under with `context`,
    /// without taking a data key in the clear (`GenerateDataKeyWithoutPlaintext`, a dry run):
    /// for configuration checks at start. By default, a data key made and dropped.
    fn check_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<()>> + Send {
        async move { self.generate_data_key(key_id, context).await.map(drop) }
    }
}

/// A shared key service (the stage's data path and its `secret://` refresher share one rate
/// limit).
impl<K: KeyService> KeyService for std::sync::Arc<K> {
    fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<NewDataKey>> + Send {
        K::generate_data_key(self, key_id, context)
    }

    fn decrypt(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<DataKey>> + Send {
        K::decrypt(self, wrapped, context)
    }

    fn check_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<()>> + Send {
        K::check_key(self, key_id, context)
    }
}
