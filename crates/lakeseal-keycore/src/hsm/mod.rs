//! PKCS#11 key stores: keys made and used inside an HSM token, never in this process.
//!
//! A store is configured by the operator (module path, token label, a PIN file) and shown to
//! clients as AWS KMS shows a CloudHSM key store. Keys of origin `AWS_CLOUDHSM` live in one:
//! each symmetric version is a token AES-256 key (`CKA_SENSITIVE`, not `CKA_EXTRACTABLE`) that
//! seals blobs with `CKM_AES_GCM` inside the token; an asymmetric key is a token key pair that
//! signs inside the token. The key core keeps only the labels that find them.
//!
//! By job: the configuration ([`KeyStoreConfig`]), the connection and its session pool
//! (`store`), and what is done with the token's objects (`token`).

mod der;
mod module;
mod store;
mod token;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use crate::{Error, Result};

pub use self::store::{ConnectionState, HsmStore};
pub(crate) use self::token::{HsmKeyPair, create_version, destroy, open, seal};

/// One PKCS#11 key store, as the server's configuration names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyStoreConfig {
    /// The id `CreateKey` names as `CustomKeyStoreId`, `cks-` and 1 to 64 letters, digits or `-`.
    pub id: String,
    /// A friendly name (`CustomKeyStoreName`).
    pub name: String,
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of the token to use (slot numbers change; labels do not).
    pub token_label: String,
    /// A file holding the user PIN (mode 0600) …
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// … or `secret://<name or ARN>`: a secret of this key core's secrets manager whose current
    /// value is the PIN, read by the serving key core (its scheduler) while the store is not
    /// connected. Never the PIN itself.
    #[serde(default)]
    pub pin: Option<String>,
    /// Logged-in sessions kept open at most (the HSM operations that may run at once).
    #[serde(default = "default_sessions")]
    pub sessions: usize,
}

fn default_sessions() -> usize {
    4
}

impl KeyStoreConfig {
    /// Refuses an id, label or session count that cannot be right.
    pub fn check(&self) -> Result<()> {
        let id_ok = self.id.strip_prefix("cks-").is_some_and(|rest| {
            (1..=64).contains(&rest.len())
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
        if !id_ok {
            return Err(Error::Validation(format!(
                "key store id {:?} must be cks- and 1 to 64 letters, digits or -",
                self.id
            )));
        }
        if self.name.is_empty() || self.token_label.is_empty() || self.token_label.len() > 32 {
            return Err(Error::Validation(format!(
                "key store {}: name must be given, token_label 1 to 32 characters",
                self.id
            )));
        }
        match (&self.pin_file, &self.pin) {
            (Some(_), None) => {}
            (None, Some(_)) if self.pin_secret().is_some_and(|id| !id.is_empty()) => {}
            (None, Some(_)) => {
                return Err(Error::Validation(format!(
                    "key store {}: pin takes only a secret:// reference, never the PIN itself \
                     (or give pin_file)",
                    self.id
                )));
            }
            _ => {
                return Err(Error::Validation(format!(
                    "key store {}: give pin_file or pin = \"secret://…\", one of them",
                    self.id
                )));
            }
        }
        if !(1..=64).contains(&self.sessions) {
            return Err(Error::Validation(format!(
                "key store {}: sessions must be 1 to 64",
                self.id
            )));
        }
        Ok(())
    }
}

impl KeyStoreConfig {
    /// The secret a `secret://` PIN names.
    pub fn pin_secret(&self) -> Option<&str> {
        self.pin.as_deref()?.strip_prefix("secret://")
    }
}

/// The configured key stores, the first one the default.
#[derive(Debug, Clone, Default)]
pub struct KeyStores {
    stores: Vec<Arc<HsmStore>>,
}

impl KeyStores {
    /// Connects every configured store. A store that cannot connect (no module, no token, a
    /// wrong PIN) is kept as `FAILED` with a log line, and software keys go on being served.
    pub fn connect(configs: &[KeyStoreConfig]) -> Result<Self> {
        for (i, config) in configs.iter().enumerate() {
            config.check()?;
            if configs[..i]
                .iter()
                .any(|c| c.id == config.id || c.name == config.name)
            {
                return Err(Error::Validation(format!(
                    "key store {} is configured twice (ids and names are unique)",
                    config.id
                )));
            }
        }
        let stores = configs
            .iter()
            .map(|config| Arc::new(HsmStore::connect(config.clone())))
            .collect();
        Ok(Self { stores })
    }

    /// Every store, in configuration order.
    pub fn all(&self) -> &[Arc<HsmStore>] {
        &self.stores
    }

    /// The store with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<HsmStore>> {
        self.stores.iter().find(|s| s.config().id == id)
    }

    /// The store `CreateKey` uses when it names none: the first configured.
    pub fn default_store(&self) -> Option<&Arc<HsmStore>> {
        self.stores.first()
    }
}

/// Runs a blocking HSM call off the async runtime's worker (tokio's `block_in_place` on a
/// multi-threaded runtime, so other tasks move to another worker meanwhile); called directly
/// elsewhere (a current-thread runtime, or no runtime).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(id: &str) -> KeyStoreConfig {
        KeyStoreConfig {
            id: id.into(),
            name: "hsm".into(),
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token_label: "lakeseal".into(),
            pin_file: Some("/etc/lakeseal/hsm.pin".into()),
            pin: None,
            sessions: 4,
        }
    }

    #[test]
    fn ids_labels_and_session_counts_are_checked() {
        assert!(config("cks-softhsm-1").check().is_ok());
        for id in [
            "softhsm",
            "cks-",
            "cks-a b",
            &format!("cks-{}", "a".repeat(65)),
        ] {
            assert!(config(id).check().is_err(), "{id} passed");
        }
        let mut long_label = config("cks-a");
        long_label.token_label = "x".repeat(33);
        assert!(long_label.check().is_err());
        let mut no_sessions = config("cks-a");
        no_sessions.sessions = 0;
        assert!(no_sessions.check().is_err());
        let mut secret = config("cks-a");
        secret.pin_file = None;
        secret.pin = Some("secret://hsm-pin".into());
        assert!(secret.check().is_ok());
        assert_eq!(secret.pin_secret(), Some("hsm-pin"));
        for inline in ["123456", "secret://"] {
            secret.pin = Some(inline.into());
            assert!(secret.check().is_err(), "{inline} passed");
        }
        secret.pin_file = Some("/etc/pin".into());
        secret.pin = Some("secret://hsm-pin".into());
        assert!(secret.check().is_err(), "both passed");
    }

    #[test]
    fn a_store_is_configured_once() {
        let a = config("cks-a");
        let mut same_name = config("cks-b");
        same_name.name = a.name.clone();
        let e = KeyStores::connect(&[a.clone(), a.clone()]).unwrap_err();
        assert!(e.to_string().contains("configured twice"), "{e}");
        assert!(KeyStores::connect(&[a, same_name]).is_err());
    }
}
