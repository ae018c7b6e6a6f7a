//! The data directory: creating it, opening it (one process at a time, by lock), and what the
//! operator's commands read from it without opening a key core.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, RwLock};

use lakeseal_envelope::SealingKey;

use super::maintenance::earliest_due;
use super::{Inner, KeyCore, KeyEntry, Material, Options, State};
use crate::asymmetric::PrivateKey;
use crate::audit::alerts::Detector;
use crate::audit::{AnchorStore, AuditEvent, AuditLog, ChainHead, Durability};
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::hsm::{HsmKeyPair, KeyStoreConfig, KeyStores};
use crate::iam::MIN_SESSION_SECONDS;
use crate::key_spec::Origin;
use crate::model::{KeyRecord, Location};
use crate::policy::Policy;
use crate::request::{Principal, RequestContext};
use crate::secrets::SecretEntry;
use crate::store::Store;
use crate::{Error, Result, root};

const DB_FILE: &str = "keycore.db";
const AUDIT_FILE: &str = "audit.log";
const ROOT_KEY_FILE: &str = "root.key";
const HSM_ROOT_KEY_FILE: &str = "root.key.hsm";
const LOCK_FILE: &str = "lock";

/// How to create a data directory.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The key core's one region, e.g. `eu-west-1`.
    pub region: String,
    /// The 12-digit account that owns the keys; random when `None`.
    pub account_id: Option<String>,
    /// The ARN partition; `aws` by default so that SDKs which parse ARNs accept ours.
    pub partition: String,
}

/// What [`KeyCore::reset_audit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReset {
    /// What was broken.
    pub problem: String,
    /// Where the broken trail now is.
    pub moved_to: PathBuf,
}

impl KeyCore {
    /// Creates a data directory: the root key (mode 0600), the store and its identity.
    pub fn init(dir: &Path, options: &InitOptions) -> Result<Location> {
        Self::init_in(dir, options, None)
    }

    /// Creates a data directory whose root key is sealed inside the token of `key_store`: it
    /// opens only with that store configured and connected ([`Options::key_stores`]).
    pub fn init_with_root_in(
        dir: &Path,
        options: &InitOptions,
        key_store: &KeyStoreConfig,
    ) -> Result<Location> {
        Self::init_in(dir, options, Some(key_store))
    }

    fn init_in(
        dir: &Path,
        options: &InitOptions,
        root_key_store: Option<&KeyStoreConfig>,
    ) -> Result<Location> {
        if !valid_region(&options.region) {
            return Err(Error::Validation(format!(
                "region {:?} is not a region name such as eu-west-1",
                options.region
            )));
        }
        if !valid_partition(&options.partition) {
            return Err(Error::Validation(format!(
                "partition {:?} is not an ARN partition such as aws or aws-cn",
                options.partition
            )));
        }
        let account_id = match &options.account_id {
            Some(id) if id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()) => id.clone(),
            Some(id) => {
                return Err(Error::Validation(format!(
                    "account id {id:?} is not 12 digits"
                )));
            }
            None => random_account_id()?,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(Error::at(dir))?;
        if dir.join(DB_FILE).exists()
            || dir.join(ROOT_KEY_FILE).exists()
            || dir.join(HSM_ROOT_KEY_FILE).exists()
        {
            return Err(Error::DataDir(format!(
                "{} is already initialised",
                dir.display()
            )));
        }
        let _lock = lock(dir)?;
        match root_key_store {
            None => root::create(&dir.join(ROOT_KEY_FILE))?,
            Some(config) => {
                if config.pin_secret().is_some() {
                    return Err(Error::Validation(format!(
                        "key store {} takes its PIN from a secret of this key core, which the \
                         root key must open first: give the root key's store a pin_file",
                        config.id
                    )));
                }
                let stores = KeyStores::connect(std::slice::from_ref(config))?;
                let store = stores.get(&config.id).ok_or_else(|| {
                    Error::Internal("a key store just configured is missing".into())
                })?;
                root::create_in_hsm(&dir.join(HSM_ROOT_KEY_FILE), store)?;
            }
        }
        // The store holds sealed key material and the audit log holds encryption contexts:
        // owner-only, like the root key.
        for file in [DB_FILE, AUDIT_FILE] {
            let path = dir.join(file);
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(Error::at(&path))?;
        }
        let mut store = Store::open(&dir.join(DB_FILE))?;
        let location = Location {
            partition: options.partition.clone(),
            region: options.region.clone(),
            account_id,
        };
        store.set_meta(&[
            ("format", "1"),
            ("partition", &location.partition),
            ("region", &location.region),
            ("account_id", &location.account_id),
        ])?;
        AnchorStore::open(&dir.join(DB_FILE))?.set(ChainHead::GENESIS)?;
        Ok(location)
    }

    /// Opens an initialised data directory, taking its lock.
    pub fn open(dir: &Path, options: Options) -> Result<Self> {
        if !(1..=MIN_SESSION_SECONDS).contains(&options.min_session_seconds) {
            return Err(Error::Validation(format!(
                "the shortest AssumeRole session must be 1 to {MIN_SESSION_SECONDS} seconds, not {}",
                options.min_session_seconds
            )));
        }
        let db = initialised_db(dir)?;
        let lock = lock(dir)?;
        let key_stores = KeyStores::connect(&options.key_stores)?;
        let hsm_root = dir.join(HSM_ROOT_KEY_FILE);
        let root = if hsm_root.exists() {
            root::load_from_hsm(&hsm_root, &key_stores)?
        } else {
            root::load(&dir.join(ROOT_KEY_FILE))?
        };
        let store = Store::open(&db)?;
        let meta = |name: &str| {
            store.meta(name)?.ok_or_else(|| {
                Error::DataDir(format!(
                    "the store has no {name}; is the data directory complete?"
                ))
            })
        };
        let location = Location {
            partition: meta("partition")?,
            region: meta("region")?,
            account_id: meta("account_id")?,
        };
        let snapshot = store.load()?;
        let mut state = State {
            unusable: snapshot.unreadable_keys.into_iter().collect(),
            ..State::default()
        };
        let stored_keys = snapshot.keys.len();
        for (record, sealed) in snapshot.keys {
            match load_key(&root, &key_stores, &record, &sealed) {
                Ok(entry) => {
                    state.keys.insert(record.key_id.clone(), entry);
                }
                // One corrupt row makes its key unusable, not the key core.
                Err(e) => {
                    tracing::error!(key = %record.key_id, error = %e, "a stored key cannot be loaded");
                    state.unusable.insert(record.key_id.clone(), e.to_string());
                }
            }
        }
        if stored_keys > 0 && state.keys.is_empty() {
            return Err(Error::DataDir(format!(
                "none of the {stored_keys} stored keys opens under {}: is it the root key this \
                 store was made with?",
                dir.join(ROOT_KEY_FILE).display()
            )));
        }
        for alias in snapshot.aliases {
            state.aliases.insert(alias.name.clone(), alias);
        }
        state.deleted = snapshot.deleted.into_iter().collect();
        for user in snapshot.users {
            state.set_user(user)?;
        }
        for role in snapshot.roles {
            state.set_role(role)?;
        }
        state.workloads = snapshot
            .workloads
            .into_iter()
            .map(|w| (w.arn.clone(), w))
            .collect();
        state.access_keys = snapshot
            .access_keys
            .into_iter()
            .map(|k| (k.access_key_id.clone(), k))
            .collect();
        for (record, sealed) in snapshot.secrets {
            let policy = record
                .resource_policy
                .as_deref()
                .map(Policy::parse)
                .transpose()?;
            state
                .secret_names
                .insert(record.name.clone(), record.arn.clone());
            state.secrets.insert(
                record.arn.clone(),
                SecretEntry {
                    record,
                    policy,
                    sealed,
                },
            );
        }
        let audit = AuditLog::open(
            &dir.join(AUDIT_FILE),
            options.audit,
            AnchorStore::open(&db)?,
        )?;
        // The detector picks up where the trail leaves off (what each principal has done, its
        // baseline), so a restart does not open a new learning period; past alerts are not
        // raised again.
        let mut alerts = Detector::new(options.alerts);
        crate::audit::for_each(&dir.join(AUDIT_FILE), |record| {
            alerts.observe(&record.event);
        })?;
        let next_due = earliest_due(&state);
        Ok(Self {
            inner: Arc::new(Inner {
                location,
                clock: options.clock,
                root,
                store: Mutex::new(store),
                state: RwLock::new(state),
                audit,
                next_due: AtomicI64::new(next_due),
                maintenance: tokio::sync::Mutex::new(()),
                rotators: options.rotators,
                min_session_seconds: options.min_session_seconds,
                alerts: Mutex::new(alerts),
                rotating: Mutex::new(HashSet::new()),
                key_stores,
                dir: dir.to_owned(),
                _lock: lock,
            }),
        })
    }

    /// The audit log's path, for [`crate::audit::verify`] and [`crate::audit::query`].
    pub fn audit_path(&self) -> PathBuf {
        self.inner.dir.join(AUDIT_FILE)
    }

    /// The audit log's path inside a data directory.
    pub fn audit_path_in(dir: &Path) -> PathBuf {
        dir.join(AUDIT_FILE)
    }

    /// The audit trail's head as the store last recorded it (`None` in a data directory from
    /// before anchors), for [`crate::audit::verify_anchored`]. Reads the store without its lock,
    /// so it works beside a running key core.
    pub fn audit_anchor_in(dir: &Path) -> Result<Option<ChainHead>> {
        AnchorStore::open(&initialised_db(dir)?)?.get()
    }

    /// The key id an alias (`alias/…`) names now, read without taking the directory's lock.
    pub fn alias_target_in(dir: &Path, alias: &str) -> Result<Option<String>> {
        Store::open(&initialised_db(dir)?)?.alias_target(alias)
    }

    /// The account that owns a data directory's keys, read without taking its lock.
    pub fn account_in(dir: &Path) -> Result<String> {
        Store::open(&initialised_db(dir)?)?
            .meta("account_id")?
            .ok_or_else(|| Error::DataDir(format!("{} has no account id", dir.display())))
    }

    /// Acknowledges a broken audit trail: moves it aside (kept as evidence), and starts a new
    /// chain whose first record says what was broken, by whom it was acknowledged, and where
    /// the old trail went. Refused when the trail is not broken, or while a key core runs.
    pub async fn reset_audit(
        dir: &Path,
        who: &Principal,
        ctx: &RequestContext,
    ) -> Result<AuditReset> {
        let db = initialised_db(dir)?;
        let _lock = lock(dir)?;
        let path = dir.join(AUDIT_FILE);
        let anchors = AnchorStore::open(&db)?;
        let anchored = anchors.get()?.unwrap_or(ChainHead::GENESIS);
        let problem = match crate::audit::verify_anchored(&path, anchored)? {
            Ok(_) => {
                return Err(Error::Validation(format!(
                    "the audit trail {} is not broken: nothing to reset",
                    path.display()
                )));
            }
            Err(broken) => broken.to_string(),
        };
        let region = Store::open(&db)?.meta("region")?.unwrap_or_default();
        let now = SystemClock.now_ms();
        let moved_to = dir.join(format!("{AUDIT_FILE}.broken-{now}"));
        if path.exists() {
            fs::rename(&path, &moved_to).map_err(Error::at(&path))?;
        }
        OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(Error::at(&path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::at(dir))?;
        anchors.set(ChainHead::GENESIS)?;
        let log = AuditLog::open(&path, Durability::Durable, anchors)?;
        let detail = format!(
            "audit trail reset: the previous trail was broken ({problem}); the store had \
             recorded record {} with hash {}; the previous file is kept as {}",
            anchored.seq,
            hex::encode(anchored.hash),
            moved_to.display()
        );
        log.append(AuditEvent {
            time: rfc3339(now),
            result: "Success".to_owned(),
            detail: Some(detail),
            ..AuditEvent::new("AuditReset", who, ctx, &region)
        })
        .await?;
        Ok(AuditReset { problem, moved_to })
    }
}

/// One stored key, its versions (or key pair) opened under the root key and its policy parsed.
pub(super) fn load_key(
    root: &SealingKey,
    key_stores: &KeyStores,
    record: &KeyRecord,
    sealed: &[(u32, Vec<u8>)],
) -> Result<KeyEntry> {
    let material = if sealed.is_empty() && record.origin == Origin::External {
        Material::None
    } else if record.origin == Origin::AwsCloudhsm {
        // The material is in the token; a store no longer configured makes the key answer
        // `KeyUnavailable` rather than fail the key core's start.
        let id = record.custom_key_store_id.as_deref().unwrap_or_default();
        let store = key_stores.get(id).cloned();
        if store.is_none() {
            tracing::error!(key = %record.key_id, store = id, "an HSM key's key store is not configured");
        }
        match (record.key_spec.is_asymmetric(), store) {
            (true, Some(store)) => {
                Material::HsmPair(HsmKeyPair::new(store, &record.key_id, record.key_spec))
            }
            (_, store) => Material::Hsm(store),
        }
    } else if record.key_spec.is_asymmetric() {
        let [(1, sealed)] = sealed else {
            return Err(Error::DataDir(format!(
                "the asymmetric key {} does not have exactly one version",
                record.key_id
            )));
        };
        let pkcs8 = root::open_material(root, &record.key_id, 1, sealed)?;
        let pair = PrivateKey::from_pkcs8(record.key_spec, record.key_usage, pkcs8.expose_secret())
            .map_err(|e| {
                Error::DataDir(format!(
                    "the key pair of {} does not load: {e}",
                    record.key_id
                ))
            })?;
        Material::Asymmetric(pair)
    } else {
        let versions = sealed
            .iter()
            .map(|(v, s)| root::open_version(root, &record.key_id, *v, s))
            .collect::<Result<Vec<_>>>()?;
        if versions
            .iter()
            .enumerate()
            .any(|(i, k)| k.version() as usize != i + 1)
        {
            return Err(Error::DataDir(format!(
                "the versions of {} are not contiguous",
                record.key_id
            )));
        }
        Material::Symmetric(versions)
    };
    Ok(KeyEntry {
        record: record.clone(),
        policy: Policy::parse(&record.policy)?,
        material,
    })
}

/// The store of an initialised data directory; opening one that is not would create it.
pub(super) fn initialised_db(dir: &Path) -> Result<PathBuf> {
    let db = dir.join(DB_FILE);
    if db.exists() {
        Ok(db)
    } else {
        Err(Error::DataDir(format!(
            "{} is not an initialised key core (run `lakeseal keycore init`)",
            dir.display()
        )))
    }
}

/// Takes the data directory's lock. A lock just released can still be held for a moment by a
/// child process this process is spawning (the flock belongs to the open file, which a fork shares
/// until its exec closes it), so contention is retried for up to two seconds before it is taken
/// to mean another key core.
pub(super) fn lock(dir: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(Error::at(&dir.join(LOCK_FILE)))?;
    let started = std::time::Instant::now();
    while file.try_lock().is_err() {
        if started.elapsed() > std::time::Duration::from_secs(2) {
            return Err(Error::DataDir(format!(
                "{} is in use by another key core process",
                dir.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(file)
}

/// A region name as AWS spells them: two letters, one or more words, a number
/// (`eu-west-1`, `us-gov-west-1`, `ap-southeast-2`).
pub(super) fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    region.len() <= 32
        && parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].len() <= 2
        && parts[parts.len() - 1].parse::<u8>().is_ok_and(|n| n > 0)
}

/// An ARN partition: `aws`, or `aws-` and lower-case words (`aws-cn`, `aws-us-gov`), as the
/// ARN parsers of AWS SDKs accept.
pub(super) fn valid_partition(partition: &str) -> bool {
    partition.len() <= 32
        && partition.strip_prefix("aws").is_some_and(|rest| {
            rest.is_empty()
                || rest.strip_prefix('-').is_some_and(|words| {
                    words
                        .split('-')
                        .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
                })
        })
}

pub(super) fn random_account_id() -> Result<String> {
    let bytes = lakeseal_envelope::random_bytes(8)?;
    let mut n = u64::from_le_bytes(
        bytes
            .expose_secret()
            .try_into()
            .map_err(|_| Error::Internal("rng".into()))?,
    );
    let mut id = String::with_capacity(12);
    for i in 0..12 {
        // No leading zero, so the id reads as 12 digits everywhere.
        let digit = if i == 0 { 1 + n % 9 } else { n % 10 };
        n /= 10;
        id.push(char::from(b'0' + digit as u8));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_partitions_are_as_aws_spells_them() {
        for good in ["eu-west-1", "us-gov-west-1", "ap-southeast-2", "cn-north-1"] {
            assert!(valid_region(good), "{good}");
        }
        for bad in [
            "",
            "eu",
            "eu-west",
            "EU-WEST-1",
            "eu-west-1\n",
            "e-west-1",
            "eu--1",
            "eu-west-0",
            "eu-west-123",
        ] {
            assert!(!valid_region(bad), "{bad:?}");
        }
        for good in ["aws", "aws-cn", "aws-us-gov"] {
            assert!(valid_partition(good), "{good}");
        }
        for bad in ["", "AWS", "aws-", "azure", "aws:x", "aws-cn\t"] {
            assert!(!valid_partition(bad), "{bad:?}");
        }
    }
}
