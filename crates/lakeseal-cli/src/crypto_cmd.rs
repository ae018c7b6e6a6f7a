//! `lakeseal crypto …` against a data directory: data keys, encrypt and decrypt, sign and
//! verify, with the `aws kms` flags and response members.

use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::encrypt::EncryptRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::ops::generate_random::GenerateRandomRequest;
use lakeseal_keycore::ops::re_encrypt::ReEncryptRequest;
use lakeseal_keycore::ops::sign::{SignRequest, VerifyRequest};

use crate::args::{self, CryptoCmd};
use crate::output::Output;
use crate::{Session, emit};

pub(crate) async fn crypto(s: &Session, cmd: CryptoCmd, out: Output) -> anyhow::Result<()> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    match cmd {
        CryptoCmd::GenerateDataKey(a) => emit(out, c.generate_data_key(w, x, a.into()).await),
        CryptoCmd::GenerateDataKeyWithoutPlaintext(a) => {
            let req: GenerateDataKeyRequest = a.into();
            emit(out, c.generate_data_key_without_plaintext(w, x, req).await)
        }
        CryptoCmd::Encrypt(a) => {
            let req = EncryptRequest {
                encryption_algorithm: a.encryption_algorithm,
                key_id: a.key_id,
                plaintext: a.plaintext.bytes("--plaintext")?,
                encryption_context: a.encryption_context.unwrap_or_default(),
            };
            emit(out, c.encrypt(w, x, req).await)
        }
        CryptoCmd::Sign(a) => {
            let req = SignRequest {
                key_id: a.key_id,
                message: a.message.secret("--message")?.expose_secret().to_vec(),
                message_type: a.message_type,
                signing_algorithm: a.signing_algorithm,
            };
            emit(out, c.sign(w, x, req).await)
        }
        CryptoCmd::Verify(a) => {
            let req = VerifyRequest {
                key_id: a.key_id,
                message: a.message.secret("--message")?.expose_secret().to_vec(),
                message_type: a.message_type,
                signature: a.signature.secret("--signature")?.expose_secret().to_vec(),
                signing_algorithm: a.signing_algorithm,
            };
            emit(out, c.verify(w, x, req).await)
        }
        CryptoCmd::GetPublicKey(a) => emit(
            out,
            c.get_public_key(w, x, KeyIdRequest::new(a.key_id)).await,
        ),
        CryptoCmd::Decrypt(a) => {
            let req = DecryptRequest {
                encryption_algorithm: a.encryption_algorithm,
                ciphertext_blob: a
                    .ciphertext_blob
                    .bytes("--ciphertext-blob")?
                    .expose_secret()
                    .to_vec(),
                encryption_context: a.encryption_context.unwrap_or_default(),
                key_id: a.key_id,
            };
            emit(out, c.decrypt(w, x, req).await)
        }
        CryptoCmd::ReEncrypt(a) => {
            let req = ReEncryptRequest {
                ciphertext_blob: a
                    .ciphertext_blob
                    .bytes("--ciphertext-blob")?
                    .expose_secret()
                    .to_vec(),
                source_encryption_context: a.source_encryption_context.unwrap_or_default(),
                source_key_id: a.source_key_id,
                destination_key_id: a.destination_key_id,
                destination_encryption_context: a
                    .destination_encryption_context
                    .unwrap_or_default(),
            };
            emit(out, c.re_encrypt(w, x, req).await)
        }
        CryptoCmd::GenerateRandom(a) => {
            let req = GenerateRandomRequest {
                number_of_bytes: a.number_of_bytes,
            };
            emit(out, c.generate_random(w, x, req).await)
        }
    }
}

impl From<args::DataKeyArgs> for GenerateDataKeyRequest {
    fn from(a: args::DataKeyArgs) -> Self {
        GenerateDataKeyRequest {
            key_id: a.key_id,
            key_spec: a.key_spec,
            number_of_bytes: a.number_of_bytes,
            encryption_context: a.encryption_context.unwrap_or_default(),
        }
    }
}
