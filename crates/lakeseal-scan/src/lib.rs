//! Finds likely plaintext credentials in configuration and script files: access key ids, secret
//! keys beside a key-ish name, private-key blocks, URLs with a password, and password-, secret-
//! or token-like keys with a literal value, in TOML, YAML, JSON, `.env`, properties and shell.
//!
//! A [`Finding`] names the rule and the line, never the value. Accepted, not reported:
//! `secret://…` references (and the stage's `env:NAME`, `file:///path`), `${VAR}`, `$VAR` and
//! `{{ … }}` placeholders, empty values, and any line carrying a `lakeseal:allow` comment.
//!
//! Line by line and pure, so each rule is tested on its own and any bytes can be scanned.

mod rules;

pub use rules::Rule;

/// Files larger than this are skipped (data, not configuration).
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// One likely credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line number.
    pub line: usize,
    /// What it looks like.
    pub rule: Rule,
    /// For access key ids only: the id, which identifies a key without opening it — so that
    /// the caller can check whether the key core knows it. Never a secret.
    pub access_key_id: Option<String>,
}

/// Why a file was not scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// It holds a NUL byte: not text.
    Binary,
    /// Over [`MAX_FILE_BYTES`].
    TooLarge,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skipped::Binary => "binary (holds a NUL byte), not scanned",
            Skipped::TooLarge => "over 1 MiB, not scanned",
        })
    }
}

/// The likely credentials in one file's bytes.
pub fn scan(bytes: &[u8]) -> Result<Vec<Finding>, Skipped> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(Skipped::TooLarge);
    }
    if bytes.contains(&0) {
        return Err(Skipped::Binary);
    }
    let text = String::from_utf8_lossy(bytes);
    let rules = rules::Rules::get();
    let mut findings = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.contains("lakeseal:allow") {
            continue;
        }
        for (rule, access_key_id) in rules.check(line) {
            findings.push(Finding {
                line: i + 1,
                rule,
                access_key_id,
            });
        }
    }
    Ok(findings)
}

/// Shannon entropy of `text`, in bits per character.
pub fn entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut n = 0usize;
    for c in text.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&k| {
            let p = k as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}
