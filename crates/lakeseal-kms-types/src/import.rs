//! Bring your own key: `GetParametersForImport`, `ImportKeyMaterial` and
//! `DeleteImportedKeyMaterial`, for keys created with `Origin` `EXTERNAL`.

use serde::{Deserialize, Serialize};

use crate::Millis;
use crate::wire::{b64, epoch_seconds, epoch_seconds_opt};

/// `GetParametersForImport` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportRequest {
    /// A key of origin `EXTERNAL`.
    pub key_id: String,
    /// `RSAES_OAEP_SHA_1`, `RSAES_OAEP_SHA_256`, `RSA_AES_KEY_WRAP_SHA_1` or
    /// `RSA_AES_KEY_WRAP_SHA_256`.
    pub wrapping_algorithm: String,
    /// `RSA_2048`, `RSA_3072` or `RSA_4096`.
    pub wrapping_key_spec: String,
}

/// `GetParametersForImport` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetParametersForImportResponse {
    /// The key's ARN.
    pub key_id: String,
    /// Opaque; given back to `ImportKeyMaterial`, bound to the key, the wrapping key and the
    /// algorithm.
    #[serde(with = "b64")]
    pub import_token: Vec<u8>,
    /// The wrapping key's DER `SubjectPublicKeyInfo`.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// When the token and the wrapping key stop working (24 hours on).
    #[serde(with = "epoch_seconds")]
    pub parameters_valid_to: Millis,
}

/// `ImportKeyMaterial` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportKeyMaterialRequest {
    /// The key the token was made for.
    pub key_id: String,
    /// From `GetParametersForImport`.
    #[serde(with = "b64")]
    pub import_token: Vec<u8>,
    /// The key material wrapped under the wrapping key with the token's algorithm.
    #[serde(with = "b64")]
    pub encrypted_key_material: Vec<u8>,
    /// `KEY_MATERIAL_DOES_NOT_EXPIRE` or `KEY_MATERIAL_EXPIRES` (the default, as in AWS KMS;
    /// it needs `ValidTo`).
    #[serde(default)]
    pub expiration_model: Option<String>,
    /// When the material expires and the key returns to `PendingImport`.
    #[serde(
        with = "epoch_seconds_opt",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_to: Option<Millis>,
}
