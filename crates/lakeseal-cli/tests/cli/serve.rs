//! `lakeseal keycore serve`: listens, answers, and on SIGTERM finishes and exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::lakeseal_json;

#[test]
fn serves_until_sigterm_then_exits_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kc");
    lakeseal_json(&dir, &["keycore", "init", "--region", "eu-west-1"]);
    let mut server = Command::new(env!("CARGO_BIN_EXE_lakeseal"))
        .arg("--data-dir")
        .arg(&dir)
        .args([
            "keycore",
            "serve",
            "--insecure-http",
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_start_matches("http://")
        .to_owned();
    assert!(line.contains("listening on"), "{line}");

    // An unsigned request is answered (refused) in the protocol's own terms.
    let mut conn = TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: TrentService.ListKeys\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(
        reply.contains("MissingAuthenticationTokenException"),
        "{reply}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no exit 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    // The refused request was audited before the server went away.
    let audit = lakeseal_json(&dir, &["audit", "query", "--operation", "ListKeys"]);
    assert_eq!(
        audit["Records"][0]["result"],
        "MissingAuthenticationTokenException"
    );
}
