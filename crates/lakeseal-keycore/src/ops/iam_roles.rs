//! `CreateRole` and `PutRolePolicy`: roles, their trust policies and their identity policies.

use std::collections::BTreeMap;

use crate::iam::{Role, valid_name};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

impl KeyCore {
    /// Creates a role that the principals its trust policy names may assume.
    pub async fn create_role(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        name: &str,
        trust_policy: &str,
    ) -> Result<Role> {
        let call = self.call("CreateRole", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, "iam:CreateRole")?;
            if !valid_name(name) {
                return Err(Error::Validation(format!(
                    "role name {name:?} must be 1-64 of a-z A-Z 0-9 +=,.@_-"
                )));
            }
            crate::policy::Policy::parse(trust_policy)?;
            let account_id = self.location().account_id.clone();
            let role = Role {
                name: name.to_owned(),
                arn: format!("arn:aws:iam::{account_id}:role/{name}"),
                account_id,
                trust_policy: trust_policy.to_owned(),
                policies: BTreeMap::new(),
                created: self.now_ms(),
            };
            let mut state = self.write();
            if state.roles.contains_key(&role.arn) {
                return Err(Error::AlreadyExists(format!("role {name} already exists")));
            }
            self.store().put_role(&role)?;
            state.set_role(role.clone())?;
            Ok(role)
        });
        self.finish(call, result).await
    }

    /// Sets (or replaces) an inline identity policy of a role.
    pub async fn put_role_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        role: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<()> {
        let call = self.call("PutRolePolicy", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, "iam:PutRolePolicy")?;
            crate::policy::Policy::parse(document)?;
            let arn = self.role_arn(role);
            let mut state = self.write();
            let mut record = state
                .roles
                .get(&arn)
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("role {role} does not exist")))?;
            record
                .policies
                .insert(policy_name.to_owned(), document.to_owned());
            self.store().put_role(&record)?;
            state.set_role(record)?;
            Ok(())
        });
        self.finish(call, result).await
    }
}
