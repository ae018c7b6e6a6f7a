//! No data key, plaintext, random output, secret value, workload token or issued credential
//! reaches the store, the audit trail or the logs.
//!
//! Its own test binary: tracing caches each call site's interest process-wide, and a call site
//! first reached by another test's thread while this test installs its subscriber can be cached
//! as "never" — the capture would then see nothing. Alone in its process, it sees everything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_envelope::EncryptionContext;
use lakeseal_envelope::SecretBytes;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::encrypt::EncryptRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::ops::generate_random::GenerateRandomRequest;
use lakeseal_keycore::ops::re_encrypt::ReEncryptRequest;
use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};
use lakeseal_kms_types::secrets::RotationRules;
use lakeseal_kms_types::secrets::read::{BatchGetSecretValueRequest, GetSecretValueRequest};
use lakeseal_kms_types::secrets::rotate::RotateSecretRequest;
use lakeseal_kms_types::secrets::write::{CreateSecretRequest, PutSecretValueRequest};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The forms a secret could leak in: raw, hex (both cases), base64.
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
        STANDARD.encode(secret).into_bytes(),
    ]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn every_file(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_store_audit_or_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kc");
    let location = KeyCore::init(
        &dir,
        &InitOptions {
            region: "eu-west-1".into(),
            account_id: None,
            partition: "aws".into(),
        },
    )
    .unwrap();
    let core = KeyCore::open(&dir, Options::default()).unwrap();
    let who = Principal::account_root(&location.account_id);
    let ctx = RequestContext::local("secrets-test");
    let key = core
        .create_key(&who, &ctx, CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .key_id;
    let other = core
        .create_key(&who, &ctx, CreateKeyRequest::default())
        .await
        .unwrap()
        .key_metadata
        .key_id;
    let ec = EncryptionContext::from_iter([("table", "telemetry")]);

    let mut secrets: Vec<Vec<u8>> = Vec::new();
    for _ in 0..20 {
        let dek = core
            .generate_data_key(
                &who,
                &ctx,
                GenerateDataKeyRequest::aes_256(&key, ec.clone()),
            )
            .await
            .unwrap();
        secrets.push(dek.plaintext.expose_secret().to_vec());
        let back = core
            .decrypt(
                &who,
                &ctx,
                DecryptRequest {
                    encryption_algorithm: None,
                    ciphertext_blob: dek.ciphertext_blob.clone(),
                    encryption_context: ec.clone(),
                    key_id: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            back.plaintext.expose_secret(),
            dek.plaintext.expose_secret()
        );
        // A refused decrypt takes the error path, which logs.
        let _ = core
            .decrypt(
                &who,
                &ctx,
                DecryptRequest {
                    encryption_algorithm: None,
                    ciphertext_blob: dek.ciphertext_blob,
                    encryption_context: Default::default(),
                    key_id: None,
                },
            )
            .await;
    }
    let plaintext = b"sensor-7 credentials: hunter2-and-then-some".to_vec();
    let enc = core
        .encrypt(
            &who,
            &ctx,
            EncryptRequest {
                encryption_algorithm: None,
                key_id: key.clone(),
                plaintext: plaintext.clone().into(),
                encryption_context: ec.clone(),
            },
        )
        .await
        .unwrap();
    core.re_encrypt(
        &who,
        &ctx,
        ReEncryptRequest {
            ciphertext_blob: enc.ciphertext_blob,
            source_encryption_context: ec.clone(),
            source_key_id: None,
            destination_key_id: other,
            destination_encryption_context: ec.clone(),
        },
    )
    .await
    .unwrap();
    secrets.push(plaintext);
    let random = core
        .generate_random(
            &who,
            &ctx,
            GenerateRandomRequest {
                number_of_bytes: 32,
            },
        )
        .await
        .unwrap();
    secrets.push(random.plaintext.expose_secret().to_vec());

    // Secret values: written, overwritten with the same token (compared), read, batch-read,
    // moved between labels, refused under a disabled key.
    let string_value = b"postgres password: correct-horse-battery-staple".to_vec();
    let binary_value = b"\x00device-7 private key bytes\xff".to_vec();
    let token = "c".repeat(32);
    let made = core
        .create_secret(
            &who,
            &ctx,
            CreateSecretRequest {
                name: "db/password".into(),
                client_request_token: Some(token.clone()),
                secret_string: Some(SecretBytes::new(string_value.clone())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let retried = core
        .put_secret_value(
            &who,
            &ctx,
            PutSecretValueRequest {
                secret_id: made.secret.arn.clone(),
                client_request_token: Some(token),
                secret_string: Some(SecretBytes::new(b"another value".to_vec())),
                ..Default::default()
            },
        )
        .await;
    assert!(
        retried.is_err(),
        "the same token with another value is refused"
    );
    core.put_secret_value(
        &who,
        &ctx,
        PutSecretValueRequest {
            secret_id: "db/password".into(),
            secret_binary: Some(SecretBytes::new(binary_value.clone())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for stage in ["AWSCURRENT", "AWSPREVIOUS"] {
        core.get_secret_value(
            &who,
            &ctx,
            GetSecretValueRequest {
                secret_id: "db/password".into(),
                version_id: None,
                version_stage: Some(stage.into()),
            },
        )
        .await
        .unwrap();
    }
    core.batch_get_secret_value(
        &who,
        &ctx,
        BatchGetSecretValueRequest {
            secret_id_list: Some(vec!["db/password".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    secrets.push(string_value);
    secrets.push(binary_value);

    // Values a rotation makes: a random token, and a new access key's secret (the rotated-out
    // key's secret too).
    let rotator = |name: &str| {
        Some(format!(
            "arn:aws:lakeseal:eu-west-1:{}:rotator/{name}",
            core.location().account_id
        ))
    };
    let daily = Some(RotationRules {
        automatically_after_days: Some(1),
        ..Default::default()
    });
    core.create_secret(
        &who,
        &ctx,
        CreateSecretRequest {
            name: "api/token".into(),
            secret_string: Some(SecretBytes::new(b"token-before-rotation".to_vec())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    core.create_user(&who, &ctx, "svc").await.unwrap();
    let first = core.create_access_key(&who, &ctx, "svc").await.unwrap();
    let key_json = serde_json::json!({
        "UserName": "svc",
        "AccessKeyId": first.access_key_id,
        "SecretAccessKey": std::str::from_utf8(first.secret_access_key.expose_secret()).unwrap(),
    })
    .to_string();
    core.create_secret(
        &who,
        &ctx,
        CreateSecretRequest {
            name: "svc/key".into(),
            secret_string: Some(SecretBytes::new(key_json.into_bytes())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    secrets.push(first.secret_access_key.expose_secret().to_vec());
    for (name, rotator_name) in [
        ("api/token", "random-token"),
        ("svc/key", "keycore-access-key"),
    ] {
        core.rotate_secret(
            &who,
            &ctx,
            RotateSecretRequest {
                secret_id: name.into(),
                rotation_lambda_arn: rotator(rotator_name),
                rotation_rules: daily.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let rotated = core
            .get_secret_value(
                &who,
                &ctx,
                GetSecretValueRequest {
                    secret_id: name.into(),
                    version_id: None,
                    version_stage: None,
                },
            )
            .await
            .unwrap();
        let value = rotated.secret_string.unwrap().expose_secret().to_vec();
        if name == "svc/key" {
            let json: serde_json::Value = serde_json::from_slice(&value).unwrap();
            secrets.push(
                json["SecretAccessKey"]
                    .as_str()
                    .unwrap()
                    .as_bytes()
                    .to_vec(),
            );
        } else {
            secrets.push(value);
        }
    }
    secrets.push(b"token-before-rotation".to_vec());

    // Workload identities: the tokens (first and rotated) and the role credentials they obtain.
    let account = core.location().account_id.clone();
    let trust = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{account}:workload-identity/pipeline","arn:aws:iam::{account}:root"]}},"Action":"sts:AssumeRole"}}}}"#
    );
    let role = core
        .create_role(&who, &ctx, "pipeline", &trust)
        .await
        .unwrap()
        .arn;
    let (_, token) = core
        .create_workload_identity(&who, &ctx, "pipeline", "pipeline", None)
        .await
        .unwrap();
    secrets.push(token.expose_secret().to_vec());
    let rotated = core
        .rotate_workload_token(&who, &ctx, "pipeline")
        .await
        .unwrap();
    secrets.push(rotated.expose_secret().to_vec());
    let workload = core.workload_for_token(rotated.expose_secret()).unwrap();
    assert!(core.workload_for_token(token.expose_secret()).is_none());
    let issued = core
        .issue_workload_credentials(&workload, &ctx)
        .await
        .unwrap();
    secrets.push(issued.secret_access_key.expose_secret().to_vec());
    secrets.push(issued.session_token.expose_secret().to_vec());
    let assumed = core
        .assume_role(&who, &ctx, &role, "leak-test", None)
        .await
        .unwrap();
    secrets.push(assumed.secret_access_key.expose_secret().to_vec());
    secrets.push(assumed.session_token.expose_secret().to_vec());
    drop(core);

    let logs = logs.0.lock().unwrap().clone();
    assert!(
        contains(&logs, b"GenerateDataKey") && contains(&logs, b"refused"),
        "the logs captured nothing"
    );
    let mut places = every_file(&dir);
    assert!(places.iter().any(|(name, _)| name.ends_with("audit.log")));
    places.push(("in-process logs".into(), logs));
    for secret in &secrets {
        for form in forms(secret) {
            for (place, bytes) in &places {
                assert!(!contains(bytes, &form), "a secret leaked into {place}");
            }
        }
    }
}
