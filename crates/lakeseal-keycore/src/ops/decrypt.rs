//! `Decrypt`: finds the key and version from the blob, checks the encryption context.

use lakeseal_envelope::EncryptionContext;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::state::KeyOperation;
use crate::wire::{b64, secret_b64};
use crate::{KeyCore, Principal, RequestContext, Result};
use lakeseal_envelope::SecretBytes;

/// `Decrypt` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptRequest {
    /// The blob from `Encrypt`, `GenerateDataKey` or `ReEncrypt`.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// Exactly the context it was made with.
    #[serde(default)]
    pub encryption_context: EncryptionContext,
    /// When given, the blob must have been made under this key (`IncorrectKeyException`).
    #[serde(default)]
    pub key_id: Option<String>,
}

/// `Decrypt` response.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    /// The ARN of the key that decrypted.
    pub key_id: String,
    /// The plaintext; zeroized on drop.
    #[serde(with = "secret_b64")]
    pub plaintext: SecretBytes,
    /// Always `SYMMETRIC_DEFAULT`.
    pub encryption_algorithm: String,
}

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
