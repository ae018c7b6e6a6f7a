//! The encryption context and its canonical encoding.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// Non-secret key/value pairs bound to a ciphertext as additional authenticated data.
///
/// Opening a blob needs exactly the context it was sealed with. The pairs are kept sorted, so the
/// order in which a caller gives them does not matter; [`EncryptionContext::canonical_bytes`]
/// length-prefixes every key and value, so `{"a":"bc"}` and `{"ab":"c"}` encode differently.
///
/// Deserialising refuses a key given twice (`{"a":"b","a":"c"}`): which value a caller meant is
/// not for the key core to guess, and a last-wins map would bind a context other than the one a
/// reviewer of the request reads first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for EncryptionContext {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = EncryptionContext;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of string values")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut pairs = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    if pairs.contains_key(&key) {
                        return Err(serde::de::Error::custom(format_args!(
                            "encryption context key {key:?} is given twice"
                        )));
                    }
                    pairs.insert(key, value);
                }
                Ok(EncryptionContext(pairs))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

impl EncryptionContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Adds or replaces a pair.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    /// The pairs, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The number of bytes of all keys and values together, the measure AWS KMS limits.
    pub fn size_in_bytes(&self) -> usize {
        self.0.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// The canonical encoding: the pair count, then each key and value, each as a 32-bit
    /// big-endian length followed by its UTF-8 bytes, pairs sorted by key.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.0.len() * 8 + self.size_in_bytes());
        self.write_canonical(&mut out);
        out
    }

    pub(crate) fn write_canonical(&self, out: &mut Vec<u8>) {
        put_len(out, self.0.len());
        for (key, value) in &self.0 {
            put_len(out, key.len());
            out.extend_from_slice(key.as_bytes());
            put_len(out, value.len());
            out.extend_from_slice(value.as_bytes());
        }
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // A context is bounded by the key core's request limits, far below 4 GiB; saturate rather
    // than wrap so that an absurd length can never alias a shorter one.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for EncryptionContext {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

impl From<BTreeMap<String, String>> for EncryptionContext {
    fn from(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_twice_is_refused() {
        let e = serde_json::from_str::<EncryptionContext>(r#"{"a":"b","a":"c"}"#).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
        let ok: EncryptionContext = serde_json::from_str(r#"{"b":"1","a":"2"}"#).unwrap();
        assert_eq!(ok, EncryptionContext::from_iter([("a", "2"), ("b", "1")]));
    }

    #[test]
    fn length_prefixes_keep_boundaries_apart() {
        let a = EncryptionContext::from_iter([("a", "bc")]);
        let b = EncryptionContext::from_iter([("ab", "c")]);
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn order_of_insertion_does_not_matter() {
        let a = EncryptionContext::from_iter([("x", "1"), ("y", "2")]);
        let b = EncryptionContext::from_iter([("y", "2"), ("x", "1")]);
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn frozen_encoding() {
        let context = EncryptionContext::from_iter([("b", "2"), ("a", "1")]);
        assert_eq!(
            hex::encode(context.canonical_bytes()),
            concat!(
                "00000002", "00000001", "61", "00000001", "31", "00000001", "62", "00000001", "32"
            )
        );
        assert_eq!(
            hex::encode(EncryptionContext::new().canonical_bytes()),
            "00000000"
        );
    }
}
