//! `CreateKey`: a new customer master key — symmetric with its first version, or an RSA or ECC
//! key pair.

use super::tags::check_tags;
use crate::core::Call;
use crate::key_spec::{KeySpec, KeyUsage, Origin};
use crate::model::KeyRecord;
use crate::policy::Policy;
use crate::state::KeyState;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

pub use lakeseal_kms_types::create_key::{CreateKeyRequest, CreateKeyResponse};

/// The longest description AWS KMS accepts.
const MAX_DESCRIPTION: usize = 8192;
/// The largest key policy AWS KMS accepts, in bytes.
const MAX_POLICY: usize = 32 * 1024;

/// The default key policy: the account root may do everything, as in AWS KMS.
pub fn default_policy(account_id: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account_id}:root")},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// The spec (`KeySpec`, or its older name `CustomerMasterKeySpec`) and usage asked for, checked
/// to fit together. Usage defaults to `ENCRYPT_DECRYPT` whatever the spec, as in AWS KMS, so an
/// ECC key must name `SIGN_VERIFY`.
fn spec_and_usage(req: &CreateKeyRequest) -> Result<(KeySpec, KeyUsage)> {
    let spec = match (&req.key_spec, &req.customer_master_key_spec) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::Validation(
                "give KeySpec or CustomerMasterKeySpec, not both".into(),
            ));
        }
        (Some(name), _) | (None, Some(name)) => KeySpec::parse(name)?,
        (None, None) => KeySpec::SymmetricDefault,
    };
    let usage = match &req.key_usage {
        Some(name) => KeyUsage::parse(name)?,
        None => KeyUsage::EncryptDecrypt,
    };
    if !spec.allows(usage) {
        return Err(Error::Validation(format!(
            "a {} key cannot have KeyUsage {} (the default when none is given)",
            spec.as_str(),
            usage.as_str()
        )));
    }
    Ok((spec, usage))
}

impl KeyCore {
    /// The key store a new key of `origin` goes in: the one named, or the default, connected
    /// and able to make keys of `spec` for `usage`. `None` for keys held here.
    fn custom_key_store(
        &self,
        origin: Origin,
        (spec, usage): (KeySpec, KeyUsage),
        req: &CreateKeyRequest,
    ) -> Result<Option<String>> {
        if origin != Origin::AwsCloudhsm {
            if req.custom_key_store_id.is_some() {
                return Err(Error::Validation(
                    "CustomKeyStoreId goes with Origin AWS_CLOUDHSM".into(),
                ));
            }
            return Ok(None);
        }
        let stores = &self.inner.key_stores;
        let store = match &req.custom_key_store_id {
            Some(id) => stores.get(id).ok_or_else(|| {
                Error::CustomKeyStoreNotFound(format!("no custom key store has the id {id}"))
            })?,
            None => stores.default_store().ok_or_else(|| {
                Error::CustomKeyStoreNotFound(
                    "this key core has no custom key store: configure a [[key_stores]] entry"
                        .into(),
                )
            })?,
        };
        // Reconnects first when a retry is due: PKCS#11 calls, off the runtime's worker.
        let mechanisms = crate::hsm::blocking(|| store.mechanisms()).map_err(|e| {
            Error::CustomKeyStoreInvalidState(format!(
                "custom key store {} cannot make keys now: {e}",
                store.config().id
            ))
        })?;
        if !mechanisms.supports(spec, usage) {
            return Err(Error::UnsupportedOperation(format!(
                "the token of custom key store {} cannot make and use {} keys for {}",
                store.config().id,
                spec.as_str(),
                usage.as_str()
            )));
        }
        Ok(Some(store.config().id.clone()))
    }

    /// Creates a key.
    pub async fn create_key(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: CreateKeyRequest,
    ) -> Result<CreateKeyResponse> {
        let mut call = self.call("CreateKey", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.authorize_account(&self.read(), &call, "kms:CreateKey")?;
            self.create_key_apply(req, &call)
        });
        if let Ok(r) = &result {
            call.event.key_arn = Some(r.key_metadata.arn.clone());
            call.event.key_version = Some(1);
        }
        self.finish(call, result).await
    }

    fn create_key_apply(
        &self,
        req: CreateKeyRequest,
        call: &Call<'_>,
    ) -> Result<CreateKeyResponse> {
        let (key_spec, key_usage) = spec_and_usage(&req)?;
        let origin = Origin::parse(req.origin.as_deref())?;
        let custom_key_store_id = self.custom_key_store(origin, (key_spec, key_usage), &req)?;
        if req.multi_region == Some(true) {
            return Err(Error::Validation(
                "multi-Region keys are not supported: this key core serves one region".into(),
            ));
        }
        let description = req.description.unwrap_or_default();
        if description.len() > MAX_DESCRIPTION {
            return Err(Error::Validation(format!(
                "Description is over {MAX_DESCRIPTION} characters"
            )));
        }
        let key_id = uuid::Uuid::new_v4().to_string();
        let policy = match req.policy {
            Some(p) if p.len() > MAX_POLICY => {
                return Err(Error::Validation(format!(
                    "Policy is over {MAX_POLICY} bytes"
                )));
            }
            Some(p) => {
                let parsed = Policy::parse(&p)?;
                if !req.bypass_policy_lockout_safety_check {
                    self.check_lockout(&self.read(), call, &parsed, &self.arn(&key_id))?;
                }
                p
            }
            None => default_policy(&self.location().account_id),
        };
        check_tags(&req.tags)?;
        let record = KeyRecord {
            key_id,
            description,
            key_spec,
            key_usage,
            origin,
            valid_to: None,
            material_fingerprint: None,
            custom_key_store_id,
            creation_date: self.now_ms(),
            state: match origin {
                Origin::AwsKms | Origin::AwsCloudhsm => KeyState::Enabled,
                Origin::External => KeyState::PendingImport,
            },
            deletion_date: None,
            pending_window_days: None,
            tags: req.tags,
            policy,
            primary_version: 1,
            rotation_period_days: None,
            next_rotation: None,
            rotations: Vec::new(),
        };
        let record = self.insert_key(record)?;
        Ok(CreateKeyResponse {
            key_metadata: self.metadata(&record),
        })
    }
}
