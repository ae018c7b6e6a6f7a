//! `lakeseal secret …` through a running key core (`--endpoint-url`) and offline in a data
//! directory: values go in from files or standard input only, come out only from `get`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::stage::lakeseal;
use crate::support::{REGION, RunningKeyCore};

fn run(kc: &RunningKeyCore, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(lakeseal())
        .arg("secret")
        .args(["--endpoint-url", &kc.endpoint, "--region", REGION])
        .args(args)
        .env("AWS_SHARED_CREDENTIALS_FILE", &kc.credentials)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(kc: &RunningKeyCore, args: &[&str], stdin: Option<&str>) -> Value {
    let out = run(kc, args, stdin);
    assert!(
        out.status.success(),
        "lakeseal secret {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn refused(kc: &RunningKeyCore, args: &[&str]) -> String {
    let out = run(kc, args, None);
    assert!(
        !out.status.success(),
        "lakeseal secret {args:?} should fail"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_commands_speak_the_aws_flags_and_print_values_only_from_get() {
    let kc = RunningKeyCore::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("value");
    std::fs::write(&file, "first-value-from-a-file").unwrap();
    let from_file = format!("file://{}", file.display());

    let made = ok(
        &kc,
        &[
            "create",
            "--name",
            "cli/token",
            "--secret-string",
            &from_file,
            "--tags",
            "Key=team,Value=iot",
        ],
        None,
    );
    assert!(made["ARN"].as_str().unwrap().contains(":secret:cli/token-"));
    assert!(!made.to_string().contains("first-value"));

    // A value in the arguments is refused, and not echoed.
    let e = refused(
        &kc,
        &[
            "put",
            "--secret-id",
            "cli/token",
            "--secret-string",
            "hunter2-inline",
        ],
    );
    assert!(
        e.contains("--secret-string") && !e.contains("hunter2"),
        "{e}"
    );

    let got = ok(&kc, &["get", "--secret-id", "cli/token"], None);
    assert_eq!(got["SecretString"], "first-value-from-a-file");
    ok(
        &kc,
        &["put", "--secret-id", "cli/token", "--secret-string", "-"],
        Some("second-from-stdin"),
    );
    assert_eq!(
        ok(&kc, &["get", "--secret-id", "cli/token"], None)["SecretString"],
        "second-from-stdin"
    );
    let previous = ok(
        &kc,
        &[
            "get",
            "--secret-id",
            "cli/token",
            "--version-stage",
            "AWSPREVIOUS",
        ],
        None,
    );
    assert_eq!(previous["SecretString"], "first-value-from-a-file");

    // Rotation with the built-in random-token rotator, then cancelled.
    let rotator = format!("arn:aws:lakeseal:{REGION}:111122223333:rotator/random-token");
    let rotated = ok(
        &kc,
        &[
            "rotate",
            "--secret-id",
            "cli/token",
            "--rotation-lambda-arn",
            &rotator,
            "--rotation-rules",
            r#"{"AutomaticallyAfterDays":7}"#,
        ],
        None,
    );
    let version = rotated["VersionId"].as_str().unwrap().to_owned();
    let current = ok(&kc, &["get", "--secret-id", "cli/token"], None);
    assert_eq!(current["VersionId"], version);
    let token = current["SecretString"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 32);
    let described = ok(&kc, &["describe", "--secret-id", "cli/token"], None);
    assert_eq!(described["RotationEnabled"], true);
    assert_eq!(described["RotationRules"]["AutomaticallyAfterDays"], 7);
    let text = described.to_string();
    assert!(
        !text.contains(&token) && !text.contains("second-from-stdin"),
        "{text}"
    );
    let cancelled = ok(&kc, &["cancel-rotation", "--secret-id", "cli/token"], None);
    assert_eq!(cancelled["Name"], "cli/token");
    assert_eq!(
        ok(&kc, &["describe", "--secret-id", "cli/token"], None)["RotationEnabled"],
        false
    );

    // Labels by hand: AWSCURRENT back to the version before the rotation.
    let versions = described["VersionIdsToStages"].as_object().unwrap();
    let previous_id = versions
        .iter()
        .find(|(_, stages)| {
            stages
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s == "AWSPREVIOUS")
        })
        .map(|(id, _)| id.clone())
        .unwrap();
    ok(
        &kc,
        &[
            "update-stage",
            "--secret-id",
            "cli/token",
            "--version-stage",
            "AWSCURRENT",
            "--move-to-version-id",
            &previous_id,
            "--remove-from-version-id",
            &version,
        ],
        None,
    );
    assert_eq!(
        ok(&kc, &["get", "--secret-id", "cli/token"], None)["SecretString"],
        "second-from-stdin"
    );

    let listed = ok(&kc, &["list"], None);
    assert!(
        listed["SecretList"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Name"] == "cli/token")
    );
    assert!(!listed.to_string().contains("second-from-stdin"));

    // Deletion with a window, restore, then for good.
    let deleted = ok(
        &kc,
        &[
            "delete",
            "--secret-id",
            "cli/token",
            "--recovery-window-in-days",
            "7",
        ],
        None,
    );
    assert!(deleted["DeletionDate"].is_number() || deleted["DeletionDate"].is_string());
    assert!(refused(&kc, &["get", "--secret-id", "cli/token"]).contains("InvalidRequestException"));
    ok(&kc, &["restore", "--secret-id", "cli/token"], None);
    ok(&kc, &["get", "--secret-id", "cli/token"], None);
    ok(
        &kc,
        &[
            "delete",
            "--secret-id",
            "cli/token",
            "--force-delete-without-recovery",
        ],
        None,
    );
    assert!(
        refused(&kc, &["get", "--secret-id", "cli/token"]).contains("ResourceNotFoundException")
    );
    assert!(refused(&kc, &["create", "--name", "bad name!"]).contains("InvalidParameterException"));
}

#[test]
fn the_secret_commands_work_offline_in_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let offline = |args: &[&str]| {
        Command::new(lakeseal())
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert!(
        offline(&["keycore", "init", "--region", REGION])
            .status
            .success()
    );
    let file = dir.path().join("value");
    std::fs::write(&file, [0u8, 1, 2, 255]).unwrap();
    let made = offline(&[
        "secret",
        "create",
        "--name",
        "offline",
        "--secret-binary",
        &format!("fileb://{}", file.display()),
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let got = offline(&["secret", "get", "--secret-id", "offline"]);
    let got: Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(got["SecretBinary"], "AAEC/w==");
}
