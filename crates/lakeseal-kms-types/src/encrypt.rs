//! `Encrypt`: seals up to 4096 bytes under a customer master key.

use lakeseal_envelope::{EncryptionContext, SecretBytes};
use serde::{Deserialize, Serialize};

use crate::wire::{b64, secret_b64};

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
    /// Bound to the ciphertext; needed again to decrypt it (symmetric keys only).
    #[serde(default)]
    pub encryption_context: EncryptionContext,
    /// `SYMMETRIC_DEFAULT` (the default), or `RSAES_OAEP_SHA_1` / `RSAES_OAEP_SHA_256` for an
    /// RSA key of usage `ENCRYPT_DECRYPT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
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
    /// The algorithm used.
    pub encryption_algorithm: String,
}
