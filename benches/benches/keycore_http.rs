//! `GenerateDataKey` over loopback HTTP: a Rust client with keep-alive connections signs every
//! request with SigV4 (`aws-sigv4`, the AWS SDK's signer); the server checks the signature,
//! authorises, and makes the audit record durable before it answers. The in-process rate with the
//! same number of concurrent callers runs in the same process right before, as the baseline.
//!
//! A third run repeats the HTTP one while a hostile client floods the server from one keep-alive
//! connection with unsigned requests carrying 30 KB headers: the signed rate under the flood is
//! reported against the rate without it, and so is what the flood added to the audit trail.
//!
//! Last, the key client (`Remote`, as the stage uses it) against the same key core served twice,
//! over plain HTTP and over TLS (rustls, TLS 1.3, keep-alive): HTTPS ops/s as a ratio to HTTP.
//!
//! `cargo bench -p lakeseal-benches --bench keycore_http` (env `SECONDS`, `CONNECTIONS`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "support/load.rs"]
mod load;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use lakeseal_envelope::{EncryptionContext, SecretBytes};
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::{Principal, RequestContext};

use lakeseal_keyclient::{KeyService, Remote, RemoteCredentials, TrustRoots};

use crate::load::{Bench, REGION, drive, env_or, row};

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
        let (core, admin, key) = (&bench.core, &bench.admin, bench.key_arn.clone());
        let account_id = bench.root.account_id.clone();
        let context = EncryptionContext::from_iter([("table", "telemetry"), ("topic", "iot")]);

        // Baseline: the same calls in-process, same concurrency, same durable audit.
        let in_process = {
            let (core, key, context) = (core.clone(), key.clone(), context.clone());
            let admin_principal = Principal {
                account_id,
                arn: admin.owner_arn.clone(),
                access_key_id: Some(admin.access_key_id.clone()),
            };
            drive(connections, seconds, move || {
                let (core, who, key, context) = (
                    core.clone(),
                    admin_principal.clone(),
                    key.clone(),
                    context.clone(),
                );
                async move {
                    let req = GenerateDataKeyRequest::aes_256(key, context);
                    core.generate_data_key(&who, &RequestContext::local("bench"), req)
                        .await
                        .unwrap();
                }
            })
            .await
        };

        let endpoint = bench.serve().await;
        let body = serde_json::to_vec(&serde_json::json!({
            "KeyId": key,
            "KeySpec": "AES_256",
            "EncryptionContext": {"table": "telemetry", "topic": "iot"},
        }))
        .unwrap();
        let flood_target = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let shared = Arc::new((bench.admin_signer(&endpoint), Bytes::from(body)));
        let signed = move || {
            let shared = shared.clone();
            async move {
                let (signer, body) = &*shared;
                signer
                    .call("kms", "TrentService.GenerateDataKey", body)
                    .await;
            }
        };
        let mut http = drive(connections, seconds, signed.clone()).await;

        // The same load while the flood runs, from its start to its end.
        let audit_path = core.audit_path();
        let audit_before = std::fs::metadata(&audit_path).unwrap().len();
        let stop = Arc::new(AtomicBool::new(false));
        let flood = {
            let stop = stop.clone();
            tokio::task::spawn_blocking(move || flood(&flood_target, &stop))
        };
        let mut flooded = drive(connections, seconds, signed).await;
        stop.store(true, Ordering::Relaxed);
        let sent = flood.await.unwrap();
        // Wait for the summary of what the flood left unaudited (written every 10 s).
        tokio::time::sleep(Duration::from_secs(11)).await;
        let (flood_records, flood_bytes) = flood_audit(&audit_path, audit_before);

        // The key client over HTTP, then over HTTPS, the same calls on keep-alive connections.
        let (tls_endpoint, ca) = bench.serve_tls().await;
        let key_client = |endpoint: &str, roots: TrustRoots| {
            let credentials = RemoteCredentials {
                access_key_id: admin.access_key_id.clone(),
                secret_access_key: SecretBytes::new(
                    admin.secret_access_key.expose_secret().to_vec(),
                ),
                session_token: None,
            };
            let remote =
                Arc::new(Remote::with_roots(endpoint, REGION, credentials, &roots).unwrap());
            let (key, context) = (key.clone(), context.clone());
            move || {
                let (remote, key, context) = (remote.clone(), key.clone(), context.clone());
                async move {
                    remote.generate_data_key(&key, &context).await.unwrap();
                }
            }
        };
        let mut client_http = drive(
            connections,
            seconds,
            key_client(&endpoint, TrustRoots::System),
        )
        .await;
        let mut client_https = drive(
            connections,
            seconds,
            key_client(&tls_endpoint, TrustRoots::CaFile(ca)),
        )
        .await;

        let mut in_process = in_process;
        println!(
            "GenerateDataKey, {connections} concurrent callers, durable audit, {seconds} s each"
        );
        println!("| path | ops/s | p50 | p99 |");
        println!("|---|---|---|---|");
        for (name, run) in [
            ("in-process", &mut in_process),
            ("HTTP + SigV4 (keep-alive)", &mut http),
            ("HTTP + SigV4, under the flood", &mut flooded),
            ("key client, HTTP", &mut client_http),
            ("key client, HTTPS (TLS 1.3)", &mut client_https),
        ] {
            row(name, run);
        }
        println!(
            "ratio HTTP / in-process: {:.3}",
            http.rate() / in_process.rate()
        );
        println!(
            "flood: {sent} unsigned requests with 30 KB headers from one connection; \
             {flood_records} audit records, {flood_bytes} bytes ({:.1} KiB) of audit trail",
            flood_bytes as f64 / 1024.0
        );
        println!(
            "ratio signed under the flood / signed alone: {:.3}",
            flooded.rate() / http.rate()
        );
        println!(
            "ratio key client HTTPS / HTTP: {:.3}",
            client_https.rate() / client_http.rate()
        );
    });
}

/// Unsigned requests with a 30 KB `User-Agent`, one after another on one keep-alive connection,
/// until `stop`; returns how many were answered.
fn flood(address: &str, stop: &AtomicBool) -> u64 {
    use std::io::{BufRead, Read, Write};
    let agent = "A".repeat(30 * 1024);
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nUser-Agent: {agent}\r\n\
         X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2\r\n\r\n{{}}"
    );
    let mut conn = std::net::TcpStream::connect(address).unwrap();
    conn.set_nodelay(true).unwrap();
    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        conn.write_all(request.as_bytes()).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        sent += 1;
    }
    sent
}

/// The audit records the flood left after `offset`, and their bytes: its refusals audited one by
/// one and the summaries of the rest.
fn flood_audit(path: &std::path::Path, offset: u64) -> (u64, u64) {
    use std::io::{BufRead, Seek};
    let mut file = std::fs::File::open(path).unwrap();
    file.seek(std::io::SeekFrom::Start(offset)).unwrap();
    let (mut records, mut bytes) = (0, 0);
    for line in std::io::BufReader::new(file).lines() {
        let line = line.unwrap();
        if line.contains("MissingAuthenticationTokenException")
            || line.contains(lakeseal_keycore_server::SUMMARY_OPERATION)
        {
            records += 1;
            bytes += line.len() as u64 + 1;
        }
    }
    (records, bytes)
}
