//! `stage.toml`: a raw layer that serde reads (unknown fields refused), and a typed layer that
//! nothing downstream validates again. A bad file is refused at start with the field's path.
//!
//! Every field is declared, with its meaning, unit and default, in `raw.rs` (and the schema's in
//! `schema::RawSchema`); `docs/stage-config.md` is the reference page, checked against those
//! declarations by a test here.

use std::collections::BTreeMap;
use std::fmt;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use lakeseal_envelope::EncryptionContext;

mod raw;

use self::raw::RawConfig;
use crate::encrypted_parquet::Codec;
use crate::lake::Location;
use crate::schema::TableSchema;
use crate::secret_ref::{SecretRef, is_secret_property};
use crate::window::WindowLimits;
use crate::{Error, Result};

/// The longest `window.max_age_seconds`: 7 days, Kafka's default retention.
const MAX_WINDOW_AGE_SECONDS: u64 = 7 * 24 * 3600;

/// The largest `window.max_bytes`: 1 GiB.
const MAX_WINDOW_BYTES: usize = 1 << 30;

/// librdkafka properties, passed through; secret values are references ([`SecretRef`]) and print
/// as `**REDACTED**`.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaProperties(BTreeMap<String, String>);

impl KafkaProperties {
    /// The properties, for `rdkafka::ClientConfig`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                (
                    k.as_str(),
                    if is_secret_property(k) {
                        "**REDACTED**"
                    } else {
                        v.as_str()
                    },
                )
            }))
            .finish()
    }
}

/// How the stage reaches its key core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeycoreConfig {
    /// In this process, over a data directory.
    Embedded {
        /// The key core's data directory.
        data_dir: PathBuf,
        /// The IAM user of the key core's account the calls are made as; its identity policies
        /// (with the key policy) decide what it may do. `None` is the account root, for an
        /// operator's own commands (`lake read --data-dir`); a stage always names a user.
        user: Option<String>,
    },
    /// Over the AWS KMS protocol.
    Remote {
        /// `http://host:port`.
        endpoint: String,
        /// The region to sign for.
        region: String,
        /// Where the stage's credentials come from.
        credentials: CredentialsConfig,
        /// A role to assume with those credentials; the stage then calls as the role.
        assume_role: Option<AssumeRoleConfig>,
    },
}

/// A role the caller of a remote key core assumes (STS `AssumeRole` at the key core's
/// endpoint), renewing the session before it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleConfig {
    /// The role's ARN.
    pub role_arn: String,
    /// The session's name.
    pub session_name: String,
    /// How long each session lives; `None`: the key core's default, an hour.
    pub duration_seconds: Option<u32>,
}

/// Where the caller of a remote key core gets its credentials; each is renewed as it changes or
/// nears expiry, so the stage runs on past any one credential's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialsConfig {
    /// `[profile]` of an AWS credentials file, read again when the file changes.
    File {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
    },
    /// A container-credentials endpoint (the key core's `--credentials-listen`): temporary
    /// role credentials for a workload identity's token.
    Container {
        /// `http://127.0.0.1:PORT/v1/credentials`.
        uri: String,
        /// The file holding the workload identity's token.
        token_file: PathBuf,
    },
    /// The endpoint the environment names, as the AWS SDKs find it
    /// (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`).
    Environment,
}

/// The stage's configuration, checked.
#[derive(Debug, Clone)]
pub struct StageConfig {
    /// Topics to consume.
    pub topics: Vec<String>,
    /// librdkafka properties.
    pub kafka: KafkaProperties,
    /// The table.
    pub schema: TableSchema,
    /// When windows close.
    pub window: WindowLimits,
    /// The master key that wraps every window's data key.
    pub key_id: String,
    /// The encryption context, with `{table}` and `{topic}` still to fill in.
    pub context_template: BTreeMap<String, String>,
    /// Where files go.
    pub sink: Location,
    /// How their pages are compressed.
    pub compression: Codec,
    /// Where undecodable records go.
    pub dlq_topic: String,
    /// The key core.
    pub keycore: KeycoreConfig,
    /// The key client's rate limit: requests a second, and burst.
    pub keycore_rate: (NonZeroU32, NonZeroU32),
}

fn field(path: &str, what: &str) -> Error {
    Error::Config(format!("{path}: {what}"))
}

impl StageConfig {
    /// Parses and checks `stage.toml`.
    pub fn from_toml(text: &str) -> Result<Self> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        if raw.source.topics.is_empty() || raw.source.topics.iter().any(String::is_empty) {
            return Err(field("source.topics", "at least one topic, none empty"));
        }
        for required in ["bootstrap.servers", "group.id"] {
            if !raw.source.kafka.contains_key(required) {
                return Err(field(
                    &format!("source.kafka.\"{required}\""),
                    "is required",
                ));
            }
        }
        if raw
            .source
            .kafka
            .get("enable.auto.commit")
            .is_some_and(|v| v != "false")
        {
            return Err(field(
                "source.kafka.\"enable.auto.commit\"",
                "must be false: the stage commits offsets itself, after each file is durable",
            ));
        }
        for (name, value) in &raw.source.kafka {
            if is_secret_property(name) && SecretRef::parse(value).is_none() {
                return Err(field(
                    &format!("source.kafka.\"{name}\""),
                    &format!(
                        "a secret must be a reference, {}, never the value itself",
                        crate::secret_ref::FORMS
                    ),
                ));
            }
        }
        let schema = TableSchema::try_from(raw.schema)?;
        let window = WindowLimits {
            max_records: NonZeroUsize::new(raw.window.max_records)
                .ok_or_else(|| field("window.max_records", "must be at least 1"))?,
            // A window's text columns address their bytes with 32-bit offsets (Arrow's `Utf8`),
            // and the window is held in memory whole.
            max_bytes: match raw.window.max_bytes {
                b if b > MAX_WINDOW_BYTES => {
                    return Err(field(
                        "window.max_bytes",
                        "must be at most 1073741824 (1 GiB)",
                    ));
                }
                b => NonZeroUsize::new(b)
                    .ok_or_else(|| field("window.max_bytes", "must be at least 1"))?,
            },
            max_age: match raw.window.max_age_seconds {
                0 => return Err(field("window.max_age_seconds", "must be at least 1")),
                // A window's records stay uncommitted while it is open: older than the topic's
                // retention (Kafka's default is 7 days), a crash would lose them.
                s if s > MAX_WINDOW_AGE_SECONDS => {
                    return Err(field(
                        "window.max_age_seconds",
                        "must be at most 604800 (7 days)",
                    ));
                }
                s => Duration::from_secs(s),
            },
        };
        if raw.encryption.key_id.is_empty() {
            return Err(field("encryption.key_id", "is required"));
        }
        for (key, value) in &raw.encryption.context {
            if let Some(unknown) = unknown_placeholder(value) {
                return Err(field(
                    &format!("encryption.context.{key}"),
                    &format!("{unknown} is not a placeholder: use {{table}} or {{topic}}"),
                ));
            }
        }
        let filled = Self::fill(&raw.encryption.context, schema.table(), "topic");
        lakeseal_keycore_context_check(&filled).map_err(|why| field("encryption.context", &why))?;
        let sink = Location::parse(
            &raw.sink.url,
            false,
            raw.sink.endpoint.clone(),
            raw.sink.region.clone(),
        )
        .map_err(|why| field("sink.url", &why))?;
        if raw.dlq.topic.is_empty() {
            return Err(field("dlq.topic", "is required"));
        }
        if raw.source.topics.contains(&raw.dlq.topic) {
            // The stage would consume its own dead letters, and refuse them again, forever.
            return Err(field(
                "dlq.topic",
                &format!(
                    "{:?} is a source topic; dead letters need a topic of their own",
                    raw.dlq.topic
                ),
            ));
        }
        let k = raw.keycore;
        let keycore_rate = (k.requests_per_second, k.burst);
        let keycore = match (k.data_dir, k.endpoint) {
            (Some(data_dir), None) => KeycoreConfig::Embedded {
                data_dir,
                user: Some(k.user.ok_or_else(|| {
                    field(
                        "keycore.user",
                        "is required with data_dir: the IAM user the stage calls the embedded \
                         key core as (`lakeseal iam create-user`, then an identity policy allowing \
                         kms:GenerateDataKey* and kms:Decrypt on the key)",
                    )
                })?),
            },
            (None, Some(_)) if k.user.is_some() => {
                return Err(field(
                    "keycore.user",
                    "only with data_dir: a remote key core knows the caller by its credentials",
                ));
            }
            (None, Some(endpoint)) => KeycoreConfig::Remote {
                endpoint,
                region: k
                    .region
                    .ok_or_else(|| field("keycore.region", "is required with endpoint"))?,
                credentials: match (
                    k.credentials_file,
                    k.container_credentials_uri,
                    k.container_authorization_token_file,
                ) {
                    (Some(path), None, None) => CredentialsConfig::File {
                        path,
                        profile: k.profile,
                    },
                    (None, Some(uri), Some(token_file)) => {
                        CredentialsConfig::Container { uri, token_file }
                    }
                    (None, None, None) => CredentialsConfig::Environment,
                    (Some(_), _, _) => {
                        return Err(field(
                            "keycore.credentials_file",
                            "give a credentials file or a container credentials endpoint, \
                             not both",
                        ));
                    }
                    (None, _, _) => {
                        return Err(field(
                            "keycore.container_credentials_uri",
                            "goes with container_authorization_token_file, the workload \
                             identity's token",
                        ));
                    }
                },
                assume_role: k.role_arn.map(|role_arn| AssumeRoleConfig {
                    role_arn,
                    session_name: k.role_session_name,
                    duration_seconds: k.role_duration_seconds.map(NonZeroU32::get),
                }),
            },
            _ => {
                return Err(field(
                    "keycore",
                    "give data_dir (embedded) or endpoint (remote), not both",
                ));
            }
        };
        Ok(Self {
            topics: raw.source.topics,
            kafka: KafkaProperties(raw.source.kafka),
            schema,
            window,
            key_id: raw.encryption.key_id,
            context_template: raw.encryption.context,
            sink,
            compression: raw.sink.compression,
            dlq_topic: raw.dlq.topic,
            keycore,
            keycore_rate,
        })
    }

    /// The encryption context of `topic`'s files.
    pub fn context_for(&self, topic: &str) -> EncryptionContext {
        Self::fill(&self.context_template, self.schema.table(), topic)
    }

    fn fill(template: &BTreeMap<String, String>, table: &str, topic: &str) -> EncryptionContext {
        template
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.replace("{table}", table).replace("{topic}", topic),
                )
            })
            .collect()
    }
}

/// The first `{...}` in a context template value that is neither `{table}` nor `{topic}`.
fn unknown_placeholder(value: &str) -> Option<&str> {
    let mut rest = value;
    while let Some(start) = rest.find('{') {
        let tail = &rest[start..];
        let end = tail.find('}')?;
        let placeholder = &tail[..=end];
        if placeholder != "{table}" && placeholder != "{topic}" {
            return Some(placeholder);
        }
        rest = &tail[end + 1..];
    }
    None
}

/// The key core's own limits on a context, checked here so a bad template fails at start.
fn lakeseal_keycore_context_check(context: &EncryptionContext) -> std::result::Result<(), String> {
    if context.iter().any(|(k, _)| k.is_empty()) {
        return Err("keys must not be empty".into());
    }
    if context.size_in_bytes() > 8192 {
        return Err("over 8192 bytes".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
        let c = StageConfig::from_toml(include_str!("../../../../pipeline-examples/stage.toml"))
            .unwrap();
        assert_eq!(c.schema.table(), "telemetry");
        assert!(matches!(c.keycore, KeycoreConfig::Remote { .. }));
        assert_eq!(c.keycore_rate.0.get(), 50);
    }

    #[test]
    fn the_codec_is_chosen_by_name() {
        let c =
            StageConfig::from_toml(&format!("{GOOD}\n[sink]\ncompression = \"zstd\"\n")).unwrap();
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
            let c =
                StageConfig::from_toml(&GOOD.replace("secret://kafka-stage", reference)).unwrap();
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
                ..
            }
        ));
        let c =
            remote("credentials_file = \"/etc/creds\"\nrole_arn = \"arn:aws:iam::1:role/stage\"")
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
}
