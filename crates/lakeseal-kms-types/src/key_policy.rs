//! `GetKeyPolicy`, `PutKeyPolicy`, `ListKeyPolicies`.

use serde::{Deserialize, Serialize};

/// `GetKeyPolicy` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyRequest {
    /// The key.
    pub key_id: String,
    /// Only `default`; `default` when absent.
    #[serde(default)]
    pub policy_name: Option<String>,
}

/// `GetKeyPolicy` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    /// The policy document.
    pub policy: String,
    /// `default`.
    pub policy_name: String,
}

/// `PutKeyPolicy` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutKeyPolicyRequest {
    /// The key.
    pub key_id: String,
    /// Only `default`; `default` when absent.
    #[serde(default)]
    pub policy_name: Option<String>,
    /// The new policy document.
    pub policy: String,
    /// Skips the policy lockout safety check: the new policy may then leave nobody able to
    /// change it again.
    #[serde(default)]
    pub bypass_policy_lockout_safety_check: bool,
}

/// `ListKeyPolicies` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    /// Always `["default"]`.
    pub policy_names: Vec<String>,
    /// Always false.
    pub truncated: bool,
}
