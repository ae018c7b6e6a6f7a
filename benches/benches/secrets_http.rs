//! `GetSecretValue` over loopback HTTP with SigV4 and the durable audit, 40 keep-alive
//! connections, beside `GenerateDataKey` on the same server in the same run as the baseline:
//! both are one authorised, audited call that opens (or makes) a data key under a CMK.
//!
//! `cargo bench -p lakeseal-benches --bench secrets_http` (env `SECONDS`, `CONNECTIONS`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/load.rs"]
mod load;

use std::sync::Arc;

use bytes::Bytes;
use lakeseal_envelope::SecretBytes;
use lakeseal_keycore::RequestContext;
use lakeseal_kms_types::secrets::write::CreateSecretRequest;

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
        // A database login as AWS's rotation templates keep it: about 200 bytes of JSON.
        let value = br#"{"engine":"postgres","host":"db.internal","port":5432,"username":"dashboard","password":"Vq3xT9bLw2KzR7pN4mYc8HdJ6sGf1aEu","dbname":"warehouse"}"#;
        core.create_secret(
            root,
            &ctx,
            CreateSecretRequest {
                name: "dashboard/warehouse".into(),
                secret_string: Some(SecretBytes::new(value.to_vec())),
                ..Default::default()
            },
        )
        .await
        .unwrap();

        let endpoint = bench.serve().await;
        let signer = Arc::new(bench.admin_signer(&endpoint));

        let call = |service: &'static str, target: &'static str, body: serde_json::Value| {
            let signer = signer.clone();
            let body = Bytes::from(serde_json::to_vec(&body).unwrap());
            move || {
                let (signer, body) = (signer.clone(), body.clone());
                async move {
                    signer.call(service, target, &body).await;
                }
            }
        };
        let generate = call(
            "kms",
            "TrentService.GenerateDataKey",
            serde_json::json!({
                "KeyId": key,
                "KeySpec": "AES_256",
                "EncryptionContext": {"table": "telemetry"},
            }),
        );
        let get = call(
            "secretsmanager",
            "secretsmanager.GetSecretValue",
            serde_json::json!({"SecretId": "dashboard/warehouse"}),
        );
        let mut baseline = drive(connections, seconds, generate).await;
        let mut secrets = drive(connections, seconds, get).await;

        println!("{connections} keep-alive connections, SigV4, durable audit, {seconds} s each");
        println!("| operation | ops/s | p50 | p99 |");
        println!("|---|---|---|---|");
        for (name, run) in [
            ("GenerateDataKey (baseline)", &mut baseline),
            ("GetSecretValue", &mut secrets),
        ] {
            row(name, run);
        }
        println!(
            "ratio GetSecretValue / GenerateDataKey: {:.3}",
            secrets.rate() / baseline.rate()
        );
    });
}
