//! Arbitrary bytes as a lake file (a tampered or foreign object in the bucket): reading its key
//! material and decrypting it return typed errors, never a panic.
#![no_main]

use bytes::Bytes;
use lakeseal_envelope::DataKey;
use lakeseal_stage::read;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let file = Bytes::copy_from_slice(data);
    let _ = read::key_material(&file);
    let _ = read::decrypt(file, &DataKey::from_bytes([7; 32]));
});
