//! `lakeseal iam --endpoint-url URL …`: the same commands through a running key core's IAM API
//! (the query protocol boto3's `iam` client speaks), signed with an access key from the AWS
//! credentials file, for when the key core holds its data directory.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use lakeseal_envelope::SecretBytes;
use lakeseal_keyclient::{Remote, RemoteCredentials, TrustRoots};
use lakeseal_keycore::iam::NewAccessKey;
use serde_json::{Value, json};

use crate::args::IamCmd;
use crate::output::Output;

/// IAM is a global service: AWS SDKs sign it for this region, and the key core accepts that.
pub(crate) const IAM_REGION: &str = "us-east-1";

/// The credentials file as the AWS CLI finds it.
pub(crate) fn credentials_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
        return Ok(PathBuf::from(path));
    }
    let home =
        std::env::var_os("HOME").context("neither AWS_SHARED_CREDENTIALS_FILE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".aws/credentials"))
}

struct Api {
    remote: Remote,
}

impl Api {
    /// One action; its `<Action>Result` as JSON, or the refusal as the AWS CLI words it.
    async fn call(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
        match self.remote.query(("iam", IAM_REGION), action, params).await {
            Ok(mut answer) => Ok(answer
                .get_mut(format!("{action}Response"))
                .and_then(|r| r.get_mut(format!("{action}Result")))
                .map(Value::take)
                .filter(|v| v.is_object())
                .unwrap_or_else(|| json!({}))),
            Err(e) => Err(refusal(e)),
        }
    }
}

/// A client of the key core's IAM API at `endpoint` (verified against `ca_file`, else the
/// system's roots), signing with `profile`'s access key.
pub(crate) fn connect(
    endpoint: &str,
    profile: &str,
    ca_file: Option<&Path>,
) -> anyhow::Result<Remote> {
    let credentials = RemoteCredentials::from_file(&credentials_path()?, profile)?;
    Ok(Remote::with_roots(
        endpoint,
        IAM_REGION,
        credentials,
        &TrustRoots::from_ca_file(ca_file),
    )?)
}

/// An error of an IAM call as the AWS CLI words a refusal.
pub(crate) fn refusal(e: lakeseal_keyclient::Error) -> anyhow::Error {
    match e {
        lakeseal_keyclient::Error::Refused { code, message } => {
            anyhow::anyhow!("An error occurred ({code}): {message}")
        }
        e => e.into(),
    }
}

pub(crate) async fn iam(remote: Remote, cmd: IamCmd, out: Output) -> anyhow::Result<()> {
    let api = Api { remote };
    let answer = match cmd {
        IamCmd::CreateUser(a) => {
            if a.account_id.is_some() {
                bail!("--account-id (a user of another account) is offline only");
            }
            api.call("CreateUser", &[("UserName", &a.user_name)])
                .await?
        }
        IamCmd::CreateAccessKey(a) => {
            // The file first, so that a path that cannot be written makes no key; if the file
            // then cannot be filled, the key is deleted again.
            let file = crate::credentials_file::new_credentials_file(&a.credentials_file)?;
            let made = match api
                .call("CreateAccessKey", &[("UserName", &a.user_name)])
                .await
            {
                Ok(made) => made,
                Err(e) => {
                    let _ = std::fs::remove_file(&a.credentials_file);
                    return Err(e);
                }
            };
            let key = &made["AccessKey"];
            let id = key["AccessKeyId"]
                .as_str()
                .context("no AccessKeyId in the answer")?;
            // The secret's one copy here, besides the parsed answer (dropped below).
            let new_key = NewAccessKey {
                access_key_id: id.to_owned(),
                secret_access_key: SecretBytes::from(
                    key["SecretAccessKey"]
                        .as_str()
                        .context("no SecretAccessKey in the answer")?
                        .as_bytes(),
                ),
                owner_arn: String::new(),
            };
            let text = new_key.credentials_file(&a.profile);
            if let Err(e) =
                crate::credentials_file::fill_credentials(file, &a.credentials_file, &text)
            {
                let _ = std::fs::remove_file(&a.credentials_file);
                api.call(
                    "DeleteAccessKey",
                    &[("UserName", &a.user_name), ("AccessKeyId", id)],
                )
                .await?;
                return Err(e.context("the new access key was deleted again"));
            }
            json!({
                "AccessKey": {
                    "UserName": a.user_name,
                    "AccessKeyId": id,
                    "Status": key["Status"],
                    "CreateDate": key["CreateDate"],
                },
                "CredentialsFile": a.credentials_file.display().to_string(),
            })
        }
        IamCmd::DeleteAccessKey(a) => {
            let params = [
                ("UserName", a.user_name.as_str()),
                ("AccessKeyId", &a.access_key_id),
            ];
            api.call("DeleteAccessKey", &params).await?
        }
        IamCmd::ListAccessKeys(a) => {
            let keys = api
                .call("ListAccessKeys", &[("UserName", &a.user_name)])
                .await?;
            json!({ "AccessKeyMetadata": list(&keys["AccessKeyMetadata"]), "IsTruncated": false })
        }
        IamCmd::PutUserPolicy(a) => {
            let document = a.policy_document.text("--policy-document")?;
            let params = [
                ("UserName", a.user_name.as_str()),
                ("PolicyName", &a.policy_name),
                ("PolicyDocument", &document),
            ];
            api.call("PutUserPolicy", &params).await?
        }
        IamCmd::CreateRole(a) => {
            let trust = a
                .assume_role_policy_document
                .text("--assume-role-policy-document")?;
            let params = [
                ("RoleName", a.role_name.as_str()),
                ("AssumeRolePolicyDocument", &trust),
            ];
            api.call("CreateRole", &params).await?
        }
        IamCmd::PutRolePolicy(a) => {
            let document = a.policy_document.text("--policy-document")?;
            let params = [
                ("RoleName", a.role_name.as_str()),
                ("PolicyName", &a.policy_name),
                ("PolicyDocument", &document),
            ];
            api.call("PutRolePolicy", &params).await?
        }
        IamCmd::List => {
            let users = api.call("ListUsers", &[]).await?;
            let roles = api.call("ListRoles", &[]).await?;
            json!({ "Users": list(&users["Users"]), "Roles": list(&roles["Roles"]) })
        }
        IamCmd::CreateWorkloadIdentity(a) => {
            let file = crate::credentials_file::new_credentials_file(&a.token_file)?;
            let duration = a.duration_seconds.map(|d| d.to_string());
            let mut params = vec![
                ("WorkloadIdentityName", a.name.as_str()),
                ("RoleName", &a.role_name),
            ];
            if let Some(d) = &duration {
                params.push(("DurationSeconds", d));
            }
            let mut made = match api.call("CreateWorkloadIdentity", &params).await {
                Ok(made) => made,
                Err(e) => {
                    let _ = std::fs::remove_file(&a.token_file);
                    return Err(e);
                }
            };
            let token = take_token(&mut made)?;
            if let Err(e) = crate::credentials_file::fill_credentials(file, &a.token_file, &token) {
                let _ = std::fs::remove_file(&a.token_file);
                api.call(
                    "DeleteWorkloadIdentity",
                    &[("WorkloadIdentityName", &a.name)],
                )
                .await?;
                return Err(e.context("the new workload identity was deleted again"));
            }
            json!({
                "WorkloadIdentity": made["WorkloadIdentity"],
                "TokenFile": a.token_file.display().to_string(),
            })
        }
        IamCmd::RotateWorkloadIdentityToken(a) => {
            let mut made = api
                .call(
                    "RotateWorkloadIdentityToken",
                    &[("WorkloadIdentityName", &a.name)],
                )
                .await?;
            let token = take_token(&mut made)?;
            crate::workload::replace_token_file(&a.token_file, &token)?;
            json!({ "TokenFile": a.token_file.display().to_string() })
        }
        IamCmd::DeleteWorkloadIdentity(a) => {
            api.call(
                "DeleteWorkloadIdentity",
                &[("WorkloadIdentityName", &a.name)],
            )
            .await?
        }
        IamCmd::ListWorkloadIdentities => {
            let all = api.call("ListWorkloadIdentities", &[]).await?;
            json!({ "WorkloadIdentities": list(&all["WorkloadIdentities"]) })
        }
    };
    out.print(&answer)
}

/// The new token of an answer, taken out of it (the parsed answer keeps no copy).
fn take_token(answer: &mut Value) -> anyhow::Result<SecretBytes> {
    match answer.get_mut("Token").map(Value::take) {
        Some(Value::String(token)) => Ok(SecretBytes::new(token.into_bytes())),
        _ => bail!("no Token in the answer"),
    }
}

/// An XML list as JSON: an empty one comes as an empty string.
fn list(value: &Value) -> Value {
    match value {
        Value::Array(_) => value.clone(),
        _ => json!([]),
    }
}
