//! `GenerateRandom`: bytes from the key core's random number generator.

use serde::{Deserialize, Serialize};

use crate::wire::secret_b64;
use crate::{Error, KeyCore, Principal, RequestContext, Result};
use lakeseal_envelope::SecretBytes;

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

impl KeyCore {
    /// Returns random bytes.
    pub async fn generate_random(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse> {
        let call = self.call("GenerateRandom", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let n = req.number_of_bytes;
            if !(1..=1024).contains(&n) {
                return Err(Error::Validation(format!(
                    "NumberOfBytes {n} is out of range: use 1 to 1024"
                )));
            }
            self.authorize_account(&self.read(), &call, "kms:GenerateRandom")?;
            Ok(GenerateRandomResponse {
                plaintext: lakeseal_envelope::random_bytes(n as usize)?,
            })
        });
        self.finish(call, result).await
    }
}
