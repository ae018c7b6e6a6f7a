//! The rules, each a pattern over one line, compiled once.

use std::sync::OnceLock;

use regex::Regex;

/// What a finding looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// `AKIA`/`ASIA` and 16 characters: an AWS-style access key id.
    AwsAccessKeyId,
    /// `LTAI` and 12–20 characters: an Alibaba Cloud AccessKey id.
    AlibabaAccessKeyId,
    /// A long, random-looking value under a secret-key-ish name (`aws_secret_access_key`,
    /// `AccessKeySecret`, `client_secret` …): entropy at least [`SECRET_KEY_MIN_ENTROPY`].
    SecretKey,
    /// `-----BEGIN … PRIVATE KEY-----`.
    PrivateKeyBlock,
    /// `scheme://user:password@host`.
    UrlWithPassword,
    /// A password-, secret- or token-like key (`password`, `sasl.password`, `api_key`,
    /// `--token` …) with a literal value.
    LiteralPassword,
}

impl Rule {
    /// The rule's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::AwsAccessKeyId => "aws-access-key-id",
            Rule::AlibabaAccessKeyId => "alibaba-access-key-id",
            Rule::SecretKey => "secret-key",
            Rule::PrivateKeyBlock => "private-key-block",
            Rule::UrlWithPassword => "url-with-password",
            Rule::LiteralPassword => "literal-password",
        }
    }
}

/// A secret key's value: at least this many characters …
const SECRET_KEY_MIN_LENGTH: usize = 20;
/// … and at least this many bits of entropy per character (random base64 has about 5.5; a word
/// or a repeated placeholder has under 3).
const SECRET_KEY_MIN_ENTROPY: f64 = 3.5;
/// A literal password: at least this many characters, and …
const PASSWORD_MIN_LENGTH: usize = 4;
/// … at least this much entropy, which lets `xxxx` and `****` placeholders through.
const PASSWORD_MIN_ENTROPY: f64 = 1.5;

/// Name endings (lower case, separators removed) that make a key secret-ish; a name ending in
/// anything else (`token_file`, `key_id`, `password_env`) names where a secret is, not one.
const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "secretkey",
    "privatekey",
    "accesskey",
    "authkey",
    "credential",
    "credentials",
];

/// The ones among them under which a long random value is a secret key.
const SECRET_KEY_NAMES: &[&str] = &[
    "secret",
    "secretkey",
    "secretaccesskey",
    "accesskeysecret",
    "apikey",
    "privatekey",
    "accesskey",
    "authkey",
    "token",
];

pub(crate) struct Rules {
    aws: Regex,
    alibaba: Regex,
    private_key: Regex,
    url: Regex,
    /// `name = value`, `name: value`, `export NAME=value`, `"name": value` at the start of a line.
    assignment: Regex,
    /// `name="value"` or `"name": "value"` anywhere in a line (JSON, JAAS, inline tables).
    quoted_pair: Regex,
    /// `--password value`, `--token=value` on a command line.
    flag: Regex,
}

impl Rules {
    pub(crate) fn get() -> &'static Rules {
        static RULES: OnceLock<Rules> = OnceLock::new();
        RULES.get_or_init(|| {
            let compile = |pattern: &str| match Regex::new(pattern) {
                Ok(regex) => regex,
                // The patterns are constants, tested below.
                Err(e) => unreachable!("bad built-in pattern {pattern}: {e}"),
            };
            Rules {
                aws: compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
                alibaba: compile(r"\bLTAI[A-Za-z0-9]{12,20}\b"),
                private_key: compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----"),
                url: compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^/\s:@]+:([^/\s@]+)@"),
                assignment: compile(
                    r#"^\s*(?:export\s+)?["']?([A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*(?::=|=|:)\s*(.*)$"#,
                ),
                quoted_pair: compile(
                    r#"["']?([A-Za-z_][A-Za-z0-9_.\-]*)["']?\s*[:=]\s*(?:"([^"]*)"|'([^']*)')"#,
                ),
                flag: compile(r"--([A-Za-z0-9\-]+)(?:=|\s+)([^\s-][^\s]*)"),
            }
        })
    }

    /// The rules a line breaks, each once, with the access key id when the rule is one.
    pub(crate) fn check(&self, line: &str) -> Vec<(Rule, Option<String>)> {
        let mut found: Vec<(Rule, Option<String>)> = Vec::new();
        for m in self.aws.find_iter(line) {
            if !m.as_str().ends_with("EXAMPLE") {
                found.push((Rule::AwsAccessKeyId, Some(m.as_str().to_owned())));
            }
        }
        if self.alibaba.is_match(line) {
            found.push((Rule::AlibabaAccessKeyId, None));
        }
        if self.private_key.is_match(line) {
            found.push((Rule::PrivateKeyBlock, None));
        }
        if self
            .url
            .captures_iter(line)
            .any(|c| c.get(1).is_some_and(|p| is_literal(p.as_str())))
        {
            found.push((Rule::UrlWithPassword, None));
        }
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(c) = self.assignment.captures(line)
            && let (Some(name), Some(value)) = (c.get(1), c.get(2))
            && let Some(value) = unquote(value.as_str())
        {
            pairs.push((name.as_str(), value));
        }
        for c in self.quoted_pair.captures_iter(line) {
            if let Some(name) = c.get(1) {
                let value = c.get(2).or_else(|| c.get(3)).map_or("", |v| v.as_str());
                pairs.push((name.as_str(), value.to_owned()));
            }
        }
        for c in self.flag.captures_iter(line) {
            if let (Some(name), Some(value)) = (c.get(1), c.get(2))
                && let Some(value) = unquote(value.as_str())
            {
                pairs.push((name.as_str(), value));
            }
        }
        for (name, value) in pairs {
            if let Some(rule) = judge(name, &value) {
                found.push((rule, None));
            }
        }
        found.sort();
        found.dedup();
        found
    }
}

/// What a `name = value` pair is, if it looks like a credential.
fn judge(name: &str, value: &str) -> Option<Rule> {
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if !SECRET_NAMES.iter().any(|s| name.ends_with(s)) || !is_literal(value) {
        return None;
    }
    let secret_key_ish = SECRET_KEY_NAMES.iter().any(|s| name.ends_with(s));
    let key_shaped = value.len() >= SECRET_KEY_MIN_LENGTH
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/+=_-".contains(c))
        && crate::entropy(value) >= SECRET_KEY_MIN_ENTROPY;
    if secret_key_ish && key_shaped {
        return Some(Rule::SecretKey);
    }
    (value.chars().count() >= PASSWORD_MIN_LENGTH && crate::entropy(value) >= PASSWORD_MIN_ENTROPY)
        .then_some(Rule::LiteralPassword)
}

/// Whether a value is written out, rather than a reference to one or a placeholder.
fn is_literal(value: &str) -> bool {
    let v = value.trim();
    let reference = [
        "secret://",
        "env:",
        "file://",
        "fileb://",
        "arn:",
        "vault:",
        "$",
        "<",
    ];
    !(v.is_empty()
        || reference.iter().any(|r| v.starts_with(r))
        || v.contains("${")
        || v.contains("{{")
        || v.contains("%(")
        || v.contains("**REDACTED**")
        || matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "none" | "nil" | "[]" | "{}" | "\"\"" | "''"
        )
        || v.starts_with('{')
        || v.starts_with('['))
}

/// A value as written: its quotes taken off (and a Python `b`/`r`/`u` prefix), or for an
/// unquoted one, a trailing comment and comma. `None` for code rather than a value: an
/// unquoted call, index or list (`os.environ["X"]`, `session["SecretAccessKey"]`, `f(x)`).
fn unquote(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let unprefixed = raw.trim_start_matches(['b', 'B', 'r', 'R', 'u', 'U']);
    let quoted = if unprefixed.len() + 2 >= raw.len() {
        unprefixed
    } else {
        raw
    };
    for quote in ['"', '\''] {
        if let Some(rest) = quoted.strip_prefix(quote) {
            return Some(rest.split(quote).next().unwrap_or("").to_owned());
        }
    }
    let raw = raw.split(" #").next().unwrap_or(raw);
    if raw.contains(['(', ')', '[', ']']) {
        return None;
    }
    Some(raw.trim().trim_end_matches(',').trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(line: &str) -> Vec<Rule> {
        Rules::get()
            .check(line)
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    #[test]
    fn access_key_ids() {
        let found = Rules::get().check(concat!("aws_access_key_id = AKIA", "Z7VQ3KX2MB4TQW5R"));
        assert_eq!(
            found,
            [(
                Rule::AwsAccessKeyId,
                Some(concat!("AKIA", "Z7VQ3KX2MB4TQW5R").to_owned())
            )]
        );
        assert_eq!(rules("key: ASIAZ7VQ3KX2MB4TQW5R"), [Rule::AwsAccessKeyId]);
        assert_eq!(
            rules(concat!("id=LTAI", "5tQ9wXbN3mKp7sRv")),
            [Rule::AlibabaAccessKeyId]
        );
        // AWS's documentation examples and lookalikes inside longer words pass.
        assert!(rules(concat!("AKIA", "IOSFODNN7EXAMPLE")).is_empty());
        assert!(rules(concat!("XAKIA", "Z7VQ3KX2MB4TQW5RX")).is_empty());
    }

    #[test]
    fn secret_keys_need_a_name_and_entropy() {
        let key = concat!("wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYzEXAMPLEKEY");
        assert_eq!(
            rules(&format!("aws_secret_access_key = {key}")),
            [Rule::SecretKey]
        );
        assert_eq!(
            rules(&format!(r#""SecretAccessKey": "{key}","#)),
            [Rule::SecretKey]
        );
        assert_eq!(
            rules(&format!("ALIBABA_ACCESS_KEY_SECRET={key}")),
            [Rule::SecretKey]
        );
        // The same string under an innocent name is not reported.
        assert!(rules(&format!("checksum = {key}")).is_empty());
    }

    #[test]
    fn literal_passwords_in_every_format() {
        for line in [
            r#"password = "hunter2-prod""#,
            "sasl.password=hunter2-prod",
            "  db_password: hunter2-prod",
            "export PGPASSWORD=hunter2-prod",
            r#"{"user": "app", "password": "hunter2-prod"}"#,
            r#"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="hunter2-prod";"#,
            "curl --token hunter2-prod https://example.com",
            "API_KEY='hunter2-prod' # for the dashboard",
        ] {
            assert_eq!(rules(line), [Rule::LiteralPassword], "{line}");
        }
    }

    #[test]
    fn references_placeholders_and_names_of_places_pass() {
        for line in [
            r#"sasl.password = "secret://kafka/stage#password""#,
            r#"sasl.password = "env:KAFKA_PASSWORD""#,
            r#"ssl.key.password = "file:///run/secrets/key-password""#,
            "password=${DB_PASSWORD}",
            "export TOKEN=$(cat /run/token)",
            r#"password: "{{ vault_password }}""#,
            "token_file = /var/lib/lakeseal/token",
            "password_env = KAFKA_PASSWORD",
            "secret_id = prod/db",
            "password = \"\"",
            "    aws_secret_access_key=session[\"SecretAccessKey\"],",
            "token = command[i]",
            "credentials = boto3.Session().get_credentials()",
            "password = xxxx",
            "password: <your password>",
            "lakeseal secret get --secret-id db/password",
            "lakeseal secret create --name t --secret-string file://value",
            r#"password = "hunter2-prod"  # lakeseal:allow test fixture"#,
        ] {
            let found = crate::scan(line.as_bytes()).unwrap();
            assert!(found.is_empty(), "{line}: {found:?}");
        }
    }

    #[test]
    fn urls_with_passwords_and_private_keys() {
        assert_eq!(
            rules("url = postgres://app:hunter2@db:5432/telemetry"),
            [Rule::UrlWithPassword]
        );
        assert!(rules("url = postgres://app:${PGPASSWORD}@db/telemetry").is_empty());
        assert!(rules("see https://user@example.com/x").is_empty());
        assert_eq!(
            rules(concat!("-----BEGIN RSA ", "PRIVATE KEY-----")),
            [Rule::PrivateKeyBlock]
        );
        assert_eq!(
            rules(concat!("-----BEGIN ", "PRIVATE KEY-----")),
            [Rule::PrivateKeyBlock]
        );
        assert!(rules("-----BEGIN CERTIFICATE-----").is_empty());
    }

    #[test]
    fn files_report_lines_and_skip_binaries() {
        let text = concat!(
            "a = 1\npassword = hunter2-prod\n\nAKIA",
            "Z7VQ3KX2MB4TQW5R\n"
        );
        let found = crate::scan(text.as_bytes()).unwrap();
        let lines: Vec<(usize, Rule)> = found.iter().map(|f| (f.line, f.rule)).collect();
        assert_eq!(
            lines,
            [(2, Rule::LiteralPassword), (4, Rule::AwsAccessKeyId)]
        );
        assert_eq!(crate::scan(b"a\0b"), Err(crate::Skipped::Binary));
    }
}
