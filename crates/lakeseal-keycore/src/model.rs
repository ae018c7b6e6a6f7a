//! What the key core keeps about each key and alias (the durable records, minus key material).

use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::key_spec::{KeySpec, KeyUsage, Origin};
use crate::state::KeyState;

pub use lakeseal_kms_types::{RotationType, Tag};

/// One completed rotation: the version it made primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// The new primary version.
    pub version: u32,
    /// When.
    pub date: Millis,
    /// Why.
    pub kind: RotationType,
}

/// A customer master key's metadata as stored (its key material is stored apart, sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id (a UUID).
    pub key_id: String,
    /// Free text from the creator.
    pub description: String,
    /// Symmetric, RSA or ECC, and its size (records from before asymmetric keys are
    /// symmetric).
    #[serde(default)]
    pub key_spec: KeySpec,
    /// What the key is for.
    #[serde(default)]
    pub key_usage: KeyUsage,
    /// Made here, or imported.
    #[serde(default)]
    pub origin: Origin,
    /// Imported material: when it expires (`None`: it does not, or there is none).
    #[serde(default)]
    pub valid_to: Option<Millis>,
    /// Imported material: a fingerprint of the first material imported, so that a reimport
    /// after deletion or expiry takes only the same material (see [`crate::import`]).
    #[serde(default)]
    pub material_fingerprint: Option<String>,
    /// The PKCS#11 key store that holds the key's material (origin `AWS_CLOUDHSM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    /// When the key was created.
    pub creation_date: Millis,
    /// The lifecycle state.
    pub state: KeyState,
    /// When a key pending deletion is destroyed.
    pub deletion_date: Option<Millis>,
    /// The deletion window asked for, in days.
    pub pending_window_days: Option<u32>,
    /// Tags, in the order set.
    pub tags: Vec<Tag>,
    /// The key policy document, kept for the server to enforce.
    pub policy: String,
    /// The version that encrypts; every version up to it decrypts.
    pub primary_version: u32,
    /// The automatic-rotation period in days; `None` when automatic rotation is off.
    pub rotation_period_days: Option<u32>,
    /// When automatic rotation next runs.
    pub next_rotation: Option<Millis>,
    /// Every rotation so far, oldest first.
    pub rotations: Vec<Rotation>,
}

/// An alias: a friendly name for a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// `alias/...`.
    pub name: String,
    /// The key it points at.
    pub target_key_id: String,
    /// When it was created.
    pub creation_date: Millis,
    /// When it was last pointed elsewhere.
    pub last_updated_date: Millis,
}

/// A key's identity: what it is called and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The ARN partition, `aws` unless configured otherwise.
    pub partition: String,
    /// The key core's one region.
    pub region: String,
    /// The account that owns the keys.
    pub account_id: String,
}

/// What a key identifier names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyName<'a> {
    /// A key id or key ARN.
    Key(&'a str),
    /// An alias name or alias ARN, as `alias/...`.
    Alias(&'a str),
}

impl Location {
    /// The ARN of a key.
    pub fn key_arn(&self, key_id: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/{key_id}",
            self.partition, self.region, self.account_id
        )
    }

    /// The ARN of an alias (`alias/...`).
    pub fn alias_arn(&self, alias: &str) -> String {
        format!(
            "arn:{}:kms:{}:{}:{alias}",
            self.partition, self.region, self.account_id
        )
    }

    /// Splits a key identifier — key id, key ARN, alias name or alias ARN — into what it names.
    /// An ARN of another partition, region or account names nothing here.
    pub(crate) fn parse<'a>(&self, identifier: &'a str) -> Option<KeyName<'a>> {
        let resource = match identifier.strip_prefix("arn:") {
            None => identifier,
            Some(rest) => {
                let mut parts = rest.splitn(5, ':');
                let (partition, service, region, account, resource) = (
                    parts.next()?,
                    parts.next()?,
                    parts.next()?,
                    parts.next()?,
                    parts.next()?,
                );
                if partition != self.partition
                    || service != "kms"
                    || region != self.region
                    || account != self.account_id
                {
                    return None;
                }
                if let Some(id) = resource.strip_prefix("key/") {
                    return Some(KeyName::Key(id));
                }
                if !resource.starts_with("alias/") {
                    return None;
                }
                resource
            }
        };
        if resource.starts_with("alias/") {
            Some(KeyName::Alias(resource))
        } else {
            Some(KeyName::Key(resource))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Location {
        Location {
            partition: "aws".into(),
            region: "eu-west-1".into(),
            account_id: "111122223333".into(),
        }
    }

    #[test]
    fn identifiers_parse() {
        let loc = here();
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert_eq!(loc.parse(id), Some(KeyName::Key(id)));
        assert_eq!(loc.parse(&loc.key_arn(id)), Some(KeyName::Key(id)));
        assert_eq!(loc.parse("alias/x"), Some(KeyName::Alias("alias/x")));
        assert_eq!(
            loc.parse(&loc.alias_arn("alias/x")),
            Some(KeyName::Alias("alias/x"))
        );
    }

    #[test]
    fn other_regions_accounts_and_services_name_nothing() {
        let loc = here();
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let elsewhere = format!("arn:aws:kms:us-east-1:111122223333:key/{id}");
        assert_eq!(loc.parse(&elsewhere), None);
        let other_account = format!("arn:aws:kms:eu-west-1:999999999999:key/{id}");
        assert_eq!(loc.parse(&other_account), None);
        assert_eq!(loc.parse("arn:aws:s3:eu-west-1:111122223333:key/x"), None);
        assert_eq!(loc.parse("arn:aws:kms"), None);
    }
}
