//! One PKCS#11 key store: its module (one per process), its connection to the token, and a
//! bounded pool of logged-in sessions that operations check out one at a time.
//!
//! A connection that fails — no module, no token with the label, a wrong PIN — leaves the store
//! `FAILED` with an AWS connection error code and one log line; operations on its keys answer
//! `KeyUnavailableException` (retryable), and the next operation after a second tries again.
//! A wrong PIN is not tried again until the PIN file changes: tokens lock a user out after a few
//! wrong PINs. When the token goes away under open sessions, the pool is dropped and the store
//! reconnects the same way.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::KeyStoreConfig;
use super::module::{leave_module, module, reinitialize};
use super::token::TokenMechanisms;
use crate::clock::Millis;
use crate::{Error, Result};

/// How long after a failed connection the next operation may try again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A store's connection, as `DescribeCustomKeyStores` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Logged in to the token.
    Connected,
    /// Not connected, with the AWS connection error code and what went wrong.
    Failed {
        /// `CLUSTER_NOT_FOUND`, `INSUFFICIENT_CLOUDHSM_HSMS`, `INVALID_CREDENTIALS`,
        /// `USER_LOCKED_OUT` or `INTERNAL_ERROR`.
        code: &'static str,
        /// For the operator's log (never the PIN).
        message: String,
    },
}

/// Why a store could not connect: the AWS connection error code, what went wrong, and the
/// hash of a PIN the token refused (not tried again until it changes: retries would lock the
/// user out).
struct ConnectFailure {
    code: &'static str,
    message: String,
    refused_pin: Option<[u8; 32]>,
}

impl ConnectFailure {
    fn new(code: &'static str, message: String) -> Self {
        Self {
            code,
            message,
            refused_pin: None,
        }
    }
}

/// A logged-in token.
struct Connected {
    pkcs11: Pkcs11,
    slot: Slot,
    mechanisms: TokenMechanisms,
}

/// Why an operation inside the token failed.
pub(crate) enum Failure {
    /// The PKCS#11 call failed.
    Pkcs11(CkError),
    /// The operation's own answer (an opaque `InvalidCiphertext`, a missing object).
    Core(Error),
}

impl From<CkError> for Failure {
    fn from(e: CkError) -> Self {
        Failure::Pkcs11(e)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

struct Link {
    connected: Option<Connected>,
    state: ConnectionState,
    last_attempt: Instant,
    /// SHA-256 of a PIN the token refused, so that it is not tried again.
    refused_pin: Option<[u8; 32]>,
    /// Counts connections, so that sessions of an older one are not put back.
    generation: u64,
}

/// The sessions of a store: `open` counts every one alive, idle or checked out, of any
/// connection, and is what `sessions` bounds.
struct Pool {
    idle: Vec<(u64, Session)>,
    open: usize,
}

/// Closes the idle sessions (their connection is gone or replaced).
fn close_idle(pool: &mut Pool) {
    pool.open = pool.open.saturating_sub(pool.idle.len());
    pool.idle.clear();
}

/// One configured PKCS#11 key store.
pub struct HsmStore {
    config: KeyStoreConfig,
    /// When this process first tried to connect it.
    since: Millis,
    link: Mutex<Link>,
    pool: Mutex<Pool>,
    returned: Condvar,
    /// Object handles by label, for this connection (handles hold for every session of the
    /// process, and change with a new connection).
    handles: Mutex<HashMap<String, ObjectHandle>>,
    /// Sessions checked out now, of any connection.
    leased: AtomicUsize,
    /// A `secret://` PIN as the key core last read it, with the secret version it came from.
    secret_pin: Mutex<Option<(String, Zeroizing<String>)>>,
    /// Whether this store is counted among its module's users.
    counted: AtomicBool,
}

impl Drop for HsmStore {
    fn drop(&mut self) {
        if self.counted.load(Ordering::Relaxed) {
            leave_module(&self.config.module);
        }
    }
}

impl std::fmt::Debug for HsmStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmStore")
            .field("id", &self.config.id)
            .field("token_label", &self.config.token_label)
            .finish_non_exhaustive()
    }
}

/// Counts a session checked out of the pool until dropped (also if the operation panics), so
/// that the module is never reinitialised under a session in use.
struct Leased<'a>(&'a AtomicUsize);

impl<'a> Leased<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count)
    }
}

impl Drop for Leased<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Errors after which the connection is gone: the token, its sessions or the login.
pub(crate) fn connection_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::SlotIdInvalid
                | RvError::UserNotLoggedIn
                | RvError::CryptokiNotInitialized,
            _
        )
    )
}

/// A PKCS#11 failure in words for logs and errors: the function and the return value's name.
pub(crate) fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function:?} returned {rv:?}"),
        other => other.to_string(),
    }
}

impl HsmStore {
    /// Connects now; a failure leaves the store `FAILED` (see the module docs).
    pub(super) fn connect(config: KeyStoreConfig) -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let store = Self {
            config,
            since,
            link: Mutex::new(Link {
                connected: None,
                state: ConnectionState::Failed {
                    code: "INTERNAL_ERROR",
                    message: "not connected yet".into(),
                },
                last_attempt: Instant::now(),
                refused_pin: None,
                generation: 0,
            }),
            pool: Mutex::new(Pool {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
            handles: Mutex::new(HashMap::new()),
            leased: AtomicUsize::new(0),
            secret_pin: Mutex::new(None),
            counted: AtomicBool::new(false),
        };
        let mut link = lock(&store.link);
        store.attempt(&mut link);
        drop(link);
        store
    }

    /// Its configuration.
    pub fn config(&self) -> &KeyStoreConfig {
        &self.config
    }

    /// When this process first tried to connect it.
    pub fn since(&self) -> Millis {
        self.since
    }

    /// The connection state now (tries to reconnect first if a failed one is due a retry).
    pub fn state(&self) -> ConnectionState {
        let mut link = lock(&self.link);
        // Not connected is what the state says; the error adds nothing here.
        let _ = self.ensure(&mut link);
        link.state.clone()
    }

    /// What the token can do, when connected.
    pub(crate) fn mechanisms(&self) -> Result<TokenMechanisms> {
        let mut link = lock(&self.link);
        Ok(self.ensure(&mut link)?.mechanisms)
    }

    fn unavailable(&self, state: &ConnectionState) -> Error {
        let why = match state {
            ConnectionState::Failed { code, message } => format!("{code}: {message}"),
            ConnectionState::Connected => "disconnected".into(),
        };
        Error::KeyUnavailable(format!(
            "key store {} (token {}) is not connected ({why}); try again later",
            self.config.id, self.config.token_label
        ))
    }

    /// The connection, reconnected first if a retry is due; else `KeyUnavailable`.
    fn ensure<'l>(&self, link: &'l mut Link) -> Result<&'l Connected> {
        if link.connected.is_none() && link.last_attempt.elapsed() >= RETRY_AFTER {
            self.attempt(link);
        }
        match &link.connected {
            Some(connected) => Ok(connected),
            None => Err(self.unavailable(&link.state)),
        }
    }

    /// One connection attempt: module, token by label, PIN, login, mechanisms.
    fn attempt(&self, link: &mut Link) {
        link.last_attempt = Instant::now();
        let outcome = self.try_connect(link.refused_pin.as_ref());
        let state = match outcome {
            Ok((connected, session)) => {
                link.connected = Some(connected);
                link.generation += 1;
                link.refused_pin = None;
                // Sessions and handles of the last connection are stale; the login session
                // starts the new pool.
                let mut pool = lock(&self.pool);
                close_idle(&mut pool);
                pool.idle.push((link.generation, session));
                pool.open += 1;
                drop(pool);
                lock(&self.handles).clear();
                tracing::info!(
                    store = %self.config.id,
                    token = %self.config.token_label,
                    "PKCS#11 key store connected"
                );
                ConnectionState::Connected
            }
            Err(ConnectFailure {
                code,
                message,
                refused_pin,
            }) => {
                if refused_pin.is_some() {
                    link.refused_pin = refused_pin;
                }
                if link.state
                    != (ConnectionState::Failed {
                        code,
                        message: message.clone(),
                    })
                {
                    tracing::error!(
                        store = %self.config.id,
                        token = %self.config.token_label,
                        code,
                        "PKCS#11 key store cannot connect: {message}"
                    );
                }
                ConnectionState::Failed { code, message }
            }
        };
        link.state = state;
    }

    #[allow(clippy::type_complexity)]
    fn try_connect(
        &self,
        refused: Option<&[u8; 32]>,
    ) -> std::result::Result<(Connected, Session), ConnectFailure> {
        let c = &self.config;
        let first = !self.counted.load(Ordering::Relaxed);
        let pkcs11 = module(&c.module, first).map_err(|e| {
            ConnectFailure::new(
                "CLUSTER_NOT_FOUND",
                format!(
                    "the PKCS#11 module {} does not load: {e}",
                    c.module.display()
                ),
            )
        })?;
        self.counted.store(true, Ordering::Relaxed);
        let internal = |e: CkError| ConnectFailure::new("INTERNAL_ERROR", describe(&e));
        let mut slot = self.find_slot(&pkcs11).map_err(internal)?;
        // No sessions of this store are out (it is not connected, and leasing waits on the
        // link this attempt holds), so the module may be made to rescan for a token that came
        // back.
        if slot.is_none()
            && self.leased.load(Ordering::Acquire) == 0
            && reinitialize(&c.module).map_err(internal)?
        {
            slot = self.find_slot(&pkcs11).map_err(internal)?;
        }
        let slot = slot.ok_or_else(|| {
            ConnectFailure::new(
                "INSUFFICIENT_CLOUDHSM_HSMS",
                format!(
                    "no token labelled {:?} in {}",
                    c.token_label,
                    c.module.display()
                ),
            )
        })?;
        let pin = self
            .pin()
            .map_err(|m| ConnectFailure::new("INVALID_CREDENTIALS", m))?;
        let pin_hash: [u8; 32] = Sha256::digest(pin.as_bytes()).into();
        if refused.is_some_and(|r| r == &pin_hash) {
            return Err(ConnectFailure::new(
                "INVALID_CREDENTIALS",
                format!(
                    "the token refused the PIN {}; not trying it again until it changes",
                    self.pin_source()
                ),
            ));
        }
        let session = pkcs11.open_rw_session(slot).map_err(internal)?;
        match session.login(UserType::User, Some(&AuthPin::from(pin.as_str()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
                return Err(ConnectFailure {
                    refused_pin: Some(pin_hash),
                    ..ConnectFailure::new(
                        "INVALID_CREDENTIALS",
                        format!("the token refused the PIN {}", self.pin_source()),
                    )
                });
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
                return Err(ConnectFailure::new(
                    "USER_LOCKED_OUT",
                    "the token's user PIN is locked".into(),
                ));
            }
            Err(e) => return Err(internal(e)),
        }
        let mechanisms =
            TokenMechanisms::probe(&pkcs11.get_mechanism_list(slot).map_err(internal)?);
        let connected = Connected {
            pkcs11,
            slot,
            mechanisms,
        };
        Ok((connected, session))
    }

    /// The slot whose token has this store's label.
    fn find_slot(&self, pkcs11: &Pkcs11) -> std::result::Result<Option<Slot>, CkError> {
        for candidate in pkcs11.get_slots_with_token()? {
            // A token that went away answers with an error; it is not the one.
            if let Ok(info) = pkcs11.get_token_info(candidate)
                && info.label().trim_end() == self.config.token_label
            {
                return Ok(Some(candidate));
            }
        }
        Ok(None)
    }

    /// Whether the connected token still answers (a removed token does not).
    pub(crate) fn token_present(&self) -> bool {
        let link = lock(&self.link);
        link.connected
            .as_ref()
            .is_some_and(|c| c.pkcs11.get_token_info(c.slot).is_ok())
    }

    /// The user PIN, from its file or from the secret the key core last read for it.
    fn pin(&self) -> std::result::Result<Zeroizing<String>, String> {
        match (&self.config.pin_file, self.config.pin_secret()) {
            (Some(path), _) => read_pin(path),
            (None, Some(secret)) => lock(&self.secret_pin)
                .as_ref()
                .map(|(_, pin)| pin.clone())
                .ok_or_else(|| {
                    format!("the PIN is the secret {secret}, which the key core has not read yet")
                }),
            (None, None) => Err("no PIN is configured".into()),
        }
    }

    /// Where the PIN comes from, for messages.
    fn pin_source(&self) -> String {
        match (&self.config.pin_file, &self.config.pin) {
            (Some(path), _) => format!("in {}", path.display()),
            (None, Some(reference)) => format!("of {reference}"),
            (None, None) => String::new(),
        }
    }

    /// The secret a `secret://` PIN is read from, when the store is not connected, and the
    /// version of it last read (the key core reads it again only when it changed).
    pub(crate) fn wants_secret_pin(&self) -> Option<(&str, Option<String>)> {
        let secret = self.config.pin_secret()?;
        if lock(&self.link).connected.is_some() {
            return None;
        }
        let read = lock(&self.secret_pin)
            .as_ref()
            .map(|(version, _)| version.clone());
        Some((secret, read))
    }

    /// Takes the PIN the key core read from version `version` of the store's secret, and
    /// connects if it is not connected.
    pub(crate) fn set_secret_pin(&self, version: String, pin: Zeroizing<String>) {
        *lock(&self.secret_pin) = Some((version, pin));
        let mut link = lock(&self.link);
        if link.connected.is_none() {
            self.attempt(&mut link);
        }
    }

    /// Checks out a logged-in session of the current connection (its generation with it),
    /// waiting while all `sessions` are in use.
    fn lease(&self) -> Result<(u64, Session, Leased<'_>)> {
        let (generation, pkcs11, slot) = {
            let mut link = lock(&self.link);
            let connected = self.ensure(&mut link)?;
            let (pkcs11, slot) = (connected.pkcs11.clone(), connected.slot);
            (link.generation, pkcs11, slot)
        };
        let mut pool = lock(&self.pool);
        loop {
            if let Some((g, session)) = pool.idle.pop() {
                if g == generation {
                    return Ok((g, session, Leased::new(&self.leased)));
                }
                pool.open = pool.open.saturating_sub(1);
                continue;
            }
            if pool.open < self.config.sessions {
                pool.open += 1;
                drop(pool);
                // Sessions of a process share its login, so a new one needs no PIN.
                return match pkcs11.open_rw_session(slot) {
                    Ok(session) => Ok((generation, session, Leased::new(&self.leased))),
                    Err(e) => {
                        let mut pool = lock(&self.pool);
                        pool.open = pool.open.saturating_sub(1);
                        drop(pool);
                        Err(self.failed(Failure::Pkcs11(e), "opening a session"))
                    }
                };
            }
            pool = self
                .returned
                .wait(pool)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Runs `f` with a session of this store, off the async runtime. `what` names the
    /// operation in errors.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        f: impl FnOnce(&Self, &Session) -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        super::blocking(|| {
            let (generation, session, leased) = self.lease()?;
            let outcome = f(self, &session);
            self.give_back(generation, session);
            drop(leased);
            outcome.map_err(|failure| self.failed(failure, what))
        })
    }

    /// Returns a session to the pool, or closes it if its connection is gone.
    fn give_back(&self, generation: u64, session: Session) {
        let current = lock(&self.link).generation;
        let mut pool = lock(&self.pool);
        if generation == current {
            pool.idle.push((generation, session));
        } else {
            pool.open = pool.open.saturating_sub(1);
        }
        drop(pool);
        self.returned.notify_one();
    }

    /// The error an operation answers. A failure with the token gone (a lost session, or any
    /// failure while the token no longer answers) also drops the connection and its pool.
    fn failed(&self, failure: Failure, what: &str) -> Error {
        let e = match failure {
            Failure::Core(Error::KeyUnavailable(message)) => {
                if self.token_present() {
                    return Error::KeyUnavailable(message);
                }
                return self.lose("the token went away".into());
            }
            Failure::Core(e) => return e,
            Failure::Pkcs11(e) => e,
        };
        if connection_lost(&e) || !self.token_present() {
            return self.lose(format!("the token went away ({})", describe(&e)));
        }
        Error::Internal(format!(
            "key store {}: {what} failed in the token: {}",
            self.config.id,
            describe(&e)
        ))
    }

    /// Drops the connection (once, with one log line); the next operation after a second
    /// reconnects.
    fn lose(&self, why: String) -> Error {
        let mut link = lock(&self.link);
        if link.connected.take().is_some() {
            link.generation += 1;
            link.last_attempt = Instant::now();
            tracing::error!(
                store = %self.config.id,
                token = %self.config.token_label,
                "PKCS#11 key store disconnected: {why}"
            );
            link.state = ConnectionState::Failed {
                code: "INSUFFICIENT_CLOUDHSM_HSMS",
                message: why,
            };
            let mut pool = lock(&self.pool);
            close_idle(&mut pool);
            drop(pool);
            lock(&self.handles).clear();
            self.returned.notify_all();
        }
        self.unavailable(&link.state)
    }

    /// The handle of the object labelled `label` of `class`, from the cache or the token.
    pub(crate) fn find(
        &self,
        session: &Session,
        class: ObjectClass,
        label: &str,
    ) -> std::result::Result<ObjectHandle, Failure> {
        let cache_key = format!("{class}/{label}");
        if let Some(handle) = lock(&self.handles).get(&cache_key) {
            return Ok(*handle);
        }
        let found = session.find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])?;
        let handle = *found.first().ok_or_else(|| {
            Error::KeyUnavailable(format!(
                "the token of key store {} has no {class} labelled {label} (was the token \
                 replaced?)",
                self.config.id
            ))
        })?;
        lock(&self.handles).insert(cache_key, handle);
        Ok(handle)
    }

    /// Forgets the cached handles of `label` (its objects were destroyed).
    pub(crate) fn forget(&self, label: &str) {
        lock(&self.handles).retain(|k, _| !k.ends_with(&format!("/{label}")));
    }
}

/// Reads the PIN file: owner-only, one line.
fn read_pin(path: &Path) -> std::result::Result<Zeroizing<String>, String> {
    let mut file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| format!("cannot read the PIN file {}: {e}", path.display()))?;
    let mode = file
        .metadata()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "the PIN file {} is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        ));
    }
    let mut pin = Zeroizing::new(String::new());
    file.read_to_string(&mut pin)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let len = pin.trim_end_matches(['\r', '\n']).len();
    pin.truncate(len);
    if pin.is_empty() {
        return Err(format!("the PIN file {} is empty", path.display()));
    }
    Ok(pin)
}
