//! The example least-privilege policies (`pipeline-examples/policies/`), enforced over HTTP for
//! sessions of assumed roles: each role's permitted calls succeed, its forbidden ones are refused
//! with `AccessDeniedException` and audited, and expired session credentials are refused.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::clock::ManualClock;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::{Principal, RequestContext};

use crate::support::{REGION, RunningKeyCore};

const ACCOUNT: &str = "111122223333";

fn example(name: &str, vars: &[(&str, &str)]) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipeline-examples/policies")
        .join(name);
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (k, v) in vars {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    assert!(!text.contains("${"), "{name} has an unfilled placeholder");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_roles_get_exactly_their_permissions() {
    let clock = Arc::new(ManualClock::starting_now());
    let kc = RunningKeyCore::start_with_clock(Default::default(), clock.clone()).await;
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("policy-test");
    let telemetry = kc
        .core
        .create_key(&root, &ctx, Default::default())
        .await
        .unwrap()
        .key_metadata
        .arn;
    let other = kc
        .core
        .create_key(&root, &ctx, Default::default())
        .await
        .unwrap()
        .key_metadata
        .arn;
    let context = [("table", "telemetry")].into_iter().collect();
    let blob = kc
        .core
        .generate_data_key(
            &root,
            &ctx,
            GenerateDataKeyRequest::aes_256(&telemetry, context),
        )
        .await
        .unwrap()
        .ciphertext_blob;
    let vars = [
        ("ACCOUNT_ID", ACCOUNT),
        ("REGION", REGION),
        ("TELEMETRY_KEY_ARN", telemetry.as_str()),
    ];
    let trust = example("trust-policy.json", &vars);

    let mut sessions = Vec::new();
    for role in ["stage", "query", "dashboard", "ingest"] {
        let arn = kc
            .core
            .create_role(&root, &ctx, role, &trust)
            .await
            .unwrap()
            .arn;
        let policy = example(&format!("{role}-role-policy.json"), &vars);
        kc.core
            .put_role_policy(&root, &ctx, role, "least-privilege", &policy)
            .await
            .unwrap();
        let session = kc
            .python("roles.py", &[("MODE", "assume"), ("ROLE_ARN", &arn)])
            .await;
        let env = [
            ("MODE", "check"),
            ("ROLE", role),
            ("SESSION", session.trim()),
            ("TELEMETRY_KEY_ARN", &telemetry),
            ("OTHER_KEY_ARN", &other),
            ("TELEMETRY_BLOB", &STANDARD.encode(&blob)),
        ];
        let out = kc.python("roles.py", &env).await;
        assert!(!out.contains("FAIL"), "{out}");
        assert_eq!(out.matches("PASS").count(), 12, "{out}");

        let assumed = format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/policy-test");
        let records = audit::query(
            &kc.core.audit_path(),
            &Query {
                principal: Some(assumed),
                ..Default::default()
            },
        )
        .unwrap();
        let denied = records
            .iter()
            .filter(|r| r.event.result == "AccessDeniedException")
            .count();
        let allowed = match role {
            "stage" => 2,
            "query" => 1,
            _ => 0,
        };
        assert_eq!(denied, 12 - allowed, "{role}: every refusal is audited");
        sessions.push(session);
    }

    // An hour later (the default session length) the credentials no longer work.
    clock.advance(Duration::from_secs(3601));
    let env = [
        ("MODE", "expired"),
        ("SESSION", sessions[0].trim()),
        ("TELEMETRY_KEY_ARN", telemetry.as_str()),
        ("OTHER_KEY_ARN", other.as_str()),
    ];
    let out = kc.python("roles.py", &env).await;
    assert!(out.contains("PASS expired credentials"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assume_role_needs_the_trust_policy() {
    let kc = RunningKeyCore::start().await;
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("policy-test");
    let only_other = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"sts:AssumeRole"}}"#;
    let arn = kc
        .core
        .create_role(&root, &ctx, "closed", only_other)
        .await
        .unwrap()
        .arn;
    let who = Principal {
        account_id: ACCOUNT.into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:user/admin"),
        access_key_id: None,
    };
    let err = kc
        .core
        .assume_role(&who, &ctx, &arn, "s1", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
    let err = kc
        .core
        .assume_role(&who, &ctx, &arn, "s1", Some(60))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "ValidationException",
        "sessions last 15 minutes to 12 hours"
    );
}
