//! [`Either`]: one of the two key services, chosen at run time from configuration.

use lakeseal_envelope::{DataKey, EncryptionContext};

#[cfg(feature = "in-process")]
use crate::InProcess;
use crate::{KeyService, NewDataKey, Remote, Result};

/// The embedded key core or a remote one — what a configuration file picks. Non-exhaustive:
/// the `in-process` feature adds a variant.
#[derive(Debug)]
#[non_exhaustive]
pub enum Either {
    /// The key core in this process.
    #[cfg(feature = "in-process")]
    InProcess(InProcess),
    /// A key core (or cloud KMS) over the network.
    Remote(Box<Remote>),
}

impl KeyService for Either {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<NewDataKey> {
        match self {
            #[cfg(feature = "in-process")]
            Either::InProcess(s) => s.generate_data_key(key_id, context).await,
            Either::Remote(s) => s.generate_data_key(key_id, context).await,
        }
    }

    async fn decrypt(&self, wrapped: &[u8], context: &EncryptionContext) -> Result<DataKey> {
        match self {
            #[cfg(feature = "in-process")]
            Either::InProcess(s) => s.decrypt(wrapped, context).await,
            Either::Remote(s) => s.decrypt(wrapped, context).await,
        }
    }

    async fn check_key(&self, key_id: &str, context: &EncryptionContext) -> Result<()> {
        match self {
            #[cfg(feature = "in-process")]
            Either::InProcess(s) => s.check_key(key_id, context).await,
            Either::Remote(s) => s.check_key(key_id, context).await,
        }
    }
}

impl crate::SecretReader for Either {
    async fn current_version(&self, secret_id: &str) -> Result<String> {
        match self {
            #[cfg(feature = "in-process")]
            Either::InProcess(s) => s.current_version(secret_id).await,
            Either::Remote(s) => s.current_version(secret_id).await,
        }
    }

    async fn current_value(&self, secret_id: &str) -> Result<crate::CurrentSecret> {
        match self {
            #[cfg(feature = "in-process")]
            Either::InProcess(s) => s.current_value(secret_id).await,
            Either::Remote(s) => s.current_value(secret_id).await,
        }
    }
}
