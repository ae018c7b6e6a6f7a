//! Shared set-up of the key core's tests: a fresh data directory with a manual clock.

use std::path::Path;
use std::sync::Arc;

use lakeseal_envelope::EncryptionContext;
use lakeseal_keycore::clock::ManualClock;
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::decrypt::{DecryptRequest, DecryptResponse};
use lakeseal_keycore::ops::encrypt::EncryptRequest;
use lakeseal_keycore::ops::key_deletion::ScheduleKeyDeletionRequest;
use lakeseal_keycore::{Durability, InitOptions, KeyCore, Options, Principal, RequestContext};
use tempfile::TempDir;

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "eu-west-1";

pub struct Fixture {
    pub dir: TempDir,
    pub core: KeyCore,
    pub admin: Principal,
    pub clock: Arc<ManualClock>,
}

pub fn ctx() -> RequestContext {
    RequestContext::local("lakeseal-tests")
}

pub fn init(dir: &Path) {
    KeyCore::init(
        dir,
        &InitOptions {
            region: REGION.into(),
            account_id: Some(ACCOUNT.into()),
            partition: "aws".into(),
        },
    )
    .unwrap();
}

pub fn open(dir: &Path, clock: Arc<ManualClock>) -> KeyCore {
    KeyCore::open(
        dir,
        Options {
            clock,
            audit: Durability::Durable,
            ..Options::default()
        },
    )
    .unwrap()
}

pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let clock = Arc::new(ManualClock::starting_now());
    let core = open(dir.path(), clock.clone());
    Fixture {
        dir,
        core,
        admin: Principal::account_root(ACCOUNT),
        clock,
    }
}

pub fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs.iter().copied().collect()
}

impl Fixture {
    pub async fn new_key(&self) -> String {
        self.core
            .create_key(&self.admin, &ctx(), CreateKeyRequest::default())
            .await
            .unwrap()
            .key_metadata
            .key_id
    }

    /// A `SIGN_VERIFY` key of `spec`.
    pub async fn new_signing_key(&self, spec: &str) -> String {
        let req = CreateKeyRequest {
            key_spec: Some(spec.into()),
            key_usage: Some("SIGN_VERIFY".into()),
            ..Default::default()
        };
        self.core
            .create_key(&self.admin, &ctx(), req)
            .await
            .unwrap()
            .key_metadata
            .key_id
    }

    /// `key`'s signature of `message` (RAW) under `algorithm`.
    pub async fn sign(&self, key: &str, algorithm: &str, message: &[u8]) -> Vec<u8> {
        let req = lakeseal_keycore::ops::sign::SignRequest {
            key_id: key.into(),
            message: message.to_vec(),
            message_type: None,
            signing_algorithm: algorithm.into(),
        };
        self.core
            .sign(&self.admin, &ctx(), req)
            .await
            .unwrap()
            .signature
    }

    pub async fn encrypt(
        &self,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Vec<u8> {
        self.core
            .encrypt(
                &self.admin,
                &ctx(),
                EncryptRequest {
                    encryption_algorithm: None,
                    key_id: key.into(),
                    plaintext: plaintext.to_vec().into(),
                    encryption_context: context.clone(),
                },
            )
            .await
            .unwrap()
            .ciphertext_blob
    }

    pub async fn decrypt(
        &self,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> lakeseal_keycore::Result<DecryptResponse> {
        self.core
            .decrypt(
                &self.admin,
                &ctx(),
                DecryptRequest {
                    encryption_algorithm: None,
                    ciphertext_blob: blob.to_vec(),
                    encryption_context: context.clone(),
                    key_id: None,
                },
            )
            .await
    }

    pub async fn disable(&self, key: &str) {
        self.core
            .disable_key(&self.admin, &ctx(), KeyIdRequest::new(key))
            .await
            .unwrap();
    }

    pub async fn schedule_deletion(&self, key: &str, days: u32) {
        self.core
            .schedule_key_deletion(
                &self.admin,
                &ctx(),
                ScheduleKeyDeletionRequest {
                    key_id: key.into(),
                    pending_window_in_days: Some(days),
                },
            )
            .await
            .unwrap();
    }
}
