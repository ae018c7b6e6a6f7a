//! `secret://name[#field]` values of `[source.kafka]`: read through the key core's secrets
//! manager (`GetSecretValue`) at start, and kept current while the stage runs.
//!
//! A refresher task asks the key core which version of each referenced secret is `AWSCURRENT`
//! (`DescribeSecret`: cheap, no value leaves the key core) every `source.secret_refresh_seconds`,
//! and at once (at most once a second) when the broker refuses the stage's SASL credentials. A
//! new version's value is read and, only if it yields every referenced field, replaces the one in
//! use; otherwise the stage keeps what it has and the next check tries again.
//!
//! New SASL credentials (`sasl.username`, `sasl.password`) reach the running consumer and
//! dead-letter producer without a restart, which would cost the consumer group a rebalance:
//! librdkafka uses them at its next login, and connections already logged in go on. Any other
//! property is read by librdkafka only when the clients are made, so a new value of one is
//! logged as waiting for a restart.
//!
//! Values live in zeroizing strings and never reach a log, an error or a metric: logs name the
//! property, the secret and the version id.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lakeseal_keyclient::SecretReader;
use tokio::sync::Notify;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use zeroize::{Zeroize, Zeroizing};

use crate::config::KafkaProperties;
use crate::secret_ref::{self, SecretRef};
use crate::{Error, Result};

/// The properties librdkafka lets a running client change.
const SASL_PROPERTIES: [&str; 2] = ["sasl.username", "sasl.password"];

/// The shortest time between two checks, however often the broker refuses a login.
const MIN_CHECK_SPACING: Duration = Duration::from_secs(1);

/// The resolved `secret://` values, and what the running stage needs to follow new versions.
#[derive(Debug, Default)]
pub struct KafkaSecrets {
    /// Property name → value, for the clients' configurations.
    pub(crate) values: BTreeMap<String, Zeroizing<String>>,
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

/// One property whose value is a `secret://` reference.
#[derive(Debug, Clone)]
struct Reference {
    property: String,
    secret_id: String,
    field: Option<String>,
}

/// One secret's version in use and the values the references took from it.
struct Held {
    version: String,
    values: BTreeMap<String, Zeroizing<String>>,
}

impl KafkaSecrets {
    /// No references: every property is as written (or a `file://` or `env:` reference).
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads every `secret://` reference of `kafka` through `reader` and, if there are any,
    /// starts the refresher on the current runtime, checking every `every`. An error names the
    /// property and the secret, never a value.
    pub async fn resolve<R: SecretReader + 'static>(
        kafka: &KafkaProperties,
        reader: R,
        every: Duration,
    ) -> Result<Self> {
        let references: Vec<Reference> = kafka
            .iter()
            .filter_map(|(property, value)| match SecretRef::manager(value)? {
                SecretRef::Manager { secret_id, field } => Some(Reference {
                    property: property.to_owned(),
                    secret_id,
                    field,
                }),
                _ => None,
            })
            .collect();
        if references.is_empty() {
            return Ok(Self::none());
        }
        let mut held = BTreeMap::new();
        for secret_id in secret_ids(&references) {
            let version = read(&reader, &secret_id, &references)
                .await
                .map_err(Error::Config)?;
            held.insert(secret_id, version);
        }
        let mut values = BTreeMap::new();
        for version in held.values() {
            for (property, value) in &version.values {
                values.insert(property.clone(), value.clone());
            }
        }
        // The SASL pair as configured (a literal username, a file or env password …), which a
        // new version overlays.
        let mut sasl = BTreeMap::new();
        for property in SASL_PROPERTIES {
            if let Some(value) = values.get(property) {
                sasl.insert(property, value.clone());
            } else if let Some((_, value)) = kafka.iter().find(|(name, _)| *name == property) {
                let value = secret_ref::property_value(property, value)
                    .map_err(|why| Error::Config(format!("source.kafka.\"{property}\": {why}")))?;
                sasl.insert(property, value);
            }
        }
        let follows_sasl = references
            .iter()
            .any(|r| SASL_PROPERTIES.contains(&r.property.as_str()));
        let (sender, receiver) = unbounded_channel();
        let refused = Arc::new(Notify::new());
        let refresher = Refresher {
            references,
            held,
            sasl,
            every,
            refused: refused.clone(),
            updates: sender,
        };
        tokio::spawn(refresher.run(reader));
        Ok(Self {
            values,
            updates: follows_sasl.then_some(receiver),
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
/// property or the secret and says what is wrong, never a value.
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
        let value = match &reference.field {
            None => Zeroizing::new(text.to_owned()),
            Some(field) => json_field(text, field)
                .map_err(|why| format!("secret://{secret_id}#{field}: {why}"))?,
        };
        if value.is_empty() {
            return Err(format!(
                "source.kafka.\"{}\": secret://{secret_id} gives an empty value",
                reference.property
            ));
        }
        values.insert(reference.property.clone(), value);
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
    /// The SASL pair in use.
    sasl: BTreeMap<&'static str, Zeroizing<String>>,
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

    /// One look at every referenced secret.
    async fn check<R: SecretReader>(&mut self, reader: &R) {
        let mut changed = Vec::new();
        for (secret_id, held) in &mut self.held {
            let result = match reader.current_version(secret_id).await {
                Ok(version) if version == held.version => "unchanged",
                Ok(version) => match read(reader, secret_id, &self.references).await {
                    Ok(new) => {
                        tracing::info!(
                            secret = %secret_id,
                            from = %held.version,
                            to = %new.version,
                            "a secret:// reference has a new version"
                        );
                        changed.extend(
                            new.values
                                .iter()
                                .filter(|(property, value)| {
                                    held.values.get(*property) != Some(value)
                                })
                                .map(|(property, _)| property.clone()),
                        );
                        *held = new;
                        "updated"
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
        if !changed.is_empty() {
            self.hand_over(&changed);
        }
    }

    /// Sends the running clients their new SASL pair if `changed` holds one of it; names any
    /// other changed property, whose new value waits for a restart.
    fn hand_over(&mut self, changed: &[String]) {
        let mut sasl_changed = false;
        for property in changed {
            let value = self
                .held
                .values()
                .find_map(|held| held.values.get(property));
            match (
                SASL_PROPERTIES.iter().find(|p| **p == property.as_str()),
                value,
            ) {
                (Some(sasl), Some(value)) => {
                    self.sasl.insert(sasl, value.clone());
                    sasl_changed = true;
                }
                _ => tracing::warn!(
                    property = %property,
                    "librdkafka reads this property only at start: its new value is used after \
                     the stage restarts"
                ),
            }
        }
        if !sasl_changed {
            return;
        }
        let (Some(username), Some(password)) = (
            self.sasl.get("sasl.username"),
            self.sasl.get("sasl.password"),
        ) else {
            tracing::warn!(
                "a SASL secret changed, but source.kafka lacks sasl.username or sasl.password"
            );
            return;
        };
        let versions = self
            .held
            .iter()
            .map(|(id, held)| format!("{id}@{}", held.version))
            .collect::<Vec<_>>()
            .join(",");
        // A stage that is gone has dropped the receiver; `run` then ends at its next wait.
        let _ = self.updates.send(SaslCredentials {
            username: username.clone(),
            password: password.clone(),
            versions,
        });
    }
}

#[cfg(test)]
mod tests;
