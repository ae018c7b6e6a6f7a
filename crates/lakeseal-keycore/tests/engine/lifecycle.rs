//! Key lifecycle: versions and rotation, deletion and crypto-erasure, context and key checks,
//! regions, accounts, aliases, pagination, persistence, and the audit trail of it all.

use std::time::Duration;

use lakeseal_envelope::Blob;
use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::aliases::{AliasRequest, DeleteAliasRequest, ListAliasesRequest};
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::encrypt::EncryptRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::ops::generate_random::GenerateRandomRequest;
use lakeseal_keycore::ops::key_deletion::ScheduleKeyDeletionRequest;
use lakeseal_keycore::ops::list_keys::ListKeysRequest;
use lakeseal_keycore::ops::re_encrypt::ReEncryptRequest;
use lakeseal_keycore::ops::rotation::{EnableKeyRotationRequest, ListKeyRotationsRequest};
use lakeseal_keycore::state::KeyState;
use lakeseal_keycore::{Error, Principal};

use crate::common::{ACCOUNT, context, ctx, fixture, open};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

#[tokio::test]
async fn rotation_keeps_old_blobs_decrypting() {
    let f = fixture();
    let key = f.new_key().await;
    let ec = context(&[("table", "telemetry")]);
    let v1 = f.encrypt(&key, b"one", &ec).await;
    let rotated = f
        .core
        .rotate_key_on_demand(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    assert_eq!(rotated.key_version, 2);
    let v2 = f.encrypt(&key, b"two", &ec).await;
    assert_eq!(Blob::parse(&v1).unwrap().key_version(), 1);
    assert_eq!(Blob::parse(&v2).unwrap().key_version(), 2);
    assert_eq!(
        f.decrypt(&v1, &ec).await.unwrap().plaintext.expose_secret(),
        b"one"
    );
    assert_eq!(
        f.decrypt(&v2, &ec).await.unwrap().plaintext.expose_secret(),
        b"two"
    );

    let rotations = f
        .core
        .list_key_rotations(
            &f.admin,
            &ctx(),
            ListKeyRotationsRequest {
                key_id: key.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rotations.rotations.len(), 1);
    assert_eq!(rotations.rotations[0].key_version, 2);
}

#[tokio::test]
async fn automatic_rotation_follows_the_clock() {
    let f = fixture();
    let key = f.new_key().await;
    let enable = |days| EnableKeyRotationRequest {
        key_id: key.clone(),
        rotation_period_in_days: days,
    };
    for bad in [89, 2561] {
        let err = f
            .core
            .enable_key_rotation(&f.admin, &ctx(), enable(Some(bad)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ValidationException", "{bad} days");
    }
    f.core
        .enable_key_rotation(&f.admin, &ctx(), enable(None))
        .await
        .unwrap();
    let status = f
        .core
        .get_key_rotation_status(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    assert_eq!(status.rotation_period_in_days, Some(90));

    let ec = context(&[]);
    f.clock.advance(89 * DAY);
    let before = f.encrypt(&key, b"old", &ec).await;
    assert_eq!(Blob::parse(&before).unwrap().key_version(), 1);
    f.clock.advance(2 * DAY);
    let after = f.encrypt(&key, b"new", &ec).await;
    assert_eq!(Blob::parse(&after).unwrap().key_version(), 2);
    assert_eq!(
        f.decrypt(&before, &ec)
            .await
            .unwrap()
            .plaintext
            .expose_secret(),
        b"old"
    );
    f.clock.advance(91 * DAY);
    let later = f.encrypt(&key, b"newer", &ec).await;
    assert_eq!(Blob::parse(&later).unwrap().key_version(), 3);

    let audit = audit::query(
        &f.core.audit_path(),
        &Query {
            operation: Some("RotateKey".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(audit.len(), 2);
    assert!(
        audit
            .iter()
            .all(|r| r.event.principal == "lakeseal:keycore" && r.event.result == "Success")
    );
}

#[tokio::test]
async fn deletion_window_bounds_are_enforced() {
    let f = fixture();
    let key = f.new_key().await;
    for bad in [6, 31] {
        let err = f
            .core
            .schedule_key_deletion(
                &f.admin,
                &ctx(),
                ScheduleKeyDeletionRequest {
                    key_id: key.clone(),
                    pending_window_in_days: Some(bad),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ValidationException", "{bad} days");
    }
    let scheduled = f
        .core
        .schedule_key_deletion(
            &f.admin,
            &ctx(),
            ScheduleKeyDeletionRequest {
                key_id: key.clone(),
                pending_window_in_days: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(scheduled.pending_window_in_days, 30);
    assert_eq!(scheduled.key_state, KeyState::PendingDeletion);
    f.core
        .cancel_key_deletion(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    let described = f
        .core
        .describe_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    assert_eq!(described.key_metadata.key_state, KeyState::Disabled);
    assert_eq!(described.key_metadata.deletion_date, None);
}

/// Crypto-erasure: after the window every blob of the key is unreadable, the sealed material is
/// gone from every file of the data directory, and the destruction is audited.
#[tokio::test]
async fn crypto_erasure_after_the_window() {
    let f = fixture();
    let key = f.new_key().await;
    let keep = f.new_key().await;
    let ec = context(&[("table", "telemetry")]);
    let v1 = f.encrypt(&key, b"erase me", &ec).await;
    f.core
        .rotate_key_on_demand(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    let v2 = f.encrypt(&key, b"erase me too", &ec).await;
    let kept = f.encrypt(&keep, b"keep me", &ec).await;
    f.core
        .create_alias(
            &f.admin,
            &ctx(),
            AliasRequest {
                alias_name: "alias/doomed".into(),
                target_key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    let sealed = sealed_material(f.dir.path(), &key);
    assert_eq!(sealed.len(), 2);

    f.schedule_deletion(&key, 7).await;
    f.clock.advance(6 * DAY);
    assert_eq!(
        f.decrypt(&v1, &ec).await.unwrap_err().code(),
        "KMSInvalidStateException"
    );
    f.clock.advance(DAY + Duration::from_secs(1));
    for blob in [&v1, &v2] {
        let err = f.decrypt(blob, &ec).await.unwrap_err();
        assert_eq!(err.code(), "NotFoundException", "{err}");
    }
    let err = f
        .core
        .describe_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
    let err = f
        .core
        .describe_key(&f.admin, &ctx(), KeyIdRequest::new("alias/doomed"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
    assert_eq!(
        f.decrypt(&kept, &ec)
            .await
            .unwrap()
            .plaintext
            .expose_secret(),
        b"keep me"
    );

    assert!(sealed_material(f.dir.path(), &key).is_empty());
    for material in &sealed {
        assert_eq!(
            files_containing(f.dir.path(), material),
            Vec::<String>::new()
        );
    }
    let deletions = audit::query(
        &f.core.audit_path(),
        &Query {
            operation: Some("DeleteKey".into()),
            key: Some(key.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0].event.result, "Success");

    // Still erased after a restart.
    let dir = f.dir.path().to_owned();
    let clock = f.clock.clone();
    drop(f.core);
    let core = open(&dir, clock);
    let err = core
        .decrypt(
            &f.admin,
            &ctx(),
            DecryptRequest {
                encryption_algorithm: None,
                ciphertext_blob: v2,
                encryption_context: ec,
                key_id: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
}

fn sealed_material(dir: &std::path::Path, key_id: &str) -> Vec<Vec<u8>> {
    let conn = rusqlite::Connection::open_with_flags(
        dir.join("keycore.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut stmt = conn
        .prepare("SELECT sealed_material FROM key_versions WHERE key_id = ?1")
        .unwrap();
    stmt.query_map([key_id], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

pub fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test]
async fn context_and_key_must_match() {
    let f = fixture();
    let key = f.new_key().await;
    let other = f.new_key().await;
    let blob = f.encrypt(&key, b"secret", &context(&[("a", "bc")])).await;
    for wrong in [
        context(&[("ab", "c")]),
        context(&[]),
        context(&[("a", "bc"), ("x", "y")]),
    ] {
        assert_eq!(
            f.decrypt(&blob, &wrong).await.unwrap_err().code(),
            "InvalidCiphertextException"
        );
    }
    let err = f
        .core
        .decrypt(
            &f.admin,
            &ctx(),
            DecryptRequest {
                encryption_algorithm: None,
                ciphertext_blob: blob.clone(),
                encryption_context: context(&[("a", "bc")]),
                key_id: Some(other),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "IncorrectKeyException");
    let mut tampered = blob.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(
        f.decrypt(&tampered, &context(&[("a", "bc")]))
            .await
            .unwrap_err()
            .code(),
        "InvalidCiphertextException"
    );
    assert!(matches!(
        f.decrypt(b"garbage", &context(&[])).await,
        Err(Error::InvalidCiphertext)
    ));
}

#[tokio::test]
async fn disabled_key_refuses_decrypt_until_enabled() {
    let f = fixture();
    let key = f.new_key().await;
    let ec = context(&[]);
    let blob = f.encrypt(&key, b"x", &ec).await;
    f.disable(&key).await;
    assert_eq!(
        f.decrypt(&blob, &ec).await.unwrap_err().code(),
        "DisabledException"
    );
    f.core
        .enable_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    assert_eq!(
        f.decrypt(&blob, &ec)
            .await
            .unwrap()
            .plaintext
            .expose_secret(),
        b"x"
    );
}

#[tokio::test]
async fn data_key_sizes() {
    let f = fixture();
    let key = f.new_key().await;
    let req = |spec: Option<&str>, n: Option<u32>| GenerateDataKeyRequest {
        key_id: key.clone(),
        key_spec: spec.map(Into::into),
        number_of_bytes: n,
        encryption_context: context(&[("table", "t")]),
    };
    let a = (&f.admin, &ctx());
    for (spec, n, len) in [
        (Some("AES_256"), None, 32),
        (Some("AES_128"), None, 16),
        (None, Some(1), 1),
        (None, Some(1024), 1024),
    ] {
        let dek = f
            .core
            .generate_data_key(a.0, a.1, req(spec, n))
            .await
            .unwrap();
        assert_eq!(dek.plaintext.len(), len);
        let back = f
            .decrypt(&dek.ciphertext_blob, &context(&[("table", "t")]))
            .await
            .unwrap();
        assert_eq!(
            back.plaintext.expose_secret(),
            dek.plaintext.expose_secret()
        );
    }
    for (spec, n) in [
        (None, Some(0)),
        (None, Some(1025)),
        (Some("AES_256"), Some(32)),
        (None, None),
        (Some("RSA"), None),
    ] {
        let err = f
            .core
            .generate_data_key(a.0, a.1, req(spec, n))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ValidationException", "{spec:?} {n:?}");
    }
    let without = f
        .core
        .generate_data_key_without_plaintext(a.0, a.1, req(Some("AES_256"), None))
        .await
        .unwrap();
    let back = f
        .decrypt(&without.ciphertext_blob, &context(&[("table", "t")]))
        .await
        .unwrap();
    assert_eq!(back.plaintext.len(), 32);

    let big = EncryptRequest {
        encryption_algorithm: None,
        key_id: key.clone(),
        plaintext: vec![0; 4097].into(),
        encryption_context: Default::default(),
    };
    assert_eq!(
        f.core.encrypt(a.0, a.1, big).await.unwrap_err().code(),
        "ValidationException"
    );
    let random = f
        .core
        .generate_random(
            a.0,
            a.1,
            GenerateRandomRequest {
                number_of_bytes: 64,
            },
        )
        .await
        .unwrap();
    assert_eq!(random.plaintext.len(), 64);
    let huge = context(&[("k", &"v".repeat(9000))]);
    let err = f
        .core
        .generate_data_key(a.0, a.1, GenerateDataKeyRequest::aes_256(&key, huge))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationException");
}

#[tokio::test]
async fn re_encrypt_moves_a_blob_between_keys() {
    let f = fixture();
    let (from, to) = (f.new_key().await, f.new_key().await);
    let (ec1, ec2) = (context(&[("stage", "one")]), context(&[("stage", "two")]));
    let blob = f.encrypt(&from, b"moving", &ec1).await;
    let moved = f
        .core
        .re_encrypt(
            &f.admin,
            &ctx(),
            ReEncryptRequest {
                ciphertext_blob: blob,
                source_encryption_context: ec1,
                source_key_id: Some(from.clone()),
                destination_key_id: to.clone(),
                destination_encryption_context: ec2.clone(),
            },
        )
        .await
        .unwrap();
    assert!(moved.source_key_id.ends_with(&from));
    assert!(moved.key_id.ends_with(&to));
    assert_eq!(Blob::parse(&moved.ciphertext_blob).unwrap().key_id(), to);
    assert_eq!(
        f.decrypt(&moved.ciphertext_blob, &ec2)
            .await
            .unwrap()
            .plaintext
            .expose_secret(),
        b"moving"
    );
}

#[tokio::test]
async fn regions_and_accounts() {
    let f = fixture();
    let key = f.new_key().await;
    let here = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key}");
    let elsewhere = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{key}");
    assert!(
        f.core
            .describe_key(&f.admin, &ctx(), KeyIdRequest::new(&here))
            .await
            .is_ok()
    );
    let err = f
        .core
        .describe_key(&f.admin, &ctx(), KeyIdRequest::new(&elsewhere))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");

    let stranger = Principal::account_root("999988887777");
    let err = f
        .core
        .describe_key(&stranger, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
    let denied = audit::query(
        &f.core.audit_path(),
        &Query {
            principal: Some(stranger.arn.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].event.result, "AccessDeniedException");
}

#[tokio::test]
async fn aliases_resolve_move_and_go() {
    let f = fixture();
    let (k1, k2) = (f.new_key().await, f.new_key().await);
    let a = (&f.admin, &ctx());
    let alias = |name: &str, target: &str| AliasRequest {
        alias_name: name.into(),
        target_key_id: target.into(),
    };
    f.core
        .create_alias(a.0, a.1, alias("alias/telemetry", &k1))
        .await
        .unwrap();
    let err = f
        .core
        .create_alias(a.0, a.1, alias("alias/telemetry", &k2))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AlreadyExistsException");
    let err = f
        .core
        .create_alias(a.0, a.1, alias("telemetry", &k2))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidAliasNameException");
    let err = f
        .core
        .create_alias(a.0, a.1, alias("alias/x", "alias/telemetry"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationException");

    let ec = context(&[]);
    let blob = f.encrypt("alias/telemetry", b"via alias", &ec).await;
    assert_eq!(Blob::parse(&blob).unwrap().key_id(), k1);
    f.core
        .update_alias(a.0, a.1, alias("alias/telemetry", &k2))
        .await
        .unwrap();
    let blob2 = f
        .encrypt(
            &format!("arn:aws:kms:eu-west-1:{ACCOUNT}:alias/telemetry"),
            b"moved",
            &ec,
        )
        .await;
    assert_eq!(Blob::parse(&blob2).unwrap().key_id(), k2);

    f.core
        .create_alias(a.0, a.1, alias("alias/other", &k1))
        .await
        .unwrap();
    let of_k1 = f
        .core
        .list_aliases(
            a.0,
            a.1,
            ListAliasesRequest {
                key_id: Some(k1.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        of_k1
            .aliases
            .iter()
            .map(|x| x.alias_name.as_str())
            .collect::<Vec<_>>(),
        ["alias/other"]
    );
    f.core
        .delete_alias(
            a.0,
            a.1,
            DeleteAliasRequest {
                alias_name: "alias/telemetry".into(),
            },
        )
        .await
        .unwrap();
    let err = f
        .core
        .describe_key(a.0, a.1, KeyIdRequest::new("alias/telemetry"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
}

#[tokio::test]
async fn list_keys_pages_through_every_key_once() {
    let f = fixture();
    let mut made = Vec::new();
    for _ in 0..5 {
        made.push(f.new_key().await);
    }
    let mut seen = Vec::new();
    let mut marker = None;
    let mut pages = 0;
    loop {
        let page = f
            .core
            .list_keys(
                &f.admin,
                &ctx(),
                ListKeysRequest {
                    limit: Some(2),
                    marker: marker.clone(),
                },
            )
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.keys.into_iter().map(|k| k.key_id));
        if !page.truncated {
            break;
        }
        marker = page.next_marker;
    }
    made.sort();
    assert_eq!(seen, made);
    assert_eq!(pages, 3);
    let err = f
        .core
        .list_keys(
            &f.admin,
            &ctx(),
            ListKeysRequest {
                limit: Some(0),
                marker: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationException");
    let err = f
        .core
        .list_keys(
            &f.admin,
            &ctx(),
            ListKeysRequest {
                limit: None,
                marker: Some("!!".into()),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidMarkerException");
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let f = fixture();
    let key = f.new_key().await;
    let ec = context(&[("t", "1")]);
    let v1 = f.encrypt(&key, b"first", &ec).await;
    f.core
        .rotate_key_on_demand(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    f.core
        .create_alias(
            &f.admin,
            &ctx(),
            AliasRequest {
                alias_name: "alias/kept".into(),
                target_key_id: key.clone(),
            },
        )
        .await
        .unwrap();
    f.disable(&key).await;
    let dir = f.dir.path().to_owned();
    let clock = f.clock.clone();
    let err = lakeseal_keycore::KeyCore::open(&dir, Default::default()).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    drop(f.core);

    let core = open(&dir, clock);
    let meta = core
        .describe_key(&f.admin, &ctx(), KeyIdRequest::new("alias/kept"))
        .await
        .unwrap()
        .key_metadata;
    assert_eq!(meta.key_id, key);
    assert_eq!(meta.key_state, KeyState::Disabled);
    assert_eq!(meta.primary_key_version, 2);
    core.enable_key(&f.admin, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap();
    let back = core
        .decrypt(
            &f.admin,
            &ctx(),
            DecryptRequest {
                ciphertext_blob: v1,
                encryption_context: ec,
                key_id: Some("alias/kept".into()),
                encryption_algorithm: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(back.plaintext.expose_secret(), b"first");
    let verified = audit::verify(&core.audit_path()).unwrap().unwrap();
    assert!(verified.records >= 8, "{verified:?}");
}

#[tokio::test]
async fn every_call_is_audited_with_its_outcome() {
    let f = fixture();
    let key = f.new_key().await;
    let ec = context(&[("table", "telemetry")]);
    let blob = f.encrypt(&key, b"x", &ec).await;
    let _ = f.decrypt(&blob, &context(&[])).await;
    f.decrypt(&blob, &ec).await.unwrap();
    let records = audit::query(&f.core.audit_path(), &Query::default()).unwrap();
    let summary: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.event.operation.as_str(), r.event.result.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            ("CreateKey", "Success"),
            ("Encrypt", "Success"),
            ("Decrypt", "InvalidCiphertextException"),
            ("Decrypt", "Success"),
        ]
    );
    let decrypt = &records[3].event;
    assert_eq!(
        decrypt.key_arn.as_deref(),
        Some(format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{key}").as_str())
    );
    assert_eq!(decrypt.key_version, Some(1));
    assert_eq!(decrypt.encryption_context.as_ref(), Some(&ec));
    assert_eq!(decrypt.region, "eu-west-1");
    assert_eq!(decrypt.principal, f.admin.arn);
    assert!(!decrypt.request_id.is_empty());
    assert!(records.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let by_key = audit::query(
        &f.core.audit_path(),
        &Query {
            key: Some(key),
            operation: Some("Decrypt".into()),
            ..Default::default()
        },
    )
    .unwrap();
    // The refused decrypt names the key too: the blob said which key it was for.
    assert_eq!(
        by_key
            .iter()
            .map(|r| r.event.result.as_str())
            .collect::<Vec<_>>(),
        ["InvalidCiphertextException", "Success"]
    );
}
