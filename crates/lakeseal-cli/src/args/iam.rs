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
    /// Bind a new token to a role for the credentials endpoint (keycore serve
    /// --credentials-listen) and write it to --token-file (mode 0600, a new file). The role's
    /// trust policy must name the identity (arn:aws:iam::ACCOUNT:workload-identity/NAME).
    CreateWorkloadIdentity(CreateWorkloadArgs),
    /// Give a workload identity a new token, written over --token-file; the old token is
    /// refused at once.
    RotateWorkloadIdentityToken(WorkloadTokenArgs),
    /// Delete a workload identity: its token is refused from now on.
    DeleteWorkloadIdentity(WorkloadNameArg),
    /// List workload identities (never their tokens).
    ListWorkloadIdentities,
}

#[derive(Debug, Args)]
pub(crate) struct CreateWorkloadArgs {
    /// The workload identity's name (the session name of the credentials it obtains).
    #[arg(long)]
    pub(crate) name: String,
    /// The role it obtains credentials of (name or ARN).
    #[arg(long)]
    pub(crate) role_name: String,
    /// Where to write its token (mode 0600, a new file).
    #[arg(long)]
    pub(crate) token_file: PathBuf,
    /// How long each issue of credentials lives (default 3600; at least the key core's
    /// shortest session, 900 unless its configuration lowers it).
    #[arg(long)]
    pub(crate) duration_seconds: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct WorkloadTokenArgs {
    /// The workload identity's name or ARN.
    #[arg(long)]
    pub(crate) name: String,
    /// The token file to replace (atomically, mode 0600).
    #[arg(long)]
    pub(crate) token_file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct WorkloadNameArg {
    /// The workload identity's name or ARN.
    #[arg(long)]
    pub(crate) name: String,
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
