//! `GetSecretValue` and `BatchGetSecretValue`: the only operations that answer with a value.

use lakeseal_envelope::SecretBytes;
use serde::{Deserialize, Serialize};

use super::describe::Filter;
use crate::Millis;
use crate::wire::{epoch_seconds, secret_b64_opt, secret_str_opt};

/// `GetSecretValue` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretValueRequest {
    /// The secret's name or ARN.
    pub secret_id: String,
    /// A version by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// A version by label; `AWSCURRENT` when neither is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_stage: Option<String>,
}

/// `GetSecretValue` response (and one entry of `BatchGetSecretValue`'s).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetSecretValueResponse {
    /// The secret's ARN.
    #[serde(rename = "ARN")]
    pub arn: String,
    /// The secret's name.
    pub name: String,
    /// The version read.
    pub version_id: String,
    /// The value, when it is text.
    #[serde(
        default,
        with = "secret_str_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_string: Option<SecretBytes>,
    /// The value, when it is binary.
    #[serde(
        default,
        with = "secret_b64_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret_binary: Option<SecretBytes>,
    /// The version's labels.
    pub version_stages: Vec<String>,
    /// When the version was made.
    #[serde(with = "epoch_seconds")]
    pub created_date: Millis,
}

/// `BatchGetSecretValue` request: a list of secrets, or filters, not both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueRequest {
    /// Up to 20 names or ARNs.
    #[serde(default)]
    pub secret_id_list: Option<Vec<String>>,
    /// As `ListSecrets`'s.
    #[serde(default)]
    pub filters: Option<Vec<Filter>>,
    /// With filters: at most this many per page (1–20).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// With filters: the page after the one that returned it.
    #[serde(default)]
    pub next_token: Option<String>,
}

/// A secret of a batch that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchError {
    /// As the caller named it.
    pub secret_id: String,
    /// The error name `GetSecretValue` would have answered with.
    pub error_code: String,
    /// Why.
    pub message: String,
}

/// `BatchGetSecretValue` response.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BatchGetSecretValueResponse {
    /// The values read.
    pub secret_values: Vec<GetSecretValueResponse>,
    /// The secrets that could not be.
    pub errors: Vec<BatchError>,
    /// The next page, with filters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}
