//! The secrets manager driven by boto3's `secretsmanager` client against the served key core:
//! labels, deletion and restore, resource policies, another account, a disabled CMK, the
//! example dashboard role, bad input — each call audited, no value in the trail.

use std::path::Path;

use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::{Principal, RequestContext};

use crate::support::{REGION, RunningKeyCore};

const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";

/// `access-key-id:secret` of a new access key of `user` (a name here, or an ARN elsewhere).
async fn access_key(kc: &RunningKeyCore, user: &str) -> String {
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("secrets-test");
    let key = kc.core.create_access_key(&root, &ctx, user).await.unwrap();
    format!(
        "{}:{}",
        key.access_key_id,
        std::str::from_utf8(key.secret_access_key.expose_secret()).unwrap()
    )
}

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../pipeline-examples/policies")
        .join(name);
    std::fs::read_to_string(path)
        .unwrap()
        .replace("${ACCOUNT_ID}", ACCOUNT)
        .replace("${REGION}", REGION)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_the_secrets_manager() {
    let kc = RunningKeyCore::start().await;
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("secrets-test");
    let core = &kc.core;

    // A reader of this account, allowed to read any secret by its identity policy.
    core.create_user(&root, &ctx, "reader").await.unwrap();
    let read_any = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#;
    core.put_user_policy(&root, &ctx, "reader", "read", read_any)
        .await
        .unwrap();
    let reader_key = access_key(&kc, "reader").await;

    // Two users of another account: one whose own policy lets it read secrets and decrypt, one
    // with no policy at all.
    let outsider = core
        .create_user_in(&root, &ctx, OTHER_ACCOUNT, "outsider")
        .await
        .unwrap();
    let read_and_decrypt = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:GetSecretValue","kms:Decrypt"],"Resource":"*"}]}"#;
    core.put_user_policy(&root, &ctx, &outsider.arn, "read", read_and_decrypt)
        .await
        .unwrap();
    let outsider_key = access_key(&kc, &outsider.arn).await;
    let bare = core
        .create_user_in(&root, &ctx, OTHER_ACCOUNT, "bare")
        .await
        .unwrap();
    let bare_key = access_key(&kc, &bare.arn).await;

    // The example dashboard role, with its policy as shipped.
    let dashboard = core
        .create_role(&root, &ctx, "dashboard", &example("trust-policy.json"))
        .await
        .unwrap();
    core.put_role_policy(
        &root,
        &ctx,
        "dashboard",
        "least-privilege",
        &example("dashboard-role-policy.json"),
    )
    .await
    .unwrap();

    let reader_arn = format!("arn:aws:iam::{ACCOUNT}:user/reader");
    let out = kc
        .python(
            "secrets_boto3.py",
            &[
                ("READER_KEY", reader_key.as_str()),
                ("READER_ARN", reader_arn.as_str()),
                ("OUTSIDER_KEY", outsider_key.as_str()),
                ("OUTSIDER_BARE_KEY", bare_key.as_str()),
                ("DASHBOARD_ROLE_ARN", dashboard.arn.as_str()),
            ],
        )
        .await;
    assert!(out.contains("ALL PASSED"), "{out}");
    println!("{out}");

    // Every call was audited with the secret's ARN; reads name the version and stage read;
    // the dashboard's refusals are there; no value is.
    let records = audit::query(&core.audit_path(), &Query::default()).unwrap();
    let get = records
        .iter()
        .find(|r| r.event.operation == "GetSecretValue" && r.event.result == "Success")
        .expect("a read is audited");
    assert!(
        get.event
            .secret_arn
            .as_deref()
            .is_some_and(|a| a.contains(":secret:db/password-"))
    );
    assert_eq!(
        get.event.version_id.as_deref(),
        Some("a".repeat(32).as_str())
    );
    assert_eq!(get.event.version_stage.as_deref(), Some("AWSCURRENT"));
    assert_eq!(get.event.source_ip.as_deref(), Some("127.0.0.1"));
    assert!(
        get.event
            .access_key_id
            .as_deref()
            .is_some_and(|k| k.starts_with("AKIA"))
    );
    let dashboard_denied = records
        .iter()
        .filter(|r| {
            r.event.principal.contains("assumed-role/dashboard/")
                && r.event.result == "AccessDeniedException"
        })
        .count();
    assert_eq!(
        dashboard_denied, 4,
        "every refusal of the dashboard is audited"
    );
    for (operation, result) in [
        ("CreateSecret", "Success"),
        ("CreateSecret", "ResourceExistsException"),
        ("PutSecretValue", "Success"),
        ("PutSecretValue", "ResourceExistsException"),
        ("UpdateSecretVersionStage", "InvalidParameterException"),
        ("GetSecretValue", "DecryptionFailure"),
        ("GetSecretValue", "InvalidRequestException"),
        ("PutSecretValue", "EncryptionFailure"),
        ("DeleteSecret", "Success"),
        ("RestoreSecret", "Success"),
        ("PutResourcePolicy", "PublicPolicyException"),
        ("BatchGetSecretValue", "Success"),
    ] {
        assert!(
            records
                .iter()
                .any(|r| r.event.operation == operation && r.event.result == result),
            "{operation} {result} not audited"
        );
    }
    let trail = std::fs::read(core.audit_path()).unwrap();
    for value in [
        "first",
        "second",
        "under my key",
        "shared value",
        "now text",
    ] {
        let quoted = format!("\"{value}\"");
        assert!(
            !trail.windows(quoted.len()).any(|w| w == quoted.as_bytes()),
            "the value {value} is in the audit trail"
        );
    }
    assert!(audit::verify(&core.audit_path()).unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_client_keeps_working_through_an_access_key_rotation() {
    let kc = RunningKeyCore::start().await;
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("secrets-test");
    kc.core.create_user(&root, &ctx, "svc").await.unwrap();
    let own = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:svc/access-key-??????"}},
            {{"Effect":"Allow","Action":"kms:GenerateRandom","Resource":"*"}}]}}"#
    );
    kc.core
        .put_user_policy(&root, &ctx, "svc", "own-secret", &own)
        .await
        .unwrap();
    let svc_key = access_key(&kc, "svc").await;
    let out = kc
        .python(
            "access_key_rotation_boto3.py",
            &[("SVC_KEY", svc_key.as_str())],
        )
        .await;
    println!("{out}");
    assert!(out.contains("ALL PASSED"), "{out}");

    // Each step of the rotation is in the audit trail, with the secret and the new version.
    let records = audit::query(&kc.core.audit_path(), &Query::default()).unwrap();
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let record = records
            .iter()
            .find(|r| r.event.operation == step)
            .unwrap_or_else(|| panic!("{step} is not audited"));
        assert_eq!(record.event.result, "Success");
        assert!(record.event.version_id.is_some());
        assert!(
            record
                .event
                .secret_arn
                .as_deref()
                .is_some_and(|a| a.contains(":secret:svc/access-key-"))
        );
    }
    assert!(
        records
            .iter()
            .any(|r| r.event.operation == "DeleteAccessKey" && r.event.result == "Success")
    );
}
