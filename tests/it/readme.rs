//! The README's key-core walkthrough, run as written and in order: its shell blocks, with the
//! release binary swapped for this build's, the data directory for a temporary one and port 7070
//! for a free one.

use std::path::Path;
use std::process::Command;

/// The `sh` blocks of the README section that starts with `heading`, in order.
fn shell_blocks(readme: &str, heading: &str) -> Vec<String> {
    let start = readme.find(heading).expect("the walkthrough's section");
    let section = &readme[start + heading.len()..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .split("```sh\n")
        .skip(1)
        .map(|rest| rest[..rest.find("```").expect("a closed block")].to_owned())
        .collect()
}

#[test]
fn the_key_core_walkthrough_runs_as_written() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let blocks = shell_blocks(&readme, "## What the key core does now");
    assert_eq!(blocks.len(), 2, "the offline part and the served part");
    let script = blocks.join("\n");
    assert!(script.contains("lakeseal keycore serve"), "{script}");

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("keycore");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The build step is this test's own; everything after it runs verbatim but for the data
    // directory and the port.
    let script = script
        .lines()
        .filter(|l| !l.starts_with("cargo build"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("/var/lib/lakeseal/keycore", data.to_str().unwrap())
        .replace("7070", &port.to_string());
    // Run from a copy of the repository root's layout: the examples it reads, nothing it writes.
    std::os::unix::fs::symlink(
        repo.join("pipeline-examples"),
        tmp.path().join("pipeline-examples"),
    )
    .unwrap();
    let binaries = crate::stage::lakeseal().parent().unwrap().to_owned();
    let python = crate::support::venv().join("bin");
    let path = format!(
        "{}:{}:{}",
        binaries.display(),
        python.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(tmp.path())
        .env("PATH", path)
        .env_remove("LAKESEAL_DATA_DIR")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the walkthrough failed:\n{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(tmp.path().join("keycore.log")).unwrap_or_default()
    );
    // boto3 listed the key made offline, through the server; the trail verified.
    assert!(stdout.contains("'Keys': [{'KeyId':"), "{stdout}");
    assert!(stdout.contains("\"Valid\": true"), "{stdout}");
    assert!(stdout.contains("\"CiphertextBlob\""), "{stdout}");
}
