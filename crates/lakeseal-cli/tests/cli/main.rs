//! The `lakeseal` binary from the outside: one test binary, a module per concern.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

mod careless;
mod commands;
mod logs;
mod serve;

use std::path::Path;
use std::process::{Command, Output};

/// Runs `lakeseal --data-dir DIR ARGS...`.
pub fn lakeseal(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lakeseal"))
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
