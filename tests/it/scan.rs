//! `lakeseal scan-config`: quiet on the configs and scripts the repository ships, loud on a
//! planted set (each rule at least once; the allowed forms never), and an access key id the
//! key core holds marked confirmed — by its data directory or, for its administrator, by the
//! running key core.

use std::path::Path;
use std::process::Command;

use lakeseal_keycore::{Principal, RequestContext};
use serde_json::Value;

use crate::stage::lakeseal;
use crate::support::RunningKeyCore;

/// The account of the key core the tests start.
const ACCOUNT: &str = "111122223333";

fn scan(args: &[&str]) -> (bool, Value) {
    let out = Command::new(lakeseal())
        .arg("scan-config")
        .args(args)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.success(), report)
}

/// A file leaking the access key id of `credentials` (a credentials file) on line 1 and an id
/// no key core holds on line 2.
fn leaked_env(dir: &Path, credentials: &Path) -> std::path::PathBuf {
    let credentials = std::fs::read_to_string(credentials).unwrap();
    let real_id = credentials
        .lines()
        .find_map(|l| l.strip_prefix("aws_access_key_id = "))
        .unwrap()
        .to_owned();
    let unknown = format!("AKIA{}", "Z7VQ3KX2MB4TQW5R");
    let file = dir.join("leaked.env");
    std::fs::write(&file, format!("A={real_id}\nB={unknown}\n")).unwrap();
    file
}

/// `Confirmed` of each finding of a report, in line order.
fn confirmations(stdout: &[u8]) -> Vec<bool> {
    let report: Value = serde_json::from_slice(stdout).unwrap();
    report["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["Confirmed"].as_bool().unwrap())
        .collect()
}

#[test]
fn the_shipped_configs_hold_no_credential() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shipped: Vec<String> = [
        "docker-compose.yml",
        "Dockerfile",
        "docker",
        "pipeline-examples",
        "scripts",
        ".ci/run",
    ]
    .iter()
    .map(|p| repo.join(p).display().to_string())
    .collect();
    let args: Vec<&str> = shipped.iter().map(String::as_str).collect();
    let (clean, report) = scan(&args);
    assert!(clean, "{report:#}");
    assert!(report["FilesScanned"].as_u64().unwrap() >= 15, "{report}");
}

#[test]
fn every_planted_credential_is_found_and_no_value_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    // Assembled at run time, so the repository itself holds none of them.
    let aws_id = format!("AKIA{}", "Z7VQ3KX2MB4TQW5R");
    let secret_key = format!("wJalrXUtnFEMI/K7MDENG/{}", "bPxRfiCYzQ9kd3LmTq");
    let password = format!("hunter2-{}", "prod-7781");
    write(
        "stage.toml",
        &format!(
            "[source.kafka]\n\"sasl.password\" = \"{password}\"\n\
             \"sasl.username\" = \"stage\"\n\"ssl.key.password\" = \"secret://kafka/key\"\n"
        ),
    );
    write(
        ".env",
        &format!(
            "AWS_ACCESS_KEY_ID={aws_id}\nAWS_SECRET_ACCESS_KEY={secret_key}\nTOKEN=${{TOKEN}}\n"
        ),
    );
    write(
        "app.yaml",
        &format!("db:\n  url: postgres://app:{password}@db/telemetry\n"),
    );
    write(
        "alibaba.json",
        &format!("{{\"AccessKeyId\": \"LTAI{}\"}}\n", "5tQ9wXbN3mKp7sRv"),
    );
    write(
        "deploy.sh",
        concat!(
            "#!/bin/sh\ncat > key.pem <<EOF\n-----BEGIN ",
            "PRIVATE KEY-----\nEOF\n"
        ),
    );
    write(
        "allowed.properties",
        &format!("password={password} # lakeseal:allow fixture\npassword.file=/run/secrets/p\n"),
    );
    write("data.bin", "password = not-scanned\0");

    let (clean, report) = scan(&[dir.path().to_str().unwrap()]);
    assert!(!clean);
    // `data.bin` is not a config file by name: a walk passes it by. Named, it is read and
    // skipped as binary.
    let (_, named) = scan(&[dir.path().join("data.bin").to_str().unwrap()]);
    let skipped = named["Skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{named}");
    assert!(
        skipped[0]
            .as_str()
            .unwrap()
            .ends_with("data.bin: binary (holds a NUL byte), not scanned"),
        "{named}"
    );
    let text = report.to_string();
    for value in [&aws_id, &secret_key, &password] {
        assert!(
            !text.contains(value.as_str()),
            "a value was printed: {text}"
        );
    }
    let mut found: Vec<(String, u64, String)> = report["Findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let file = f["File"].as_str().unwrap();
            let name = Path::new(file).file_name().unwrap().to_str().unwrap();
            (
                name.to_owned(),
                f["Line"].as_u64().unwrap(),
                f["Rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    let expected = [
        (".env", 1, "aws-access-key-id"),
        (".env", 2, "secret-key"),
        ("alibaba.json", 1, "alibaba-access-key-id"),
        ("app.yaml", 2, "url-with-password"),
        ("deploy.sh", 3, "private-key-block"),
        ("stage.toml", 2, "literal-password"),
    ];
    let expected: Vec<(String, u64, String)> = expected
        .iter()
        .map(|(f, l, r)| (f.to_string(), *l, r.to_string()))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn an_access_key_the_key_core_holds_is_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let init = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .args(["keycore", "init", "--region", "eu-west-1"])
        .output()
        .unwrap();
    assert!(init.status.success());
    let file = leaked_env(dir.path(), &data.join("admin-credentials"));
    let out = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .arg("scan-config")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(confirmations(&out.stdout), [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_key_core_confirms_access_keys_for_its_administrator_only() {
    let kc = RunningKeyCore::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = leaked_env(dir.path(), &kc.credentials);
    let scan_at = |credentials: &Path| {
        Command::new(lakeseal())
            .args(["scan-config", "--endpoint-url", &kc.endpoint])
            .arg(&file)
            .env("AWS_SHARED_CREDENTIALS_FILE", credentials)
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap()
    };

    let out = scan_at(&kc.credentials);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(confirmations(&out.stdout), [true, false]);

    // A user without iam:GetAccessKeyLastUsed learns nothing about which keys exist.
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("scan-test");
    kc.core.create_user(&root, &ctx, "reader").await.unwrap();
    let key = kc
        .core
        .create_access_key(&root, &ctx, "reader")
        .await
        .unwrap();
    let theirs = dir.path().join("reader-credentials");
    std::fs::write(
        &theirs,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            key.access_key_id,
            std::str::from_utf8(key.secret_access_key.expose_secret()).unwrap()
        ),
    )
    .unwrap();
    let out = scan_at(&theirs);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("AccessDenied"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "no partial report on a refused confirmation"
    );
}
