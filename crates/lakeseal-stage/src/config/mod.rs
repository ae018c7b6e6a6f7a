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
        /// `https://host:port` (or, to a key core serving plain HTTP, `http://`).
        endpoint: String,
        /// The region to sign for.
        region: String,
        /// The CA file the key core's certificate is verified against; `None`: the system's
        /// roots.
        ca_file: Option<PathBuf>,
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
    /// How often `secret://` values are checked for a new version.
    pub secret_refresh: Duration,
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
    /// The S3 sink's access key, as written (references unresolved): id, then secret.
    pub sink_keys: Option<(String, String)>,
    /// How their pages are compressed.
    pub compression: Codec,
    /// Where undecodable records go.
    pub dlq_topic: String,
    /// The key core.
    pub keycore: KeycoreConfig,
    /// The key client's rate limit: requests a second, and burst.
    pub keycore_rate: (NonZeroU32, NonZeroU32),
}

/// The fields a `secret://` reference is read in: the ones that carry credentials.
fn takes_references(path: &str) -> bool {
    path.starts_with("source.kafka.")
        || path == "sink.access_key_id"
        || path == "sink.secret_access_key"
}

/// Refuses a `secret://` value anywhere else, where it would be taken as written.
fn refuse_misplaced_references(table: &toml::Table, prefix: &str) -> Result<()> {
    for (key, value) in table {
        let path = format!("{prefix}{key}");
        match value {
            toml::Value::String(s) if s.starts_with("secret://") && !takes_references(&path) => {
                return Err(field(
                    &path,
                    "secret:// is read only in [source.kafka] and sink.access_key_id / \
                     sink.secret_access_key, the fields that hold credentials",
                ));
            }
            toml::Value::Table(inner) => refuse_misplaced_references(inner, &format!("{path}."))?,
            _ => {}
        }
    }
    Ok(())
}

fn field(path: &str, what: &str) -> Error {
    Error::Config(format!("{path}: {what}"))
}

impl StageConfig {
    /// Parses and checks `stage.toml`.
    pub fn from_toml(text: &str) -> Result<Self> {
        // Typed first, for errors that point at the line; then as a tree, for the references.
        let raw: RawConfig = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        let table: toml::Table = toml::from_str(text).map_err(|e| Error::Config(e.to_string()))?;
        refuse_misplaced_references(&table, "")?;
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
        if !(1..=86_400).contains(&raw.source.secret_refresh_seconds) {
            return Err(field(
                "source.secret_refresh_seconds",
                "must be 1 to 86400 (a day)",
            ));
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
        let sink_keys = match (raw.sink.access_key_id, raw.sink.secret_access_key) {
            (None, None) => None,
            (Some(id), Some(secret)) => {
                if !matches!(sink, Location::S3(_)) {
                    return Err(field(
                        "sink.access_key_id",
                        "an access key is for an s3:// sink only",
                    ));
                }
                if SecretRef::parse(&secret).is_none() {
                    return Err(field(
                        "sink.secret_access_key",
                        &format!(
                            "a secret must be a reference, {}, never the value itself",
                            crate::secret_ref::FORMS
                        ),
                    ));
                }
                Some((id, secret))
            }
            _ => {
                return Err(field(
                    "sink.access_key_id",
                    "give access_key_id and secret_access_key together, or neither",
                ));
            }
        };
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
                ca_file: k.ca_file,
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
            secret_refresh: Duration::from_secs(raw.source.secret_refresh_seconds),
            schema,
            window,
            key_id: raw.encryption.key_id,
            context_template: raw.encryption.context,
            sink,
            sink_keys,
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
mod tests;
