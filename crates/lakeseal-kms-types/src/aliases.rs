//! `CreateAlias`, `UpdateAlias`, `DeleteAlias`, `ListAliases`.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::wire::epoch_seconds;

/// `CreateAlias` and `UpdateAlias` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasRequest {
    /// `alias/...`.
    pub alias_name: String,
    /// The key id or key ARN it points at (not another alias).
    pub target_key_id: String,
}

/// `DeleteAlias` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteAliasRequest {
    /// `alias/...`.
    pub alias_name: String,
}

/// `ListAliases` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListAliasesRequest {
    /// Only the aliases of this key.
    pub key_id: Option<String>,
    /// Page size, 1 to 1000; 100 when absent.
    pub limit: Option<u32>,
    /// `NextMarker` of the previous page.
    pub marker: Option<String>,
}

/// One alias in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    /// `alias/...`.
    pub alias_name: String,
    /// Its ARN.
    pub alias_arn: String,
    /// The key id it points at.
    pub target_key_id: String,
    /// When it was created.
    #[serde(with = "epoch_seconds")]
    pub creation_date: Millis,
    /// When it was last pointed elsewhere.
    #[serde(with = "epoch_seconds")]
    pub last_updated_date: Millis,
}

/// `ListAliases` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    /// This page.
    pub aliases: Vec<AliasListEntry>,
    /// Where the next page starts, when `truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether there is another page.
    pub truncated: bool,
}
