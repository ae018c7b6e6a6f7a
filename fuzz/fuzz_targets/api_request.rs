//! Arbitrary bytes as AWS KMS JSON request bodies: decoding returns a value or an error, never a
//! panic, for every request type the key core takes.
#![no_main]

use lakeseal_keycore::ops::{
    aliases::AliasRequest, create_key::CreateKeyRequest, decrypt::DecryptRequest,
    encrypt::EncryptRequest, generate_data_key::GenerateDataKeyRequest,
    import::{GetParametersForImportRequest, ImportKeyMaterialRequest},
    re_encrypt::ReEncryptRequest,
    sign::{SignRequest, VerifyRequest},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<CreateKeyRequest>(data);
    let _ = serde_json::from_slice::<GenerateDataKeyRequest>(data);
    let _ = serde_json::from_slice::<EncryptRequest>(data);
    let _ = serde_json::from_slice::<DecryptRequest>(data);
    let _ = serde_json::from_slice::<ReEncryptRequest>(data);
    let _ = serde_json::from_slice::<AliasRequest>(data);
    let _ = serde_json::from_slice::<SignRequest>(data);
    let _ = serde_json::from_slice::<VerifyRequest>(data);
    let _ = serde_json::from_slice::<GetParametersForImportRequest>(data);
    let _ = serde_json::from_slice::<ImportKeyMaterialRequest>(data);
});
