//! Changing keys (state, rotation, new keys) durably, and sealing and opening blobs under them.

use lakeseal_envelope::{Blob, EncryptionContext, SecretBytes};

use super::{Call, KeyCore, KeyEntry, Material, State, check_context};
use crate::asymmetric::PrivateKey;
use crate::clock::{DAY_MS, Millis};
use crate::model::{KeyRecord, Rotation, RotationType};
use crate::policy::Policy;
use crate::state::{KeyOperation, KeyState};
use crate::{Error, Result, root};

impl KeyCore {
    pub(super) fn past_deletion(&self, record: &KeyRecord) -> bool {
        record.state == KeyState::PendingDeletion
            && record.deletion_date.is_some_and(|d| d <= self.now_ms())
    }

    /// Applies `change` to the record of the key `identifier` names, stores it durably, then
    /// updates the index. Returns the new record.
    pub(crate) fn update_key(
        &self,
        identifier: &str,
        op: KeyOperation,
        call: &mut Call<'_>,
        change: impl FnOnce(&mut KeyRecord, Millis) -> Result<()>,
    ) -> Result<KeyRecord> {
        let mut state = self.write();
        let entry = self.resolve_for(&state, identifier, op, call)?;
        let mut record = entry.record.clone();
        change(&mut record, self.now_ms())?;
        let policy = (record.policy != entry.record.policy)
            .then(|| Policy::parse(&record.policy))
            .transpose()?;
        self.store().put_key(&record, None)?;
        self.note_due(&record);
        if let Some(entry) = state.keys.get_mut(&record.key_id) {
            entry.record = record.clone();
            if let Some(policy) = policy {
                entry.policy = policy;
            }
        }
        Ok(record)
    }

    /// Makes a new primary version of a key.
    pub(crate) fn rotate(
        &self,
        identifier: &str,
        op: KeyOperation,
        kind: RotationType,
        call: &mut Call<'_>,
    ) -> Result<KeyRecord> {
        let mut state = self.write();
        let entry = self.resolve_for(&state, identifier, op, call)?;
        let mut record = entry.record.clone();
        let version = record.primary_version + 1;
        let now = self.now_ms();
        let (key, sealed) = root::new_version(&self.inner.root, &record.key_id, version)?;
        record.primary_version = version;
        record.rotations.push(Rotation {
            version,
            date: now,
            kind,
        });
        if let Some(days) = record.rotation_period_days {
            record.next_rotation = Some(now + i64::from(days) * DAY_MS);
        }
        self.store().put_key(&record, Some((version, &sealed)))?;
        self.note_due(&record);
        call.event.key_version = Some(version);
        if let Some(entry) = state.keys.get_mut(&record.key_id) {
            if let Material::Symmetric(versions) = &mut entry.material {
                versions.push(key);
            }
            entry.record = record.clone();
        }
        Ok(record)
    }

    /// Stores and indexes a new key with its first version (a symmetric key) or its key pair
    /// (an asymmetric one).
    pub(crate) fn insert_key(&self, record: KeyRecord) -> Result<KeyRecord> {
        let policy = Policy::parse(&record.policy)?;
        let (material, sealed) = if record.key_spec.is_asymmetric() {
            let (pair, pkcs8) = PrivateKey::generate(record.key_spec, record.key_usage)?;
            let sealed =
                root::seal_material(&self.inner.root, &record.key_id, 1, pkcs8.expose_secret())?;
            (Material::Asymmetric(pair), sealed)
        } else {
            let (key, sealed) = root::new_version(&self.inner.root, &record.key_id, 1)?;
            (Material::Symmetric(vec![key]), sealed)
        };
        let mut state = self.write();
        self.store().put_key(&record, Some((1, &sealed)))?;
        self.note_due(&record);
        state.keys.insert(
            record.key_id.clone(),
            KeyEntry {
                record: record.clone(),
                policy,
                material,
            },
        );
        Ok(record)
    }

    /// Seals `plaintext` under the primary version of the key `identifier` names.
    pub(crate) fn seal_with(
        &self,
        state: &State,
        identifier: &str,
        op: KeyOperation,
        plaintext: &[u8],
        context: &EncryptionContext,
        call: &mut Call<'_>,
    ) -> Result<Vec<u8>> {
        check_context(context)?;
        call.event.encryption_context = Some(context.clone());
        let entry = self.resolve_for(state, identifier, op, call)?;
        let key = entry.primary()?;
        call.event.key_version = Some(key.version());
        Ok(key.seal(plaintext, context)?)
    }

    /// Opens a blob: finds its key and version from the blob itself. `expected` (any key
    /// identifier) must name the same key when given.
    pub(crate) fn open_blob(
        &self,
        state: &State,
        blob: &[u8],
        context: &EncryptionContext,
        expected: Option<&str>,
        op: KeyOperation,
        call: &mut Call<'_>,
    ) -> Result<(SecretBytes, String)> {
        check_context(context)?;
        call.event.encryption_context = Some(context.clone());
        let blob = Blob::parse(blob).map_err(|_| Error::InvalidCiphertext)?;
        let key_id = blob.key_id();
        if state.deleted.contains(key_id) {
            call.event.key_arn = Some(self.arn(key_id));
            return Err(Error::NotFound(format!(
                "the key that encrypted this ciphertext ({}) has been deleted; its key material \
                 is destroyed",
                self.arn(key_id)
            )));
        }
        if !state.keys.contains_key(key_id) && !state.unusable.contains_key(key_id) {
            return Err(Error::InvalidCiphertext);
        }
        let entry = self.resolve_for(state, key_id, op, call)?;
        if let Some(expected) = expected {
            let named = self.resolve(state, expected)?;
            if named.record.key_id != entry.record.key_id {
                return Err(Error::IncorrectKey);
            }
        }
        call.event.key_version = Some(blob.key_version());
        let key = entry
            .version(blob.key_version())
            .ok_or(Error::InvalidCiphertext)?;
        let plaintext = key.open_parsed(&blob, context)?;
        Ok((plaintext, self.arn(key_id)))
    }
}
