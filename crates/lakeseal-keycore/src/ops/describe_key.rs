//! `DescribeKey`, and the `KeyMetadata` shape other operations return too.

use super::KeyIdRequest;
use crate::key_spec::{EncryptionAlgorithm, Origin, SigningAlgorithm, names};
use crate::model::KeyRecord;
use crate::state::{KeyOperation, KeyState};
use crate::{KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::describe_key::{DescribeKeyResponse, KeyMetadata};

impl KeyCore {
    pub(crate) fn metadata(&self, record: &KeyRecord) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: self.location().account_id.clone(),
            key_id: record.key_id.clone(),
            arn: self.arn(&record.key_id),
            creation_date: record.creation_date,
            enabled: record.state == KeyState::Enabled,
            description: record.description.clone(),
            key_usage: record.key_usage.as_str().into(),
            key_state: record.state,
            deletion_date: record.deletion_date,
            pending_deletion_window_in_days: record.pending_window_days,
            origin: record.origin.as_str().into(),
            expiration_model: (record.origin == Origin::External
                && record.state != KeyState::PendingImport)
                .then(|| {
                    if record.valid_to.is_some() {
                        "KEY_MATERIAL_EXPIRES"
                    } else {
                        "KEY_MATERIAL_DOES_NOT_EXPIRE"
                    }
                    .to_owned()
                }),
            valid_to: record.valid_to,
            key_manager: "CUSTOMER".into(),
            customer_master_key_spec: record.key_spec.as_str().into(),
            key_spec: record.key_spec.as_str().into(),
            encryption_algorithms: names(
                record.key_spec.encryption_algorithms(record.key_usage),
                EncryptionAlgorithm::as_str,
            ),
            signing_algorithms: names(
                record.key_spec.signing_algorithms(record.key_usage),
                SigningAlgorithm::as_str,
            ),
            multi_region: false,
            custom_key_store_id: record.custom_key_store_id.clone(),
            cloud_hsm_cluster_id: record
                .custom_key_store_id
                .as_deref()
                .and_then(|id| self.inner.key_stores.get(id))
                .map(|store| store.config().token_label.clone()),
            primary_key_version: record.primary_version,
        }
    }

    /// Describes a key.
    pub async fn describe_key(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<DescribeKeyResponse> {
        let mut call = self.call("DescribeKey", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            let entry =
                self.resolve_for(&state, &req.key_id, KeyOperation::DescribeKey, &mut call)?;
            Ok(DescribeKeyResponse {
                key_metadata: self.metadata(&entry.record),
            })
        });
        self.finish(call, result).await
    }
}
