//! `Decrypt`: finds the key and version from the blob, checks the encryption context.

use tracing::instrument;

use crate::state::KeyOperation;
use crate::{KeyCore, Principal, RequestContext, Result};

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
            let state = self.read();
            let (plaintext, key_arn) = self.open_blob(
                &state,
                &req.ciphertext_blob,
                &req.encryption_context,
                req.key_id.as_deref(),
                KeyOperation::Decrypt,
                &mut call,
            )?;
            Ok(DecryptResponse {
                key_id: key_arn,
                plaintext,
                encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
            })
        });
        self.finish(call, result).await
    }
}
