//! The command line used carelessly or with hostile values: long plaintexts in argv, secrets in
//! files and pipes, forged text output, access keys whose file cannot be written, policies that
//! would lock a key.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::{lakeseal, lakeseal_json};

fn init(dir: &Path) -> String {
    lakeseal_json(dir, &["keycore", "init", "--region", "eu-west-1"]);
    lakeseal_json(dir, &["key", "create"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs `lakeseal ARGS` with `input` on its standard input.
fn lakeseal_stdin(dir: &Path, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lakeseal"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn decrypts_to(dir: &Path, blob: &str, expected: &[u8]) {
    let back = lakeseal_json(dir, &["crypto", "decrypt", "--ciphertext-blob", blob]);
    let plain = STANDARD
        .decode(back["Plaintext"].as_str().unwrap())
        .unwrap();
    assert_eq!(plain, expected);
}

#[test]
fn plaintexts_come_wrapped_from_files_and_pipes_and_are_never_echoed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("kc");
    let key = init(dir);
    let secret: Vec<u8> = (0..200u8).collect();

    // `$(base64 file)`: wrapped at 76 columns.
    let encoded = STANDARD.encode(&secret);
    let wrapped: String = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c) + "\n")
        .collect();
    let out = lakeseal_json(
        dir,
        &[
            "crypto",
            "encrypt",
            "--key-id",
            &key,
            "--plaintext",
            &wrapped,
        ],
    );
    decrypts_to(dir, out["CiphertextBlob"].as_str().unwrap(), &secret);

    // fileb://: the file's raw bytes.
    let file = tmp.path().join("secret.bin");
    std::fs::write(&file, &secret).unwrap();
    let arg = format!("fileb://{}", file.display());
    let out = lakeseal_json(
        dir,
        &["crypto", "encrypt", "--key-id", &key, "--plaintext", &arg],
    );
    let blob = out["CiphertextBlob"].as_str().unwrap().to_owned();
    decrypts_to(dir, &blob, &secret);

    // -: standard input, raw; and a ciphertext blob from a file's raw bytes.
    let out = lakeseal_stdin(
        dir,
        &["crypto", "encrypt", "--key-id", &key, "--plaintext", "-"],
        &secret,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blob_file = tmp.path().join("blob.bin");
    std::fs::write(&blob_file, STANDARD.decode(&blob).unwrap()).unwrap();
    let back = lakeseal_json(
        dir,
        &[
            "crypto",
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", blob_file.display()),
        ],
    );
    assert_eq!(
        STANDARD
            .decode(back["Plaintext"].as_str().unwrap())
            .unwrap(),
        secret
    );

    // Not base64: the error names the flag, never the value.
    let typo = "hunter2-is-my-password!";
    let out = lakeseal(
        dir,
        &["crypto", "encrypt", "--key-id", &key, "--plaintext", typo],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--plaintext"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn text_output_cannot_be_forged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("kc");
    init(dir);
    let out = lakeseal(
        dir,
        &[
            "--output",
            "text",
            "key",
            "create",
            "--description",
            "innocent\nKeyMetadata.KeyState\tDisabled",
        ],
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let states: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("KeyMetadata.KeyState\t"))
        .collect();
    assert_eq!(states, ["KeyMetadata.KeyState\tEnabled"], "{text}");
    assert!(text.lines().all(|l| l.matches('\t').count() == 1), "{text}");
    assert!(
        text.contains("KeyMetadata.Description\tinnocent\\nKeyMetadata.KeyState\\tDisabled"),
        "{text}"
    );
}

#[test]
fn an_access_key_exists_only_once_its_file_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("kc");
    init(dir);
    lakeseal_json(dir, &["iam", "create-user", "--user-name", "writer"]);
    let nowhere = tmp.path().join("no/such/dir/credentials");
    let out = lakeseal(
        dir,
        &[
            "iam",
            "create-access-key",
            "--user-name",
            "writer",
            "--credentials-file",
            nowhere.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no/such/dir/credentials"), "{stderr}");
    let keys = lakeseal_json(dir, &["iam", "list-access-keys", "--user-name", "writer"]);
    assert_eq!(keys["AccessKeyMetadata"], serde_json::json!([]), "{keys}");
    let audited = lakeseal_json(dir, &["audit", "query", "--operation", "createaccesskey"]);
    let results: Vec<&str> = audited["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    // The admin's at init, then the refused one.
    assert_eq!(results, ["Success", "ValidationException"]);

    // An existing file is never overwritten either.
    let taken = tmp.path().join("taken");
    std::fs::write(&taken, "keep me").unwrap();
    let out = lakeseal(
        dir,
        &[
            "iam",
            "create-access-key",
            "--user-name",
            "writer",
            "--credentials-file",
            taken.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(&taken).unwrap(), "keep me");

    let good = tmp.path().join("writer-credentials");
    let made = lakeseal_json(
        dir,
        &[
            "iam",
            "create-access-key",
            "--user-name",
            "writer",
            "--credentials-file",
            good.to_str().unwrap(),
        ],
    );
    let id = made["AccessKey"]["AccessKeyId"].as_str().unwrap();
    let keys = lakeseal_json(dir, &["iam", "list-access-keys", "--user-name", "writer"]);
    assert_eq!(keys["AccessKeyMetadata"][0]["AccessKeyId"], id);
    assert!(
        keys["AccessKeyMetadata"][0]["CreateDate"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    lakeseal_json(
        dir,
        &[
            "iam",
            "delete-access-key",
            "--user-name",
            "writer",
            "--access-key-id",
            id,
        ],
    );
    let keys = lakeseal_json(dir, &["iam", "list-access-keys", "--user-name", "writer"]);
    assert_eq!(keys["AccessKeyMetadata"], serde_json::json!([]));
}

#[test]
fn key_policies_are_read_and_written_without_locking_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("kc");
    let key = init(dir);
    let policy = lakeseal_json(dir, &["key", "get-policy", "--key-id", &key]);
    assert!(
        policy["Policy"].as_str().unwrap().contains(":root"),
        "{policy}"
    );

    let empty = tmp.path().join("empty.json");
    std::fs::write(&empty, r#"{"Version":"2012-10-17","Statement":[]}"#).unwrap();
    let arg = format!("file://{}", empty.display());
    let out = lakeseal(
        dir,
        &["key", "put-policy", "--key-id", &key, "--policy", &arg],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("MalformedPolicyDocumentException"),
        "{stderr}"
    );
    let out = lakeseal(dir, &["key", "create", "--policy", &arg]);
    assert!(!out.status.success());

    // From standard input, with the caller's own say-so.
    let out = lakeseal_stdin(
        dir,
        &[
            "key",
            "put-policy",
            "--key-id",
            &key,
            "--policy",
            "-",
            "--bypass-policy-lockout-safety-check",
        ],
        br#"{"Statement":[]}"#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = lakeseal(dir, &["key", "describe", "--key-id", &key]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AccessDeniedException"), "{stderr}");
}

#[test]
fn duplicate_context_keys_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("kc");
    let key = init(dir);
    for context in ["a=b,a=c", r#"{"a":"b","a":"c"}"#] {
        let out = lakeseal(
            dir,
            &[
                "crypto",
                "generate-data-key",
                "--key-id",
                &key,
                "--key-spec",
                "AES_256",
                "--encryption-context",
                context,
            ],
        );
        assert!(!out.status.success(), "{context}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("twice"), "{stderr}");
    }
}

#[test]
fn iam_output_and_audit_queries_speak_aws() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("kc");
    let key = init(dir);
    let user = lakeseal_json(dir, &["iam", "create-user", "--user-name", "reader"]);
    assert_eq!(user["User"]["UserName"], "reader");
    assert!(
        user["User"]["Arn"]
            .as_str()
            .unwrap()
            .ends_with(":user/reader")
    );
    let date = user["User"]["CreateDate"].as_str().unwrap();
    assert!(
        date.len() >= 20 && date.ends_with('Z') && date.contains('T'),
        "{date}"
    );
    let trust =
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    let role = lakeseal_json(
        dir,
        &[
            "iam",
            "create-role",
            "--role-name",
            "stage",
            "--assume-role-policy-document",
            trust,
        ],
    );
    assert_eq!(role["Role"]["RoleName"], "stage");
    let listed = lakeseal_json(dir, &["iam", "list"]);
    assert_eq!(listed["Roles"][0]["RoleName"], "stage");

    lakeseal_json(
        dir,
        &[
            "alias",
            "create",
            "--alias-name",
            "alias/t",
            "--target-key-id",
            &key,
        ],
    );
    lakeseal_json(dir, &["key", "describe", "--key-id", "alias/t"]);
    let by_alias = lakeseal_json(
        dir,
        &[
            "audit",
            "query",
            "--key",
            "alias/t",
            "--operation",
            "describekey",
        ],
    );
    let records = by_alias["Records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{by_alias}");
    assert!(records[0]["keyArn"].as_str().unwrap().ends_with(&key));
    let out = lakeseal(dir, &["audit", "query", "--key", "alias/none"]);
    assert!(!out.status.success());
}
