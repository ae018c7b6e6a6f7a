//! The ciphertext blob format, version 1.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "LSEB" (0x4C 0x53 0x45 0x42)
//! 4       1     format version (1)
//! 5       1     key id length n (1..=64)
//! 6       n     key id, printable ASCII
//! 6+n     4     key version, big-endian u32, >= 1
//! 10+n    12    nonce
//! 22+n    m+16  AEAD ciphertext of m plaintext bytes, then the 16-byte tag
//! ```
//!
//! The additional authenticated data is the header (bytes `0..10+n`) followed by the canonical
//! encryption context, so the format version, key id, key version and context are all bound to
//! the ciphertext.
//!
//! The AEAD is the key's: AES-256-GCM-SIV for keys held in memory ([`crate::SealingKey`]),
//! AES-256-GCM for keys inside an HSM, which seals through a [`BlobDraft`]. The blob need not
//! say which: the key id names the key, and the key knows where it lives.

use crate::EncryptionContext;

const MAGIC: [u8; 4] = *b"LSEB";
const FORMAT_VERSION: u8 = 1;
/// Length of the nonce in bytes.
pub const NONCE_LEN: usize = 12;
/// Length of the authentication tag in bytes.
pub const TAG_LEN: usize = 16;
/// The longest key id a blob can name.
pub const MAX_KEY_ID_LEN: usize = 64;
/// The longest plaintext a blob carries (16 MiB): blobs wrap keys and small secrets, not files.
pub const MAX_PLAINTEXT_LEN: usize = 16 << 20;
const FIXED_HEADER_LEN: usize = MAGIC.len() + 1 + 1 + 4;

/// Why bytes are not a well-formed blob. The key core reports every one of these to its callers
/// as the same opaque invalid-ciphertext error; the detail is for fuzzing and debugging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer bytes than the smallest possible blob.
    #[error("blob is truncated")]
    Truncated,
    /// The first four bytes are not the blob magic.
    #[error("not a Lakeseal ciphertext blob")]
    BadMagic,
    /// A format version this build does not read.
    #[error("unsupported blob format version {0}")]
    UnsupportedVersion(u8),
    /// The key id is empty, too long or not printable ASCII.
    #[error("malformed key id")]
    BadKeyId,
    /// The key version is 0.
    #[error("malformed key version")]
    BadKeyVersion,
    /// The ciphertext is longer than any blob this format makes.
    #[error("blob is too large")]
    TooLarge,
}

/// A parsed view of a ciphertext blob; borrows the bytes it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blob<'a> {
    header: &'a [u8],
    key_id: &'a str,
    key_version: u32,
    nonce: &'a [u8],
    ciphertext_and_tag: &'a [u8],
}

impl<'a> Blob<'a> {
    /// Parses untrusted bytes. Never panics; every length is checked before use.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let magic = bytes.get(..MAGIC.len()).ok_or(ParseError::Truncated)?;
        if magic != MAGIC {
            return Err(ParseError::BadMagic);
        }
        let version = *bytes.get(4).ok_or(ParseError::Truncated)?;
        if version != FORMAT_VERSION {
            return Err(ParseError::UnsupportedVersion(version));
        }
        let id_len = usize::from(*bytes.get(5).ok_or(ParseError::Truncated)?);
        let id_end = 6 + id_len;
        let id = bytes.get(6..id_end).ok_or(ParseError::Truncated)?;
        let key_id = std::str::from_utf8(id).map_err(|_| ParseError::BadKeyId)?;
        if !valid_key_id(key_id) {
            return Err(ParseError::BadKeyId);
        }
        let header_end = id_end + 4;
        let version_bytes: [u8; 4] = bytes
            .get(id_end..header_end)
            .and_then(|b| b.try_into().ok())
            .ok_or(ParseError::Truncated)?;
        let key_version = u32::from_be_bytes(version_bytes);
        if key_version == 0 {
            return Err(ParseError::BadKeyVersion);
        }
        let nonce = bytes
            .get(header_end..header_end + NONCE_LEN)
            .ok_or(ParseError::Truncated)?;
        let ciphertext_and_tag = &bytes[header_end + NONCE_LEN..];
        if ciphertext_and_tag.len() < TAG_LEN {
            return Err(ParseError::Truncated);
        }
        if ciphertext_and_tag.len() > MAX_PLAINTEXT_LEN + TAG_LEN {
            return Err(ParseError::TooLarge);
        }
        Ok(Self {
            header: &bytes[..header_end],
            key_id,
            key_version,
            nonce,
            ciphertext_and_tag,
        })
    }

    /// The id of the key that sealed this blob.
    pub fn key_id(&self) -> &'a str {
        self.key_id
    }

    /// The version of that key.
    pub fn key_version(&self) -> u32 {
        self.key_version
    }

    /// The length of the plaintext inside.
    pub fn plaintext_len(&self) -> usize {
        self.ciphertext_and_tag.len() - TAG_LEN
    }

    pub(crate) fn header(&self) -> &'a [u8] {
        self.header
    }

    /// The nonce, [`NONCE_LEN`] bytes.
    pub fn nonce(&self) -> &'a [u8] {
        self.nonce
    }

    /// The ciphertext with its tag at the end, as a one-shot AEAD (PKCS#11's `CKM_AES_GCM`)
    /// takes it.
    pub fn sealed(&self) -> &'a [u8] {
        self.ciphertext_and_tag
    }

    /// The additional authenticated data an AEAD must check: the header, then `context`
    /// canonically.
    pub fn aad(&self, context: &EncryptionContext) -> Vec<u8> {
        aad(self.header, context)
    }

    pub(crate) fn ciphertext_and_tag(&self) -> (&'a [u8], &'a [u8]) {
        self.ciphertext_and_tag
            .split_at(self.ciphertext_and_tag.len() - TAG_LEN)
    }
}

/// A blob being sealed by an AEAD outside this crate (an HSM's AES-GCM): the header and a fresh
/// random nonce are written; [`BlobDraft::finish`] appends the ciphertext and tag.
///
/// Random 96-bit nonces are safe for AES-GCM up to 2^32 blobs per key version; rotation makes a
/// new version long before that.
#[derive(Debug)]
pub struct BlobDraft {
    out: Vec<u8>,
    aad: Vec<u8>,
    nonce: [u8; NONCE_LEN],
}

impl BlobDraft {
    /// Starts a blob of `key_id` at `version` that will carry `plaintext_len` bytes under
    /// `context`.
    pub fn new(
        key_id: &str,
        version: u32,
        plaintext_len: usize,
        context: &EncryptionContext,
    ) -> crate::Result<Self> {
        if !valid_key_id(key_id) {
            return Err(crate::Error::InvalidKeyId);
        }
        if version == 0 {
            return Err(crate::Error::InvalidKeyVersion);
        }
        if plaintext_len > MAX_PLAINTEXT_LEN {
            return Err(crate::Error::TooLarge { len: plaintext_len });
        }
        let header_len = header_len(key_id);
        let mut out = Vec::with_capacity(header_len + NONCE_LEN + plaintext_len + TAG_LEN);
        write_header(&mut out, key_id, version);
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| crate::Error::Rng)?;
        out.extend_from_slice(&nonce);
        let aad = aad(&out[..header_len], context);
        Ok(Self { out, aad, nonce })
    }

    /// The nonce the AEAD must use.
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// The additional authenticated data the AEAD must bind.
    pub fn aad(&self) -> &[u8] {
        &self.aad
    }

    /// The finished blob, given the AEAD's ciphertext with its 16-byte tag at the end.
    pub fn finish(mut self, sealed: &[u8]) -> Vec<u8> {
        self.out.extend_from_slice(sealed);
        self.out
    }
}

pub(crate) fn valid_key_id(id: &str) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

pub(crate) fn header_len(key_id: &str) -> usize {
    FIXED_HEADER_LEN + key_id.len()
}

/// Writes the header; `key_id` has been checked by [`valid_key_id`].
pub(crate) fn write_header(out: &mut Vec<u8>, key_id: &str, version: u32) {
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    // valid_key_id bounds the length to MAX_KEY_ID_LEN, which fits a byte.
    out.push(key_id.len() as u8);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&version.to_be_bytes());
}

pub(crate) fn aad(header: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + 4 + context.size_in_bytes() * 2);
    aad.extend_from_slice(header);
    context.write_canonical(&mut aad);
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_draft_makes_a_blob_that_parses_with_its_aad() {
        let context = EncryptionContext::from_iter([("k", "v".to_owned())]);
        let draft = BlobDraft::new("key", 3, 5, &context).unwrap();
        let nonce = *draft.nonce();
        let aad = draft.aad().to_vec();
        let bytes = draft.finish(&[7; 5 + TAG_LEN]);
        let blob = Blob::parse(&bytes).unwrap();
        assert_eq!((blob.key_id(), blob.key_version()), ("key", 3));
        assert_eq!(blob.nonce(), nonce);
        assert_eq!(blob.sealed(), [7; 5 + TAG_LEN]);
        assert_eq!(blob.aad(&context), aad);
        assert_ne!(blob.aad(&EncryptionContext::default()), aad);
        assert!(BlobDraft::new("key", 0, 5, &context).is_err());
        assert!(BlobDraft::new("", 1, 5, &context).is_err());
    }

    #[test]
    fn truncations_are_typed_errors() {
        let blob = {
            let mut b = Vec::new();
            write_header(&mut b, "key", 7);
            b.extend_from_slice(&[0; NONCE_LEN + TAG_LEN]);
            b
        };
        assert!(Blob::parse(&blob).is_ok());
        for len in 0..blob.len() {
            assert!(
                Blob::parse(&blob[..len]).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
    }

    #[test]
    fn header_fields_are_checked() {
        let mut b = Vec::new();
        write_header(&mut b, "key", 1);
        b.extend_from_slice(&[0; NONCE_LEN + TAG_LEN]);
        let mut bad = b.clone();
        bad[0] = b'X';
        assert_eq!(Blob::parse(&bad), Err(ParseError::BadMagic));
        let mut bad = b.clone();
        bad[4] = 2;
        assert_eq!(Blob::parse(&bad), Err(ParseError::UnsupportedVersion(2)));
        let mut bad = b.clone();
        bad[5] = 0;
        assert_eq!(Blob::parse(&bad), Err(ParseError::BadKeyId));
        let mut bad = b.clone();
        bad[6] = b' ';
        assert_eq!(Blob::parse(&bad), Err(ParseError::BadKeyId));
        let mut bad = b;
        bad[9..13].copy_from_slice(&[0; 4]);
        assert_eq!(Blob::parse(&bad), Err(ParseError::BadKeyVersion));
    }
}
