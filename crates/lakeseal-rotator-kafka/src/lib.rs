//! `kafka-scram-user`: rotates a Kafka user's SCRAM password through the Kafka admin API
//! (`AlterUserScramCredentials`, KIP-554), so the broker refuses the old password as soon as
//! the rotation is done.
//!
//! The secret is a JSON object: `engine` (`kafka`), `bootstrap_servers`, `username`,
//! `password`, `sasl_mechanism` (`SCRAM-SHA-512`, the default, or `SCRAM-SHA-256`),
//! `security_protocol` (`SASL_SSL`, the default, or `SASL_PLAINTEXT`), `ssl_ca_location` (a CA
//! file on the key core's host; default the system's roots) and `masterarn`, the ARN of a secret
//! holding the `username` and `password` of a user the broker lets alter SCRAM credentials.
//!
//! One user, one password at a time — Kafka keeps one credential per user and mechanism:
//! * `createSecret`: the pending value is the current one with a new random password;
//! * `setSecret`: logged in as the master user, sets the user's credential to the new password
//!   (a fresh salt, 4096 iterations, salted by librdkafka so the password itself never reaches
//!   the broker). From here the broker refuses the old password: a client that logs in again
//!   before `finishSecret` makes the new value current is refused, and a stage reading the
//!   secret through `secret://` checks for a new version at once when that happens;
//! * `testSecret`: logs in as the user with the new password;
//! * `finishSecret`: nothing to retire, the old password is gone already;
//! * a rotation abandoned after `setSecret` (`discard`) puts the current password back.

use std::time::Duration;

use lakeseal_kafka_sasl::{ScramMechanism, upsert_scram_credential};
use lakeseal_keycore::rotation::{Rotating, RotationError, Rotator, SecretJson};
use lakeseal_kms_types::secrets::SecretValue;
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use zeroize::Zeroizing;

/// The rotator; register it with `Rotators::builtin().with(Arc::new(KafkaScramUser))`.
#[derive(Debug, Default, Clone, Copy)]
pub struct KafkaScramUser;

/// Characters in a generated password.
const PASSWORD_LENGTH: usize = 32;
/// SCRAM rounds: Kafka's minimum for SHA-512 and `kafka-configs.sh`'s default.
const ITERATIONS: i32 = 4096;
/// How long a login or an admin request may take before the step fails.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a secret's cluster is and how to reach it; the user comes with each login.
#[derive(Debug, Clone)]
struct Cluster {
    bootstrap_servers: String,
    security_protocol: String,
    mechanism_name: String,
    mechanism: ScramMechanism,
    ca_location: Option<String>,
}

impl Cluster {
    fn of(json: &SecretJson) -> Result<Self, RotationError> {
        let engine = json.required("engine")?;
        if engine != "kafka" {
            return Err(RotationError::new(format!(
                "engine is {engine:?}; this rotator handles \"kafka\""
            )));
        }
        let mechanism_name = json.str("sasl_mechanism").unwrap_or("SCRAM-SHA-512");
        let mechanism = ScramMechanism::from_name(mechanism_name).ok_or_else(|| {
            RotationError::new(format!(
                "sasl_mechanism is {mechanism_name:?}; SCRAM-SHA-256 or SCRAM-SHA-512 rotate"
            ))
        })?;
        let security_protocol = json.str("security_protocol").unwrap_or("SASL_SSL");
        if !["SASL_SSL", "SASL_PLAINTEXT"]
            .contains(&security_protocol.to_ascii_uppercase().as_str())
        {
            return Err(RotationError::new(format!(
                "security_protocol is {security_protocol:?}; SASL_SSL or SASL_PLAINTEXT"
            )));
        }
        Ok(Self {
            bootstrap_servers: json.required("bootstrap_servers")?.to_owned(),
            security_protocol: security_protocol.to_owned(),
            mechanism_name: mechanism_name.to_owned(),
            mechanism,
            ca_location: json.str("ssl_ca_location").map(str::to_owned),
        })
    }

    /// A client logged in as `user` (librdkafka connects lazily: a request proves the login).
    /// librdkafka's configuration map holds a copy of the password until the client is made.
    fn client(&self, user: &str, password: &str) -> Result<BaseProducer, RotationError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("security.protocol", &self.security_protocol)
            .set("sasl.mechanism", &self.mechanism_name)
            .set("sasl.username", user)
            .set("sasl.password", password)
            .set("client.id", "lakeseal-keycore-rotation");
        if let Some(ca) = &self.ca_location {
            config.set("ssl.ca.location", ca);
        }
        config
            .create()
            .map_err(|e| RotationError::new(format!("cannot make a Kafka client: {e}")))
    }

    /// Sets `user`'s credential to `password`, logged in as `admin` (user and password).
    async fn set_password(
        &self,
        admin: (&str, &str),
        user: &str,
        password: &str,
    ) -> Result<(), RotationError> {
        let cluster = self.clone();
        let (admin_user, admin_password) = (admin.0.to_owned(), Zeroizing::new(admin.1.to_owned()));
        let (user, password) = (user.to_owned(), Zeroizing::new(password.to_owned()));
        blocking(move || {
            let admin = cluster.client(&admin_user, &admin_password)?;
            upsert_scram_credential(
                admin.client(),
                &user,
                cluster.mechanism,
                ITERATIONS,
                password.as_bytes(),
                BROKER_TIMEOUT,
            )
            .map_err(|e| {
                RotationError::new(format!(
                    "cannot set the SCRAM credential of {user} at {}: {e}",
                    cluster.bootstrap_servers
                ))
            })
        })
        .await
    }

    /// Logs in as `user` and reads the cluster's metadata.
    async fn login(&self, user: &str, password: &str) -> Result<(), RotationError> {
        let cluster = self.clone();
        let (user, password) = (user.to_owned(), Zeroizing::new(password.to_owned()));
        blocking(move || {
            let client = cluster.client(&user, &password)?;
            client
                .client()
                .fetch_metadata(None, BROKER_TIMEOUT)
                .map(drop)
                .map_err(|e| {
                    RotationError::new(format!(
                        "cannot log in to {} as {user}: {e}",
                        cluster.bootstrap_servers
                    ))
                })
        })
        .await
    }
}

/// Runs librdkafka's blocking calls off the async workers.
async fn blocking<F>(call: F) -> Result<(), RotationError>
where
    F: FnOnce() -> Result<(), RotationError> + Send + 'static,
{
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| RotationError::new(format!("the Kafka call did not finish: {e}")))?
}

/// The master user's login, from the secret `masterarn` names.
async fn master(secret: &Rotating<'_>, json: &SecretJson) -> Result<SecretJson, RotationError> {
    SecretJson::parse(&secret.read_current(json.required("masterarn")?).await?)
}

#[async_trait::async_trait]
impl Rotator for KafkaScramUser {
    fn name(&self) -> &'static str {
        "kafka-scram-user"
    }

    async fn create_secret(
        &self,
        _secret: &Rotating<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, RotationError> {
        let mut json = SecretJson::parse(current)?;
        Cluster::of(&json)?;
        json.required("masterarn")?;
        json.required("username")?;
        json.set_random_password("password", PASSWORD_LENGTH)?;
        json.to_value()
    }

    async fn set_secret(
        &self,
        secret: &Rotating<'_>,
        _current: &SecretValue,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        let pending = SecretJson::parse(pending)?;
        let master = master(secret, &pending).await?;
        Cluster::of(&pending)?
            .set_password(
                (master.required("username")?, master.required("password")?),
                pending.required("username")?,
                pending.required("password")?,
            )
            .await
    }

    async fn test_secret(
        &self,
        _secret: &Rotating<'_>,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        let pending = SecretJson::parse(pending)?;
        Cluster::of(&pending)?
            .login(pending.required("username")?, pending.required("password")?)
            .await
    }

    async fn discard(
        &self,
        secret: &Rotating<'_>,
        _stale: &SecretValue,
    ) -> Result<(), RotationError> {
        // `setSecret` may have given the broker the abandoned password: the current one goes
        // back, so that the broker and AWSCURRENT agree again.
        let current = SecretJson::parse(&secret.read_current(secret.secret_arn()).await?)?;
        let master = master(secret, &current).await?;
        Cluster::of(&current)?
            .set_password(
                (master.required("username")?, master.required("password")?),
                current.required("username")?,
                current.required("password")?,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use lakeseal_envelope::SecretBytes;

    use super::*;

    fn json(text: &str) -> SecretJson {
        SecretJson::parse(&SecretValue::String(SecretBytes::new(
            text.as_bytes().to_vec(),
        )))
        .unwrap()
    }

    #[test]
    fn a_cluster_is_read_with_its_defaults() {
        let cluster = Cluster::of(&json(
            r#"{"engine":"kafka","bootstrap_servers":"b:9093","username":"u","password":"p"}"#,
        ))
        .unwrap();
        assert_eq!(cluster.mechanism, ScramMechanism::Sha512);
        assert_eq!(cluster.security_protocol, "SASL_SSL");
        assert_eq!(cluster.ca_location, None);
    }

    #[test]
    fn what_cannot_rotate_is_refused_by_name() {
        for (text, named) in [
            (r#"{"engine":"postgres","bootstrap_servers":"b"}"#, "engine"),
            (
                r#"{"engine":"kafka","bootstrap_servers":"b","sasl_mechanism":"PLAIN"}"#,
                "sasl_mechanism",
            ),
            (
                r#"{"engine":"kafka","bootstrap_servers":"b","security_protocol":"SSL"}"#,
                "security_protocol",
            ),
            (r#"{"engine":"kafka"}"#, "bootstrap_servers"),
        ] {
            let err = Cluster::of(&json(text)).unwrap_err().to_string();
            assert!(err.contains(named), "{err} should name {named}");
        }
    }
}
