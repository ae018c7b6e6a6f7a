//! Shared set-up of the key core's tests: a fresh data directory with a manual clock.

use std::path::Path;
use std::sync::Arc;

use lakeseal_envelope::EncryptionContext;
use lakeseal_keycore::clock::ManualClock;
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::decrypt::{DecryptRequest, DecryptResponse};
use lakeseal_keycore::ops::encrypt::EncryptRequest;
use lakeseal_keycore::ops::import::{GetParametersForImportRequest, ImportKeyMaterialRequest};
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

/// `GetParametersForImport` for `key` with an RSA-2048 wrapping key.
pub fn import_parameters(key: &str, algorithm: &str) -> GetParametersForImportRequest {
    GetParametersForImportRequest {
        key_id: key.into(),
        wrapping_algorithm: algorithm.into(),
        wrapping_key_spec: "RSA_2048".into(),
    }
}

/// A fresh P-256 private key, PKCS#8 DER: material to import into an `ECC_NIST_P256` key.
pub fn p256_pkcs8() -> Vec<u8> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap()
    .as_ref()
    .to_vec()
}

/// Wraps `material` under the wrapping key `public_der` as AWS KMS clients do: RSA-OAEP of the
/// material, or of a fresh AES-256 key followed by the material under AES-KWP.
pub fn wrap(public_der: &[u8], algorithm: &str, material: &[u8]) -> Vec<u8> {
    use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrapPadded};
    use aws_lc_rs::rsa::{
        OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey,
    };
    let public =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).unwrap()).unwrap();
    let oaep = if algorithm.ends_with("SHA_1") {
        &OAEP_SHA1_MGF1SHA1
    } else {
        &OAEP_SHA256_MGF1SHA256
    };
    let rsa = |plaintext: &[u8]| {
        let mut out = vec![0; public.ciphertext_size()];
        let n = public
            .encrypt(oaep, plaintext, &mut out, None)
            .unwrap()
            .len();
        out.truncate(n);
        out
    };
    if !algorithm.starts_with("RSA_AES_KEY_WRAP") {
        return rsa(material);
    }
    let aes = lakeseal_envelope::random_bytes(32).unwrap();
    let mut out = rsa(aes.expose_secret());
    let mut wrapped = vec![0; material.len() + 16];
    let n = AesKek::new(&AES_256, aes.expose_secret())
        .unwrap()
        .wrap_with_padding(material, &mut wrapped)
        .unwrap()
        .len();
    out.extend_from_slice(&wrapped[..n]);
    out
}

impl Fixture {
    /// A key of origin `EXTERNAL` (symmetric, or of the spec and usage given), pending import.
    pub async fn new_external_key(&self, spec_usage: Option<(&str, &str)>) -> String {
        let req = CreateKeyRequest {
            origin: Some("EXTERNAL".into()),
            key_spec: spec_usage.map(|(s, _)| s.into()),
            key_usage: spec_usage.map(|(_, u)| u.into()),
            ..Default::default()
        };
        self.core
            .create_key(&self.admin, &ctx(), req)
            .await
            .unwrap()
            .key_metadata
            .key_id
    }

    /// Imports `material` into `key` (no expiry), wrapped with `algorithm`.
    pub async fn import(
        &self,
        key: &str,
        material: &[u8],
        algorithm: &str,
    ) -> lakeseal_keycore::Result<()> {
        let params = self
            .core
            .get_parameters_for_import(&self.admin, &ctx(), import_parameters(key, algorithm))
            .await?;
        let req = ImportKeyMaterialRequest {
            key_id: key.into(),
            import_token: params.import_token,
            encrypted_key_material: wrap(&params.public_key, algorithm, material),
            expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()),
            valid_to: None,
        };
        self.core
            .import_key_material(&self.admin, &ctx(), req)
            .await
            .map(drop)
    }
}
