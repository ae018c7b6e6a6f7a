//! What the key core does with a token's objects: make AES keys and EC and RSA key pairs that
//! never leave it, seal and open blobs with `CKM_AES_GCM`, sign digests (`CKM_ECDSA`,
//! `CKM_RSA_PKCS_PSS`, `CKM_RSA_PKCS` over a `DigestInfo`), destroy.
//!
//! Objects are found by label: `lakeseal:<key id>:v<version>` for a symmetric version,
//! `lakeseal:<key id>` for a key pair's two halves.

use std::sync::{Arc, OnceLock};

use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass};
use lakeseal_envelope::{Blob, BlobDraft, EncryptionContext, SecretBytes, TAG_LEN};

use super::der;
use super::store::{Failure, HsmStore};
use crate::asymmetric::{self, Message};
use crate::key_spec::{Digest, KeySpec, KeyUsage, SigningAlgorithm};
use crate::{Error, Result};

/// What the token can do, probed once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TokenMechanisms {
    aes_key_gen: bool,
    aes_gcm: bool,
    ec_key_gen: bool,
    ecdsa: bool,
    rsa_key_gen: bool,
    rsa_pss: bool,
    rsa_pkcs: bool,
}

impl TokenMechanisms {
    pub(super) fn probe(list: &[MechanismType]) -> Self {
        let has = |m: MechanismType| list.contains(&m);
        Self {
            aes_key_gen: has(MechanismType::AES_KEY_GEN),
            aes_gcm: has(MechanismType::AES_GCM),
            ec_key_gen: has(MechanismType::ECC_KEY_PAIR_GEN),
            ecdsa: has(MechanismType::ECDSA),
            rsa_key_gen: has(MechanismType::RSA_PKCS_KEY_PAIR_GEN),
            rsa_pss: has(MechanismType::RSA_PKCS_PSS),
            rsa_pkcs: has(MechanismType::RSA_PKCS),
        }
    }

    /// Whether keys of `spec` for `usage` can be made and used in this token. RSA keys sign
    /// only: decryption would need OAEP with SHA-256, which not every module has (SoftHSM2's
    /// OAEP is SHA-1 only).
    pub(crate) fn supports(self, spec: KeySpec, usage: KeyUsage) -> bool {
        match (spec, usage) {
            (KeySpec::SymmetricDefault, _) => self.aes_key_gen && self.aes_gcm,
            (KeySpec::EccNistP256 | KeySpec::EccNistP384, _) => self.ec_key_gen && self.ecdsa,
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::SignVerify) => {
                self.rsa_key_gen && self.rsa_pss && self.rsa_pkcs
            }
            _ => false,
        }
    }
}

/// The blob's 16-byte tag, in bits as `CK_GCM_PARAMS` takes it.
const GCM_TAG_BITS: u64 = (TAG_LEN * 8) as u64;

/// An RSA spec's modulus size in bits.
fn rsa_bits(spec: KeySpec) -> Option<u64> {
    match spec {
        KeySpec::Rsa2048 => Some(2048),
        KeySpec::Rsa3072 => Some(3072),
        KeySpec::Rsa4096 => Some(4096),
        _ => None,
    }
}

fn version_label(key_id: &str, version: u32) -> String {
    format!("lakeseal:{key_id}:v{version}")
}

fn pair_label(key_id: &str) -> String {
    format!("lakeseal:{key_id}")
}

/// The attributes every private or secret key made here has: a token object, usable only
/// after login, never readable or exportable.
fn locked_down(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(label.as_bytes().to_vec()),
    ]
}

/// Makes version `version` of the symmetric key `key_id`: an AES-256 key in the token.
pub(crate) fn create_version(store: &HsmStore, key_id: &str, version: u32) -> Result<()> {
    let label = version_label(key_id, version);
    store.run("generating an AES key", |_, session| {
        let mut template = locked_down(&label);
        template.extend([
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ]);
        session.generate_key(&Mechanism::AesKeyGen, &template)?;
        Ok(())
    })
}

/// Seals `plaintext` into a blob under version `version` of `key_id`, inside the token.
pub(crate) fn seal(
    store: &HsmStore,
    key_id: &str,
    version: u32,
    plaintext: &[u8],
    context: &EncryptionContext,
) -> Result<Vec<u8>> {
    let draft = BlobDraft::new(key_id, version, plaintext.len(), context)?;
    let label = version_label(key_id, version);
    store
        .run("AES-GCM encryption", |store, session| {
            let key = store.find(session, ObjectClass::SECRET_KEY, &label)?;
            let mut nonce = *draft.nonce();
            let params = GcmParams::new(&mut nonce, draft.aad(), GCM_TAG_BITS.into())?;
            let sealed = session.encrypt(&Mechanism::AesGcm(params), key, plaintext)?;
            Ok(sealed)
        })
        .map(|sealed| draft.finish(&sealed))
}

/// Opens a blob sealed by [`seal`]. A changed byte or another context is the one opaque
/// `InvalidCiphertext` (SoftHSM2 answers a bad tag with `CKR_GENERAL_ERROR`, others with
/// `CKR_ENCRYPTED_DATA_INVALID`).
pub(crate) fn open(
    store: &HsmStore,
    blob: &Blob<'_>,
    context: &EncryptionContext,
) -> Result<SecretBytes> {
    let label = version_label(blob.key_id(), blob.key_version());
    let aad = blob.aad(context);
    store.run("AES-GCM decryption", |store, session| {
        let key = store.find(session, ObjectClass::SECRET_KEY, &label)?;
        let mut nonce = [0u8; lakeseal_envelope::NONCE_LEN];
        nonce.copy_from_slice(blob.nonce());
        let params = GcmParams::new(&mut nonce, &aad, GCM_TAG_BITS.into())?;
        // The module allocates the plaintext; it is moved straight into `SecretBytes`, which
        // wipes it (the one copy across this boundary).
        match session.decrypt(&Mechanism::AesGcm(params), key, blob.sealed()) {
            Ok(plaintext) => Ok(SecretBytes::new(plaintext)),
            // A token that went away can answer the same: ask it before blaming the blob.
            Err(cryptoki::error::Error::Pkcs11(
                cryptoki::error::RvError::GeneralError
                | cryptoki::error::RvError::EncryptedDataInvalid
                | cryptoki::error::RvError::EncryptedDataLenRange,
                _,
            )) if store.token_present() => Err(Failure::Core(Error::InvalidCiphertext)),
            Err(e) => Err(e.into()),
        }
    })
}

/// Destroys every version of the symmetric key `key_id` in the token: crypto-erasure.
pub(crate) fn destroy(store: &HsmStore, key_id: &str, versions: u32) -> Result<()> {
    destroy_labelled(
        store,
        (1..=versions).map(|v| version_label(key_id, v)).collect(),
    )
}

/// Destroys every token object with one of `labels`.
fn destroy_labelled(store: &HsmStore, labels: Vec<String>) -> Result<()> {
    store.run("destroying key objects", |store, session| {
        for label in &labels {
            let objects = session.find_objects(&[Attribute::Label(label.as_bytes().to_vec())])?;
            for object in objects {
                session.destroy_object(object)?;
            }
            store.forget(label);
        }
        Ok(())
    })
}

/// An asymmetric key whose private half is a token object; signs inside the token.
pub(crate) struct HsmKeyPair {
    store: Arc<HsmStore>,
    label: String,
    spec: KeySpec,
    /// The public half as SubjectPublicKeyInfo DER, read from the token once.
    public_der: OnceLock<Vec<u8>>,
}

impl std::fmt::Debug for HsmKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmKeyPair")
            .field("label", &self.label)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl HsmKeyPair {
    /// The key pair of `key_id` in `store` (made earlier by [`HsmKeyPair::generate`]).
    pub(crate) fn new(store: Arc<HsmStore>, key_id: &str, spec: KeySpec) -> Self {
        Self {
            store,
            label: pair_label(key_id),
            spec,
            public_der: OnceLock::new(),
        }
    }

    /// Makes a key pair of `spec` (ECC, or RSA for signing) for `key_id` in the token.
    pub(crate) fn generate(store: Arc<HsmStore>, key_id: &str, spec: KeySpec) -> Result<Self> {
        let pair = Self::new(store, key_id, spec);
        let label = pair.label.as_bytes().to_vec();
        let (mechanism, mut public) = match (der::curve(spec), rsa_bits(spec)) {
            (Some(curve), _) => (
                Mechanism::EccKeyPairGen,
                vec![Attribute::EcParams(curve.params.to_vec())],
            ),
            (None, Some(bits)) => (
                Mechanism::RsaPkcsKeyPairGen,
                vec![
                    Attribute::ModulusBits(bits.into()),
                    Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
                ],
            ),
            (None, None) => {
                return Err(Error::UnsupportedOperation(format!(
                    "{} keys cannot be made in a PKCS#11 key store",
                    spec.as_str()
                )));
            }
        };
        public.extend([
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Label(label.clone()),
            Attribute::Id(label),
        ]);
        let mut private = locked_down(&pair.label);
        private.extend([Attribute::Sign(true), Attribute::Derive(false)]);
        pair.store.run("generating a key pair", |_, session| {
            session.generate_key_pair(&mechanism, &public, &private)?;
            Ok(())
        })?;
        Ok(pair)
    }

    /// The public half, SubjectPublicKeyInfo DER.
    pub(crate) fn public_key_der(&self) -> Result<&[u8]> {
        if let Some(der) = self.public_der.get() {
            return Ok(der);
        }
        let curve = der::curve(self.spec);
        let wanted: &[AttributeType] = match curve {
            Some(_) => &[AttributeType::EcPoint],
            None => &[AttributeType::Modulus, AttributeType::PublicExponent],
        };
        let der = self.store.run("reading a public key", |store, session| {
            let public = store.find(session, ObjectClass::PUBLIC_KEY, &self.label)?;
            let (mut point, mut modulus, mut exponent) = (None, None, None);
            for attribute in session.get_attributes(public, wanted)? {
                match attribute {
                    Attribute::EcPoint(v) => point = Some(v),
                    Attribute::Modulus(v) => modulus = Some(v),
                    Attribute::PublicExponent(v) => exponent = Some(v),
                    _ => {}
                }
            }
            let missing = || Error::Internal("the token did not give the public key".into());
            Ok(match curve {
                Some(curve) => der::ec_spki(curve, &point.ok_or_else(missing)?)?,
                None => der::rsa_spki(
                    &modulus.ok_or_else(missing)?,
                    &exponent.ok_or_else(missing)?,
                )?,
            })
        })?;
        Ok(self.public_der.get_or_init(|| der))
    }

    /// Signs: hashes on the host, signs the digest in the token. ECDSA's raw r‖s is encoded as
    /// the DER that AWS KMS returns; PSS takes a salt the digest's length, as AWS KMS does.
    pub(crate) fn sign(&self, alg: SigningAlgorithm, message: Message<'_>) -> Result<Vec<u8>> {
        let digest = asymmetric::digest_of(message, alg.digest())?;
        let digest = digest.as_ref();
        let (hash_alg, mgf) = match alg.digest() {
            Digest::Sha256 => (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            Digest::Sha384 => (MechanismType::SHA384, PkcsMgfType::MGF1_SHA384),
            Digest::Sha512 => (MechanismType::SHA512, PkcsMgfType::MGF1_SHA512),
        };
        use SigningAlgorithm as S;
        let (mechanism, input) = match alg {
            S::EcdsaSha256 | S::EcdsaSha384 => (Mechanism::Ecdsa, digest.to_vec()),
            S::RsassaPssSha256 | S::RsassaPssSha384 | S::RsassaPssSha512 => (
                Mechanism::RsaPkcsPss(PkcsPssParams {
                    hash_alg,
                    mgf,
                    s_len: (digest.len() as u64).into(),
                }),
                digest.to_vec(),
            ),
            S::RsassaPkcs1V15Sha256 | S::RsassaPkcs1V15Sha384 | S::RsassaPkcs1V15Sha512 => {
                (Mechanism::RsaPkcs, der::digest_info(digest)?)
            }
        };
        let signature = self.store.run("signing", |store, session| {
            let private = store.find(session, ObjectClass::PRIVATE_KEY, &self.label)?;
            Ok(session.sign(&mechanism, private, &input)?)
        })?;
        match mechanism {
            Mechanism::Ecdsa => der::ecdsa_signature(&signature),
            _ => Ok(signature),
        }
    }

    /// Destroys the key pair's two token objects: crypto-erasure.
    pub(crate) fn destroy(&self) -> Result<()> {
        destroy_labelled(&self.store, vec![self.label.clone()])
    }

    /// Checks a signature with the public half, on the host (a public-key operation).
    pub(crate) fn verify(
        &self,
        alg: SigningAlgorithm,
        message: Message<'_>,
        signature: &[u8],
    ) -> Result<bool> {
        asymmetric::verify_with(self.public_key_der()?, alg, message, signature)
    }
}
