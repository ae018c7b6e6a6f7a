//! The key core's own due work, done on the next call after it falls due: scheduled rotations,
//! destroying keys whose deletion window has passed (crypto-erasure), deleting imported key
//! material that expired, erasing secrets whose
//! recovery window has, and deleting access keys a rotation retired once their overlap ends and
//! those of sessions an hour after they expired.

use std::sync::atomic::Ordering;

use super::{Call, KeyCore, Material, State};
use crate::Result;
use crate::clock::Millis;
use crate::hsm;
use crate::iam::{AccessKeyRecord, KeyOwner};
use crate::model::{KeyRecord, RotationType};
use crate::request::{Principal, RequestContext};
use crate::state::{KeyOperation, KeyState};

impl KeyCore {
    /// Lowers the next-due time to cover `record`'s schedule.
    pub(super) fn note_due(&self, record: &KeyRecord) {
        if let Some(due) = due_of(record) {
            self.inner.next_due.fetch_min(due, Ordering::SeqCst);
        }
    }

    /// Lowers the next-due time to `due`.
    pub(crate) fn note_due_at(&self, due: Millis) {
        self.inner.next_due.fetch_min(due, Ordering::SeqCst);
    }

    /// Lowers the next-due time to cover deleting `key` once it is retired or expired.
    pub(crate) fn note_access_key(&self, key: &AccessKeyRecord) {
        if let Some(due) = deleted_at(key) {
            self.note_due_at(due);
        }
    }

    /// Runs automatic rotations and destructions that are due. Cheap when nothing is: one clock
    /// read and one atomic load.
    pub async fn maintain(&self) -> Result<()> {
        if self.now_ms() < self.inner.next_due.load(Ordering::SeqCst) {
            return Ok(());
        }
        // One caller runs the work; the others go on (a key past its deletion date is already
        // refused by `resolve` whether or not it has been destroyed yet).
        let Ok(_running) = self.inner.maintenance.try_lock() else {
            return Ok(());
        };
        self.inner.next_due.store(Millis::MAX, Ordering::SeqCst);
        let now = self.now_ms();
        let (destroy, rotate, expire, erase, retired): (Vec<_>, Vec<_>, Vec<_>, Vec<_>, Vec<_>) = {
            let state = self.read();
            let destroy = state
                .keys
                .values()
                .filter(|e| self.past_deletion(&e.record))
                .map(|e| e.record.key_id.clone())
                .collect();
            let rotate = state
                .keys
                .values()
                .filter(|e| {
                    e.record.state == KeyState::Enabled
                        && e.record.next_rotation.is_some_and(|t| t <= now)
                })
                .map(|e| e.record.key_id.clone())
                .collect();
            let expire = state
                .keys
                .values()
                .filter(|e| {
                    matches!(e.record.state, KeyState::Enabled | KeyState::Disabled)
                        && e.record.valid_to.is_some_and(|t| t <= now)
                })
                .map(|e| e.record.key_id.clone())
                .collect();
            let erase = state
                .secrets
                .values()
                .filter(|e| e.record.deletion_date.is_some_and(|d| d <= now))
                .map(|e| e.record.arn.clone())
                .collect();
            let retired = state
                .access_keys
                .values()
                .filter(|k| deleted_at(k).is_some_and(|t| t <= now))
                .map(|k| k.access_key_id.clone())
                .collect();
            (destroy, rotate, expire, erase, retired)
        };
        let service = Principal::key_core(&self.inner.location.account_id);
        let ctx = RequestContext::local("lakeseal-keycore/maintenance");
        let mut outcome = Ok(());
        for key_id in destroy {
            let mut call = self.call("DeleteKey", &service, &ctx);
            call.internal = true;
            let result = self.destroy(&key_id, now, &mut call);
            outcome = outcome.and(self.finish(call, result).await);
        }
        for key_id in rotate {
            let mut call = self.call("RotateKey", &service, &ctx);
            call.internal = true;
            let result = self
                .rotate(
                    &key_id,
                    KeyOperation::RotateKeyOnDemand,
                    RotationType::Automatic,
                    &mut call,
                )
                .map(drop);
            outcome = outcome.and(self.finish(call, result).await);
        }
        for key_id in expire {
            // CloudTrail's name for it.
            let mut call = self.internal_call("DeleteExpiredKeyMaterial", &service, &ctx);
            let result = self.remove_imported(&key_id, &mut call).map(drop);
            outcome = outcome.and(self.finish(call, result).await);
        }
        for arn in erase {
            let mut call = self.secrets_call("DeleteSecret", &service, &ctx);
            call.internal = true;
            call.event.secret_arn = Some(arn.clone());
            let result = self.erase_secret(&mut self.write(), &arn);
            outcome = outcome.and(self.finish(call, result).await);
        }
        for access_key_id in retired {
            let call = self.internal_call("DeleteAccessKey", &service, &ctx);
            let result = self.delete_retired_access_key(&access_key_id);
            outcome = outcome.and(self.finish(call, result).await);
        }
        let due = earliest_due(&self.read());
        self.inner.next_due.fetch_min(due, Ordering::SeqCst);
        outcome
    }

    /// Deletes an access key whose overlap after a rotation has ended, or an expired session's.
    fn delete_retired_access_key(&self, access_key_id: &str) -> Result<()> {
        let mut state = self.write();
        self.store().delete_access_key(access_key_id)?;
        state.access_keys.remove(access_key_id);
        tracing::info!(access_key_id, "retired or expired access key deleted");
        Ok(())
    }

    /// Crypto-erasure of one key: every version's material leaves the store and memory.
    pub(super) fn destroy(&self, key_id: &str, now: Millis, call: &mut Call<'_>) -> Result<()> {
        call.event.key_arn = Some(self.arn(key_id));
        let mut state = self.write();
        // An HSM key's objects are destroyed in the token first: if the token cannot be
        // reached, the key stays pending deletion and the next run tries again.
        if let Some(entry) = state.keys.get(key_id) {
            match &entry.material {
                Material::Hsm(store) => hsm::destroy(
                    entry.hsm_store(store)?,
                    key_id,
                    entry.record.primary_version,
                )?,
                Material::HsmPair(pair) => pair.destroy()?,
                _ => {}
            }
        }
        let aliases: Vec<String> = state
            .aliases
            .values()
            .filter(|a| a.target_key_id == key_id)
            .map(|a| a.name.clone())
            .collect();
        self.store().destroy_key(key_id, &aliases, now)?;
        for alias in &aliases {
            state.aliases.remove(alias);
        }
        // Dropping the entry zeroizes every version's key schedule.
        state.keys.remove(key_id);
        state.deleted.insert(key_id.to_owned());
        tracing::info!(key = %self.arn(key_id), "key material destroyed");
        Ok(())
    }
}

pub(super) fn due_of(record: &KeyRecord) -> Option<Millis> {
    let rotation = match record.state {
        KeyState::PendingDeletion => return record.deletion_date,
        KeyState::PendingImport => return None,
        KeyState::Enabled => record.next_rotation,
        KeyState::Disabled => None,
    };
    // Imported material that expires is deleted when it does, enabled or not.
    [rotation, record.valid_to].into_iter().flatten().min()
}

/// How long an expired session's key is kept: a request signed with it in that time is told
/// `ExpiredTokenException` (which clients answer by renewing), not that the key is unknown.
const EXPIRED_SESSION_KEPT_MS: Millis = 3_600_000;

/// When an access key is deleted by maintenance: a key a rotation retired, at the end of its
/// overlap; a session's, an hour after it expired.
fn deleted_at(key: &AccessKeyRecord) -> Option<Millis> {
    match &key.owner {
        KeyOwner::Session { expires, .. } => Some(expires.saturating_add(EXPIRED_SESSION_KEPT_MS)),
        KeyOwner::User { .. } => key.retire_at,
    }
}

pub(super) fn earliest_due(state: &State) -> Millis {
    let keys = state.keys.values().filter_map(|e| due_of(&e.record));
    let secrets = state
        .secrets
        .values()
        .filter_map(|e| e.record.deletion_date);
    let retired = state.access_keys.values().filter_map(deleted_at);
    keys.chain(secrets)
        .chain(retired)
        .min()
        .unwrap_or(Millis::MAX)
}
