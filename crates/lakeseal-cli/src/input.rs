//! Values given on the command line the way the `aws` CLI takes them: inline, `file://PATH`
//! (text), `fileb://PATH` (raw bytes), or `-` (standard input).
//!
//! Parsing an argument never fails inside clap, whose error would quote the value: a plaintext
//! typed inline, wrong, must not come back on the terminal or in a CI log. The value is resolved
//! after parsing, and its errors name the flag, never the value.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_envelope::SecretBytes;

/// Where a value comes from.
#[derive(Debug)]
pub(crate) enum Source {
    /// The argument itself; its bytes are wiped on drop.
    Inline(SecretBytes),
    /// `file://PATH`: the file's text.
    File(PathBuf),
    /// `fileb://PATH`: the file's bytes, as they are.
    FileBytes(PathBuf),
    /// `-`: standard input.
    Stdin,
}

impl Clone for Source {
    fn clone(&self) -> Self {
        match self {
            // clap clones parsed values once while assembling the arguments.
            Source::Inline(bytes) => {
                Source::Inline(SecretBytes::from(bytes.expose_secret().to_vec()))
            }
            Source::File(p) => Source::File(p.clone()),
            Source::FileBytes(p) => Source::FileBytes(p.clone()),
            Source::Stdin => Source::Stdin,
        }
    }
}

/// clap's parser for every such flag: it cannot fail, so it never echoes the value.
pub(crate) fn source(text: &str) -> Result<Source, std::convert::Infallible> {
    Ok(if text == "-" {
        Source::Stdin
    } else if let Some(path) = text.strip_prefix("fileb://") {
        Source::FileBytes(PathBuf::from(path))
    } else if let Some(path) = text.strip_prefix("file://") {
        Source::File(PathBuf::from(path))
    } else {
        Source::Inline(SecretBytes::from(text.as_bytes().to_vec()))
    })
}

impl Source {
    /// Binary data (a plaintext, a ciphertext blob): base64 when inline or `file://` (line
    /// breaks and spaces allowed, as `base64` writes them), raw bytes from `fileb://` or `-`.
    pub(crate) fn bytes(&self, flag: &str) -> anyhow::Result<SecretBytes> {
        match self {
            Source::Inline(text) => decode_b64(text.expose_secret(), flag),
            Source::File(path) => decode_b64(read(path, flag)?.expose_secret(), flag),
            Source::FileBytes(path) => read(path, flag),
            Source::Stdin => stdin(flag),
        }
    }

    /// A secret value, as given: `file://` or `fileb://` (the file's bytes) or `-`. Never
    /// inline: an argument is visible to every process (`ps`) and stays in shell history.
    pub(crate) fn secret(&self, flag: &str) -> anyhow::Result<SecretBytes> {
        match self {
            Source::Inline(_) => bail!(
                "{flag} takes file://PATH, fileb://PATH or - (standard input), never the value \
                 itself: arguments are visible to every process and kept in shell history"
            ),
            Source::File(path) | Source::FileBytes(path) => read(path, flag),
            Source::Stdin => stdin(flag),
        }
    }

    /// A text document (a policy): inline, `file://`, `fileb://` or `-`, as UTF-8.
    pub(crate) fn text(&self, flag: &str) -> anyhow::Result<String> {
        let bytes = match self {
            Source::Inline(text) => return utf8(text.expose_secret().to_vec(), flag),
            Source::File(path) | Source::FileBytes(path) => read(path, flag)?,
            Source::Stdin => stdin(flag)?,
        };
        utf8(bytes.expose_secret().to_vec(), flag)
    }
}

fn utf8(bytes: Vec<u8>, flag: &str) -> anyhow::Result<String> {
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{flag}: the document is not UTF-8"))
}

fn read(path: &std::path::Path, flag: &str) -> anyhow::Result<SecretBytes> {
    let bytes =
        std::fs::read(path).with_context(|| format!("{flag}: cannot read {}", path.display()))?;
    Ok(SecretBytes::from(bytes))
}

fn stdin(flag: &str) -> anyhow::Result<SecretBytes> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .with_context(|| format!("{flag}: cannot read standard input"))?;
    Ok(SecretBytes::from(bytes))
}

/// Standard base64; ASCII whitespace anywhere is skipped. The error says what is wrong, not
/// what was given.
fn decode_b64(text: &[u8], flag: &str) -> anyhow::Result<SecretBytes> {
    // Wiped on drop: the compact copy holds the secret in base64.
    let compact = SecretBytes::from(
        text.iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect::<Vec<u8>>(),
    );
    match STANDARD.decode(compact.expose_secret()) {
        Ok(bytes) => Ok(SecretBytes::from(bytes)),
        Err(_) => bail!(
            "{flag} is not valid base64 (the value is not shown); pass fileb://PATH for a file's \
             raw bytes, or - for standard input"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_base64_decodes_and_bad_base64_is_not_echoed() {
        let secret =
            "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZ2VyLXRoYW4tZmlmdHktc2V2ZW4tYnl0ZXMtaW4tYmFzZTY0";
        let wrapped = format!("{}\n{}\n", &secret[..40], &secret[40..]);
        let Ok(Source::Inline(_)) = source(&wrapped) else {
            panic!("inline")
        };
        let got = source(&wrapped).unwrap().bytes("--plaintext").unwrap();
        assert_eq!(got.expose_secret(), STANDARD.decode(secret).unwrap());

        let bad = "not base64 but a secret: hunter2!";
        let e = source(bad)
            .unwrap()
            .bytes("--plaintext")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--plaintext"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn files_as_text_or_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [0u8, 159, 146, 150]).unwrap();
        let arg = format!("fileb://{}", raw.display());
        assert_eq!(
            source(&arg)
                .unwrap()
                .bytes("--plaintext")
                .unwrap()
                .expose_secret(),
            [0u8, 159, 146, 150]
        );
        let b64 = dir.path().join("b64");
        std::fs::write(&b64, "AJ+S\nlg==\n").unwrap();
        let arg = format!("file://{}", b64.display());
        assert_eq!(
            source(&arg)
                .unwrap()
                .bytes("--plaintext")
                .unwrap()
                .expose_secret(),
            [0u8, 159, 146, 150]
        );
        let e = source("fileb:///no/such/file")
            .unwrap()
            .bytes("--ciphertext-blob")
            .unwrap_err();
        assert!(format!("{e:#}").contains("/no/such/file"), "{e:#}");
    }
}
