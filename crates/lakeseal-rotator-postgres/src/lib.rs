//! `postgresql-alternating-users`: rotates a PostgreSQL login so that no client ever fails to
//! log in, the strategy of AWS's rotation template of that name.
//!
//! The secret is the JSON of AWS's templates: `engine` (`postgres`), `host`, `port` (default
//! 5432), `username`, `password`, `dbname` (default `postgres`) and `masterarn`, the ARN of a
//! secret holding the `username` and `password` of a role allowed to create roles and change
//! their passwords. Two roles take turns — `<user>` and `<user>_clone`, the clone made on the
//! first rotation as a member of `<user>`, so it has the same privileges:
//!
//! * `createSecret`: the pending value names the *other* role, with a new random password;
//! * `setSecret`: logged in with the master secret, sets that role's password (creating the
//!   role the first time). The current role is untouched, so every client holding
//!   `AWSCURRENT` keeps logging in; one holding `AWSPREVIOUS` keeps working until now;
//! * `testSecret`: logs in as the other role with the new password;
//! * `finishSecret`: the key core makes it current.
//!
//! The password never reaches the server in clear: the rotator sends a SCRAM-SHA-256 verifier
//! (as `psql`'s `\password` does), so it cannot turn up in the server's logs either.

use std::time::Duration;

use lakeseal_keycore::rotation::{Rotating, RotationError, Rotator, SecretJson};
use lakeseal_kms_types::secrets::SecretValue;
use postgres_protocol::escape::{escape_identifier, escape_literal};
use tokio_postgres::{Client, Config, NoTls};

/// The rotator; register it with `Rotators::builtin().with(Arc::new(PostgresAlternatingUsers))`.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresAlternatingUsers;

/// The suffix of the second role.
const CLONE_SUFFIX: &str = "_clone";
/// Characters in a generated password.
const PASSWORD_LENGTH: usize = 32;
/// How long a login may take before the step fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// PostgreSQL's longest identifier, in bytes.
const MAX_NAME_BYTES: usize = 63;

/// Where a secret's database is.
#[derive(Debug)]
struct Server {
    host: String,
    port: u16,
    dbname: String,
}

impl Server {
    fn of(json: &SecretJson) -> Result<Self, RotationError> {
        let engine = json.required("engine")?;
        if engine != "postgres" {
            return Err(RotationError::new(format!(
                "engine is {engine:?}; this rotator handles \"postgres\""
            )));
        }
        let port = match json.get("port") {
            None => Some(5432),
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            Some(_) => None,
        }
        .filter(|p| *p != 0)
        .ok_or_else(|| RotationError::new("port must be a TCP port number"))?;
        Ok(Self {
            host: json.required("host")?.to_owned(),
            port,
            dbname: json.str("dbname").unwrap_or("postgres").to_owned(),
        })
    }

    /// Logs in as `user`; the connection is driven by a task of its own until the client drops.
    async fn login(&self, user: &str, password: &str) -> Result<Client, RotationError> {
        let mut config = Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .dbname(&self.dbname)
            .user(user)
            .password(password)
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("lakeseal-keycore-rotation");
        // Loopback and private networks only for now: no TLS (see the crate's README entry).
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            RotationError::new(format!(
                "cannot log in to {}:{} as {user}: {e}",
                self.host, self.port
            ))
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "rotation's database connection ended");
            }
        });
        Ok(client)
    }
}

/// The role the next rotation moves to.
fn other_role(current: &str) -> String {
    match current.strip_suffix(CLONE_SUFFIX) {
        Some(base) if !base.is_empty() => base.to_owned(),
        _ => format!("{current}{CLONE_SUFFIX}"),
    }
}

/// A role name checked and quoted as an SQL identifier (libpq's escaping, from
/// `postgres-protocol`).
fn identifier(name: &str) -> Result<String, RotationError> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES || name.contains('\0') {
        return Err(RotationError::new(format!(
            "role names are 1-{MAX_NAME_BYTES} bytes without NUL"
        )));
    }
    Ok(escape_identifier(name))
}

#[async_trait::async_trait]
impl Rotator for PostgresAlternatingUsers {
    fn name(&self) -> &'static str {
        "postgresql-alternating-users"
    }

    async fn create_secret(
        &self,
        _secret: &Rotating<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, RotationError> {
        let mut json = SecretJson::parse(current)?;
        Server::of(&json)?;
        json.required("masterarn")?;
        let role = other_role(json.required("username")?);
        identifier(&role)?;
        json.set("username", role);
        json.set_random_password("password", PASSWORD_LENGTH)?;
        json.to_value()
    }

    async fn set_secret(
        &self,
        secret: &Rotating<'_>,
        current: &SecretValue,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        let current = SecretJson::parse(current)?;
        let pending = SecretJson::parse(pending)?;
        let server = Server::of(&pending)?;
        let master =
            SecretJson::parse(&secret.read_current(pending.required("masterarn")?).await?)?;
        let admin = server
            .login(master.required("username")?, master.required("password")?)
            .await?;
        let role = pending.required("username")?;
        let verifier =
            postgres_protocol::password::scram_sha_256(pending.required("password")?.as_bytes());
        let exists = admin
            .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
            .await
            .map_err(|e| RotationError::new(format!("cannot look up role {role}: {e}")))?
            .is_some();
        // DDL takes no bind parameters: the names are quoted, the verifier is base64 and `$:`.
        let statement = if exists {
            format!(
                "ALTER ROLE {} WITH LOGIN PASSWORD {}",
                identifier(role)?,
                escape_literal(&verifier)
            )
        } else {
            format!(
                "CREATE ROLE {} WITH LOGIN PASSWORD {} IN ROLE {}",
                identifier(role)?,
                escape_literal(&verifier),
                identifier(current.required("username")?)?
            )
        };
        admin
            .batch_execute(&statement)
            .await
            .map_err(|e| RotationError::new(format!("cannot set the password of {role}: {e}")))
    }

    async fn test_secret(
        &self,
        _secret: &Rotating<'_>,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        let pending = SecretJson::parse(pending)?;
        let role = pending.required("username")?;
        let client = Server::of(&pending)?
            .login(role, pending.required("password")?)
            .await?;
        let row = client
            .query_one("SELECT current_user::text", &[])
            .await
            .map_err(|e| RotationError::new(format!("logged in as {role}, but: {e}")))?;
        let user: String = row.get(0);
        if user != role {
            return Err(RotationError::new(format!(
                "logged in as {user}, not {role}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_alternate() {
        assert_eq!(other_role("app"), "app_clone");
        assert_eq!(other_role("app_clone"), "app");
        assert_eq!(other_role("_clone"), "_clone_clone");
    }

    #[test]
    fn role_names_are_checked_and_quoted() {
        assert_eq!(identifier("a\"b").unwrap(), "\"a\"\"b\"");
        assert!(identifier("").is_err());
        assert!(identifier(&"x".repeat(64)).is_err());
    }
}
