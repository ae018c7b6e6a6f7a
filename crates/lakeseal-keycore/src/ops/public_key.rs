//! `GetPublicKey`: the public half of an asymmetric key, for whoever verifies signatures or
//! encrypts without calling the key core (a device in the field).

use super::KeyIdRequest;
use crate::key_spec::{EncryptionAlgorithm, SigningAlgorithm, names};
use crate::state::KeyOperation;
use crate::{KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::sign::GetPublicKeyResponse;

impl KeyCore {
    /// The DER `SubjectPublicKeyInfo` of an asymmetric key, with what the key may be used for.
    pub async fn get_public_key(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<GetPublicKeyResponse> {
        let mut call = self.call("GetPublicKey", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            let entry =
                self.resolve_for(&state, &req.key_id, KeyOperation::GetPublicKey, &mut call)?;
            let record = &entry.record;
            Ok(GetPublicKeyResponse {
                key_id: self.arn(&record.key_id),
                public_key: entry.key_pair()?.public_key_der()?.to_vec(),
                customer_master_key_spec: record.key_spec.as_str().to_owned(),
                key_spec: record.key_spec.as_str().to_owned(),
                key_usage: record.key_usage.as_str().to_owned(),
                encryption_algorithms: names(
                    record.key_spec.encryption_algorithms(record.key_usage),
                    EncryptionAlgorithm::as_str,
                ),
                signing_algorithms: names(
                    record.key_spec.signing_algorithms(record.key_usage),
                    SigningAlgorithm::as_str,
                ),
            })
        });
        self.finish(call, result).await
    }
}
