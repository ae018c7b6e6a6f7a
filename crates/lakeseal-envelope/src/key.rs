//! Key types: the 256-bit [`DataKey`] and the ready-to-use [`SealingKey`].

use std::fmt;

use aes_gcm_siv::aead::{AeadInPlace, KeyInit};
use aes_gcm_siv::{Aes256GcmSiv, Nonce, Tag};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::blob::{self, Blob, MAX_KEY_ID_LEN, MAX_PLAINTEXT_LEN, NONCE_LEN, TAG_LEN};
use crate::{EncryptionContext, Error, Result, SecretBytes};

/// Length of a [`DataKey`] in bytes.
pub const KEY_LEN: usize = 32;

/// A 256-bit symmetric key.
///
/// Made by the OS RNG ([`DataKey::generate`]) or taken from bytes the caller already holds
/// ([`DataKey::from_bytes`]). Zeroized on drop; never cloned, serialized or printed.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; KEY_LEN]);

impl DataKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut key = Self([0; KEY_LEN]);
        getrandom::fill(&mut key.0).map_err(|_| Error::Rng)?;
        Ok(key)
    }

    /// Takes ownership of existing key bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Copies a key out of a slice, which must be exactly [`KEY_LEN`] bytes long.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self> {
        let mut key = Self([0; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(Error::KeyLength(bytes.len()));
        }
        key.0.copy_from_slice(bytes);
        Ok(key)
    }

    /// The key bytes. Every use is a place to review: they must not be logged, formatted or
    /// stored unsealed.
    pub fn expose_secret(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey").finish_non_exhaustive()
    }
}

/// Fills a new buffer of `len` bytes from the operating system's random number generator.
pub fn random_bytes(len: usize) -> Result<SecretBytes> {
    let mut out = SecretBytes::new(vec![0; len]);
    getrandom::fill(out.expose_secret_mut()).map_err(|_| Error::Rng)?;
    Ok(out)
}

/// One version of a named key, with its AES-256-GCM-SIV key schedule ready.
///
/// Blobs it seals name `key_id` and `version`; it opens only blobs that name the same. The key
/// schedule is zeroized on drop (the `aes` crate's `zeroize` support).
pub struct SealingKey {
    key_id: String,
    version: u32,
    cipher: Aes256GcmSiv,
}

impl SealingKey {
    /// Prepares `key` to seal and open blobs of `key_id` at `version` (counted from 1).
    pub fn new(key_id: &str, version: u32, key: &DataKey) -> Result<Self> {
        if !blob::valid_key_id(key_id) {
            return Err(Error::InvalidKeyId);
        }
        if version == 0 {
            return Err(Error::InvalidKeyVersion);
        }
        Ok(Self {
            key_id: key_id.to_owned(),
            version,
            cipher: Aes256GcmSiv::new(key.expose_secret().into()),
        })
    }

    /// The key id this key seals under.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key version this key seals under.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Seals `plaintext` into a new blob under a fresh random nonce, binding `context`.
    ///
    /// AES-GCM-SIV stays safe under nonce reuse, so random 96-bit nonces need no counter state.
    pub fn seal(&self, plaintext: &[u8], context: &EncryptionContext) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge {
                len: plaintext.len(),
            });
        }
        let header_len = blob::header_len(&self.key_id);
        let mut out = Vec::with_capacity(header_len + NONCE_LEN + plaintext.len() + TAG_LEN);
        blob::write_header(&mut out, &self.key_id, self.version);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
        out.extend_from_slice(&nonce);
        let body = out.len();
        out.extend_from_slice(plaintext);

        let aad = blob::aad(&out[..header_len], context);
        let tag = self.seal_detached(&nonce, &aad, &mut out[body..])?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// The AEAD step of [`SealingKey::seal`]: encrypts `buffer` in place, returns the tag.
    fn seal_detached(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN]> {
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, buffer)
            // Only fails for inputs over 2^36 bytes, which MAX_PLAINTEXT_LEN already refused.
            .map_err(|_| Error::TooLarge { len: buffer.len() })?;
        Ok(tag.into())
    }

    /// The AEAD step of [`SealingKey::open`]: decrypts `buffer` in place if `tag` verifies.
    fn open_detached(&self, nonce: &[u8], aad: &[u8], buffer: &mut [u8], tag: &[u8]) -> Result<()> {
        self.cipher
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buffer, Tag::from_slice(tag))
            .map_err(|_| Error::InvalidCiphertext)
    }

    /// Opens a blob this key sealed under `context`.
    ///
    /// Every failure — a malformed blob, another key id or version, a changed byte, another
    /// context — is the one opaque [`Error::InvalidCiphertext`].
    pub fn open(&self, blob: &[u8], context: &EncryptionContext) -> Result<SecretBytes> {
        let blob = Blob::parse(blob).map_err(|_| Error::InvalidCiphertext)?;
        self.open_parsed(&blob, context)
    }

    /// Opens an already parsed blob; see [`SealingKey::open`].
    pub fn open_parsed(&self, blob: &Blob<'_>, context: &EncryptionContext) -> Result<SecretBytes> {
        if blob.key_id() != self.key_id || blob.key_version() != self.version {
            return Err(Error::InvalidCiphertext);
        }
        let (sealed, tag) = blob.ciphertext_and_tag();
        let mut plaintext = SecretBytes::from(sealed);
        let aad = blob::aad(blob.header(), context);
        self.open_detached(blob.nonce(), &aad, plaintext.expose_secret_mut(), tag)?;
        Ok(plaintext)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("key_id", &self.key_id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

const _: () = assert!(MAX_KEY_ID_LEN <= u8::MAX as usize);

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8452 Appendix C.2, AEAD_AES_256_GCM_SIV: (key, nonce, aad, plaintext, ciphertext || tag).
    const RFC8452_C2: &[(&str, &str, &str, &str, &str)] = &[
        (
            "0100000000000000000000000000000000000000000000000000000000000000",
            "030000000000000000000000",
            "",
            "",
            "07f5f4169bbf55a8400cd47ea6fd400f",
        ),
        (
            "0100000000000000000000000000000000000000000000000000000000000000",
            "030000000000000000000000",
            "",
            "0100000000000000",
            "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28",
        ),
        (
            "0100000000000000000000000000000000000000000000000000000000000000",
            "030000000000000000000000",
            "",
            "0100000000000000000000000000000002000000000000000000000000000000",
            "4a6a9db4c8c6549201b9edb53006cba821ec9cf850948a7c86c68ac7539d027fe819e63abcd020b006a976397632eb5d",
        ),
        (
            "0100000000000000000000000000000000000000000000000000000000000000",
            "030000000000000000000000",
            "01",
            "0200000000000000",
            "1de22967237a813291213f267e3b452f02d01ae33e4ec854",
        ),
        (
            "0100000000000000000000000000000000000000000000000000000000000000",
            "030000000000000000000000",
            "01",
            "02000000000000000000000000000000",
            "c91545823cc24f17dbb0e9e807d5ec17b292d28ff61189e8e49f3875ef91aff7",
        ),
        (
            "bae8e37fc83441b16034566b7a806c46bb91c3c5aedb64a6c590bc84d1a5e269",
            "e4b47801afc0577e34699b9e",
            "4fbdc66f14",
            "671fdd",
            "0eaccb93da9bb81333aee0c785b240d319719d",
        ),
        (
            "d1894728b3fed1473c528b8426a582995929a1499e9ad8780c8d63d0ab4149c0",
            "9f572c614b4745914474e7c7",
            "489c8fde2be2cf97e74e932d4ed87d",
            "c9882e5386fd9f92ec",
            "0df9e308678244c44bc0fd3dc6628dfe55ebb0b9fb2295c8c2",
        ),
        (
            "9745b3d1ae06556fb6aa7890bebc18fe6b3db4da3d57aa94842b9803a96e07fb",
            "6de71860f762ebfbd08284e4",
            "f37de21c7ff901cfe8a69615a93fdf7a98cad481796245709f",
            "21702de0de18baa9c9596291b08466",
            "793576dfa5c0f88729a7ed3c2f1bffb3080d28f6ebb5d3648ce97bd5ba67fd",
        ),
    ];

    /// The AEAD core that `seal` and `open` use reproduces RFC 8452 bit for bit.
    #[test]
    fn rfc8452_vectors() {
        for (key, nonce, aad, plaintext, expected) in RFC8452_C2 {
            let key = DataKey::try_from_slice(&hex::decode(key).unwrap()).unwrap();
            let key = SealingKey::new("rfc8452", 1, &key).unwrap();
            let nonce: [u8; NONCE_LEN] = hex::decode(nonce).unwrap().try_into().unwrap();
            let aad = hex::decode(aad).unwrap();
            let plaintext = hex::decode(plaintext).unwrap();
            let mut buffer = plaintext.clone();
            let tag = key.seal_detached(&nonce, &aad, &mut buffer).unwrap();
            buffer.extend_from_slice(&tag);
            assert_eq!(hex::encode(&buffer), *expected);

            let (ciphertext, tag) = buffer.split_at_mut(plaintext.len());
            key.open_detached(&nonce, &aad, ciphertext, tag).unwrap();
            assert_eq!(ciphertext, &plaintext[..]);
            tag[0] ^= 1;
            assert_eq!(
                key.open_detached(&nonce, &aad, ciphertext, tag),
                Err(Error::InvalidCiphertext)
            );
        }
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let key = DataKey::from_bytes([0xAB; KEY_LEN]);
        assert_eq!(format!("{key:?}"), "DataKey { .. }");
        let sealing = SealingKey::new("k", 3, &key).unwrap();
        let printed = format!("{sealing:?}");
        assert_eq!(printed, r#"SealingKey { key_id: "k", version: 3, .. }"#);
    }

    #[test]
    fn generated_keys_differ() {
        let a = DataKey::generate().unwrap();
        let b = DataKey::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn slice_length_is_checked() {
        assert_eq!(
            DataKey::try_from_slice(&[0; 31]).unwrap_err(),
            Error::KeyLength(31)
        );
        assert!(DataKey::try_from_slice(&[0; 32]).is_ok());
    }

    #[test]
    fn bad_key_ids_and_versions_are_refused() {
        let key = DataKey::from_bytes([1; KEY_LEN]);
        assert_eq!(
            SealingKey::new("", 1, &key).unwrap_err(),
            Error::InvalidKeyId
        );
        assert_eq!(
            SealingKey::new("a b", 1, &key).unwrap_err(),
            Error::InvalidKeyId
        );
        let long = "x".repeat(MAX_KEY_ID_LEN + 1);
        assert_eq!(
            SealingKey::new(&long, 1, &key).unwrap_err(),
            Error::InvalidKeyId
        );
        assert_eq!(
            SealingKey::new("k", 0, &key).unwrap_err(),
            Error::InvalidKeyVersion
        );
    }
}
