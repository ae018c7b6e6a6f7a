//! Asymmetric keys in the engine: each spec's algorithms, what each usage refuses, sizes,
//! restart and erasure. (Interop with real clients — signatures checked by Python's
//! `cryptography` — is in the integration tests.)

use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

use crate::common::{context, ctx, fixture, open};
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::encrypt::EncryptRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::ops::sign::{SignRequest, VerifyRequest};
use sha2::Digest as _;

const SIGNING: &[(&str, &[&str])] = &[
    (
        "RSA_2048",
        &[
            "RSASSA_PSS_SHA_256",
            "RSASSA_PSS_SHA_384",
            "RSASSA_PSS_SHA_512",
            "RSASSA_PKCS1_V1_5_SHA_256",
            "RSASSA_PKCS1_V1_5_SHA_384",
            "RSASSA_PKCS1_V1_5_SHA_512",
        ],
    ),
    ("ECC_NIST_P256", &["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", &["ECDSA_SHA_384"]),
];

fn digest(algorithm: &str, message: &[u8]) -> Vec<u8> {
    if algorithm.ends_with("256") {
        sha2::Sha256::digest(message).to_vec()
    } else if algorithm.ends_with("384") {
        sha2::Sha384::digest(message).to_vec()
    } else {
        sha2::Sha512::digest(message).to_vec()
    }
}

fn verify_req(key: &str, alg: &str, message: &[u8], kind: &str, sig: &[u8]) -> VerifyRequest {
    VerifyRequest {
        key_id: key.into(),
        message: message.to_vec(),
        message_type: Some(kind.into()),
        signature: sig.to_vec(),
        signing_algorithm: alg.into(),
    }
}

#[tokio::test]
async fn every_signing_algorithm_signs_and_verifies_raw_and_digest() {
    let f = fixture();
    let message = b"firmware v1.2.3";
    for (spec, algorithms) in SIGNING {
        let key = f.new_signing_key(spec).await;
        let meta = f
            .core
            .describe_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
            .await
            .unwrap()
            .key_metadata;
        assert_eq!(meta.key_spec, *spec);
        assert_eq!(meta.key_usage, "SIGN_VERIFY");
        assert_eq!(meta.encryption_algorithms, None);
        assert_eq!(meta.signing_algorithms.as_deref().unwrap(), *algorithms);
        for alg in *algorithms {
            let raw = f.sign(&key, alg, message).await;
            let over_digest = f
                .core
                .sign(
                    &f.admin,
                    &ctx(),
                    SignRequest {
                        key_id: key.clone(),
                        message: digest(alg, message),
                        message_type: Some("DIGEST".into()),
                        signing_algorithm: (*alg).into(),
                    },
                )
                .await
                .unwrap()
                .signature;
            for sig in [&raw, &over_digest] {
                // A signature over the message verifies as RAW and as DIGEST alike.
                for (kind, m) in [("RAW", message.to_vec()), ("DIGEST", digest(alg, message))] {
                    let ok = f
                        .core
                        .verify(&f.admin, &ctx(), verify_req(&key, alg, &m, kind, sig))
                        .await
                        .unwrap();
                    assert!(ok.signature_valid, "{spec} {alg} {kind}");
                }
                let err = f
                    .core
                    .verify(
                        &f.admin,
                        &ctx(),
                        verify_req(&key, alg, b"firmware v1.2.4", "RAW", sig),
                    )
                    .await
                    .unwrap_err();
                assert_eq!(err.code(), "KMSInvalidSignatureException", "{spec} {alg}");
            }
        }
    }
}

#[tokio::test]
async fn messages_digests_and_algorithms_are_checked() {
    let f = fixture();
    let key = f.new_signing_key("ECC_NIST_P256").await;
    let sign = |message: Vec<u8>, kind: &str, alg: &str| SignRequest {
        key_id: key.clone(),
        message,
        message_type: Some(kind.into()),
        signing_algorithm: alg.into(),
    };
    for (req, code) in [
        (
            sign(vec![1; 4097], "RAW", "ECDSA_SHA_256"),
            "ValidationException",
        ),
        (
            sign(Vec::new(), "RAW", "ECDSA_SHA_256"),
            "ValidationException",
        ),
        (
            sign(vec![1; 31], "DIGEST", "ECDSA_SHA_256"),
            "ValidationException",
        ),
        (
            sign(vec![1; 48], "DIGEST", "ECDSA_SHA_256"),
            "ValidationException",
        ),
        (
            sign(vec![1; 8], "HASHED", "ECDSA_SHA_256"),
            "ValidationException",
        ),
        (
            sign(vec![1; 8], "RAW", "ECDSA_SHA_384"),
            "InvalidKeyUsageException",
        ),
        (
            sign(vec![1; 8], "RAW", "RSASSA_PSS_SHA_256"),
            "InvalidKeyUsageException",
        ),
        (
            sign(vec![1; 8], "RAW", "ECDSA_SHA_1"),
            "ValidationException",
        ),
    ] {
        let err = f.core.sign(&f.admin, &ctx(), req).await.unwrap_err();
        assert_eq!(err.code(), code, "{err}");
    }
    assert!(
        f.core
            .sign(
                &f.admin,
                &ctx(),
                sign(vec![1; 4096], "RAW", "ECDSA_SHA_256")
            )
            .await
            .is_ok()
    );
    // A garbage signature is an invalid signature, not a crash or a malformed request.
    let err = f
        .core
        .verify(
            &f.admin,
            &ctx(),
            verify_req(&key, "ECDSA_SHA_256", b"m", "RAW", &[0x30, 0x02, 0xff]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "KMSInvalidSignatureException");
}

fn rsa_encrypt(key: &str, alg: &str, plaintext: &[u8]) -> EncryptRequest {
    EncryptRequest {
        key_id: key.into(),
        plaintext: plaintext.to_vec().into(),
        encryption_context: Default::default(),
        encryption_algorithm: Some(alg.into()),
    }
}

fn rsa_decrypt(key: Option<&str>, alg: &str, ciphertext: &[u8]) -> DecryptRequest {
    DecryptRequest {
        ciphertext_blob: ciphertext.to_vec(),
        encryption_context: Default::default(),
        key_id: key.map(Into::into),
        encryption_algorithm: Some(alg.into()),
    }
}

#[tokio::test]
async fn rsa_keys_encrypt_and_decrypt_within_aws_limits() {
    let f = fixture();
    // AWS KMS's largest plaintexts per key size: OAEP SHA-1, then SHA-256.
    for (spec, modulus, limits) in [
        ("RSA_2048", 256, [214, 190]),
        ("RSA_3072", 384, [342, 318]),
        ("RSA_4096", 512, [470, 446]),
    ] {
        let req = CreateKeyRequest {
            key_spec: Some(spec.into()),
            key_usage: Some("ENCRYPT_DECRYPT".into()),
            ..Default::default()
        };
        let meta = f
            .core
            .create_key(&f.admin, &ctx(), req)
            .await
            .unwrap()
            .key_metadata;
        assert_eq!(
            meta.encryption_algorithms.as_deref().unwrap(),
            ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
        );
        assert_eq!(meta.signing_algorithms, None);
        let key = meta.key_id;
        for (alg, limit) in ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
            .into_iter()
            .zip(limits)
        {
            let plaintext = vec![7u8; limit];
            let out = f
                .core
                .encrypt(&f.admin, &ctx(), rsa_encrypt(&key, alg, &plaintext))
                .await
                .unwrap();
            assert_eq!(out.ciphertext_blob.len(), modulus, "{spec} {alg}");
            assert_eq!(out.encryption_algorithm, alg);
            let back = f
                .core
                .decrypt(
                    &f.admin,
                    &ctx(),
                    rsa_decrypt(Some(&key), alg, &out.ciphertext_blob),
                )
                .await
                .unwrap();
            assert_eq!(back.plaintext.expose_secret(), plaintext.as_slice());
            let err = f
                .core
                .encrypt(
                    &f.admin,
                    &ctx(),
                    rsa_encrypt(&key, alg, &vec![7u8; limit + 1]),
                )
                .await
                .unwrap_err();
            assert_eq!(
                err.code(),
                "ValidationException",
                "{spec} {alg} over the limit"
            );
        }
        // The other OAEP digest, a tampered ciphertext, or no key id do not decrypt.
        let ct = f
            .core
            .encrypt(
                &f.admin,
                &ctx(),
                rsa_encrypt(&key, "RSAES_OAEP_SHA_256", b"x"),
            )
            .await
            .unwrap()
            .ciphertext_blob;
        let mut tampered = ct.clone();
        tampered[10] ^= 1;
        for (req, code) in [
            (
                rsa_decrypt(Some(&key), "RSAES_OAEP_SHA_1", &ct),
                "InvalidCiphertextException",
            ),
            (
                rsa_decrypt(Some(&key), "RSAES_OAEP_SHA_256", &tampered),
                "InvalidCiphertextException",
            ),
            (
                rsa_decrypt(Some(&key), "RSAES_OAEP_SHA_256", &ct[1..]),
                "InvalidCiphertextException",
            ),
            (
                rsa_decrypt(None, "RSAES_OAEP_SHA_256", &ct),
                "ValidationException",
            ),
            (
                rsa_decrypt(Some(&key), "SYMMETRIC_DEFAULT", &ct),
                "InvalidCiphertextException",
            ),
        ] {
            let err = f.core.decrypt(&f.admin, &ctx(), req).await.unwrap_err();
            assert_eq!(err.code(), code, "{spec}: {err}");
        }
        // An encryption context would bind nothing here: refused rather than ignored.
        let mut with_context = rsa_encrypt(&key, "RSAES_OAEP_SHA_256", b"x");
        with_context.encryption_context = context(&[("k", "v")]);
        let err = f
            .core
            .encrypt(&f.admin, &ctx(), with_context)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ValidationException");
    }
}

#[tokio::test]
async fn usage_mismatches_are_invalid_key_usage_and_rotation_is_unsupported() {
    let f = fixture();
    let symmetric = f.new_key().await;
    let signing = f.new_signing_key("RSA_2048").await;
    let ec = context(&[("k", "v")]);

    let err = f
        .core
        .generate_data_key(
            &f.admin,
            &ctx(),
            GenerateDataKeyRequest::aes_256(&signing, ec.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidKeyUsageException");
    let plain = EncryptRequest {
        key_id: signing.clone(),
        plaintext: b"x".to_vec().into(),
        encryption_context: ec.clone(),
        encryption_algorithm: None,
    };
    let err = f.core.encrypt(&f.admin, &ctx(), plain).await.unwrap_err();
    assert_eq!(err.code(), "InvalidKeyUsageException");
    let err = f
        .core
        .encrypt(
            &f.admin,
            &ctx(),
            rsa_encrypt(&symmetric, "RSAES_OAEP_SHA_256", b"x"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidKeyUsageException");
    let sign_symmetric = SignRequest {
        key_id: symmetric.clone(),
        message: b"m".to_vec(),
        message_type: None,
        signing_algorithm: "ECDSA_SHA_256".into(),
    };
    let err = f
        .core
        .sign(&f.admin, &ctx(), sign_symmetric)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidKeyUsageException");
    let err = f
        .core
        .get_public_key(&f.admin, &ctx(), KeyIdRequest::new(&symmetric))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidKeyUsageException");
    let err = f
        .core
        .rotate_key_on_demand(&f.admin, &ctx(), KeyIdRequest::new(&signing))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "UnsupportedOperationException");
    // No KeyUsage is ENCRYPT_DECRYPT, as in AWS KMS.
    let rsa = CreateKeyRequest {
        key_spec: Some("RSA_2048".into()),
        ..Default::default()
    };
    let meta = f
        .core
        .create_key(&f.admin, &ctx(), rsa)
        .await
        .unwrap()
        .key_metadata;
    assert_eq!(meta.key_usage, "ENCRYPT_DECRYPT");

    for (spec, usage) in [
        ("ECC_NIST_P256", Some("ENCRYPT_DECRYPT")),
        ("SYMMETRIC_DEFAULT", Some("SIGN_VERIFY")),
        ("RSA_2048", Some("KEY_AGREEMENT")),
        ("ECC_NIST_P256", None),
        ("RSA_1024", Some("SIGN_VERIFY")),
        ("ECC_SECG_P256K1", Some("SIGN_VERIFY")),
    ] {
        let req = CreateKeyRequest {
            key_spec: Some(spec.into()),
            key_usage: usage.map(Into::into),
            ..Default::default()
        };
        let err = f.core.create_key(&f.admin, &ctx(), req).await.unwrap_err();
        assert_eq!(err.code(), "ValidationException", "{spec} {usage:?}");
    }
}

#[tokio::test]
async fn key_pairs_survive_a_restart_and_die_with_their_key() {
    let f = fixture();
    let key = f.new_signing_key("ECC_NIST_P384").await;
    let public = f
        .core
        .get_public_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap()
        .public_key;
    let sig = f.sign(&key, "ECDSA_SHA_384", b"m").await;
    let dir = f.dir.path().to_owned();
    let clock = f.clock.clone();
    drop(f.core);
    let core = open(&dir, clock.clone());
    let again = core
        .get_public_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    assert_eq!(again.public_key, public);
    assert_eq!(
        again.signing_algorithms.as_deref().unwrap(),
        ["ECDSA_SHA_384"]
    );
    let ok = core
        .verify(
            &f.admin,
            &ctx(),
            verify_req(&key, "ECDSA_SHA_384", b"m", "RAW", &sig),
        )
        .await
        .unwrap();
    assert!(ok.signature_valid);

    core.schedule_key_deletion(
        &f.admin,
        &ctx(),
        lakeseal_keycore::ops::key_deletion::ScheduleKeyDeletionRequest {
            key_id: key.clone(),
            pending_window_in_days: Some(7),
        },
    )
    .await
    .unwrap();
    clock.advance(7 * DAY + Duration::from_secs(1));
    let err = core
        .get_public_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
}
