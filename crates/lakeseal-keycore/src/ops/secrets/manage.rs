//! Labels, tags, deletion and restoration, resource policies: changes to a secret that add no
//! version.
//!
//! A deleted secret waits out a recovery window of 7 to 30 days (default 30), refusing reads,
//! until `RestoreSecret` brings it back or the window ends and the key core erases its record
//! and every sealed value. `ForceDeleteWithoutRecovery` erases at once.

use lakeseal_kms_types::secrets::SecretIdRequest;
use lakeseal_kms_types::secrets::manage::{
    DeleteSecretRequest, DeleteSecretResponse, GetResourcePolicyResponse, PutResourcePolicyRequest,
    TagSecretRequest, UntagSecretRequest, UpdateSecretVersionStageRequest,
};
use lakeseal_kms_types::{Empty, secrets::SecretRef};

use super::check_tags;
use super::write::{refuse_if_deleted, secret_ref};
use crate::clock::{DAY_MS, Millis};
use crate::core::Call;
use crate::policy::{MAX_POLICY_BYTES, Policy};
use crate::secrets::{SecretRecord, labels};
use crate::{Error, KeyCore, Principal, RequestContext, Result};

/// The shortest and longest recovery windows, in days.
pub(crate) const RECOVERY_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;
const DEFAULT_RECOVERY_WINDOW_DAYS: u32 = 30;

impl KeyCore {
    /// Applies `change` to the secret `secret_id` names once the caller may do `action` on it,
    /// stores the result durably and indexes it. A secret being deleted is refused unless
    /// `while_deleted`.
    pub(super) fn change_secret(
        &self,
        secret_id: &str,
        action: &str,
        while_deleted: bool,
        call: &mut Call<'_>,
        change: impl FnOnce(&mut SecretRecord, Millis) -> Result<()>,
    ) -> Result<SecretRecord> {
        let mut state = self.write();
        let entry = self.authorized_secret(&state, secret_id, action, None, call)?;
        if !while_deleted {
            refuse_if_deleted(&entry.record)?;
        }
        let mut record = entry.record.clone();
        let now = self.now_ms();
        change(&mut record, now)?;
        record.last_changed = now;
        self.put_secret(&mut state, record, None)
    }

    /// Moves, adds or removes one staging label.
    pub async fn update_secret_version_stage(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: UpdateSecretVersionStageRequest,
    ) -> Result<SecretRef> {
        let mut call = self.secrets_call("UpdateSecretVersionStage", who, ctx);
        call.event.version_stage = Some(req.version_stage.clone());
        call.event.version_id = req.move_to_version_id.clone();
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.change_secret(
                &req.secret_id,
                "secretsmanager:UpdateSecretVersionStage",
                false,
                &mut call,
                |record, _| {
                    labels::update_stage(
                        &mut record.versions,
                        &req.version_stage,
                        req.remove_from_version_id.as_deref(),
                        req.move_to_version_id.as_deref(),
                    )
                },
            )
            .map(|r| secret_ref(&r))
        });
        self.finish(call, result).await
    }

    /// Adds tags, overwriting those with the same keys.
    pub async fn tag_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: TagSecretRequest,
    ) -> Result<Empty> {
        let mut call = self.secrets_call("TagResource", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            check_tags(&req.tags)?;
            self.change_secret(
                &req.secret_id,
                "secretsmanager:TagResource",
                false,
                &mut call,
                |record, _| {
                    for tag in req.tags {
                        record.tags.retain(|t| t.key != tag.key);
                        record.tags.push(tag);
                    }
                    check_tags(&record.tags)
                },
            )
            .map(|_| Empty {})
        });
        self.finish(call, result).await
    }

    /// Removes tags by key.
    pub async fn untag_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: UntagSecretRequest,
    ) -> Result<Empty> {
        let mut call = self.secrets_call("UntagResource", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.change_secret(
                &req.secret_id,
                "secretsmanager:UntagResource",
                false,
                &mut call,
                |record, _| {
                    record.tags.retain(|t| !req.tag_keys.contains(&t.key));
                    Ok(())
                },
            )
            .map(|_| Empty {})
        });
        self.finish(call, result).await
    }

    /// Schedules a secret's deletion after a recovery window, or erases it at once.
    pub async fn delete_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: DeleteSecretRequest,
    ) -> Result<DeleteSecretResponse> {
        let mut call = self.secrets_call("DeleteSecret", who, ctx);
        let result = match self.admit(who, ctx).await {
            Ok(()) => self.delete_secret_apply(req, &mut call),
            Err(e) => Err(e),
        };
        self.finish(call, result).await
    }

    fn delete_secret_apply(
        &self,
        req: DeleteSecretRequest,
        call: &mut Call<'_>,
    ) -> Result<DeleteSecretResponse> {
        let force = req.force_delete_without_recovery.unwrap_or(false);
        if force && req.recovery_window_in_days.is_some() {
            return Err(Error::InvalidParameter(
                "you can't use ForceDeleteWithoutRecovery with RecoveryWindowInDays".into(),
            ));
        }
        let days = req
            .recovery_window_in_days
            .unwrap_or(DEFAULT_RECOVERY_WINDOW_DAYS);
        if !RECOVERY_WINDOW_DAYS.contains(&days) {
            return Err(Error::InvalidParameter(format!(
                "RecoveryWindowInDays {days} is out of range {}-{}",
                RECOVERY_WINDOW_DAYS.start(),
                RECOVERY_WINDOW_DAYS.end()
            )));
        }
        if force {
            let mut state = self.write();
            let entry = self.authorized_secret(
                &state,
                &req.secret_id,
                "secretsmanager:DeleteSecret",
                None,
                call,
            )?;
            let arn = entry.record.arn.clone();
            let secret = secret_ref(&entry.record);
            self.erase_secret(&mut state, &arn)?;
            return Ok(DeleteSecretResponse {
                secret,
                deletion_date: self.now_ms(),
            });
        }
        let record = self.change_secret(
            &req.secret_id,
            "secretsmanager:DeleteSecret",
            true,
            call,
            |record, now| {
                // Deleting again keeps the first date, as AWS does.
                record
                    .deletion_date
                    .get_or_insert(now + i64::from(days) * DAY_MS);
                Ok(())
            },
        )?;
        Ok(DeleteSecretResponse {
            secret: secret_ref(&record),
            deletion_date: record.deletion_date.unwrap_or_default(),
        })
    }

    /// Cancels a scheduled deletion.
    pub async fn restore_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: SecretIdRequest,
    ) -> Result<SecretRef> {
        let mut call = self.secrets_call("RestoreSecret", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.change_secret(
                &req.secret_id,
                "secretsmanager:RestoreSecret",
                true,
                &mut call,
                |record, _| {
                    record.deletion_date = None;
                    Ok(())
                },
            )
            .map(|r| secret_ref(&r))
        });
        self.finish(call, result).await
    }

    /// Sets a secret's resource policy. Unless `BlockPublicPolicy` is false, one that lets
    /// anyone in (`"Principal": "*"` without a condition) is refused.
    pub async fn put_resource_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: PutResourcePolicyRequest,
    ) -> Result<SecretRef> {
        let mut call = self.secrets_call("PutResourcePolicy", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            if req.resource_policy.len() > MAX_POLICY_BYTES {
                return Err(Error::MalformedPolicy(format!(
                    "the resource policy is over {MAX_POLICY_BYTES} bytes"
                )));
            }
            let policy = Policy::parse(&req.resource_policy)?;
            if req.block_public_policy.unwrap_or(true) && policy.is_public() {
                return Err(Error::PublicPolicy(
                    "the resource policy grants access to everyone (Principal \"*\" without a \
                     condition); set BlockPublicPolicy to false if that is intended"
                        .into(),
                ));
            }
            self.change_secret(
                &req.secret_id,
                "secretsmanager:PutResourcePolicy",
                false,
                &mut call,
                |record, _| {
                    record.resource_policy = Some(req.resource_policy);
                    Ok(())
                },
            )
            .map(|r| secret_ref(&r))
        });
        self.finish(call, result).await
    }

    /// A secret's resource policy, if it has one.
    pub async fn get_resource_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: SecretIdRequest,
    ) -> Result<GetResourcePolicyResponse> {
        let mut call = self.secrets_call("GetResourcePolicy", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            let state = self.read();
            let entry = self.authorized_secret(
                &state,
                &req.secret_id,
                "secretsmanager:GetResourcePolicy",
                None,
                &mut call,
            )?;
            Ok(GetResourcePolicyResponse {
                secret: secret_ref(&entry.record),
                resource_policy: entry.record.resource_policy.clone(),
            })
        });
        self.finish(call, result).await
    }

    /// Removes a secret's resource policy.
    pub async fn delete_resource_policy(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: SecretIdRequest,
    ) -> Result<SecretRef> {
        let mut call = self.secrets_call("DeleteResourcePolicy", who, ctx);
        let result = self.admit(who, ctx).await.and_then(|()| {
            self.change_secret(
                &req.secret_id,
                "secretsmanager:DeleteResourcePolicy",
                false,
                &mut call,
                |record, _| {
                    record.resource_policy = None;
                    Ok(())
                },
            )
            .map(|r| secret_ref(&r))
        });
        self.finish(call, result).await
    }
}
