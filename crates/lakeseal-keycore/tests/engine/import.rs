//! Bring your own key in the engine: import, delete, reimport, tokens, expiry, restart.
//! (The same with material made and wrapped by Python's `cryptography`, over the wire, is in
//! the integration tests.)

use std::time::Duration;

use crate::common::{context, ctx, fixture, import_parameters, open, p256_pkcs8, wrap};
use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::import::ImportKeyMaterialRequest;
use lakeseal_keycore::state::KeyState;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn imported_material_encrypts_until_deleted_and_again_when_reimported() {
    let f = fixture();
    let ec = context(&[("k", "v")]);
    for algorithm in [
        "RSAES_OAEP_SHA_1",
        "RSAES_OAEP_SHA_256",
        "RSA_AES_KEY_WRAP_SHA_1",
        "RSA_AES_KEY_WRAP_SHA_256",
    ] {
        let key = f.new_external_key(None).await;
        let meta = f
            .core
            .describe_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
            .await
            .unwrap()
            .key_metadata;
        assert_eq!(
            (meta.origin.as_str(), meta.key_state),
            ("EXTERNAL", KeyState::PendingImport)
        );
        let material = lakeseal_envelope::random_bytes(32).unwrap();
        let material = material.expose_secret();
        f.import(&key, material, algorithm).await.unwrap();
        let meta = f
            .core
            .describe_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
            .await
            .unwrap()
            .key_metadata;
        assert_eq!(meta.key_state, KeyState::Enabled);
        assert_eq!(
            meta.expiration_model.as_deref(),
            Some("KEY_MATERIAL_DOES_NOT_EXPIRE")
        );
        let blob = f.encrypt(&key, b"telemetry", &ec).await;

        f.core
            .delete_imported_key_material(&f.admin, &ctx(), KeyIdRequest::new(&key))
            .await
            .unwrap();
        let err = f.decrypt(&blob, &ec).await.unwrap_err();
        assert_eq!(err.code(), "KMSInvalidStateException", "{algorithm}");

        let other = [7u8; 32];
        let err = f.import(&key, &other, algorithm).await.unwrap_err();
        assert_eq!(err.code(), "IncorrectKeyMaterialException", "{algorithm}");
        f.import(&key, material, algorithm).await.unwrap();
        let back = f.decrypt(&blob, &ec).await.unwrap();
        assert_eq!(back.plaintext.expose_secret(), b"telemetry", "{algorithm}");
    }
}

#[tokio::test]
async fn tokens_are_bound_to_their_key_unaltered_and_expire() {
    let f = fixture();
    let key = f.new_external_key(None).await;
    let other = f.new_external_key(None).await;
    let material = [0x11u8; 32];
    let context = ctx();
    let params = |key: &str| {
        f.core.get_parameters_for_import(
            &f.admin,
            &context,
            import_parameters(key, "RSAES_OAEP_SHA_256"),
        )
    };
    let import = |key: &str, token: Vec<u8>, wrapped: Vec<u8>| ImportKeyMaterialRequest {
        key_id: key.into(),
        import_token: token,
        encrypted_key_material: wrapped,
        expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()),
        valid_to: None,
    };
    let p = params(&other).await.unwrap();
    let wrapped = wrap(&p.public_key, "RSAES_OAEP_SHA_256", &material);
    let err = f
        .core
        .import_key_material(
            &f.admin,
            &ctx(),
            import(&key, p.import_token.clone(), wrapped),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "InvalidImportTokenException",
        "another key's token"
    );

    let p = params(&key).await.unwrap();
    let wrapped = wrap(&p.public_key, "RSAES_OAEP_SHA_256", &material);
    for at in [0, p.import_token.len() / 2, p.import_token.len() - 1] {
        let mut tampered = p.import_token.clone();
        tampered[at] ^= 1;
        let err = f
            .core
            .import_key_material(&f.admin, &ctx(), import(&key, tampered, wrapped.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidImportTokenException");
    }
    // Wrapped with SHA-1 for a SHA-256 token, or not wrapped at all: it does not unwrap.
    for bad in [
        wrap(&p.public_key, "RSAES_OAEP_SHA_1", &material),
        material.to_vec(),
    ] {
        let err = f
            .core
            .import_key_material(&f.admin, &ctx(), import(&key, p.import_token.clone(), bad))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidCiphertextException");
    }
    let short = wrap(&p.public_key, "RSAES_OAEP_SHA_256", &[1u8; 16]);
    let err = f
        .core
        .import_key_material(
            &f.admin,
            &ctx(),
            import(&key, p.import_token.clone(), short),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationException");

    f.clock.advance(24 * HOUR);
    let err = f
        .core
        .import_key_material(
            &f.admin,
            &ctx(),
            import(&key, p.import_token.clone(), wrapped),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ExpiredImportTokenException");

    let made_here = f.new_key().await;
    let err = params(&made_here).await.unwrap_err();
    assert_eq!(err.code(), "UnsupportedOperationException");
}

#[tokio::test]
async fn material_with_valid_to_lapses_to_pending_import() {
    let f = fixture();
    let key = f.new_external_key(None).await;
    let material = [0x22u8; 32];
    let p = f
        .core
        .get_parameters_for_import(
            &f.admin,
            &ctx(),
            import_parameters(&key, "RSAES_OAEP_SHA_256"),
        )
        .await
        .unwrap();
    let valid_to = f.core.now_ms() + 2 * 3_600_000;
    f.core
        .import_key_material(
            &f.admin,
            &ctx(),
            ImportKeyMaterialRequest {
                key_id: key.clone(),
                import_token: p.import_token,
                encrypted_key_material: wrap(&p.public_key, "RSAES_OAEP_SHA_256", &material),
                expiration_model: Some("KEY_MATERIAL_EXPIRES".into()),
                valid_to: Some(valid_to),
            },
        )
        .await
        .unwrap();
    let ec = context(&[("k", "v")]);
    let blob = f.encrypt(&key, b"x", &ec).await;
    f.clock.advance(HOUR);
    assert!(f.decrypt(&blob, &ec).await.is_ok());
    f.clock.advance(HOUR + Duration::from_secs(1));
    let err = f.decrypt(&blob, &ec).await.unwrap_err();
    assert_eq!(err.code(), "KMSInvalidStateException");
    let meta = f
        .core
        .describe_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap()
        .key_metadata;
    assert_eq!(meta.key_state, KeyState::PendingImport);
    let expired = audit::query(
        &f.core.audit_path(),
        &Query {
            operation: Some("DeleteExpiredKeyMaterial".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].event.result, "Success");
    // The same material again, and the old blob opens.
    f.import(&key, &material, "RSAES_OAEP_SHA_256")
        .await
        .unwrap();
    assert!(f.decrypt(&blob, &ec).await.is_ok());
}

#[tokio::test]
async fn an_imported_key_pair_signs_and_survives_a_restart() {
    let f = fixture();
    let key = f
        .new_external_key(Some(("ECC_NIST_P256", "SIGN_VERIFY")))
        .await;
    let pkcs8 = p256_pkcs8();
    // A private key travels under RSA-AES key wrap (PKCS#8 is too large for OAEP of most).
    f.import(&key, &pkcs8, "RSA_AES_KEY_WRAP_SHA_256")
        .await
        .unwrap();
    let pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &pkcs8,
    )
    .unwrap();
    let public = f
        .core
        .get_public_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap()
        .public_key;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair;
    assert_eq!(public, pair.public_key().as_der().unwrap().as_ref());
    let sig = f.sign(&key, "ECDSA_SHA_256", b"m").await;
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        &public,
    )
    .verify(b"m", &sig)
    .unwrap();

    // Another key pair, or the wrong curve, is refused on reimport / import.
    f.core
        .delete_imported_key_material(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    let err = f
        .import(&key, &p256_pkcs8(), "RSA_AES_KEY_WRAP_SHA_256")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "IncorrectKeyMaterialException");
    f.import(&key, &pkcs8, "RSA_AES_KEY_WRAP_SHA_1")
        .await
        .unwrap();
    let p384 = f
        .new_external_key(Some(("ECC_NIST_P384", "SIGN_VERIFY")))
        .await;
    let err = f
        .import(&p384, &pkcs8, "RSA_AES_KEY_WRAP_SHA_256")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationException");

    let dir = f.dir.path().to_owned();
    let clock = f.clock.clone();
    drop(f.core);
    let core = open(&dir, clock);
    let again = core
        .get_public_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    assert_eq!(again.public_key, public);
    let meta = core
        .create_key(
            &f.admin,
            &ctx(),
            CreateKeyRequest {
                origin: Some("EXTERNAL_KEY_STORE".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(meta.code(), "ValidationException");
}
