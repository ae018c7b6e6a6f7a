//! The key core served on loopback, probed as a hostile client would: raw HTTP requests signed
//! (or not) by hand, so that each can be bent the way a client library never would.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use lakeseal_keyclient::RemoteCredentials;
use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore_server::{RefusalAudit, SUMMARY_OPERATION, ServerConfig};
use serde_json::{Value, json};

use crate::support::{REGION, RunningKeyCore};

/// One HTTP/1.1 exchange on a new connection; returns the status and the body.
fn exchange(addr: &str, request: &[u8]) -> (u16, String) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(request).unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    parse_reply(&String::from_utf8_lossy(&reply))
}

fn parse_reply(reply: &str) -> (u16, String) {
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP reply: {reply:?}"));
    let body = reply
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn error_type(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    v["__type"].as_str().unwrap_or_default().to_owned()
}

/// How a test wants a request signed.
struct Signing<'a> {
    /// Headers left out of `SignedHeaders`.
    unsigned: &'a [&'static str],
    /// A session token to send and sign (or not, if listed in `unsigned`).
    session_token: Option<&'a str>,
}

const PLAIN: Signing<'static> = Signing {
    unsigned: &[],
    session_token: None,
};

/// A KMS request for `target`, signed with the admin's key as `signing` says, then with its
/// `X-Amz-Target` replaced by `sent_target` (the tampering a replay would do).
fn kms_request(
    kc: &RunningKeyCore,
    target: &str,
    sent_target: &str,
    body: &str,
    signing: &Signing<'_>,
) -> Vec<u8> {
    let creds = RemoteCredentials::from_file(&kc.credentials, "default").unwrap();
    let secret = String::from_utf8(creds.secret_access_key.expose_secret().to_vec()).unwrap();
    let identity = Credentials::new(
        &creds.access_key_id,
        secret,
        signing.session_token.map(str::to_owned),
        None,
        "hostile",
    )
    .into();
    let mut settings = SigningSettings::default();
    let mut excluded = settings.excluded_headers.take().unwrap_or_default();
    excluded.extend(signing.unsigned.iter().map(|h| (*h).into()));
    settings.excluded_headers = Some(excluded);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("kms")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let host = kc.endpoint.trim_start_matches("http://");
    let target_header = format!("TrentService.{target}");
    let headers = [
        ("host", host),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target_header.as_str()),
    ];
    let signable = SignableRequest::new(
        "POST",
        &kc.endpoint,
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (added, _) = instructions.into_parts();
    let mut request = format!(
        "POST / HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: TrentService.{sent_target}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for header in added {
        request.push_str(&format!("{}: {}\r\n", header.name(), header.value()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    request.into_bytes()
}

fn addr(kc: &RunningKeyCore) -> String {
    kc.endpoint.trim_start_matches("http://").to_owned()
}

fn audited(kc: &RunningKeyCore, operation: &str) -> Vec<audit::Record> {
    audit::query(
        &kc.core.audit_path(),
        &Query {
            operation: Some(operation.into()),
            ..Query::default()
        },
    )
    .unwrap()
}

async fn create_key(kc: &RunningKeyCore) -> String {
    let request = kms_request(kc, "CreateKey", "CreateKey", "{}", &PLAIN);
    let (status, body) = exchange(&addr(kc), &request);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
}

fn key_state(kc: &RunningKeyCore, key_id: &str) -> String {
    let body = json!({ "KeyId": key_id }).to_string();
    let request = kms_request(kc, "DescribeKey", "DescribeKey", &body, &PLAIN);
    let (status, body) = exchange(&addr(kc), &request);
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["KeyMetadata"]["KeyState"].as_str().unwrap().to_owned()
}

/// A request signed for `DescribeKey` with only `host;x-amz-date` signed, sent as `DisableKey`:
/// refused, audited, and the key stays enabled. The same request with the target signed works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_outside_the_signature_is_refused() {
    let kc = RunningKeyCore::start().await;
    let key_id = create_key(&kc).await;
    let body = json!({ "KeyId": key_id }).to_string();

    let tampered = kms_request(
        &kc,
        "DescribeKey",
        "DisableKey",
        &body,
        &Signing {
            unsigned: &["x-amz-target", "content-type"],
            session_token: None,
        },
    );
    let (status, reply) = exchange(&addr(&kc), &tampered);
    assert_eq!(status, 403, "{reply}");
    assert_eq!(error_type(&reply), "InvalidSignatureException", "{reply}");
    assert!(reply.contains("x-amz-target"), "{reply}");
    assert_eq!(key_state(&kc, &key_id), "Enabled");
    let refused = audited(&kc, "DisableKey");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].event.result, "InvalidSignatureException");

    // Content-Type is required to be signed too, whenever it is sent.
    let unsigned_type = kms_request(
        &kc,
        "DescribeKey",
        "DescribeKey",
        &body,
        &Signing {
            unsigned: &["content-type"],
            session_token: None,
        },
    );
    let (status, reply) = exchange(&addr(&kc), &unsigned_type);
    assert_eq!(
        (status, error_type(&reply).as_str()),
        (403, "InvalidSignatureException")
    );

    let honest = kms_request(&kc, "DisableKey", "DisableKey", &body, &PLAIN);
    let (status, reply) = exchange(&addr(&kc), &honest);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(key_state(&kc, &key_id), "Disabled");
}

/// A long-term access key sent with a session token it was never issued with is refused, as AWS
/// refuses it; so is an unsigned `X-Amz-Security-Token`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_token_that_belongs_to_no_session_is_refused() {
    let kc = RunningKeyCore::start().await;
    for unsigned in [&[][..], &["x-amz-security-token"][..]] {
        let request = kms_request(
            &kc,
            "ListKeys",
            "ListKeys",
            "{}",
            &Signing {
                unsigned,
                session_token: Some("RmFrZVNlc3Npb25Ub2tlbkZyb21Ob3doZXJl"),
            },
        );
        let (status, reply) = exchange(&addr(&kc), &request);
        assert_eq!(status, 403, "{reply}");
        let expected = if unsigned.is_empty() {
            "UnrecognizedClientException"
        } else {
            "InvalidSignatureException"
        };
        assert_eq!(error_type(&reply), expected, "{reply}");
    }
    let (status, _) = exchange(
        &addr(&kc),
        &kms_request(&kc, "ListKeys", "ListKeys", "{}", &PLAIN),
    );
    assert_eq!(status, 200);
}

/// Unsigned requests with 30 KB headers, many of them on one connection: each audit record keeps
/// at most 256 bytes of the caller's strings, only the first ones from the address are audited
/// one by one, and the rest become one summary record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_floods_are_bounded_in_the_audit_trail() {
    let config = ServerConfig {
        refusal_audit: RefusalAudit {
            summary_interval: Duration::from_millis(500),
            ..RefusalAudit::default()
        },
        ..ServerConfig::default()
    };
    let burst = u64::from(config.refusal_audit.per_address.burst.get());
    let rate = u64::from(config.refusal_audit.per_address.per_second.get());
    let kc = RunningKeyCore::start_with(config).await;
    let before = std::fs::metadata(kc.core.audit_path()).unwrap().len();
    let huge = "A".repeat(30 * 1024);
    let requests: u64 = 400;
    let address = addr(&kc);
    let flood_started = Instant::now();
    let answered = tokio::task::spawn_blocking(move || {
        let mut conn = TcpStream::connect(&address).unwrap();
        conn.set_nodelay(true).unwrap();
        let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
        let mut answered = 0;
        for _ in 0..requests {
            write!(
                conn,
                "POST / HTTP/1.1\r\nHost: {address}\r\nUser-Agent: {huge}\r\n\
                 X-Amz-Target: TrentService.{huge}\r\nContent-Length: 2\r\n\r\n{{}}"
            )
            .unwrap();
            let (status, body) = read_response(&mut reader);
            assert_eq!(status, 403, "{body}");
            assert!(
                body.contains("MissingAuthenticationTokenException"),
                "{body}"
            );
            answered += 1;
        }
        answered
    })
    .await
    .unwrap();
    assert_eq!(answered, requests);
    let refill = flood_started.elapsed().as_secs() + 1;

    let all = audit::query(&kc.core.audit_path(), &Query::default()).unwrap();
    let one_by_one: Vec<_> = all
        .into_iter()
        .filter(|r| r.event.result == "MissingAuthenticationTokenException")
        .collect();
    // The burst, and what the budget refilled while the flood lasted.
    assert!(
        (burst..=burst + refill * rate).contains(&(one_by_one.len() as u64)),
        "{} audited one by one of {requests} (burst {burst}, {refill} s at {rate}/s)",
        one_by_one.len()
    );
    // Every refusal over the address's budget is counted in a summary (one per interval in
    // which there were some) within an interval of the last.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let summaries = audited(&kc, SUMMARY_OPERATION);
        let counted: u64 = summaries
            .iter()
            .map(|s| {
                assert_eq!(s.event.source_ip.as_deref(), Some("127.0.0.1"));
                let message = s.event.error_message.as_deref().unwrap();
                message.split(' ').next().unwrap().parse::<u64>().unwrap()
            })
            .sum();
        if counted + one_by_one.len() as u64 == requests {
            break;
        }
        assert!(
            counted + (one_by_one.len() as u64) < requests,
            "counted twice"
        );
        assert!(Instant::now() < deadline, "{counted} counted in summaries");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for record in &one_by_one {
        let agent = record.event.user_agent.as_deref().unwrap();
        assert!(agent.len() < 300 && agent.ends_with("bytes]"), "{agent}");
        assert!(agent.contains("[cut "), "{agent}");
        assert!(
            record.event.operation.len() < 300,
            "{}",
            record.event.operation
        );
    }
    let grown = std::fs::metadata(kc.core.audit_path()).unwrap().len() - before;
    assert!(
        grown < 2048 * one_by_one.len() as u64 + 4096,
        "{grown} bytes for {} records",
        one_by_one.len()
    );
    assert!(audit::verify(&kc.core.audit_path()).unwrap().is_ok());
}

/// Reads one response (headers and a `Content-Length` body) from a keep-alive connection.
fn read_response(reader: &mut impl std::io::BufRead) -> (u16, String) {
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let (status, _) = parse_reply(&head);
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A key policy that would lock everyone out (the empty one first) is refused unless the caller
/// says it means it, in `CreateKey` and in `PutKeyPolicy`; a malformed one says what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_locks_the_key_is_refused() {
    let kc = RunningKeyCore::start().await;
    let empty = r#"{"Version":"2012-10-17","Statement":[]}"#;
    let send = |target: &str, body: Value| {
        let request = kms_request(&kc, target, target, &body.to_string(), &PLAIN);
        exchange(&addr(&kc), &request)
    };
    let (status, reply) = send("CreateKey", json!({ "Policy": empty }));
    assert_eq!(status, 400, "{reply}");
    assert_eq!(error_type(&reply), "MalformedPolicyDocumentException");
    assert!(reply.contains("PutKeyPolicy"), "{reply}");

    let key_id = create_key(&kc).await;
    let (status, reply) = send("PutKeyPolicy", json!({ "KeyId": key_id, "Policy": empty }));
    assert_eq!(
        (status, error_type(&reply).as_str()),
        (400, "MalformedPolicyDocumentException")
    );
    // Still the root's to manage.
    assert_eq!(key_state(&kc, &key_id), "Enabled");

    // A policy that lets the admin user (the caller) put the policy is accepted.
    let admin = format!("arn:aws:iam::{}:user/admin", kc.core.location().account_id);
    let keeps_admin = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": admin},
        "Action": ["kms:PutKeyPolicy", "kms:DescribeKey"], "Resource": "*"}]})
    .to_string();
    let (status, reply) = send(
        "PutKeyPolicy",
        json!({ "KeyId": key_id, "Policy": keeps_admin }),
    );
    assert_eq!(status, 200, "{reply}");

    for (bad, says) in [
        (r#"{"Statment":[]}"#, "Statment"),
        (
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Condition":{"NumericEquals":{"a":"1"}}}]}"#,
            "NumericEquals",
        ),
    ] {
        let (status, reply) = send("PutKeyPolicy", json!({ "KeyId": key_id, "Policy": bad }));
        assert_eq!(status, 400, "{reply}");
        assert_eq!(error_type(&reply), "MalformedPolicyDocumentException");
        assert!(reply.contains(says), "{reply}");
    }

    // Bypassing the check is the caller's explicit choice, and it takes effect.
    let (status, reply) = send(
        "PutKeyPolicy",
        json!({ "KeyId": key_id, "Policy": empty, "BypassPolicyLockoutSafetyCheck": true }),
    );
    assert_eq!(status, 200, "{reply}");
    let body = json!({ "KeyId": key_id }).to_string();
    let (status, reply) = exchange(
        &addr(&kc),
        &kms_request(&kc, "DescribeKey", "DescribeKey", &body, &PLAIN),
    );
    assert_eq!(
        (status, error_type(&reply).as_str()),
        (400, "AccessDeniedException")
    );
}

/// A signed request whose body is not the operation's shape is audited with its refusal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_signed_requests_are_audited() {
    let kc = RunningKeyCore::start().await;
    let request = kms_request(&kc, "DescribeKey", "DescribeKey", r#"{"KeyId": 7}"#, &PLAIN);
    let (status, reply) = exchange(&addr(&kc), &request);
    assert_eq!(
        (status, error_type(&reply).as_str()),
        (400, "SerializationException")
    );
    let records = audited(&kc, "DescribeKey");
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].event.result, "SerializationException");
    assert!(records[0].event.principal.ends_with(":user/admin"));

    let request = kms_request(&kc, "NoSuchOperation", "NoSuchOperation", "{}", &PLAIN);
    let (_, reply) = exchange(&addr(&kc), &request);
    assert_eq!(error_type(&reply), "UnknownOperationException");
    assert_eq!(audited(&kc, "NoSuchOperation").len(), 1);
}

/// A body declared over the limit is refused before any of it is read: the client waiting for
/// `100 Continue` gets `413` instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_refused_before_continue() {
    let kc = RunningKeyCore::start().await;
    let mut conn = TcpStream::connect(addr(&kc)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.Encrypt\r\n\
         Content-Length: 104857600\r\nExpect: 100-continue\r\n\r\n"
    )
    .unwrap();
    let mut reader = std::io::BufReader::new(conn);
    let (status, body) = read_response(&mut reader);
    assert_eq!(status, 413, "{body}");
    assert_eq!(error_type(&body), "ValidationException");
}

/// `lakeseal keycore serve` with a TOML config: the process, its address once it listens, and
/// its log lines (requests are logged on arrival at TRACE).
fn serve(dir: &Path, config: &str) -> (Child, String, std::sync::mpsc::Receiver<String>) {
    let (child, address, _, log) = serve_with(dir, config, &[]);
    (child, address, log)
}

/// As [`serve`], with more arguments for `keycore serve`; also returns the metrics address when
/// `--metrics-listen` is among them.
fn serve_with(
    dir: &Path,
    config: &str,
    args: &[&str],
) -> (
    Child,
    String,
    Option<String>,
    std::sync::mpsc::Receiver<String>,
) {
    let config_path = dir.join("server.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut child = Command::new(crate::stage::lakeseal())
        .arg("--data-dir")
        .arg(dir.join("kc"))
        .args([
            "keycore",
            "serve",
            "--insecure-http",
            "--listen",
            "127.0.0.1:0",
            "--config",
        ])
        .arg(&config_path)
        .args(args)
        .env("RUST_LOG", "lakeseal_keycore_server=trace")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stderr).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut metrics = None;
    let address = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the server did not start listening");
        if let Some(url) = line.trim().strip_prefix("lakeseal metrics on http://") {
            metrics = url.strip_suffix("/metrics").map(str::to_owned);
        }
        if line.contains("listening on") {
            break line
                .trim()
                .rsplit(' ')
                .next()
                .unwrap()
                .trim_start_matches("http://")
                .to_owned();
        }
    };
    (child, address, metrics, rx)
}

fn lakeseal(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(crate::stage::lakeseal())
        .arg("--data-dir")
        .arg(dir.join("kc"))
        .args(args)
        .output()
        .unwrap()
}

fn wait_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            panic!("still running {within:?} after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client holding a half-sent request does not keep the server from exiting on SIGTERM: it
/// exits within the shutdown grace. And a request whose headers never finish is cut off at the
/// header deadline, while the server keeps serving.
#[test]
fn slow_clients_neither_hold_shutdown_nor_a_connection() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        lakeseal(tmp.path(), &["keycore", "init", "--region", REGION])
            .status
            .success()
    );
    let (mut server, address, _log) = serve(
        tmp.path(),
        "[connections]\nheader_timeout_seconds = 1\nshutdown_grace_seconds = 2\n",
    );

    let mut slow = TcpStream::connect(&address).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Tar")
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    // Cut off at the header deadline (hyper answers 408 or just closes).
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );

    // Serving still: an unsigned request is answered.
    let (status, body) = exchange(&address, UNSIGNED_LIST_KEYS.as_bytes());
    assert_eq!(
        (status, error_type(&body).as_str()),
        (403, "MissingAuthenticationTokenException")
    );

    // A half-sent request at SIGTERM, with a header deadline longer than the grace.
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut server, address, server_log) = serve(
        tmp.path(),
        "[connections]\nheader_timeout_seconds = 60\nbody_timeout_seconds = 60\nshutdown_grace_seconds = 2\n",
    );
    let mut half = TcpStream::connect(&address).unwrap();
    half.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Length: 100\r\n\r\n{\"Li",
    )
    .unwrap();
    // Signal once the server has the request in hand (its handler logs it on arrival).
    wait_line(&server_log, "request received");
    let sent = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_exit(&mut server, Duration::from_secs(10));
    assert!(status.success(), "{status}");
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "exit {took:?} after SIGTERM, with a 2 s grace for the request in flight"
    );
    drop(half);
}

const UNSIGNED_LIST_KEYS: &str = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";

/// Waits (at most 10 s) for a line of the server's log that contains `needle`.
fn wait_line(log: &std::sync::mpsc::Receiver<String>, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match log.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => {}
            Err(e) => panic!("no log line with {needle:?}: {e}"),
        }
    }
}

/// A deleted audit log is not silently recreated: the key core refuses to start and says why,
/// `audit verify` reports the break, and only `audit reset --acknowledge-break` (itself the first
/// record of the new chain) lets it run again.
#[test]
fn a_deleted_audit_log_is_a_broken_trail_until_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    assert!(
        lakeseal(dir, &["keycore", "init", "--region", REGION])
            .status
            .success()
    );
    assert!(lakeseal(dir, &["key", "create"]).status.success());
    let log = dir.join("kc/audit.log");
    for damage in ["delete", "empty", "cut"] {
        let text = std::fs::read_to_string(&log).unwrap();
        match damage {
            "delete" => std::fs::remove_file(&log).unwrap(),
            "empty" => std::fs::write(&log, "").unwrap(),
            _ => {
                let lines: Vec<&str> = text.lines().collect();
                let kept = lines[..lines.len() - 1].join("\n") + "\n";
                std::fs::write(&log, kept).unwrap();
            }
        }
        let verify = lakeseal(dir, &["audit", "verify"]);
        assert!(!verify.status.success(), "{damage}");
        let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
        assert_eq!(report["Valid"], false, "{damage}: {report}");

        for args in [
            &["key", "list"][..],
            &[
                "keycore",
                "serve",
                "--insecure-http",
                "--listen",
                "127.0.0.1:0",
            ],
        ] {
            let refused = lakeseal(dir, args);
            assert!(!refused.status.success(), "{damage}: {args:?} ran");
            let stderr = String::from_utf8_lossy(&refused.stderr);
            assert!(
                stderr.contains("broken") && stderr.contains("--acknowledge-break"),
                "{damage}: {stderr}"
            );
        }

        let reset = lakeseal(dir, &["audit", "reset", "--acknowledge-break"]);
        assert!(
            reset.status.success(),
            "{}",
            String::from_utf8_lossy(&reset.stderr)
        );
        let verify = lakeseal(dir, &["audit", "verify"]);
        assert!(verify.status.success(), "{damage}");
        let first: Value = serde_json::from_str(
            std::fs::read_to_string(&log)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(first["event"]["operation"], "AuditReset");
        assert!(
            first["event"]["detail"]
                .as_str()
                .unwrap()
                .contains("broken")
        );
        // Working again, and appending to the new chain.
        assert!(lakeseal(dir, &["key", "create"]).status.success());
    }
    // Nothing to acknowledge on a sound trail.
    assert!(
        !lakeseal(dir, &["audit", "reset", "--acknowledge-break"])
            .status
            .success()
    );
    // The broken trails are kept.
    let kept = std::fs::read_dir(dir.join("kc"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("audit.log.broken-")
        })
        .count();
    assert_eq!(kept, 2, "the deleted one left no file to keep");
}

/// At most `max_connections` are open: the next waits in the backlog until one closes, and an
/// idle connection is closed at the header deadline, so it does not wait for long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_and_idle_ones_closed() {
    let config = ServerConfig {
        connections: lakeseal_keycore_server::ConnectionLimits {
            max_connections: 2,
            header_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        ..ServerConfig::default()
    };
    let kc = RunningKeyCore::start_with(config).await;
    let address = addr(&kc);
    let answered_after = tokio::task::spawn_blocking(move || {
        // Two connections take both places: each answered once (so surely accepted), then idle.
        let keep_alive = UNSIGNED_LIST_KEYS.replace("Connection: close\r\n", "");
        let idle: Vec<TcpStream> = (0..2)
            .map(|_| {
                let mut conn = TcpStream::connect(&address).unwrap();
                conn.write_all(keep_alive.as_bytes()).unwrap();
                let (status, _) =
                    read_response(&mut std::io::BufReader::new(conn.try_clone().unwrap()));
                assert_eq!(status, 403);
                conn
            })
            .collect();
        let started = Instant::now();
        let (status, _) = exchange(&address, UNSIGNED_LIST_KEYS.as_bytes());
        assert_eq!(status, 403);
        let waited = started.elapsed();
        // The idle ones were closed by the server.
        for mut conn in idle {
            let mut rest = Vec::new();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(conn.read_to_end(&mut rest).unwrap(), 0);
        }
        waited
    })
    .await
    .unwrap();
    assert!(
        answered_after >= Duration::from_millis(700) && answered_after < Duration::from_secs(5),
        "the third connection was answered after {answered_after:?}"
    );
}

/// Headers over hyper's limit are refused before any handler sees them (431, or a reset if the
/// client is still sending), so they cannot reach the audit trail; each is counted instead, in
/// `lakeseal_keycore_connection_errors_total{kind="too_large"}`.
#[test]
fn oversized_headers_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(
        lakeseal(tmp.path(), &["keycore", "init", "--region", REGION])
            .status
            .success()
    );
    let (mut server, address, metrics, _log) =
        serve_with(tmp.path(), "", &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = metrics.expect("the server printed no metrics address");
    let too_large = || {
        let (status, body) = exchange(
            &metrics,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200, "{body}");
        body.lines()
            .find(|l| {
                l.starts_with("lakeseal_keycore_connection_errors_total")
                    && l.contains(r#"kind="too_large""#)
            })
            .map_or(0, |l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
    };
    assert_eq!(too_large(), 0);

    for _ in 0..3 {
        let mut conn = TcpStream::connect(&address).unwrap();
        conn.set_nodelay(true).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let header = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nUser-Agent: {}\r\n\r\n",
            "a".repeat(1 << 20)
        );
        // The server may close while this is still being written: a broken pipe is an answer.
        let _ = conn.write_all(header.as_bytes());
        let mut reply = Vec::new();
        let _ = conn.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 431"),
            "{reply}"
        );
    }
    // The count is taken when each connection's task ends, just after the close is seen here.
    let deadline = Instant::now() + Duration::from_secs(10);
    while too_large() < 3 {
        assert!(Instant::now() < deadline, "counted {}", too_large());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(too_large(), 3);
    server.kill().unwrap();
    server.wait().unwrap();
}
