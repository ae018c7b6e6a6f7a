//! `Sign` with an `ECC_NIST_P256` key over loopback HTTP with SigV4 and the durable audit, 40
//! keep-alive connections, beside `GenerateDataKey` on the same server in the same run as the
//! baseline: both are one authorised, audited call with one cryptographic operation under a CMK.
//!
//! `cargo bench -p lakeseal-benches --bench signing_http` (env `SECONDS`, `CONNECTIONS`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/load.rs"]
mod load;

use std::sync::Arc;

use bytes::Bytes;
use lakeseal_keycore::RequestContext;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;

use crate::load::{Bench, drive, env_or, row};

fn main() {
    let seconds = env_or("SECONDS", 10);
    let connections = env_or("CONNECTIONS", 40);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let bench = Bench::open().await;
        let (core, root, key) = (&bench.core, &bench.root, &bench.key_arn);
        let ctx = RequestContext::local("bench");
        let signing_key = core
            .create_key(
                root,
                &ctx,
                CreateKeyRequest {
                    key_spec: Some("ECC_NIST_P256".into()),
                    key_usage: Some("SIGN_VERIFY".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .key_metadata
            .arn;

        let endpoint = bench.serve().await;
        let signer = Arc::new(bench.admin_signer(&endpoint));
        let call = |target: &'static str, body: serde_json::Value| {
            let signer = signer.clone();
            let body = Bytes::from(serde_json::to_vec(&body).unwrap());
            move || {
                let (signer, body) = (signer.clone(), body.clone());
                async move {
                    signer.call("kms", target, &body).await;
                }
            }
        };
        let generate = call(
            "TrentService.GenerateDataKey",
            serde_json::json!({
                "KeyId": key,
                "KeySpec": "AES_256",
                "EncryptionContext": {"table": "telemetry"},
            }),
        );
        // A SHA-256 digest, as a release step signs an image.
        let sign = call(
            "TrentService.Sign",
            serde_json::json!({
                "KeyId": signing_key,
                "Message": "6q0Zq6W3z1m8m4m6e5a0pJwqjH2sZbq7d6vC1u9uY4Q=",
                "MessageType": "DIGEST",
                "SigningAlgorithm": "ECDSA_SHA_256",
            }),
        );
        let mut baseline = drive(connections, seconds, generate).await;
        let mut signed = drive(connections, seconds, sign).await;

        println!("{connections} keep-alive connections, SigV4, durable audit, {seconds} s each");
        println!("| operation | ops/s | p50 | p99 |");
        println!("|---|---|---|---|");
        for (name, run) in [
            ("GenerateDataKey (baseline)", &mut baseline),
            ("Sign, ECC_NIST_P256, DIGEST", &mut signed),
        ] {
            row(name, run);
        }
        println!(
            "ratio Sign / GenerateDataKey: {:.3}",
            signed.rate() / baseline.rate()
        );
    });
}
