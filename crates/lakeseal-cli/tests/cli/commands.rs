//! The `lakeseal` command: AWS member names in its JSON, AWS error names in its failures, and
//! `audit verify` naming the record that was tampered with.

use std::path::Path;

use crate::{lakeseal, lakeseal_json};

fn init(dir: &Path) {
    lakeseal_json(
        dir,
        &[
            "keycore",
            "init",
            "--region",
            "eu-west-1",
            "--account-id",
            "111122223333",
        ],
    );
}

#[test]
fn scripts_read_aws_member_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = &tmp.path().join("kc");
    init(dir);
    let created = lakeseal_json(dir, &["key", "create", "--description", "telemetry"]);
    let key = created["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
    assert_eq!(created["KeyMetadata"]["KeyState"], "Enabled");
    assert_eq!(
        created["KeyMetadata"]["Arn"],
        format!("arn:aws:kms:eu-west-1:111122223333:key/{key}")
    );
    lakeseal_json(
        dir,
        &[
            "alias",
            "create",
            "--alias-name",
            "alias/telemetry",
            "--target-key-id",
            &key,
        ],
    );

    let dek = lakeseal_json(
        dir,
        &[
            "crypto",
            "generate-data-key",
            "--key-id",
            "alias/telemetry",
            "--key-spec",
            "AES_256",
            "--encryption-context",
            "table=telemetry,topic=iot",
        ],
    );
    let blob = dek["CiphertextBlob"].as_str().unwrap();
    let back = lakeseal_json(
        dir,
        &[
            "crypto",
            "decrypt",
            "--ciphertext-blob",
            blob,
            "--encryption-context",
            "topic=iot,table=telemetry",
        ],
    );
    assert_eq!(back["Plaintext"], dek["Plaintext"]);
    assert_eq!(back["KeyId"], dek["KeyId"]);

    let enc = lakeseal_json(
        dir,
        &[
            "crypto",
            "encrypt",
            "--key-id",
            &key,
            "--plaintext",
            "aGVsbG8=",
        ],
    );
    let key2 = lakeseal_json(dir, &["key", "create"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let moved = lakeseal_json(
        dir,
        &[
            "crypto",
            "re-encrypt",
            "--ciphertext-blob",
            enc["CiphertextBlob"].as_str().unwrap(),
            "--destination-key-id",
            &key2,
        ],
    );
    assert!(moved["SourceKeyId"].as_str().unwrap().ends_with(&key));
    let plain = lakeseal_json(
        dir,
        &[
            "crypto",
            "decrypt",
            "--ciphertext-blob",
            moved["CiphertextBlob"].as_str().unwrap(),
        ],
    );
    assert_eq!(plain["Plaintext"], "aGVsbG8=");

    let rotated = lakeseal_json(dir, &["key", "rotate", "--key-id", &key]);
    assert_eq!(rotated["KeyVersion"], 2);
    let listed = lakeseal_json(dir, &["key", "list"]);
    assert_eq!(listed["Keys"].as_array().unwrap().len(), 2);

    // Refusals exit non-zero and name the AWS error.
    let out = lakeseal(
        dir,
        &[
            "key",
            "schedule-deletion",
            "--key-id",
            &key,
            "--pending-window-in-days",
            "6",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ValidationException"));
    lakeseal_json(dir, &["key", "disable", "--key-id", &key]);
    let out = lakeseal(
        dir,
        &[
            "crypto",
            "decrypt",
            "--ciphertext-blob",
            blob,
            "--encryption-context",
            "table=telemetry,topic=iot",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DisabledException"));
    let out = lakeseal(
        dir,
        &["crypto", "decrypt", "--ciphertext-blob", "not base64!"],
    );
    assert!(!out.status.success());

    let audit = lakeseal_json(
        dir,
        &["audit", "query", "--operation", "Decrypt", "--key", &key],
    );
    let results: Vec<&str> = audit["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["Success", "DisabledException"]);
    let verified = lakeseal_json(dir, &["audit", "verify"]);
    assert_eq!(verified["Valid"], true);
}

/// Builds a data directory with a few audit records and returns its audit log's lines.
fn audited_dir() -> (tempfile::TempDir, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kc");
    init(&dir);
    let key = lakeseal_json(&dir, &["key", "create"])["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..4 {
        lakeseal_json(
            &dir,
            &[
                "crypto",
                "generate-data-key",
                "--key-id",
                &key,
                "--key-spec",
                "AES_256",
            ],
        );
    }
    let log = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    (tmp, log.lines().map(str::to_owned).collect())
}

fn verify_with(tmp: &tempfile::TempDir, lines: &[String]) -> (bool, serde_json::Value) {
    let dir = tmp.path().join("kc");
    std::fs::write(dir.join("audit.log"), lines.join("\n") + "\n").unwrap();
    let out = lakeseal(&dir, &["audit", "verify"]);
    (
        out.status.success(),
        serde_json::from_slice(&out.stdout).unwrap(),
    )
}

#[test]
fn audit_verify_names_an_edited_record() {
    let (tmp, mut lines) = audited_dir();
    // init (user, policy, access key), create, four data keys.
    assert_eq!(lines.len(), 8);
    assert!(verify_with(&tmp, &lines).0);
    let i = lines
        .iter()
        .position(|l| l.contains("\"GenerateDataKey\""))
        .unwrap();
    let edited = lines[i].replace("GenerateDataKey", "GenerateRandom");
    assert_ne!(edited, lines[i]);
    lines[i] = edited;
    let (ok, report) = verify_with(&tmp, &lines);
    assert!(!ok);
    assert_eq!(report["Line"], i + 1);
    assert_eq!(report["Seq"], i + 1);
    assert!(
        report["Problem"].as_str().unwrap().contains("edited"),
        "{report}"
    );
}

#[test]
fn audit_verify_names_an_inserted_or_removed_record() {
    let (tmp, lines) = audited_dir();
    let mut inserted = lines.clone();
    inserted.insert(2, lines[1].clone());
    let (ok, report) = verify_with(&tmp, &inserted);
    assert!(!ok);
    assert_eq!(report["Line"], 3);

    let mut removed = lines.clone();
    removed.remove(1);
    let (ok, report) = verify_with(&tmp, &removed);
    assert!(!ok);
    assert_eq!(report["Line"], 2);
    assert_eq!(report["Seq"], 3);

    // Renumbering the records after a removal does not help: the chain breaks there.
    let mut renumbered = lines.clone();
    renumbered.remove(1);
    for (i, line) in renumbered.iter_mut().enumerate().skip(1) {
        *line = line.replacen(
            &format!("{{\"seq\":{}", i + 2),
            &format!("{{\"seq\":{}", i + 1),
            1,
        );
    }
    let (ok, report) = verify_with(&tmp, &renumbered);
    assert!(!ok);
    assert_eq!(report["Line"], 2);
}
