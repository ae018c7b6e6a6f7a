//! One test per row of the key state table: each operation is called for real on a key in each
//! state, and the outcome must match the table (written out here independently of the crate's
//! own copy, after the AWS KMS key-states table).

use crate::common::{Fixture, context, ctx, fixture, import_parameters, p256_pkcs8};
use lakeseal_keycore::model::Tag;
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::aliases::AliasRequest;
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::encrypt::EncryptRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::ops::key_deletion::ScheduleKeyDeletionRequest;
use lakeseal_keycore::ops::key_policy::{GetKeyPolicyRequest, PutKeyPolicyRequest};
use lakeseal_keycore::ops::re_encrypt::ReEncryptRequest;
use lakeseal_keycore::ops::rotation::{EnableKeyRotationRequest, ListKeyRotationsRequest};
use lakeseal_keycore::ops::sign::{SignRequest, VerifyRequest};
use lakeseal_keycore::ops::tags::{TagResourceRequest, UntagResourceRequest};
use lakeseal_keycore::state::{self, KeyOperation as Op, KeyState, Outcome};

const OK: &str = "ok";
const DIS: &str = "DisabledException";
const INV: &str = "KMSInvalidStateException";

/// The message signing keys sign here.
const SIGNED: &[u8] = b"firmware image";

/// Whether `op` needs a key pair (the rest run on a symmetric key).
fn asymmetric(op: Op) -> bool {
    matches!(op, Op::Sign | Op::Verify | Op::GetPublicKey)
}

/// Whether `op` is about imported key material.
fn import(op: Op) -> bool {
    matches!(
        op,
        Op::GetParametersForImport | Op::ImportKeyMaterial | Op::DeleteImportedKeyMaterial
    )
}

/// A key to call an operation on, and what it made while it was enabled.
struct Subject {
    key: String,
    /// A blob it sealed, or for a signing key a signature of `SIGNED` it made.
    blob: Vec<u8>,
    /// Its imported material, for a key of origin `EXTERNAL`.
    material: Vec<u8>,
}

/// A key in `state` fit for `op`: of origin `EXTERNAL`, its material imported, for the import
/// operations and for `PendingImport` (reached by deleting the material).
async fn key_in(f: &Fixture, state: KeyState, op: Op) -> Subject {
    let external = import(op) || state == KeyState::PendingImport;
    let (key, material) = match (asymmetric(op), external) {
        (true, true) => {
            let key = f
                .new_external_key(Some(("ECC_NIST_P256", "SIGN_VERIFY")))
                .await;
            let material = p256_pkcs8();
            f.import(&key, &material, "RSA_AES_KEY_WRAP_SHA_256")
                .await
                .unwrap();
            (key, material)
        }
        (true, false) => (f.new_signing_key("ECC_NIST_P256").await, Vec::new()),
        (false, true) => {
            let key = f.new_external_key(None).await;
            let material = vec![0x42; 32];
            f.import(&key, &material, "RSAES_OAEP_SHA_256")
                .await
                .unwrap();
            (key, material)
        }
        (false, false) => (f.new_key().await, Vec::new()),
    };
    let blob = if asymmetric(op) {
        f.sign(&key, "ECDSA_SHA_256", SIGNED).await
    } else {
        f.encrypt(&key, b"payload", &context(&[("k", "v")])).await
    };
    match state {
        KeyState::Enabled => {}
        KeyState::Disabled => f.disable(&key).await,
        KeyState::PendingDeletion => f.schedule_deletion(&key, 7).await,
        KeyState::PendingImport => {
            f.core
                .delete_imported_key_material(&f.admin, &ctx(), KeyIdRequest::new(&key))
                .await
                .unwrap();
        }
    }
    Subject {
        key,
        blob,
        material,
    }
}

/// Calls `op` on the subject's key; returns "ok" or the error name.
async fn call(f: &Fixture, op: Op, subject: &Subject) -> String {
    let (key, blob) = (subject.key.as_str(), subject.blob.as_slice());
    let (a, c) = (&f.admin, &ctx());
    let core = &f.core;
    let id = || KeyIdRequest::new(key);
    let ec = context(&[("k", "v")]);
    let result = match op {
        Op::DescribeKey => core.describe_key(a, c, id()).await.map(drop),
        Op::EnableKey => core.enable_key(a, c, id()).await.map(drop),
        Op::DisableKey => core.disable_key(a, c, id()).await.map(drop),
        Op::ScheduleKeyDeletion => core
            .schedule_key_deletion(
                a,
                c,
                ScheduleKeyDeletionRequest {
                    key_id: key.into(),
                    pending_window_in_days: None,
                },
            )
            .await
            .map(drop),
        Op::CancelKeyDeletion => core.cancel_key_deletion(a, c, id()).await.map(drop),
        Op::Encrypt => core
            .encrypt(
                a,
                c,
                EncryptRequest {
                    encryption_algorithm: None,
                    key_id: key.into(),
                    plaintext: b"x".to_vec().into(),
                    encryption_context: ec,
                },
            )
            .await
            .map(drop),
        Op::Decrypt => core
            .decrypt(
                a,
                c,
                DecryptRequest {
                    encryption_algorithm: None,
                    ciphertext_blob: blob.to_vec(),
                    encryption_context: ec,
                    key_id: None,
                },
            )
            .await
            .map(drop),
        Op::ReEncryptFrom => {
            let other = f.new_key().await;
            core.re_encrypt(
                a,
                c,
                ReEncryptRequest {
                    ciphertext_blob: blob.to_vec(),
                    source_encryption_context: ec,
                    source_key_id: None,
                    destination_key_id: other,
                    destination_encryption_context: Default::default(),
                },
            )
            .await
            .map(drop)
        }
        Op::ReEncryptTo => {
            let other = f.new_key().await;
            let source_blob = f.encrypt(&other, b"payload", &ec).await;
            core.re_encrypt(
                a,
                c,
                ReEncryptRequest {
                    ciphertext_blob: source_blob,
                    source_encryption_context: ec,
                    source_key_id: None,
                    destination_key_id: key.into(),
                    destination_encryption_context: Default::default(),
                },
            )
            .await
            .map(drop)
        }
        Op::GenerateDataKey => core
            .generate_data_key(a, c, GenerateDataKeyRequest::aes_256(key, ec))
            .await
            .map(drop),
        Op::GenerateDataKeyWithoutPlaintext => core
            .generate_data_key_without_plaintext(a, c, GenerateDataKeyRequest::aes_256(key, ec))
            .await
            .map(drop),
        Op::RotateKeyOnDemand => core.rotate_key_on_demand(a, c, id()).await.map(drop),
        Op::EnableKeyRotation => core
            .enable_key_rotation(
                a,
                c,
                EnableKeyRotationRequest {
                    key_id: key.into(),
                    rotation_period_in_days: None,
                },
            )
            .await
            .map(drop),
        Op::DisableKeyRotation => core.disable_key_rotation(a, c, id()).await.map(drop),
        Op::GetKeyRotationStatus => core.get_key_rotation_status(a, c, id()).await.map(drop),
        Op::ListKeyRotations => core
            .list_key_rotations(
                a,
                c,
                ListKeyRotationsRequest {
                    key_id: key.into(),
                    ..Default::default()
                },
            )
            .await
            .map(drop),
        Op::CreateAlias => core
            .create_alias(
                a,
                c,
                AliasRequest {
                    alias_name: format!("alias/new-{key}"),
                    target_key_id: key.into(),
                },
            )
            .await
            .map(drop),
        Op::UpdateAlias => {
            let other = f.new_key().await;
            let alias = format!("alias/moved-{key}");
            core.create_alias(
                a,
                c,
                AliasRequest {
                    alias_name: alias.clone(),
                    target_key_id: other,
                },
            )
            .await
            .unwrap();
            core.update_alias(
                a,
                c,
                AliasRequest {
                    alias_name: alias,
                    target_key_id: key.into(),
                },
            )
            .await
            .map(drop)
        }
        Op::TagResource => core
            .tag_resource(
                a,
                c,
                TagResourceRequest {
                    key_id: key.into(),
                    tags: vec![Tag {
                        tag_key: "team".into(),
                        tag_value: "iot".into(),
                    }],
                },
            )
            .await
            .map(drop),
        Op::UntagResource => core
            .untag_resource(
                a,
                c,
                UntagResourceRequest {
                    key_id: key.into(),
                    tag_keys: vec!["team".into()],
                },
            )
            .await
            .map(drop),
        Op::ListResourceTags => core.list_resource_tags(a, c, id()).await.map(drop),
        Op::GetKeyPolicy => core
            .get_key_policy(
                a,
                c,
                GetKeyPolicyRequest {
                    key_id: key.into(),
                    policy_name: None,
                },
            )
            .await
            .map(drop),
        Op::PutKeyPolicy => {
            let policy = core
                .get_key_policy(
                    a,
                    c,
                    GetKeyPolicyRequest {
                        key_id: key.into(),
                        policy_name: None,
                    },
                )
                .await
                .unwrap()
                .policy;
            core.put_key_policy(
                a,
                c,
                PutKeyPolicyRequest {
                    key_id: key.into(),
                    policy,
                    ..Default::default()
                },
            )
            .await
            .map(drop)
        }
        Op::ListKeyPolicies => core.list_key_policies(a, c, id()).await.map(drop),
        Op::Sign => core
            .sign(
                a,
                c,
                SignRequest {
                    key_id: key.into(),
                    message: SIGNED.to_vec(),
                    message_type: None,
                    signing_algorithm: "ECDSA_SHA_256".into(),
                },
            )
            .await
            .map(drop),
        Op::Verify => core
            .verify(
                a,
                c,
                VerifyRequest {
                    key_id: key.into(),
                    message: SIGNED.to_vec(),
                    message_type: None,
                    signature: blob.to_vec(),
                    signing_algorithm: "ECDSA_SHA_256".into(),
                },
            )
            .await
            .map(drop),
        Op::GetPublicKey => core.get_public_key(a, c, id()).await.map(drop),
        Op::GetParametersForImport => core
            .get_parameters_for_import(a, c, import_parameters(key, "RSAES_OAEP_SHA_256"))
            .await
            .map(drop),
        Op::ImportKeyMaterial => f
            .import(key, &subject.material, "RSAES_OAEP_SHA_256")
            .await
            .map(drop),
        Op::DeleteImportedKeyMaterial => core
            .delete_imported_key_material(a, c, id())
            .await
            .map(drop),
    };
    match result {
        Ok(()) => OK.to_owned(),
        Err(e) => e.code().to_string(),
    }
}

async fn row(op: Op, expected: [&str; 4]) {
    let f = fixture();
    for (state, want) in [
        KeyState::Enabled,
        KeyState::Disabled,
        KeyState::PendingDeletion,
        KeyState::PendingImport,
    ]
    .into_iter()
    .zip(expected)
    {
        let table = match state::outcome(state, op) {
            Outcome::Allowed => OK,
            Outcome::Disabled => DIS,
            Outcome::InvalidState => INV,
        };
        assert_eq!(
            table, want,
            "the crate's table disagrees for {op:?} in {state:?}"
        );
        let subject = key_in(&f, state, op).await;
        assert_eq!(
            call(&f, op, &subject).await,
            want,
            "{op:?} on a key in {state:?}"
        );
    }
}

macro_rules! rows {
    ($($name:ident: $op:expr => [$e:expr, $d:expr, $p:expr, $i:expr];)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                row($op, [$e, $d, $p, $i]).await;
            }
        )*
        /// The operations a row here tests, in order.
        const TESTED: &[Op] = &[$($op),*];
    };
}

rows! {
    //                                                   Enabled Disabled PendingDeletion PendingImport
    describe_key: Op::DescribeKey                       => [OK, OK, OK, OK];
    enable_key: Op::EnableKey                           => [OK, OK, INV, INV];
    disable_key: Op::DisableKey                         => [OK, OK, INV, INV];
    schedule_key_deletion: Op::ScheduleKeyDeletion      => [OK, OK, INV, OK];
    cancel_key_deletion: Op::CancelKeyDeletion          => [INV, INV, OK, INV];
    encrypt: Op::Encrypt                                => [OK, DIS, INV, INV];
    decrypt: Op::Decrypt                                => [OK, DIS, INV, INV];
    re_encrypt_from: Op::ReEncryptFrom                  => [OK, DIS, INV, INV];
    re_encrypt_to: Op::ReEncryptTo                      => [OK, DIS, INV, INV];
    generate_data_key: Op::GenerateDataKey              => [OK, DIS, INV, INV];
    generate_data_key_without_plaintext: Op::GenerateDataKeyWithoutPlaintext => [OK, DIS, INV, INV];
    rotate_key_on_demand: Op::RotateKeyOnDemand         => [OK, DIS, INV, INV];
    enable_key_rotation: Op::EnableKeyRotation          => [OK, DIS, INV, INV];
    disable_key_rotation: Op::DisableKeyRotation        => [OK, DIS, INV, INV];
    get_key_rotation_status: Op::GetKeyRotationStatus   => [OK, OK, OK, OK];
    list_key_rotations: Op::ListKeyRotations            => [OK, OK, OK, OK];
    create_alias: Op::CreateAlias                       => [OK, OK, INV, OK];
    update_alias: Op::UpdateAlias                       => [OK, OK, INV, OK];
    tag_resource: Op::TagResource                       => [OK, OK, INV, OK];
    untag_resource: Op::UntagResource                   => [OK, OK, INV, OK];
    list_resource_tags: Op::ListResourceTags            => [OK, OK, OK, OK];
    get_key_policy: Op::GetKeyPolicy                    => [OK, OK, OK, OK];
    put_key_policy: Op::PutKeyPolicy                    => [OK, OK, INV, OK];
    list_key_policies: Op::ListKeyPolicies              => [OK, OK, OK, OK];
    sign: Op::Sign                                      => [OK, DIS, INV, INV];
    verify: Op::Verify                                  => [OK, DIS, INV, INV];
    get_public_key: Op::GetPublicKey                    => [OK, DIS, INV, INV];
    get_parameters_for_import: Op::GetParametersForImport => [OK, OK, INV, OK];
    import_key_material: Op::ImportKeyMaterial          => [INV, INV, INV, OK];
    delete_imported_key_material: Op::DeleteImportedKeyMaterial => [OK, OK, INV, OK];
}

#[test]
fn every_row_of_the_crate_table_is_tested_here() {
    let table: Vec<Op> = state::STATE_TABLE.iter().map(|(op, _)| *op).collect();
    for op in &table {
        assert!(
            TESTED.contains(op),
            "{op:?} is in the crate's table, untested here"
        );
    }
    for op in TESTED {
        assert!(
            table.contains(op),
            "{op:?} is tested here, not in the crate's table"
        );
    }
    assert_eq!(table.len(), TESTED.len(), "a row twice");
}
