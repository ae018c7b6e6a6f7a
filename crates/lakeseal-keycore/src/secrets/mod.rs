//! The secrets manager's resource: a secret, its versions and their staging labels, each
//! version's value sealed under a fresh data key of the secret's CMK.
//!
//! The rules live in small files of their own (`labels`: staging labels; `names`: names, ARNs,
//! tokens; `seal`: the envelope of a value); the operations are in `ops/secrets/`.

pub(crate) mod labels;
pub(crate) mod names;
pub(crate) mod schedule;
pub(crate) mod seal;

use std::collections::BTreeMap;

use lakeseal_kms_types::secrets::{AWSCURRENT, RotationRules, SecretTag, SecretValue};
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::policy::Policy;

pub(crate) use self::seal::Sealed;

/// When a rotation schedule next falls due after `after`, with the checks `RotateSecret`
/// makes: an invalid schedule is an `InvalidParameter` error.
pub fn next_rotation(rules: &RotationRules, after: Millis) -> crate::Result<Option<Millis>> {
    Ok(schedule::Schedule::parse(rules)?.next_after(after))
}

/// A secret as stored (its versions' values are stored apart, sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRecord {
    /// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>`.
    pub arn: String,
    /// Unique in the account while the secret exists (deletion window included).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The CMK as the caller named it; `None` for the account's default key.
    pub kms_key_id: Option<String>,
    /// When it was made.
    pub created: Millis,
    /// When it last changed (value, description, labels, tags, policy, rotation).
    pub last_changed: Millis,
    /// The day a value was last read.
    pub last_accessed: Option<Millis>,
    /// Tags, in the order given.
    pub tags: Vec<SecretTag>,
    /// The resource policy document.
    pub resource_policy: Option<String>,
    /// The rotator and its schedule, once `RotateSecret` has set them.
    pub rotation: Option<RotationConfig>,
    /// When a rotation last completed.
    pub last_rotated: Option<Millis>,
    /// When a scheduled deletion takes effect; reads are refused until then, `RestoreSecret`
    /// clears it.
    pub deletion_date: Option<Millis>,
    /// Every version not yet pruned, by id.
    pub versions: BTreeMap<String, VersionRecord>,
}

/// One version's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Its staging labels.
    pub stages: Vec<String>,
    /// When it was made.
    pub created: Millis,
    /// The day it was last read.
    pub last_accessed: Option<Millis>,
    /// The ARN of the CMK that sealed its data key.
    pub key_arn: String,
    /// `SecretBinary` rather than `SecretString`.
    pub binary: bool,
}

/// The rotator of a secret and when it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationConfig {
    /// `arn:<partition>:lakeseal:<region>:<account>:rotator/<name>`.
    pub rotator_arn: String,
    /// The schedule as the caller gave it.
    pub rules: RotationRules,
    /// Whether the schedule runs (`CancelRotateSecret` turns it off).
    pub enabled: bool,
    /// When the next rotation is due.
    pub next_rotation: Option<Millis>,
    /// The version a rotation the key core started and has not finished is making (it carries
    /// `AWSPENDING`): the next attempt with another token discards it and starts afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// Who set the rotation up (account, ARN): a rotator reads other secrets (a database's
    /// master secret) with this principal's permissions, never the key core's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configured_by: Option<(String, String)>,
}

impl labels::Labelled for VersionRecord {
    fn stages(&self) -> &Vec<String> {
        &self.stages
    }
    fn stages_mut(&mut self) -> &mut Vec<String> {
        &mut self.stages
    }
    fn created(&self) -> Millis {
        self.created
    }
}

impl SecretRecord {
    /// The id of the version `AWSCURRENT` is on, if the secret has a value.
    pub fn current_version(&self) -> Option<&str> {
        labels::holder(&self.versions, AWSCURRENT)
    }

    /// The version a read asks for: by id, by label, or `AWSCURRENT`.
    pub(crate) fn find_version(
        &self,
        version_id: Option<&str>,
        stage: Option<&str>,
    ) -> Option<(&str, &VersionRecord)> {
        let id = match version_id {
            Some(id) => id,
            None => labels::holder(&self.versions, stage.unwrap_or(AWSCURRENT))?,
        };
        let (id, version) = self.versions.get_key_value(id)?;
        if let Some(stage) = stage
            && !version.stages.iter().any(|s| s == stage)
        {
            return None;
        }
        Some((id.as_str(), version))
    }

    /// Adds version `token` and puts `stages` on it (taking each off the version that had it;
    /// `AWSCURRENT` hands `AWSPREVIOUS` to the version it leaves).
    pub(crate) fn add_version(
        &mut self,
        token: &str,
        value: &SecretValue,
        key_arn: String,
        stages: &[String],
        now: Millis,
    ) -> crate::Result<()> {
        self.versions.insert(
            token.to_owned(),
            VersionRecord {
                stages: Vec::new(),
                created: now,
                last_accessed: None,
                key_arn,
                binary: value.is_binary(),
            },
        );
        for stage in stages {
            labels::attach(&mut self.versions, stage, token)?;
        }
        Ok(())
    }

    /// Every version's labels, for `DescribeSecret` (versions without a label left out).
    pub fn version_stages(&self) -> BTreeMap<String, Vec<String>> {
        self.versions
            .iter()
            .filter(|(_, v)| !v.stages.is_empty())
            .map(|(id, v)| (id.clone(), v.stages.clone()))
            .collect()
    }
}

/// A secret ready to use: its record, its parsed resource policy and its sealed values.
#[derive(Debug, Clone)]
pub(crate) struct SecretEntry {
    pub(crate) record: SecretRecord,
    pub(crate) policy: Option<Policy>,
    /// By version id.
    pub(crate) sealed: BTreeMap<String, Sealed>,
}
