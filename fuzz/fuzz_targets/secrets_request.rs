//! Arbitrary bytes as AWS Secrets Manager JSON request bodies: decoding returns a value or an
//! error, never a panic, for every request type the key core takes; a decoded request encodes
//! again (the secret-string and secret-binary codecs both ways); a decoded `RotateSecret`'s
//! schedule is checked and evaluated (rate and cron expressions), at ordinary and extreme times.
#![no_main]

use lakeseal_kms_types::secrets::SecretIdRequest;
use lakeseal_kms_types::secrets::describe::{ListSecretVersionIdsRequest, ListSecretsRequest};
use lakeseal_kms_types::secrets::manage::{
    DeleteSecretRequest, PutResourcePolicyRequest, TagSecretRequest, UntagSecretRequest,
    UpdateSecretVersionStageRequest,
};
use lakeseal_kms_types::secrets::rotate::RotateSecretRequest;
use lakeseal_kms_types::secrets::read::{BatchGetSecretValueRequest, GetSecretValueRequest};
use lakeseal_kms_types::secrets::write::{
    CreateSecretRequest, PutSecretValueRequest, UpdateSecretRequest,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

fn round_trip<T: DeserializeOwned + Serialize>(data: &[u8]) {
    if let Ok(request) = serde_json::from_slice::<T>(data) {
        let again = serde_json::to_vec(&request).expect("a decoded request encodes");
        serde_json::from_slice::<T>(&again).expect("an encoded request decodes");
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<CreateSecretRequest>(data);
    round_trip::<PutSecretValueRequest>(data);
    round_trip::<UpdateSecretRequest>(data);
    round_trip::<GetSecretValueRequest>(data);
    round_trip::<BatchGetSecretValueRequest>(data);
    round_trip::<ListSecretsRequest>(data);
    round_trip::<ListSecretVersionIdsRequest>(data);
    round_trip::<UpdateSecretVersionStageRequest>(data);
    round_trip::<TagSecretRequest>(data);
    round_trip::<UntagSecretRequest>(data);
    round_trip::<DeleteSecretRequest>(data);
    round_trip::<PutResourcePolicyRequest>(data);
    round_trip::<SecretIdRequest>(data);
    round_trip::<RotateSecretRequest>(data);
    if let Ok(RotateSecretRequest {
        rotation_rules: Some(rules),
        ..
    }) = serde_json::from_slice::<RotateSecretRequest>(data)
    {
        for after in [0, 1_800_000_000_000, i64::MAX - 1, i64::MIN] {
            let _ = lakeseal_keycore::secrets::next_rotation(&rules, after);
        }
    }
});
