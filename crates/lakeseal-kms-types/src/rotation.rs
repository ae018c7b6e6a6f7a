//! `RotateKeyOnDemand`, `EnableKeyRotation`, `DisableKeyRotation`, `GetKeyRotationStatus`,
//! `ListKeyRotations`.

use serde::{Deserialize, Serialize};

use crate::wire::{epoch_seconds, epoch_seconds_opt};
use crate::{Millis, RotationType};

/// `RotateKeyOnDemand` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateKeyOnDemandResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Lakeseal's extension: the new primary version.
    pub key_version: u32,
}

/// `EnableKeyRotation` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableKeyRotationRequest {
    /// The key.
    pub key_id: String,
    /// 90 to 2560; 90 when absent.
    #[serde(default)]
    pub rotation_period_in_days: Option<u32>,
}

/// `GetKeyRotationStatus` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Whether automatic rotation is on.
    pub key_rotation_enabled: bool,
    /// The period, when on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<u32>,
    /// When it next runs, when on.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub next_rotation_date: Option<Millis>,
}

/// `ListKeyRotations` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsRequest {
    /// The key.
    pub key_id: String,
    /// Page size, 1 to 1000; 100 when absent.
    #[serde(default)]
    pub limit: Option<u32>,
    /// `NextMarker` of the previous page.
    #[serde(default)]
    pub marker: Option<String>,
}

/// One completed rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    /// The key's ARN.
    pub key_id: String,
    /// When.
    #[serde(with = "epoch_seconds")]
    pub rotation_date: Millis,
    /// `AUTOMATIC` or `ON_DEMAND`.
    pub rotation_type: RotationType,
    /// Lakeseal's extension: the version the rotation made primary.
    pub key_version: u32,
}

/// `ListKeyRotations` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyRotationsResponse {
    /// This page, oldest first.
    pub rotations: Vec<RotationsListEntry>,
    /// Where the next page starts, when `truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether there is another page.
    pub truncated: bool,
}
