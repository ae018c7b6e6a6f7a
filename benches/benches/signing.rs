//! In-process `Sign` per key spec beside the raw crypto crate's own sign, in the same run: what
//! the key core's bookkeeping (authorisation, key lookup, durable audit record) costs on top of
//! the signature itself. The key core runs on one runtime thread (one core) with 64 concurrent
//! callers, so the audit trail's group commit amortises its fsync as it would under load; the
//! raw side signs the same message in a loop on one thread with `aws-lc-rs`, the crate the key
//! core signs with.
//!
//! `cargo bench -p lakeseal-benches --bench signing`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::sign::SignRequest;
use lakeseal_keycore::{Durability, Options};

#[path = "support/in_process.rs"]
mod in_process;

use in_process::{Caller, callers};

/// A firmware manifest's size: hashed by the signer on both sides.
const MESSAGE: &[u8] = &[0x5a; 256];

/// Signs `MESSAGE` with the raw crate, as the key core would for `spec`.
enum Raw {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
}

impl Raw {
    fn new(spec: &str) -> Self {
        match spec {
            "RSA_2048" => Raw::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()),
            "RSA_3072" => Raw::Rsa(RsaKeyPair::generate(KeySize::Rsa3072).unwrap()),
            "RSA_4096" => Raw::Rsa(RsaKeyPair::generate(KeySize::Rsa4096).unwrap()),
            "ECC_NIST_P256" => Raw::Ecdsa(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap(),
            ),
            "ECC_NIST_P384" => Raw::Ecdsa(
                EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_ASN1_SIGNING).unwrap(),
            ),
            other => panic!("{other}"),
        }
    }

    fn sign(&self, rng: &SystemRandom) -> usize {
        match self {
            Raw::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PSS_SHA256, rng, MESSAGE, &mut sig)
                    .unwrap();
                sig.len()
            }
            Raw::Ecdsa(pair) => pair.sign(rng, MESSAGE).unwrap().as_ref().len(),
        }
    }
}

fn sign(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let caller = Caller::new(Options {
        audit: Durability::Durable,
        ..Default::default()
    });
    let rng = SystemRandom::new();

    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(8));
    for (spec, algorithm) in [
        ("ECC_NIST_P256", "ECDSA_SHA_256"),
        ("ECC_NIST_P384", "ECDSA_SHA_384"),
        ("RSA_2048", "RSASSA_PSS_SHA_256"),
        ("RSA_3072", "RSASSA_PSS_SHA_256"),
        ("RSA_4096", "RSASSA_PSS_SHA_256"),
    ] {
        let raw = Raw::new(spec);
        group.bench_function(BenchmarkId::new("aws-lc-rs", spec), |b| {
            b.iter(|| raw.sign(&rng))
        });

        let req = CreateKeyRequest {
            key_spec: Some(spec.into()),
            key_usage: Some("SIGN_VERIFY".into()),
            ..Default::default()
        };
        let key = rt
            .block_on(caller.core.create_key(&caller.who, &caller.ctx, req))
            .unwrap()
            .key_metadata
            .key_id;
        let req = SignRequest {
            key_id: key,
            message: MESSAGE.to_vec(),
            message_type: None,
            signing_algorithm: algorithm.into(),
        };
        group.bench_function(BenchmarkId::new("keycore-durable-audit", spec), |b| {
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

criterion_group!(benches, sign);
criterion_main!(benches);
