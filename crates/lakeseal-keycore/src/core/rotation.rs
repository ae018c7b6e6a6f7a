//! The rotation engine: runs a rotator's four steps on a secret and moves its staging labels.
//!
//! * `createSecret` stores the rotator's new value as version `token`, labelled `AWSPENDING`;
//!   `setSecret` and `testSecret` put it in place and prove it; `finishSecret` moves
//!   `AWSCURRENT` to it (`AWSPREVIOUS` to the old one) and lets the rotator retire the old value.
//!   Until then `AWSCURRENT` is untouched, so a failure or a `kill -9` anywhere leaves it valid.
//! * Each step is audited, allowed or failed, and is idempotent on `token`: a retry with the
//!   same token resumes where the last attempt stopped.
//! * The version a failed or interrupted attempt left pending is remembered in the secret's
//!   `RotationConfig::pending`; an attempt with another token hands it to the rotator's
//!   `discard` and starts afresh — a retried rotation makes a new value, never reuses one that
//!   may have been half applied.
//! * One rotation per secret at a time (`Inner::rotating`).

use std::sync::{Arc, PoisonError};

use lakeseal_envelope::SecretBytes;
use lakeseal_kms_types::secrets::{AWSCURRENT, AWSPENDING, SecretTag, SecretValue};

use super::{Call, KeyCore};
use crate::clock::Millis;
use crate::request::Principal;
use crate::rotation::{Rotating, RotationError, Rotator};
use crate::secrets::schedule::Schedule;
use crate::secrets::{SecretEntry, SecretRecord, labels};
use crate::{Error, Result, Service};

/// A rotation that failed or was interrupted is tried again by the scheduler after this long.
pub(crate) const RETRY_AFTER_MS: Millis = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    Set,
    Test,
    Finish,
}

impl Step {
    const ALL: [Step; 4] = [Step::Create, Step::Set, Step::Test, Step::Finish];

    fn name(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }
}

/// What is left to do for a rotation that may have started before.
enum Plan {
    /// Version `token` is already current: an earlier attempt finished.
    Done,
    /// Run the steps, after discarding the stale pending version, if any.
    Run {
        rotator: Arc<dyn Rotator>,
        tags: Vec<SecretTag>,
        stale: Option<String>,
    },
}

/// A secret being rotated; dropping it lets the next rotation of that secret start.
struct Claim<'a> {
    core: &'a KeyCore,
    arn: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.core
            .inner
            .rotating
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.arn);
    }
}

impl KeyCore {
    /// Rotates `arn` to a new version `token`, or resumes the rotation that was making it.
    pub(crate) async fn run_rotation(&self, arn: &str, token: &str) -> Result<()> {
        let _claim = self.claim_rotation(arn)?;
        let (rotator, tags, stale) = match self.plan_rotation(arn, token)? {
            Plan::Done => return Ok(()),
            Plan::Run {
                rotator,
                tags,
                stale,
            } => (rotator, tags, stale),
        };
        if let Some(stale) = stale {
            self.discard_pending(arn, &stale, &*rotator, &tags).await?;
        }
        self.change_rotating_secret(arn, |record| {
            if let Some(config) = record.rotation.as_mut() {
                config.pending = Some(token.to_owned());
            }
            Ok(())
        })?;
        let rotating = Rotating {
            core: self,
            arn,
            token,
            tags: &tags,
        };
        for step in Step::ALL {
            let result = self.rotation_step(&rotating, &*rotator, step).await;
            let (who, ctx) = self.service_caller("rotation");
            let mut call = self.step_call(step.name(), &who, &ctx, arn, token);
            call.event.version_stage = Some(AWSPENDING.to_owned());
            self.finish(call, result).await?;
        }
        Ok(())
    }

    fn claim_rotation(&self, arn: &str) -> Result<Claim<'_>> {
        let mut rotating = self
            .inner
            .rotating
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !rotating.insert(arn.to_owned()) {
            return Err(Error::InvalidRequest(
                "a rotation of this secret is in progress".into(),
            ));
        }
        Ok(Claim {
            core: self,
            arn: arn.to_owned(),
        })
    }

    /// Checks that `arn` can be rotated to `token` and says what is left to do. First moves the
    /// next scheduled attempt out by [`RETRY_AFTER_MS`], so that a rotation that fails or is
    /// killed is tried again later rather than on every tick.
    fn plan_rotation(&self, arn: &str, token: &str) -> Result<Plan> {
        let retry = self.now_ms() + RETRY_AFTER_MS;
        self.change_rotating_secret(arn, |record| {
            if let Some(config) = record.rotation.as_mut().filter(|c| c.enabled) {
                config.next_rotation = Some(retry);
            }
            Ok(())
        })?;
        let state = self.read();
        let record = &rotating(&state, arn)?.record;
        crate::ops::secrets::refuse_if_deleted(record)?;
        let config = record.rotation.as_ref().ok_or_else(|| {
            Error::InvalidRequest(
                "the secret has no rotator: call RotateSecret with RotationLambdaARN".into(),
            )
        })?;
        let rotator = self.rotator_named(&config.rotator_arn)?;
        let current = record.current_version().ok_or_else(|| {
            Error::InvalidRequest("the secret has no AWSCURRENT value to rotate".into())
        })?;
        if current == token {
            return Ok(Plan::Done);
        }
        if let Some(version) = record.versions.get(token)
            && !version.stages.iter().any(|s| s == AWSPENDING)
        {
            return Err(Error::InvalidRequest(format!(
                "version {token} exists and is not pending: give a new ClientRequestToken"
            )));
        }
        let stale = match labels::holder(&record.versions, AWSPENDING) {
            Some(pending) if pending != current && pending != token => {
                if config.pending.as_deref() != Some(pending) {
                    return Err(Error::InvalidRequest(format!(
                        "a previous rotation isn't complete: AWSPENDING is on version {pending}, \
                         not on AWSCURRENT's; move or remove the label first"
                    )));
                }
                Some(pending.to_owned())
            }
            _ => None,
        };
        Ok(Plan::Run {
            rotator,
            tags: record.tags.clone(),
            stale,
        })
    }

    /// Hands the version an unfinished rotation left pending to the rotator to undo, then takes
    /// `AWSPENDING` off it (the version is kept, unlabelled, until pruned).
    async fn discard_pending(
        &self,
        arn: &str,
        stale: &str,
        rotator: &dyn Rotator,
        tags: &[SecretTag],
    ) -> Result<()> {
        let rotating = Rotating {
            core: self,
            arn,
            token: stale,
            tags,
        };
        let result = async {
            let value = self.open_version(arn, stale)?;
            rotator
                .discard(&rotating, &value)
                .await
                .map_err(|e| rotator_failed("discard", &e))?;
            self.change_rotating_secret(arn, |record| {
                labels::detach(&mut record.versions, AWSPENDING, stale);
                if let Some(config) = record.rotation.as_mut() {
                    config.pending = None;
                }
                Ok(())
            })
        }
        .await;
        let (who, ctx) = self.service_caller("rotation");
        let call = self.step_call("discardPending", &who, &ctx, arn, stale);
        self.finish(call, result).await
    }

    async fn rotation_step(
        &self,
        r: &Rotating<'_>,
        rotator: &dyn Rotator,
        step: Step,
    ) -> Result<()> {
        let failed = |e: RotationError| rotator_failed(step.name(), &e);
        match step {
            Step::Create => {
                let made = self
                    .read()
                    .secrets
                    .get(r.arn)
                    .is_some_and(|e| e.record.versions.contains_key(r.token));
                if made {
                    // An earlier attempt with this token got this far.
                    return Ok(());
                }
                let current = self.open_labelled(r.arn, AWSCURRENT)?;
                let value = rotator.create_secret(r, &current).await.map_err(failed)?;
                self.store_pending(r.arn, r.token, &value)
            }
            Step::Set => {
                let current = self.open_labelled(r.arn, AWSCURRENT)?;
                let pending = self.open_version(r.arn, r.token)?;
                rotator
                    .set_secret(r, &current, &pending)
                    .await
                    .map_err(failed)
            }
            Step::Test => {
                let pending = self.open_version(r.arn, r.token)?;
                rotator.test_secret(r, &pending).await.map_err(failed)
            }
            Step::Finish => {
                let previous = self.open_labelled(r.arn, AWSCURRENT)?;
                self.make_current(r.arn, r.token)?;
                // After the move: a rotator that retires the old value must never leave the
                // secret without a working one. If this fails the rotation has still happened;
                // the old value just stays valid, and the failure is audited.
                rotator.finish_secret(r, &previous).await.map_err(failed)
            }
        }
    }

    /// Seals the new value as version `token`, labelled `AWSPENDING`.
    fn store_pending(&self, arn: &str, token: &str, value: &SecretValue) -> Result<()> {
        let (who, ctx) = self.service_caller("rotation");
        let mut call = self.internal_call("createSecret", &who, &ctx);
        let mut state = self.write();
        let mut record = rotating(&state, arn)?.record.clone();
        let key_id = self.secret_key_id(&mut state, record.kms_key_id.as_deref())?;
        let (sealed, key_arn) =
            self.seal_secret_value(&state, &key_id, arn, token, value, &mut call)?;
        let now = self.now_ms();
        record.add_version(token, value, key_arn, &[AWSPENDING.to_owned()], now)?;
        record.last_changed = now;
        self.put_secret(&mut state, record, Some((token, sealed)))
            .map(drop)
    }

    /// `finishSecret`'s label move: `AWSCURRENT` to `token` (`AWSPREVIOUS` to the version that
    /// had it), `AWSPENDING` off; the next rotation scheduled from now.
    fn make_current(&self, arn: &str, token: &str) -> Result<()> {
        let now = self.now_ms();
        self.change_rotating_secret(arn, |record| {
            labels::attach(&mut record.versions, AWSCURRENT, token)?;
            labels::detach(&mut record.versions, AWSPENDING, token);
            record.last_rotated = Some(now);
            if let Some(config) = record.rotation.as_mut() {
                config.pending = None;
                config.next_rotation = if config.enabled {
                    Schedule::parse(&config.rules)?.next_after(now)
                } else {
                    None
                };
            }
            Ok(())
        })
    }

    /// Changes a secret's record with `change` and stores it.
    fn change_rotating_secret(
        &self,
        arn: &str,
        change: impl FnOnce(&mut SecretRecord) -> Result<()>,
    ) -> Result<()> {
        let mut state = self.write();
        let entry = rotating(&state, arn)?;
        let mut record = entry.record.clone();
        change(&mut record)?;
        record.last_changed = self.now_ms();
        self.put_secret(&mut state, record, None).map(drop)
    }

    /// The value of the version carrying `label`, opened by the key core for a rotation step.
    fn open_labelled(&self, arn: &str, label: &str) -> Result<SecretValue> {
        let id = {
            let state = self.read();
            let record = &rotating(&state, arn)?.record;
            labels::holder(&record.versions, label)
                .ok_or_else(|| Error::InvalidRequest(format!("no version is labelled {label}")))?
                .to_owned()
        };
        self.open_version(arn, &id)
    }

    /// Version `version_id`'s value, opened by the key core for a rotation step (the step's own
    /// audit record covers it).
    fn open_version(&self, arn: &str, version_id: &str) -> Result<SecretValue> {
        let (who, ctx) = self.service_caller("rotation");
        let mut call = self.internal_call("GetSecretValue", &who, &ctx);
        let state = self.read();
        let entry = rotating(&state, arn)?;
        let binary = entry
            .record
            .versions
            .get(version_id)
            .ok_or_else(|| Error::NotFound(format!("version {version_id} does not exist")))?
            .binary;
        let bytes = self.open_secret_value(&state, entry, version_id, &mut call)?;
        Ok(value_of(bytes, binary))
    }

    /// For [`Rotating::read_current`]: `secret_id`'s `AWSCURRENT` value, read with the
    /// permissions of whoever set up the rotation of `rotating_arn`, and audited as theirs.
    pub(crate) async fn read_for_rotation(
        &self,
        rotating_arn: &str,
        secret_id: &str,
    ) -> Result<SecretValue> {
        let configured_by = self
            .read()
            .secrets
            .get(rotating_arn)
            .and_then(|e| e.record.rotation.as_ref())
            .and_then(|r| r.configured_by.clone());
        let Some((account_id, arn)) = configured_by else {
            return Err(Error::AccessDenied(
                "the rotation has no principal to read other secrets as; call RotateSecret again"
                    .into(),
            ));
        };
        let who = Principal {
            account_id,
            arn,
            access_key_id: None,
        };
        let (_, ctx) = self.service_caller("rotation");
        let mut call = self.secrets_call("GetSecretValue", &who, &ctx);
        let result = self.read_current_as(secret_id, &mut call);
        self.finish(call, result).await
    }

    fn read_current_as(&self, secret_id: &str, call: &mut Call<'_>) -> Result<SecretValue> {
        let state = self.read();
        let entry = self.authorized_secret(
            &state,
            secret_id,
            "secretsmanager:GetSecretValue",
            Some(AWSCURRENT),
            call,
        )?;
        crate::ops::secrets::refuse_if_deleted(&entry.record)?;
        let (id, version) = entry
            .record
            .find_version(None, None)
            .ok_or_else(|| Error::NotFound("the secret has no AWSCURRENT value".into()))?;
        call.event.version_id = Some(id.to_owned());
        call.event.version_stage = Some(AWSCURRENT.to_owned());
        let bytes = self.open_secret_value(&state, entry, id, call)?;
        Ok(value_of(bytes, version.binary))
    }

    /// The rotator an ARN names: `arn:<partition>:lakeseal:<region>:<account>:rotator/<name>`
    /// of this key core, and registered.
    pub(crate) fn rotator_named(&self, rotator_arn: &str) -> Result<Arc<dyn Rotator>> {
        let here = &self.inner.location;
        let prefix = format!(
            "arn:{}:lakeseal:{}:{}:rotator/",
            here.partition, here.region, here.account_id
        );
        let name = rotator_arn.strip_prefix(&prefix).ok_or_else(|| {
            Error::InvalidParameter(format!(
                "RotationLambdaARN must be {prefix}<name>, naming a built-in rotator"
            ))
        })?;
        self.inner.rotators.get(name).ok_or_else(|| {
            Error::InvalidParameter(format!(
                "no rotator is named {}; this key core has {:?}",
                crate::secrets::names::shown(name),
                self.inner.rotators
            ))
        })
    }

    fn step_call<'a>(
        &self,
        step: &str,
        who: &'a Principal,
        ctx: &'a crate::RequestContext,
        arn: &str,
        token: &str,
    ) -> Call<'a> {
        let mut call = self.internal_call(step, who, ctx);
        call.service = Service::SecretsManager;
        call.event.service = Some("secretsmanager".to_owned());
        call.event.secret_arn = Some(arn.to_owned());
        call.event.version_id = Some(token.to_owned());
        call
    }
}

/// The secret being rotated, which a concurrent `DeleteSecret` with
/// `ForceDeleteWithoutRecovery` may have erased.
fn rotating<'s>(state: &'s super::State, arn: &str) -> Result<&'s SecretEntry> {
    state
        .secrets
        .get(arn)
        .ok_or_else(|| Error::NotFound(format!("secret {arn} does not exist")))
}

fn value_of(bytes: SecretBytes, binary: bool) -> SecretValue {
    if binary {
        SecretValue::Binary(bytes)
    } else {
        SecretValue::String(bytes)
    }
}

/// A rotator's refusal, as the caller of `RotateSecret` sees it.
fn rotator_failed(step: &str, e: &RotationError) -> Error {
    Error::InvalidRequest(format!(
        "rotation failed at {step}: {e}. AWSCURRENT is unchanged; the next attempt starts over \
         with a new value"
    ))
}
