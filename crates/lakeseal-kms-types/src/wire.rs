//! Serde helpers for the AWS JSON shapes: base64 blobs, secret bytes and text, epoch-second dates.

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

/// `#[serde(with = "secret_b64_opt")]` for optional secret bytes (`SecretBinary`).
pub mod secret_b64_opt {
    use super::*;

    /// Serializes as standard base64 (the encoded text is wiped after use).
    pub fn serialize<S: Serializer>(bytes: &Option<SecretBytes>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => secret_b64::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    /// Deserializes standard base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
        secret_b64::deserialize(d).map(Some)
    }
}

/// `#[serde(with = "secret_str_opt")]` for optional secret text (`SecretString`): a JSON string
/// on the wire, its UTF-8 bytes in a [`SecretBytes`]. A string the parser hands over owned (one
/// with escapes) is moved in, not copied; a borrowed one is copied once, from the request body.
pub mod secret_str_opt {
    use super::*;

    /// Serializes as a JSON string.
    pub fn serialize<S: Serializer>(text: &Option<SecretBytes>, s: S) -> Result<S::Ok, S::Error> {
        match text {
            Some(text) => {
                let text = std::str::from_utf8(text.expose_secret())
                    .map_err(|_| serde::ser::Error::custom("a secret string is not UTF-8"))?;
                s.serialize_str(text)
            }
            None => s.serialize_none(),
        }
    }

    /// Deserializes a JSON string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = SecretBytes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretBytes, E> {
                Ok(SecretBytes::new(v.as_bytes().to_vec()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<SecretBytes, E> {
                Ok(SecretBytes::new(v.into_bytes()))
            }
        }
        d.deserialize_string(Text).map(Some)
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
