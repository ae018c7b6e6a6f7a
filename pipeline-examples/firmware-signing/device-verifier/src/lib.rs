//! Firmware verification on the device: is this image signed by the release key?
//!
//! The device holds only the release key's public half (the DER `SubjectPublicKeyInfo` that the
//! key core's `GetPublicKey` returns); it never talks to the key core. The release step signs
//! the image's SHA-256 digest with `ECDSA_SHA_256`, which is the ECDSA P-256 / SHA-256 signature
//! of the image itself, DER-encoded: exactly what is checked here.

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

/// Why an image is refused.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// The public key is not a DER `SubjectPublicKeyInfo` of a P-256 key.
    #[error("the public key is not a DER P-256 SubjectPublicKeyInfo")]
    PublicKey,
    /// The signature is not a DER ECDSA signature.
    #[error("the signature is not a DER ECDSA signature")]
    Malformed,
    /// The signature is well formed but not the release key's signature of this image.
    #[error("the signature does not match this image and key")]
    Mismatch,
}

/// Accepts `image` when `signature` is the release key's signature of it.
pub fn verify(public_key_der: &[u8], image: &[u8], signature: &[u8]) -> Result<(), Rejected> {
    let key = VerifyingKey::from_public_key_der(public_key_der).map_err(|_| Rejected::PublicKey)?;
    let signature = DerSignature::try_from(signature).map_err(|_| Rejected::Malformed)?;
    key.verify(image, &signature)
        .map_err(|_| Rejected::Mismatch)
}
