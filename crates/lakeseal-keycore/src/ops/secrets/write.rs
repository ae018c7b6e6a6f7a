//! `CreateSecret`, `PutSecretValue`, `UpdateSecret`: the operations that may add a version.
//!
//! A version is never changed once written: a `ClientRequestToken` names the version, so a
//! retry with the same token and the same value is answered as the first call was, and the
//! same token with another value is refused.

use std::collections::BTreeMap;

use lakeseal_kms_types::secrets::write::{
    CreateSecretRequest, CreateSecretResponse, PutSecretValueRequest, PutSecretValueResponse,
    UpdateSecretRequest, UpdateSecretResponse,
};
use lakeseal_kms_types::secrets::{AWSCURRENT, SecretRef, SecretValue};
use subtle::ConstantTimeEq;

use super::{check_tags, value_of};
use crate::core::{Call, SecretTarget, State};
use crate::secrets::names::{self, MAX_DESCRIPTION};
use crate::secrets::{SecretEntry, SecretRecord, labels};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

impl KeyCore {
    /// Creates a secret, with its first version when a value is given.
    pub async fn create_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: CreateSecretRequest,
    ) -> Result<CreateSecretResponse> {
        let mut call = self.secrets_call("CreateSecret", who, ctx);
        let result = match self.admit(who, ctx).await {
            Ok(()) => self.create_secret_apply(req, &mut call),
            Err(e) => Err(e),
        };
        self.finish(call, result).await
    }

    fn create_secret_apply(
        &self,
        req: CreateSecretRequest,
        call: &mut Call<'_>,
    ) -> Result<CreateSecretResponse> {
        names::check_name(&req.name)?;
        check_description(req.description.as_deref())?;
        check_tags(&req.tags)?;
        if !req.add_replica_regions.is_empty() {
            return Err(Error::InvalidParameter(
                "replica regions are not supported: this key core serves one region".into(),
            ));
        }
        let token = token_of(req.client_request_token)?;
        let value = value_of(req.secret_string, req.secret_binary)?;
        let mut state = self.write();
        if let Some(existing) = state
            .secret_names
            .get(&req.name)
            .and_then(|arn| state.secrets.get(arn))
        {
            self.authorize_secret(
                &state,
                call,
                "secretsmanager:CreateSecret",
                SecretTarget::of(existing),
                None,
            )?;
            return self.create_again(&state, existing, &token, value.as_ref(), call);
        }
        let arn = names::new_arn(&self.inner.location, &req.name)?;
        self.authorize_secret(
            &state,
            call,
            "secretsmanager:CreateSecret",
            SecretTarget::new_secret(&arn, &req.tags),
            None,
        )?;
        let key_id = self.secret_key_id(&mut state, req.kms_key_id.as_deref())?;
        let now = self.now_ms();
        let mut record = SecretRecord {
            arn: arn.clone(),
            name: req.name.clone(),
            description: req.description,
            kms_key_id: req.kms_key_id,
            created: now,
            last_changed: now,
            last_accessed: None,
            tags: req.tags,
            resource_policy: None,
            rotation: None,
            last_rotated: None,
            deletion_date: None,
            versions: BTreeMap::new(),
        };
        let version_id = value.is_some().then(|| token.clone());
        let sealed = match &value {
            Some(value) => {
                let (sealed, key_arn) =
                    self.seal_secret_value(&state, &key_id, &arn, &token, value, call)?;
                record.add_version(&token, value, key_arn, &[AWSCURRENT.to_owned()], now)?;
                Some((token.as_str(), sealed))
            }
            None => None,
        };
        call.event.version_id = version_id.clone();
        let record = self.put_secret(&mut state, record, sealed)?;
        Ok(CreateSecretResponse {
            secret: secret_ref(&record),
            version_id,
        })
    }

    /// `CreateSecret` for a name that exists: a retry of the same creation (same token, same
    /// value) is answered as the first was; anything else is `ResourceExistsException`, or
    /// `InvalidRequestException` while the old secret waits out its deletion window.
    fn create_again(
        &self,
        state: &State,
        existing: &SecretEntry,
        token: &str,
        value: Option<&SecretValue>,
        call: &mut Call<'_>,
    ) -> Result<CreateSecretResponse> {
        if existing.record.deletion_date.is_some() {
            return Err(Error::InvalidRequest(format!(
                "you can't create this secret because a secret with the name {} is already \
                 scheduled for deletion",
                existing.record.name
            )));
        }
        let exists = || {
            Error::AlreadyExists(format!(
                "the secret {} already exists",
                existing.record.name
            ))
        };
        let Some(value) = value else {
            return Err(exists());
        };
        if !existing.record.versions.contains_key(token)
            || !self.same_value(state, existing, token, value, call)?
        {
            return Err(exists());
        }
        call.event.version_id = Some(token.to_owned());
        Ok(CreateSecretResponse {
            secret: secret_ref(&existing.record),
            version_id: Some(token.to_owned()),
        })
    }

    /// Adds a version to a secret, labelled `AWSCURRENT` unless other labels are given.
    pub async fn put_secret_value(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: PutSecretValueRequest,
    ) -> Result<PutSecretValueResponse> {
        let mut call = self.secrets_call("PutSecretValue", who, ctx);
        let result = match self.admit(who, ctx).await {
            Ok(()) => self.put_secret_value_apply(req, &mut call),
            Err(e) => Err(e),
        };
        self.finish(call, result).await
    }

    fn put_secret_value_apply(
        &self,
        req: PutSecretValueRequest,
        call: &mut Call<'_>,
    ) -> Result<PutSecretValueResponse> {
        let token = token_of(req.client_request_token)?;
        let value = value_of(req.secret_string, req.secret_binary)?.ok_or_else(|| {
            Error::InvalidParameter("you must give SecretString or SecretBinary".into())
        })?;
        let stages = req
            .version_stages
            .unwrap_or_else(|| vec![AWSCURRENT.to_owned()]);
        for stage in &stages {
            labels::check_label(stage)?;
        }
        let (record, version_id) = self.new_version(
            &req.secret_id,
            "secretsmanager:PutSecretValue",
            &token,
            &value,
            &stages,
            call,
        )?;
        let version_stages = record
            .versions
            .get(&version_id)
            .map(|v| v.stages.clone())
            .unwrap_or_default();
        Ok(PutSecretValueResponse {
            secret: secret_ref(&record),
            version_id,
            version_stages,
        })
    }

    /// Changes a secret's description or CMK, and adds a current version when a value is given.
    pub async fn update_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: UpdateSecretRequest,
    ) -> Result<UpdateSecretResponse> {
        let mut call = self.secrets_call("UpdateSecret", who, ctx);
        let result = match self.admit(who, ctx).await {
            Ok(()) => self.update_secret_apply(req, &mut call),
            Err(e) => Err(e),
        };
        self.finish(call, result).await
    }

    fn update_secret_apply(
        &self,
        req: UpdateSecretRequest,
        call: &mut Call<'_>,
    ) -> Result<UpdateSecretResponse> {
        check_description(req.description.as_deref())?;
        let value = value_of(req.secret_string, req.secret_binary)?;
        let token = token_of(req.client_request_token)?;
        // One lock, one authorisation, one stored record: the new description, CMK and value
        // land together or not at all.
        let mut state = self.write();
        let entry = self.authorized_secret(
            &state,
            &req.secret_id,
            "secretsmanager:UpdateSecret",
            None,
            call,
        )?;
        refuse_if_deleted(&entry.record)?;
        let mut record = entry.record.clone();
        let changed = req.description.is_some() || req.kms_key_id.is_some();
        if let Some(description) = req.description {
            record.description = Some(description);
        }
        if let Some(key) = req.kms_key_id {
            // Checked now, so a key that does not exist is refused before it is recorded.
            self.resolve(&state, &key)?;
            record.kms_key_id = Some(key);
        }
        let version_id = match value {
            Some(value) => {
                let stages = [AWSCURRENT.to_owned()];
                record = self.write_version(&mut state, record, &token, &value, &stages, call)?;
                Some(token)
            }
            None if changed => {
                record.last_changed = self.now_ms();
                record = self.put_secret(&mut state, record, None)?;
                None
            }
            None => None,
        };
        Ok(UpdateSecretResponse {
            secret: secret_ref(&record),
            version_id,
        })
    }

    /// Writes version `token` of a secret with `stages`, or answers a retry of that write. The
    /// CMK is the secret's (made first if it is the account's default and does not exist yet).
    fn new_version(
        &self,
        secret_id: &str,
        action: &str,
        token: &str,
        value: &SecretValue,
        stages: &[String],
        call: &mut Call<'_>,
    ) -> Result<(SecretRecord, String)> {
        let mut state = self.write();
        let entry = self.authorized_secret(&state, secret_id, action, None, call)?;
        refuse_if_deleted(&entry.record)?;
        let record = entry.record.clone();
        let record = self.write_version(&mut state, record, token, value, stages, call)?;
        Ok((record, token.to_owned()))
    }

    /// Adds version `token` to `record` (already authorised) and stores it; a retry with the
    /// same token and value is answered as the first write, another value refused.
    fn write_version(
        &self,
        state: &mut State,
        mut record: SecretRecord,
        token: &str,
        value: &SecretValue,
        stages: &[String],
        call: &mut Call<'_>,
    ) -> Result<SecretRecord> {
        call.event.version_id = Some(token.to_owned());
        if record.versions.contains_key(token) {
            let entry = state
                .secrets
                .get(&record.arn)
                .ok_or_else(|| Error::Internal(format!("secret {} is not indexed", record.arn)))?;
            return if self.same_value(state, entry, token, value, call)? {
                Ok(record)
            } else {
                Err(Error::AlreadyExists(format!(
                    "version {token} exists with another value: a version cannot be changed, \
                     only new versions made"
                )))
            };
        }
        let key_id = self.secret_key_id(state, record.kms_key_id.as_deref())?;
        let (sealed, key_arn) =
            self.seal_secret_value(state, &key_id, &record.arn, token, value, call)?;
        let now = self.now_ms();
        record.add_version(token, value, key_arn, stages, now)?;
        record.last_changed = now;
        self.put_secret(state, record, Some((token, sealed)))
    }

    /// Whether version `token` holds `value` (compared in constant time).
    fn same_value(
        &self,
        state: &State,
        entry: &SecretEntry,
        token: &str,
        value: &SecretValue,
        call: &mut Call<'_>,
    ) -> Result<bool> {
        let binary = entry.record.versions.get(token).is_some_and(|v| v.binary);
        let stored = self.open_secret_value(state, entry, token, call)?;
        Ok(binary == value.is_binary()
            && bool::from(stored.expose_secret().ct_eq(value.expose_secret())))
    }
}

/// The caller's `ClientRequestToken`, checked, or a new one.
pub(super) fn token_of(given: Option<String>) -> Result<String> {
    match given {
        Some(token) => {
            names::check_token(&token)?;
            Ok(token)
        }
        None => names::new_token(),
    }
}

fn check_description(description: Option<&str>) -> Result<()> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION => Err(Error::InvalidParameter(format!(
            "Description is over {MAX_DESCRIPTION} characters"
        ))),
        _ => Ok(()),
    }
}

/// A secret waiting out its deletion window refuses everything but `RestoreSecret`, describe
/// and list.
pub(crate) fn refuse_if_deleted(record: &SecretRecord) -> Result<()> {
    if record.deletion_date.is_some() {
        return Err(Error::InvalidRequest(format!(
            "you can't perform this operation on the secret {} because it was marked for deletion",
            record.name
        )));
    }
    Ok(())
}

pub(crate) fn secret_ref(record: &SecretRecord) -> SecretRef {
    SecretRef {
        arn: record.arn.clone(),
        name: record.name.clone(),
    }
}
