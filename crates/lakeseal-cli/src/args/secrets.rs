//! `lakeseal secret …`: the secrets manager, with the `aws secretsmanager` flag names.
//!
//! A value goes in only as `file://PATH`, `fileb://PATH` or `-` (standard input), never inline:
//! an argument is visible to every process on the machine (`ps`) and stays in shell history.

use clap::{Args, Subcommand};
use lakeseal_kms_types::secrets::{RotationRules, SecretTag};

use crate::input::{self, Source};

#[derive(Debug, Args)]
pub(crate) struct SecretArgs {
    /// Act through the key core serving at this URL (signed with --profile's access key from
    /// AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) instead of opening the data
    /// directory, which a running key core holds.
    #[arg(long, global = true)]
    pub(crate) endpoint_url: Option<String>,
    /// The profile of the credentials file that signs requests to --endpoint-url.
    #[arg(long, global = true, default_value = "default", env = "AWS_PROFILE")]
    pub(crate) profile: String,
    /// The key core's region, which requests to --endpoint-url are signed for.
    #[arg(long, global = true, env = "AWS_REGION")]
    pub(crate) region: Option<String>,
    #[command(subcommand)]
    pub(crate) cmd: SecretCmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SecretCmd {
    /// Create a secret, with its first value when one is given.
    Create(CreateSecretArgs),
    /// Print a version's value (AWSCURRENT unless --version-id or --version-stage).
    Get(GetSecretArgs),
    /// Add a version (labelled AWSCURRENT unless --version-stages).
    Put(PutSecretArgs),
    /// A secret's metadata, versions and labels, rotation — never a value.
    Describe(SecretIdArg),
    /// List secrets (metadata only).
    List(ListSecretsArgs),
    /// Set the rotator and schedule, and rotate now unless --no-rotate-immediately.
    Rotate(RotateSecretArgs),
    /// Turn scheduled rotation off.
    CancelRotation(SecretIdArg),
    /// Delete after --recovery-window-in-days (7-30, default 30), or at once with
    /// --force-delete-without-recovery.
    Delete(DeleteSecretArgs),
    /// Cancel a scheduled deletion.
    Restore(SecretIdArg),
    /// Move, add or remove one staging label.
    UpdateStage(UpdateStageArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SecretIdArg {
    /// The secret's name or ARN.
    #[arg(long)]
    pub(crate) secret_id: String,
}

/// A value: `--secret-string` (text) or `--secret-binary` (bytes), each `file://PATH`,
/// `fileb://PATH` or `-`.
#[derive(Debug, Args)]
pub(crate) struct ValueArgs {
    /// The value as text: file://PATH or - (standard input); never inline.
    #[arg(long, value_parser = input::source, conflicts_with = "secret_binary")]
    pub(crate) secret_string: Option<Source>,
    /// The value as bytes: fileb://PATH or - (standard input); never inline.
    #[arg(long, value_parser = input::source)]
    pub(crate) secret_binary: Option<Source>,
}

#[derive(Debug, Args)]
pub(crate) struct CreateSecretArgs {
    /// The secret's name.
    #[arg(long)]
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) value: ValueArgs,
    /// Free text.
    #[arg(long)]
    pub(crate) description: Option<String>,
    /// The CMK that seals its values (default: the account's alias/aws/secretsmanager).
    #[arg(long)]
    pub(crate) kms_key_id: Option<String>,
    /// Tags, `Key=k,Value=v` each.
    #[arg(long, num_args = 1.., value_parser = parse_tag)]
    pub(crate) tags: Vec<SecretTag>,
    /// The first version's id (32-64 characters); a retry with the same one is idempotent.
    #[arg(long)]
    pub(crate) client_request_token: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct GetSecretArgs {
    /// The secret's name or ARN.
    #[arg(long)]
    pub(crate) secret_id: String,
    /// The version to read.
    #[arg(long)]
    pub(crate) version_id: Option<String>,
    /// The label of the version to read (AWSCURRENT, AWSPREVIOUS, AWSPENDING …).
    #[arg(long)]
    pub(crate) version_stage: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PutSecretArgs {
    /// The secret's name or ARN.
    #[arg(long)]
    pub(crate) secret_id: String,
    #[command(flatten)]
    pub(crate) value: ValueArgs,
    /// The labels of the new version (default AWSCURRENT).
    #[arg(long, num_args = 1..)]
    pub(crate) version_stages: Option<Vec<String>>,
    /// The new version's id; the same token with the same value is idempotent.
    #[arg(long)]
    pub(crate) client_request_token: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ListSecretsArgs {
    /// Include secrets waiting out their deletion window.
    #[arg(long)]
    pub(crate) include_planned_deletion: bool,
    /// Results per page (1-100).
    #[arg(long)]
    pub(crate) max_results: Option<u32>,
    /// The NextToken of the previous page.
    #[arg(long)]
    pub(crate) next_token: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RotateSecretArgs {
    /// The secret's name or ARN.
    #[arg(long)]
    pub(crate) secret_id: String,
    /// The rotator: arn:<partition>:lakeseal:<region>:<account>:rotator/<name>, with <name>
    /// random-token, keycore-access-key, postgresql-alternating-users or kafka-scram-user.
    #[arg(long = "rotation-lambda-arn")]
    pub(crate) rotation_lambda_arn: Option<String>,
    /// The schedule as JSON, e.g. '{"AutomaticallyAfterDays":30}' or
    /// '{"ScheduleExpression":"cron(0 4 ? * SUN *)","Duration":"2h"}'.
    #[arg(long, value_parser = parse_rules)]
    pub(crate) rotation_rules: Option<RotationRules>,
    /// Only set the schedule; the first rotation happens when it falls due.
    #[arg(long)]
    pub(crate) no_rotate_immediately: bool,
    /// The new version's id.
    #[arg(long)]
    pub(crate) client_request_token: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteSecretArgs {
    /// The secret's name or ARN.
    #[arg(long)]
    pub(crate) secret_id: String,
    /// Days before the secret is erased (7-30, default 30).
    #[arg(long, conflicts_with = "force_delete_without_recovery")]
    pub(crate) recovery_window_in_days: Option<u32>,
    /// Erase now, with no way back.
    #[arg(long)]
    pub(crate) force_delete_without_recovery: bool,
}

#[derive(Debug, Args)]
pub(crate) struct UpdateStageArgs {
    /// The secret's name or ARN.
    #[arg(long)]
    pub(crate) secret_id: String,
    /// The label.
    #[arg(long)]
    pub(crate) version_stage: String,
    /// The version to put it on.
    #[arg(long)]
    pub(crate) move_to_version_id: Option<String>,
    /// The version that has it now.
    #[arg(long)]
    pub(crate) remove_from_version_id: Option<String>,
}

/// `Key=k,Value=v`, the `aws secretsmanager` shorthand.
fn parse_tag(text: &str) -> Result<SecretTag, String> {
    let (mut key, mut value) = (None, None);
    for part in text.split(',') {
        match part.split_once('=') {
            Some(("Key", k)) => key = Some(k.to_owned()),
            Some(("Value", v)) => value = Some(v.to_owned()),
            _ => return Err(format!("{part:?}: expected Key=k,Value=v")),
        }
    }
    Ok(SecretTag {
        key: key.ok_or("Key is missing")?,
        value: value.unwrap_or_default(),
    })
}

fn parse_rules(text: &str) -> Result<RotationRules, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "expected JSON such as {{\"AutomaticallyAfterDays\":30}} or \
             {{\"ScheduleExpression\":\"rate(10 days)\"}}: {e}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_rules_parse() {
        let t = parse_tag("Key=team,Value=iot").unwrap();
        assert_eq!((t.key.as_str(), t.value.as_str()), ("team", "iot"));
        assert!(parse_tag("team=iot").is_err());
        let r = parse_rules(r#"{"ScheduleExpression":"rate(10 days)","Duration":"3h"}"#).unwrap();
        assert_eq!(r.schedule_expression.as_deref(), Some("rate(10 days)"));
        assert!(parse_rules("AutomaticallyAfterDays=30").is_err());
    }
}
