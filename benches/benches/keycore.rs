//! In-process `GenerateDataKey` throughput with 64 concurrent callers on one runtime thread,
//! with the audit record durable (fdatasync, group commit) before each reply versus written
//! without a sync. Both sides do all the same work but the sync.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lakeseal_envelope::EncryptionContext;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::{Durability, Options};

#[path = "support/in_process.rs"]
mod in_process;

use in_process::{Caller, callers};

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
        let caller = Caller::new(Options {
            audit: durability,
            ..Default::default()
        });
        let key = rt
            .block_on(
                caller
                    .core
                    .create_key(&caller.who, &caller.ctx, CreateKeyRequest::default()),
            )
            .unwrap()
            .key_metadata
            .key_id;
        let context = EncryptionContext::from_iter([("table", "telemetry"), ("topic", "iot")]);
        let req = GenerateDataKeyRequest::aes_256(&key, context);
        group.bench_function(BenchmarkId::new("64-callers", name), |b| {
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
    group.finish();
}

criterion_group!(benches, generate_data_key);
criterion_main!(benches);
