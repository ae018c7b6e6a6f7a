//! `ReEncrypt`: moves a blob to another key (or context) inside the key core; the plaintext
//! never leaves it.

use lakeseal_envelope::EncryptionContext;
use serde::{Deserialize, Serialize};

use crate::wire::b64;

/// `ReEncrypt` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptRequest {
    /// The blob to move.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The context it was made with.
    #[serde(default)]
    pub source_encryption_context: EncryptionContext,
    /// When given, the blob must have been made under this key.
    #[serde(default)]
    pub source_key_id: Option<String>,
    /// The key to move it to.
    pub destination_key_id: String,
    /// The context to bind under the destination key.
    #[serde(default)]
    pub destination_encryption_context: EncryptionContext,
}

/// `ReEncrypt` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    /// The new blob.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The ARN of the key the blob came from.
    pub source_key_id: String,
    /// The ARN of the key it is now under.
    pub key_id: String,
}
