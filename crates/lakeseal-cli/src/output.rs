//! Printing results as JSON or as text.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

/// The `--output` formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// Pretty JSON with the AWS member names.
    Json,
    /// One `Path<TAB>value` line per scalar, e.g. `KeyMetadata.KeyId<TAB>…`.
    Text,
}

impl Output {
    pub(crate) fn print<T: Serialize>(self, value: &T) -> anyhow::Result<()> {
        let value = serde_json::to_value(value)?;
        write(&self.render(&value)?)
    }

    /// Prints a response that holds a secret value (`GetSecretValue`), wiping every copy made
    /// on the way to standard output.
    pub(crate) fn print_secret<T: Serialize>(self, value: &T) -> anyhow::Result<()> {
        let mut tree = serde_json::to_value(value)?;
        let text = self.render(&tree).map(zeroize::Zeroizing::new);
        wipe(&mut tree);
        write(&text?)
    }

    fn render(self, value: &Value) -> anyhow::Result<String> {
        Ok(match self {
            Output::Json => serde_json::to_string_pretty(&value)? + "\n",
            Output::Text => {
                let mut lines = Vec::new();
                flatten("", value, &mut lines);
                let text = lines.iter().map(|l| format!("{l}\n")).collect();
                lines.iter_mut().for_each(zeroize::Zeroize::zeroize);
                text
            }
        })
    }
}

fn write(text: &str) -> anyhow::Result<()> {
    match io::stdout().lock().write_all(text.as_bytes()) {
        // A reader that stopped early (`| head`) is not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn wipe(value: &mut Value) {
    match value {
        Value::String(s) => zeroize::Zeroize::zeroize(s),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

fn flatten(path: &str, value: &Value, out: &mut Vec<String>) {
    let join = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), v, out);
            }
        }
        Value::String(s) => out.push(format!("{}\t{}", escape_controls(path), escape_controls(s))),
        Value::Null => {}
        other => out.push(format!("{}\t{other}", escape_controls(path))),
    }
}

/// Control characters as escapes (`\t`, `\n`, `\r`, `\u{1b}` …) and `\` as `\\`: a value a
/// caller chose (a description, an alias, an audited message) can then neither start a line nor
/// a column of its own in `--output text`, nor drive the terminal.
pub(crate) fn escape_controls(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() || c == '\\') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_flattens_paths() {
        let mut out = Vec::new();
        let v = serde_json::json!({"KeyMetadata": {"KeyId": "k", "Enabled": true}, "Tags": [{"TagKey": "a"}]});
        flatten("", &v, &mut out);
        assert_eq!(
            out,
            [
                "KeyMetadata.Enabled\ttrue",
                "KeyMetadata.KeyId\tk",
                "Tags.0.TagKey\ta"
            ]
        );
    }

    #[test]
    fn text_cannot_be_forged_by_values() {
        let mut out = Vec::new();
        let v = serde_json::json!({
            "KeyMetadata": {
                "Description": "x\nKeyMetadata.KeyState\tDisabled",
                "Key\tId": "a\\tb\u{1b}[2J\r",
            }
        });
        flatten("", &v, &mut out);
        assert_eq!(
            out,
            [
                "KeyMetadata.Description\tx\\nKeyMetadata.KeyState\\tDisabled",
                "KeyMetadata.Key\\tId\ta\\\\tb\\u{1b}[2J\\r",
            ]
        );
        assert!(out.iter().all(|l| l.matches('\t').count() == 1));
    }
}
