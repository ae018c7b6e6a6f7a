//! `docker-compose.yml` without a Docker engine: its lakeseal commands are real subcommands with
//! real flags, its mounted files exist, its `stage.toml` is valid, and its key-core set-up script
//! runs (with its paths pointed into a temporary directory) and gives the stage least privilege:
//! a role and a workload identity's token, no access key.

use std::path::Path;
use std::process::Command;

use lakeseal_stage::config::StageConfig;

use crate::stage::lakeseal;
use crate::support::RunningKeyCore;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_commands_files_and_set_up_are_real() {
    // Only for its venv runner; the key core itself is not used.
    let kc = RunningKeyCore::start().await;
    let out = kc
        .python(
            "compose_check.py",
            &[
                ("REPO", repo().to_str().unwrap()),
                ("LAKESEAL", lakeseal().to_str().unwrap()),
            ],
        )
        .await;
    assert!(out.contains("stage: lakeseal stage run"), "{out}");
    assert!(out.contains("keycore: lakeseal keycore serve"), "{out}");
    assert!(out.contains("simulator: lakeseal simulate"), "{out}");

    let stage = std::fs::read_to_string(repo().join("docker/stage.toml")).unwrap();
    StageConfig::from_toml(&stage).unwrap();

    // The set-up script, its container paths moved into a temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let policies = repo().join("pipeline-examples/policies");
    let script = std::fs::read_to_string(repo().join("docker/keycore-init.sh"))
        .unwrap()
        // First, so that the temporary paths put in below are not moved again.
        .replace("/tmp/", &format!("{}/", tmp.path().display()))
        .replace("/data", data.to_str().unwrap())
        .replace("/stage-token", tmp.path().join("token").to_str().unwrap())
        .replace("/policies", policies.to_str().unwrap());
    std::fs::create_dir(&data).unwrap();
    std::fs::create_dir(tmp.path().join("token")).unwrap();
    let bin = lakeseal();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .status()
        .unwrap();
    assert!(status.success(), "keycore-init.sh failed");
    // The stage's one credential is a workload identity's token, 0600, on a volume of its own.
    use std::os::unix::fs::PermissionsExt;
    let token = tmp.path().join("token/stage.token");
    assert!(std::fs::read(&token).unwrap().len() >= 43);
    assert_eq!(
        std::fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let iam = |args: &[&str]| {
        let out = Command::new(&bin)
            .arg("--data-dir")
            .arg(data.join("keycore"))
            .arg("iam")
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Beside it, the public certificate of the key core's private CA, which the stage verifies
    // both of the key core's listeners with.
    let ca = std::fs::read_to_string(tmp.path().join("token/ca.pem")).unwrap();
    assert!(ca.contains("BEGIN CERTIFICATE") && !ca.contains("PRIVATE KEY"));
    assert!(iam(&["list"]).contains("role/stage"));
    assert!(iam(&["list-workload-identities"]).contains("workload-identity/stage"));
    assert!(
        !std::fs::read_to_string(repo().join("docker-compose.yml"))
            .unwrap()
            .contains("keycore:/data:ro"),
        "the stage mounts the key core's volume"
    );
}
