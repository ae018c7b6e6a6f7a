//! `ListKeys`, paginated.

use serde::{Deserialize, Serialize};

use super::page;
use crate::{KeyCore, Principal, RequestContext, Result};

/// `ListKeys` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListKeysRequest {
    /// Page size, 1 to 1000; 100 when absent.
    pub limit: Option<u32>,
    /// `NextMarker` of the previous page.
    pub marker: Option<String>,
}

/// One key in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    /// The key id.
    pub key_id: String,
    /// The key ARN.
    pub key_arn: String,
}

/// `ListKeys` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    /// This page.
    pub keys: Vec<KeyListEntry>,
    /// Where the next page starts, when `truncated`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether there is another page.
    pub truncated: bool,
}

impl KeyCore {
    /// Lists keys (including keys pending deletion, as AWS does), in key id order.
    pub async fn list_keys(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: ListKeysRequest,
    ) -> Result<ListKeysResponse> {
        let call = self.call("ListKeys", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            self.authorize_account(&state, &call, "kms:ListKeys")?;
            let entries = state.keys.keys().map(|id| {
                (
                    id,
                    KeyListEntry {
                        key_id: id.clone(),
                        key_arn: self.arn(id),
                    },
                )
            });
            let (keys, next_marker) = page(entries, req.marker.as_deref(), req.limit)?;
            Ok(ListKeysResponse {
                keys,
                truncated: next_marker.is_some(),
                next_marker,
            })
        });
        self.finish(call, result).await
    }
}
