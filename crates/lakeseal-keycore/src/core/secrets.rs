//! The engine's side of secrets: finding one, authorising a call on it, sealing and opening its
//! values under its CMK (as the secrets manager, `kms:ViaService`), and storing a change.

use lakeseal_envelope::{Blob, SecretBytes};
use lakeseal_kms_types::secrets::{SecretTag, SecretValue};

use super::{Call, KeyCore, KeyEntry, Material, State};
use crate::authz;
use crate::clock::DAY_MS;
use crate::key_spec::{KeySpec, KeyUsage, Origin};
use crate::model::{AliasRecord, KeyRecord};
use crate::policy::{self, Policy};
use crate::secrets::names::{self, SecretId};
use crate::secrets::{SecretEntry, SecretRecord, labels, seal};
use crate::state::{KeyOperation, KeyState};
use crate::{Error, Result, root};

/// What a secret operation acts on, for [`KeyCore::authorize_secret`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SecretTarget<'a> {
    /// The secret, when it exists (its resource policy counts).
    entry: Option<&'a SecretEntry>,
    /// Its ARN, or `*` for the account's secrets as a whole.
    arn: &'a str,
    /// The tags `secretsmanager:ResourceTag/<key>` conditions see.
    tags: &'a [SecretTag],
}

impl<'a> SecretTarget<'a> {
    /// An existing secret.
    pub(crate) fn of(entry: &'a SecretEntry) -> Self {
        Self {
            entry: Some(entry),
            arn: &entry.record.arn,
            tags: &entry.record.tags,
        }
    }

    /// A secret about to be made (`CreateSecret`).
    pub(crate) fn new_secret(arn: &'a str, tags: &'a [SecretTag]) -> Self {
        Self {
            entry: None,
            arn,
            tags,
        }
    }

    /// The account's secrets as a whole (`ListSecrets`).
    pub(crate) fn account() -> Self {
        Self {
            entry: None,
            arn: "*",
            tags: &[],
        }
    }
}

/// The alias of the key that seals an account's secrets when they name none.
pub const DEFAULT_SECRETS_KEY_ALIAS: &str = "alias/aws/secretsmanager";

impl KeyCore {
    /// `kms:ViaService` for calls the secrets manager makes on a caller's behalf.
    pub(crate) fn secrets_service(&self) -> String {
        format!(
            "secretsmanager.{}.amazonaws.com",
            self.inner.location.region
        )
    }

    /// The secret a `SecretId` names. A secret past its deletion date no longer exists.
    pub(crate) fn resolve_secret<'s>(&self, state: &'s State, id: &str) -> Result<&'s SecretEntry> {
        let not_found = || {
            Error::NotFound(format!(
                "Secrets Manager can't find the specified secret ({})",
                names::shown(id)
            ))
        };
        let entry = match names::parse_id(&self.inner.location, id).ok_or_else(not_found)? {
            SecretId::Arn(arn) => state.secrets.get(arn),
            SecretId::Name(name) => state
                .secret_names
                .get(name)
                .and_then(|arn| state.secrets.get(arn)),
        }
        .ok_or_else(not_found)?;
        if entry
            .record
            .deletion_date
            .is_some_and(|d| d <= self.now_ms())
        {
            return Err(not_found());
        }
        Ok(entry)
    }

    /// The secret `secret_id` names, once the caller may do `action` on it (`stage`: the label a
    /// read asks for, which `secretsmanager:VersionStage` conditions see).
    pub(crate) fn authorized_secret<'s>(
        &self,
        state: &'s State,
        secret_id: &str,
        action: &str,
        stage: Option<&str>,
        call: &mut Call<'_>,
    ) -> Result<&'s SecretEntry> {
        let entry = self.resolve_secret(state, secret_id)?;
        self.authorize_secret(state, call, action, SecretTarget::of(entry), stage)?;
        Ok(entry)
    }

    /// Whether the caller may do `action` (`secretsmanager:GetSecretValue` …) on `entry` (or,
    /// for `CreateSecret` and `ListSecrets`, on the account's secrets): identity policies and
    /// the secret's resource policy, as AWS combines them.
    pub(crate) fn authorize_secret(
        &self,
        state: &State,
        call: &mut Call<'_>,
        action: &str,
        target: SecretTarget<'_>,
        stage: Option<&str>,
    ) -> Result<()> {
        let SecretTarget {
            entry,
            arn: resource,
            tags,
        } = target;
        call.event.secret_arn = Some(resource.to_owned()).filter(|r| r != "*");
        let conditions = authz::secret_condition_keys(call.who, call.ctx.source_ip, tags, stage);
        let request = policy::Request {
            principal: call.who,
            action,
            resource,
            context: &conditions,
        };
        let identity = state
            .identity
            .get(call.who.identity_arn().as_ref())
            .map_or(&[][..], Vec::as_slice);
        let resource_policy = entry
            .and_then(|e| e.policy.as_ref())
            .map(|p| p.evaluate(&request));
        if authz::secret_action_allowed(
            &self.inner.location.account_id,
            resource_policy,
            identity,
            &request,
        ) {
            Ok(())
        } else {
            Err(Error::AccessDenied(format!(
                "{} is not authorized to perform {action} on {resource}",
                call.who.arn
            )))
        }
    }

    /// The id of the CMK that seals `record`'s new values: the one it names, else the account's
    /// default secrets key, made on first use.
    /// Called once the caller is authorised, so a refused request makes no key.
    pub(crate) fn secret_key_id(
        &self,
        state: &mut State,
        kms_key_id: Option<&str>,
    ) -> Result<String> {
        match kms_key_id {
            Some(named) => Ok(named.to_owned()),
            None => self.default_secrets_key(state),
        }
    }

    /// The account's `alias/aws/secretsmanager` key, made with AWS's managed-key policy (any
    /// principal of the account, through the secrets manager only) the first time it is needed.
    fn default_secrets_key(&self, state: &mut State) -> Result<String> {
        if let Some(alias) = state.aliases.get(DEFAULT_SECRETS_KEY_ALIAS) {
            return Ok(alias.target_key_id.clone());
        }
        let here = &self.inner.location;
        let now = self.now_ms();
        let key_id = uuid::Uuid::new_v4().to_string();
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Id": "auto-secretsmanager-2",
            "Statement": [{
                "Sid": "Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
                "Resource": "*",
                "Condition": {"StringEquals": {
                    "kms:CallerAccount": here.account_id,
                    "kms:ViaService": self.secrets_service(),
                }}
            }, {
                "Sid": "Allow direct access to key metadata to the account",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{}:root", here.account_id)},
                "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
                "Resource": "*"
            }]
        })
        .to_string();
        let record = KeyRecord {
            key_id: key_id.clone(),
            description: "Default key that protects my Secrets Manager data when no other key \
                          is defined"
                .into(),
            key_spec: KeySpec::SymmetricDefault,
            key_usage: KeyUsage::EncryptDecrypt,
            origin: Origin::AwsKms,
            valid_to: None,
            material_fingerprint: None,
            custom_key_store_id: None,
            creation_date: now,
            state: KeyState::Enabled,
            deletion_date: None,
            pending_window_days: None,
            tags: Vec::new(),
            policy: policy.clone(),
            primary_version: 1,
            rotation_period_days: None,
            next_rotation: None,
            rotations: Vec::new(),
        };
        let alias = AliasRecord {
            name: DEFAULT_SECRETS_KEY_ALIAS.to_owned(),
            target_key_id: key_id.clone(),
            creation_date: now,
            last_updated_date: now,
        };
        let (key, sealed) = root::new_version(&self.inner.root, &key_id, 1)?;
        let mut store = self.store();
        store.put_key(&record, Some((1, &sealed)))?;
        store.put_alias(&alias)?;
        drop(store);
        state.keys.insert(
            key_id.clone(),
            KeyEntry {
                record,
                policy: Policy::parse(&policy)?,
                material: Material::Symmetric(vec![key]),
            },
        );
        state.aliases.insert(alias.name.clone(), alias);
        tracing::info!(key = %self.arn(&key_id), "made the account's default secrets key");
        Ok(key_id)
    }

    /// Seals a new version's value under the primary version of the CMK `key_id` names, as the
    /// secrets manager acting for the caller (`kms:GenerateDataKey` through `kms:ViaService`).
    /// Returns the sealed value and the CMK's ARN. A CMK that is disabled or being deleted is an
    /// `EncryptionFailure`.
    pub(crate) fn seal_secret_value(
        &self,
        state: &State,
        key_id: &str,
        secret_arn: &str,
        version_id: &str,
        value: &SecretValue,
        call: &mut Call<'_>,
    ) -> Result<(seal::Sealed, String)> {
        call.via_service = Some(self.secrets_service());
        let entry = self
            .resolve_for(state, key_id, KeyOperation::GenerateDataKey, call)
            .map_err(|e| key_failure(e, Error::EncryptionFailure))?;
        call.via_service = None;
        let context = seal::context(secret_arn, version_id);
        let cmk = entry.primary()?;
        let sealed = seal::seal(
            |data_key| cmk.seal(data_key, &context),
            value.expose_secret(),
            &context,
        )?;
        Ok((sealed, self.arn(&entry.record.key_id)))
    }

    /// Opens a version's value with the CMK version that sealed it, as the secrets manager
    /// acting for the caller (`kms:Decrypt` through `kms:ViaService`). A CMK that is disabled,
    /// being deleted or destroyed is a `DecryptionFailure`.
    pub(crate) fn open_secret_value(
        &self,
        state: &State,
        entry: &SecretEntry,
        version_id: &str,
        call: &mut Call<'_>,
    ) -> Result<SecretBytes> {
        let sealed = entry.sealed.get(version_id).ok_or_else(|| {
            Error::Internal(format!(
                "version {version_id} of {} has no stored value",
                entry.record.arn
            ))
        })?;
        let blob = Blob::parse(&sealed.wrapped_key).map_err(|_| {
            Error::DecryptionFailure("the secret's sealed data key is not valid".into())
        })?;
        let secret_arn = call.event.secret_arn.take();
        call.via_service = Some(self.secrets_service());
        let key = self.resolve_for(state, blob.key_id(), KeyOperation::Decrypt, call);
        call.via_service = None;
        call.event.secret_arn = secret_arn;
        let key = key.map_err(|e| key_failure(e, Error::DecryptionFailure))?;
        let context = seal::context(&entry.record.arn, version_id);
        seal::open(|_| key.open(&blob, &context), sealed, &context).map_err(|e| match e {
            // An HSM that cannot be reached now is worth retrying, unlike a value that does
            // not open.
            Error::KeyUnavailable(_) => e,
            _ => Error::DecryptionFailure("the secret's value does not open".into()),
        })
    }

    /// Stores a secret's record (and a new version's sealed value, when given) durably, prunes
    /// versions over the limit, then updates the index.
    pub(crate) fn put_secret(
        &self,
        state: &mut State,
        mut record: SecretRecord,
        new_value: Option<(&str, seal::Sealed)>,
    ) -> Result<SecretRecord> {
        let pruned = labels::prune(&mut record.versions, self.now_ms());
        let policy = record
            .resource_policy
            .as_deref()
            .map(Policy::parse)
            .transpose()?;
        self.store()
            .put_secret(&record, new_value.as_ref().map(|(id, s)| (*id, s)), &pruned)?;
        let entry = state
            .secrets
            .entry(record.arn.clone())
            .or_insert_with(|| SecretEntry {
                record: record.clone(),
                policy: None,
                sealed: Default::default(),
            });
        entry.record = record.clone();
        entry.policy = policy;
        for id in &pruned {
            entry.sealed.remove(id);
        }
        if let Some((id, sealed)) = new_value {
            entry.sealed.insert(id.to_owned(), sealed);
        }
        state
            .secret_names
            .insert(record.name.clone(), record.arn.clone());
        if let Some(due) = record.deletion_date {
            self.note_due_at(due);
        }
        Ok(record)
    }

    /// Forgets a secret: its record and every sealed value, wiped from the store.
    pub(crate) fn erase_secret(&self, state: &mut State, arn: &str) -> Result<()> {
        self.store().delete_secret(arn)?;
        if let Some(entry) = state.secrets.remove(arn)
            && state
                .secret_names
                .get(&entry.record.name)
                .map(String::as_str)
                == Some(arn)
        {
            state.secret_names.remove(&entry.record.name);
        }
        Ok(())
    }

    /// Marks the day a secret (and one of its versions) was read, as AWS keeps it: a date, so
    /// the record is written at most once a day per secret.
    pub(crate) fn note_secret_read(&self, arn: &str, version_id: &str) -> Result<()> {
        let today = self.now_ms() / DAY_MS * DAY_MS;
        let stale = self.read().secrets.get(arn).is_some_and(|e| {
            e.record.last_accessed != Some(today)
                || e.record.versions.get(version_id).map(|v| v.last_accessed) != Some(Some(today))
        });
        if !stale {
            return Ok(());
        }
        let mut state = self.write();
        let Some(entry) = state.secrets.get(arn) else {
            return Ok(());
        };
        let mut record = entry.record.clone();
        record.last_accessed = Some(today);
        if let Some(v) = record.versions.get_mut(version_id) {
            v.last_accessed = Some(today);
        }
        self.put_secret(&mut state, record, None).map(drop)
    }
}

/// Why the CMK could not be used, as the secrets manager words it: a refusal of the key
/// (disabled, being deleted, gone) becomes `EncryptionFailure` or
/// `DecryptionFailure`; a refusal of the caller stays `AccessDeniedException`, as in AWS, and a
/// failure of the key core itself stays what it is.
fn key_failure(e: Error, as_failure: fn(String) -> Error) -> Error {
    match e {
        Error::Disabled(m) | Error::InvalidState(m) | Error::NotFound(m) => {
            as_failure(format!("the secret's KMS key cannot be used: {m}"))
        }
        other => other,
    }
}
