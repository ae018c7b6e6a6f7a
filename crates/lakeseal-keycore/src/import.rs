//! Bring your own key: the wrapping keys and import tokens of `GetParametersForImport`, and
//! unwrapping what `ImportKeyMaterial` brings.
//!
//! An import token is self-contained: the fresh RSA wrapping key's PKCS#8, its spec, the
//! wrapping algorithm and the end of its 24 hours, sealed under the root key with the key's id
//! in the encryption context. So the key core keeps no state between the two calls; a token
//! that was altered, or made for another key, does not open (`InvalidImportTokenException`); and
//! its expiry is read from inside the seal, on the key core's clock.
//!
//! Material is wrapped as AWS KMS does it: `RSAES_OAEP_SHA_*` is RSA-OAEP of the material
//! itself (32 bytes for a symmetric key); `RSA_AES_KEY_WRAP_SHA_*` is RSA-OAEP of a fresh
//! AES-256 key, followed by the material under AES key wrap with padding (RFC 5649) — for
//! asymmetric private keys (PKCS#8), too large for OAEP alone.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    PrivateDecryptingKey,
};
use lakeseal_envelope::{EncryptionContext, SealingKey, SecretBytes};
use sha2::{Digest, Sha256};

use crate::clock::Millis;
use crate::{Error, Result};

/// How long import parameters work: 24 hours, as in AWS KMS.
pub const TOKEN_LIFETIME_MS: Millis = 24 * 60 * 60 * 1000;

/// How the material is wrapped for the journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WrappingAlgorithm {
    /// RSA-OAEP (SHA-1) of the material.
    RsaesOaepSha1,
    /// RSA-OAEP (SHA-256) of the material.
    RsaesOaepSha256,
    /// RSA-OAEP (SHA-1) of an AES-256 key, then the material under AES-KWP.
    RsaAesKeyWrapSha1,
    /// RSA-OAEP (SHA-256) of an AES-256 key, then the material under AES-KWP.
    RsaAesKeyWrapSha256,
}

const ALGORITHMS: [WrappingAlgorithm; 4] = [
    WrappingAlgorithm::RsaesOaepSha1,
    WrappingAlgorithm::RsaesOaepSha256,
    WrappingAlgorithm::RsaAesKeyWrapSha1,
    WrappingAlgorithm::RsaAesKeyWrapSha256,
];

const SPECS: [(&str, KeySize); 3] = [
    ("RSA_2048", KeySize::Rsa2048),
    ("RSA_3072", KeySize::Rsa3072),
    ("RSA_4096", KeySize::Rsa4096),
];

impl WrappingAlgorithm {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WrappingAlgorithm::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            WrappingAlgorithm::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
            WrappingAlgorithm::RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
            WrappingAlgorithm::RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        }
    }

    /// The algorithm a wire name names.
    pub fn parse(name: &str) -> Result<Self> {
        ALGORITHMS
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| {
                Error::Validation(format!(
                    "WrappingAlgorithm {name} is not supported; use one of {}",
                    ALGORITHMS.map(WrappingAlgorithm::as_str).join(", ")
                ))
            })
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            WrappingAlgorithm::RsaesOaepSha1 | WrappingAlgorithm::RsaAesKeyWrapSha1 => {
                &OAEP_SHA1_MGF1SHA1
            }
            WrappingAlgorithm::RsaesOaepSha256 | WrappingAlgorithm::RsaAesKeyWrapSha256 => {
                &OAEP_SHA256_MGF1SHA256
            }
        }
    }

    fn aes_key_wrap(self) -> bool {
        matches!(
            self,
            WrappingAlgorithm::RsaAesKeyWrapSha1 | WrappingAlgorithm::RsaAesKeyWrapSha256
        )
    }

    fn code(self) -> u8 {
        match self {
            WrappingAlgorithm::RsaesOaepSha1 => 1,
            WrappingAlgorithm::RsaesOaepSha256 => 2,
            WrappingAlgorithm::RsaAesKeyWrapSha1 => 3,
            WrappingAlgorithm::RsaAesKeyWrapSha256 => 4,
        }
    }
}

fn wrapping_size(spec: &str) -> Result<KeySize> {
    SPECS
        .into_iter()
        .find(|(name, _)| *name == spec)
        .map(|(_, size)| size)
        .ok_or_else(|| {
            Error::Validation(format!(
                "WrappingKeySpec {spec} is not supported; use RSA_2048, RSA_3072 or RSA_4096"
            ))
        })
}

fn token_context(key_id: &str) -> EncryptionContext {
    EncryptionContext::from_iter([
        ("lakeseal:purpose", "import-token".to_owned()),
        ("lakeseal:key-id", key_id.to_owned()),
    ])
}

/// The parameters `GetParametersForImport` hands out.
#[derive(Debug)]
pub(crate) struct Parameters {
    pub(crate) import_token: Vec<u8>,
    pub(crate) public_key: Vec<u8>,
    pub(crate) valid_to: Millis,
}

/// A fresh wrapping key of `spec` for `key_id`, and the token that carries it sealed.
pub(crate) fn parameters(
    root: &SealingKey,
    key_id: &str,
    algorithm: WrappingAlgorithm,
    spec: &str,
    now: Millis,
) -> Result<Parameters> {
    let size = wrapping_size(spec)?;
    let crypto = |_| Error::Internal("making a wrapping key failed in the crypto library".into());
    let wrapping = PrivateDecryptingKey::generate(size).map_err(crypto)?;
    let public_key = wrapping
        .public_key()
        .as_der()
        .map_err(crypto)?
        .as_ref()
        .to_vec();
    let pkcs8 = wrapping.as_der().map_err(crypto)?;
    let valid_to = now + TOKEN_LIFETIME_MS;
    // valid_to (8 bytes, big-endian) ‖ algorithm (1) ‖ PKCS#8 of the wrapping key.
    let mut body = SecretBytes::from(Vec::with_capacity(9 + pkcs8.as_ref().len()));
    body.extend(&valid_to.to_be_bytes());
    body.extend(&[algorithm.code()]);
    body.extend(pkcs8.as_ref());
    let import_token = root.seal(body.expose_secret(), &token_context(key_id))?;
    Ok(Parameters {
        import_token,
        public_key,
        valid_to,
    })
}

/// An opened import token: the wrapping key, and what it was made for.
pub(crate) struct Token {
    wrapping: OaepPrivateDecryptingKey,
    algorithm: WrappingAlgorithm,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.algorithm.as_str())
    }
}

/// Opens the token `key_id`'s import must carry: refused if altered or another key's
/// (`InvalidImportTokenException`), or past its 24 hours at `now` (`ExpiredImportTokenException`).
pub(crate) fn open_token(
    root: &SealingKey,
    key_id: &str,
    token: &[u8],
    now: Millis,
) -> Result<Token> {
    let invalid = || {
        Error::InvalidImportToken(
            "the import token is not one this key core made for this key".into(),
        )
    };
    let body = root
        .open(token, &token_context(key_id))
        .map_err(|_| invalid())?;
    let body = body.expose_secret();
    let (Some(valid_to), Some(&code), Some(pkcs8)) = (body.get(..8), body.get(8), body.get(9..))
    else {
        return Err(invalid());
    };
    let valid_to = Millis::from_be_bytes(valid_to.try_into().map_err(|_| invalid())?);
    if now >= valid_to {
        return Err(Error::ExpiredImportToken(
            "the import token has expired: call GetParametersForImport again".into(),
        ));
    }
    let algorithm = ALGORITHMS
        .into_iter()
        .find(|a| a.code() == code)
        .ok_or_else(invalid)?;
    let wrapping = PrivateDecryptingKey::from_pkcs8(pkcs8)
        .ok()
        .and_then(|k| OaepPrivateDecryptingKey::new(k).ok())
        .ok_or_else(invalid)?;
    Ok(Token {
        wrapping,
        algorithm,
    })
}

impl Token {
    /// The key material inside `wrapped`; anything that does not unwrap is
    /// `InvalidCiphertextException`.
    pub(crate) fn unwrap(&self, wrapped: &[u8]) -> Result<SecretBytes> {
        let oaep = self.algorithm.oaep();
        let modulus = self.wrapping.key_size_bytes();
        let (rsa_part, kwp_part) = if self.algorithm.aes_key_wrap() {
            if wrapped.len() <= modulus {
                return Err(Error::InvalidCiphertext);
            }
            wrapped.split_at(modulus)
        } else {
            (wrapped, &[][..])
        };
        let mut first = SecretBytes::from(vec![0; self.wrapping.min_output_size()]);
        let len = self
            .wrapping
            .decrypt(oaep, rsa_part, first.expose_secret_mut(), None)
            .map_err(|_| Error::InvalidCiphertext)?
            .len();
        first.truncate(len);
        if !self.algorithm.aes_key_wrap() {
            return Ok(first);
        }
        // `aes-kw` over the `aes` crate, whose key schedule wipes itself on drop (aws-lc-rs's
        // key wrap keeps a copy of the key that it frees unwiped).
        let kek = aes_kw::KekAes256::try_from(first.expose_secret())
            .map_err(|_| Error::InvalidCiphertext)?;
        // The output is exactly the input less its 8-byte integrity block, padding included.
        let mut material = SecretBytes::from(vec![0; kwp_part.len().saturating_sub(8)]);
        let len = kek
            .unwrap_with_padding(kwp_part, material.expose_secret_mut())
            .map_err(|_| Error::InvalidCiphertext)?
            .len();
        material.truncate(len);
        Ok(material)
    }
}

/// What a reimport is compared with: SHA-256 over a label, the key id and `identity` — the
/// material itself for a symmetric key (32 random bytes, which a hash does not reveal), the
/// public key for an asymmetric one (the same key in another PKCS#8 encoding is still the
/// same key). Hex, for the key's record.
pub(crate) fn fingerprint(key_id: &str, identity: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"lakeseal imported key material v1\0");
    hash.update(key_id.as_bytes());
    hash.update([0]);
    hash.update(identity);
    hex::encode(hash.finalize())
}
