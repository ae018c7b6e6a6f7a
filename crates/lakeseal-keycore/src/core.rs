//! [`KeyCore`]: opening a data directory, the in-memory key index, and the steps every operation
//! shares (authorise, resolve, check state, audit).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use lakeseal_envelope::{Blob, EncryptionContext, SealingKey, SecretBytes};

use crate::audit::{AnchorStore, AuditEvent, AuditLog, ChainHead, Durability};
use crate::clock::{Clock, DAY_MS, Millis, SystemClock, rfc3339};
use crate::iam::{AccessKeyRecord, Role, User};
use crate::model::{AliasRecord, KeyName, KeyRecord, Location, Rotation, RotationType};
use crate::policy::{self, Policy};
use crate::request::{Principal, RequestContext};
use crate::state::{self, KeyOperation, KeyState};
use crate::store::Store;
use crate::{Error, Result, root};

const DB_FILE: &str = "keycore.db";
const AUDIT_FILE: &str = "audit.log";
const ROOT_KEY_FILE: &str = "root.key";
const LOCK_FILE: &str = "lock";

/// The largest encryption context accepted, in bytes of keys and values together (as AWS KMS).
pub const MAX_CONTEXT_BYTES: usize = 8192;

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

/// How to open a data directory.
#[derive(Debug, Clone)]
pub struct Options {
    /// The time source for rotation schedules and deletion windows.
    pub clock: Arc<dyn Clock>,
    /// Whether audit records are synced before an operation is answered.
    pub audit: Durability,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            audit: Durability::Durable,
        }
    }
}

/// What [`KeyCore::reset_audit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditReset {
    /// What was broken.
    pub problem: String,
    /// Where the broken trail now is.
    pub moved_to: PathBuf,
}

/// A key and its versions, ready to use. Dropping it zeroizes every version's key schedule.
#[derive(Debug)]
pub(crate) struct KeyEntry {
    pub(crate) record: KeyRecord,
    /// `record.policy`, parsed once.
    pub(crate) policy: Policy,
    /// `versions[v - 1]` is version `v`.
    pub(crate) versions: Vec<SealingKey>,
}

impl KeyEntry {
    pub(crate) fn primary(&self) -> Result<&SealingKey> {
        self.version(self.record.primary_version).ok_or_else(|| {
            Error::Internal(format!("{} has no primary version", self.record.key_id))
        })
    }

    pub(crate) fn version(&self, v: u32) -> Option<&SealingKey> {
        self.versions.get(usize::try_from(v).ok()?.checked_sub(1)?)
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// By key id; sorted, which gives `ListKeys` a stable order for its markers.
    pub(crate) keys: BTreeMap<String, KeyEntry>,
    /// By alias name.
    pub(crate) aliases: BTreeMap<String, AliasRecord>,
    /// Ids of destroyed keys: a blob naming one is "deleted", not "invalid".
    pub(crate) deleted: HashSet<String>,
    /// Users of every account, by ARN.
    pub(crate) users: BTreeMap<String, User>,
    /// Access keys by id (secrets sealed).
    pub(crate) access_keys: HashMap<String, AccessKeyRecord>,
    /// Roles by ARN.
    pub(crate) roles: BTreeMap<String, Role>,
    /// Keys whose stored record or material cannot be loaded, with why: every operation on one
    /// is refused with that reason; every other key works.
    pub(crate) unusable: BTreeMap<String, String>,
    /// Every user's and role's identity policies, parsed, by user or role ARN.
    pub(crate) identity: HashMap<String, Vec<Policy>>,
    /// Every role's trust policy, parsed, by role ARN.
    pub(crate) trust: HashMap<String, Policy>,
}

/// One operation in flight: who asks, from where, and the audit event being filled in.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) who: &'a Principal,
    pub(crate) ctx: &'a RequestContext,
    pub(crate) event: AuditEvent,
    /// The key core's own scheduled work (rotation, destruction), which no policy governs.
    internal: bool,
}

/// The key core engine. Cheap to clone; all clones share one data directory.
///
/// Every operation takes the caller's [`Principal`] and [`RequestContext`], is authorised, and
/// is answered only after its audit record is durable — refusals included.
#[derive(Debug, Clone)]
pub struct KeyCore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) location: Location,
    pub(crate) clock: Arc<dyn Clock>,
    root: SealingKey,
    store: Mutex<Store>,
    state: RwLock<State>,
    audit: AuditLog,
    /// The earliest time at which a rotation or destruction is due; checked on every call.
    next_due: AtomicI64,
    maintenance: tokio::sync::Mutex<()>,
    dir: PathBuf,
    /// Held for the life of the process: one key core per data directory.
    _lock: File,
}

impl KeyCore {
    /// Creates a data directory: the root key (mode 0600), the store and its identity.
    pub fn init(dir: &Path, options: &InitOptions) -> Result<Location> {
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
        if dir.join(DB_FILE).exists() || dir.join(ROOT_KEY_FILE).exists() {
            return Err(Error::DataDir(format!(
                "{} is already initialised",
                dir.display()
            )));
        }
        let _lock = lock(dir)?;
        root::create(&dir.join(ROOT_KEY_FILE))?;
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
        let db = initialised_db(dir)?;
        let lock = lock(dir)?;
        let root = root::load(&dir.join(ROOT_KEY_FILE))?;
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
            match load_key(&root, &record, &sealed) {
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
        state.access_keys = snapshot
            .access_keys
            .into_iter()
            .map(|k| (k.access_key_id.clone(), k))
            .collect();
        let audit = AuditLog::open(
            &dir.join(AUDIT_FILE),
            options.audit,
            AnchorStore::open(&db)?,
        )?;
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
                dir: dir.to_owned(),
                _lock: lock,
            }),
        })
    }

    /// Where this key core's keys live: partition, region, account.
    pub fn location(&self) -> &Location {
        &self.inner.location
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

    pub(crate) fn root(&self) -> &SealingKey {
        &self.inner.root
    }

    pub(crate) fn now(&self) -> Millis {
        self.inner.clock.now_ms()
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        // Mutations validate before they change anything, so a panic elsewhere cannot leave
        // the index half-updated; carry on with it.
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.inner
            .store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts an operation: who asks, from where, and a blank audit event for it.
    pub(crate) fn call<'a>(
        &self,
        operation: &str,
        who: &'a Principal,
        ctx: &'a RequestContext,
    ) -> Call<'a> {
        Call {
            who,
            ctx,
            event: AuditEvent::new(operation, who, ctx, &self.inner.location.region),
            internal: false,
        }
    }

    /// Records the outcome, waits until the record is durable, then hands the outcome back. If
    /// the record cannot be made durable, the caller gets that error instead (fail closed).
    pub(crate) async fn finish<T>(&self, call: Call<'_>, result: Result<T>) -> Result<T> {
        let mut event = call.event;
        event.time = rfc3339(self.now());
        match &result {
            Ok(_) => {
                event.result = "Success".to_owned();
                tracing::trace!(operation = %event.operation, key = ?event.key_arn, "answered");
            }
            Err(e) => {
                event.result = e.code().as_str().to_owned();
                event.error_message = Some(e.to_string());
                tracing::debug!(
                    operation = %event.operation,
                    code = e.code().as_str(),
                    error = %e,
                    "refused"
                );
            }
        }
        self.inner.audit.append(event).await?;
        result
    }

    /// Audits a request refused before it reached an operation: a bad signature, an unknown
    /// access key, a malformed or throttled request. `who` is the caller when it is known.
    pub async fn audit_refusal(
        &self,
        operation: &str,
        who: Option<&Principal>,
        ctx: &RequestContext,
        code: &str,
        message: &str,
    ) -> Result<()> {
        let anonymous = Principal {
            account_id: String::new(),
            arn: "anonymous".to_owned(),
            access_key_id: None,
        };
        let call = self.call(operation, who.unwrap_or(&anonymous), ctx);
        let mut event = call.event;
        event.time = rfc3339(self.now());
        event.result = code.to_owned();
        event.error_message = Some(message.to_owned());
        self.inner.audit.append(event).await.map(drop)
    }

    /// Runs the key core's own due work, then checks that the request addresses this key
    /// core's region. What the caller may do is checked per operation
    /// ([`KeyCore::authorize_account`], and [`KeyCore::resolve_for`] for keys).
    pub(crate) async fn admit(&self, _who: &Principal, ctx: &RequestContext) -> Result<()> {
        self.maintain().await?;
        let here = &self.inner.location;
        if let Some(region) = &ctx.region
            && *region != here.region
        {
            return Err(Error::Validation(format!(
                "this key core serves region {}, not {region}",
                here.region
            )));
        }
        Ok(())
    }

    /// For operations on no particular key (`CreateKey`, `ListKeys` …): the caller must belong
    /// to the key core's account and be its root or hold an identity policy allowing `action`.
    pub(crate) fn authorize_account(
        &self,
        state: &State,
        call: &Call<'_>,
        action: &str,
    ) -> Result<()> {
        if call.internal {
            return Ok(());
        }
        let who = call.who;
        let conditions = self.conditions(call);
        let request = policy::Request {
            principal: who,
            action,
            resource: "*",
            context: &conditions,
        };
        let identity = evaluate_identity(state, &request);
        let is_root = who.is_account_root();
        if who.account_id == self.inner.location.account_id
            && !identity.denied
            && (is_root || identity.allowed)
        {
            return Ok(());
        }
        Err(Error::AccessDenied(format!(
            "{} is not authorized to perform {action}",
            who.arn
        )))
    }

    /// The key policy and the caller's identity policies, combined as AWS KMS does: an explicit
    /// deny in either wins; otherwise the key policy must allow the caller directly, or allow
    /// the caller's account and an identity policy of the caller allow the action.
    fn authorize_key(
        &self,
        state: &State,
        call: &Call<'_>,
        op: KeyOperation,
        entry: &KeyEntry,
        arn: &str,
    ) -> Result<()> {
        if call.internal {
            return Ok(());
        }
        let action = op.action();
        let identity = state.identity.get(call.who.identity_arn().as_ref());
        let needs_conditions = entry.policy.has_conditions()
            || identity.is_some_and(|ps| ps.iter().any(Policy::has_conditions));
        let conditions = if needs_conditions {
            self.conditions(call)
        } else {
            BTreeMap::new()
        };
        let request = policy::Request {
            principal: call.who,
            action,
            resource: arn,
            context: &conditions,
        };
        let key = entry.policy.evaluate(&request);
        if resource_and_identity_allow(state, &request, key) {
            Ok(())
        } else {
            Err(Error::AccessDenied(format!(
                "{} is not authorized to perform {action} on {arn}",
                call.who.arn
            )))
        }
    }

    /// AWS KMS's policy lockout safety check: a new key policy must still let the caller put
    /// the key policy again, or nobody (the account root included) could ever repair it. The
    /// caller may waive the check (`BypassPolicyLockoutSafetyCheck`), as in AWS.
    pub(crate) fn check_lockout(
        &self,
        state: &State,
        call: &Call<'_>,
        policy: &Policy,
        key_arn: &str,
    ) -> Result<()> {
        if call.internal {
            return Ok(());
        }
        let conditions = self.conditions(call);
        let request = policy::Request {
            principal: call.who,
            action: "kms:PutKeyPolicy",
            resource: key_arn,
            context: &conditions,
        };
        if resource_and_identity_allow(state, &request, policy.evaluate(&request)) {
            Ok(())
        } else {
            Err(Error::MalformedPolicy(format!(
                "the new key policy will not allow you ({}) to update the key policy in the \
                 future: allow kms:PutKeyPolicy to the caller in it, or set \
                 BypassPolicyLockoutSafetyCheck if that is intended",
                call.who.arn
            )))
        }
    }

    /// `sts:AssumeRole`: the role's trust policy and the caller's identity policies, combined
    /// like a key policy and identity policies.
    pub(crate) fn authorize_assume(
        &self,
        state: &State,
        call: &Call<'_>,
        role: &Role,
    ) -> Result<()> {
        let conditions = self.conditions(call);
        let request = policy::Request {
            principal: call.who,
            action: "sts:AssumeRole",
            resource: &role.arn,
            context: &conditions,
        };
        let trust = state
            .trust
            .get(&role.arn)
            .map(|p| p.evaluate(&request))
            .unwrap_or_default();
        if resource_and_identity_allow(state, &request, trust) {
            Ok(())
        } else {
            Err(Error::AccessDenied(format!(
                "{} is not authorized to perform sts:AssumeRole on {}",
                call.who.arn, role.arn
            )))
        }
    }

    /// The condition keys a policy may test for this call.
    fn conditions(&self, call: &Call<'_>) -> BTreeMap<String, Vec<String>> {
        let mut keys = BTreeMap::new();
        keys.insert(
            "kms:CallerAccount".to_owned(),
            vec![call.who.account_id.clone()],
        );
        keys.insert(
            "aws:PrincipalArn".to_owned(),
            vec![call.who.identity_arn().into_owned()],
        );
        if let Some(ip) = call.ctx.source_ip {
            keys.insert("aws:SourceIp".to_owned(), vec![ip.to_string()]);
        }
        if let Some(context) = &call.event.encryption_context {
            keys.insert(
                "kms:EncryptionContextKeys".to_owned(),
                context.iter().map(|(k, _)| k.to_owned()).collect(),
            );
            for (k, v) in context.iter() {
                keys.insert(format!("kms:EncryptionContext:{k}"), vec![v.to_owned()]);
            }
        }
        keys
    }

    /// The key an identifier names, if it is usable at all (not destroyed, not past its
    /// deletion date).
    pub(crate) fn resolve<'s>(&self, state: &'s State, identifier: &str) -> Result<&'s KeyEntry> {
        let not_found = || {
            Error::NotFound(format!(
                "key {identifier} does not exist in {} account {}",
                self.inner.location.region, self.inner.location.account_id
            ))
        };
        let key_id = match self
            .inner
            .location
            .parse(identifier)
            .ok_or_else(not_found)?
        {
            KeyName::Key(id) => id,
            KeyName::Alias(alias) => state
                .aliases
                .get(alias)
                .map(|a| a.target_key_id.as_str())
                .ok_or_else(|| Error::NotFound(format!("alias {alias} does not exist")))?,
        };
        if let Some(why) = state.unusable.get(key_id) {
            return Err(Error::Internal(format!(
                "key {key_id} cannot be used: {why}"
            )));
        }
        let entry = state.keys.get(key_id).ok_or_else(not_found)?;
        if self.past_deletion(&entry.record) {
            return Err(Error::NotFound(format!("key {key_id} has been deleted")));
        }
        Ok(entry)
    }

    /// Resolves a key, checks that the caller may do `op` with it and that its state allows it.
    pub(crate) fn resolve_for<'s>(
        &self,
        state: &'s State,
        identifier: &str,
        op: KeyOperation,
        call: &mut Call<'_>,
    ) -> Result<&'s KeyEntry> {
        let entry = self.resolve(state, identifier)?;
        let arn = self.arn(&entry.record.key_id);
        call.event.key_arn = Some(arn.clone());
        self.authorize_key(state, call, op, entry, &arn)?;
        state::check(entry.record.state, op, &arn)?;
        Ok(entry)
    }

    pub(crate) fn arn(&self, key_id: &str) -> String {
        self.inner.location.key_arn(key_id)
    }

    fn past_deletion(&self, record: &KeyRecord) -> bool {
        record.state == KeyState::PendingDeletion
            && record.deletion_date.is_some_and(|d| d <= self.now())
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
        change(&mut record, self.now())?;
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
        let now = self.now();
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
            entry.versions.push(key);
            entry.record = record.clone();
        }
        Ok(record)
    }

    /// Stores and indexes a new key with its first version.
    pub(crate) fn insert_key(&self, record: KeyRecord) -> Result<KeyRecord> {
        let policy = Policy::parse(&record.policy)?;
        let (key, sealed) = root::new_version(&self.inner.root, &record.key_id, 1)?;
        let mut state = self.write();
        self.store().put_key(&record, Some((1, &sealed)))?;
        self.note_due(&record);
        state.keys.insert(
            record.key_id.clone(),
            KeyEntry {
                record: record.clone(),
                policy,
                versions: vec![key],
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

    /// Lowers the next-due time to cover `record`'s schedule.
    fn note_due(&self, record: &KeyRecord) {
        if let Some(due) = due_of(record) {
            self.inner.next_due.fetch_min(due, Ordering::SeqCst);
        }
    }

    /// Runs automatic rotations and destructions that are due. Cheap when nothing is: one clock
    /// read and one atomic load.
    pub async fn maintain(&self) -> Result<()> {
        if self.now() < self.inner.next_due.load(Ordering::SeqCst) {
            return Ok(());
        }
        // One caller runs the work; the others go on (a key past its deletion date is already
        // refused by `resolve` whether or not it has been destroyed yet).
        let Ok(_running) = self.inner.maintenance.try_lock() else {
            return Ok(());
        };
        self.inner.next_due.store(Millis::MAX, Ordering::SeqCst);
        let now = self.now();
        let (destroy, rotate): (Vec<_>, Vec<_>) = {
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
            (destroy, rotate)
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
        let due = earliest_due(&self.read());
        self.inner.next_due.fetch_min(due, Ordering::SeqCst);
        outcome
    }

    /// Crypto-erasure of one key: every version's material leaves the store and memory.
    fn destroy(&self, key_id: &str, now: Millis, call: &mut Call<'_>) -> Result<()> {
        call.event.key_arn = Some(self.arn(key_id));
        let mut state = self.write();
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

impl State {
    /// Indexes a role, its parsed identity policies and its trust policy.
    pub(crate) fn set_role(&mut self, role: Role) -> Result<()> {
        let policies = role
            .policies
            .values()
            .map(|doc| Policy::parse(doc))
            .collect::<Result<Vec<_>>>()?;
        self.trust
            .insert(role.arn.clone(), Policy::parse(&role.trust_policy)?);
        self.identity.insert(role.arn.clone(), policies);
        self.roles.insert(role.arn.clone(), role);
        Ok(())
    }

    /// Indexes a user and its parsed identity policies.
    pub(crate) fn set_user(&mut self, user: User) -> Result<()> {
        let policies = user
            .policies
            .values()
            .map(|doc| Policy::parse(doc))
            .collect::<Result<Vec<_>>>()?;
        self.identity.insert(user.arn.clone(), policies);
        self.users.insert(user.arn.clone(), user);
        Ok(())
    }
}

/// A resource policy (key or trust policy) and the caller's identity policies, combined as AWS
/// does: an explicit deny in either wins; otherwise the resource policy must allow the caller
/// directly, or allow its account and an identity policy of the caller allow too (the account
/// root needs none).
fn resource_and_identity_allow(
    state: &State,
    request: &policy::Request<'_>,
    resource: policy::Evaluation,
) -> bool {
    let identity = evaluate_identity(state, request);
    let who = request.principal;
    let is_root = who.is_account_root();
    !resource.denied
        && !identity.denied
        && (resource.allowed || (resource.allowed_via_account && (is_root || identity.allowed)))
}

/// The caller's identity policies, combined: any deny, any allow.
fn evaluate_identity(state: &State, request: &policy::Request<'_>) -> policy::Evaluation {
    let mut out = policy::Evaluation::default();
    let arn = request.principal.identity_arn();
    for p in state.identity.get(arn.as_ref()).into_iter().flatten() {
        let e = p.evaluate(request);
        out.denied |= e.denied;
        out.allowed |= e.allowed;
    }
    out
}

/// One stored key, its versions opened under the root key and its policy parsed.
fn load_key(root: &SealingKey, record: &KeyRecord, sealed: &[(u32, Vec<u8>)]) -> Result<KeyEntry> {
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
    Ok(KeyEntry {
        record: record.clone(),
        policy: Policy::parse(&record.policy)?,
        versions,
    })
}

fn due_of(record: &KeyRecord) -> Option<Millis> {
    match record.state {
        KeyState::PendingDeletion => record.deletion_date,
        KeyState::Enabled => record.next_rotation,
        KeyState::Disabled => None,
    }
}

fn earliest_due(state: &State) -> Millis {
    state
        .keys
        .values()
        .filter_map(|e| due_of(&e.record))
        .min()
        .unwrap_or(Millis::MAX)
}

/// Refuses an encryption context over the size limit or with an empty key.
pub(crate) fn check_context(context: &EncryptionContext) -> Result<()> {
    if context.size_in_bytes() > MAX_CONTEXT_BYTES {
        return Err(Error::Validation(format!(
            "the encryption context is {} bytes; the limit is {MAX_CONTEXT_BYTES}",
            context.size_in_bytes()
        )));
    }
    if context.iter().any(|(k, _)| k.is_empty()) {
        return Err(Error::Validation(
            "encryption context keys must not be empty".into(),
        ));
    }
    Ok(())
}

/// The store of an initialised data directory; opening one that is not would create it.
fn initialised_db(dir: &Path) -> Result<PathBuf> {
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
fn lock(dir: &Path) -> Result<File> {
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
fn valid_region(region: &str) -> bool {
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
fn valid_partition(partition: &str) -> bool {
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

fn random_account_id() -> Result<String> {
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
