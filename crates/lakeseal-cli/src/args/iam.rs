//! `lakeseal iam …`: users, access keys, roles and their policies.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::input::{self, Source};

#[derive(Debug, Args)]
pub(crate) struct IamArgs {
    /// Act through the key core serving at this URL (the IAM API, signed with --profile's
    /// access key from AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) instead of opening the
    /// data directory, which a running key core holds.
    #[arg(long, global = true)]
    pub(crate) endpoint_url: Option<String>,
    /// The profile of the credentials file that signs requests to --endpoint-url.
    #[arg(long, global = true, default_value = "default", env = "AWS_PROFILE")]
    pub(crate) profile: String,
    #[command(subcommand)]
    pub(crate) cmd: IamCmd,
}

#[derive(Debug, Subcommand)]
pub(crate) enum IamCmd {
    /// Create a user in the key core's account (or --account-id).
    CreateUser(UserArgs),
    /// Make an access key for a user and write it to --credentials-file (mode 0600, a new
    /// file): the key exists only once the file holds it.
    CreateAccessKey(AccessKeyArgs),
    /// Delete an access key: requests signed with it are refused from now on.
    DeleteAccessKey(DeleteAccessKeyArgs),
    /// List a user's access keys (ids and dates; secrets are never shown again).
    ListAccessKeys(UserNameArg),
    /// Set an inline identity policy of a user.
    PutUserPolicy(PutPolicyArgs),
    /// Create a role that the principals of its trust policy may assume (sts:AssumeRole).
    CreateRole(RoleArgs),
    /// Set an inline identity policy of a role.
    PutRolePolicy(PutRolePolicyArgs),
    /// List users and roles.
    List,
}

#[derive(Debug, Args)]
pub(crate) struct RoleArgs {
    /// The role's name.
    #[arg(long)]
    pub(crate) role_name: String,
    /// Who may assume it: inline JSON, file://PATH, fileb://PATH or - (standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) assume_role_policy_document: Source,
}

#[derive(Debug, Args)]
pub(crate) struct PutRolePolicyArgs {
    /// The role's name or ARN.
    #[arg(long)]
    pub(crate) role_name: String,
    /// The policy's name.
    #[arg(long)]
    pub(crate) policy_name: String,
    /// The policy document: inline JSON, file://PATH, fileb://PATH or - (standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) policy_document: Source,
}

#[derive(Debug, Args)]
pub(crate) struct UserArgs {
    /// The user's name.
    #[arg(long)]
    pub(crate) user_name: String,
    /// Another 12-digit account, for callers from outside.
    #[arg(long)]
    pub(crate) account_id: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct AccessKeyArgs {
    /// The user's name or ARN.
    #[arg(long)]
    pub(crate) user_name: String,
    /// Where to write the key, in the AWS credentials-file format.
    #[arg(long)]
    pub(crate) credentials_file: PathBuf,
    /// The profile name in that file.
    #[arg(long, default_value = "default")]
    pub(crate) profile: String,
}

#[derive(Debug, Args)]
pub(crate) struct DeleteAccessKeyArgs {
    /// The user's name or ARN.
    #[arg(long)]
    pub(crate) user_name: String,
    /// The access key id (AKIA...).
    #[arg(long)]
    pub(crate) access_key_id: String,
}

#[derive(Debug, Args)]
pub(crate) struct UserNameArg {
    /// The user's name or ARN.
    #[arg(long)]
    pub(crate) user_name: String,
}

#[derive(Debug, Args)]
pub(crate) struct PutPolicyArgs {
    /// The user's name or ARN.
    #[arg(long)]
    pub(crate) user_name: String,
    /// The policy's name.
    #[arg(long)]
    pub(crate) policy_name: String,
    /// The policy document: inline JSON, file://PATH, fileb://PATH or - (standard input).
    #[arg(long, value_parser = input::source)]
    pub(crate) policy_document: Source,
}
