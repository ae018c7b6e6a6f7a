//! `Sign`, `Verify` and `GetPublicKey`: digital signatures under an asymmetric key, and the
//! public half of a key for whoever verifies or encrypts without the key core.

use serde::{Deserialize, Serialize};

use crate::wire::b64;

/// The largest message `Sign` and `Verify` take with `MessageType` `RAW`, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// `Sign` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignRequest {
    /// An asymmetric key of usage `SIGN_VERIFY`.
    pub key_id: String,
    /// The message (`RAW`, up to 4096 bytes) or its digest (`DIGEST`, exactly the digest's
    /// length).
    #[serde(with = "b64")]
    pub message: Vec<u8>,
    /// `RAW` (the default: the key core hashes the message) or `DIGEST`.
    #[serde(default)]
    pub message_type: Option<String>,
    /// One of the key's `SigningAlgorithms`.
    pub signing_algorithm: String,
}

/// `Sign` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SignResponse {
    /// The ARN of the key that signed.
    pub key_id: String,
    /// The signature: DER for ECDSA, the modulus' length for RSA.
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
    /// The algorithm used.
    pub signing_algorithm: String,
}

/// `Verify` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyRequest {
    /// The key that signed.
    pub key_id: String,
    /// As given to `Sign`.
    #[serde(with = "b64")]
    pub message: Vec<u8>,
    /// As given to `Sign`.
    #[serde(default)]
    pub message_type: Option<String>,
    /// The signature to check.
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
    /// The algorithm it was made with.
    pub signing_algorithm: String,
}

/// `Verify` response: only ever `true`; a signature that does not verify is
/// `KMSInvalidSignatureException`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VerifyResponse {
    /// The ARN of the key.
    pub key_id: String,
    /// `true`.
    pub signature_valid: bool,
    /// The algorithm checked.
    pub signing_algorithm: String,
}

/// `GetPublicKey` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    /// The ARN of the key.
    pub key_id: String,
    /// The DER-encoded X.509 `SubjectPublicKeyInfo`.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// As `DescribeKey` says.
    pub customer_master_key_spec: String,
    /// As `DescribeKey` says.
    pub key_spec: String,
    /// `SIGN_VERIFY` or `ENCRYPT_DECRYPT`.
    pub key_usage: String,
    /// For an `ENCRYPT_DECRYPT` key: the algorithms it allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithms: Option<Vec<String>>,
    /// For a `SIGN_VERIFY` key: the algorithms it allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_algorithms: Option<Vec<String>>,
}
