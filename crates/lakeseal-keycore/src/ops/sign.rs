//! `Sign` and `Verify`: digital signatures under an asymmetric key of usage `SIGN_VERIFY`.

use tracing::instrument;

use crate::asymmetric::Message;
use crate::core::KeyEntry;
use crate::key_spec::SigningAlgorithm;
use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::sign::{
    MAX_MESSAGE_BYTES, SignRequest, SignResponse, VerifyRequest, VerifyResponse,
};

/// The message as `MessageType` says to read it.
fn message<'a>(bytes: &'a [u8], message_type: Option<&str>) -> Result<Message<'a>> {
    match message_type.unwrap_or("RAW") {
        "RAW" if (1..=MAX_MESSAGE_BYTES).contains(&bytes.len()) => Ok(Message::Raw(bytes)),
        "RAW" => Err(Error::Validation(format!(
            "Message is {} bytes: a RAW message is 1 to {MAX_MESSAGE_BYTES}; sign a longer one \
             as a DIGEST",
            bytes.len()
        ))),
        "DIGEST" => Ok(Message::Digest(bytes)),
        other => Err(Error::Validation(format!(
            "MessageType {other} is not known; use RAW or DIGEST"
        ))),
    }
}

/// The algorithm named, if the key allows it.
fn algorithm(entry: &KeyEntry, name: &str) -> Result<SigningAlgorithm> {
    let alg = SigningAlgorithm::parse(name)?;
    let record = &entry.record;
    if !record
        .key_spec
        .signing_algorithms(record.key_usage)
        .contains(&alg)
    {
        return Err(Error::InvalidKeyUsage(format!(
            "{} is not a signing algorithm of this {} key",
            alg.as_str(),
            record.key_spec.as_str()
        )));
    }
    Ok(alg)
}

impl KeyCore {
    /// Signs a message or digest.
    #[instrument(skip_all, fields(key = %req.key_id))]
    pub async fn sign(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: SignRequest,
    ) -> Result<SignResponse> {
        let mut call = self.call("Sign", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let message = message(&req.message, req.message_type.as_deref())?;
            let state = self.read();
            let entry = self.resolve_for(&state, &req.key_id, KeyOperation::Sign, &mut call)?;
            let alg = algorithm(entry, &req.signing_algorithm)?;
            call.event.key_version = Some(1);
            Ok(SignResponse {
                key_id: call.event.key_arn.clone().unwrap_or_default(),
                signature: entry.key_pair()?.sign(alg, message)?,
                signing_algorithm: alg.as_str().to_owned(),
            })
        });
        self.finish(call, result).await
    }

    /// Checks a signature: `SignatureValid` true, or `KMSInvalidSignatureException`.
    #[instrument(skip_all, fields(key = %req.key_id))]
    pub async fn verify(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: VerifyRequest,
    ) -> Result<VerifyResponse> {
        let mut call = self.call("Verify", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let message = message(&req.message, req.message_type.as_deref())?;
            let state = self.read();
            let entry = self.resolve_for(&state, &req.key_id, KeyOperation::Verify, &mut call)?;
            let alg = algorithm(entry, &req.signing_algorithm)?;
            call.event.key_version = Some(1);
            if !entry.key_pair()?.verify(alg, message, &req.signature)? {
                return Err(Error::InvalidSignature);
            }
            Ok(VerifyResponse {
                key_id: call.event.key_arn.clone().unwrap_or_default(),
                signature_valid: true,
                signing_algorithm: alg.as_str().to_owned(),
            })
        });
        self.finish(call, result).await
    }
}
