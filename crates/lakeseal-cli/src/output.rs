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
        let text = match self {
            Output::Json => serde_json::to_string_pretty(&value)? + "\n",
            Output::Text => {
                let mut lines = Vec::new();
                flatten("", &value, &mut lines);
                lines.into_iter().map(|l| l + "\n").collect()
            }
        };
        match io::stdout().lock().write_all(text.as_bytes()) {
            // A reader that stopped early (`| head`) is not an error.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => Ok(other?),
        }
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
        Value::String(s) => out.push(format!("{path}\t{s}")),
        Value::Null => {}
        other => out.push(format!("{path}\t{other}")),
    }
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
}
