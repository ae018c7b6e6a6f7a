//! `lakeseal scan-config FILE|DIR...`: likely plaintext credentials in config and script files,
//! named by file, line and rule — never the value. Exits 1 when anything is found.
//!
//! A directory is walked for configuration and script files (by name: `*.toml`, `*.yaml`,
//! `*.json`, `.env*`, `*.properties`, `*.sh`, `*.py`, `Dockerfile` …), skipping `.git`,
//! `target`, virtual environments and caches; a file named on the command line is scanned
//! whatever its name. An AWS-style access key id found is marked `Confirmed` when the key core
//! holds that key: the one whose `--data-dir` is given, or the one serving at `--endpoint-url`
//! (asked with IAM's `GetAccessKeyLastUsed`, signed with `--profile`'s access key).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use lakeseal_keyclient::Remote;
use lakeseal_keycore::{KeyCore, Options};
use serde::Serialize;

use crate::output::Output;

/// Directories never walked into.
const SKIP_DIRS: &[&str] = &[
    ".git",
    "target",
    "node_modules",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    "corpus",
    "artifacts",
];

/// File-name endings of configuration and script files.
const CONFIG_SUFFIXES: &[&str] = &[
    ".toml",
    ".yaml",
    ".yml",
    ".json",
    ".properties",
    ".conf",
    ".cfg",
    ".ini",
    ".env",
    ".sh",
    ".bash",
    ".zsh",
    ".py",
    ".ps1",
    ".tf",
    ".tfvars",
];

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Report {
    findings: Vec<Found>,
    files_scanned: usize,
    /// Files named but not scanned (binary, too large), with why.
    skipped: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Found {
    file: String,
    line: usize,
    rule: &'static str,
    /// For an access key id, with `--data-dir`: whether the key core holds that key.
    #[serde(skip_serializing_if = "Option::is_none")]
    confirmed: Option<bool>,
}

fn is_config(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    CONFIG_SUFFIXES.iter().any(|s| lower.ends_with(s))
        || lower.starts_with(".env")
        || lower.starts_with("dockerfile")
        || lower.starts_with("docker-compose")
        || lower == "credentials"
        || lower == "config"
}

fn walk(path: &Path, named: bool, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        let skip = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| SKIP_DIRS.contains(&n));
        if skip && !named {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot list {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            walk(&entry, false, files)?;
        }
    } else if meta.is_file() && (named || is_config(path)) {
        files.push(path.to_owned());
    }
    Ok(())
}

/// Where to ask whether an access key id is one the key core holds.
pub(crate) enum Confirm<'a> {
    /// Nowhere: ids are reported, not confirmed.
    No,
    /// The key core in this data directory (which no running key core may hold).
    DataDir(&'a Path),
    /// The key core serving at this URL (its certificate verified against `ca_file`, else
    /// the system's roots), asked as the profile's user.
    Endpoint {
        url: &'a str,
        profile: &'a str,
        ca_file: Option<&'a Path>,
    },
}

enum Confirmer {
    Local(KeyCore),
    Remote(Box<Remote>),
}

impl Confirmer {
    fn open(confirm: Confirm<'_>) -> anyhow::Result<Option<Confirmer>> {
        Ok(match confirm {
            Confirm::No => None,
            Confirm::DataDir(dir) => Some(Confirmer::Local(
                KeyCore::open(dir, Options::default()).with_context(|| {
                    format!(
                        "cannot open the key core in {} to confirm access keys (a running key \
                         core holds it: use --endpoint-url)",
                        dir.display()
                    )
                })?,
            )),
            Confirm::Endpoint {
                url,
                profile,
                ca_file,
            } => Some(Confirmer::Remote(Box::new(crate::iam_remote::connect(
                url, profile, ca_file,
            )?))),
        })
    }

    /// Whether the key core holds the access key `id`.
    async fn holds(&self, id: &str) -> anyhow::Result<bool> {
        match self {
            Confirmer::Local(core) => Ok(core.knows_access_key(id)),
            Confirmer::Remote(remote) => match remote
                .query(
                    ("iam", crate::iam_remote::IAM_REGION),
                    "GetAccessKeyLastUsed",
                    &[("AccessKeyId", id)],
                )
                .await
            {
                Ok(_) => Ok(true),
                Err(lakeseal_keyclient::Error::Refused { code, .. }) if code == "NoSuchEntity" => {
                    Ok(false)
                }
                Err(e) => Err(crate::iam_remote::refusal(e).context("cannot confirm access keys")),
            },
        }
    }
}

pub(crate) async fn scan_config(
    paths: &[PathBuf],
    confirm: Confirm<'_>,
    out: Output,
) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for path in paths {
        walk(path, true, &mut files)?;
    }
    let confirmer = Confirmer::open(confirm)?;
    let mut report = Report {
        findings: Vec::new(),
        files_scanned: 0,
        skipped: Vec::new(),
    };
    for file in &files {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
        match lakeseal_scan::scan(&bytes) {
            Ok(findings) => {
                report.files_scanned += 1;
                for f in findings {
                    let confirmed = match (&confirmer, &f.access_key_id) {
                        (Some(confirmer), Some(id)) => Some(confirmer.holds(id).await?),
                        _ => None,
                    };
                    report.findings.push(Found {
                        file: file.display().to_string(),
                        line: f.line,
                        rule: f.rule.name(),
                        confirmed,
                    });
                }
            }
            Err(why) => report.skipped.push(format!("{}: {why}", file.display())),
        }
    }
    match out {
        Output::Json => out.print(&report)?,
        Output::Text => {
            for f in &report.findings {
                let confirmed = match f.confirmed {
                    Some(true) => " (confirmed: the key core holds this key)",
                    _ => "",
                };
                println!(
                    "{}:{}: {}{confirmed}",
                    crate::output::escape_controls(&f.file),
                    f.line,
                    f.rule
                );
            }
            eprintln!(
                "{} finding(s) in {} file(s) scanned",
                report.findings.len(),
                report.files_scanned
            );
        }
    }
    Ok(if report.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
