//! Rotators: what changes a secret's value in the system the secret opens (a database, the key
//! core's own access keys), run by the key core itself in AWS's four steps — `createSecret`,
//! `setSecret`, `testSecret`, `finishSecret` — with no Lambda in between.
//!
//! The engine (`core/rotation.rs`) owns the staging labels and the order of the steps; a
//! rotator only makes a new value and puts it in place. Each step may run more than once (a
//! retry, a resume after a crash), so each must be idempotent. Built in: [`RandomToken`] and
//! [`KeycoreAccessKey`]; others (the PostgreSQL one) live in their own crates and are
//! registered through [`Rotators::with`].
//!
//! A secret names its rotator in `RotationLambdaARN` as
//! `arn:<partition>:lakeseal:<region>:<account>:rotator/<name>`.

mod access_key;
mod random_token;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use lakeseal_envelope::SecretBytes;
use lakeseal_kms_types::secrets::{SecretTag, SecretValue};
use zeroize::Zeroize;

use crate::KeyCore;

pub use self::access_key::{KeycoreAccessKey, OVERLAP_TAG};
pub use self::random_token::{ALPHABET_TAG, Alphabet, LENGTH_TAG, RandomToken, random_string};

/// Why a rotation step failed. Its message is shown to the caller and audited, so it says what
/// went wrong and never carries a secret value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationError(String);

impl RotationError {
    /// A failure, described without any secret.
    pub fn new(why: impl Into<String>) -> Self {
        Self(why.into())
    }
}

impl fmt::Display for RotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RotationError {}

impl From<crate::Error> for RotationError {
    fn from(e: crate::Error) -> Self {
        Self(e.to_string())
    }
}

/// The secret being rotated, as a rotator's steps see it.
#[derive(Debug)]
pub struct Rotating<'a> {
    pub(crate) core: &'a KeyCore,
    pub(crate) arn: &'a str,
    pub(crate) token: &'a str,
    pub(crate) tags: &'a [SecretTag],
}

impl Rotating<'_> {
    /// The secret's ARN.
    pub fn secret_arn(&self) -> &str {
        self.arn
    }

    /// The id of the version this rotation makes.
    pub fn token(&self) -> &str {
        self.token
    }

    /// The value of the secret's tag `key`: how a secret configures its rotator
    /// (`lakeseal:rotation:length` …).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// The `AWSCURRENT` value of another secret of this key core (a database's master secret),
    /// read by the key core itself and audited.
    pub async fn read_current(&self, secret_id: &str) -> Result<SecretValue, RotationError> {
        Ok(self.core.read_for_rotation(self.arn, secret_id).await?)
    }
}

/// One kind of secret the key core knows how to rotate.
#[async_trait::async_trait]
pub trait Rotator: Send + Sync + fmt::Debug {
    /// The name in the rotator ARN, `postgresql-alternating-users` …
    fn name(&self) -> &'static str;

    /// `createSecret`: the new version's value, made from the current one. Nothing outside the
    /// key core changes yet.
    async fn create_secret(
        &self,
        secret: &Rotating<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, RotationError>;

    /// `setSecret`: puts the new value in place beside the current one, which keeps working.
    async fn set_secret(
        &self,
        secret: &Rotating<'_>,
        current: &SecretValue,
        pending: &SecretValue,
    ) -> Result<(), RotationError>;

    /// `testSecret`: proves the new value works, as a client would use it.
    async fn test_secret(
        &self,
        secret: &Rotating<'_>,
        pending: &SecretValue,
    ) -> Result<(), RotationError>;

    /// `finishSecret`, after `AWSCURRENT` has moved to the new version: retires what the
    /// previous value opened, if anything.
    async fn finish_secret(
        &self,
        _secret: &Rotating<'_>,
        _previous: &SecretValue,
    ) -> Result<(), RotationError> {
        Ok(())
    }

    /// Undoes what `createSecret` made for a rotation that will not be finished (it failed, or
    /// its key core was killed), before a new attempt starts with a new value.
    async fn discard(
        &self,
        _secret: &Rotating<'_>,
        _stale: &SecretValue,
    ) -> Result<(), RotationError> {
        Ok(())
    }
}

/// The rotators a key core can run, by name.
#[derive(Clone)]
pub struct Rotators(BTreeMap<&'static str, Arc<dyn Rotator>>);

impl Rotators {
    /// The built-in rotators: `random-token` and `keycore-access-key`.
    pub fn builtin() -> Self {
        Self(BTreeMap::new())
            .with(Arc::new(RandomToken))
            .with(Arc::new(KeycoreAccessKey))
    }

    /// These rotators and `rotator` (replacing one of the same name).
    pub fn with(mut self, rotator: Arc<dyn Rotator>) -> Self {
        self.0.insert(rotator.name(), rotator);
        self
    }

    pub(crate) fn get(&self, name: &str) -> Option<Arc<dyn Rotator>> {
        self.0.get(name).cloned()
    }
}

impl Default for Rotators {
    fn default() -> Self {
        Self::builtin()
    }
}

impl fmt::Debug for Rotators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// A secret whose value is a JSON object (the shape AWS's rotation templates use). Its string
/// members are zeroized on drop.
pub struct SecretJson(serde_json::Map<String, serde_json::Value>);

impl SecretJson {
    /// Parses a `SecretString` holding a JSON object.
    pub fn parse(value: &SecretValue) -> Result<Self, RotationError> {
        let not_json = || RotationError::new("the secret's value is not a JSON object");
        if value.is_binary() {
            return Err(not_json());
        }
        match serde_json::from_slice(value.expose_secret()) {
            Ok(serde_json::Value::Object(map)) => Ok(Self(map)),
            Ok(mut other) => {
                wipe(&mut other);
                Err(not_json())
            }
            Err(_) => Err(not_json()),
        }
    }

    /// A string member.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(serde_json::Value::as_str)
    }

    /// A string member that must be there.
    pub fn required(&self, key: &str) -> Result<&str, RotationError> {
        self.str(key).ok_or_else(|| {
            RotationError::new(format!("the secret's JSON has no string member {key:?}"))
        })
    }

    /// A member as given (a port may be a number or a string).
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.get(key)
    }

    /// Sets a string member, wiping what it held.
    pub fn set(&mut self, key: &str, value: String) {
        if let Some(mut old) = self
            .0
            .insert(key.to_owned(), serde_json::Value::String(value))
        {
            wipe(&mut old);
        }
    }

    /// Sets a string member to a new random password of `length` letters and digits: what a
    /// rotator's `createSecret` makes.
    pub fn set_random_password(&mut self, key: &str, length: usize) -> Result<(), RotationError> {
        let password = random_string(length, Alphabet::Alphanumeric)?;
        let password = String::from_utf8(password.expose_secret().to_vec())
            .map_err(|_| RotationError::new("the new password is not text"))?;
        self.set(key, password);
        Ok(())
    }

    /// The object as a `SecretString`, serialised straight into a buffer that zeroizes.
    pub fn to_value(&self) -> Result<SecretValue, RotationError> {
        let bytes = serde_json::to_vec(&self.0)
            .map_err(|e| RotationError::new(format!("cannot serialise the secret: {e}")))?;
        Ok(SecretValue::String(SecretBytes::new(bytes)))
    }
}

impl Drop for SecretJson {
    fn drop(&mut self) {
        for value in self.0.values_mut() {
            wipe(value);
        }
    }
}

impl fmt::Debug for SecretJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretJson")
            .field("members", &self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn wipe(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(wipe),
        serde_json::Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}
