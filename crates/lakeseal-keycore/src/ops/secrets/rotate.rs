//! `RotateSecret` and `CancelRotateSecret`: a secret's rotator and schedule, and rotating now.
//!
//! The rotation itself runs in the key core (`core/rotation.rs`), in the request when
//! `RotateImmediately` (the default), so the caller learns whether it worked; scheduled ones
//! run in the scheduler.

use lakeseal_kms_types::secrets::SecretIdRequest;
use lakeseal_kms_types::secrets::rotate::{RotateSecretRequest, RotateSecretResponse};

use super::write::{secret_ref, token_of};
use crate::core::Call;
use crate::secrets::RotationConfig;
use crate::secrets::schedule::Schedule;
use crate::{Error, KeyCore, Principal, RequestContext, Result};

impl KeyCore {
    /// Sets a secret's rotator and schedule, and rotates it now unless `RotateImmediately` is
    /// false. A rotator or schedule left out stays as configured before.
    pub async fn rotate_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: RotateSecretRequest,
    ) -> Result<RotateSecretResponse> {
        let mut call = self.secrets_call("RotateSecret", who, ctx);
        let result = match self.admit(who, ctx).await {
            Ok(()) => self.rotate_secret_apply(req, &mut call).await,
            Err(e) => Err(e),
        };
        self.finish(call, result).await
    }

    async fn rotate_secret_apply(
        &self,
        req: RotateSecretRequest,
        call: &mut Call<'_>,
    ) -> Result<RotateSecretResponse> {
        let token = token_of(req.client_request_token)?;
        let immediately = req.rotate_immediately.unwrap_or(true);
        if let Some(arn) = &req.rotation_lambda_arn {
            self.rotator_named(arn)?;
        }
        let schedule = req
            .rotation_rules
            .as_ref()
            .map(Schedule::parse)
            .transpose()?;
        let configured_by = (call.who.account_id.clone(), call.who.arn.clone());
        let record = self.change_secret(
            &req.secret_id,
            "secretsmanager:RotateSecret",
            false,
            call,
            |record, now| {
                let before = record.rotation.take();
                let rotator_arn = req
                    .rotation_lambda_arn
                    .or_else(|| before.as_ref().map(|r| r.rotator_arn.clone()))
                    .ok_or_else(|| {
                        Error::InvalidParameter(
                            "the secret has no rotator yet: give RotationLambdaARN".into(),
                        )
                    })?;
                let rules = req
                    .rotation_rules
                    .or_else(|| before.as_ref().map(|r| r.rules.clone()))
                    .ok_or_else(|| {
                        Error::InvalidParameter(
                            "the secret has no rotation schedule yet: give RotationRules".into(),
                        )
                    })?;
                let schedule = match schedule {
                    Some(s) => s,
                    None => Schedule::parse(&rules)?,
                };
                if immediately && record.current_version().is_none() {
                    return Err(Error::InvalidRequest(
                        "the secret has no AWSCURRENT value to rotate".into(),
                    ));
                }
                record.rotation = Some(RotationConfig {
                    rotator_arn,
                    rules,
                    enabled: true,
                    // Rotating now schedules the next one when it finishes.
                    next_rotation: schedule.next_after(now),
                    pending: before.and_then(|r| r.pending),
                    configured_by: Some(configured_by),
                });
                Ok(())
            },
        )?;
        if !immediately {
            return Ok(RotateSecretResponse {
                secret: secret_ref(&record),
                version_id: None,
            });
        }
        call.event.version_id = Some(token.clone());
        self.run_rotation(&record.arn, &token).await?;
        Ok(RotateSecretResponse {
            secret: secret_ref(&record),
            version_id: Some(token),
        })
    }

    /// Turns a secret's scheduled rotation off (the rotator and rules are kept for the next
    /// `RotateSecret`). A version an unfinished rotation left `AWSPENDING` keeps the label, as
    /// in AWS; the next rotation discards it.
    pub async fn cancel_rotate_secret(
        &self,
        who: &Principal,
        ctx: &RequestContext,
        req: SecretIdRequest,
    ) -> Result<RotateSecretResponse> {
        let mut call = self.secrets_call("CancelRotateSecret", who, ctx);
        let result = match self.admit(who, ctx).await {
            Ok(()) => self
                .change_secret(
                    &req.secret_id,
                    "secretsmanager:CancelRotateSecret",
                    false,
                    &mut call,
                    |record, _| {
                        if let Some(config) = record.rotation.as_mut() {
                            config.enabled = false;
                            config.next_rotation = None;
                        }
                        Ok(())
                    },
                )
                .map(|record| RotateSecretResponse {
                    version_id: record.rotation.as_ref().and_then(|r| r.pending.clone()),
                    secret: secret_ref(&record),
                }),
            Err(e) => Err(e),
        };
        self.finish(call, result).await
    }
}
