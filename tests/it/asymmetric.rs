//! Asymmetric keys over the wire: boto3 drives every key spec and algorithm, and Python's
//! `cryptography` — holding only the public key — checks what the key core signs and encrypts.

use lakeseal_keycore::audit::{self, Query};

use crate::support::RunningKeyCore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_and_cryptography_agree_with_every_asymmetric_key_spec() {
    let kc = RunningKeyCore::start().await;
    let out = kc.python("asymmetric_boto3.py", &[]).await;
    assert!(out.contains("ALL PASSED"), "{out}");
    let records = audit::query(&kc.core.audit_path(), &Query::default()).unwrap();
    let seen = |operation: &str, result: &str| {
        records
            .iter()
            .any(|r| r.event.operation == operation && r.event.result == result)
    };
    assert!(seen("Sign", "Success"));
    assert!(seen("Verify", "Success"));
    assert!(seen("Verify", "KMSInvalidSignatureException"));
    assert!(seen("GetPublicKey", "Success"));
    assert!(seen("Sign", "InvalidKeyUsageException"));
    assert!(seen("EnableKeyRotation", "UnsupportedOperationException"));
    assert!(audit::verify(&kc.core.audit_path()).unwrap().is_ok());
}
