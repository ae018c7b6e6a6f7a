//! Changing keys (state, rotation, new keys) durably, and sealing and opening blobs under them.

use lakeseal_envelope::{Blob, DataKey, EncryptionContext, KEY_LEN, SealingKey, SecretBytes};

use super::{Call, KeyCore, KeyEntry, Material, State, check_context};
use crate::asymmetric::PrivateKey;
use crate::clock::{DAY_MS, Millis};
use crate::hsm::{self, HsmKeyPair, HsmStore};
use crate::key_spec::Origin;
use crate::model::{KeyRecord, Rotation, RotationType};
use crate::policy::Policy;
use crate::state::{KeyOperation, KeyState};
use crate::{Error, Result, import, root};

impl KeyCore {
    /// The connected store a new HSM key's record names.
    fn key_store_of(&self, record: &KeyRecord) -> Result<std::sync::Arc<HsmStore>> {
        let id = record.custom_key_store_id.as_deref().unwrap_or_default();
        self.inner.key_stores.get(id).cloned().ok_or_else(|| {
            Error::CustomKeyStoreNotFound(format!("no custom key store has the id {id}"))
        })
    }

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
        // An HSM key's new version is a new token object; the store keeps no material for it.
        let (key, sealed) = match &entry.material {
            Material::Hsm(store) => {
                hsm::create_version(entry.hsm_store(store)?, &record.key_id, version)?;
                (None, None)
            }
            _ => {
                let (key, sealed) = root::new_version(&self.inner.root, &record.key_id, version)?;
                (Some(key), Some(sealed))
            }
        };
        record.primary_version = version;
        record.rotations.push(Rotation {
            version,
            date: now,
            kind,
        });
        if let Some(days) = record.rotation_period_days {
            record.next_rotation = Some(now + i64::from(days) * DAY_MS);
        }
        self.store()
            .put_key(&record, sealed.as_deref().map(|s| (version, s)))?;
        self.note_due(&record);
        call.event.key_version = Some(version);
        if let Some(entry) = state.keys.get_mut(&record.key_id) {
            if let (Material::Symmetric(versions), Some(key)) = (&mut entry.material, key) {
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
        let (material, sealed) = if record.origin == Origin::External {
            // Material comes later, from `ImportKeyMaterial`.
            (Material::None, None)
        } else if record.origin == Origin::AwsCloudhsm {
            // Made inside the token, where it stays: the store keeps only the record.
            let store = self.key_store_of(&record)?;
            let material = if record.key_spec.is_asymmetric() {
                Material::HsmPair(HsmKeyPair::generate(
                    store.clone(),
                    &record.key_id,
                    record.key_spec,
                )?)
            } else {
                hsm::create_version(&store, &record.key_id, 1)?;
                Material::Hsm(Some(store))
            };
            (material, None)
        } else if record.key_spec.is_asymmetric() {
            let (pair, pkcs8) = PrivateKey::generate(record.key_spec, record.key_usage)?;
            let sealed =
                root::seal_material(&self.inner.root, &record.key_id, 1, pkcs8.expose_secret())?;
            (Material::Asymmetric(pair), Some(sealed))
        } else {
            let (key, sealed) = root::new_version(&self.inner.root, &record.key_id, 1)?;
            (Material::Symmetric(vec![key]), Some(sealed))
        };
        let mut state = self.write();
        self.store()
            .put_key(&record, sealed.as_deref().map(|s| (1, s)))?;
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
        key.seal(plaintext, context)
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
        let plaintext = entry.open(&blob, context)?;
        Ok((plaintext, self.arn(key_id)))
    }
}

impl KeyCore {
    /// Installs imported material as the key's version 1 — or its key pair — and enables it,
    /// durably. `material` comes from [`crate::import`]; a key that had material before takes
    /// only the same material again (its fingerprint).
    pub(crate) fn install_imported(
        &self,
        identifier: &str,
        material: &SecretBytes,
        valid_to: Option<Millis>,
        call: &mut Call<'_>,
    ) -> Result<KeyRecord> {
        let mut state = self.write();
        let entry = self.resolve_for(&state, identifier, KeyOperation::ImportKeyMaterial, call)?;
        let mut record = entry.record.clone();
        let key_id = record.key_id.clone();
        // The fingerprint is of what identifies the key: a key pair's public half, a symmetric
        // key's material (see `import::fingerprint`).
        let (ready, fingerprint) = if record.key_spec.is_asymmetric() {
            let pair = PrivateKey::from_pkcs8(
                record.key_spec,
                record.key_usage,
                material.expose_secret(),
            )?;
            let fingerprint = import::fingerprint(&key_id, pair.public_key_der());
            (Material::Asymmetric(pair), fingerprint)
        } else {
            let key = DataKey::try_from_slice(material.expose_secret()).map_err(|_| {
                Error::Validation(format!(
                    "symmetric key material is {KEY_LEN} bytes, not {}",
                    material.len()
                ))
            })?;
            let version = SealingKey::new(&key_id, 1, &key)?;
            let fingerprint = import::fingerprint(&key_id, material.expose_secret());
            (Material::Symmetric(vec![version]), fingerprint)
        };
        if record
            .material_fingerprint
            .as_deref()
            .is_some_and(|before| before != fingerprint)
        {
            return Err(Error::IncorrectKeyMaterial(format!(
                "{} had other key material: only the same material can be imported again",
                self.arn(&key_id)
            )));
        }
        let sealed = root::seal_material(&self.inner.root, &key_id, 1, material.expose_secret())?;
        record.state = KeyState::Enabled;
        record.valid_to = valid_to;
        record.material_fingerprint = Some(fingerprint);
        self.store().put_key(&record, Some((1, &sealed)))?;
        self.note_due(&record);
        call.event.key_version = Some(1);
        if let Some(entry) = state.keys.get_mut(&key_id) {
            entry.material = ready;
            entry.record = record.clone();
        }
        Ok(record)
    }

    /// Deletes a key's imported material — by request, or because it expired — and returns the
    /// key to `PendingImport`. Blobs made under it stay unreadable until the same material is
    /// imported again.
    pub(crate) fn remove_imported(
        &self,
        identifier: &str,
        call: &mut Call<'_>,
    ) -> Result<KeyRecord> {
        let mut state = self.write();
        let entry = self.resolve_for(
            &state,
            identifier,
            KeyOperation::DeleteImportedKeyMaterial,
            call,
        )?;
        let mut record = entry.record.clone();
        record.state = KeyState::PendingImport;
        record.valid_to = None;
        self.store().remove_material(&record)?;
        if let Some(entry) = state.keys.get_mut(&record.key_id) {
            // Dropping the old material zeroizes it (AES key schedules; AWS-LC wipes key pairs).
            entry.material = Material::None;
            entry.record = record.clone();
        }
        tracing::info!(key = %self.arn(&record.key_id), "imported key material deleted");
        Ok(record)
    }
}
