//! `CreateKey`.

use serde::{Deserialize, Serialize};

use crate::Tag;
use crate::describe_key::KeyMetadata;

/// `CreateKey` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateKeyRequest {
    /// Free text.
    pub description: Option<String>,
    /// `ENCRYPT_DECRYPT` (the default) or `SIGN_VERIFY` (RSA and ECC keys).
    pub key_usage: Option<String>,
    /// `SYMMETRIC_DEFAULT` (AES-256-GCM-SIV, the default), `RSA_2048`, `RSA_3072`, `RSA_4096`,
    /// `ECC_NIST_P256` or `ECC_NIST_P384`.
    pub key_spec: Option<String>,
    /// The older name of `KeySpec`.
    pub customer_master_key_spec: Option<String>,
    /// `AWS_KMS` (key material made here, the default), `EXTERNAL` (imported later with
    /// `ImportKeyMaterial`) or `AWS_CLOUDHSM` (made inside a PKCS#11 token).
    pub origin: Option<String>,
    /// With `AWS_CLOUDHSM`: the key store (PKCS#11 token) to make the key in; the key core's
    /// default store when absent (Lakeseal's extension: AWS requires it).
    pub custom_key_store_id: Option<String>,
    /// The key policy document; the default gives the account root full access.
    pub policy: Option<String>,
    /// Tags to set.
    pub tags: Vec<Tag>,
    /// Multi-Region keys are not supported: the key core has one region.
    pub multi_region: Option<bool>,
    /// Skips the policy lockout safety check on `Policy`.
    pub bypass_policy_lockout_safety_check: bool,
}

/// `CreateKey` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyResponse {
    /// The new key.
    pub key_metadata: KeyMetadata,
}
