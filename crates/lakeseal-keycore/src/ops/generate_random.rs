//! `GenerateRandom`: bytes from the key core's random number generator.

use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::generate_random::{GenerateRandomRequest, GenerateRandomResponse};

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
