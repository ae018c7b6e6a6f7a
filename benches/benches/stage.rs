//! The stage's hot paths, each beside its baseline in the same run:
//! * `decode`: simulated telemetry JSON into Arrow columns (ours, all or nothing per record, typed
//!   by the schema) against `arrow-json`'s decoder into the same Arrow schema, and
//!   `serde_json::from_slice::<Value>` of the same records (parse only);
//! * `window_write`: one 50,000-record window as Parquet with the lake's layout, encrypted (ours)
//!   against the same layout unencrypted;
//! * `dek_cache`: a data key from the cache on a hit against calling a (free, in-memory) key
//!   service directly — the overhead the cache adds when it hits.
//!
//! CPU time on the build machine drifts by 10–20 % from run to run; instruction counts do not.
//! With `LAKESEAL_COUNT_DECODE=1` the binary only decodes 100,000 records (50,000 twice), for
//! counting under valgrind (making the records is the same in every build; compare totals):
//!
//! ```sh
//! cargo bench -p lakeseal-benches --bench stage --no-run     # prints the binary's path
//! LAKESEAL_COUNT_DECODE=1 valgrind --tool=callgrind --branch-sim=yes target/release/deps/stage-<hash>
//! ```
//!
//! With `LAKESEAL_COUNT_WRITE=1` it writes one encrypted 100,000-row window; the inclusive count
//! of `encrypted_parquet::write` (`callgrind_annotate --inclusive=yes`) is the writer's cost.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use arrow_array::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group};
use lakeseal_envelope::{DataKey, EncryptionContext};
use lakeseal_keyclient::{DekCache, DekCacheConfig, KeyService, NewDataKey};
use lakeseal_simulator::Fleet;
use lakeseal_stage::decode::Decoder;
use lakeseal_stage::encrypted_parquet::{self, Codec, WrappedDek};
use lakeseal_stage::schema::{RawSchema, TableSchema};
use parquet::arrow::ArrowWriter;

fn schema() -> TableSchema {
    let raw: RawSchema = serde_json::from_value(serde_json::json!({
        "table": "telemetry", "event_time": "event_time",
        "columns": [
            {"name": "event_time", "type": "timestamp_ms"},
            {"name": "device_id", "type": "string"},
            {"name": "device_type", "type": "string"},
            {"name": "temperature_c", "type": "float64"},
            {"name": "humidity_pct", "type": "float64", "nullable": true},
            {"name": "battery_v", "type": "float64"},
            {"name": "lat", "type": "float64", "nullable": true},
            {"name": "lon", "type": "float64", "nullable": true},
            {"name": "firmware", "type": "string", "nullable": true}
        ]
    }))
    .unwrap();
    TableSchema::try_from(raw).unwrap()
}

fn records(n: usize) -> Vec<Vec<u8>> {
    let mut fleet = Fleet::new(10_000, 0.0, 1, 1_795_000_000_000).unwrap();
    (0..n).map(|_| fleet.next_record().payload).collect()
}

fn decode(c: &mut Criterion) {
    let records = records(10_000);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("serde_json-value", |b| {
        b.iter(|| {
            for r in &records {
                black_box(serde_json::from_slice::<serde_json::Value>(r).unwrap());
            }
        })
    });
    group.bench_function("arrow-json-decoder", |b| {
        let mut decoder = arrow_json::ReaderBuilder::new(schema().arrow())
            .with_batch_size(records.len())
            .build_decoder()
            .unwrap();
        b.iter(|| {
            for r in &records {
                assert_eq!(decoder.decode(r).unwrap(), r.len());
            }
            black_box(decoder.flush().unwrap().unwrap())
        })
    });
    group.bench_function("lakeseal-decoder", |b| {
        let mut decoder = Decoder::new(schema());
        b.iter(|| {
            for r in &records {
                decoder.push(r).unwrap();
            }
            black_box(decoder.finish().unwrap())
        })
    });
    group.finish();
}

fn window(n: usize) -> RecordBatch {
    let mut decoder = Decoder::new(schema());
    for r in records(n) {
        decoder.push(&r).unwrap();
    }
    decoder.finish().unwrap()
}

fn window_write(c: &mut Criterion) {
    let batch = window(50_000);
    let schema = schema().arrow();
    let key = DataKey::from_bytes([7; 32]);
    let context = EncryptionContext::from_iter([("table", "telemetry")]);
    let wrapped = WrappedDek::new(&[1; 200], &context);
    let mut group = c.benchmark_group("window_write");
    group.sample_size(20);
    group.throughput(Throughput::Elements(batch.num_rows() as u64));
    group.bench_function("parquet-plain", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            let properties = encrypted_parquet::layout(&schema, Codec::default()).build();
            let mut w = ArrowWriter::try_new(&mut out, schema.clone(), Some(properties)).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            black_box(out)
        })
    });
    group.bench_function("lakeseal-encrypted", |b| {
        b.iter(|| {
            black_box(
                encrypted_parquet::write(
                    std::slice::from_ref(&batch),
                    schema.clone(),
                    Codec::default(),
                    &key,
                    "arn:aws:kms:eu-west-1:111122223333:key/k",
                    &wrapped,
                )
                .unwrap(),
            )
        })
    });
    group.finish();
}

/// A key service with no I/O: what is left is the cost of the call path itself.
struct Free;

impl KeyService for Free {
    async fn generate_data_key(
        &self,
        key_id: &str,
        _: &EncryptionContext,
    ) -> lakeseal_keyclient::Result<NewDataKey> {
        Ok(NewDataKey {
            key: DataKey::from_bytes([9; 32]),
            wrapped: vec![1; 200],
            key_arn: key_id.to_owned(),
        })
    }

    async fn decrypt(
        &self,
        _: &[u8],
        _: &EncryptionContext,
    ) -> lakeseal_keyclient::Result<DataKey> {
        Ok(DataKey::from_bytes([9; 32]))
    }
}

fn dek_cache(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let context = EncryptionContext::from_iter([("table", "telemetry"), ("topic", "iot")]);
    let cache = DekCache::new(
        Free,
        DekCacheConfig {
            max_uses: u64::MAX,
            max_bytes: u64::MAX,
            ..DekCacheConfig::default()
        },
    );
    let mut group = c.benchmark_group("dek_cache");
    group.bench_function("service-direct", |b| {
        b.iter(|| {
            black_box(
                runtime
                    .block_on(Free.generate_data_key("alias/telemetry", &context))
                    .unwrap(),
            )
        })
    });
    group.bench_function("cache-hit", |b| {
        b.iter(|| {
            black_box(
                runtime
                    .block_on(cache.data_key("alias/telemetry", &context, 1, 1))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

/// The decoder alone over a fixed workload (see the module's documentation).
fn count_decode() {
    let records = records(50_000);
    let mut decoder = Decoder::new(schema());
    let mut rows = 0;
    for _ in 0..2 {
        for r in &records {
            decoder.push(r).unwrap();
        }
        rows += decoder.finish().unwrap().num_rows();
    }
    println!("decoded {rows} records");
}

/// One encrypted write of a 100,000-row window (see the module's documentation).
fn count_write() {
    let batch = window(100_000);
    let key = DataKey::from_bytes([7; 32]);
    let context = EncryptionContext::from_iter([("table", "telemetry")]);
    let wrapped = WrappedDek::new(&[1; 200], &context);
    let file = encrypted_parquet::write(
        std::slice::from_ref(&batch),
        schema().arrow(),
        Codec::default(),
        &key,
        "arn:aws:kms:eu-west-1:111122223333:key/k",
        &wrapped,
    )
    .unwrap();
    println!("wrote {} rows in {} bytes", batch.num_rows(), file.len());
}

criterion_group!(benches, decode, window_write, dek_cache);

fn main() {
    if std::env::var_os("LAKESEAL_COUNT_DECODE").is_some() {
        count_decode();
        return;
    }
    if std::env::var_os("LAKESEAL_COUNT_WRITE").is_some() {
        count_write();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
