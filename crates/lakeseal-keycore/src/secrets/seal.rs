//! The envelope of a secret's value: a fresh data key per version, sealed under the CMK's
//! primary version; the value sealed under the data key. Both bound to the secret's ARN and
//! the version's id, so that a sealed value moved to another secret or version does not open.

use lakeseal_envelope::{DataKey, EncryptionContext, SealingKey, SecretBytes};

use crate::Result;

/// The encryption context of a version: the names AWS Secrets Manager uses.
pub(crate) fn context(secret_arn: &str, version_id: &str) -> EncryptionContext {
    EncryptionContext::from_iter([("SecretARN", secret_arn), ("SecretVersionId", version_id)])
}

/// A version's value at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// The data key, sealed under a CMK version (a key-core ciphertext blob, which names them).
    pub(crate) wrapped_key: Vec<u8>,
    /// The value, sealed under the data key.
    pub(crate) ciphertext: Vec<u8>,
}

/// The data key's own name inside the value's blob (it is used for nothing else).
const DATA_KEY_NAME: &str = "secret-value";

/// Seals `value` under a fresh data key, and the data key with `wrap` (a CMK's primary
/// version sealing it under `context`, in memory or in an HSM).
pub(crate) fn seal(
    wrap: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
    value: &[u8],
    context: &EncryptionContext,
) -> Result<Sealed> {
    let data_key = DataKey::generate()?;
    let wrapped_key = wrap(data_key.expose_secret())?;
    let ciphertext = SealingKey::new(DATA_KEY_NAME, 1, &data_key)?.seal(value, context)?;
    Ok(Sealed {
        wrapped_key,
        ciphertext,
    })
}

/// Opens a sealed value: `unwrap` opens its data key with the CMK version that sealed it.
pub(crate) fn open(
    unwrap: impl FnOnce(&[u8]) -> Result<SecretBytes>,
    sealed: &Sealed,
    context: &EncryptionContext,
) -> Result<SecretBytes> {
    let data_key = unwrap(&sealed.wrapped_key)?;
    let data_key = DataKey::try_from_slice(data_key.expose_secret())?;
    Ok(SealingKey::new(DATA_KEY_NAME, 1, &data_key)?.open(&sealed.ciphertext, context)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmk() -> SealingKey {
        SealingKey::new("k", 1, &DataKey::generate().unwrap()).unwrap()
    }

    fn seal(key: &SealingKey, value: &[u8], context: &EncryptionContext) -> Result<Sealed> {
        super::seal(|k| Ok(key.seal(k, context)?), value, context)
    }

    fn open(key: &SealingKey, sealed: &Sealed, context: &EncryptionContext) -> Result<SecretBytes> {
        super::open(|b| Ok(key.open(b, context)?), sealed, context)
    }

    #[test]
    fn a_value_opens_only_with_its_key_secret_and_version() {
        let key = cmk();
        let here = context("arn:s-AAAAAA", "v1");
        let sealed = seal(&key, b"hunter2", &here).unwrap();
        assert_eq!(
            open(&key, &sealed, &here).unwrap().expose_secret(),
            b"hunter2"
        );
        assert!(!sealed.ciphertext.windows(7).any(|w| w == b"hunter2"));
        assert!(open(&key, &sealed, &context("arn:s-AAAAAA", "v2")).is_err());
        assert!(open(&key, &sealed, &context("arn:t-AAAAAA", "v1")).is_err());
        assert!(open(&cmk(), &sealed, &here).is_err());
        let mut swapped = seal(&key, b"other", &here).unwrap();
        swapped.ciphertext = sealed.ciphertext.clone();
        assert!(
            open(&key, &swapped, &here).is_err(),
            "each version has its own data key"
        );
    }
}
