//! Serde helpers for the AWS KMS JSON shapes: base64 blobs, secret bytes, epoch-second dates.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::clock::Millis;

/// Secret bytes (a plaintext or a data key): zeroized on drop, never printed, base64 on the wire.
#[derive(Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps bytes.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// The bytes. Every call site is a place to review.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
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
        Self(Zeroizing::new(bytes))
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(STANDARD.encode(&self.0[..])))
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        STANDARD
            .decode(text.as_bytes())
            .map(|b| Self(Zeroizing::new(b)))
            .map_err(|_| serde::de::Error::custom("not valid base64"))
    }
}

/// `#[serde(with = "b64")]` for non-secret byte strings such as ciphertext blobs.
pub mod b64 {
    use super::*;

    /// Serializes as standard base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    /// Deserializes standard base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map_err(|_| serde::de::Error::custom("not valid base64"))
    }
}

/// `#[serde(with = "epoch_seconds")]`: a time as fractional seconds since the epoch, as AWS
/// JSON protocols send timestamps.
pub mod epoch_seconds {
    use super::*;

    /// Serializes milliseconds as seconds.
    pub fn serialize<S: Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(*ms as f64 / 1000.0)
    }

    /// Deserializes seconds into milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        Ok((f64::deserialize(d)? * 1000.0).round() as Millis)
    }
}

/// `#[serde(with = "epoch_seconds_opt")]` for optional times.
pub mod epoch_seconds_opt {
    use super::*;

    /// Serializes milliseconds as seconds.
    pub fn serialize<S: Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_some(&(*ms as f64 / 1000.0)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes seconds into milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.map(|s| (s * 1000.0).round() as Millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bytes_never_print() {
        let s = SecretBytes::from(vec![0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(format!("{s:?}"), "SecretBytes(4 bytes)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"3q2+7w==\"");
    }

    #[test]
    fn bad_base64_is_an_error() {
        assert!(serde_json::from_str::<SecretBytes>("\"***\"").is_err());
    }
}
