//! Arbitrary bytes where the key core takes them from a caller for asymmetric keys and key
//! import: an import token and wrapped key material (`ImportKeyMaterial`), a signature and a
//! digest (`Verify`), an RSA ciphertext (`Decrypt` with OAEP). Each returns a typed error (or,
//! for a lucky signature, an answer), never a panic. One key core for the whole run, audit
//! unsynced: this fuzzes the parsers, not the disk.
#![no_main]

use std::sync::OnceLock;

use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::import::ImportKeyMaterialRequest;
use lakeseal_keycore::ops::sign::VerifyRequest;
use lakeseal_keycore::{Durability, InitOptions, KeyCore, Options, Principal, RequestContext};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    rt: tokio::runtime::Runtime,
    core: KeyCore,
    who: Principal,
    external: String,
    signing: String,
    decrypting: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let location = KeyCore::init(
            dir.path(),
            &InitOptions {
                region: "eu-west-1".into(),
                account_id: None,
                partition: "aws".into(),
            },
        )
        .unwrap();
        let options = Options {
            audit: Durability::Unsynced,
            ..Default::default()
        };
        let core = KeyCore::open(dir.path(), options).unwrap();
        let who = Principal::account_root(&location.account_id);
        let ctx = RequestContext::local("fuzz");
        let create = |spec: Option<&str>, usage: Option<&str>, origin: Option<&str>| {
            let req = CreateKeyRequest {
                key_spec: spec.map(Into::into),
                key_usage: usage.map(Into::into),
                origin: origin.map(Into::into),
                ..Default::default()
            };
            rt.block_on(core.create_key(&who, &ctx, req))
                .unwrap()
                .key_metadata
                .key_id
        };
        let external = create(None, None, Some("EXTERNAL"));
        let signing = create(Some("ECC_NIST_P256"), Some("SIGN_VERIFY"), None);
        let decrypting = create(Some("RSA_2048"), Some("ENCRYPT_DECRYPT"), None);
        Fixture {
            rt,
            core,
            who,
            external,
            signing,
            decrypting,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let ctx = RequestContext::local("fuzz");
    // The first byte says where the rest splits into two inputs.
    let cut = data.first().map_or(0, |b| usize::from(*b));
    let rest = data.get(1..).unwrap_or_default();
    let (head, tail) = rest.split_at(cut.min(rest.len()));
    f.rt.block_on(async {
        let _ = f
            .core
            .import_key_material(
                &f.who,
                &ctx,
                ImportKeyMaterialRequest {
                    key_id: f.external.clone(),
                    import_token: head.to_vec(),
                    encrypted_key_material: tail.to_vec(),
                    expiration_model: Some("KEY_MATERIAL_DOES_NOT_EXPIRE".into()),
                    valid_to: None,
                },
            )
            .await;
        let _ = f
            .core
            .verify(
                &f.who,
                &ctx,
                VerifyRequest {
                    key_id: f.signing.clone(),
                    message: head.to_vec(),
                    message_type: Some(if head.len() % 2 == 0 { "RAW" } else { "DIGEST" }.into()),
                    signature: tail.to_vec(),
                    signing_algorithm: "ECDSA_SHA_256".into(),
                },
            )
            .await;
        let _ = f
            .core
            .decrypt(
                &f.who,
                &ctx,
                DecryptRequest {
                    ciphertext_blob: data.to_vec(),
                    key_id: Some(f.decrypting.clone()),
                    encryption_algorithm: Some("RSAES_OAEP_SHA_256".into()),
                    ..Default::default()
                },
            )
            .await;
    });
});
