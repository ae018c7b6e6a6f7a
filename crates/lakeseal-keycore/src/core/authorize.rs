//! Authorisation: key policies, identity policies and trust policies combined as AWS does.

use std::collections::BTreeMap;

use super::{Call, KeyCore, KeyEntry, State};
use crate::authz;
use crate::iam::Role;
use crate::policy::{self, Policy};
use crate::state::KeyOperation;
use crate::{Error, Principal, Result};

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
        let home = &self.inner.location.account_id;
        if authz::account_action_allowed(home, identity_of(state, call.who), &request) {
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
        let identity = identity_of(state, call.who);
        let needs_conditions =
            entry.policy.has_conditions() || identity.iter().any(Policy::has_conditions);
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
        if authz::resource_action_allowed(key, identity, &request) {
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
        if authz::resource_action_allowed(
            policy.evaluate(&request),
            identity_of(state, call.who),
            &request,
        ) {
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
        if authz::resource_action_allowed(trust, identity_of(state, call.who), &request) {
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
        authz::condition_keys(
            call.who,
            call.ctx.source_ip,
            call.event.encryption_context.as_ref(),
            call.via_service.as_deref(),
        )
    }
}

/// The caller's identity policies (none for a caller that has none).
fn identity_of<'s>(state: &'s State, who: &Principal) -> &'s [Policy] {
    state
        .identity
        .get(who.identity_arn().as_ref())
        .map_or(&[], Vec::as_slice)
}
