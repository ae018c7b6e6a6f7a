//! `GenerateDataKey` and `GenerateDataKeyWithoutPlaintext`: a fresh data key, returned in plain
//! (unless without) and sealed under the primary version of a customer master key.

use lakeseal_envelope::{EncryptionContext, SecretBytes};
use serde::{Deserialize, Serialize};

use crate::wire::{b64, secret_b64};

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

    /// The data key's length in bytes, or why the request does not say one: exactly one of
    /// `KeySpec` and `NumberOfBytes`, in range.
    pub fn data_key_len(&self) -> Result<usize, String> {
        match (self.key_spec.as_deref(), self.number_of_bytes) {
            (Some("AES_256"), None) => Ok(32),
            (Some("AES_128"), None) => Ok(16),
            (Some(other), None) => Err(format!(
                "KeySpec {other} is not supported; use AES_256 or AES_128"
            )),
            (None, Some(n @ 1..=MAX_DATA_KEY_BYTES)) => Ok(n as usize),
            (None, Some(n)) => Err(format!(
                "NumberOfBytes {n} is out of range: use 1 to {MAX_DATA_KEY_BYTES}"
            )),
            (Some(_), Some(_)) => Err("give KeySpec or NumberOfBytes, not both".into()),
            (None, None) => Err("give KeySpec or NumberOfBytes".into()),
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
