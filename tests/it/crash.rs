//! Crash safety: a process streaming creates and rotations is killed with SIGKILL at random
//! moments; after every restart each acknowledged operation is there and the audit chain holds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};
use rand::Rng;

#[tokio::test]
async fn acknowledged_operations_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let location = KeyCore::init(
        dir.path(),
        &InitOptions {
            region: "eu-west-1".into(),
            account_id: None,
            partition: "aws".into(),
        },
    )
    .unwrap();
    let who = Principal::account_root(&location.account_id);
    let ctx = RequestContext::local("crash-test");
    let mut created: Vec<String> = Vec::new();
    let mut versions: std::collections::HashMap<String, u32> = Default::default();
    let mut rng = rand::rng();

    for round in 0..6 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keycore-churn"))
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Let it get going, then kill it at a random moment mid-stream.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the churn process never acknowledged anything");
        std::thread::sleep(Duration::from_millis(rng.random_range(50..400)));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        let acked: Vec<String> = std::iter::once(first).chain(rx.try_iter()).collect();
        assert!(!acked.is_empty());
        for line in &acked {
            match line.split(' ').collect::<Vec<_>>()[..] {
                ["created", id] => {
                    created.push(id.to_owned());
                    versions.insert(id.to_owned(), 1);
                }
                ["rotated", id, v] => {
                    versions.insert(id.to_owned(), v.parse().unwrap());
                }
                _ => panic!("unexpected line {line:?}"),
            }
        }

        // Restart: every acknowledged create and rotation is there.
        let core = KeyCore::open(dir.path(), Options::default()).unwrap();
        for (id, version) in &versions {
            let meta = core
                .describe_key(&who, &ctx, KeyIdRequest::new(id))
                .await
                .unwrap_or_else(|e| panic!("round {round}: acknowledged key {id} is lost: {e}"))
                .key_metadata;
            assert!(
                meta.primary_key_version >= *version,
                "round {round}: {id} acknowledged version {version}, found {}",
                meta.primary_key_version
            );
        }
        let verified = audit::verify(&core.audit_path()).unwrap();
        assert!(verified.is_ok(), "round {round}: {verified:?}");
        let creates = audit::query(
            &core.audit_path(),
            &Query {
                operation: Some("CreateKey".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(
            creates.len() >= created.len(),
            "round {round}: an acknowledged create is not audited"
        );
        drop(core);
    }
    assert!(
        created.len() >= 6,
        "too few operations to mean anything: {}",
        created.len()
    );
}
