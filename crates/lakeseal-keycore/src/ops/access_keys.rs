//! `CreateAccessKey`, `DeleteAccessKey`, `ListAccessKeys`, `GetAccessKeyLastUsed`, and the first
//! admin's key made at `keycore init`. A secret is made here, handed out once, and stored only
//! sealed under the root key.

use crate::clock::Millis;
use crate::iam::{
    AccessKeyMetadata, AccessKeyRecord, KeyOwner, NewAccessKey, new_access_key_id, new_secret,
    secret_context,
};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

impl KeyCore {
    /// Makes a new access key for a user; the secret is returned this once.
    pub async fn create_access_key(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        user: &str,
    ) -> Result<NewAccessKey> {
        self.create_access_key_delivered(who, ctx, user, |_| Ok(()))
            .await
    }

    /// Makes a new access key for a user and hands it to `deliver` (which writes it where its
    /// owner will find it) before the key is stored: a key whose secret could not be delivered
    /// never exists, rather than lingering with its secret lost.
    pub async fn create_access_key_delivered(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        user: &str,
        deliver: impl FnOnce(&NewAccessKey) -> std::result::Result<(), String>,
    ) -> Result<NewAccessKey> {
        let call = self.call("CreateAccessKey", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, "iam:CreateAccessKey")?;
            self.create_access_key_apply(user, deliver)
        });
        self.finish(call, result).await
    }

    /// Deletes a user's access key: requests signed with it are refused from now on.
    pub async fn delete_access_key(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        user: &str,
        access_key_id: &str,
    ) -> Result<()> {
        let call = self.call("DeleteAccessKey", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, "iam:DeleteAccessKey")?;
            self.delete_access_key_apply(user, access_key_id, false)
        });
        self.finish(call, result).await
    }

    /// A user's access keys: ids and creation times, never secrets.
    pub async fn list_access_keys(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        user: &str,
    ) -> Result<Vec<AccessKeyMetadata>> {
        let call = self.call("ListAccessKeys", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            self.authorize_account(&state, &call, "iam:ListAccessKeys")?;
            let arn = self.user_arn(user);
            let user = state
                .users
                .get(&arn)
                .ok_or_else(|| Error::NotFound(format!("user {user} does not exist")))?;
            let mut keys: Vec<AccessKeyMetadata> = state
                .access_keys
                .values()
                .filter(|k| matches!(&k.owner, KeyOwner::User { arn: owner } if *owner == arn))
                .map(|k| AccessKeyMetadata {
                    user_name: user.name.clone(),
                    access_key_id: k.access_key_id.clone(),
                    status: "Active".to_owned(),
                    create_date: crate::clock::rfc3339(k.created),
                })
                .collect();
            keys.sort_by(|a, b| a.create_date.cmp(&b.create_date));
            Ok(keys)
        });
        self.finish(call, result).await
    }

    /// Whose access key `access_key_id` is, as IAM's `GetAccessKeyLastUsed` answers: the
    /// user's name, or `None` for temporary credentials (a role's session). The key core does
    /// not track last use, so this is all it says; a key it does not hold is `NotFound`.
    pub async fn get_access_key_last_used(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        access_key_id: &str,
    ) -> Result<Option<String>> {
        let call = self.call("GetAccessKeyLastUsed", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            self.authorize_account(&state, &call, "iam:GetAccessKeyLastUsed")?;
            // Another account's key is answered as one that does not exist, as IAM does.
            let (owner_arn, user) = match state.access_keys.get(access_key_id).map(|r| &r.owner) {
                Some(KeyOwner::User { arn }) => (arn, state.users.get(arn).map(|u| u.name.clone())),
                Some(KeyOwner::Session { arn, .. }) => (arn, None),
                None => return Err(not_found(access_key_id)),
            };
            if owner_arn.split(':').nth(4) != Some(who.account_id.as_str()) {
                return Err(not_found(access_key_id));
            }
            Ok(user)
        });
        self.finish(call, result).await
    }

    /// Creates the `admin` user of a new key core, with an identity policy allowing everything,
    /// and its first access key. Done once, by `keycore init`, as the account root.
    pub async fn bootstrap_admin(&self, ctx: &RequestContext) -> Result<NewAccessKey> {
        let root = Principal::account_root(&self.location().account_id);
        self.create_user(&root, ctx, "admin").await?;
        let everything = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        self.put_user_policy(&root, ctx, "admin", "administrator", everything)
            .await?;
        self.create_access_key(&root, ctx, "admin").await
    }

    /// A new access key for `user`, made by the `keycore-access-key` rotator (audited as the
    /// key core's own `CreateAccessKey`).
    pub(crate) async fn create_access_key_for_rotation(&self, user: &str) -> Result<NewAccessKey> {
        let (who, ctx) = self.service_caller("rotation");
        let call = self.internal_call("CreateAccessKey", &who, &ctx);
        let result = self.create_access_key_apply(user, |_| Ok(()));
        self.finish(call, result).await
    }

    /// Lets `user`'s key `access_key_id` authenticate only until `at`; the key core deletes it
    /// then. A key already gone is left gone.
    pub(crate) async fn retire_access_key(
        &self,
        user: &str,
        access_key_id: &str,
        at: Millis,
    ) -> Result<()> {
        let (who, ctx) = self.service_caller("rotation");
        let call = self.internal_call("UpdateAccessKey", &who, &ctx);
        let result = (|| {
            let mut state = self.write();
            let Some(record) = state.access_keys.get(access_key_id) else {
                return Ok(());
            };
            if !self.owned_by(record, user) {
                return Err(Error::NotFound(format!(
                    "user {user} has no access key {access_key_id}"
                )));
            }
            let mut record = record.clone();
            record.retire_at = Some(record.retire_at.map_or(at, |t| t.min(at)));
            self.store().put_access_key(&record)?;
            state.access_keys.insert(access_key_id.to_owned(), record);
            self.note_due_at(at);
            Ok(())
        })();
        self.finish(call, result).await
    }

    /// Deletes a key a failed rotation made (audited as the key core's own `DeleteAccessKey`).
    pub(crate) async fn delete_access_key_for_rotation(
        &self,
        user: &str,
        access_key_id: &str,
    ) -> Result<()> {
        let (who, ctx) = self.service_caller("rotation");
        let call = self.internal_call("DeleteAccessKey", &who, &ctx);
        let result = self.delete_access_key_apply(user, access_key_id, true);
        self.finish(call, result).await
    }

    /// Deletes `user`'s key; `missing_ok` for the key core's own clean-up, where a key already
    /// gone is the wanted outcome.
    pub(crate) fn delete_access_key_apply(
        &self,
        user: &str,
        access_key_id: &str,
        missing_ok: bool,
    ) -> Result<()> {
        let mut state = self.write();
        match state.access_keys.get(access_key_id) {
            Some(record) if self.owned_by(record, user) => {}
            None if missing_ok => return Ok(()),
            _ => {
                return Err(Error::NotFound(format!(
                    "user {user} has no access key {access_key_id}"
                )));
            }
        }
        self.store().delete_access_key(access_key_id)?;
        state.access_keys.remove(access_key_id);
        Ok(())
    }

    fn owned_by(&self, record: &AccessKeyRecord, user: &str) -> bool {
        let arn = self.user_arn(user);
        matches!(&record.owner, KeyOwner::User { arn: owner } if *owner == arn)
    }

    pub(crate) fn create_access_key_apply(
        &self,
        user: &str,
        deliver: impl FnOnce(&NewAccessKey) -> std::result::Result<(), String>,
    ) -> Result<NewAccessKey> {
        let arn = self.user_arn(user);
        // The key acts in its user's account, which may be another than the key core's.
        let account_id = match self.read().users.get(&arn) {
            Some(owner) => owner.account_id.clone(),
            None => return Err(Error::NotFound(format!("user {user} does not exist"))),
        };
        let access_key_id = new_access_key_id("AKIA")?;
        let secret = new_secret()?;
        let sealed_secret = self
            .root()
            .seal(secret.expose_secret(), &secret_context(&access_key_id))?;
        let record = AccessKeyRecord {
            access_key_id: access_key_id.clone(),
            account_id,
            owner: KeyOwner::User { arn: arn.clone() },
            sealed_secret,
            created: self.now_ms(),
            retire_at: None,
        };
        let key = NewAccessKey {
            access_key_id,
            secret_access_key: secret,
            owner_arn: arn,
        };
        deliver(&key).map_err(|why| {
            Error::Validation(format!(
                "the new access key was not created, since it could not be delivered: {why}"
            ))
        })?;
        let mut state = self.write();
        self.store().put_access_key(&record)?;
        state.access_keys.insert(key.access_key_id.clone(), record);
        Ok(key)
    }
}

fn not_found(access_key_id: &str) -> Error {
    Error::NotFound(format!("the access key {access_key_id} does not exist"))
}
