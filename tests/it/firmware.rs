//! The firmware-signing example (`pipeline-examples/firmware-signing/`), end to end: the release
//! step signs an image through the key core with the `firmware-release` role, the
//! `device-fleet` role exports the public key, and the device-side verifiers — the Rust crate
//! and the Python script, neither with key-core access — accept the image and reject it with
//! one byte changed.

use std::path::{Path, PathBuf};

use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::{Principal, RequestContext};

use crate::support::RunningKeyCore;

const ACCOUNT: &str = "111122223333";

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pipeline-examples")
}

fn policy(name: &str, vars: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(example_dir().join("policies").join(name)).unwrap();
    for (k, v) in vars {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    assert!(!text.contains("${"), "{name} has an unfilled placeholder");
    text
}

fn signing_key() -> CreateKeyRequest {
    CreateKeyRequest {
        key_spec: Some("ECC_NIST_P256".into()),
        key_usage: Some("SIGN_VERIFY".into()),
        description: Some("firmware releases".into()),
        ..Default::default()
    }
}

/// Runs the Python device verifier: no key-core endpoint or credentials in its environment.
fn python_verifier(public_key: &Path, image: &Path, signature: &Path) -> (bool, String) {
    let out = std::process::Command::new(crate::support::venv().join("bin/python"))
        .arg(example_dir().join("firmware-signing/verify_firmware.py"))
        .arg("--public-key")
        .arg(public_key)
        .arg("--image")
        .arg(image)
        .arg("--signature")
        .arg(signature)
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.success(),
        stdout + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_signed_through_the_key_core_verifies_on_the_device() {
    let kc = RunningKeyCore::start().await;
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("firmware-test");
    let key = kc
        .core
        .create_key(&root, &ctx, signing_key())
        .await
        .unwrap()
        .key_metadata
        .arn;
    let other = kc
        .core
        .create_key(&root, &ctx, signing_key())
        .await
        .unwrap()
        .key_metadata
        .arn;
    let vars = [("ACCOUNT_ID", ACCOUNT), ("FIRMWARE_KEY_ARN", key.as_str())];
    let trust = policy("trust-policy.json", &vars);
    let mut sessions = Vec::new();
    for role in ["firmware-release", "device-fleet"] {
        let arn = kc
            .core
            .create_role(&root, &ctx, role, &trust)
            .await
            .unwrap()
            .arn;
        let document = policy(&format!("{role}-role-policy.json"), &vars);
        kc.core
            .put_role_policy(&root, &ctx, role, "least-privilege", &document)
            .await
            .unwrap();
        let session = kc
            .python("roles.py", &[("MODE", "assume"), ("ROLE_ARN", &arn)])
            .await;
        let out = kc
            .python(
                "firmware_roles.py",
                &[
                    ("ROLE", role),
                    ("SESSION", session.trim()),
                    ("FIRMWARE_KEY_ARN", &key),
                    ("OTHER_SIGNING_KEY_ARN", &other),
                ],
            )
            .await;
        assert_eq!(out.matches("PASS").count(), 9, "{out}");
        sessions.push(session);
    }
    let credentials = |session: &str| -> Vec<(String, String)> {
        let s: serde_json::Value = serde_json::from_str(session.trim()).unwrap();
        ["AccessKeyId", "SecretAccessKey", "SessionToken"]
            .iter()
            .zip([
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
            ])
            .map(|(field, var)| (var.to_owned(), s[field].as_str().unwrap().to_owned()))
            .collect()
    };

    // A 1 MiB image: larger than a RAW message, so the release step signs its digest.
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("firmware-4.2.0.bin");
    let bytes: Vec<u8> = (0..1 << 20)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&image, &bytes).unwrap();
    let signature = tmp.path().join("firmware-4.2.0.bin.sig");
    let public_key = tmp.path().join("firmware-signing.pub.der");
    let release = example_dir().join("firmware-signing/release.py");
    for (session, args) in [
        (
            &sessions[0],
            vec![
                "sign",
                "--key-id",
                key.as_str(),
                "--image",
                image.to_str().unwrap(),
                "--signature",
                signature.to_str().unwrap(),
            ],
        ),
        (
            &sessions[1],
            vec![
                "export-public-key",
                "--key-id",
                key.as_str(),
                "--out",
                public_key.to_str().unwrap(),
            ],
        ),
    ] {
        let env = credentials(session);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let out = kc.python_at(&release, &args, &env).await;
        assert!(
            out.status.success(),
            "release.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let public = std::fs::read(&public_key).unwrap();
    let sig = std::fs::read(&signature).unwrap();
    lakeseal_firmware_verifier::verify(&public, &bytes, &sig).unwrap();
    let (accepted, out) = python_verifier(&public_key, &image, &signature);
    assert!(accepted && out.contains("accepted"), "{out}");

    for at in [0, bytes.len() / 2, bytes.len() - 1] {
        let mut tampered = bytes.clone();
        tampered[at] ^= 0x01;
        assert!(matches!(
            lakeseal_firmware_verifier::verify(&public, &tampered, &sig),
            Err(lakeseal_firmware_verifier::Rejected::Mismatch)
        ));
        let path = tmp.path().join("tampered.bin");
        std::fs::write(&path, &tampered).unwrap();
        let (accepted, out) = python_verifier(&public_key, &path, &signature);
        assert!(!accepted && out.contains("rejected"), "{out}");
    }
    // Another key's public half rejects the genuine image.
    let other_public = kc
        .core
        .get_public_key(
            &root,
            &ctx,
            lakeseal_keycore::ops::KeyIdRequest::new(&other),
        )
        .await
        .unwrap()
        .public_key;
    assert!(lakeseal_firmware_verifier::verify(&other_public, &bytes, &sig).is_err());
    assert!(matches!(
        lakeseal_firmware_verifier::verify(&public, &bytes, &sig[..sig.len() - 1]),
        Err(lakeseal_firmware_verifier::Rejected::Malformed)
    ));

    // The signature was made by the release role's session, and audited as such.
    let signed = audit::query(
        &kc.core.audit_path(),
        &Query {
            operation: Some("Sign".into()),
            principal: Some(format!(
                "arn:aws:sts::{ACCOUNT}:assumed-role/firmware-release/policy-test"
            )),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(signed.iter().any(|r| r.event.result == "Success"));
}
