//! [`KeyCore`]: the in-memory key index and the steps every operation shares (admit, resolve,
//! check state, audit). The rest by job: the data directory (`data_dir`: init, open, lock),
//! authorisation (`authorize`), changing keys and sealing blobs under them (`keys`), and the key
//! core's own due work (`maintenance`: scheduled rotation, erasure).

mod authorize;
mod data_dir;
mod key_entry;
mod key_store_pins;
mod keys;
mod maintenance;
mod rotation;
mod scheduler;
mod secrets;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use lakeseal_envelope::{EncryptionContext, SealingKey};

use crate::audit::alerts::{AlertThresholds, Detector};
use crate::audit::{AuditEvent, AuditLog, Durability};
use crate::clock::{Clock, Millis, SystemClock, rfc3339};
use crate::hsm::{KeyStoreConfig, KeyStores};
use crate::iam::{AccessKeyRecord, MIN_SESSION_SECONDS, Role, User, WorkloadIdentity};
use crate::key_spec;
use crate::model::{AliasRecord, KeyName, Location};
use crate::policy::Policy;
use crate::request::{Principal, RequestContext, Service};
use crate::rotation::Rotators;
use crate::secrets::SecretEntry;
use crate::state::{self, KeyOperation};
use crate::store::Store;
use crate::{Error, Result};

pub use self::data_dir::{AuditReset, InitOptions};
pub(crate) use self::key_entry::{KeyEntry, Material};
pub use self::secrets::DEFAULT_SECRETS_KEY_ALIAS;
pub(crate) use self::secrets::SecretTarget;

/// The largest encryption context accepted, in bytes of keys and values together (as AWS KMS).
pub const MAX_CONTEXT_BYTES: usize = 8192;

/// How to open a data directory.
#[derive(Debug, Clone)]
pub struct Options {
    /// The time source for rotation schedules and deletion windows.
    pub clock: Arc<dyn Clock>,
    /// Whether audit records are synced before an operation is answered.
    pub audit: Durability,
    /// The rotators secrets may name (the built-in ones unless told otherwise).
    pub rotators: Rotators,
    /// The shortest `AssumeRole` session granted, 1 to 900 seconds (default 900, as AWS):
    /// lowered only so that tests can watch credentials expire.
    pub min_session_seconds: u32,
    /// When the audit trail's anomaly alerts fire as operations are answered.
    pub alerts: AlertThresholds,
    /// The PKCS#11 key stores HSM keys live in (none by default).
    pub key_stores: Vec<KeyStoreConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            audit: Durability::Durable,
            rotators: Rotators::builtin(),
            min_session_seconds: MIN_SESSION_SECONDS,
            alerts: AlertThresholds::default(),
            key_stores: Vec::new(),
        }
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
    /// Workload identities by ARN.
    pub(crate) workloads: BTreeMap<String, WorkloadIdentity>,
    /// Keys whose stored record or material cannot be loaded, with why: every operation on one
    /// is refused with that reason; every other key works.
    pub(crate) unusable: BTreeMap<String, String>,
    /// Every user's and role's identity policies, parsed, by user or role ARN.
    pub(crate) identity: HashMap<String, Vec<Policy>>,
    /// Every role's trust policy, parsed, by role ARN.
    pub(crate) trust: HashMap<String, Policy>,
    /// Secrets by ARN.
    pub(crate) secrets: BTreeMap<String, SecretEntry>,
    /// The ARN of the secret each name belongs to.
    pub(crate) secret_names: HashMap<String, String>,
}

/// One operation in flight: who asks, from where, and the audit event being filled in.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) who: &'a Principal,
    pub(crate) ctx: &'a RequestContext,
    pub(crate) event: AuditEvent,
    /// The API the call came in through, which names its errors.
    pub(crate) service: Service,
    /// `kms:ViaService` while the secrets manager uses a CMK on the caller's behalf.
    pub(crate) via_service: Option<String>,
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
    /// The rotators secrets may name.
    pub(crate) rotators: Rotators,
    /// The shortest `AssumeRole` session granted, seconds.
    pub(crate) min_session_seconds: u32,
    /// Reads every audited event as it is answered and raises anomaly alerts.
    pub(crate) alerts: Mutex<Detector>,
    /// ARNs of the secrets being rotated right now: one rotation per secret at a time.
    pub(crate) rotating: Mutex<HashSet<String>>,
    /// The PKCS#11 key stores.
    pub(crate) key_stores: KeyStores,
    dir: PathBuf,
    /// Held for the life of the process: one key core per data directory.
    _lock: File,
}

impl KeyCore {
    /// Where this key core's keys live: partition, region, account.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    pub(crate) fn root(&self) -> &SealingKey {
        &self.inner.root
    }

    /// Now, on the key core's clock (injectable, see [`crate::clock`]): what rotation,
    /// deletion and credential expiry are measured by.
    pub fn now_ms(&self) -> Millis {
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
            service: Service::Kms,
            via_service: None,
            internal: false,
        }
    }

    /// Starts a Secrets Manager operation: errors get that API's names, in the answer and in
    /// the audit trail.
    pub(crate) fn secrets_call<'a>(
        &self,
        operation: &str,
        who: &'a Principal,
        ctx: &'a RequestContext,
    ) -> Call<'a> {
        let mut call = self.call(operation, who, ctx);
        call.service = Service::SecretsManager;
        call.event.service = Some("secretsmanager".to_owned());
        call
    }

    /// The key core acting on its own (scheduled work, rotation), as the audit trail names it.
    pub(crate) fn service_caller(&self, purpose: &str) -> (Principal, RequestContext) {
        (
            Principal::key_core(&self.inner.location.account_id),
            RequestContext::local(&format!("lakeseal-keycore/{purpose}")),
        )
    }

    /// Starts an operation of the key core's own, which no policy governs.
    pub(crate) fn internal_call<'a>(
        &self,
        operation: &str,
        who: &'a Principal,
        ctx: &'a RequestContext,
    ) -> Call<'a> {
        let mut call = self.call(operation, who, ctx);
        call.internal = true;
        call
    }

    /// Records the outcome, waits until the record is durable, then hands the outcome back. If
    /// the record cannot be made durable, the caller gets that error instead (fail closed).
    pub(crate) async fn finish<T>(&self, call: Call<'_>, result: Result<T>) -> Result<T> {
        let mut event = call.event;
        let now = self.now_ms();
        event.time = rfc3339(now);
        match &result {
            Ok(_) => {
                event.result = "Success".to_owned();
                tracing::trace!(operation = %event.operation, key = ?event.key_arn, "answered");
            }
            Err(e) => {
                let code = e.code_in(call.service);
                event.result = code.as_str().to_owned();
                event.error_message = Some(e.to_string());
                tracing::debug!(
                    operation = %event.operation,
                    code = code.as_str(),
                    error = %e,
                    "refused"
                );
            }
        }
        crate::key_metrics::record(&event);
        self.raise_alerts(&event, now);
        self.inner.audit.append(event).await?;
        result
    }

    /// Feeds an answered event to the anomaly detector: each alert is a
    /// `lakeseal_keycore_alerts_total{kind}` increment and a `warn` event of target
    /// `lakeseal_keycore::alert`. `now` is the time `event.time` says, not parsed back.
    fn raise_alerts(&self, event: &AuditEvent, now: Millis) {
        let alerts = self
            .inner
            .alerts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe_at(event, now);
        for alert in alerts {
            metrics::counter!("lakeseal_keycore_alerts_total", "kind" => alert.kind.as_str())
                .increment(1);
            tracing::warn!(
                target: "lakeseal_keycore::alert",
                kind = alert.kind.as_str(),
                principal = %alert.principal,
                request_id = %alert.request_id,
                detail = %alert.detail,
                "audit alert"
            );
        }
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
        let now = self.now_ms();
        event.time = rfc3339(now);
        event.result = code.to_owned();
        event.error_message = Some(message.to_owned());
        self.raise_alerts(&event, now);
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
        key_spec::check_usage(&entry.record, op, &arn)?;
        Ok(entry)
    }

    pub(crate) fn arn(&self, key_id: &str) -> String {
        self.inner.location.key_arn(key_id)
    }

    /// The id of the key `identifier` (an id, ARN, alias or alias ARN) names, if this key core
    /// holds it; no one is authorised and nothing audited: for metric labels only, which must
    /// never carry a caller's string.
    pub fn held_key_id(&self, identifier: &str) -> Option<String> {
        let state = self.read();
        self.resolve(&state, identifier)
            .ok()
            .map(|entry| entry.record.key_id.clone())
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
