//! Reading and removing identities: `GetUser`, `ListUsers`, `DeleteUser`, the same for roles,
//! and the inline policies of both (`Get…Policy`, `List…Policies`, `Delete…Policy`). Each is
//! authorised (`iam:<Action>` for the key core's account) and audited like every operation.

use crate::core::State;
use crate::iam::{KeyOwner, Role, User};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

/// Whose inline policy: a user's or a role's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A user, by name or ARN.
    User,
    /// A role, by name or ARN.
    Role,
}

impl Holder {
    fn noun(self) -> &'static str {
        match self {
            Holder::User => "User",
            Holder::Role => "Role",
        }
    }
}

impl KeyCore {
    /// Runs `read` on the index for an authorised caller; audited as `operation`.
    pub(crate) async fn iam_read<T>(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        operation: &str,
        read: impl FnOnce(&Self, &State) -> Result<T>,
    ) -> Result<T> {
        let call = self.call(operation, who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            self.authorize_account(&state, &call, &format!("iam:{operation}"))?;
            read(self, &state)
        });
        self.finish(call, result).await
    }

    /// Runs `change` on the index (under its write lock) for an authorised caller; audited.
    pub(crate) async fn iam_change<T>(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        operation: &str,
        change: impl FnOnce(&Self, &mut State) -> Result<T>,
    ) -> Result<T> {
        let call = self.call(operation, who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, &format!("iam:{operation}"))?;
            change(self, &mut self.write())
        });
        self.finish(call, result).await
    }

    /// A user of the key core's account (or any account, by ARN).
    pub async fn get_user(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        user: &str,
    ) -> Result<User> {
        self.iam_read(who, ctx, "GetUser", |core, state| {
            core.find_user(state, user).cloned()
        })
        .await
    }

    /// Every user, sorted by ARN.
    pub async fn list_users_of(&self, who: &Principal, ctx: &RequestContext) -> Result<Vec<User>> {
        self.iam_read(who, ctx, "ListUsers", |_, state| {
            Ok(state.users.values().cloned().collect())
        })
        .await
    }

    /// Deletes a user that has no access keys and no inline policies left (as IAM requires).
    pub async fn delete_user(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        user: &str,
    ) -> Result<()> {
        self.iam_change(who, ctx, "DeleteUser", |core, state| {
            let arn = core.find_user(state, user)?.arn.clone();
            let has_keys = state
                .access_keys
                .values()
                .any(|k| matches!(&k.owner, KeyOwner::User { arn: owner } if *owner == arn));
            let has_policies = state
                .users
                .get(&arn)
                .is_some_and(|u| !u.policies.is_empty());
            if has_keys || has_policies {
                return Err(Error::DeleteConflict(format!(
                    "user {user} still has access keys or inline policies: delete those first"
                )));
            }
            core.store().delete_user(&arn)?;
            state.users.remove(&arn);
            state.identity.remove(&arn);
            Ok(())
        })
        .await
    }

    /// A role of the key core's account.
    pub async fn get_role(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        role: &str,
    ) -> Result<Role> {
        self.iam_read(who, ctx, "GetRole", |core, state| {
            core.find_role(state, role).cloned()
        })
        .await
    }

    /// Every role, sorted by ARN.
    pub async fn list_roles_of(&self, who: &Principal, ctx: &RequestContext) -> Result<Vec<Role>> {
        self.iam_read(who, ctx, "ListRoles", |_, state| {
            Ok(state.roles.values().cloned().collect())
        })
        .await
    }

    /// Deletes a role that has no inline policies left. Sessions already issued run out on
    /// their own: their key is checked against the role's policies, which are gone.
    pub async fn delete_role(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        role: &str,
    ) -> Result<()> {
        self.iam_change(who, ctx, "DeleteRole", |core, state| {
            let found = core.find_role(state, role)?;
            if !found.policies.is_empty() {
                return Err(Error::DeleteConflict(format!(
                    "role {role} still has inline policies: delete those first"
                )));
            }
            let arn = found.arn.clone();
            core.store().delete_role(&arn)?;
            state.roles.remove(&arn);
            state.identity.remove(&arn);
            state.trust.remove(&arn);
            Ok(())
        })
        .await
    }

    /// An inline policy's document.
    pub async fn get_inline_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        holder: Holder,
        name: &str,
        policy_name: &str,
    ) -> Result<String> {
        let operation = format!("Get{}Policy", holder.noun());
        self.iam_read(who, ctx, &operation, |core, state| {
            core.inline_policies(state, holder, name)?
                .get(policy_name)
                .cloned()
                .ok_or_else(|| {
                    Error::NotFound(format!("{name} has no inline policy {policy_name}"))
                })
        })
        .await
    }

    /// The names of a user's or role's inline policies, sorted.
    pub async fn list_inline_policies(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        holder: Holder,
        name: &str,
    ) -> Result<Vec<String>> {
        let operation = format!("List{}Policies", holder.noun());
        self.iam_read(who, ctx, &operation, |core, state| {
            Ok(core
                .inline_policies(state, holder, name)?
                .keys()
                .cloned()
                .collect())
        })
        .await
    }

    /// Removes an inline policy; what it allowed is refused from the next request on.
    pub async fn delete_inline_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        holder: Holder,
        name: &str,
        policy_name: &str,
    ) -> Result<()> {
        let operation = format!("Delete{}Policy", holder.noun());
        self.iam_change(who, ctx, &operation, |core, state| {
            let missing = || Error::NotFound(format!("{name} has no inline policy {policy_name}"));
            match holder {
                Holder::User => {
                    let mut user = core.find_user(state, name)?.clone();
                    user.policies.remove(policy_name).ok_or_else(missing)?;
                    core.store().put_user(&user)?;
                    state.set_user(user)
                }
                Holder::Role => {
                    let mut role = core.find_role(state, name)?.clone();
                    role.policies.remove(policy_name).ok_or_else(missing)?;
                    core.store().put_role(&role)?;
                    state.set_role(role)
                }
            }
        })
        .await
    }

    /// An in-process caller (an embedded stage) acting as `user` of this key core's account,
    /// so that its identity policies, not the root's blanket rights, decide what it may do.
    /// Looking the user up is not an operation and is not audited; every call made as it is.
    pub fn local_user(&self, user: &str) -> Result<Principal> {
        let state = self.read();
        let found = self.find_user(&state, user)?;
        Ok(Principal {
            account_id: found.account_id.clone(),
            arn: found.arn.clone(),
            access_key_id: None,
        })
    }

    fn find_user<'s>(&self, state: &'s State, user: &str) -> Result<&'s User> {
        state
            .users
            .get(&self.user_arn(user))
            .ok_or_else(|| Error::NotFound(format!("user {user} does not exist")))
    }

    pub(crate) fn find_role<'s>(&self, state: &'s State, role: &str) -> Result<&'s Role> {
        state
            .roles
            .get(&self.role_arn(role))
            .ok_or_else(|| Error::NotFound(format!("role {role} does not exist")))
    }

    fn inline_policies<'s>(
        &self,
        state: &'s State,
        holder: Holder,
        name: &str,
    ) -> Result<&'s std::collections::BTreeMap<String, String>> {
        Ok(match holder {
            Holder::User => &self.find_user(state, name)?.policies,
            Holder::Role => &self.find_role(state, name)?.policies,
        })
    }
}
