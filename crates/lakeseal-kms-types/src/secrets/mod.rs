//! The AWS Secrets Manager shapes (`X-Amz-Target: secretsmanager.<Operation>`, JSON 1.1), one
//! module per family of operations, and the pieces they share: tags, rotation rules, the value
//! of a version.
//!
//! A value travels as `SecretString` (text) or `SecretBinary` (base64), never both; either way
//! it is held in a [`SecretBytes`] that is wiped on drop.

pub mod describe;
pub mod manage;
pub mod read;
pub mod rotate;
pub mod write;

use lakeseal_envelope::SecretBytes;
use serde::{Deserialize, Serialize};

/// The most bytes a secret's value may hold, as in AWS.
pub const MAX_SECRET_BYTES: usize = 65_536;

/// The label of the version clients read by default.
pub const AWSCURRENT: &str = "AWSCURRENT";
/// The label the version that was current before the last change keeps.
pub const AWSPREVIOUS: &str = "AWSPREVIOUS";
/// The label of a version a rotation is preparing.
pub const AWSPENDING: &str = "AWSPENDING";

/// A secret's tag (`Key`/`Value`, unlike KMS's `TagKey`/`TagValue`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretTag {
    /// The tag's key.
    pub key: String,
    /// The tag's value.
    #[serde(default)]
    pub value: String,
}

/// When a secret rotates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationRules {
    /// Rotate this many days after the last rotation (1–1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatically_after_days: Option<u32>,
    /// `rate(<n> hours|days)` or `cron(<min> <hour> <day-of-month> <month> <day-of-week> <year>)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    /// The window the rotation may start in, e.g. `3h` (`<n>h`, 1–24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// A version's value: text or bytes.
#[derive(Debug)]
pub enum SecretValue {
    /// `SecretString`: UTF-8 text (often a JSON document).
    String(SecretBytes),
    /// `SecretBinary`: any bytes.
    Binary(SecretBytes),
}

impl SecretValue {
    /// The value's bytes.
    pub fn expose_secret(&self) -> &[u8] {
        match self {
            SecretValue::String(b) | SecretValue::Binary(b) => b.expose_secret(),
        }
    }

    /// Whether it is `SecretBinary`.
    pub fn is_binary(&self) -> bool {
        matches!(self, SecretValue::Binary(_))
    }

    /// The value from a request's two members: at most one may be given. `Ok(None)` when
    /// neither is.
    pub fn from_members(
        string: Option<SecretBytes>,
        binary: Option<SecretBytes>,
    ) -> Result<Option<Self>, &'static str> {
        match (string, binary) {
            (Some(_), Some(_)) => {
                Err("you can't specify both a binary secret value and a string secret value")
            }
            (Some(s), None) => Ok(Some(SecretValue::String(s))),
            (None, Some(b)) => Ok(Some(SecretValue::Binary(b))),
            (None, None) => Ok(None),
        }
    }

    /// The value as a response's two members, `(SecretString, SecretBinary)`.
    pub fn into_members(self) -> (Option<SecretBytes>, Option<SecretBytes>) {
        match self {
            SecretValue::String(s) => (Some(s), None),
            SecretValue::Binary(b) => (None, Some(b)),
        }
    }
}

/// The name and ARN most responses carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    /// The secret's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The secret's name.
    #[serde(rename = "Name")]
    pub name: String,
}

/// A request that names one secret and nothing else (`DescribeSecret`, `RestoreSecret`,
/// `GetResourcePolicy`, `DeleteResourcePolicy`, `CancelRotateSecret`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretIdRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
}

impl SecretIdRequest {
    /// A request for `secret_id`.
    pub fn new(secret_id: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
        }
    }
}
