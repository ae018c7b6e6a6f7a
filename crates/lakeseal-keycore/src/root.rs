//! The root key: seals every key version's material at rest.
//!
//! For now a 32-byte file, `root.key`, created by `keycore init` with mode 0600 and refused if
//! anyone but its owner can read it. (An HSM-held root key replaces it later.)

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use lakeseal_envelope::{DataKey, EncryptionContext, KEY_LEN, SealingKey, SecretBytes};

use crate::{Error, Result};

const ROOT_KEY_ID: &str = "lakeseal-root";

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
