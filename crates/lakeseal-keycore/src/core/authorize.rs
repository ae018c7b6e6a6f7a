//! Authorisation: key policies, identity policies and trust policies combined as AWS does.

use std::collections::BTreeMap;

use super::{Call, KeyCore, KeyEntry, State};
use crate::iam::Role;
use crate::policy::{self, Policy};
use crate::state::KeyOperation;
use crate::{Error, Result};

impl KeyCore {
    /// For operations on no particular key (`CreateKey`, `ListKeys` …): the caller must belong
    /// to the key core's account and be its root or hold an identity policy allowing `action`.
    pub(crate) fn authorize_account(
        &self,
        state: &State,
        call: &Call<'_>,
        action: &str,
    ) -> Result<()> {
        if call.internal {
            return Ok(());
        }
        let who = call.who;
        let conditions = self.conditions(call);
        let request = policy::Request {
            principal: who,
            action,
            resource: "*",
            context: &conditions,
        };
        let identity = evaluate_identity(state, &request);
        let is_root = who.is_account_root();
        if who.account_id == self.inner.location.account_id
            && !identity.denied
            && (is_root || identity.allowed)
        {
            return Ok(());
        }
        Err(Error::AccessDenied(format!(
            "{} is not authorized to perform {action}",
            who.arn
        )))
    }

    /// The key policy and the caller's identity policies, combined as AWS KMS does: an explicit
    /// deny in either wins; otherwise the key policy must allow the caller directly, or allow
    /// the caller's account and an identity policy of the caller allow the action.
    pub(super) fn authorize_key(
        &self,
        state: &State,
        call: &Call<'_>,
        op: KeyOperation,
        entry: &KeyEntry,
        arn: &str,
    ) -> Result<()> {
        if call.internal {
            return Ok(());
        }
        let action = op.action();
        let identity = state.identity.get(call.who.identity_arn().as_ref());
        let needs_conditions = entry.policy.has_conditions()
            || identity.is_some_and(|ps| ps.iter().any(Policy::has_conditions));
        let conditions = if needs_conditions {
            self.conditions(call)
        } else {
            BTreeMap::new()
        };
        let request = policy::Request {
            principal: call.who,
            action,
            resource: arn,
            context: &conditions,
        };
        let key = entry.policy.evaluate(&request);
        if resource_and_identity_allow(state, &request, key) {
            Ok(())
        } else {
            Err(Error::AccessDenied(format!(
                "{} is not authorized to perform {action} on {arn}",
                call.who.arn
            )))
        }
    }

    /// AWS KMS's policy lockout safety check: a new key policy must still let the caller put
    /// the key policy again, or nobody (the account root included) could ever repair it. The
    /// caller may waive the check (`BypassPolicyLockoutSafetyCheck`), as in AWS.
    pub(crate) fn check_lockout(
        &self,
        state: &State,
        call: &Call<'_>,
        policy: &Policy,
        key_arn: &str,
    ) -> Result<()> {
        if call.internal {
            return Ok(());
        }
        let conditions = self.conditions(call);
        let request = policy::Request {
            principal: call.who,
            action: "kms:PutKeyPolicy",
            resource: key_arn,
            context: &conditions,
        };
        if resource_and_identity_allow(state, &request, policy.evaluate(&request)) {
            Ok(())
        } else {
            Err(Error::MalformedPolicy(format!(
                "the new key policy will not allow you ({}) to update the key policy in the \
                 future: allow kms:PutKeyPolicy to the caller in it, or set \
                 BypassPolicyLockoutSafetyCheck if that is intended",
                call.who.arn
            )))
        }
    }

    /// `sts:AssumeRole`: the role's trust policy and the caller's identity policies, combined
    /// like a key policy and identity policies.
    pub(crate) fn authorize_assume(
        &self,
        state: &State,
        call: &Call<'_>,
        role: &Role,
    ) -> Result<()> {
        let conditions = self.conditions(call);
        let request = policy::Request {
            principal: call.who,
            action: "sts:AssumeRole",
            resource: &role.arn,
            context: &conditions,
        };
        let trust = state
            .trust
            .get(&role.arn)
            .map(|p| p.evaluate(&request))
            .unwrap_or_default();
        if resource_and_identity_allow(state, &request, trust) {
            Ok(())
        } else {
            Err(Error::AccessDenied(format!(
                "{} is not authorized to perform sts:AssumeRole on {}",
                call.who.arn, role.arn
            )))
        }
    }

    /// The condition keys a policy may test for this call.
    pub(super) fn conditions(&self, call: &Call<'_>) -> BTreeMap<String, Vec<String>> {
        let mut keys = BTreeMap::new();
        keys.insert(
            "kms:CallerAccount".to_owned(),
            vec![call.who.account_id.clone()],
        );
        keys.insert(
            "aws:PrincipalArn".to_owned(),
            vec![call.who.identity_arn().into_owned()],
        );
        if let Some(ip) = call.ctx.source_ip {
            keys.insert("aws:SourceIp".to_owned(), vec![ip.to_string()]);
        }
        if let Some(context) = &call.event.encryption_context {
            keys.insert(
                "kms:EncryptionContextKeys".to_owned(),
                context.iter().map(|(k, _)| k.to_owned()).collect(),
            );
            for (k, v) in context.iter() {
                keys.insert(format!("kms:EncryptionContext:{k}"), vec![v.to_owned()]);
            }
        }
        keys
    }
}

/// A resource policy (key or trust policy) and the caller's identity policies, combined as AWS
/// does: an explicit deny in either wins; otherwise the resource policy must allow the caller
/// directly, or allow its account and an identity policy of the caller allow too (the account
/// root needs none).
fn resource_and_identity_allow(
    state: &State,
    request: &policy::Request<'_>,
    resource: policy::Evaluation,
) -> bool {
    let identity = evaluate_identity(state, request);
    let who = request.principal;
    let is_root = who.is_account_root();
    !resource.denied
        && !identity.denied
        && (resource.allowed || (resource.allowed_via_account && (is_root || identity.allowed)))
}

/// The caller's identity policies, combined: any deny, any allow.
fn evaluate_identity(state: &State, request: &policy::Request<'_>) -> policy::Evaluation {
    let mut out = policy::Evaluation::default();
    let arn = request.principal.identity_arn();
    for p in state.identity.get(arn.as_ref()).into_iter().flatten() {
        let e = p.evaluate(request);
        out.denied |= e.denied;
        out.allowed |= e.allowed;
    }
    out
}
