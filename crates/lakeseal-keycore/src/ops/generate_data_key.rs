//! `GenerateDataKey` and `GenerateDataKeyWithoutPlaintext`: a fresh data key, returned in plain
//! (unless without) and sealed under the primary version of a customer master key.

use lakeseal_envelope::{EncryptionContext, random_bytes};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::state::KeyOperation;
use crate::wire::{b64, secret_b64};
use crate::{Error, KeyCore, Principal, RequestContext, Result};
use lakeseal_envelope::SecretBytes;

/// The largest data key, in bytes.
pub const MAX_DATA_KEY_BYTES: u32 = 1024;

/// `GenerateDataKey` and `GenerateDataKeyWithoutPlaintext` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyRequest {
    /// The customer master key that wraps the data key.
    pub key_id: String,
    /// `AES_256` or `AES_128`; give this or `NumberOfBytes`.
    #[serde(default)]
    pub key_spec: Option<String>,
    /// 1 to 1024; give this or `KeySpec`.
    #[serde(default)]
    pub number_of_bytes: Option<u32>,
    /// Bound to the wrapped key; needed again to decrypt it.
    #[serde(default)]
    pub encryption_context: EncryptionContext,
}

impl GenerateDataKeyRequest {
    /// A request for an AES-256 data key.
    pub fn aes_256(key_id: impl Into<String>, encryption_context: EncryptionContext) -> Self {
        Self {
            key_id: key_id.into(),
            key_spec: Some("AES_256".into()),
            number_of_bytes: None,
            encryption_context,
        }
    }

    fn len(&self) -> Result<usize> {
        match (self.key_spec.as_deref(), self.number_of_bytes) {
            (Some("AES_256"), None) => Ok(32),
            (Some("AES_128"), None) => Ok(16),
            (Some(other), None) => Err(Error::Validation(format!(
                "KeySpec {other} is not supported; use AES_256 or AES_128"
            ))),
            (None, Some(n @ 1..=MAX_DATA_KEY_BYTES)) => Ok(n as usize),
            (None, Some(n)) => Err(Error::Validation(format!(
                "NumberOfBytes {n} is out of range: use 1 to {MAX_DATA_KEY_BYTES}"
            ))),
            (Some(_), Some(_)) => Err(Error::Validation(
                "give KeySpec or NumberOfBytes, not both".into(),
            )),
            (None, None) => Err(Error::Validation("give KeySpec or NumberOfBytes".into())),
        }
    }
}

/// `GenerateDataKey` response.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    /// The ARN of the key that wrapped the data key.
    pub key_id: String,
    /// The data key. Use it, then drop it: it zeroizes.
    #[serde(with = "secret_b64")]
    pub plaintext: SecretBytes,
    /// The data key sealed under the master key: store this beside the data.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
}

/// `GenerateDataKeyWithoutPlaintext` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyWithoutPlaintextResponse {
    /// The ARN of the key that wrapped the data key.
    pub key_id: String,
    /// The data key sealed under the master key.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
}

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
        let plaintext = random_bytes(req.len()?)?;
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
