//! `DescribeKey`, and the `KeyMetadata` shape other operations return too.

use serde::{Deserialize, Serialize};

use crate::wire::{epoch_seconds, epoch_seconds_opt};
use crate::{KeyState, Millis};

/// A key's metadata, as AWS KMS describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    #[serde(with = "epoch_seconds")]
    pub creation_date: Millis,
    pub enabled: bool,
    pub description: String,
    pub key_usage: String,
    pub key_state: KeyState,
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deletion_date: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    pub origin: String,
    /// For a key of origin `EXTERNAL` with material: whether it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<String>,
    /// For imported material that expires: when.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_to: Option<Millis>,
    pub key_manager: String,
    pub customer_master_key_spec: String,
    pub key_spec: String,
    /// The encryption algorithms of an `ENCRYPT_DECRYPT` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<String>>,
    /// The signing algorithms of a `SIGN_VERIFY` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<String>>,
    pub multi_region: bool,
    /// The key store (PKCS#11 token) that holds an HSM key's material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    /// That store's token label (AWS: the CloudHSM cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_hsm_cluster_id: Option<String>,
    /// Lakeseal's extension: the version that encrypts now.
    pub primary_key_version: u32,
}

/// `DescribeKey` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeKeyResponse {
    /// The key.
    pub key_metadata: KeyMetadata,
}
