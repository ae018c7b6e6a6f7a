//! `Decrypt`: finds the key and version from the blob, checks the encryption context.

use lakeseal_envelope::{EncryptionContext, SecretBytes};
use serde::{Deserialize, Serialize};

use crate::wire::{b64, secret_b64};

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
    /// Required for an RSA ciphertext, which does not name its key.
    #[serde(default)]
    pub key_id: Option<String>,
    /// `SYMMETRIC_DEFAULT` (the default), or the `RSAES_OAEP_*` algorithm it was encrypted
    /// with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<String>,
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
    /// The algorithm used.
    pub encryption_algorithm: String,
}
