//! `GenerateDataKey` and `GenerateDataKeyWithoutPlaintext`: a fresh data key, returned in plain
//! (unless without) and sealed under the primary version of a customer master key.

use lakeseal_envelope::random_bytes;
use tracing::instrument;

use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};
use lakeseal_envelope::SecretBytes;

pub use lakeseal_kms_types::generate_data_key::{
    GenerateDataKeyRequest, GenerateDataKeyResponse, GenerateDataKeyWithoutPlaintextResponse,
    MAX_DATA_KEY_BYTES,
};

impl KeyCore {
    /// Makes a data key; returns it and its sealed form.
    #[instrument(skip_all, fields(key = %req.key_id))]
    pub async fn generate_data_key(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse> {
        let mut call = self.call("GenerateDataKey", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let (plaintext, ciphertext_blob, key_id) =
                self.new_data_key(&req, KeyOperation::GenerateDataKey, &mut call)?;
            Ok(GenerateDataKeyResponse {
                key_id,
                plaintext,
                ciphertext_blob,
            })
        });
        self.finish(call, result).await
    }

    /// Makes a data key; returns only its sealed form.
    #[instrument(skip_all, fields(key = %req.key_id))]
    pub async fn generate_data_key_without_plaintext(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse> {
        let mut call = self.call("GenerateDataKeyWithoutPlaintext", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let (_, ciphertext_blob, key_id) = self.new_data_key(
                &req,
                KeyOperation::GenerateDataKeyWithoutPlaintext,
                &mut call,
            )?;
            Ok(GenerateDataKeyWithoutPlaintextResponse {
                key_id,
                ciphertext_blob,
            })
        });
        self.finish(call, result).await
    }

    /// A fresh data key, its blob under the key's primary version, and the key's ARN.
    fn new_data_key(
        &self,
        req: &GenerateDataKeyRequest,
        op: KeyOperation,
        call: &mut crate::core::Call<'_>,
    ) -> Result<(SecretBytes, Vec<u8>, String)> {
        let plaintext = random_bytes(req.data_key_len().map_err(Error::Validation)?)?;
        let state = self.read();
        let blob = self.seal_with(
            &state,
            &req.key_id,
            op,
            plaintext.expose_secret(),
            &req.encryption_context,
            call,
        )?;
        Ok((
            plaintext,
            blob,
            call.event.key_arn.clone().unwrap_or_default(),
        ))
    }
}
