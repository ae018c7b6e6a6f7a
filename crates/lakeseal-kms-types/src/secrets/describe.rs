//! `DescribeSecret`, `ListSecrets`, `ListSecretVersionIds`: metadata, never values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{RotationRules, SecretTag};
use crate::Millis;
use crate::wire::{epoch_seconds, epoch_seconds_opt};

/// A secret's metadata: `DescribeSecret`'s response and one entry of `ListSecrets`'.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretMetadata {
    /// The secret's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The secret's name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The CMK named at creation or update, as given; absent for the account's default key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Whether a rotation schedule is set.
    #[serde(default)]
    pub rotation_enabled: bool,
    /// The rotator (`arn:<partition>:lakeseal:<region>:<account>:rotator/<name>`).
    #[serde(
        rename = "RotationLambdaARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rotation_lambda_arn: Option<String>,
    /// The schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_rules: Option<RotationRules>,
    /// When a rotation last completed.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_rotated_date: Option<Millis>,
    /// When the secret last changed.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_changed_date: Option<Millis>,
    /// The day a value was last read (a date, as AWS rounds it).
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_accessed_date: Option<Millis>,
    /// When a scheduled deletion takes effect.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_date: Option<Millis>,
    /// When the next rotation is due.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_rotation_date: Option<Millis>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<SecretTag>,
    /// Every version's labels (`DescribeSecret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_ids_to_stages: Option<BTreeMap<String, Vec<String>>>,
    /// The same, under `ListSecrets`' name for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_versions_to_stages: Option<BTreeMap<String, Vec<String>>>,
    /// When the secret was made.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date: Option<Millis>,
}

/// A `ListSecrets` (or `BatchGetSecretValue`) filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    /// `name`, `description`, `tag-key`, `tag-value` or `all`.
    pub key: String,
    /// Prefixes to match (case-sensitive); a leading `!` negates one.
    #[serde(default)]
    pub values: Vec<String>,
}

/// `ListSecrets` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsRequest {
    /// Whether secrets waiting out a deletion window are listed.
    #[serde(default)]
    pub include_planned_deletion: bool,
    /// At most this many per page (1–100).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// The page after the one that returned it.
    #[serde(default)]
    pub next_token: Option<String>,
    /// Every filter must match.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// `asc` or `desc` by creation date; `asc` when absent.
    #[serde(default)]
    pub sort_order: Option<String>,
}

/// `ListSecrets` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretsResponse {
    /// This page.
    pub secret_list: Vec<SecretMetadata>,
    /// The next page, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `ListSecretVersionIds` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// At most this many per page (1–100).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// The page after the one that returned it.
    #[serde(default)]
    pub next_token: Option<String>,
    /// Also versions without a label (kept until pruned).
    #[serde(default)]
    pub include_deprecated: bool,
}

/// One version of a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionListEntry {
    /// The version's id.
    pub version_id: String,
    /// Its labels.
    pub version_stages: Vec<String>,
    /// When it was last read.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_accessed_date: Option<Millis>,
    /// When it was made.
    #[serde(with = "epoch_seconds")]
    pub created_date: Millis,
    /// The ARN of the CMK that sealed it.
    #[serde(default)]
    pub kms_key_ids: Vec<String>,
}

/// `ListSecretVersionIds` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSecretVersionIdsResponse {
    /// This page.
    pub versions: Vec<VersionListEntry>,
    /// The next page, if there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// The secret's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The secret's name.
    pub name: String,
}
