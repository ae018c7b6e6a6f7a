//! `ListKeys`, paginated.

use super::page;
use crate::{KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::list_keys::{KeyListEntry, ListKeysRequest, ListKeysResponse};

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
