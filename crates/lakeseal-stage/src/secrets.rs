//! `secret://name[#field]` values of `stage.toml` — any `[source.kafka]` property, and the S3
//! sink's access key — read through the key core's secrets manager (`GetSecretValue`) at start,
//! and kept current while the stage runs.
//!
//! A refresher task asks the key core which version of each referenced secret is `AWSCURRENT`
//! (`DescribeSecret`: cheap, no value leaves the key core) every `source.secret_refresh_seconds`,
//! and at once (at most once a second) when the broker refuses the stage's SASL credentials. A
//! new version's value is read and, only if it yields every referenced field, replaces the one in
//! use; otherwise the stage keeps what it has and the next check tries again.
//!
//! New values reach what uses them without a restart, which would cost the consumer group a
//! rebalance: SASL credentials (`sasl.username`, `sasl.password`) go to the running consumer and
//! dead-letter producer, which use them at their next login (connections already logged in go
//! on); the S3 sink's key signs from the next request on. librdkafka reads every other property
//! only when the clients are made, so a new value of one is logged as waiting for a restart.
//!
//! Values live in zeroizing strings and never reach a log, an error or a metric: logs name the
//! field, the secret and the version id.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lakeseal_keyclient::SecretReader;
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use zeroize::{Zeroize, Zeroizing};

use crate::config::StageConfig;
use crate::lake::S3Keys;
use crate::secret_ref::{self, SecretRef};
use crate::{Error, Result};

/// The properties librdkafka lets a running client change.
const SASL_PROPERTIES: [&str; 2] = ["sasl.username", "sasl.password"];

/// The shortest time between two checks, however often the broker refuses a login.
const MIN_CHECK_SPACING: Duration = Duration::from_secs(1);

/// Logs in to the brokers with a SASL username and password as the stage's clients would, and
/// says whether they were taken (the error never holds the password). Blocks: called from a
/// blocking task.
pub type LoginProbe = Arc<dyn Fn(&str, &str) -> std::result::Result<(), String> + Send + Sync>;

/// Where a value of `stage.toml` goes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    /// A librdkafka property of `[source.kafka]`.
    Kafka(String),
    /// `sink.access_key_id`.
    SinkKeyId,
    /// `sink.secret_access_key`.
    SinkSecret,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Kafka(name) => write!(f, "source.kafka.\"{name}\""),
            Field::SinkKeyId => f.write_str("sink.access_key_id"),
            Field::SinkSecret => f.write_str("sink.secret_access_key"),
        }
    }
}

/// The resolved `secret://` values, and what the running stage needs to follow new versions.
#[derive(Debug, Default)]
pub struct StageSecrets {
    /// librdkafka property name → value, for the clients' configurations.
    pub(crate) kafka: BTreeMap<String, Zeroizing<String>>,
    /// The S3 sink's access key, when `stage.toml` gives one; replaced in place by the refresher.
    pub(crate) sink_keys: Option<Arc<S3Keys>>,
    /// New SASL credentials, sent by the refresher; `None` when no SASL property is a reference.
    pub(crate) updates: Option<UnboundedReceiver<SaslCredentials>>,
    /// Wakes the refresher when the broker refuses the stage's SASL credentials.
    pub(crate) refused: Option<Arc<Notify>>,
}

/// A SASL username and password to give the running clients, and which secret versions they
/// came from (for the log).
pub(crate) struct SaslCredentials {
    pub(crate) username: Zeroizing<String>,
    pub(crate) password: Zeroizing<String>,
    pub(crate) versions: String,
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

/// One field whose value is a `secret://` reference.
#[derive(Debug, Clone)]
struct Reference {
    field: Field,
    secret_id: String,
    member: Option<String>,
}

/// One secret's version in use and the values the references took from it.
struct Held {
    version: String,
    values: BTreeMap<Field, Zeroizing<String>>,
}

impl StageSecrets {
    /// No references: every value is as written (or a `file://` or `env:` reference).
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads every `secret://` reference of `config` through `reader` and, if there are any,
    /// starts the refresher on the current runtime, checking every `source.secret_refresh_seconds`.
    /// The sink's key given as written or by `env:`/`file://` is resolved here too. An error
    /// names the field and the secret, never a value.
    pub async fn resolve<R: SecretReader + 'static>(
        config: &StageConfig,
        reader: R,
    ) -> Result<Self> {
        Self::resolve_with(config, reader, |values| {
            crate::run::login_probe(&config.kafka, values).map(Some)
        })
        .await
    }

    /// As [`StageSecrets::resolve`], new SASL credentials tried by the probe `make_probe` makes
    /// from the resolved `[source.kafka]` values.
    pub(crate) async fn resolve_with<R, P>(
        config: &StageConfig,
        reader: R,
        make_probe: P,
    ) -> Result<Self>
    where
        R: SecretReader + 'static,
        P: FnOnce(&BTreeMap<String, Zeroizing<String>>) -> Result<Option<LoginProbe>>,
    {
        let mut written: Vec<(Field, &str)> = config
            .kafka
            .iter()
            .map(|(name, value)| (Field::Kafka(name.to_owned()), value))
            .collect();
        if let Some((id, secret)) = &config.sink_keys {
            written.push((Field::SinkKeyId, id));
            written.push((Field::SinkSecret, secret));
        }
        let references: Vec<Reference> = written
            .iter()
            .filter_map(|(field, value)| match SecretRef::manager(value)? {
                SecretRef::Manager {
                    secret_id,
                    field: member,
                } => Some(Reference {
                    field: field.clone(),
                    secret_id,
                    member,
                }),
                _ => None,
            })
            .collect();
        let mut held = BTreeMap::new();
        for secret_id in secret_ids(&references) {
            let version = read(&reader, &secret_id, &references)
                .await
                .map_err(Error::Config)?;
            held.insert(secret_id, version);
        }
        // Every value the refresher may hand over, as in use now: from a secret, or as written
        // (a literal username, a file or env password …), which a new version overlays.
        let mut current: BTreeMap<Field, Zeroizing<String>> = BTreeMap::new();
        for version in held.values() {
            for (field, value) in &version.values {
                current.insert(field.clone(), value.clone());
            }
        }
        for (field, value) in &written {
            let live = match field {
                Field::Kafka(name) => SASL_PROPERTIES.contains(&name.as_str()),
                Field::SinkKeyId | Field::SinkSecret => true,
            };
            if live && !current.contains_key(field) {
                let value = match field {
                    Field::Kafka(name) => secret_ref::property_value(name, value),
                    // An id may be written as it is; the config refused a secret that is not
                    // a reference.
                    Field::SinkKeyId | Field::SinkSecret => match SecretRef::parse(value) {
                        Some(reference) => reference.resolve(),
                        None if *field == Field::SinkKeyId => {
                            Ok(Zeroizing::new((*value).to_owned()))
                        }
                        None => Err("a secret must be a reference".to_owned()),
                    },
                }
                .map_err(|why| Error::Config(format!("{field}: {why}")))?;
                current.insert(field.clone(), value);
            }
        }
        let kafka = current
            .iter()
            .filter_map(|(field, value)| match field {
                Field::Kafka(name) => Some((name.clone(), value.clone())),
                _ => None,
            })
            .collect();
        let sink_keys = match (
            current.get(&Field::SinkKeyId),
            current.get(&Field::SinkSecret),
        ) {
            (Some(id), Some(secret)) => Some(Arc::new(S3Keys::new(id, secret))),
            _ => None,
        };
        if references.is_empty() {
            return Ok(Self {
                kafka,
                sink_keys,
                ..Self::none()
            });
        }
        let follows_sasl = references.iter().any(
            |r| matches!(&r.field, Field::Kafka(name) if SASL_PROPERTIES.contains(&name.as_str())),
        );
        let (sender, receiver) = unbounded_channel();
        let refused = Arc::new(Notify::new());
        let probe = if follows_sasl {
            make_probe(&kafka)?
        } else {
            None
        };
        let refresher = Refresher {
            references,
            held,
            current,
            sink_keys: sink_keys.clone(),
            probe,
            every: config.secret_refresh,
            refused: refused.clone(),
            updates: sender,
        };
        tokio::spawn(refresher.run(reader));
        Ok(Self {
            kafka,
            sink_keys,
            // Held by the stage for its life: the refresher stops when it is dropped.
            updates: Some(receiver),
            refused: follows_sasl.then_some(refused),
        })
    }
}

/// The distinct secrets `references` name.
fn secret_ids(references: &[Reference]) -> Vec<String> {
    let mut ids: Vec<String> = references.iter().map(|r| r.secret_id.clone()).collect();
    ids.sort();
    ids.dedup();
    ids
}

/// `secret_id`'s current version and the values of the references to it. The error names the
/// field or the secret and says what is wrong, never a value.
async fn read<R: SecretReader>(
    reader: &R,
    secret_id: &str,
    references: &[Reference],
) -> std::result::Result<Held, String> {
    let current = reader
        .current_value(secret_id)
        .await
        .map_err(|e| format!("secret://{secret_id}: {e}"))?;
    let text = std::str::from_utf8(current.value.expose_secret())
        .map_err(|_| format!("secret://{secret_id}: the value is not UTF-8 text"))?;
    let mut values = BTreeMap::new();
    for reference in references.iter().filter(|r| r.secret_id == secret_id) {
        let value = match &reference.member {
            None => Zeroizing::new(text.to_owned()),
            Some(member) => json_field(text, member)
                .map_err(|why| format!("secret://{secret_id}#{member}: {why}"))?,
        };
        if value.is_empty() {
            return Err(format!(
                "{}: secret://{secret_id} gives an empty value",
                reference.field
            ));
        }
        values.insert(reference.field.clone(), value);
    }
    Ok(Held {
        version: current.version_id,
        values,
    })
}

/// Member `field` of the JSON object `text`: a string as it is, a number or boolean as written.
/// The parsed object's strings are wiped before it is dropped.
fn json_field(text: &str, field: &str) -> std::result::Result<Zeroizing<String>, &'static str> {
    let mut object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|_| "the secret's value is not a JSON object")?;
    let value = match object.get(field) {
        Some(serde_json::Value::String(s)) => Ok(Zeroizing::new(s.clone())),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Ok(Zeroizing::new(v.to_string()))
        }
        Some(_) => Err("the member is not a string, number or boolean"),
        None => Err("the secret's JSON object has no such member"),
    };
    for member in object.values_mut() {
        if let serde_json::Value::String(s) = member {
            s.zeroize();
        }
    }
    value
}

/// The task that follows the referenced secrets' new versions.
struct Refresher {
    references: Vec<Reference>,
    held: BTreeMap<String, Held>,
    /// The values that can change while the stage runs (the SASL pair, the sink's key), as in use.
    current: BTreeMap<Field, Zeroizing<String>>,
    sink_keys: Option<Arc<S3Keys>>,
    /// Tries new SASL credentials before the clients get them.
    probe: Option<LoginProbe>,
    every: Duration,
    refused: Arc<Notify>,
    updates: UnboundedSender<SaslCredentials>,
}

impl Refresher {
    /// Checks until the stage is gone.
    async fn run<R: SecretReader>(mut self, reader: R) {
        let mut last = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = self.updates.closed() => return,
                () = tokio::time::sleep(self.every) => {}
                () = self.refused.notified() => {
                    tracing::info!(
                        "the broker refused the stage's SASL credentials; checking their \
                         secrets for a new version"
                    );
                    tokio::time::sleep_until(last + MIN_CHECK_SPACING).await;
                }
            }
            last = tokio::time::Instant::now();
            self.check(&reader).await;
        }
    }

    /// One look at every referenced secret. A new version is taken whole or not at all: one
    /// that cannot be read, or whose SASL credentials the broker refuses, leaves the values in
    /// use, and the next check tries it again.
    async fn check<R: SecretReader>(&mut self, reader: &R) {
        let mut candidates = Vec::new();
        for (secret_id, held) in &self.held {
            let result = match reader.current_version(secret_id).await {
                Ok(version) if version == held.version => "unchanged",
                Ok(version) => match read(reader, secret_id, &self.references).await {
                    Ok(new) => {
                        candidates.push((secret_id.clone(), new));
                        continue;
                    }
                    Err(why) => {
                        tracing::warn!(
                            secret = %secret_id,
                            version = %version,
                            error = %why,
                            "cannot use the secret's new version; keeping the one in use"
                        );
                        "failed"
                    }
                },
                Err(e) => {
                    tracing::warn!(
                        secret = %secret_id,
                        error = %e,
                        "cannot check the secret for a new version; keeping the one in use"
                    );
                    "failed"
                }
            };
            metrics::counter!("lakeseal_stage_secret_checks_total", "result" => result)
                .increment(1);
        }
        for (secret_id, new) in candidates {
            let result = self.take(&secret_id, new).await;
            metrics::counter!("lakeseal_stage_secret_checks_total", "result" => result)
                .increment(1);
        }
    }

    /// Takes `secret_id`'s new version if its SASL credentials, if it holds any, log in.
    async fn take(&mut self, secret_id: &str, new: Held) -> &'static str {
        let Some(held) = self.held.get(secret_id) else {
            return "failed";
        };
        let changed: Vec<Field> = new
            .values
            .iter()
            .filter(|(field, value)| held.values.get(*field) != Some(value))
            .map(|(field, _)| field.clone())
            .collect();
        let sasl = |name: &str| {
            let field = Field::Kafka(name.to_owned());
            new.values
                .get(&field)
                .or_else(|| self.current.get(&field))
                .cloned()
        };
        let new_login = changed
            .iter()
            .any(|f| matches!(f, Field::Kafka(name) if SASL_PROPERTIES.contains(&name.as_str())));
        if new_login
            && let (Some(probe), Some(username), Some(password)) =
                (&self.probe, sasl("sasl.username"), sasl("sasl.password"))
        {
            let probe = probe.clone();
            let verdict = tokio::task::spawn_blocking(move || probe(&username, &password))
                .await
                .unwrap_or_else(|e| Err(format!("the login check did not finish: {e}")));
            if let Err(why) = verdict {
                tracing::warn!(
                    secret = %secret_id,
                    version = %new.version,
                    error = %why,
                    "the broker refuses the new version's SASL credentials; keeping the ones in use"
                );
                return "refused";
            }
        }
        tracing::info!(
            secret = %secret_id,
            from = %held.version,
            to = %new.version,
            "a secret:// reference has a new version"
        );
        self.held.insert(secret_id.to_owned(), new);
        if !changed.is_empty() {
            self.hand_over(&changed);
        }
        "updated"
    }

    /// Gives what uses them the `changed` fields' new values: the clients their new SASL pair,
    /// the sink its new key; names any other changed property, whose new value waits for a
    /// restart.
    fn hand_over(&mut self, changed: &[Field]) {
        let (mut sasl, mut sink) = (false, false);
        for field in changed {
            let Some(value) = self.held.values().find_map(|held| held.values.get(field)) else {
                continue;
            };
            match field {
                Field::Kafka(name) if SASL_PROPERTIES.contains(&name.as_str()) => sasl = true,
                Field::Kafka(_) => {
                    tracing::warn!(
                        field = %field,
                        "librdkafka reads this property only at start: its new value is used \
                         after the stage restarts"
                    );
                    continue;
                }
                Field::SinkKeyId | Field::SinkSecret => sink = true,
            }
            self.current.insert(field.clone(), value.clone());
        }
        if sink
            && let (Some(keys), Some(id), Some(secret)) = (
                &self.sink_keys,
                self.current.get(&Field::SinkKeyId),
                self.current.get(&Field::SinkSecret),
            )
        {
            keys.replace(id, secret);
            tracing::info!(versions = %self.versions(), "new S3 access key in use");
        }
        if !sasl {
            return;
        }
        let (Some(username), Some(password)) = (
            self.current.get(&Field::Kafka("sasl.username".into())),
            self.current.get(&Field::Kafka("sasl.password".into())),
        ) else {
            tracing::warn!(
                "a SASL secret changed, but source.kafka lacks sasl.username or sasl.password"
            );
            return;
        };
        // A stage that is gone has dropped the receiver; `run` then ends at its next wait.
        let _ = self.updates.send(SaslCredentials {
            username: username.clone(),
            password: password.clone(),
            versions: self.versions(),
        });
    }

    /// The versions in use, `secret@version,…`, for the log.
    fn versions(&self) -> String {
        self.held
            .iter()
            .map(|(id, held)| format!("{id}@{}", held.version))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests;
