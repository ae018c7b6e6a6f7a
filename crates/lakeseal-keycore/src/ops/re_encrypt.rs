//! `ReEncrypt`: moves a blob to another key (or context) inside the key core; the plaintext
//! never leaves it.

use lakeseal_envelope::EncryptionContext;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::state::KeyOperation;
use crate::wire::b64;
use crate::{KeyCore, Principal, RequestContext, Result};

/// `ReEncrypt` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptRequest {
    /// The blob to move.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The context it was made with.
    #[serde(default)]
    pub source_encryption_context: EncryptionContext,
    /// When given, the blob must have been made under this key.
    #[serde(default)]
    pub source_key_id: Option<String>,
    /// The key to move it to.
    pub destination_key_id: String,
    /// The context to bind under the destination key.
    #[serde(default)]
    pub destination_encryption_context: EncryptionContext,
}

/// `ReEncrypt` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    /// The new blob.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The ARN of the key the blob came from.
    pub source_key_id: String,
    /// The ARN of the key it is now under.
    pub key_id: String,
}

impl KeyCore {
    /// Re-encrypts a blob under another key.
    #[instrument(skip_all, fields(destination = %req.destination_key_id))]
    pub async fn re_encrypt(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: ReEncryptRequest,
    ) -> Result<ReEncryptResponse> {
        let mut call = self.call("ReEncrypt", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            let (plaintext, source_arn) = self.open_blob(
                &state,
                &req.ciphertext_blob,
                &req.source_encryption_context,
                req.source_key_id.as_deref(),
                KeyOperation::ReEncryptFrom,
                &mut call,
            )?;
            call.event.source_key_arn = Some(source_arn.clone());
            call.event.key_arn = None;
            call.event.key_version = None;
            let blob = self.seal_with(
                &state,
                &req.destination_key_id,
                KeyOperation::ReEncryptTo,
                plaintext.expose_secret(),
                &req.destination_encryption_context,
                &mut call,
            )?;
            Ok(ReEncryptResponse {
                ciphertext_blob: blob,
                source_key_id: source_arn,
                key_id: call.event.key_arn.clone().unwrap_or_default(),
            })
        });
        self.finish(call, result).await
    }
}
