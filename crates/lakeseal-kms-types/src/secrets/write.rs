//! `CreateSecret`, `PutSecretValue`, `UpdateSecret`: the operations that may add a version.

use lakeseal_envelope::SecretBytes;
use serde::{Deserialize, Serialize};

use super::{SecretRef, SecretTag};
use crate::wire::{secret_b64_opt, secret_str_opt};

/// `CreateSecret` request.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSecretRequest {
    /// 1–512 of `A-Za-z0-9/_+=.@-`; unique in the account.
    pub name: String,
    /// Becomes the first version's id (32–64 characters); a retry with the same token and
    /// value is answered as the first call was.
    #[serde(default)]
    pub client_request_token: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The CMK that seals the values; the account's `alias/aws/secretsmanager` when absent.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// A text value.
    #[serde(
        default,
        with = "secret_str_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_string: Option<SecretBytes>,
    /// A binary value.
    #[serde(
        default,
        with = "secret_b64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_binary: Option<SecretBytes>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<SecretTag>,
    /// Replication is not offered: a non-empty list is refused.
    #[serde(default)]
    pub add_replica_regions: Vec<ReplicaRegion>,
    /// Accepted and ignored (no replicas).
    #[serde(default)]
    pub force_overwrite_replica_secret: bool,
}

/// A region to replicate a secret to (refused: the key core is one region).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicaRegion {
    /// The region.
    #[serde(default)]
    pub region: Option<String>,
    /// The CMK there.
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

/// `CreateSecret` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateSecretResponse {
    /// The new secret.
    #[serde(flatten)]
    pub secret: SecretRef,
    /// The first version's id, when a value was given.
    #[serde(rename = "VersionId", default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// `PutSecretValue` request.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutSecretValueRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// The new version's id; the same token with the same value is idempotent, with another
    /// value refused.
    #[serde(default)]
    pub client_request_token: Option<String>,
    /// A text value.
    #[serde(
        default,
        with = "secret_str_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_string: Option<SecretBytes>,
    /// A binary value.
    #[serde(
        default,
        with = "secret_b64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_binary: Option<SecretBytes>,
    /// The labels to put on the new version; `AWSCURRENT` when absent.
    #[serde(default)]
    pub version_stages: Option<Vec<String>>,
}

/// `PutSecretValue` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutSecretValueResponse {
    /// The secret.
    #[serde(flatten)]
    pub secret: SecretRef,
    /// The version written.
    #[serde(rename = "VersionId")]
    pub version_id: String,
    /// Its labels.
    #[serde(rename = "VersionStages")]
    pub version_stages: Vec<String>,
}

/// `UpdateSecret` request: a new description or CMK, and a new current value when one is given.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// The new version's id, when a value is given.
    #[serde(default)]
    pub client_request_token: Option<String>,
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// A new CMK for values written from now on.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// A new text value.
    #[serde(
        default,
        with = "secret_str_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_string: Option<SecretBytes>,
    /// A new binary value.
    #[serde(
        default,
        with = "secret_b64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_binary: Option<SecretBytes>,
}

/// `UpdateSecret` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateSecretResponse {
    /// The secret.
    #[serde(flatten)]
    pub secret: SecretRef,
    /// The new version's id, when a value was given.
    #[serde(rename = "VersionId", default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}
