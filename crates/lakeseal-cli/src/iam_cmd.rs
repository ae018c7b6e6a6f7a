//! `lakeseal iam …` against a data directory: users, access keys (written straight to a 0600
//! credentials file, never printed), roles, their policies and workload identities. With
//! `--endpoint-url` the same commands go to a running key core instead (`iam_remote`).

use anyhow::bail;
use lakeseal_keycore::iam::{Role, User};
use serde_json::json;

use crate::args::IamCmd;
use crate::credentials_file::write_credentials;
use crate::output::Output;
use crate::{Session, emit, workload};

pub(crate) async fn iam(s: &Session, cmd: IamCmd, out: Output) -> anyhow::Result<()> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    match cmd {
        IamCmd::CreateWorkloadIdentity(_)
        | IamCmd::RotateWorkloadIdentityToken(_)
        | IamCmd::DeleteWorkloadIdentity(_)
        | IamCmd::ListWorkloadIdentities => out.print(&workload::local(s, &cmd).await?),
        IamCmd::CreateUser(a) => {
            let account = a
                .account_id
                .unwrap_or_else(|| c.location().account_id.clone());
            let result = c.create_user_in(w, x, &account, &a.user_name).await;
            emit(out, result.map(|u| json!({ "User": u.aws() })))
        }
        IamCmd::CreateAccessKey(a) => {
            // The file first, the key second: a key whose secret could not be written is never
            // created; a file whose key could not be stored is removed again.
            let written = std::cell::Cell::new(false);
            let result = c
                .create_access_key_delivered(w, x, &a.user_name, |key| {
                    write_credentials(&a.credentials_file, &key.credentials_file(&a.profile))
                        .map_err(|e| format!("{e:#}"))?;
                    written.set(true);
                    Ok(())
                })
                .await;
            let key = match result {
                Ok(key) => key,
                Err(e) => {
                    if written.get() {
                        let _ = std::fs::remove_file(&a.credentials_file);
                    }
                    bail!("An error occurred ({}): {e}", e.code())
                }
            };
            out.print(&json!({
                "AccessKey": {
                    "UserName": a.user_name,
                    "AccessKeyId": key.access_key_id,
                    "Status": "Active",
                },
                "UserArn": key.owner_arn,
                "CredentialsFile": a.credentials_file.display().to_string(),
            }))
        }
        IamCmd::DeleteAccessKey(a) => {
            let result = c
                .delete_access_key(w, x, &a.user_name, &a.access_key_id)
                .await
                .map(|()| json!({}));
            emit(out, result)
        }
        IamCmd::ListAccessKeys(a) => {
            let result = c
                .list_access_keys(w, x, &a.user_name)
                .await
                .map(|keys| json!({ "AccessKeyMetadata": keys, "IsTruncated": false }));
            emit(out, result)
        }
        IamCmd::PutUserPolicy(a) => {
            let document = a.policy_document.text("--policy-document")?;
            let result = c
                .put_user_policy(w, x, &a.user_name, &a.policy_name, &document)
                .await
                .map(|()| json!({}));
            emit(out, result)
        }
        IamCmd::CreateRole(a) => {
            let trust = a
                .assume_role_policy_document
                .text("--assume-role-policy-document")?;
            let result = c.create_role(w, x, &a.role_name, &trust).await;
            emit(out, result.map(|r| json!({ "Role": r.aws() })))
        }
        IamCmd::PutRolePolicy(a) => {
            let document = a.policy_document.text("--policy-document")?;
            let result = c
                .put_role_policy(w, x, &a.role_name, &a.policy_name, &document)
                .await
                .map(|()| json!({}));
            emit(out, result)
        }
        IamCmd::List => {
            let users = c.list_users_of(w, x).await;
            let roles = c.list_roles_of(w, x).await;
            let result = users.and_then(|users| {
                Ok(json!({
                    "Users": users.iter().map(User::aws).collect::<Vec<_>>(),
                    "Roles": roles?.iter().map(Role::aws).collect::<Vec<_>>(),
                }))
            });
            emit(out, result)
        }
    }
}
