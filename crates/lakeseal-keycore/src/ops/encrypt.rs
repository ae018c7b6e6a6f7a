//! `Encrypt`: seals up to 4096 bytes under a customer master key.

use lakeseal_envelope::EncryptionContext;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::state::KeyOperation;
use crate::wire::{b64, secret_b64};
use crate::{Error, KeyCore, Principal, RequestContext, Result};
use lakeseal_envelope::SecretBytes;

/// The largest plaintext `Encrypt` takes, in bytes.
pub const MAX_ENCRYPT_BYTES: usize = 4096;

/// `Encrypt` request.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptRequest {
    /// The customer master key.
    pub key_id: String,
    /// 1 to 4096 bytes.
    #[serde(with = "secret_b64")]
    pub plaintext: SecretBytes,
    /// Bound to the ciphertext; needed again to decrypt it.
    #[serde(default)]
    pub encryption_context: EncryptionContext,
}

/// `Encrypt` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    /// The ARN of the key used.
    pub key_id: String,
    /// The ciphertext blob.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// Always `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: String,
}

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
