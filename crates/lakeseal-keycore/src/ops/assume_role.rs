//! `sts:AssumeRole`: temporary credentials for a role, allowed by its trust policy and the
//! caller's identity policies.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_envelope::{SecretBytes, random_bytes};

use crate::iam::{
    AccessKeyRecord, KeyOwner, MAX_SESSION_SECONDS, Role, SessionCredentials, new_access_key_id,
    new_secret, secret_context, sha256_hex, valid_name,
};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

impl KeyCore {
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
            self.check_session_seconds(seconds)?;
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
            self.mint_session(&role, session_name, seconds)
        });
        self.finish(call, result).await
    }

    /// Refuses a session length outside the shortest this key core grants and 12 hours.
    pub(crate) fn check_session_seconds(&self, seconds: u32) -> Result<()> {
        let min = self.inner.min_session_seconds;
        if (min..=MAX_SESSION_SECONDS).contains(&seconds) {
            Ok(())
        } else {
            Err(Error::Validation(format!(
                "DurationSeconds {seconds} is out of range: use {min} to {MAX_SESSION_SECONDS}"
            )))
        }
    }

    /// New temporary credentials of `role` for `seconds`, stored (only the secret sealed and
    /// the token's digest) and handed out once.
    pub(crate) fn mint_session(
        &self,
        role: &Role,
        session_name: &str,
        seconds: u32,
    ) -> Result<SessionCredentials> {
        let access_key_id = new_access_key_id("ASIA")?;
        let secret = new_secret()?;
        let token = SecretBytes::new(
            STANDARD
                .encode(random_bytes(48)?.expose_secret())
                .into_bytes(),
        );
        let expiration = self.now_ms() + i64::from(seconds) * 1000;
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
            created: self.now_ms(),
            retire_at: None,
        };
        let mut state = self.write();
        self.store().put_access_key(&record)?;
        self.note_access_key(&record);
        state.access_keys.insert(access_key_id.clone(), record);
        Ok(SessionCredentials {
            access_key_id,
            secret_access_key: secret,
            session_token: token,
            expiration,
            assumed_role_arn: assumed,
            role_arn: role.arn.clone(),
        })
    }
}
