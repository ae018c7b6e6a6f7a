//! The root key: seals every key version's material at rest.
//!
//! Either a 32-byte file, `root.key`, created by `keycore init` with mode 0600 and refused if
//! anyone but its owner can read it; or, chosen at `keycore init --root-key-store`, the same
//! 32 bytes sealed by a non-extractable AES key inside a PKCS#11 token (`root.key.hsm`), so that
//! a copy of the data directory opens nothing without the token and its PIN.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use lakeseal_envelope::{Blob, DataKey, EncryptionContext, KEY_LEN, SealingKey, SecretBytes};
use serde::{Deserialize, Serialize};

use crate::hsm::{self, HsmStore, KeyStores};
use crate::{Error, Result};

const ROOT_KEY_ID: &str = "lakeseal-root";

/// `root.key.hsm`: which store's token seals the root key, and the sealed root key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HsmRoot {
    /// The `[[key_stores]]` id whose token holds the sealing key.
    key_store_id: String,
    /// The root key, a key-core blob sealed inside the token (the blob names the token key).
    #[serde(with = "lakeseal_kms_types::wire::b64")]
    sealed: Vec<u8>,
}

fn hsm_root_context() -> EncryptionContext {
    EncryptionContext::from_iter([("lakeseal:purpose", "root-key")])
}

/// Writes a fresh root key to `path` (which must not exist), sealed inside `store`'s token
/// under a new non-extractable AES key made for it.
pub(crate) fn create_in_hsm(path: &Path, store: &HsmStore) -> Result<()> {
    let key = DataKey::generate()?;
    let sealing_key_id = format!("root-{}", uuid::Uuid::new_v4().simple());
    hsm::create_version(store, &sealing_key_id, 1)?;
    let sealed = hsm::seal(
        store,
        &sealing_key_id,
        1,
        key.expose_secret(),
        &hsm_root_context(),
    )?;
    let file = HsmRoot {
        key_store_id: store.config().id.clone(),
        sealed,
    };
    let json = serde_json::to_vec_pretty(&file)
        .map_err(|e| Error::Internal(format!("encoding root.key.hsm: {e}")))?;
    let mut out = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::at(path))?;
    out.write_all(&json)
        .and_then(|()| out.sync_all())
        .map_err(Error::at(path))
}

/// Opens the root key that `path` (`root.key.hsm`) says a token seals.
pub(crate) fn load_from_hsm(path: &Path, stores: &KeyStores) -> Result<SealingKey> {
    let text = std::fs::read(path).map_err(Error::at(path))?;
    let file: HsmRoot = serde_json::from_slice(&text)
        .map_err(|e| Error::DataDir(format!("{} is not a sealed root key: {e}", path.display())))?;
    let store = stores.get(&file.key_store_id).ok_or_else(|| {
        Error::DataDir(format!(
            "the root key is sealed in key store {}, which the configuration does not name \
             ([[key_stores]] in the server's configuration)",
            file.key_store_id
        ))
    })?;
    let blob = Blob::parse(&file.sealed)
        .map_err(|_| Error::DataDir(format!("{} holds no valid blob", path.display())))?;
    let key = hsm::open(store, &blob, &hsm_root_context()).map_err(|e| {
        Error::DataDir(format!(
            "the root key does not open in key store {} (token {}): {e}",
            file.key_store_id,
            store.config().token_label
        ))
    })?;
    let key = DataKey::try_from_slice(key.expose_secret())?;
    Ok(SealingKey::new(ROOT_KEY_ID, 1, &key)?)
}

/// Writes a fresh root key to `path`, which must not exist.
pub(crate) fn create(path: &Path) -> Result<()> {
    let key = DataKey::generate()?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::at(path))?;
    file.write_all(key.expose_secret())
        .and_then(|()| file.sync_all())
        .map_err(Error::at(path))
}

/// Reads the root key at `path`.
pub(crate) fn load(path: &Path) -> Result<SealingKey> {
    let mut file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| Error::DataDir(format!("cannot open the root key {}: {e}", path.display())))?;
    let mode = file
        .metadata()
        .map_err(Error::at(path))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::DataDir(format!(
            "the root key {} is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )));
    }
    let mut bytes = zeroize::Zeroizing::new([0u8; KEY_LEN + 1]);
    let n = file.read(&mut bytes[..]).map_err(Error::at(path))?;
    if n != KEY_LEN {
        return Err(Error::DataDir(format!(
            "the root key {} is not {KEY_LEN} bytes",
            path.display()
        )));
    }
    let key = DataKey::try_from_slice(&bytes[..KEY_LEN])?;
    Ok(SealingKey::new(ROOT_KEY_ID, 1, &key)?)
}

fn material_context(key_id: &str, version: u32) -> EncryptionContext {
    EncryptionContext::from_iter([
        ("lakeseal:purpose", "key-material".to_owned()),
        ("lakeseal:key-id", key_id.to_owned()),
        ("lakeseal:key-version", version.to_string()),
    ])
}

/// Seals key material of `key_id` at `version` (an AES key, or an asymmetric key's PKCS#8)
/// under the root key, bound to its key and version.
pub(crate) fn seal_material(
    root: &SealingKey,
    key_id: &str,
    version: u32,
    material: &[u8],
) -> Result<Vec<u8>> {
    Ok(root.seal(material, &material_context(key_id, version))?)
}

/// Opens stored material. The context binds it to its key and version, so material cannot be
/// moved between keys in the store.
pub(crate) fn open_material(
    root: &SealingKey,
    key_id: &str,
    version: u32,
    sealed: &[u8],
) -> Result<SecretBytes> {
    root.open(sealed, &material_context(key_id, version))
        .map_err(|_| {
            Error::DataDir(format!(
                "the sealed material of version {version} (table key_versions) does not open \
                 under the root key: the row is corrupt, or was moved from another key"
            ))
        })
}

/// Makes new key material for `key_id` at `version`: the ready key and its sealed form to store.
pub(crate) fn new_version(
    root: &SealingKey,
    key_id: &str,
    version: u32,
) -> Result<(SealingKey, Vec<u8>)> {
    let material = DataKey::generate()?;
    let sealed = seal_material(root, key_id, version, material.expose_secret())?;
    Ok((SealingKey::new(key_id, version, &material)?, sealed))
}

/// Opens a symmetric version's stored material into a ready key.
pub(crate) fn open_version(
    root: &SealingKey,
    key_id: &str,
    version: u32,
    sealed: &[u8],
) -> Result<SealingKey> {
    let material = open_material(root, key_id, version, sealed)?;
    let material = DataKey::try_from_slice(material.expose_secret())?;
    Ok(SealingKey::new(key_id, version, &material)?)
}
