//! `DescribeCustomKeyStores`: the PKCS#11 key stores the key core is configured with, shown as
//! AWS KMS shows CloudHSM key stores.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::wire::epoch_seconds;

/// `DescribeCustomKeyStores` request: one store by id or name, or every store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeCustomKeyStoresRequest {
    /// Only the store with this id.
    pub custom_key_store_id: Option<String>,
    /// Only the store with this name.
    pub custom_key_store_name: Option<String>,
    /// Page size, 1 to 1000; 100 when absent.
    pub limit: Option<u32>,
    /// `NextMarker` of the previous page.
    pub marker: Option<String>,
}

/// One key store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomKeyStoresListEntry {
    /// The id that `CreateKey` names (`CustomKeyStoreId`).
    pub custom_key_store_id: String,
    /// The configured name.
    pub custom_key_store_name: String,
    /// Always `AWS_CLOUDHSM`: a PKCS#11 token plays the part of the CloudHSM cluster.
    pub custom_key_store_type: String,
    /// The token's label (AWS: the CloudHSM cluster id).
    pub cloud_hsm_cluster_id: String,
    /// `CONNECTED`, `CONNECTING`, `DISCONNECTED` or `FAILED`.
    pub connection_state: String,
    /// Why the store is not connected: `CLUSTER_NOT_FOUND` (no PKCS#11 module at the path),
    /// `INSUFFICIENT_CLOUDHSM_HSMS` (no token with the label), `INVALID_CREDENTIALS` (the PIN),
    /// `USER_LOCKED_OUT` or `INTERNAL_ERROR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_error_code: Option<String>,
    /// When the key core first connected it (its start).
    #[serde(with = "epoch_seconds")]
    pub creation_date: Millis,
}

/// `DescribeCustomKeyStores` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeCustomKeyStoresResponse {
    /// This page.
    pub custom_key_stores: Vec<CustomKeyStoresListEntry>,
    /// Where the next page starts, when `truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether there is another page.
    pub truncated: bool,
}
