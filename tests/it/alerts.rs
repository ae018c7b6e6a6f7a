//! Anomaly alerts: each kind raised by `lakeseal audit alerts` on a crafted trail and nothing on
//! an ordinary one; the served key core raising them as they happen, as a metric and a log event.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::stage::{free_port, lakeseal, lakeseal_at, sample, scrape};
use crate::support::RunningKeyCore;
use crate::tls_front::wait_port;

const ACCOUNT: &str = "111122223333";
const T0: i64 = 1_800_000_000_000;

/// One audit line at `T0 + seconds`.
fn line(
    seq: u64,
    seconds: i64,
    principal: &str,
    operation: &str,
    extra: serde_json::Value,
) -> String {
    let mut event = serde_json::json!({
        "time": lakeseal_keycore::clock::rfc3339(T0 + seconds * 1000),
        "requestId": format!("r-{seq}"),
        "operation": operation,
        "principal": principal,
        "sourceIp": "10.0.0.1",
        "region": "eu-west-1",
        "result": "Success",
    });
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    serde_json::json!({ "seq": seq, "hash": "00", "event": event }).to_string()
}

/// `lakeseal audit alerts` over a trail of `lines`: whether it exited 0, and the alert kinds.
fn alerts_of(dir: &Path, lines: &[String]) -> (bool, Vec<String>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("audit.log"), lines.join("\n") + "\n").unwrap();
    let out = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(dir)
        .args(["audit", "alerts"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let kinds = report["Alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Alert"]["Kind"].as_str().unwrap().to_owned())
        .collect();
    (out.status.success(), kinds)
}

/// Two hours of a pipeline at work: a stage making data keys every second from one address, a
/// dashboard reading its one secret now and then.
fn ordinary_day() -> Vec<String> {
    let stage = format!("arn:aws:sts::{ACCOUNT}:assumed-role/stage/stage-1");
    let dashboard = format!("arn:aws:sts::{ACCOUNT}:assumed-role/dashboard/dash-1");
    let secret =
        format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:dashboard/warehouse-AbCdEf");
    let mut lines = Vec::new();
    for s in 0..7200 {
        lines.push(line(
            lines.len() as u64,
            s,
            &stage,
            "GenerateDataKey",
            serde_json::json!({}),
        ));
        if s % 600 == 0 {
            let read = serde_json::json!({ "secretArn": secret, "service": "secretsmanager" });
            lines.push(line(
                lines.len() as u64,
                s,
                &dashboard,
                "GetSecretValue",
                read,
            ));
        }
    }
    lines
}

#[test]
fn every_kind_is_raised_on_a_crafted_trail_and_none_on_an_ordinary_one() {
    let tmp = tempfile::tempdir().unwrap();
    let day = ordinary_day();
    assert_eq!(alerts_of(&tmp.path().join("quiet"), &day), (true, vec![]));

    let mut lines = day;
    let mut add = |seconds, principal: &str, operation: &str, extra| {
        let seq = lines.len() as u64;
        lines.push(line(seq, seconds, principal, operation, extra));
    };
    let stage = format!("arn:aws:sts::{ACCOUNT}:assumed-role/stage/stage-1");
    let dashboard = format!("arn:aws:sts::{ACCOUNT}:assumed-role/dashboard/dash-1");
    let other = format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:ingest/token-XyZabc");
    let warehouse =
        format!("arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:dashboard/warehouse-AbCdEf");
    // The stage's credentials used from elsewhere, in a flood of decrypts.
    for i in 0..700 {
        let elsewhere = serde_json::json!({ "sourceIp": "203.0.113.9" });
        add(7200 + i * 60 / 700, &stage, "Decrypt", elsewhere);
    }
    // The dashboard reads a secret that is not its own.
    let read = |arn: &str| serde_json::json!({ "secretArn": arn, "service": "secretsmanager" });
    add(7300, &dashboard, "GetSecretValue", read(&other));
    // Its own secret is scheduled for deletion, and someone still reads it.
    add(
        7301,
        &format!("arn:aws:iam::{ACCOUNT}:root"),
        "DeleteSecret",
        read(&warehouse),
    );
    let mut refused = read(&warehouse);
    refused["result"] = "InvalidRequestException".into();
    add(7302, &dashboard, "GetSecretValue", refused);
    // A probe: ten refusals in ten seconds.
    for i in 0..10 {
        let denied = serde_json::json!({ "result": "AccessDeniedException" });
        add(
            7400 + i,
            &format!("arn:aws:iam::{ACCOUNT}:user/probe"),
            "ListKeys",
            denied,
        );
    }
    let (ok, mut kinds) = alerts_of(&tmp.path().join("loud"), &lines);
    assert!(!ok, "alerts exit 1");
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "access_denied_burst",
            "new_secret_read",
            "new_source_ip",
            "pending_deletion_read",
            "rate_spike"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_key_core_raises_alerts_as_they_happen() {
    // Only for its venv runner.
    let runner = RunningKeyCore::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("keycore");
    lakeseal_at(
        &data,
        &["keycore", "init", "--region", crate::support::REGION],
    );
    lakeseal_at(&data, &["iam", "create-user", "--user-name", "probe"]);
    let credentials = tmp.path().join("probe-credentials");
    lakeseal_at(
        &data,
        &[
            "iam",
            "create-access-key",
            "--user-name",
            "probe",
            "--credentials-file",
            credentials.to_str().unwrap(),
        ],
    );
    let config = tmp.path().join("server.toml");
    std::fs::write(&config, "[alerts]\ndenied_burst = 3\n").unwrap();
    let (port, metrics) = (free_port(), free_port());
    let log = tmp.path().join("keycore.log");
    let mut server = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .args(["keycore", "serve", "--insecure-http"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics}")])
        .arg("--config")
        .arg(&config)
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    wait_port(port);
    wait_port(metrics);
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = runner
        .python(
            "denied_burst.py",
            &[
                ("AWS_ENDPOINT_URL_KMS", &endpoint),
                ("AWS_SHARED_CREDENTIALS_FILE", credentials.to_str().unwrap()),
                ("COUNT", "3"),
            ],
        )
        .await;
    assert!(out.contains("PASS"), "{out}");
    let scraped = scrape(metrics);
    assert_eq!(
        sample(
            &scraped,
            "lakeseal_keycore_alerts_total",
            &[r#"kind="access_denied_burst""#]
        ),
        1.0,
        "{scraped}"
    );
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("audit alert") && logged.contains("access_denied_burst"),
        "{logged}"
    );
    // The trail says the same, read beside the running server.
    let report = Command::new(lakeseal())
        .arg("--data-dir")
        .arg(&data)
        .args(["audit", "alerts", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!report.status.success());
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("access_denied_burst"), "{text}");
    let _ = server.kill();
    let _ = server.wait();
}
