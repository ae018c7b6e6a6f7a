//! The lake on a local filesystem. A write goes to a temporary file in the same directory, is
//! fsynced, then linked into place — which fails if the name exists, so a file is never
//! overwritten — and the directory is fsynced. A crash leaves either no file or the whole file;
//! a leftover temporary file (`.tmp-…`) is ignored and may be deleted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::file::{FileKey, LakeFile, list_local};

/// A lake in a local directory.
#[derive(Debug, Clone)]
pub struct LocalLake {
    root: PathBuf,
}

impl LocalLake {
    /// The lake rooted at `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The lake's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes `bytes` as the file of `key`, atomically and durably; refuses to replace an
    /// existing file (`AlreadyExists`).
    pub fn write(&self, key: &FileKey, bytes: &[u8]) -> io::Result<PathBuf> {
        let path = self.root.join(key.relative_path());
        let dir = path.parent().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "a file needs a directory")
        })?;
        fs::create_dir_all(dir)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "file name is not UTF-8"))?;
        let tmp = dir.join(format!(".tmp-{}-{name}", std::process::id()));
        let result = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::hard_link(&tmp, &path)?;
            File::open(dir)?.sync_all()
        })();
        // Whether linked or not, the temporary name goes.
        let _ = fs::remove_file(&tmp);
        result.map(|()| path)
    }

    /// Every file under `dir` (relative to the root), in path order; none when it is absent.
    pub fn list(&self, dir: &str) -> io::Result<Vec<LakeFile>> {
        let root = self.root.join(dir);
        if root.exists() {
            list_local(&root)
        } else {
            Ok(Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lake::file::test_key as key;

    #[test]
    fn writes_are_atomic_and_never_overwrite() {
        let dir = std::env::temp_dir().join(format!("lakeseal-lake-{}", std::process::id()));
        let lake = LocalLake::new(&dir);
        let k = key("iot", 0, 0, 9, 1_764_000_000_000);
        let path = lake.write(&k, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        let err = lake.write(&k, b"second").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            fs::read(&path).unwrap(),
            b"first",
            "the existing file is untouched"
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
