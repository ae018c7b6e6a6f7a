//! Asymmetric key material: RSA and ECDSA key pairs, their private-key operations (sign,
//! decrypt) and their public halves, on `aws-lc-rs`.
//!
//! Why `aws-lc-rs`: RSA private-key operations must be constant time, and the `rsa` crate
//! before 0.10 has RUSTSEC-2023-0071 (the Marvin timing attack); AWS-LC's RSA is blinded and
//! constant time, and measured here it signs about ten times faster than `rsa` 0.10 (see
//! BENCHMARKS.md). It also gives PSS with a digest-length salt, OAEP with SHA-1 and SHA-256,
//! DER ECDSA on P-256 and P-384, and signing of a digest the caller computed.
//!
//! Private keys live inside AWS-LC (`EVP_PKEY`), whose allocator wipes memory when freed; the
//! PKCS#8 form that is sealed under the root key is held in [`SecretBytes`] only as long as
//! sealing or parsing takes.

use aws_lc_rs::digest::{self, Digest as LcDigest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    self, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm, OaepPrivateDecryptingKey,
    OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _, RsaEncoding, RsaKeyPair,
    UnparsedPublicKey, VerificationAlgorithm,
};
use lakeseal_envelope::SecretBytes;

use crate::key_spec::{Digest, EncryptionAlgorithm, KeySpec, KeyUsage, SigningAlgorithm};
use crate::{Error, Result};

/// What a caller gives `Sign` or `Verify`: the message, or its digest.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Message<'a> {
    /// Hashed here with the algorithm's digest.
    Raw(&'a [u8]),
    /// Already hashed; exactly the digest's length.
    Digest(&'a [u8]),
}

/// An asymmetric key pair, ready to use: the private half inside AWS-LC, the public half as
/// the DER `SubjectPublicKeyInfo` that `GetPublicKey` hands out.
pub(crate) struct PrivateKey {
    pair: Pair,
    public_der: Vec<u8>,
}

enum Pair {
    RsaSign(RsaKeyPair),
    RsaDecrypt {
        private: OaepPrivateDecryptingKey,
        public: OaepPublicEncryptingKey,
    },
    Ecdsa(EcdsaKeyPair),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key pairs' own `Debug` prints only their public key; say even less.
        let kind = match self.pair {
            Pair::RsaSign(_) => "RsaSign",
            Pair::RsaDecrypt { .. } => "RsaDecrypt",
            Pair::Ecdsa(_) => "Ecdsa",
        };
        write!(f, "PrivateKey::{kind}")
    }
}

fn crypto(what: &str) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> Error + '_ {
    move |_| Error::Internal(format!("{what} failed in the crypto library"))
}

fn rsa_size(spec: KeySpec) -> Option<rsa::KeySize> {
    match spec {
        KeySpec::Rsa2048 => Some(rsa::KeySize::Rsa2048),
        KeySpec::Rsa3072 => Some(rsa::KeySize::Rsa3072),
        KeySpec::Rsa4096 => Some(rsa::KeySize::Rsa4096),
        _ => None,
    }
}

fn rsa_bits(spec: KeySpec) -> Option<usize> {
    rsa_size(spec).map(|size| size.len() * 8)
}

fn ecdsa_signing(spec: KeySpec) -> Option<&'static EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Some(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Some(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        _ => None,
    }
}

fn digest_algorithm(digest: Digest) -> &'static digest::Algorithm {
    match digest {
        Digest::Sha256 => &digest::SHA256,
        Digest::Sha384 => &digest::SHA384,
        Digest::Sha512 => &digest::SHA512,
    }
}

fn rsa_encoding(alg: SigningAlgorithm) -> Option<&'static dyn RsaEncoding> {
    use SigningAlgorithm as S;
    Some(match alg {
        S::RsassaPssSha256 => &signature::RSA_PSS_SHA256,
        S::RsassaPssSha384 => &signature::RSA_PSS_SHA384,
        S::RsassaPssSha512 => &signature::RSA_PSS_SHA512,
        S::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_SHA256,
        S::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_SHA384,
        S::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_SHA512,
        S::EcdsaSha256 | S::EcdsaSha384 => return None,
    })
}

fn verification(alg: SigningAlgorithm) -> &'static dyn VerificationAlgorithm {
    use SigningAlgorithm as S;
    match alg {
        S::RsassaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
        S::RsassaPssSha384 => &signature::RSA_PSS_2048_8192_SHA384,
        S::RsassaPssSha512 => &signature::RSA_PSS_2048_8192_SHA512,
        S::RsassaPkcs1V15Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        S::RsassaPkcs1V15Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        S::RsassaPkcs1V15Sha512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        S::EcdsaSha256 => &signature::ECDSA_P256_SHA256_ASN1,
        S::EcdsaSha384 => &signature::ECDSA_P384_SHA384_ASN1,
    }
}

fn oaep(alg: EncryptionAlgorithm) -> Option<&'static OaepAlgorithm> {
    match alg {
        EncryptionAlgorithm::RsaesOaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
        EncryptionAlgorithm::SymmetricDefault => None,
    }
}

/// The digest of `message`: computed for `RAW`, taken as given (length checked) for `DIGEST`.
pub(crate) fn digest_of(message: Message<'_>, digest: Digest) -> Result<LcDigest> {
    let algorithm = digest_algorithm(digest);
    match message {
        Message::Raw(bytes) => Ok(digest::digest(algorithm, bytes)),
        Message::Digest(bytes) => LcDigest::import_less_safe(bytes, algorithm).map_err(|_| {
            Error::Validation(format!(
                "a DIGEST message for this algorithm is exactly {} bytes, not {}",
                digest.output_len(),
                bytes.len()
            ))
        }),
    }
}

impl PrivateKey {
    /// Makes a new key pair of `spec` for `usage`; returns it with its PKCS#8 (v1) DER form,
    /// to be sealed.
    pub(crate) fn generate(spec: KeySpec, usage: KeyUsage) -> Result<(Self, SecretBytes)> {
        let pkcs8 = if let Some(alg) = ecdsa_signing(spec) {
            let pair = EcdsaKeyPair::generate(alg).map_err(crypto("ECDSA key generation"))?;
            let der = pair.to_pkcs8v1().map_err(crypto("PKCS#8 encoding"))?;
            SecretBytes::from(der.as_ref().to_vec())
        } else {
            let size = rsa_size(spec)
                .ok_or_else(|| Error::Internal(format!("{} has no key pair", spec.as_str())))?;
            let pair = RsaKeyPair::generate(size).map_err(crypto("RSA key generation"))?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> =
                pair.as_der().map_err(crypto("PKCS#8 encoding"))?;
            SecretBytes::from(der.as_ref().to_vec())
        };
        let key = Self::from_pkcs8(spec, usage, pkcs8.expose_secret())?;
        Ok((key, pkcs8))
    }

    /// Parses PKCS#8 (v1) DER of a key of `spec` for `usage`; anything else — another
    /// algorithm, curve or size — is refused.
    pub(crate) fn from_pkcs8(spec: KeySpec, usage: KeyUsage, der: &[u8]) -> Result<Self> {
        let wrong = |_| {
            Error::Validation(format!(
                "the key material is not a PKCS#8 {} private key",
                spec.as_str()
            ))
        };
        let other_size = || {
            Error::Validation(format!(
                "the key material is an RSA key of another size than {}",
                spec.as_str()
            ))
        };
        let (pair, public) = if let Some(alg) = ecdsa_signing(spec) {
            let pair = EcdsaKeyPair::from_pkcs8(alg, der).map_err(wrong)?;
            let public = pair.public_key().as_der();
            (Pair::Ecdsa(pair), public)
        } else {
            let bits = rsa_bits(spec)
                .ok_or_else(|| Error::Internal(format!("{} has no key pair", spec.as_str())))?;
            match usage {
                KeyUsage::SignVerify => {
                    let pair = RsaKeyPair::from_pkcs8(der).map_err(wrong)?;
                    if pair.public_modulus_len() * 8 != bits {
                        return Err(other_size());
                    }
                    let public = pair.public_key().as_der();
                    (Pair::RsaSign(pair), public)
                }
                KeyUsage::EncryptDecrypt => {
                    let private = PrivateDecryptingKey::from_pkcs8(der).map_err(wrong)?;
                    if private.key_size_bits() != bits {
                        return Err(other_size());
                    }
                    let public_key: PublicEncryptingKey = private.public_key();
                    let public = public_key.as_der();
                    let pair = Pair::RsaDecrypt {
                        private: OaepPrivateDecryptingKey::new(private)
                            .map_err(crypto("an OAEP private key"))?,
                        public: OaepPublicEncryptingKey::new(public_key)
                            .map_err(crypto("an OAEP public key"))?,
                    };
                    (pair, public)
                }
            }
        };
        let public_der = public
            .map_err(crypto("public key encoding"))?
            .as_ref()
            .to_vec();
        Ok(Self { pair, public_der })
    }

    /// The DER-encoded X.509 `SubjectPublicKeyInfo` of the public half.
    pub(crate) fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// Signs `message` with `alg`, which the caller has checked the key allows.
    pub(crate) fn sign(&self, alg: SigningAlgorithm, message: Message<'_>) -> Result<Vec<u8>> {
        let digest = digest_of(message, alg.digest())?;
        match (&self.pair, rsa_encoding(alg)) {
            (Pair::RsaSign(pair), Some(encoding)) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign_digest(encoding, &digest, &mut signature)
                    .map_err(crypto("RSA signing"))?;
                Ok(signature)
            }
            (Pair::Ecdsa(pair), None) => Ok(pair
                .sign_digest(&digest)
                .map_err(crypto("ECDSA signing"))?
                .as_ref()
                .to_vec()),
            _ => Err(misfit(alg.as_str())),
        }
    }

    /// Whether `signature` is `alg`'s signature of `message` under this key's public half.
    pub(crate) fn verify(
        &self,
        alg: SigningAlgorithm,
        message: Message<'_>,
        signature: &[u8],
    ) -> Result<bool> {
        verify_with(&self.public_der, alg, message, signature)
    }

    /// Encrypts with the public half under OAEP: the ciphertext is the modulus' length.
    pub(crate) fn encrypt(&self, alg: EncryptionAlgorithm, plaintext: &[u8]) -> Result<Vec<u8>> {
        let (Pair::RsaDecrypt { public, .. }, Some(oaep)) = (&self.pair, oaep(alg)) else {
            return Err(misfit(alg.as_str()));
        };
        let max = public.max_plaintext_size(oaep);
        if plaintext.len() > max {
            return Err(Error::Validation(format!(
                "Plaintext is {} bytes; {} with this key takes at most {max}",
                plaintext.len(),
                alg.as_str()
            )));
        }
        let mut ciphertext = vec![0; public.ciphertext_size()];
        let written = public
            .encrypt(oaep, plaintext, &mut ciphertext, None)
            .map_err(crypto("OAEP encryption"))?
            .len();
        ciphertext.truncate(written);
        Ok(ciphertext)
    }

    /// Decrypts an OAEP ciphertext; any failure is the opaque `InvalidCiphertextException`.
    pub(crate) fn decrypt(
        &self,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
    ) -> Result<SecretBytes> {
        let (Pair::RsaDecrypt { private, .. }, Some(oaep)) = (&self.pair, oaep(alg)) else {
            return Err(misfit(alg.as_str()));
        };
        let mut plaintext = SecretBytes::from(vec![0; private.min_output_size()]);
        let len = private
            .decrypt(oaep, ciphertext, plaintext.expose_secret_mut(), None)
            .map_err(|_| Error::InvalidCiphertext)?
            .len();
        plaintext.truncate(len);
        Ok(plaintext)
    }
}

/// Whether `signature` is `alg`'s signature of `message` under the public key `public_der`
/// (SubjectPublicKeyInfo): for key pairs held here and in an HSM alike.
pub(crate) fn verify_with(
    public_der: &[u8],
    alg: SigningAlgorithm,
    message: Message<'_>,
    signature: &[u8],
) -> Result<bool> {
    let digest = digest_of(message, alg.digest())?;
    Ok(UnparsedPublicKey::new(verification(alg), public_der)
        .verify_digest(&digest, signature)
        .is_ok())
}

/// An algorithm the caller should have refused for this key reached it.
fn misfit(algorithm: &str) -> Error {
    Error::Internal(format!("{algorithm} does not fit this key"))
}
