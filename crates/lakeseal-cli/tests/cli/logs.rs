//! The command's own logs, at trace level, never carry the key material it prints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::{lakeseal, lakeseal_json};

#[test]
fn trace_logs_hold_no_key_material() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kc");
    lakeseal_json(&dir, &["keycore", "init", "--region", "eu-west-1"]);
    let key = lakeseal_json(&dir, &["key", "create"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut stderr = Vec::new();
    let mut secrets = Vec::new();
    for args in [
        vec![
            "crypto",
            "generate-data-key",
            "--key-id",
            &key,
            "--key-spec",
            "AES_256",
        ],
        vec!["crypto", "generate-random", "--number-of-bytes", "32"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakeseal"))
            .env("RUST_LOG", "trace")
            .arg("--data-dir")
            .arg(&dir)
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success());
        let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        secrets.push(
            STANDARD
                .decode(printed["Plaintext"].as_str().unwrap())
                .unwrap(),
        );
        stderr.extend(out.stderr);
    }
    let logs = String::from_utf8_lossy(&stderr);
    assert!(
        logs.contains("GenerateDataKey"),
        "trace logging was not on: {logs}"
    );
    for secret in &secrets {
        for form in [
            STANDARD.encode(secret),
            hex::encode(secret),
            hex::encode_upper(secret),
        ] {
            assert!(!logs.contains(&form), "key material in the logs");
        }
        assert!(!stderr.windows(secret.len()).any(|w| w == &secret[..]));
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap());
        for bytes in files {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == &secret[..]),
                "key material at rest"
            );
        }
    }
}

/// The PKCS#8 private key of asymmetric key `key_id`, unsealed the way the key core does it
/// (root key, context bound to key and version): the test's own copy of the secret to look for.
fn private_key(dir: &std::path::Path, key_id: &str) -> Vec<u8> {
    let db = rusqlite::Connection::open(dir.join("keycore.db")).unwrap();
    let sealed: Vec<u8> = db
        .query_row(
            "SELECT sealed_material FROM key_versions WHERE key_id = ?1 AND version = 1",
            [key_id],
            |row| row.get(0),
        )
        .unwrap();
    let root = std::fs::read(dir.join("root.key")).unwrap();
    let root = lakeseal_envelope::DataKey::try_from_slice(&root).unwrap();
    let root = lakeseal_envelope::SealingKey::new("lakeseal-root", 1, &root).unwrap();
    let context = lakeseal_envelope::EncryptionContext::from_iter([
        ("lakeseal:purpose", "key-material".to_owned()),
        ("lakeseal:key-id", key_id.to_owned()),
        ("lakeseal:key-version", "1".to_owned()),
    ]);
    root.open(&sealed, &context)
        .unwrap()
        .expose_secret()
        .to_vec()
}

/// The forms a private key could leak in: raw DER, base64 (a PEM body, whose lines are 64
/// characters of it), hex; and the bare private value of an EC key (its `ECPrivateKey` octet
/// string, 32 bytes for P-256).
fn leak_forms(pkcs8: &[u8]) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut raw = vec![pkcs8.to_vec()];
    // PKCS#8 of P-256: … ECPrivateKey { version 1 (02 01 01), privateKey OCTET STRING (04 20) …
    if let Some(at) = pkcs8.windows(5).position(|w| w == [2, 1, 1, 4, 32]) {
        raw.push(pkcs8[at + 5..at + 5 + 32].to_vec());
    }
    let b64 = STANDARD.encode(pkcs8);
    let mut text = vec![b64.clone(), hex::encode(pkcs8), hex::encode_upper(pkcs8)];
    text.extend(
        b64.as_bytes()
            .chunks(64)
            .map(|line| String::from_utf8(line.to_vec()).unwrap()),
    );
    for r in &raw[1..] {
        text.push(STANDARD.encode(r));
        text.push(hex::encode(r));
    }
    (raw, text)
}

#[test]
fn private_keys_stay_out_of_logs_output_and_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kc");
    lakeseal_json(&dir, &["keycore", "init", "--region", "eu-west-1"]);
    let message = tmp.path().join("image.bin");
    std::fs::write(&message, b"firmware image 1.0").unwrap();
    let message_arg = format!("fileb://{}", message.display());
    let mut output = Vec::new();
    let mut keys = Vec::new();
    for (spec, usage, algorithm) in [
        ("ECC_NIST_P256", "SIGN_VERIFY", "ECDSA_SHA_256"),
        ("RSA_2048", "SIGN_VERIFY", "RSASSA_PSS_SHA_256"),
    ] {
        let key = lakeseal_json(
            &dir,
            &["key", "create", "--key-spec", spec, "--key-usage", usage],
        )["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        let sig = tmp.path().join(format!("{spec}.sig"));
        for args in [
            vec![
                "crypto",
                "sign",
                "--key-id",
                &key,
                "--message",
                &message_arg,
                "--signing-algorithm",
                algorithm,
            ],
            vec!["crypto", "get-public-key", "--key-id", &key],
            vec!["key", "describe", "--key-id", &key],
        ] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakeseal"))
                .env("RUST_LOG", "trace")
                .arg("--data-dir")
                .arg(&dir)
                .args(&args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            if args[1] == "sign" {
                let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                let signature = STANDARD
                    .decode(printed["Signature"].as_str().unwrap())
                    .unwrap();
                std::fs::write(&sig, signature).unwrap();
            }
            output.extend(out.stdout);
            output.extend(out.stderr);
        }
        let verified = lakeseal_json(
            &dir,
            &[
                "crypto",
                "verify",
                "--key-id",
                &key,
                "--message",
                &message_arg,
                "--signature",
                &format!("fileb://{}", sig.display()),
                "--signing-algorithm",
                algorithm,
            ],
        );
        assert_eq!(verified["SignatureValid"], true);
        keys.push((spec, key));
    }
    let logs = String::from_utf8_lossy(&output);
    assert!(logs.contains("Sign"), "trace logging was not on: {logs}");
    let at_rest: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    for (spec, key) in &keys {
        let pkcs8 = private_key(&dir, key);
        let (raw, text) = leak_forms(&pkcs8);
        let ec = spec.starts_with("ECC");
        assert_eq!(
            raw.len(),
            if ec { 2 } else { 1 },
            "{spec}: the EC scalar was found"
        );
        for form in &text {
            assert!(!logs.contains(form.as_str()), "a private key in the output");
            for file in &at_rest {
                let hit = file.windows(form.len()).any(|w| w == form.as_bytes());
                assert!(!hit, "a private key's text form at rest");
            }
        }
        for bytes in &raw {
            assert!(!output.windows(bytes.len()).any(|w| w == &bytes[..]));
            for file in &at_rest {
                assert!(
                    !file.windows(bytes.len()).any(|w| w == &bytes[..]),
                    "a private key at rest"
                );
            }
        }
    }

    // Messages and signatures come from files or standard input, never from argv.
    let inline = lakeseal(
        &dir,
        &[
            "crypto",
            "sign",
            "--key-id",
            &keys[0].1,
            "--message",
            "aW5saW5l",
            "--signing-algorithm",
            "ECDSA_SHA_256",
        ],
    );
    assert!(!inline.status.success());
    let err = String::from_utf8_lossy(&inline.stderr);
    assert!(
        err.contains("--message") && !err.contains("aW5saW5l"),
        "{err}"
    );
}

/// Wraps `material` under a wrapping key from `get-parameters-for-import` (RSA-AES key wrap,
/// SHA-256): RSA-OAEP of a fresh AES key, then the material under AES-KWP.
fn wrap_for_import(public_der: &[u8], material: &[u8]) -> Vec<u8> {
    use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
    use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).unwrap()).unwrap();
    let aes = [0x5c_u8; 32];
    let mut out = vec![0; public.ciphertext_size()];
    let n = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, &aes, &mut out, None)
        .unwrap()
        .len();
    out.truncate(n);
    let mut wrapped = vec![0; material.len() + 16];
    let n = AesKek::new(&AES_256, &aes)
        .unwrap()
        .wrap_with_padding(material, &mut wrapped)
        .unwrap()
        .len();
    out.extend_from_slice(&wrapped[..n]);
    out
}

#[test]
fn imported_material_stays_out_of_logs_output_and_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kc");
    lakeseal_json(&dir, &["keycore", "init", "--region", "eu-west-1"]);
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap()
    .as_ref()
    .to_vec();
    let symmetric = lakeseal_envelope::random_bytes(32)
        .unwrap()
        .expose_secret()
        .to_vec();
    let mut output = Vec::new();
    for (create, material) in [
        (vec!["key", "create", "--origin", "EXTERNAL"], &symmetric),
        (
            vec![
                "key",
                "create",
                "--origin",
                "EXTERNAL",
                "--key-spec",
                "ECC_NIST_P256",
                "--key-usage",
                "SIGN_VERIFY",
            ],
            &pkcs8,
        ),
    ] {
        let key = lakeseal_json(&dir, &create)["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap()
            .to_owned();
        let params = lakeseal_json(
            &dir,
            &[
                "key",
                "get-parameters-for-import",
                "--key-id",
                &key,
                "--wrapping-algorithm",
                "RSA_AES_KEY_WRAP_SHA_256",
                "--wrapping-key-spec",
                "RSA_2048",
            ],
        );
        let public = STANDARD
            .decode(params["PublicKey"].as_str().unwrap())
            .unwrap();
        let wrapped = tmp.path().join("wrapped.bin");
        std::fs::write(&wrapped, wrap_for_import(&public, material)).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakeseal"))
            .env("RUST_LOG", "trace")
            .arg("--data-dir")
            .arg(&dir)
            .args([
                "key",
                "import-key-material",
                "--key-id",
                &key,
                "--import-token",
                params["ImportToken"].as_str().unwrap(),
                "--encrypted-key-material",
                &format!("fileb://{}", wrapped.display()),
                "--expiration-model",
                "KEY_MATERIAL_DOES_NOT_EXPIRE",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        output.extend(out.stdout);
        output.extend(out.stderr);
        let described = lakeseal_json(&dir, &["key", "describe", "--key-id", &key]);
        assert_eq!(described["KeyMetadata"]["KeyState"], "Enabled");
    }
    assert!(
        String::from_utf8_lossy(&output).contains("ImportKeyMaterial"),
        "trace logging was not on"
    );
    let at_rest: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    for material in [&symmetric, &pkcs8] {
        let (raw, text) = leak_forms(material);
        for bytes in raw.iter().chain(
            text.iter()
                .map(|t| t.as_bytes().to_vec())
                .collect::<Vec<_>>()
                .iter(),
        ) {
            assert!(
                !output.windows(bytes.len()).any(|w| w == &bytes[..]),
                "imported material in the output"
            );
            for file in &at_rest {
                assert!(
                    !file.windows(bytes.len()).any(|w| w == &bytes[..]),
                    "imported material at rest"
                );
            }
        }
    }
}
