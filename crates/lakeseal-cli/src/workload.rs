//! `lakeseal iam create-workload-identity` and friends: the tokens of the credentials endpoint,
//! written to files only their owner can read, never printed.

use std::path::Path;

use anyhow::Context;
use lakeseal_envelope::SecretBytes;
use lakeseal_keycore::iam::WorkloadIdentity;
use serde_json::{Value, json};

use crate::Session;
use crate::args::IamCmd;
use crate::credentials_file::{fill_credentials, new_credentials_file};

/// Runs a workload-identity command on an opened data directory.
pub(crate) async fn local(s: &Session, cmd: &IamCmd) -> anyhow::Result<Value> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    let failed =
        |e: lakeseal_keycore::Error| anyhow::anyhow!("An error occurred ({}): {e}", e.code());
    match cmd {
        IamCmd::CreateWorkloadIdentity(a) => {
            // The file first, so that a path that cannot be written makes no identity.
            let file = match new_credentials_file(&a.token_file) {
                Ok(file) => file,
                Err(e) => return Err(e),
            };
            match c
                .create_workload_identity(w, x, &a.name, &a.role_name, a.duration_seconds)
                .await
            {
                Ok((workload, token)) => match fill_credentials(file, &a.token_file, &token) {
                    Ok(()) => Ok(created(&workload, &a.token_file)),
                    Err(e) => {
                        let _ = std::fs::remove_file(&a.token_file);
                        let _ = c.delete_workload_identity(w, x, &a.name).await;
                        Err(e.context("the new workload identity was deleted again"))
                    }
                },
                Err(e) => {
                    let _ = std::fs::remove_file(&a.token_file);
                    Err(failed(e))
                }
            }
        }
        IamCmd::RotateWorkloadIdentityToken(a) => {
            match c.rotate_workload_token(w, x, &a.name).await {
                Ok(token) => replace_token_file(&a.token_file, &token)
                    .map(|()| json!({ "TokenFile": a.token_file.display().to_string() })),
                Err(e) => Err(failed(e)),
            }
        }
        IamCmd::DeleteWorkloadIdentity(a) => c
            .delete_workload_identity(w, x, &a.name)
            .await
            .map(|()| json!({}))
            .map_err(failed),
        IamCmd::ListWorkloadIdentities => c
            .list_workload_identities(w, x)
            .await
            .map(|all| {
                json!({ "WorkloadIdentities": all.iter().map(WorkloadIdentity::aws).collect::<Vec<_>>() })
            })
            .map_err(failed),
        other => Err(anyhow::anyhow!("{other:?} is not a workload-identity command")),
    }
}

/// What `create-workload-identity` prints: the identity and where its token is, never the token.
pub(crate) fn created(workload: &WorkloadIdentity, token_file: &Path) -> Value {
    json!({
        "WorkloadIdentity": workload.aws(),
        "TokenFile": token_file.display().to_string(),
    })
}

/// Replaces the token in `path` atomically (a new 0600 file beside it, synced, renamed over it):
/// a reader sees the old token or the new one, never half of either.
pub(crate) fn replace_token_file(path: &Path, token: &SecretBytes) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    let mut staged = name.to_owned();
    staged.push(".new");
    let staged = path.with_file_name(staged);
    let _ = std::fs::remove_file(&staged);
    fill_credentials(new_credentials_file(&staged)?, &staged, token)?;
    std::fs::rename(&staged, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
    }
    Ok(())
}
