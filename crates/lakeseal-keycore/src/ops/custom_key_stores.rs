//! `DescribeCustomKeyStores`: the PKCS#11 key stores from the server's configuration, with
//! their connection state.

use super::page;
use crate::hsm::ConnectionState;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::custom_key_stores::{
    CustomKeyStoresListEntry, DescribeCustomKeyStoresRequest, DescribeCustomKeyStoresResponse,
};

impl KeyCore {
    /// Describes the configured key stores (one, when an id or a name is given). Describing
    /// retries a failed store's connection when a retry is due, so an operator who fixed the
    /// PIN file sees it connect.
    pub async fn describe_custom_key_stores(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: DescribeCustomKeyStoresRequest,
    ) -> Result<DescribeCustomKeyStoresResponse> {
        let call = self.call("DescribeCustomKeyStores", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, "kms:DescribeCustomKeyStores")?;
            let stores: Vec<_> = self
                .inner
                .key_stores
                .all()
                .iter()
                .filter(|s| {
                    req.custom_key_store_id
                        .as_ref()
                        .is_none_or(|id| *id == s.config().id)
                        && req
                            .custom_key_store_name
                            .as_ref()
                            .is_none_or(|name| *name == s.config().name)
                })
                .collect();
            if stores.is_empty()
                && (req.custom_key_store_id.is_some() || req.custom_key_store_name.is_some())
            {
                return Err(Error::CustomKeyStoreNotFound(
                    "no custom key store has that id or name".into(),
                ));
            }
            let entries = stores.into_iter().map(|store| {
                let config = store.config();
                let (connection_state, connection_error_code) =
                    match crate::hsm::blocking(|| store.state()) {
                        ConnectionState::Connected => ("CONNECTED", None),
                        ConnectionState::Failed { code, .. } => ("FAILED", Some(code.to_owned())),
                    };
                (
                    &config.id,
                    CustomKeyStoresListEntry {
                        custom_key_store_id: config.id.clone(),
                        custom_key_store_name: config.name.clone(),
                        custom_key_store_type: "AWS_CLOUDHSM".into(),
                        cloud_hsm_cluster_id: config.token_label.clone(),
                        connection_state: connection_state.into(),
                        connection_error_code,
                        creation_date: store.since(),
                    },
                )
            });
            let (custom_key_stores, next_marker) = page(entries, req.marker.as_deref(), req.limit)?;
            Ok(DescribeCustomKeyStoresResponse {
                custom_key_stores,
                truncated: next_marker.is_some(),
                next_marker,
            })
        });
        self.finish(call, result).await
    }
}
