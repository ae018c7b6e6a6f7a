//! Arbitrary bytes as Parquet footer key metadata: parsing returns a typed error or key material
//! whose wrapped key parses or fails typed; never a panic.
#![no_main]

use lakeseal_stage::encrypted_parquet::{KeyMaterial, WrappedDek};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(material) = KeyMaterial::parse(data)
        && let Ok(wrapped) = material.wrapped()
    {
        let _ = wrapped.blob();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = WrappedDek::decode(text);
    }
});
