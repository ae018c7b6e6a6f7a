//! TLS on the key core's listeners: boto3 and the key client verify the server against the
//! private CA and refuse one from another CA with a clear error; the credentials endpoint serves
//! over TLS too; `keycore serve` will not serve plain HTTP unless asked, and then only on
//! loopback; `keycore init --tls-name` makes a CA and certificate a client accepts.

use std::path::Path;
use std::process::{Command, Stdio};

use lakeseal_envelope::EncryptionContext;
use lakeseal_keyclient::{CredentialSource, KeyService, Remote, RemoteCredentials, TrustRoots};
use lakeseal_keycore::{Principal, RequestContext};

use crate::credentials_endpoint::{issues, stage_role_for_workload, workload_token};
use crate::stage::lakeseal;
use crate::support::{REGION, RunningKeyCore};

async fn key(kc: &RunningKeyCore) -> String {
    kc.core
        .create_key(
            &Principal::account_root("111122223333"),
            &RequestContext::local("tls-test"),
            Default::default(),
        )
        .await
        .unwrap()
        .key_metadata
        .arn
}

fn remote(kc: &RunningKeyCore, roots: TrustRoots) -> Remote {
    let credentials = RemoteCredentials::from_file(&kc.credentials, "default").unwrap();
    Remote::with_roots(&kc.endpoint, REGION, credentials, &roots).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_verifies_the_key_core_against_its_ca_and_refuses_another() {
    let kc = RunningKeyCore::start_tls().await;
    let ca = kc.ca_file.clone().unwrap();
    let other = ca.with_file_name("other-ca.pem");
    let out = kc
        .python(
            "tls_boto3.py",
            &[
                ("CA_FILE", ca.to_str().unwrap()),
                ("OTHER_CA_FILE", other.to_str().unwrap()),
            ],
        )
        .await;
    for check in [
        "kms over https",
        "secretsmanager over https",
        "iam and sts over https",
        "another CA refused",
        "plain http refused",
    ] {
        assert!(out.contains(&format!("PASS {check}")), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_client_trusts_its_ca_file_only() {
    let kc = RunningKeyCore::start_tls().await;
    let key = key(&kc).await;
    let ca = kc.ca_file.clone().unwrap();
    let context = EncryptionContext::from_iter([("table", "t")]);

    let trusting = remote(&kc, TrustRoots::CaFile(ca.clone()));
    let made = trusting.generate_data_key(&key, &context).await.unwrap();
    let unwrapped = trusting.decrypt(&made.wrapped, &context).await.unwrap();
    assert_eq!(unwrapped.expose_secret(), made.key.expose_secret());

    // Another CA's file, and the system's roots, which know nothing of a private CA: refused
    // at once (not retried as an outage), saying what to do.
    for roots in [
        TrustRoots::CaFile(ca.with_file_name("other-ca.pem")),
        TrustRoots::System,
    ] {
        let e = remote(&kc, roots.clone())
            .generate_data_key(&key, &context)
            .await
            .unwrap_err();
        assert!(!e.is_retryable(), "{roots:?}: {e}");
        let said = e.to_string();
        assert!(
            said.contains("does not trust") && said.contains("ca_file"),
            "{roots:?}: {said}"
        );
    }

    // A CA file that is not one is an error when the client is made.
    let e = Remote::with_roots(
        &kc.endpoint,
        REGION,
        RemoteCredentials::from_file(&kc.credentials, "default").unwrap(),
        &TrustRoots::CaFile(kc.credentials.clone()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no CERTIFICATE"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credentials_endpoint_serves_role_credentials_over_tls() {
    let kc = RunningKeyCore::start_tls().await;
    let key = key(&kc).await;
    stage_role_for_workload(&kc.core, "stage-pod").await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    workload_token(&kc.core, "stage-pod", None, &token).await;
    let uri = kc.serve_credentials().await;
    assert!(uri.starts_with("https://"), "{uri}");
    let ca = kc.ca_file.clone().unwrap();
    let context = EncryptionContext::from_iter([("table", "t")]);
    let source = || CredentialSource::Container {
        uri: uri.clone(),
        token_file: token.clone(),
    };

    let client = Remote::with_roots(
        &kc.endpoint,
        REGION,
        source(),
        &TrustRoots::CaFile(ca.clone()),
    )
    .unwrap();
    client.generate_data_key(&key, &context).await.unwrap();

    // The token is never sent to a server the client does not trust.
    let refused = Remote::with_roots(
        &kc.endpoint,
        REGION,
        source(),
        &TrustRoots::CaFile(ca.with_file_name("other-ca.pem")),
    )
    .unwrap()
    .generate_data_key(&key, &context)
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("credentials endpoint"),
        "{refused}"
    );
    let issued = issues(&kc);
    assert_eq!(
        issued.len(),
        1,
        "the refused client never reached the endpoint: {issued:?}"
    );
}

/// A client that opens a connection and never starts the handshake holds it for the header
/// deadline at most, and meanwhile others are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_cut_off_at_the_header_deadline() {
    use std::io::Read;
    let config = lakeseal_keycore_server::ServerConfig {
        connections: lakeseal_keycore_server::ConnectionLimits {
            header_timeout: std::time::Duration::from_secs(1),
            ..Default::default()
        },
        ..Default::default()
    };
    let kc = RunningKeyCore::start_tls_with(config).await;
    let address = kc.endpoint.trim_start_matches("https://").to_owned();
    let stalled = tokio::task::spawn_blocking(move || {
        let mut silent = std::net::TcpStream::connect(address).unwrap();
        // A generous bound: the server closes at 1 s; a read that outlives 30 s is the failure.
        silent
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let started = std::time::Instant::now();
        let read = silent.read(&mut [0; 64]);
        (read.map_err(|e| e.kind()), started.elapsed())
    });
    let key = key(&kc).await;
    let served = remote(&kc, TrustRoots::CaFile(kc.ca_file.clone().unwrap()))
        .generate_data_key(&key, &EncryptionContext::from_iter([("table", "t")]))
        .await;
    assert!(served.is_ok(), "{served:?}");
    let (read, after) = stalled.await.unwrap();
    assert_eq!(read, Ok(0), "the server closed the connection");
    assert!(after < std::time::Duration::from_secs(10), "{after:?}");
}

fn lakeseal_in(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(lakeseal())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn keycore_serve_asks_for_a_certificate_and_keeps_plain_http_on_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kc");
    let init = lakeseal_in(&data, &["keycore", "init", "--region", REGION]);
    assert!(init.status.success());

    let no_certificate = lakeseal_in(&data, &["keycore", "serve", "--listen", "127.0.0.1:0"]);
    let said = String::from_utf8_lossy(&no_certificate.stderr);
    assert!(!no_certificate.status.success(), "{said}");
    assert!(
        said.contains("no TLS certificate") && said.contains("--tls-name"),
        "{said}"
    );

    for args in [
        &["--listen", "0.0.0.0:0"][..],
        &[
            "--listen",
            "127.0.0.1:0",
            "--credentials-listen",
            "0.0.0.0:0",
        ],
    ] {
        let mut serve = vec!["keycore", "serve", "--insecure-http"];
        serve.extend_from_slice(args);
        let refused = lakeseal_in(&data, &serve);
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{args:?}: {said}");
        assert!(said.contains("loopback addresses only"), "{args:?}: {said}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycore_init_makes_a_ca_whose_certificate_the_cli_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("kc");
    let init = lakeseal_in(
        &data,
        &[
            "keycore",
            "init",
            "--region",
            REGION,
            "--tls-name",
            "127.0.0.1",
            "--tls-name",
            "keycore.internal",
        ],
    );
    assert!(init.status.success());
    let answer: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    let ca = data.join("tls/ca.pem");
    assert_eq!(answer["CaFile"], ca.display().to_string());
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data.join("tls/server-key.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);

    let port = crate::stage::free_port();
    let mut server = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .args(["keycore", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    crate::tls_front::wait_port(port);
    let endpoint = format!("https://127.0.0.1:{port}");
    let credentials = data.join("admin-credentials");
    let list = |ca_file: &Path| {
        Command::new(lakeseal())
            .arg("--ca-file")
            .arg(ca_file)
            .args(["iam", "--endpoint-url", &endpoint, "list"])
            .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
            .output()
            .unwrap()
    };
    let listed = list(&ca);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(String::from_utf8_lossy(&listed.stdout).contains("admin"));

    // A CA made by another `init` signed nothing of this server's.
    let other = tmp.path().join("other");
    assert!(
        lakeseal_in(
            &other,
            &[
                "keycore",
                "init",
                "--region",
                REGION,
                "--tls-name",
                "127.0.0.1"
            ]
        )
        .status
        .success()
    );
    let refused = list(&other.join("tls/ca.pem"));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("does not trust"), "{said}");
    let _ = server.kill();
    let _ = server.wait();
}
