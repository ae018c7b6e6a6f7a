//! `CreateUser` and `PutUserPolicy`: users of an account and their inline identity policies.

use std::collections::BTreeMap;

use crate::iam::{User, valid_name};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

impl KeyCore {
    /// Creates a user in the key core's account.
    pub async fn create_user(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<User> {
        let account_id = self.location().account_id.clone();
        self.create_user_in(who, ctx, &account_id, name).await
    }

    /// Creates a user in another account, for callers from outside that the key policy of a key
    /// names.
    pub async fn create_user_in(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        account_id: &str,
        name: &str,
    ) -> Result<User> {
        let call = self.call("CreateUser", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, "iam:CreateUser")?;
            self.create_user_apply(account_id, name)
        });
        self.finish(call, result).await
    }

    pub(crate) fn create_user_apply(&self, account_id: &str, name: &str) -> Result<User> {
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::Validation(format!(
                "account id {account_id:?} is not 12 digits"
            )));
        }
        if !valid_name(name) {
            return Err(Error::Validation(format!(
                "user name {name:?} must be 1-64 of a-z A-Z 0-9 +=,.@_-"
            )));
        }
        let account_id = account_id.to_owned();
        let user = User {
            name: name.to_owned(),
            arn: format!("arn:aws:iam::{account_id}:user/{name}"),
            account_id,
            policies: BTreeMap::new(),
            created: self.now_ms(),
        };
        let mut state = self.write();
        if state.users.contains_key(&user.arn) {
            return Err(Error::AlreadyExists(format!("user {name} already exists")));
        }
        self.store().put_user(&user)?;
        state.set_user(user.clone())?;
        Ok(user)
    }

    /// Sets (or replaces) an inline identity policy of a user.
    pub async fn put_user_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        user: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<()> {
        let call = self.call("PutUserPolicy", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, "iam:PutUserPolicy")?;
            self.put_user_policy_apply(user, policy_name, document)
        });
        self.finish(call, result).await
    }

    pub(crate) fn put_user_policy_apply(
        &self,
        user: &str,
        policy_name: &str,
        document: &str,
    ) -> Result<()> {
        crate::policy::Policy::parse(document)?;
        let arn = self.user_arn(user);
        let mut state = self.write();
        let mut record = state
            .users
            .get(&arn)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("user {user} does not exist")))?;
        record
            .policies
            .insert(policy_name.to_owned(), document.to_owned());
        self.store().put_user(&record)?;
        state.set_user(record)?;
        Ok(())
    }
}
