//! `Encrypt`: seals up to 4096 bytes under a customer master key.

use tracing::instrument;

use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::encrypt::{EncryptRequest, EncryptResponse, MAX_ENCRYPT_BYTES};

impl KeyCore {
    /// Encrypts a small plaintext.
    #[instrument(skip_all, fields(key = %req.key_id))]
    pub async fn encrypt(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: EncryptRequest,
    ) -> Result<EncryptResponse> {
        let mut call = self.call("Encrypt", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let len = req.plaintext.len();
            if !(1..=MAX_ENCRYPT_BYTES).contains(&len) {
                return Err(Error::Validation(format!(
                    "Plaintext is {len} bytes: use 1 to {MAX_ENCRYPT_BYTES}"
                )));
            }
            let state = self.read();
            let blob = self.seal_with(
                &state,
                &req.key_id,
                KeyOperation::Encrypt,
                req.plaintext.expose_secret(),
                &req.encryption_context,
                &mut call,
            )?;
            Ok(EncryptResponse {
                key_id: call.event.key_arn.clone().unwrap_or_default(),
                ciphertext_blob: blob,
                encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
            })
        });
        self.finish(call, result).await
    }
}
