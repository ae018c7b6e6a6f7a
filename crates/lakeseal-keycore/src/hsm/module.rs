//! The process's PKCS#11 modules: one `Pkcs11` per module path (PKCS#11 allows one
//! `C_Initialize` per process), shared by the stores that use it, and counted so that a module
//! is re-initialised (to rescan its slots) only for a store that is its only user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process's modules: one `Pkcs11` per module path (PKCS#11 allows one `C_Initialize` per
/// process), and how many stores use each.
fn modules() -> MutexGuard<'static, HashMap<PathBuf, (Pkcs11, usize)>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, (Pkcs11, usize)>>> = OnceLock::new();
    lock(MODULES.get_or_init(Default::default))
}

fn initialize(module: &Pkcs11) -> std::result::Result<(), CkError> {
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The module at `path`, loaded and initialised once per process; `new_user` counts a store
/// among its users in the same step, so that no other store can reinitialise it unseen.
pub(super) fn module(path: &Path, new_user: bool) -> std::result::Result<Pkcs11, CkError> {
    let mut modules = modules();
    if !modules.contains_key(path) {
        let module = Pkcs11::new(path)?;
        initialize(&module)?;
        modules.insert(path.to_owned(), (module, 0));
    }
    let (module, users) = modules.get_mut(path).ok_or(CkError::NullFunctionPointer)?;
    *users += usize::from(new_user);
    Ok(module.clone())
}

/// Counts a store out of its module's users.
pub(super) fn leave_module(path: &Path) {
    if let Some((_, users)) = modules().get_mut(path) {
        *users = users.saturating_sub(1);
    }
}

/// Finalises and initialises the module again, so that it rescans its slots (SoftHSM2, like
/// many modules, lists only the tokens present at `C_Initialize`). Only when `path` serves one
/// store: finalising closes every session of the process on it.
pub(super) fn reinitialize(path: &Path) -> std::result::Result<bool, CkError> {
    let modules = modules();
    let Some((module, users)) = modules.get(path) else {
        return Ok(false);
    };
    if *users > 1 {
        return Ok(false);
    }
    // An error here means it was not initialised; initialising is what matters.
    let _ = module.clone().finalize();
    initialize(module)?;
    Ok(true)
}
