//! HSM-backed keys (SoftHSM2 over PKCS#11) beside software keys and beside the token itself, in
//! the same run:
//!
//! * `aes_gcm_32B/cryptoki`: raw `C_Encrypt` (`CKM_AES_GCM`) of a 32-byte data key under a
//!   persistent token key, one session in a loop — the ceiling of an HSM-backed
//!   `GenerateDataKey`;
//! * `generate_data_key/{software,hsm}`: the key core in-process, 64 callers on one runtime
//!   thread, durable audit (as `keycore.rs`);
//! * `sign_p256/{software,hsm,cryptoki}`: `Sign` with ECDSA P-256 in-process, software key vs
//!   HSM key, and the token's raw `CKM_ECDSA` of a SHA-256 digest.
//!
//! PKCS#11 reads `SOFTHSM2_CONF` once per process, so the bench makes a SoftHSM2 directory with
//! one token and runs itself again with the variable set.
//!
//! `cargo bench -p lakeseal-benches --bench hsm`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use lakeseal_keycore::hsm::KeyStoreConfig;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::ops::sign::SignRequest;
use lakeseal_keycore::{Durability, Options};

#[path = "support/in_process.rs"]
mod in_process;

use in_process::{Caller, callers};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "bench";
const PIN: &str = "246810";
const MESSAGE: &[u8] = &[0x5a; 256];

/// Makes a SoftHSM2 directory with the bench's token; returns its configuration file.
fn softhsm(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    let pin = dir.join("pin");
    std::fs::write(&pin, PIN).unwrap();
    std::fs::set_permissions(&pin, std::fs::Permissions::from_mode(0o600)).unwrap();
    let made = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN])
        .args(["--so-pin", "13579135", "--pin", PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util (Debian's softhsm2; scripts/test.sh installs it)");
    assert!(made.status.success(), "{made:?}");
    conf
}

/// The raw side: this process's own session on the token, logged in.
fn raw_session(pkcs11: &Pkcs11) -> Session {
    let slot = pkcs11
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| pkcs11.get_token_info(*s).unwrap().label().trim_end() == TOKEN)
        .unwrap();
    let session = pkcs11.open_rw_session(slot).unwrap();
    // The key core's store logged the process in already, or this does.
    let _ = session.login(UserType::User, Some(&AuthPin::from(PIN)));
    session
}

fn bench(c: &mut Criterion, hsm_dir: &Path) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = KeyStoreConfig {
        id: "cks-bench".into(),
        name: "bench".into(),
        module: MODULE.into(),
        token_label: TOKEN.into(),
        pin_file: Some(hsm_dir.join("pin")),
        pin: None,
        sessions: 4,
    };
    let caller = Caller::new(Options {
        audit: Durability::Durable,
        key_stores: vec![store],
        ..Default::default()
    });
    let create = |origin: Option<&str>, spec: Option<&str>| {
        let req = CreateKeyRequest {
            origin: origin.map(Into::into),
            key_spec: spec.map(Into::into),
            key_usage: spec.map(|_| "SIGN_VERIFY".into()),
            ..Default::default()
        };
        rt.block_on(caller.core.create_key(&caller.who, &caller.ctx, req))
            .unwrap()
            .key_metadata
            .key_id
    };

    // The same module the key core loaded (one per process): the raw side's session.
    let pkcs11 = Pkcs11::new(MODULE).unwrap();
    let _ = pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let session = raw_session(&pkcs11);
    let aes = session
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(32u64.into()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Label(b"bench-raw-aes".to_vec()),
            ],
        )
        .unwrap();
    let (_, ec_private) = session
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Verify(true),
                Attribute::EcParams(vec![
                    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
                ]),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
            ],
        )
        .unwrap();

    let mut group = c.benchmark_group("hsm");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(8));

    let data_key = [7u8; 32];
    let aad = [1u8; 64];
    let mut counter = 0u64;
    group.bench_function(BenchmarkId::new("aes_gcm_32B", "cryptoki"), |b| {
        b.iter(|| {
            counter += 1;
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&counter.to_be_bytes());
            let params = GcmParams::new(&mut nonce, &aad, 128u64.into()).unwrap();
            session
                .encrypt(&Mechanism::AesGcm(params), aes, &data_key)
                .unwrap()
                .len()
        })
    });

    for (id, origin) in [("software", None), ("hsm", Some("AWS_CLOUDHSM"))] {
        let key = create(origin, None);
        let req = GenerateDataKeyRequest {
            key_id: key,
            key_spec: Some("AES_256".into()),
            ..Default::default()
        };
        group.bench_function(BenchmarkId::new("generate_data_key", id), |b| {
            b.iter_custom(|iters| {
                let req = req.clone();
                callers(&rt, iters, &caller, move |c: Arc<Caller>| {
                    let req = req.clone();
                    async move {
                        c.core.generate_data_key(&c.who, &c.ctx, req).await.unwrap();
                    }
                })
            })
        });
    }

    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, MESSAGE);
    group.bench_function(BenchmarkId::new("sign_p256", "cryptoki"), |b| {
        b.iter(|| {
            session
                .sign(&Mechanism::Ecdsa, ec_private, digest.as_ref())
                .unwrap()
                .len()
        })
    });
    for (id, origin) in [("software", None), ("hsm", Some("AWS_CLOUDHSM"))] {
        let key = create(origin, Some("ECC_NIST_P256"));
        let req = SignRequest {
            key_id: key,
            message: MESSAGE.to_vec(),
            message_type: None,
            signing_algorithm: "ECDSA_SHA_256".into(),
        };
        group.bench_function(BenchmarkId::new("sign_p256", id), |b| {
            b.iter_custom(|iters| {
                let req = req.clone();
                callers(&rt, iters, &caller, move |c: Arc<Caller>| {
                    let req = req.clone();
                    async move {
                        c.core.sign(&c.who, &c.ctx, req).await.unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

fn main() {
    // The bench proper runs in a process whose SOFTHSM2_CONF names a directory made for it.
    if let Some(conf) = std::env::var_os("LAKESEAL_BENCH_SOFTHSM2_CONF") {
        let dir = PathBuf::from(conf);
        let mut criterion = Criterion::default().configure_from_args();
        bench(&mut criterion, dir.parent().unwrap());
        criterion.final_summary();
        return;
    }
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let conf = softhsm(tmp.path());
    let status = Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env("SOFTHSM2_CONF", &conf)
        .env("LAKESEAL_BENCH_SOFTHSM2_CONF", &conf)
        .status()
        .unwrap();
    std::process::exit(status.code().unwrap_or(1));
}
