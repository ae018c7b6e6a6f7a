//! Identities: users, roles, access keys and their identity policies.
//!
//! An access key's secret is made here, handed out once, and stored only sealed under the root
//! key. Authentication (SigV4, in the server) asks [`KeyCore::signing_secret`] for the secret of
//! an access key id and the [`Principal`] it stands for.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_envelope::{EncryptionContext, SecretBytes, random_bytes};
use serde::{Deserialize, Serialize};

use crate::clock::Millis;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

/// A user of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    /// The user's name, unique in its account.
    pub name: String,
    /// `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    /// The account.
    pub account_id: String,
    /// Inline identity policies by name.
    pub policies: BTreeMap<String, String>,
    /// When it was created.
    pub created: Millis,
}

impl User {
    /// The user as AWS IAM describes one (`GetUser`, `CreateUser`): member names and an ISO 8601
    /// creation date.
    pub fn aws(&self) -> serde_json::Value {
        serde_json::json!({
            "Path": "/",
            "UserName": self.name,
            "Arn": self.arn,
            "CreateDate": crate::clock::rfc3339(self.created),
        })
    }
}

impl Role {
    /// The role as AWS IAM describes one (`GetRole`, `CreateRole`).
    pub fn aws(&self) -> serde_json::Value {
        serde_json::json!({
            "Path": "/",
            "RoleName": self.name,
            "Arn": self.arn,
            "CreateDate": crate::clock::rfc3339(self.created),
            "AssumeRolePolicyDocument": self.trust_policy,
        })
    }
}

/// Who an access key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyOwner {
    /// A long-lived key of a user.
    User {
        /// The user's ARN.
        arn: String,
    },
    /// Temporary credentials from `AssumeRole`.
    Session {
        /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
        arn: String,
        /// When the credentials stop working.
        expires: Millis,
        /// SHA-256 of the session token (hex); the token itself is not kept.
        token_sha256: String,
    },
}

/// A role: an identity that trusted principals assume for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    /// The role's name, unique in its account.
    pub name: String,
    /// `arn:aws:iam::<account>:role/<name>`.
    pub arn: String,
    /// The account.
    pub account_id: String,
    /// Who may assume it (a policy with `Principal` and `sts:AssumeRole`).
    pub trust_policy: String,
    /// Inline identity policies by name.
    pub policies: BTreeMap<String, String>,
    /// When it was created.
    pub created: Millis,
}

/// Temporary credentials from `AssumeRole`: the only time the secret and token are seen.
#[derive(Debug)]
pub struct SessionCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretBytes,
    /// The session token, to send as `X-Amz-Security-Token`.
    pub session_token: SecretBytes,
    /// When they expire.
    pub expiration: Millis,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
}

/// What authentication needs to know about an access key.
#[derive(Debug)]
pub struct SigningIdentity {
    /// Who the key stands for.
    pub principal: Principal,
    /// The secret access key.
    pub secret: SecretBytes,
    /// For temporary credentials: SHA-256 (hex) of the session token the request must carry.
    pub session_token_sha256: Option<String>,
    /// For temporary credentials: when they expire.
    pub expires: Option<Millis>,
}

/// The shortest and longest `AssumeRole` session, in seconds.
pub const SESSION_SECONDS: std::ops::RangeInclusive<u32> = 900..=43_200;

/// An access key as stored: its secret is sealed under the root key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    /// `AKIA…`.
    pub access_key_id: String,
    /// The account.
    pub account_id: String,
    /// Whose key it is.
    pub owner: KeyOwner,
    /// The secret, sealed under the root key.
    #[serde(with = "crate::wire::b64")]
    pub sealed_secret: Vec<u8>,
    /// When it was created.
    pub created: Millis,
}

/// An access key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyMetadata {
    /// The user's name.
    pub user_name: String,
    /// `AKIA…`.
    pub access_key_id: String,
    /// `Active` (keys are deleted, not deactivated, here).
    pub status: String,
    /// When it was created, ISO 8601 UTC.
    pub create_date: String,
}

/// A new access key: the only time its secret is seen outside the key core.
#[derive(Debug)]
pub struct NewAccessKey {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretBytes,
    /// The owner's ARN.
    pub owner_arn: String,
}

impl NewAccessKey {
    /// The key in the AWS shared-credentials file format, for a `[profile]`.
    pub fn credentials_file(&self, profile: &str) -> SecretBytes {
        let parts: [&[u8]; 7] = [
            b"[",
            profile.as_bytes(),
            b"]\naws_access_key_id = ",
            self.access_key_id.as_bytes(),
            b"\naws_secret_access_key = ",
            self.secret_access_key.expose_secret(),
            b"\n",
        ];
        // Sized once: a buffer that grew after the secret was in it would leave a copy behind.
        let mut text = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        let capacity = text.capacity();
        for part in parts {
            text.extend_from_slice(part);
        }
        debug_assert_eq!(text.capacity(), capacity, "the buffer grew");
        SecretBytes::new(text)
    }
}

fn secret_context(access_key_id: &str) -> EncryptionContext {
    EncryptionContext::from_iter([
        ("lakeseal:purpose", "access-key-secret"),
        ("lakeseal:access-key-id", access_key_id),
    ])
}

/// `AKIA` or `ASIA` and 16 characters of the base32 alphabet, as AWS access key ids look.
fn new_access_key_id(prefix: &str) -> Result<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let random = random_bytes(16)?;
    let tail: String = random
        .expose_secret()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    Ok(format!("{prefix}{tail}"))
}

/// 40 characters of base64, as AWS secret access keys look (240 bits of entropy).
fn new_secret() -> Result<SecretBytes> {
    let random = random_bytes(30)?;
    Ok(SecretBytes::new(
        STANDARD.encode(random.expose_secret()).into_bytes(),
    ))
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

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

    fn create_user_apply(&self, account_id: &str, name: &str) -> Result<User> {
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
            created: self.now(),
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

    fn put_user_policy_apply(&self, user: &str, policy_name: &str, document: &str) -> Result<()> {
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
            let arn = self.user_arn(user);
            let mut state = self.write();
            let owned = state.access_keys.get(access_key_id).is_some_and(
                |k| matches!(&k.owner, KeyOwner::User { arn: owner } if *owner == arn),
            );
            if !owned {
                return Err(Error::NotFound(format!(
                    "user {user} has no access key {access_key_id}"
                )));
            }
            self.store().delete_access_key(access_key_id)?;
            state.access_keys.remove(access_key_id);
            Ok(())
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

    fn create_access_key_apply(
        &self,
        user: &str,
        deliver: impl FnOnce(&NewAccessKey) -> std::result::Result<(), String>,
    ) -> Result<NewAccessKey> {
        let arn = self.user_arn(user);
        if !self.read().users.contains_key(&arn) {
            return Err(Error::NotFound(format!("user {user} does not exist")));
        }
        let access_key_id = new_access_key_id("AKIA")?;
        let secret = new_secret()?;
        let sealed_secret = self
            .root()
            .seal(secret.expose_secret(), &secret_context(&access_key_id))?;
        let record = AccessKeyRecord {
            access_key_id: access_key_id.clone(),
            account_id: self.location().account_id.clone(),
            owner: KeyOwner::User { arn: arn.clone() },
            sealed_secret,
            created: self.now(),
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

    /// For request authentication: who an access key stands for, its secret, and for temporary
    /// credentials the session token and expiry to check. An unknown key is `None`.
    pub fn signing_identity(&self, access_key_id: &str) -> Result<Option<SigningIdentity>> {
        let state = self.read();
        let Some(record) = state.access_keys.get(access_key_id) else {
            return Ok(None);
        };
        let secret = self
            .root()
            .open(&record.sealed_secret, &secret_context(access_key_id))
            .map_err(|_| Error::Internal(format!("access key {access_key_id} does not open")))?;
        let (arn, token, expires) = match &record.owner {
            KeyOwner::User { arn } => (arn, None, None),
            KeyOwner::Session {
                arn,
                expires,
                token_sha256,
            } => (arn, Some(token_sha256.clone()), Some(*expires)),
        };
        Ok(Some(SigningIdentity {
            principal: Principal {
                account_id: record.account_id.clone(),
                arn: arn.clone(),
                access_key_id: Some(access_key_id.to_owned()),
            },
            secret,
            session_token_sha256: token,
            expires,
        }))
    }

    /// The key core's clock, for checking credential expiry.
    pub fn now_ms(&self) -> Millis {
        self.now()
    }

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
                created: self.now(),
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

    /// `sts:AssumeRole`: temporary credentials for a role whose trust policy allows the caller.
    pub async fn assume_role(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        role_arn: &str,
        session_name: &str,
        duration_seconds: Option<u32>,
    ) -> Result<SessionCredentials> {
        let mut call = self.call("AssumeRole", who, ctx);
        call.event.key_arn = Some(role_arn.to_owned());
        let result = self.admit(who, ctx).await.and_then(|()| {
            let seconds = duration_seconds.unwrap_or(3600);
            if !SESSION_SECONDS.contains(&seconds) {
                return Err(Error::Validation(format!(
                    "DurationSeconds {seconds} is out of range: use 900 to 43200"
                )));
            }
            if !(2..=64).contains(&session_name.len()) || !valid_name(session_name) {
                return Err(Error::Validation(format!(
                    "RoleSessionName {session_name:?} must be 2-64 of a-z A-Z 0-9 +=,.@_-"
                )));
            }
            let role = {
                let state = self.read();
                let role = state.roles.get(role_arn).cloned().ok_or_else(|| {
                    Error::AccessDenied(format!(
                        "{} is not authorized to assume {role_arn}",
                        who.arn
                    ))
                })?;
                self.authorize_assume(&state, &call, &role)?;
                role
            };
            let access_key_id = new_access_key_id("ASIA")?;
            let secret = new_secret()?;
            let token = SecretBytes::new(
                STANDARD
                    .encode(random_bytes(48)?.expose_secret())
                    .into_bytes(),
            );
            let expiration = self.now() + i64::from(seconds) * 1000;
            let assumed = format!(
                "arn:aws:sts::{}:assumed-role/{}/{session_name}",
                role.account_id, role.name
            );
            let record = AccessKeyRecord {
                access_key_id: access_key_id.clone(),
                account_id: role.account_id.clone(),
                owner: KeyOwner::Session {
                    arn: assumed.clone(),
                    expires: expiration,
                    token_sha256: sha256_hex(token.expose_secret()),
                },
                sealed_secret: self
                    .root()
                    .seal(secret.expose_secret(), &secret_context(&access_key_id))?,
                created: self.now(),
            };
            let mut state = self.write();
            self.store().put_access_key(&record)?;
            state.access_keys.insert(access_key_id.clone(), record);
            Ok(SessionCredentials {
                access_key_id,
                secret_access_key: secret,
                session_token: token,
                expiration,
                assumed_role_arn: assumed,
            })
        });
        self.finish(call, result).await
    }

    /// A user's ARN: as given, or the key core's account's user of that name.
    pub(crate) fn user_arn(&self, user: &str) -> String {
        if user.starts_with("arn:") {
            user.to_owned()
        } else {
            format!("arn:aws:iam::{}:user/{user}", self.location().account_id)
        }
    }

    /// A role's ARN: as given, or the key core's account's role of that name.
    pub(crate) fn role_arn(&self, role: &str) -> String {
        if role.starts_with("arn:") {
            role.to_owned()
        } else {
            format!("arn:aws:iam::{}:role/{role}", self.location().account_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids_look_like_aws_ones() {
        let id = new_access_key_id("AKIA").unwrap();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("AKIA"));
        assert!(
            id[4..]
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert_eq!(new_secret().unwrap().len(), 40);
    }

    #[test]
    fn the_credentials_file_is_the_aws_format_in_one_buffer() {
        let key = NewAccessKey {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: SecretBytes::new(b"wJalrXUtnFEMI/K7MDENG".to_vec()),
            owner_arn: "arn:aws:iam::111122223333:user/stage".into(),
        };
        let file = key.credentials_file("stage");
        assert_eq!(
            file.expose_secret(),
            b"[stage]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG\n"
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("stage-writer@iot"));
        assert!(!valid_name(""));
        assert!(!valid_name("has space"));
    }
}
