//! The command's own logs, at trace level, never carry the key material it prints.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::lakeseal_json;

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
