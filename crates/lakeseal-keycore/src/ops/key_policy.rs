//! `GetKeyPolicy`, `PutKeyPolicy`, `ListKeyPolicies`: each key has one policy, `default`.

use super::Empty;
use crate::policy::Policy;
use crate::state::KeyOperation;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::key_policy::{
    GetKeyPolicyRequest, GetKeyPolicyResponse, ListKeyPoliciesResponse, PutKeyPolicyRequest,
};

const DEFAULT: &str = "default";

fn check_name(name: Option<&str>) -> Result<()> {
    match name {
        None | Some(DEFAULT) => Ok(()),
        Some(other) => Err(Error::NotFound(format!(
            "key policy {other} does not exist: a key has one policy, named default"
        ))),
    }
}

impl KeyCore {
    /// A key's policy document.
    pub async fn get_key_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: GetKeyPolicyRequest,
    ) -> Result<GetKeyPolicyResponse> {
        let mut call = self.call("GetKeyPolicy", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            check_name(req.policy_name.as_deref())?;
            let state = self.read();
            let entry =
                self.resolve_for(&state, &req.key_id, KeyOperation::GetKeyPolicy, &mut call)?;
            Ok(GetKeyPolicyResponse {
                policy: entry.record.policy.clone(),
                policy_name: DEFAULT.to_owned(),
            })
        });
        self.finish(call, result).await
    }

    /// Replaces a key's policy document.
    pub async fn put_key_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: PutKeyPolicyRequest,
    ) -> Result<Empty> {
        let mut call = self.call("PutKeyPolicy", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            check_name(req.policy_name.as_deref())?;
            {
                // Parsed once the caller is authorised, so a refusal says nothing of the document.
                let state = self.read();
                let entry =
                    self.resolve_for(&state, &req.key_id, KeyOperation::PutKeyPolicy, &mut call)?;
                let policy = Policy::parse(&req.policy)?;
                if !req.bypass_policy_lockout_safety_check {
                    let arn = self.arn(&entry.record.key_id);
                    self.check_lockout(&state, &call, &policy, &arn)?;
                }
            }
            self.update_key(
                &req.key_id,
                KeyOperation::PutKeyPolicy,
                &mut call,
                |record, _| {
                    record.policy = req.policy.clone();
                    Ok(())
                },
            )?;
            Ok(Empty {})
        });
        self.finish(call, result).await
    }

    /// The names of a key's policies: always `default`.
    pub async fn list_key_policies(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: super::KeyIdRequest,
    ) -> Result<ListKeyPoliciesResponse> {
        let mut call = self.call("ListKeyPolicies", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            self.resolve_for(
                &state,
                &req.key_id,
                KeyOperation::ListKeyPolicies,
                &mut call,
            )?;
            Ok(ListKeyPoliciesResponse {
                policy_names: vec![DEFAULT.to_owned()],
                truncated: false,
            })
        });
        self.finish(call, result).await
    }
}
