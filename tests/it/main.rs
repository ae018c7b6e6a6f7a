//! Cross-crate integration tests against real processes: one test binary, a module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod cli;
mod crash;
mod secrets;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A binary of this workspace, built by `cargo test --workspace` next to this test binary.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so that it is built",
        bin.display()
    );
    bin
}

/// Runs `lakeseal --data-dir DIR ARGS...`.
pub fn lakeseal(dir: &Path, args: &[&str]) -> Output {
    Command::new(workspace_bin("lakeseal"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Runs `lakeseal` and parses its JSON output; panics with stderr if it failed.
pub fn lakeseal_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = lakeseal(dir, args);
    assert!(
        out.status.success(),
        "lakeseal {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
