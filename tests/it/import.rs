//! Bring your own key over the wire: material made by a Python script, wrapped with
//! `cryptography` under both wrapping families, imported with boto3; tokens and material
//! expire on the key core's clock, which the test moves.

use std::sync::Arc;
use std::time::Duration;

use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::clock::ManualClock;

use crate::support::RunningKeyCore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_imports_key_material_wrapped_by_cryptography() {
    let clock = Arc::new(ManualClock::starting_now());
    let kc = RunningKeyCore::start_with_clock(Default::default(), clock.clone()).await;
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().to_str().unwrap();
    let out = kc
        .python(
            "import_boto3.py",
            &[("MODE", "now"), ("STATE_DIR", state_dir)],
        )
        .await;
    assert!(out.contains("ALL PASSED"), "{out}");

    // A day on: past the token's 24 hours and the material's ValidTo.
    clock.advance(Duration::from_secs(24 * 3600 + 1));
    let out = kc
        .python(
            "import_boto3.py",
            &[("MODE", "later"), ("STATE_DIR", state_dir)],
        )
        .await;
    assert!(out.contains("ALL PASSED"), "{out}");

    let records = audit::query(&kc.core.audit_path(), &Query::default()).unwrap();
    let seen = |operation: &str, result: &str| {
        records
            .iter()
            .any(|r| r.event.operation == operation && r.event.result == result)
    };
    assert!(seen("ImportKeyMaterial", "Success"));
    assert!(seen("ImportKeyMaterial", "IncorrectKeyMaterialException"));
    assert!(seen("ImportKeyMaterial", "InvalidImportTokenException"));
    assert!(seen("ImportKeyMaterial", "ExpiredImportTokenException"));
    assert!(seen("DeleteImportedKeyMaterial", "Success"));
    assert!(seen("DeleteExpiredKeyMaterial", "Success"));
    assert!(audit::verify(&kc.core.audit_path()).unwrap().is_ok());
}
