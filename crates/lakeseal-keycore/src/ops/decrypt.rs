//! `Decrypt`: finds the key and version from the blob and checks the encryption context; or
//! decrypts an RSA OAEP ciphertext under the key the caller names.

use tracing::instrument;

use super::encrypt::{check_algorithm, refuse_context};
use crate::key_spec::EncryptionAlgorithm;
use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::decrypt::{DecryptRequest, DecryptResponse};

impl KeyCore {
    /// Decrypts a blob.
    #[instrument(skip_all)]
    pub async fn decrypt(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: DecryptRequest,
    ) -> Result<DecryptResponse> {
        let mut call = self.call("Decrypt", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let alg = EncryptionAlgorithm::parse(req.encryption_algorithm.as_deref())?;
            let state = self.read();
            let (plaintext, key_id) = if alg == EncryptionAlgorithm::SymmetricDefault {
                self.open_blob(
                    &state,
                    &req.ciphertext_blob,
                    &req.encryption_context,
                    req.key_id.as_deref(),
                    KeyOperation::Decrypt,
                    &mut call,
                )?
            } else {
                refuse_context(&req.encryption_context)?;
                let key_id = req.key_id.as_deref().ok_or_else(|| {
                    Error::Validation(format!(
                        "KeyId is required with {}: an RSA ciphertext does not name its key",
                        alg.as_str()
                    ))
                })?;
                let entry = self.resolve_for(&state, key_id, KeyOperation::Decrypt, &mut call)?;
                check_algorithm(entry, alg)?;
                call.event.key_version = Some(1);
                let plaintext = entry
                    .key_pair()?
                    .software()?
                    .decrypt(alg, &req.ciphertext_blob)?;
                (plaintext, self.arn(&entry.record.key_id))
            };
            Ok(DecryptResponse {
                key_id,
                plaintext,
                encryption_algorithm: alg.as_str().into(),
            })
        });
        self.finish(call, result).await
    }
}
