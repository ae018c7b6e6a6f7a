//! The configuration's checks: what parses, what is refused and how it is named.

use std::collections::BTreeSet;

use super::*;
use crate::lake::S3Location;

const GOOD: &str = r#"
[source]
topics = ["telemetry"]
[source.kafka]
"bootstrap.servers" = "127.0.0.1:9092"
"group.id" = "lakeseal-stage"
"sasl.password" = "secret://kafka-stage"

[schema]
table = "telemetry"
event_time = "event_time"
columns = [{ name = "event_time", type = "timestamp_ms" }, { name = "device_id", type = "string" }]

[window]
max_age_seconds = 30

[encryption]
key_id = "alias/telemetry"
context = { table = "{table}", topic = "{topic}" }

[dlq]
topic = "telemetry-dlq"

[keycore]
data_dir = "/var/lib/lakeseal/keycore"
user = "lakeseal-stage"
"#;

#[test]
fn a_good_file_and_its_defaults() {
    let c = StageConfig::from_toml(GOOD).unwrap();
    assert_eq!(c.window.max_age, Duration::from_secs(30));
    assert_eq!(c.window.max_records.get(), 100_000);
    assert_eq!(c.sink, Location::Local(PathBuf::from("./lake")));
    assert_eq!(c.compression, Codec::Snappy);
    let ctx = c.context_for("iot");
    assert_eq!(
        (ctx.get("table"), ctx.get("topic")),
        (Some("telemetry"), Some("iot"))
    );
    assert_eq!(
        c.keycore,
        KeycoreConfig::Embedded {
            data_dir: "/var/lib/lakeseal/keycore".into(),
            user: Some("lakeseal-stage".into()),
        }
    );
}

#[test]
fn the_shipped_example_parses() {
    let c =
        StageConfig::from_toml(include_str!("../../../../pipeline-examples/stage.toml")).unwrap();
    assert_eq!(c.schema.table(), "telemetry");
    assert!(matches!(c.keycore, KeycoreConfig::Remote { .. }));
    assert_eq!(c.keycore_rate.0.get(), 50);
}

#[test]
fn the_codec_is_chosen_by_name() {
    let c = StageConfig::from_toml(&format!("{GOOD}\n[sink]\ncompression = \"zstd\"\n")).unwrap();
    assert_eq!(c.compression, Codec::Zstd);
}

#[test]
fn s3_sinks_take_an_endpoint_and_region() {
    let c = StageConfig::from_toml(&format!(
        "{GOOD}\n[sink]\nurl = \"s3://lake/warehouse/\"\nendpoint = \"http://127.0.0.1:9000\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.sink,
        Location::S3(S3Location {
            bucket: "lake".into(),
            prefix: "warehouse".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: None,
        })
    );
}

#[test]
fn secrets_come_by_reference() {
    for reference in ["file:///run/kafka-password", "env:KAFKA_PASSWORD"] {
        let c = StageConfig::from_toml(&GOOD.replace("secret://kafka-stage", reference)).unwrap();
        assert!(!format!("{c:?}").contains(reference));
    }
    let err = StageConfig::from_toml(&GOOD.replace("secret://kafka-stage", "file://rel"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("file:///path (mode 0600), env:NAME"), "{err}");
}

#[test]
fn a_remote_key_core_takes_a_file_an_endpoint_or_the_environment_and_a_role() {
    let remote = |lines: &str| {
        StageConfig::from_toml(&GOOD.replace(
            "data_dir = \"/var/lib/lakeseal/keycore\"\nuser = \"lakeseal-stage\"",
            &format!("endpoint = \"http://k:7070\"\nregion = \"eu-west-1\"\n{lines}"),
        ))
    };
    let c = remote("").unwrap();
    assert!(matches!(
        c.keycore,
        KeycoreConfig::Remote {
            credentials: CredentialsConfig::Environment,
            assume_role: None,
            ca_file: None,
            ..
        }
    ));
    let c = remote("ca_file = \"/etc/lakeseal/ca.pem\"").unwrap();
    let KeycoreConfig::Remote { ca_file, .. } = c.keycore else {
        panic!("{:?}", c.keycore);
    };
    assert_eq!(
        ca_file.as_deref(),
        Some(std::path::Path::new("/etc/lakeseal/ca.pem"))
    );
    let c = remote("credentials_file = \"/etc/creds\"\nrole_arn = \"arn:aws:iam::1:role/stage\"")
        .unwrap();
    let KeycoreConfig::Remote {
        credentials: CredentialsConfig::File { .. },
        assume_role: Some(role),
        ..
    } = c.keycore
    else {
        panic!("{:?}", c.keycore);
    };
    assert_eq!(role.session_name, "lakeseal-stage");
    assert_eq!(role.duration_seconds, None);
    let e = remote("container_credentials_uri = \"http://127.0.0.1:1/v1/credentials\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("container_authorization_token_file"), "{e}");
    let e = remote(
        "credentials_file = \"/c\"\ncontainer_credentials_uri = \"http://x\"\n\
         container_authorization_token_file = \"/t\"",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn secrets_print_redacted() {
    let c = StageConfig::from_toml(GOOD).unwrap();
    let printed = format!("{c:?}");
    assert!(printed.contains("**REDACTED**"), "{printed}");
    assert!(!printed.contains("secret://kafka-stage"), "{printed}");
}

#[test]
fn mistakes_are_refused_with_the_field_path() {
    let cases = [
        (
            GOOD.replace("max_age_seconds = 30", "max_age_secs = 30"),
            "max_age_secs",
        ),
        (
            GOOD.replace("\"group.id\" = \"lakeseal-stage\"\n", ""),
            "source.kafka.\"group.id\"",
        ),
        (
            GOOD.replace("secret://kafka-stage", "hunter2"),
            "source.kafka.\"sasl.password\"",
        ),
        (format!("{GOOD}\n[extra]\nx = 1\n"), "extra"),
        (
            GOOD.replace("max_age_seconds = 30", "max_age_seconds = 0"),
            "window.max_age_seconds",
        ),
        (
            GOOD.replace("max_age_seconds = 30", "max_age_seconds = 604801"),
            "window.max_age_seconds",
        ),
        (
            GOOD.replace(
                "max_age_seconds = 30",
                "max_age_seconds = 30\nmax_records = 0",
            ),
            "window.max_records: must be at least 1",
        ),
        (
            GOOD.replace("topic = \"telemetry-dlq\"", "topic = \"telemetry\""),
            "dlq.topic",
        ),
        (
            GOOD.replace("\"{topic}\"", "\"{topci}\""),
            "encryption.context.topic: {topci}",
        ),
        (
            GOOD.replace(
                "max_age_seconds = 30",
                "max_age_seconds = 30\nmax_bytes = 1073741825",
            ),
            "window.max_bytes",
        ),
        (
            GOOD.replace(
                "data_dir = \"/var/lib/lakeseal/keycore\"\nuser = \"lakeseal-stage\"",
                "endpoint = \"http://k:7070\"",
            ),
            "keycore.region",
        ),
        (
            GOOD.replace("user = \"lakeseal-stage\"\n", ""),
            "keycore.user: is required with data_dir",
        ),
        (
            GOOD.replace(
                "data_dir = \"/var/lib/lakeseal/keycore\"",
                "endpoint = \"http://k:7070\"\nregion = \"eu-west-1\"\n\
                 credentials_file = \"/etc/creds\"",
            ),
            "keycore.user: only with data_dir",
        ),
        (
            GOOD.replace(
                "\"group.id\" = \"lakeseal-stage\"",
                "\"group.id\" = \"g\"\n\"enable.auto.commit\" = \"true\"",
            ),
            "enable.auto.commit",
        ),
        (format!("{GOOD}\n[sink]\nurl = \"ftp://x\"\n"), "sink.url"),
        (
            format!("{GOOD}\n[sink]\ncompression = \"gzip\"\n"),
            "compression",
        ),
    ];
    for (text, path) in cases {
        let err = StageConfig::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains(path), "{err} should name {path}");
        assert!(!err.contains("hunter2"), "{err} leaks the secret");
    }
}

/// `section.field` for every field the raw layer declares: `RawConfig`'s sections, each
/// section struct's fields, and the schema's (columns as `schema.columns.<field>`), read
/// from the declarations' source so that a new field cannot go undocumented.
fn declared_fields() -> BTreeSet<String> {
    fn fields_of(source: &str, name: &str) -> Vec<String> {
        let body = source
            .split(&format!("struct {name} {{"))
            .nth(1)
            .unwrap_or_else(|| panic!("struct {name} is declared"))
            .split("\n}")
            .next()
            .unwrap();
        let mut fields = Vec::new();
        let mut renamed = None;
        for line in body.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("#[serde(rename = \"") {
                renamed = rest.split('"').next().map(str::to_owned);
            } else if let Some((decl, _)) = line.split_once(": ")
                && !line.starts_with("//")
            {
                let name = decl.rsplit(' ').next().unwrap().to_owned();
                fields.push(renamed.take().unwrap_or(name));
            }
        }
        fields
    }
    let raw = include_str!("raw.rs");
    let schema = include_str!("../schema.rs");
    let mut out = BTreeSet::new();
    let sections = fields_of(raw, "RawConfig");
    assert_eq!(sections.len(), 7, "{sections:?}");
    for section in sections {
        let names = match section.as_str() {
            "schema" => fields_of(schema, "RawSchema"),
            _ => {
                let mut chars = section.chars();
                let first = chars.next().unwrap().to_ascii_uppercase();
                fields_of(raw, &format!("Raw{first}{}", chars.as_str()))
            }
        };
        assert!(!names.is_empty(), "[{section}] declares fields");
        for name in names {
            out.insert(format!("{section}.{name}"));
        }
    }
    for name in fields_of(schema, "RawColumn") {
        out.insert(format!("schema.columns.{name}"));
    }
    out
}

#[test]
fn the_reference_page_names_exactly_the_declared_fields() {
    let page = include_str!("../../../../docs/stage-config.md");
    let documented: BTreeSet<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
        .map(str::to_owned)
        .collect();
    let declared = declared_fields();
    assert!(declared.contains("keycore.burst") && declared.contains("schema.columns.type"));
    assert_eq!(
        documented, declared,
        "docs/stage-config.md and the declarations in config/raw.rs and schema.rs"
    );
}

#[test]
fn the_reference_page_examples_are_accepted() {
    let page = include_str!("../../../../docs/stage-config.md");
    let examples: Vec<&str> = page
        .split("```toml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .collect();
    assert_eq!(examples.len(), 2);
    for example in examples {
        StageConfig::from_toml(example).unwrap_or_else(|e| panic!("{e}\n{example}"));
    }
}
