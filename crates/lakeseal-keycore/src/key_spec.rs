//! What kind of key a CMK is (its spec and usage) and which algorithms each kind allows, with
//! the names AWS KMS gives them on the wire.

use serde::{Deserialize, Serialize};

use crate::model::KeyRecord;
use crate::state::KeyOperation;
use crate::{Error, Result};

/// A key's type and size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeySpec {
    /// AES-256-GCM-SIV, versioned and rotatable.
    #[default]
    SymmetricDefault,
    #[allow(missing_docs)]
    #[serde(rename = "RSA_2048")]
    Rsa2048,
    #[allow(missing_docs)]
    #[serde(rename = "RSA_3072")]
    Rsa3072,
    #[allow(missing_docs)]
    #[serde(rename = "RSA_4096")]
    Rsa4096,
    #[allow(missing_docs)]
    #[serde(rename = "ECC_NIST_P256")]
    EccNistP256,
    #[allow(missing_docs)]
    #[serde(rename = "ECC_NIST_P384")]
    EccNistP384,
}

/// What a key is for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KeyUsage {
    /// `Encrypt`/`Decrypt` (and, for symmetric keys, data keys and `ReEncrypt`).
    #[default]
    EncryptDecrypt,
    /// `Sign`/`Verify`.
    SignVerify,
}

/// Where a key's material comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Origin {
    /// Made by the key core.
    #[default]
    AwsKms,
    /// Imported by its owner (`ImportKeyMaterial`), who can delete it or let it expire.
    External,
    /// Made inside a PKCS#11 token (a custom key store), where it stays.
    AwsCloudhsm,
}

impl Origin {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::AwsKms => "AWS_KMS",
            Origin::External => "EXTERNAL",
            Origin::AwsCloudhsm => "AWS_CLOUDHSM",
        }
    }

    /// The origin a wire name names; none given is `AWS_KMS`.
    pub fn parse(name: Option<&str>) -> Result<Self> {
        match name {
            None | Some("AWS_KMS") => Ok(Origin::AwsKms),
            Some("EXTERNAL") => Ok(Origin::External),
            Some("AWS_CLOUDHSM") => Ok(Origin::AwsCloudhsm),
            Some(other) => Err(Error::Validation(format!(
                "Origin {other} is not supported; use AWS_KMS, EXTERNAL or AWS_CLOUDHSM"
            ))),
        }
    }
}

/// A signing algorithm, as `Sign` and `Verify` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum SigningAlgorithm {
    RsassaPssSha256,
    RsassaPssSha384,
    RsassaPssSha512,
    RsassaPkcs1V15Sha256,
    RsassaPkcs1V15Sha384,
    RsassaPkcs1V15Sha512,
    EcdsaSha256,
    EcdsaSha384,
}

/// The digest a signing algorithm signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Digest {
    Sha256,
    Sha384,
    Sha512,
}

/// An encryption algorithm, as `Encrypt` and `Decrypt` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum EncryptionAlgorithm {
    SymmetricDefault,
    RsaesOaepSha1,
    RsaesOaepSha256,
}

impl KeySpec {
    /// Every spec, in the order `DescribeKey` documents them.
    pub const ALL: [KeySpec; 6] = [
        KeySpec::SymmetricDefault,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySpec::SymmetricDefault => "SYMMETRIC_DEFAULT",
            KeySpec::Rsa2048 => "RSA_2048",
            KeySpec::Rsa3072 => "RSA_3072",
            KeySpec::Rsa4096 => "RSA_4096",
            KeySpec::EccNistP256 => "ECC_NIST_P256",
            KeySpec::EccNistP384 => "ECC_NIST_P384",
        }
    }

    /// The spec a wire name names.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| {
                Error::Validation(format!(
                    "KeySpec {name} is not supported; use one of {}",
                    Self::ALL.map(KeySpec::as_str).join(", ")
                ))
            })
    }

    /// Whether the key has a public half (RSA, ECC).
    pub fn is_asymmetric(self) -> bool {
        self != KeySpec::SymmetricDefault
    }

    /// The usages a key of this spec may be created with.
    pub fn allows(self, usage: KeyUsage) -> bool {
        match self {
            KeySpec::SymmetricDefault => usage == KeyUsage::EncryptDecrypt,
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => true,
            KeySpec::EccNistP256 | KeySpec::EccNistP384 => usage == KeyUsage::SignVerify,
        }
    }

    /// The signing algorithms a key of this spec and usage allows (none unless `SIGN_VERIFY`).
    pub fn signing_algorithms(self, usage: KeyUsage) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm as S;
        if usage != KeyUsage::SignVerify {
            return &[];
        }
        match self {
            KeySpec::SymmetricDefault => &[],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
                S::RsassaPssSha256,
                S::RsassaPssSha384,
                S::RsassaPssSha512,
                S::RsassaPkcs1V15Sha256,
                S::RsassaPkcs1V15Sha384,
                S::RsassaPkcs1V15Sha512,
            ],
            KeySpec::EccNistP256 => &[S::EcdsaSha256],
            KeySpec::EccNistP384 => &[S::EcdsaSha384],
        }
    }

    /// The encryption algorithms a key of this spec and usage allows (none unless
    /// `ENCRYPT_DECRYPT`).
    pub fn encryption_algorithms(self, usage: KeyUsage) -> &'static [EncryptionAlgorithm] {
        use EncryptionAlgorithm as E;
        if usage != KeyUsage::EncryptDecrypt {
            return &[];
        }
        match self {
            KeySpec::SymmetricDefault => &[E::SymmetricDefault],
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => {
                &[E::RsaesOaepSha1, E::RsaesOaepSha256]
            }
            KeySpec::EccNistP256 | KeySpec::EccNistP384 => &[],
        }
    }
}

impl KeyUsage {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::EncryptDecrypt => "ENCRYPT_DECRYPT",
            KeyUsage::SignVerify => "SIGN_VERIFY",
        }
    }

    /// The usage a wire name names.
    pub fn parse(name: &str) -> Result<Self> {
        [KeyUsage::EncryptDecrypt, KeyUsage::SignVerify]
            .into_iter()
            .find(|u| u.as_str() == name)
            .ok_or_else(|| {
                Error::Validation(format!(
                    "KeyUsage {name} is not supported; use ENCRYPT_DECRYPT or SIGN_VERIFY"
                ))
            })
    }
}

impl SigningAlgorithm {
    const ALL: [SigningAlgorithm; 8] = [
        SigningAlgorithm::RsassaPssSha256,
        SigningAlgorithm::RsassaPssSha384,
        SigningAlgorithm::RsassaPssSha512,
        SigningAlgorithm::RsassaPkcs1V15Sha256,
        SigningAlgorithm::RsassaPkcs1V15Sha384,
        SigningAlgorithm::RsassaPkcs1V15Sha512,
        SigningAlgorithm::EcdsaSha256,
        SigningAlgorithm::EcdsaSha384,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::RsassaPssSha256 => "RSASSA_PSS_SHA_256",
            SigningAlgorithm::RsassaPssSha384 => "RSASSA_PSS_SHA_384",
            SigningAlgorithm::RsassaPssSha512 => "RSASSA_PSS_SHA_512",
            SigningAlgorithm::RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            SigningAlgorithm::RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            SigningAlgorithm::RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
            SigningAlgorithm::EcdsaSha256 => "ECDSA_SHA_256",
            SigningAlgorithm::EcdsaSha384 => "ECDSA_SHA_384",
        }
    }

    /// The algorithm a wire name names.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| Error::Validation(format!("SigningAlgorithm {name} is not known")))
    }

    /// The digest it signs.
    pub fn digest(self) -> Digest {
        use SigningAlgorithm as S;
        match self {
            S::RsassaPssSha256 | S::RsassaPkcs1V15Sha256 | S::EcdsaSha256 => Digest::Sha256,
            S::RsassaPssSha384 | S::RsassaPkcs1V15Sha384 | S::EcdsaSha384 => Digest::Sha384,
            S::RsassaPssSha512 | S::RsassaPkcs1V15Sha512 => Digest::Sha512,
        }
    }
}

impl Digest {
    /// The digest's length in bytes: what a `DIGEST` message must be.
    pub fn output_len(self) -> usize {
        match self {
            Digest::Sha256 => 32,
            Digest::Sha384 => 48,
            Digest::Sha512 => 64,
        }
    }
}

impl EncryptionAlgorithm {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EncryptionAlgorithm::SymmetricDefault => "SYMMETRIC_DEFAULT",
            EncryptionAlgorithm::RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
            EncryptionAlgorithm::RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }

    /// The algorithm a wire name names; none given is `SYMMETRIC_DEFAULT`, as in AWS KMS.
    pub fn parse(name: Option<&str>) -> Result<Self> {
        let Some(name) = name else {
            return Ok(EncryptionAlgorithm::SymmetricDefault);
        };
        [
            EncryptionAlgorithm::SymmetricDefault,
            EncryptionAlgorithm::RsaesOaepSha1,
            EncryptionAlgorithm::RsaesOaepSha256,
        ]
        .into_iter()
        .find(|a| a.as_str() == name)
        .ok_or_else(|| Error::Validation(format!("EncryptionAlgorithm {name} is not known")))
    }
}

/// Refuses `op` on a key of `spec` and `usage` it does not fit, as AWS KMS does: a symmetric
/// operation on an asymmetric key or the reverse is `InvalidKeyUsageException`; rotating an
/// asymmetric key is `UnsupportedOperationException`. (Whether an *algorithm* fits is checked
/// by the operation, which knows the algorithm.)
pub(crate) fn check_usage(record: &KeyRecord, op: KeyOperation, arn: &str) -> Result<()> {
    use KeyOperation as Op;
    let (spec, usage) = (record.key_spec, record.key_usage);
    let fits = match op {
        Op::Encrypt | Op::Decrypt => usage == KeyUsage::EncryptDecrypt,
        Op::GenerateDataKey
        | Op::GenerateDataKeyWithoutPlaintext
        | Op::ReEncryptFrom
        | Op::ReEncryptTo => !spec.is_asymmetric(),
        Op::Sign | Op::Verify => usage == KeyUsage::SignVerify,
        Op::GetPublicKey => spec.is_asymmetric(),
        Op::RotateKeyOnDemand
        | Op::EnableKeyRotation
        | Op::DisableKeyRotation
        | Op::GetKeyRotationStatus
        | Op::ListKeyRotations => {
            let reads = matches!(op, Op::GetKeyRotationStatus | Op::ListKeyRotations);
            if spec.is_asymmetric() {
                return Err(Error::UnsupportedOperation(format!(
                    "{arn} is an asymmetric key ({}); only symmetric keys rotate",
                    spec.as_str()
                )));
            }
            // Reading says it truthfully: off, and no rotations.
            if record.origin == Origin::External && !reads {
                return Err(Error::UnsupportedOperation(format!(
                    "{arn} has imported key material, which the key core cannot renew; import \
                     new material into a new key instead"
                )));
            }
            true
        }
        Op::GetParametersForImport | Op::ImportKeyMaterial | Op::DeleteImportedKeyMaterial => {
            if record.origin != Origin::External {
                return Err(Error::UnsupportedOperation(format!(
                    "{arn} was made with its key material (origin AWS_KMS); only keys of origin \
                     EXTERNAL take imported material"
                )));
            }
            true
        }
        _ => true,
    };
    if fits {
        Ok(())
    } else {
        Err(Error::InvalidKeyUsage(format!(
            "{arn} is a {} key of usage {}, which does not allow {op:?}",
            spec.as_str(),
            usage.as_str()
        )))
    }
}

/// The wire names of `algorithms`, or `None` when there are none (the field is then left out,
/// as AWS KMS does).
pub(crate) fn names<T: Copy>(algorithms: &[T], name: fn(T) -> &'static str) -> Option<Vec<String>> {
    (!algorithms.is_empty()).then(|| algorithms.iter().map(|a| name(*a).to_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for spec in KeySpec::ALL {
            assert_eq!(KeySpec::parse(spec.as_str()).unwrap(), spec);
            let json = serde_json::to_string(&spec).unwrap();
            assert_eq!(json, format!("\"{}\"", spec.as_str()));
        }
        for alg in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::parse(alg.as_str()).unwrap(), alg);
        }
        assert!(KeySpec::parse("RSA_1024").is_err());
        assert!(SigningAlgorithm::parse("ECDSA_SHA_512").is_err());
    }

    #[test]
    fn each_spec_lists_only_its_own_algorithms() {
        assert!(!KeySpec::EccNistP256.allows(KeyUsage::EncryptDecrypt));
        assert!(!KeySpec::SymmetricDefault.allows(KeyUsage::SignVerify));
        assert_eq!(
            KeySpec::EccNistP384.signing_algorithms(KeyUsage::SignVerify),
            &[SigningAlgorithm::EcdsaSha384]
        );
        assert!(
            KeySpec::Rsa2048
                .signing_algorithms(KeyUsage::EncryptDecrypt)
                .is_empty()
        );
        assert_eq!(
            KeySpec::Rsa4096.encryption_algorithms(KeyUsage::SignVerify),
            &[] as &[EncryptionAlgorithm]
        );
    }
}
