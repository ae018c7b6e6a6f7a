//! Where a secret librdkafka property (`sasl.password`, `ssl.key.password`, …) comes from: never
//! the value itself in `stage.toml`, only a reference, resolved when the clients are made.
//!
//! * `file:///path`: the file's contents (one trailing newline dropped). The file must be a
//!   regular file that only its owner can read or write (mode 0600 or 0400), as SSH insists for
//!   its keys: a password readable by every account on the host is not a secret.
//! * `env:NAME`: the environment variable `NAME`, which must be set and not empty.
//! * `secret://name[#field]`: the key core's secrets manager's current value of secret `name`
//!   (its JSON member `field` if given), resolved and kept current by [`crate::secrets`]:
//!   the one form a rotation reaches without a restart.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use zeroize::Zeroizing;

/// A reference to a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `file:///path`.
    File(PathBuf),
    /// `env:NAME`.
    Env(String),
    /// `secret://name[#field]`.
    Manager {
        /// The secret's name or ARN.
        secret_id: String,
        /// The member of the secret's JSON object to take, or the whole value.
        field: Option<String>,
    },
}

/// The forms a reference may take, for error messages.
pub const FORMS: &str = "file:///path (mode 0600), env:NAME or secret://name[#field]";

/// Whether librdkafka property `name` holds a secret: such a value is given as a reference,
/// never inline.
pub fn is_secret_property(name: &str) -> bool {
    name.contains("password") || name.contains("secret") || name.ends_with(".key.pem")
}

/// The value librdkafka is given for property `name`: a secret one's reference resolved, any
/// other as written. A secret one given inline is refused. Errors never repeat the value.
pub fn property_value(name: &str, value: &str) -> Result<Zeroizing<String>, String> {
    if !is_secret_property(name) {
        return Ok(Zeroizing::new(value.to_owned()));
    }
    match SecretRef::parse(value) {
        Some(reference) => reference.resolve(),
        None => Err(format!(
            "a secret must be a reference, {FORMS}, never the value itself"
        )),
    }
}

impl SecretRef {
    /// The reference `value` is, or `None` for a value given inline.
    pub fn parse(value: &str) -> Option<Self> {
        if let Some(path) = value.strip_prefix("file://") {
            (path.starts_with('/')).then(|| Self::File(PathBuf::from(path)))
        } else if let Some(name) = value.strip_prefix("env:") {
            (!name.is_empty()).then(|| Self::Env(name.to_owned()))
        } else {
            Self::manager(value)
        }
    }

    /// A `secret://name[#field]` reference, whatever the property: `None` for any other value.
    pub fn manager(value: &str) -> Option<Self> {
        let reference = value.strip_prefix("secret://")?;
        let (secret_id, field) = match reference.split_once('#') {
            Some((id, field)) => (id, Some(field)),
            None => (reference, None),
        };
        if secret_id.is_empty() || field.is_some_and(str::is_empty) {
            return None;
        }
        Some(Self::Manager {
            secret_id: secret_id.to_owned(),
            field: field.map(str::to_owned),
        })
    }

    /// The secret itself. The error says what is wrong with the reference, never the value.
    pub fn resolve(&self) -> Result<Zeroizing<String>, String> {
        let value = match self {
            Self::File(path) => {
                let shown = path.display();
                let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
                if !meta.is_file() {
                    return Err(format!("{shown} is not a regular file"));
                }
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(format!(
                        "{shown} has mode {mode:04o}: others can read it; chmod 600 it"
                    ));
                }
                let bytes =
                    Zeroizing::new(std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?);
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| format!("{shown} is not UTF-8 text"))?;
                Zeroizing::new(text.strip_suffix('\n').unwrap_or(text).to_owned())
            }
            Self::Env(name) => Zeroizing::new(
                std::env::var(name)
                    .map_err(|_| format!("environment variable {name} is not set"))?,
            ),
            // Resolved at start through the key core, with its refresher (`secrets`).
            Self::Manager { secret_id, .. } => {
                return Err(format!(
                    "secret://{secret_id} is resolved through the key core, not here"
                ));
            }
        };
        if value.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_told_from_values() {
        assert_eq!(
            SecretRef::parse("file:///run/kafka-password"),
            Some(SecretRef::File("/run/kafka-password".into()))
        );
        assert_eq!(
            SecretRef::parse("env:KAFKA_PASSWORD"),
            Some(SecretRef::Env("KAFKA_PASSWORD".into()))
        );
        assert_eq!(
            SecretRef::parse("secret://kafka"),
            Some(SecretRef::Manager {
                secret_id: "kafka".into(),
                field: None
            })
        );
        assert_eq!(
            SecretRef::parse("secret://prod/kafka#password"),
            Some(SecretRef::Manager {
                secret_id: "prod/kafka".into(),
                field: Some("password".into())
            })
        );
        for inline in [
            "hunter2",
            "file://relative",
            "env:",
            "secret://",
            "secret://#password",
            "secret://kafka#",
            "",
        ] {
            assert_eq!(SecretRef::parse(inline), None, "{inline}");
        }
    }

    #[test]
    fn a_file_must_be_its_owners_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "s3cret\n").unwrap();
        let reference = SecretRef::File(path.clone());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = reference.resolve().unwrap_err();
        assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(reference.resolve().unwrap().as_str(), "s3cret");
        std::fs::write(&path, "").unwrap();
        assert!(reference.resolve().unwrap_err().contains("empty"));
        let missing = SecretRef::File(dir.path().join("absent"))
            .resolve()
            .unwrap_err();
        assert!(missing.contains("absent"), "{missing}");
    }

    #[test]
    fn a_secret_property_is_only_ever_a_reference() {
        let err = property_value("sasl.password", "hunter2").unwrap_err();
        assert!(
            err.contains("env:NAME") && !err.contains("hunter2"),
            "{err}"
        );
        assert_eq!(
            property_value("security.protocol", "SASL_SSL")
                .unwrap()
                .as_str(),
            "SASL_SSL"
        );
        // A reference-looking value of a property that is not secret is left alone.
        assert_eq!(
            property_value("ssl.ca.location", "file:///etc/ca.pem")
                .unwrap()
                .as_str(),
            "file:///etc/ca.pem"
        );
    }

    #[test]
    fn an_unset_variable_is_named() {
        let err = SecretRef::Env("LAKESEAL_TEST_SURELY_UNSET".into())
            .resolve()
            .unwrap_err();
        assert!(err.contains("LAKESEAL_TEST_SURELY_UNSET"), "{err}");
        let manager = SecretRef::Manager {
            secret_id: "x".into(),
            field: None,
        };
        assert!(manager.resolve().unwrap_err().contains("key core"));
    }
}
