//! Credentials files: created 0600, never over an existing one, synced once written.

use std::path::Path;

use anyhow::Context;
use lakeseal_envelope::SecretBytes;

/// Writes a credentials file readable by its owner only; refuses to overwrite one.
pub(crate) fn write_credentials(path: &Path, contents: &SecretBytes) -> anyhow::Result<()> {
    fill_credentials(new_credentials_file(path)?, path, contents)
}

/// Creates an empty credentials file (0600, never over an existing one), to be filled once the
/// key exists.
pub(crate) fn new_credentials_file(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes the credentials into the file made by [`new_credentials_file`] and syncs it.
pub(crate) fn fill_credentials(
    mut file: std::fs::File,
    path: &Path,
    contents: &SecretBytes,
) -> anyhow::Result<()> {
    use std::io::Write;
    file.write_all(contents.expose_secret())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
