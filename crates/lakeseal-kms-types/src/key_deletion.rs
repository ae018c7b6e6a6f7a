//! `ScheduleKeyDeletion` and `CancelKeyDeletion`.

use serde::{Deserialize, Serialize};

use crate::wire::epoch_seconds;
use crate::{KeyState, Millis};

/// `ScheduleKeyDeletion` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionRequest {
    /// The key.
    pub key_id: String,
    /// 7 to 30; 30 when absent.
    #[serde(default)]
    pub pending_window_in_days: Option<u32>,
}

/// `ScheduleKeyDeletion` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    /// The key's ARN.
    pub key_id: String,
    /// When its material will be destroyed.
    #[serde(with = "epoch_seconds")]
    pub deletion_date: Millis,
    /// `PendingDeletion`.
    pub key_state: KeyState,
    /// The window in days.
    pub pending_window_in_days: u32,
}

/// `CancelKeyDeletion` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CancelKeyDeletionResponse {
    /// The key's ARN.
    pub key_id: String,
}
