//! The blob format from the outside: frozen vectors, round trips, tampering and garbage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use lakeseal_envelope::{Blob, DataKey, EncryptionContext, Error, SealingKey};
use proptest::prelude::*;

/// Blobs made by version 1 of the format. If one of these stops opening, the format changed:
/// that must be a deliberate act with a new format version, never an accident.
struct Frozen {
    key: &'static str,
    key_id: &'static str,
    key_version: u32,
    context: &'static [(&'static str, &'static str)],
    plaintext: &'static str,
    blob: &'static str,
}

const FROZEN: &[Frozen] = &[
    Frozen {
        key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab",
        key_version: 1,
        context: &[],
        plaintext: "",
        blob: FROZEN_0,
    },
    Frozen {
        key: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        key_id: "1234abcd-12ab-34cd-56ef-1234567890ab",
        key_version: 7,
        context: &[("table", "telemetry"), ("topic", "iot")],
        plaintext: "68656c6c6f2c206c616b6573",
        blob: FROZEN_1,
    },
];
const FROZEN_0: &str = concat!(
    "4c534542012431323334616263642d313261622d333463642d353665662d31323334353637383930616200000001",
    "ecf772b0ee14681a7656835f8eb309ccda968ab9b458d3e171b1ebf8",
);
const FROZEN_1: &str = concat!(
    "4c534542012431323334616263642d313261622d333463642d353665662d31323334353637383930616200000007",
    "1ef2f7dba605d1490d4918579ec5d53ef84d48b29820158e4db8f6d83795cb32385c537d0d93cef7",
);

fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().copied().collect()
}

fn key(hex_key: &str, id: &str, version: u32) -> SealingKey {
    let key = DataKey::try_from_slice(&hex::decode(hex_key).unwrap()).unwrap();
    SealingKey::new(id, version, &key).unwrap()
}

#[test]
fn frozen_vectors_still_open() {
    for v in FROZEN {
        let key = key(v.key, v.key_id, v.key_version);
        let blob = hex::decode(v.blob).unwrap();
        let parsed = Blob::parse(&blob).unwrap();
        assert_eq!(parsed.key_id(), v.key_id);
        assert_eq!(parsed.key_version(), v.key_version);
        let opened = key.open(&blob, &context(v.context)).unwrap();
        assert_eq!(hex::encode(opened.expose_secret()), v.plaintext);
    }
}

#[test]
#[ignore = "prints fresh frozen vectors; run by hand when the format version changes"]
fn print_frozen_vectors() {
    for v in FROZEN {
        let key = key(v.key, v.key_id, v.key_version);
        let blob = key
            .seal(&hex::decode(v.plaintext).unwrap(), &context(v.context))
            .unwrap();
        println!("{}", hex::encode(blob));
    }
}

#[test]
fn flipping_any_byte_gives_one_opaque_error() {
    let key = key(FROZEN[1].key, FROZEN[1].key_id, FROZEN[1].key_version);
    let ctx = context(FROZEN[1].context);
    let blob = key.seal(b"a wrapped data key, say", &ctx).unwrap();
    for i in 0..blob.len() {
        for bit in 0..8 {
            let mut tampered = blob.clone();
            tampered[i] ^= 1 << bit;
            assert_eq!(
                key.open(&tampered, &ctx).unwrap_err(),
                Error::InvalidCiphertext,
                "byte {i} bit {bit}"
            );
        }
    }
}

#[test]
fn wrong_context_key_or_version_is_refused() {
    let k = key(FROZEN[1].key, "k", 1);
    let ctx = context(&[("a", "bc")]);
    let blob = k.seal(b"secret", &ctx).unwrap();
    assert_eq!(
        k.open(&blob, &context(&[("ab", "c")])).unwrap_err(),
        Error::InvalidCiphertext
    );
    assert_eq!(
        k.open(&blob, &EncryptionContext::new()).unwrap_err(),
        Error::InvalidCiphertext
    );
    let other_version = key(FROZEN[1].key, "k", 2);
    assert_eq!(
        other_version.open(&blob, &ctx).unwrap_err(),
        Error::InvalidCiphertext
    );
    let other_key = SealingKey::new("k", 1, &DataKey::generate().unwrap()).unwrap();
    assert_eq!(
        other_key.open(&blob, &ctx).unwrap_err(),
        Error::InvalidCiphertext
    );
}

#[test]
fn oversized_plaintext_is_refused() {
    let k = key(FROZEN[1].key, "k", 1);
    let big = vec![0; lakeseal_envelope::MAX_PLAINTEXT_LEN + 1];
    assert!(matches!(
        k.seal(&big, &EncryptionContext::new()),
        Err(Error::TooLarge { .. })
    ));
}

fn arb_context() -> impl Strategy<Value = EncryptionContext> {
    proptest::collection::btree_map(".{0,12}", ".{0,24}", 0..6).prop_map(EncryptionContext::from)
}

proptest! {
    #[test]
    fn seal_open_round_trip(
        plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
        key_id in "[!-~]{1,64}",
        version in 1u32..,
        ctx in arb_context(),
    ) {
        let k = SealingKey::new(&key_id, version, &DataKey::generate().unwrap()).unwrap();
        let blob = k.seal(&plaintext, &ctx).unwrap();
        let parsed = Blob::parse(&blob).unwrap();
        prop_assert_eq!(parsed.key_id(), key_id.as_str());
        prop_assert_eq!(parsed.key_version(), version);
        prop_assert_eq!(parsed.plaintext_len(), plaintext.len());
        let opened = k.open(&blob, &ctx).unwrap();
        prop_assert_eq!(opened.expose_secret(), &plaintext[..]);
    }

    #[test]
    fn distinct_contexts_never_share_an_encoding(a in arb_context(), b in arb_context()) {
        prop_assume!(a != b);
        prop_assert_ne!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn random_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = Blob::parse(&bytes);
        let k = key(FROZEN[1].key, "k", 1);
        prop_assert!(k.open(&bytes, &EncryptionContext::new()).is_err());
    }

    #[test]
    fn blob_like_prefixes_never_panic_the_parser(
        id_len in any::<u8>(),
        rest in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut bytes = b"LSEB\x01".to_vec();
        bytes.push(id_len);
        bytes.extend_from_slice(&rest);
        let _ = Blob::parse(&bytes);
    }
}
