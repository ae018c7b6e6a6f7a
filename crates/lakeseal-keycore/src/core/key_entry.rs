//! A key and its material as the key core holds it — in memory or inside a PKCS#11 token — and
//! the two ways operations use it: a [`Sealer`] for a symmetric key's blobs, a [`KeyPair`] to
//! sign and verify.

use std::sync::Arc;

use lakeseal_envelope::{EncryptionContext, SealingKey};

use crate::asymmetric::PrivateKey;
use crate::hsm::{self, HsmKeyPair, HsmStore};
use crate::key_spec;
use crate::model::KeyRecord;
use crate::policy::Policy;
use crate::{Error, Result};

/// A key and its material, ready to use. Dropping it zeroizes every version's key schedule
/// (and frees an asymmetric key inside AWS-LC, which wipes it).
#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub(crate) record: KeyRecord,
    /// `record.policy`, parsed once.
    pub(crate) policy: Policy,
    pub(crate) material: Material,
}

/// What a key encrypts or signs with.
#[derive(Debug)]
pub(crate) enum Material {
    /// A symmetric key's versions: `versions[v - 1]` is version `v`.
    Symmetric(Vec<SealingKey>),
    /// An asymmetric key's one key pair (asymmetric keys are not rotated).
    Asymmetric(PrivateKey),
    /// A symmetric key whose versions are AES keys inside a PKCS#11 token (`store` is `None`
    /// when the key core is no longer configured with the key's store).
    Hsm(Option<Arc<HsmStore>>),
    /// An asymmetric key whose key pair is inside a PKCS#11 token.
    HsmPair(HsmKeyPair),
    /// None yet, or none any more: a key of origin `EXTERNAL` waiting for its import.
    None,
}

impl KeyEntry {
    /// Where the primary version seals: refuses keys that do not seal blobs.
    pub(crate) fn primary(&self) -> Result<Sealer<'_>> {
        let version = self.record.primary_version;
        match &self.material {
            Material::None => Err(self.no_material()),
            Material::Asymmetric(_) | Material::HsmPair(_) => Err(Error::InvalidKeyUsage(format!(
                "{} is an asymmetric {} key: use a symmetric key",
                self.record.key_id,
                self.record.key_spec.as_str()
            ))),
            Material::Hsm(store) => Ok(Sealer::Hsm {
                store: self.hsm_store(store)?,
                key_id: &self.record.key_id,
                version,
            }),
            Material::Symmetric(_) => {
                self.version(version).map(Sealer::Software).ok_or_else(|| {
                    Error::Internal(format!("{} has no primary version", self.record.key_id))
                })
            }
        }
    }

    /// Version `v` of a symmetric key held here.
    pub(crate) fn version(&self, v: u32) -> Option<&SealingKey> {
        match &self.material {
            Material::Symmetric(versions) => versions.get(usize::try_from(v).ok()?.checked_sub(1)?),
            _ => None,
        }
    }

    /// Opens a blob of this key (its id already checked) under the version it names.
    pub(crate) fn open(
        &self,
        blob: &lakeseal_envelope::Blob<'_>,
        context: &EncryptionContext,
    ) -> Result<lakeseal_envelope::SecretBytes> {
        match &self.material {
            Material::Hsm(store) => {
                if blob.key_version() > self.record.primary_version {
                    return Err(Error::InvalidCiphertext);
                }
                hsm::open(self.hsm_store(store)?, blob, context)
            }
            _ => Ok(self
                .version(blob.key_version())
                .ok_or(Error::InvalidCiphertext)?
                .open_parsed(blob, context)?),
        }
    }

    pub(crate) fn hsm_store<'s>(&self, store: &'s Option<Arc<HsmStore>>) -> Result<&'s HsmStore> {
        store.as_deref().ok_or_else(|| {
            Error::KeyUnavailable(format!(
                "{} is in key store {}, which this key core is not configured with",
                self.record.key_id,
                self.record.custom_key_store_id.as_deref().unwrap_or("?")
            ))
        })
    }

    fn no_material(&self) -> Error {
        Error::InvalidState(format!(
            "{} has no key material: it is pending import",
            self.record.key_id
        ))
    }

    /// An asymmetric key's key pair, here or in an HSM.
    pub(crate) fn key_pair(&self) -> Result<KeyPair<'_>> {
        match &self.material {
            Material::Asymmetric(key) => Ok(KeyPair::Software(key)),
            Material::HsmPair(key) => Ok(KeyPair::Hsm(key)),
            Material::None => Err(self.no_material()),
            Material::Hsm(None) if self.record.key_spec.is_asymmetric() => Err(self
                .hsm_store(&None)
                .err()
                .unwrap_or_else(|| self.no_material())),
            Material::Symmetric(_) | Material::Hsm(_) => Err(Error::InvalidKeyUsage(format!(
                "{} is a symmetric key: use an asymmetric key",
                self.record.key_id
            ))),
        }
    }
}

/// Where a symmetric key's primary version seals a blob.
pub(crate) enum Sealer<'a> {
    /// In memory, AES-256-GCM-SIV.
    Software(&'a SealingKey),
    /// Inside a token, AES-256-GCM.
    Hsm {
        store: &'a HsmStore,
        key_id: &'a str,
        version: u32,
    },
}

impl Sealer<'_> {
    pub(crate) fn version(&self) -> u32 {
        match self {
            Sealer::Software(key) => key.version(),
            Sealer::Hsm { version, .. } => *version,
        }
    }

    pub(crate) fn seal(&self, plaintext: &[u8], context: &EncryptionContext) -> Result<Vec<u8>> {
        match self {
            Sealer::Software(key) => Ok(key.seal(plaintext, context)?),
            Sealer::Hsm {
                store,
                key_id,
                version,
            } => hsm::seal(store, key_id, *version, plaintext, context),
        }
    }
}

/// An asymmetric key's pair, wherever it lives.
pub(crate) enum KeyPair<'a> {
    Software(&'a PrivateKey),
    Hsm(&'a HsmKeyPair),
}

impl KeyPair<'_> {
    pub(crate) fn public_key_der(&self) -> Result<&[u8]> {
        match self {
            KeyPair::Software(key) => Ok(key.public_key_der()),
            KeyPair::Hsm(key) => key.public_key_der(),
        }
    }

    pub(crate) fn sign(
        &self,
        alg: key_spec::SigningAlgorithm,
        message: crate::asymmetric::Message<'_>,
    ) -> Result<Vec<u8>> {
        match self {
            KeyPair::Software(key) => key.sign(alg, message),
            KeyPair::Hsm(key) => key.sign(alg, message),
        }
    }

    pub(crate) fn verify(
        &self,
        alg: key_spec::SigningAlgorithm,
        message: crate::asymmetric::Message<'_>,
        signature: &[u8],
    ) -> Result<bool> {
        match self {
            KeyPair::Software(key) => key.verify(alg, message, signature),
            KeyPair::Hsm(key) => key.verify(alg, message, signature),
        }
    }

    /// The pair held here, for what only software keys do (RSA decryption).
    pub(crate) fn software(&self) -> Result<&PrivateKey> {
        match self {
            KeyPair::Software(key) => Ok(key),
            KeyPair::Hsm(_) => Err(Error::InvalidKeyUsage(
                "an HSM key pair only signs and verifies".into(),
            )),
        }
    }
}
