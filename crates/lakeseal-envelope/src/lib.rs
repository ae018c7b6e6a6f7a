//! Envelope encryption primitives for Lakeseal.
//!
//! * [`DataKey`]: a 256-bit key from the operating system's RNG. It zeroizes on drop and has no
//!   `Clone`, `Serialize` or derived `Debug`; its bytes are reached only through
//!   [`DataKey::expose_secret`].
//! * [`SealingKey`]: one version of one named key, ready to seal and open with AES-256-GCM-SIV
//!   (RFC 8452).
//! * [`Blob`]: the versioned, self-describing ciphertext blob that [`SealingKey::seal`] makes.
//! * [`EncryptionContext`]: the non-secret key/value pairs bound to a blob as additional
//!   authenticated data, in a canonical, length-prefixed encoding.
//!
//! The crate is pure: no I/O beyond reading the OS RNG, no async.
//!
//! ```
//! use lakeseal_envelope::{Blob, DataKey, EncryptionContext, SealingKey};
//!
//! let key = SealingKey::new("1234abcd-12ab-34cd-56ef-1234567890ab", 1, &DataKey::generate()?)?;
//! let context = EncryptionContext::from_iter([("table", "telemetry")]);
//!
//! let blob = key.seal(b"hello", &context)?;
//! assert_eq!(Blob::parse(&blob)?.key_id(), key.key_id());
//! assert_eq!(key.open(&blob, &context)?.expose_secret(), b"hello");
//!
//! // A different context, or any changed byte, is refused with one opaque error.
//! let other = EncryptionContext::from_iter([("table", "billing")]);
//! assert!(key.open(&blob, &other).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod blob;
mod context;
mod key;
mod secret;

pub use blob::{
    Blob, BlobDraft, MAX_KEY_ID_LEN, MAX_PLAINTEXT_LEN, NONCE_LEN, ParseError, TAG_LEN,
};
pub use context::EncryptionContext;
pub use key::{DataKey, KEY_LEN, SealingKey, random_bytes};
pub use secret::SecretBytes;

/// Errors of this crate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The blob is not one this key made for this encryption context. Deliberately says nothing
    /// about which part failed (format, key id, version, tag or context).
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// A key id must be 1 to [`MAX_KEY_ID_LEN`] bytes of printable ASCII.
    #[error("invalid key id: must be 1 to {MAX_KEY_ID_LEN} printable ASCII characters")]
    InvalidKeyId,
    /// Key versions count from 1.
    #[error("invalid key version: versions count from 1")]
    InvalidKeyVersion,
    /// The plaintext is longer than a blob may carry.
    #[error("plaintext of {len} bytes is over the limit of {MAX_PLAINTEXT_LEN} bytes")]
    TooLarge {
        /// The plaintext's length in bytes.
        len: usize,
    },
    /// A key must be exactly [`KEY_LEN`] bytes.
    #[error("a key is {KEY_LEN} bytes, got {0}")]
    KeyLength(usize),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
