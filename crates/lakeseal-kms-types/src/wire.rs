//! Serde helpers for the AWS KMS JSON shapes: base64 blobs, secret bytes, epoch-second dates.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_envelope::SecretBytes;
use serde::{Deserialize, Deserializer, Serializer};
use zeroize::Zeroizing;

/// Milliseconds since the Unix epoch, as the key core keeps times.
pub type Millis = i64;

/// `#[serde(with = "secret_b64")]` for secret bytes: base64 on the wire, and the decoded bytes
/// go straight into a [`SecretBytes`].
pub mod secret_b64 {
    use super::*;

    /// Serializes as standard base64 (the encoded text is wiped after use).
    pub fn serialize<S: Serializer>(bytes: &SecretBytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(STANDARD.encode(bytes.expose_secret())))
    }

    /// Deserializes standard base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SecretBytes, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        STANDARD
            .decode(text.as_bytes())
            .map(SecretBytes::new)
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

    #[derive(serde::Serialize, Deserialize)]
    struct Holder(#[serde(with = "secret_b64")] SecretBytes);

    #[test]
    fn secrets_are_base64_on_the_wire() {
        let s = Holder(SecretBytes::from(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"3q2+7w==\"");
        let back: Holder = serde_json::from_str("\"3q2+7w==\"").unwrap();
        assert_eq!(back.0.expose_secret(), [0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn bad_base64_is_an_error() {
        assert!(serde_json::from_str::<Holder>("\"***\"").is_err());
    }
}
