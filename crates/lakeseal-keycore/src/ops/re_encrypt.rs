//! `ReEncrypt`: moves a blob to another key (or context) inside the key core; the plaintext
//! never leaves it.

use tracing::instrument;

use crate::state::KeyOperation;
use crate::{KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::re_encrypt::{ReEncryptRequest, ReEncryptResponse};

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
