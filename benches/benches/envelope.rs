//! Seal/open throughput of our envelope against the raw `aes-gcm-siv` crate, side by side.
//!
//! Both sides encrypt the same plaintext with the same key and the same amount of AAD; ours also
//! draws a random nonce, writes the blob header and binds the encryption context.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use lakeseal_envelope::{DataKey, EncryptionContext, SealingKey};
use std::hint::black_box;

const SIZES: &[(usize, &str)] = &[(1 << 10, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

fn setup() -> (Aes256GcmSiv, SealingKey, EncryptionContext, Vec<u8>) {
    let key = DataKey::from_bytes([7; 32]);
    let raw = Aes256GcmSiv::new(key.expose_secret().into());
    let ours = SealingKey::new("1234abcd-12ab-34cd-56ef-1234567890ab", 1, &key).unwrap();
    let context = EncryptionContext::from_iter([("table", "telemetry"), ("topic", "iot")]);
    // The same number of AAD bytes our blob authenticates: header plus canonical context.
    let aad_len = 4 + 1 + 1 + 36 + 4 + context.canonical_bytes().len();
    (raw, ours, context, vec![0xAA; aad_len])
}

fn seal(c: &mut Criterion) {
    let (raw, ours, context, aad) = setup();
    let mut group = c.benchmark_group("seal");
    for &(size, name) in SIZES {
        let plaintext = vec![0x5A; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("raw-aes-gcm-siv", name),
            &plaintext,
            |b, pt| {
                let nonce = Nonce::from_slice(&[3; 12]);
                b.iter(|| {
                    raw.encrypt(
                        nonce,
                        Payload {
                            msg: black_box(pt),
                            aad: &aad,
                        },
                    )
                    .unwrap()
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("lakeseal", name), &plaintext, |b, pt| {
            b.iter(|| ours.seal(black_box(pt), &context).unwrap())
        });
    }
    group.finish();
}

fn open(c: &mut Criterion) {
    let (raw, ours, context, aad) = setup();
    let mut group = c.benchmark_group("open");
    for &(size, name) in SIZES {
        let plaintext = vec![0x5A; size];
        let nonce = Nonce::from_slice(&[3; 12]);
        let raw_ct = raw
            .encrypt(
                nonce,
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .unwrap();
        let blob = ours.seal(&plaintext, &context).unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("raw-aes-gcm-siv", name),
            &raw_ct,
            |b, ct| {
                b.iter(|| {
                    raw.decrypt(
                        nonce,
                        Payload {
                            msg: black_box(ct),
                            aad: &aad,
                        },
                    )
                    .unwrap()
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("lakeseal", name), &blob, |b, blob| {
            b.iter(|| ours.open(black_box(blob), &context).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, seal, open);
criterion_main!(benches);
