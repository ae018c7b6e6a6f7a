//! The lake in an S3 bucket (or any S3-compatible store) through `object_store`.
//!
//! A file is one conditional PUT (`If-None-Match: *`): S3 makes it visible whole or not at all,
//! and refuses to replace an existing object, so a file is never overwritten — the same promise
//! as the local lake's temp-file-and-link. Credentials come from the environment or the instance
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, web identity, IMDS), never
//! from `stage.toml`.

use std::io;
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use futures_util::TryStreamExt;
use object_store::CredentialProvider;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsCredential};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use super::file::{FileKey, LakeFile, parse_file_name};

/// Where an S3 lake is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix under which tables go ("" for the bucket's root).
    pub prefix: String,
    /// An S3-compatible endpoint (`http://host:port`), instead of AWS's.
    pub endpoint: Option<String>,
    /// The bucket's region (else `AWS_REGION`, else us-east-1).
    pub region: Option<String>,
}

/// A lake in a bucket.
#[derive(Debug, Clone)]
pub struct S3Lake {
    store: Arc<AmazonS3>,
    prefix: String,
}

fn other(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            io::Error::new(io::ErrorKind::AlreadyExists, e.to_string())
        }
        object_store::Error::NotFound { .. } => {
            io::Error::new(io::ErrorKind::NotFound, e.to_string())
        }
        e => io::Error::other(e.to_string()),
    }
}

/// The access key the stage signs its S3 requests with when `stage.toml` gives one
/// (`sink.access_key_id`, `sink.secret_access_key`), replaceable while the stage runs: a new
/// `secret://` version is used from the next request on. `object_store` keeps the key in a plain
/// `String` (`AwsCredential`), a copy that is not wiped.
pub struct S3Keys(RwLock<Arc<AwsCredential>>);

impl std::fmt::Debug for S3Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Keys(**REDACTED**)")
    }
}

impl S3Keys {
    /// An access key id and its secret.
    pub fn new(key_id: &str, secret_key: &str) -> Self {
        Self(RwLock::new(Self::credential(key_id, secret_key)))
    }

    /// Signs with a new key from the next request on.
    pub fn replace(&self, key_id: &str, secret_key: &str) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) =
            Self::credential(key_id, secret_key);
    }

    fn credential(key_id: &str, secret_key: &str) -> Arc<AwsCredential> {
        Arc::new(AwsCredential {
            key_id: key_id.to_owned(),
            secret_key: secret_key.to_owned(),
            token: None,
        })
    }
}

#[async_trait::async_trait]
impl CredentialProvider for S3Keys {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        Ok(self
            .0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }
}

impl S3Lake {
    /// A client for `location`, signing with `keys` if given, else with the environment's
    /// credentials (`AWS_ACCESS_KEY_ID`…, a container or instance endpoint).
    pub fn new(location: &S3Location, keys: Option<Arc<S3Keys>>) -> io::Result<Self> {
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&location.bucket);
        if let Some(keys) = keys {
            builder = builder.with_credentials(keys);
        }
        if let Some(endpoint) = &location.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &location.region {
            builder = builder.with_region(region);
        }
        let store = builder.build().map_err(other)?;
        Ok(Self {
            store: Arc::new(store),
            prefix: location.prefix.clone(),
        })
    }

    /// A lake over a store already built (its credentials chosen by the caller).
    pub fn from_store(store: Arc<AmazonS3>, prefix: &str) -> Self {
        Self {
            store,
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    fn path(&self, relative: &str) -> Path {
        if self.prefix.is_empty() || relative.is_empty() {
            Path::from(if relative.is_empty() {
                self.prefix.as_str()
            } else {
                relative
            })
        } else {
            Path::from(format!("{}/{relative}", self.prefix))
        }
    }

    /// Writes `bytes` as the file of `key` with one conditional PUT; refuses to replace an
    /// existing object (`AlreadyExists`). Returns the object's key.
    pub async fn write(&self, key: &FileKey, bytes: Vec<u8>) -> io::Result<String> {
        let relative = key.relative_path();
        let relative = relative
            .to_str()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path is not UTF-8"))?;
        let path = self.path(relative);
        let options = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&path, PutPayload::from(bytes), options)
            .await
            .map_err(other)?;
        Ok(path.to_string())
    }

    /// Every file of `table`, by its object key.
    pub async fn list(&self, table: &str) -> io::Result<Vec<LakeFile>> {
        let prefix = self.path(table);
        let objects: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(other)?;
        let mut files: Vec<LakeFile> = objects
            .into_iter()
            .filter_map(|o| {
                let name = o.location.filename()?.to_owned();
                let (topic, partition, first, last) = parse_file_name(&name)?;
                Some(LakeFile {
                    path: o.location.to_string().into(),
                    topic: topic.to_owned(),
                    partition,
                    first,
                    last,
                })
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// An object's bytes, by the key [`S3Lake::list`] gave.
    pub async fn get(&self, key: &str) -> io::Result<Bytes> {
        self.store
            .get(&Path::from(key))
            .await
            .map_err(other)?
            .bytes()
            .await
            .map_err(other)
    }
}
