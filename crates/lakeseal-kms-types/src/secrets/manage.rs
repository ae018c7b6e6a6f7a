//! Labels, tags, deletion and restoration, resource policies.

use serde::{Deserialize, Serialize};

use super::{SecretRef, SecretTag};
use crate::Millis;
use crate::wire::epoch_seconds;

/// `UpdateSecretVersionStage` request: moves (or adds, or removes) one label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateSecretVersionStageRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// The label.
    pub version_stage: String,
    /// The version that has it now (required when one has it).
    #[serde(default)]
    pub remove_from_version_id: Option<String>,
    /// The version to put it on.
    #[serde(default)]
    pub move_to_version_id: Option<String>,
}

/// `TagResource` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagSecretRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// Tags to add or overwrite.
    pub tags: Vec<SecretTag>,
}

/// `UntagResource` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagSecretRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// Keys of the tags to remove.
    pub tag_keys: Vec<String>,
}

/// `DeleteSecret` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteSecretRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// 7–30 days (default 30) during which `RestoreSecret` brings it back.
    #[serde(default)]
    pub recovery_window_in_days: Option<u32>,
    /// Delete now, with no window (not with a window).
    #[serde(default)]
    pub force_delete_without_recovery: Option<bool>,
}

/// `DeleteSecret` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSecretResponse {
    /// The secret.
    #[serde(flatten)]
    pub secret: SecretRef,
    /// When it is (or was) deleted for good.
    #[serde(rename = "DeletionDate", with = "epoch_seconds")]
    pub deletion_date: Millis,
}

/// `PutResourcePolicy` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutResourcePolicyRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// The policy document.
    pub resource_policy: String,
    /// Refuse a policy that grants access to anyone (`"Principal": "*"` without a condition);
    /// true when absent, as in AWS.
    #[serde(default)]
    pub block_public_policy: Option<bool>,
}

/// `GetResourcePolicy` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetResourcePolicyResponse {
    /// The secret.
    #[serde(flatten)]
    pub secret: SecretRef,
    /// The policy, when there is one.
    #[serde(
        rename = "ResourcePolicy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub resource_policy: Option<String>,
}
