//! Arbitrary bytes as a lake file (a tampered or foreign object in the bucket): reading its key
//! material and decrypting it return typed errors; no panic escapes.
//!
//! parquet 60 panics on some malformed encrypted modules; `lakeseal_stage::read` contains those
//! panics and answers `Error::Malformed`. libfuzzer-sys aborts on *any* panic through its panic
//! hook, which would report parquet's contained panics too, so this target installs a silent
//! hook: a panic that `read` contains is fine, one that escapes still unwinds into libFuzzer's
//! frames and aborts the run as a crash.
#![no_main]

use bytes::Bytes;
use lakeseal_envelope::DataKey;
use lakeseal_stage::read;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        let file = Bytes::copy_from_slice(data);
        let _ = read::key_material(&file);
        let _ = read::decrypt(file, &DataKey::from_bytes([7; 32]));
    }
);
