//! `GenerateRandom`: bytes from the key core's random number generator.

use lakeseal_envelope::SecretBytes;
use serde::{Deserialize, Serialize};

use crate::wire::secret_b64;

/// `GenerateRandom` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomRequest {
    /// 1 to 1024.
    pub number_of_bytes: u32,
}

/// `GenerateRandom` response.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    /// The bytes (callers often use them as keys, so they are treated as secret).
    #[serde(with = "secret_b64")]
    pub plaintext: SecretBytes,
}
