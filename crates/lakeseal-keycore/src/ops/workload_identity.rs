//! Workload identities: what the credentials endpoint trades for a role's short-lived
//! credentials, as the ECS agent does for a task.
//!
//! A workload identity binds one authorisation token to one role. The token can do exactly one
//! thing: obtain that role's temporary credentials, each time checked against the role's trust
//! policy (which must name the identity's ARN) and audited under the identity's ARN. It signs
//! nothing, reads no key or secret, and cannot be exchanged for a longer-lived credential; a
//! leaked token is worth what the role's credentials are, for as long as it is not rotated or
//! the identity deleted. Only its SHA-256 is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lakeseal_envelope::{SecretBytes, random_bytes};
use subtle::ConstantTimeEq;

use crate::iam::{SessionCredentials, WorkloadIdentity, sha256_hex, valid_name};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

/// How long a workload's credentials live unless it was created with another duration.
pub const DEFAULT_WORKLOAD_SESSION_SECONDS: u32 = 3600;

impl KeyCore {
    /// Creates a workload identity for `role` (a name or ARN of this account) and returns it
    /// with its token: the only time the token is seen. The role's trust policy must already
    /// allow the identity's ARN to `sts:AssumeRole`.
    pub async fn create_workload_identity(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        name: &str,
        role: &str,
        duration_seconds: Option<u32>,
    ) -> Result<(WorkloadIdentity, SecretBytes)> {
        self.iam_change(who, ctx, "CreateWorkloadIdentity", |core, state| {
            if !valid_name(name) || name.len() < 2 {
                return Err(Error::Validation(format!(
                    "workload identity name {name:?} must be 2-64 of a-z A-Z 0-9 +=,.@_-"
                )));
            }
            let seconds = duration_seconds.unwrap_or(DEFAULT_WORKLOAD_SESSION_SECONDS);
            core.check_session_seconds(seconds)?;
            let role = core.find_role(state, role)?.clone();
            let account_id = core.location().account_id.clone();
            let arn = core.workload_arn(name);
            if state.workloads.contains_key(&arn) {
                return Err(Error::AlreadyExists(format!(
                    "workload identity {name} already exists"
                )));
            }
            let identity = Principal {
                account_id: account_id.clone(),
                arn: arn.clone(),
                access_key_id: None,
            };
            // Refused now rather than at the first request for credentials.
            core.authorize_assume(
                state,
                &core.call("CreateWorkloadIdentity", &identity, ctx),
                &role,
            )
            .map_err(|_| {
                Error::Validation(format!(
                    "the trust policy of {} does not allow {arn} to sts:AssumeRole: add it \
                         as a Principal first",
                    role.arn
                ))
            })?;
            let token = new_token()?;
            let now = core.now_ms();
            let workload = WorkloadIdentity {
                name: name.to_owned(),
                arn: arn.clone(),
                account_id,
                role_arn: role.arn,
                duration_seconds: seconds,
                token_sha256: sha256_hex(token.expose_secret()),
                created: now,
                token_issued: now,
            };
            core.store().put_workload(&workload)?;
            state.workloads.insert(arn, workload.clone());
            Ok((workload, token))
        })
        .await
    }

    /// Replaces a workload identity's token; the old one stops working at once (a rotation after
    /// a leak must cut the holder off). Returns the new token: the only time it is seen.
    pub async fn rotate_workload_token(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<SecretBytes> {
        self.iam_change(who, ctx, "RotateWorkloadIdentityToken", |core, state| {
            let arn = core.workload_arn(name);
            let mut workload = state
                .workloads
                .get(&arn)
                .cloned()
                .ok_or_else(|| not_found(name))?;
            let token = new_token()?;
            workload.token_sha256 = sha256_hex(token.expose_secret());
            workload.token_issued = core.now_ms();
            core.store().put_workload(&workload)?;
            state.workloads.insert(arn, workload);
            Ok(token)
        })
        .await
    }

    /// Deletes a workload identity: its token is refused from now on. Credentials it already
    /// obtained run out on their own, as an `AssumeRole` session's do.
    pub async fn delete_workload_identity(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<()> {
        self.iam_change(who, ctx, "DeleteWorkloadIdentity", |core, state| {
            let arn = core.workload_arn(name);
            if !state.workloads.contains_key(&arn) {
                return Err(not_found(name));
            }
            core.store().delete_workload(&arn)?;
            state.workloads.remove(&arn);
            Ok(())
        })
        .await
    }

    /// Every workload identity, sorted by ARN.
    pub async fn list_workload_identities(
        &self,
        who: &Principal,
        ctx: &RequestContext,
    ) -> Result<Vec<WorkloadIdentity>> {
        self.iam_read(who, ctx, "ListWorkloadIdentities", |_, state| {
            Ok(state.workloads.values().cloned().collect())
        })
        .await
    }

    /// For the credentials endpoint: the workload identity whose token this is, as a principal,
    /// or `None`. Every identity's digest is compared, each in constant time, so the answer
    /// takes as long whichever identity (if any) the token belongs to.
    pub fn workload_for_token(&self, token: &[u8]) -> Option<Principal> {
        let digest = sha256_hex(token);
        let state = self.read();
        let mut found = None;
        for workload in state.workloads.values() {
            if bool::from(workload.token_sha256.as_bytes().ct_eq(digest.as_bytes())) {
                found = Some(Principal {
                    account_id: workload.account_id.clone(),
                    arn: workload.arn.clone(),
                    access_key_id: None,
                });
            }
        }
        found
    }

    /// Fresh temporary credentials of the role `who` (a workload identity, from
    /// [`KeyCore::workload_for_token`]) is bound to, if the role's trust policy still allows it.
    /// Audited as `GetRoleCredentials` under the identity's ARN.
    pub async fn issue_workload_credentials(
        &self,
        who: &Principal,
        ctx: &RequestContext,
    ) -> Result<SessionCredentials> {
        let mut call = self.call("GetRoleCredentials", who, ctx);
        let workload = self.read().workloads.get(&who.arn).cloned();
        call.event.key_arn = workload.as_ref().map(|w| w.role_arn.clone());
        let result = self.admit(who, ctx).await.and_then(|()| {
            // Deleted since its token was checked.
            let workload = workload
                .ok_or_else(|| Error::AccessDenied(format!("{} no longer exists", who.arn)))?;
            let role = {
                let state = self.read();
                let role = state
                    .roles
                    .get(&workload.role_arn)
                    .cloned()
                    .ok_or_else(|| {
                        Error::AccessDenied(format!("role {} no longer exists", workload.role_arn))
                    })?;
                self.authorize_assume(&state, &call, &role)?;
                role
            };
            let seconds = workload
                .duration_seconds
                .max(self.inner.min_session_seconds);
            self.mint_session(&role, &workload.name, seconds)
        });
        self.finish(call, result).await
    }

    /// A workload identity's ARN: as given, or this account's identity of that name.
    fn workload_arn(&self, name: &str) -> String {
        if name.starts_with("arn:") {
            name.to_owned()
        } else {
            format!(
                "arn:aws:iam::{}:workload-identity/{name}",
                self.location().account_id
            )
        }
    }
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("workload identity {name} does not exist"))
}

/// 256 random bits, base64url: a bearer token for the credentials endpoint.
fn new_token() -> Result<SecretBytes> {
    let random = random_bytes(32)?;
    Ok(SecretBytes::new(
        URL_SAFE_NO_PAD.encode(random.expose_secret()).into_bytes(),
    ))
}
