//! Shapes several operations share.

use serde::{Deserialize, Serialize};

/// A request that names one key and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdRequest {
    /// Key id, key ARN, alias name or alias ARN.
    pub key_id: String,
}

impl KeyIdRequest {
    /// A request for `key_id`.
    pub fn new(key_id: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
        }
    }
}

/// A response with nothing to say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// The lifecycle state of a customer master key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable for every operation.
    Enabled,
    /// Refuses cryptographic operations until enabled again; immediate and reversible.
    Disabled,
    /// Waiting out its deletion window; cancellable (back to `Disabled`). When the window ends
    /// the key material of every version is destroyed.
    PendingDeletion,
    /// A key of origin `EXTERNAL` without key material: not yet imported, deleted, or expired.
    PendingImport,
}

impl KeyState {
    /// The AWS name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
            KeyState::PendingImport => "PendingImport",
        }
    }
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The tag's key.
    pub tag_key: String,
    /// The tag's value.
    pub tag_value: String,
}

/// How a key version came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RotationType {
    /// By the rotation schedule.
    Automatic,
    /// By `RotateKeyOnDemand`.
    OnDemand,
}
