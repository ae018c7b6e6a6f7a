//! Arbitrary bytes as a ciphertext blob: parsing and opening never panic, and a parsed blob's
//! fields stay within the input.
#![no_main]

use lakeseal_envelope::{Blob, DataKey, EncryptionContext, SealingKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(blob) = Blob::parse(data) {
        assert!(blob.key_id().len() <= lakeseal_envelope::MAX_KEY_ID_LEN);
        assert!(blob.plaintext_len() < data.len());
    }
    let key = SealingKey::new("fuzz", 1, &DataKey::from_bytes([9; 32])).unwrap();
    // Arbitrary bytes never open: forging a tag is what AES-GCM-SIV rules out.
    assert!(key.open(data, &EncryptionContext::new()).is_err());
});
