//! In-process `GenerateDataKey` throughput with 64 concurrent callers on one runtime thread,
//! with the audit record durable (fdatasync, group commit) before each reply versus written
//! without a sync. Both sides do all the same work but the sync.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lakeseal_envelope::EncryptionContext;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::{Durability, InitOptions, KeyCore, Options, Principal, RequestContext};

const CALLERS: u64 = 64;

fn generate_data_key(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("generate_data_key");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(8));
    for (name, durability) in [
        ("audit-unsynced", Durability::Unsynced),
        ("audit-durable", Durability::Durable),
    ] {
        // The benchmark's data directory lives beside the build, on the same disk as a real one.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let location = KeyCore::init(
            dir.path(),
            &InitOptions {
                region: "eu-west-1".into(),
                account_id: None,
                partition: "aws".into(),
            },
        )
        .unwrap();
        let core = KeyCore::open(
            dir.path(),
            Options {
                audit: durability,
                ..Default::default()
            },
        )
        .unwrap();
        let who = Principal::account_root(&location.account_id);
        let ctx = RequestContext::local("bench");
        let key = rt
            .block_on(core.create_key(&who, &ctx, CreateKeyRequest::default()))
            .unwrap()
            .key_metadata
            .key_id;
        let context = EncryptionContext::from_iter([("table", "telemetry"), ("topic", "iot")]);
        group.bench_function(BenchmarkId::new("64-callers", name), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    let tasks: Vec<_> = (0..CALLERS)
                        .map(|i| {
                            let n = iters / CALLERS + u64::from(i < iters % CALLERS);
                            let (core, who, ctx) = (core.clone(), who.clone(), ctx.clone());
                            let req = GenerateDataKeyRequest::aes_256(&key, context.clone());
                            tokio::spawn(async move {
                                for _ in 0..n {
                                    core.generate_data_key(&who, &ctx, req.clone())
                                        .await
                                        .unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, generate_data_key);
criterion_main!(benches);
