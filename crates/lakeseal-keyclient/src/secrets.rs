//! [`SecretReader`]: what a `secret://` reference needs of the secrets manager — which version of
//! a secret is `AWSCURRENT` (`DescribeSecret`, cheap: no value leaves the key core) and that
//! version's value (`GetSecretValue`).

use std::future::Future;

use lakeseal_envelope::SecretBytes;
use lakeseal_kms_types::secrets::describe::SecretMetadata;
use lakeseal_kms_types::secrets::read::{GetSecretValueRequest, GetSecretValueResponse};

use crate::{Error, Result};

/// The staging label of the version clients use.
pub const CURRENT: &str = "AWSCURRENT";

/// A secret's current version and its value (`SecretString`'s bytes, or `SecretBinary`'s),
/// which zeroizes on drop.
#[derive(Debug)]
pub struct CurrentSecret {
    /// The version's id.
    pub version_id: String,
    /// The value.
    pub value: SecretBytes,
}

/// Reads secrets' current versions.
pub trait SecretReader: Send + Sync {
    /// The id of the version labelled `AWSCURRENT`: `DescribeSecret`, no value read.
    fn current_version(&self, secret_id: &str) -> impl Future<Output = Result<String>> + Send;

    /// The `AWSCURRENT` version and its value: `GetSecretValue`.
    fn current_value(&self, secret_id: &str) -> impl Future<Output = Result<CurrentSecret>> + Send;
}

impl<R: SecretReader> SecretReader for std::sync::Arc<R> {
    fn current_version(&self, secret_id: &str) -> impl Future<Output = Result<String>> + Send {
        R::current_version(self, secret_id)
    }

    fn current_value(&self, secret_id: &str) -> impl Future<Output = Result<CurrentSecret>> + Send {
        R::current_value(self, secret_id)
    }
}

/// The `GetSecretValue` request for `secret_id`'s current version.
pub(crate) fn value_request(secret_id: &str) -> GetSecretValueRequest {
    GetSecretValueRequest {
        secret_id: secret_id.to_owned(),
        version_id: None,
        version_stage: Some(CURRENT.to_owned()),
    }
}

/// The `AWSCURRENT` version of a `DescribeSecret` answer.
pub(crate) fn current_of(secret_id: &str, metadata: SecretMetadata) -> Result<String> {
    metadata
        .version_ids_to_stages
        .unwrap_or_default()
        .into_iter()
        .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
        .map(|(version, _)| version)
        .ok_or_else(|| Error::Protocol(format!("secret {secret_id} has no {CURRENT} version")))
}

/// A `GetSecretValue` answer as the value it holds.
pub(crate) fn value_of(secret_id: &str, answer: GetSecretValueResponse) -> Result<CurrentSecret> {
    let version_id = answer.version_id;
    let value = answer
        .secret_string
        .or(answer.secret_binary)
        .ok_or_else(|| Error::Protocol(format!("secret {secret_id} has no value")))?;
    Ok(CurrentSecret { version_id, value })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_current_version_is_the_one_labelled_so() {
        let metadata = SecretMetadata {
            version_ids_to_stages: Some(BTreeMap::from([
                ("v1".to_owned(), vec!["AWSPREVIOUS".to_owned()]),
                ("v2".to_owned(), vec!["AWSCURRENT".to_owned()]),
                ("v3".to_owned(), vec!["AWSPENDING".to_owned()]),
            ])),
            ..SecretMetadata::default()
        };
        assert_eq!(current_of("s", metadata).unwrap(), "v2");
        let err = current_of("s", SecretMetadata::default()).unwrap_err();
        assert!(err.to_string().contains("AWSCURRENT"), "{err}");
    }
}
