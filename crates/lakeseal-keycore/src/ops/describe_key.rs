//! `DescribeKey`, and the `KeyMetadata` shape other operations return too.

use serde::{Deserialize, Serialize};

use super::KeyIdRequest;
use crate::clock::Millis;
use crate::model::KeyRecord;
use crate::state::{KeyOperation, KeyState};
use crate::wire::{epoch_seconds, epoch_seconds_opt};
use crate::{KeyCore, Principal, RequestContext, Result};

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
    pub key_manager: String,
    pub customer_master_key_spec: String,
    pub key_spec: String,
    pub encryption_algorithms: Vec<String>,
    pub multi_region: bool,
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

impl KeyCore {
    pub(crate) fn metadata(&self, record: &KeyRecord) -> KeyMetadata {
        KeyMetadata {
            aws_account_id: self.location().account_id.clone(),
            key_id: record.key_id.clone(),
            arn: self.arn(&record.key_id),
            creation_date: record.creation_date,
            enabled: record.state == KeyState::Enabled,
            description: record.description.clone(),
            key_usage: "ENCRYPT_DECRYPT".into(),
            key_state: record.state,
            deletion_date: record.deletion_date,
            pending_deletion_window_in_days: record.pending_window_days,
            origin: "AWS_KMS".into(),
            key_manager: "CUSTOMER".into(),
            customer_master_key_spec: "SYMMETRIC_DEFAULT".into(),
            key_spec: "SYMMETRIC_DEFAULT".into(),
            encryption_algorithms: vec!["SYMMETRIC_DEFAULT".into()],
            multi_region: false,
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
