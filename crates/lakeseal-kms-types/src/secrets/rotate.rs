//! `RotateSecret` and `CancelRotateSecret`.

use serde::{Deserialize, Serialize};

use super::{RotationRules, SecretRef};

/// `RotateSecret` request: sets the rotator and schedule, and rotates now unless told not to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotateSecretRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// The new version's id.
    #[serde(default)]
    pub client_request_token: Option<String>,
    /// The built-in rotator, `arn:<partition>:lakeseal:<region>:<account>:rotator/<name>`.
    #[serde(rename = "RotationLambdaARN", default)]
    pub rotation_lambda_arn: Option<String>,
    /// The schedule.
    #[serde(default)]
    pub rotation_rules: Option<RotationRules>,
    /// Rotate now (the default) rather than at the next scheduled time.
    #[serde(default)]
    pub rotate_immediately: Option<bool>,
}

/// `RotateSecret` and `CancelRotateSecret` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateSecretResponse {
    /// The secret.
    #[serde(flatten)]
    pub secret: SecretRef,
    /// The version the rotation made (or was making).
    #[serde(rename = "VersionId", default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}
