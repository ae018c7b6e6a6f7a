//! `Encrypt`: seals up to 4096 bytes under a symmetric customer master key, or encrypts under an
//! RSA key's public half with OAEP.

use tracing::instrument;

use lakeseal_envelope::EncryptionContext;

use crate::core::KeyEntry;
use crate::key_spec::EncryptionAlgorithm;
use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::encrypt::{EncryptRequest, EncryptResponse, MAX_ENCRYPT_BYTES};

impl KeyCore {
    /// Encrypts a small plaintext.
    #[instrument(skip_all, fields(key = %req.key_id))]
    pub async fn encrypt(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: EncryptRequest,
    ) -> Result<EncryptResponse> {
        let mut call = self.call("Encrypt", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let len = req.plaintext.len();
            if !(1..=MAX_ENCRYPT_BYTES).contains(&len) {
                return Err(Error::Validation(format!(
                    "Plaintext is {len} bytes: use 1 to {MAX_ENCRYPT_BYTES}"
                )));
            }
            let alg = EncryptionAlgorithm::parse(req.encryption_algorithm.as_deref())?;
            let state = self.read();
            let ciphertext_blob = if alg == EncryptionAlgorithm::SymmetricDefault {
                self.seal_with(
                    &state,
                    &req.key_id,
                    KeyOperation::Encrypt,
                    req.plaintext.expose_secret(),
                    &req.encryption_context,
                    &mut call,
                )?
            } else {
                refuse_context(&req.encryption_context)?;
                let entry =
                    self.resolve_for(&state, &req.key_id, KeyOperation::Encrypt, &mut call)?;
                check_algorithm(entry, alg)?;
                call.event.key_version = Some(1);
                entry
                    .key_pair()?
                    .software()?
                    .encrypt(alg, req.plaintext.expose_secret())?
            };
            Ok(EncryptResponse {
                key_id: call.event.key_arn.clone().unwrap_or_default(),
                ciphertext_blob,
                encryption_algorithm: alg.as_str().into(),
            })
        });
        self.finish(call, result).await
    }
}

/// Refuses an algorithm the key does not list (`SYMMETRIC_DEFAULT` on an RSA key is refused
/// before this, when the key has no symmetric version).
pub(crate) fn check_algorithm(entry: &KeyEntry, alg: EncryptionAlgorithm) -> Result<()> {
    let record = &entry.record;
    if record
        .key_spec
        .encryption_algorithms(record.key_usage)
        .contains(&alg)
    {
        return Ok(());
    }
    Err(Error::InvalidKeyUsage(format!(
        "{} is not an encryption algorithm of this {} key",
        alg.as_str(),
        record.key_spec.as_str()
    )))
}

/// An encryption context binds only symmetric ciphertexts; refusing one given with RSA keeps a
/// caller from believing it is bound when it is not.
pub(crate) fn refuse_context(context: &EncryptionContext) -> Result<()> {
    if context.is_empty() {
        return Ok(());
    }
    Err(Error::Validation(
        "an encryption context is supported only with SYMMETRIC_DEFAULT; RSA ciphertexts do \
         not carry one"
            .into(),
    ))
}
