//! Real AWS clients nobody here wrote — boto3 and the AWS Encryption SDK for Python — against
//! the key core served over HTTP with SigV4.

use lakeseal_keycore::audit::{self, Query};

use crate::support::RunningKeyCore;

/// boto3's IAM client manages users, access keys, roles and their policies over the API while
/// the key core serves (no offline step, no lock held); each action is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_manages_identities_over_the_api() {
    let kc = RunningKeyCore::start().await;
    let out = kc.python("iam_boto3.py", &[]).await;
    assert!(out.contains("ALL PASSED"), "{out}");
    let records = audit::query(&kc.core.audit_path(), &Query::default()).unwrap();
    let seen = |operation: &str, result: &str| {
        records
            .iter()
            .any(|r| r.event.operation == operation && r.event.result == result)
    };
    for operation in [
        "CreateUser",
        "CreateAccessKey",
        "DeleteAccessKey",
        "DeleteUser",
        "CreateRole",
        "DeleteRole",
        "PutRolePolicy",
        "GetUserPolicy",
    ] {
        assert!(seen(operation, "Success"), "{operation} not audited");
    }
    assert!(seen("CreateUser", "AccessDeniedException"));
    assert!(seen("DeleteUser", "DeleteConflictException"));
    assert!(audit::verify(&kc.core.audit_path()).unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_drives_the_key_core() {
    let kc = RunningKeyCore::start().await;
    let out = kc.python("kms_boto3.py", &[]).await;
    assert!(out.contains("ALL PASSED"), "{out}");

    // The refused signatures were audited, with the reason.
    let refused = audit::query(&kc.core.audit_path(), &Query::default()).unwrap();
    let codes: Vec<&str> = refused.iter().map(|r| r.event.result.as_str()).collect();
    assert!(codes.contains(&"InvalidSignatureException"), "{codes:?}");
    assert!(codes.contains(&"UnrecognizedClientException"), "{codes:?}");
    // Every authenticated record names the admin's access key and the caller's address.
    let generate = refused
        .iter()
        .find(|r| r.event.operation == "GenerateDataKey")
        .unwrap();
    assert_eq!(generate.event.source_ip.as_deref(), Some("127.0.0.1"));
    assert!(
        generate
            .event
            .access_key_id
            .as_deref()
            .is_some_and(|k| k.starts_with("AKIA"))
    );
    assert!(
        generate
            .event
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua.contains("Boto3"))
    );
    assert!(audit::verify(&kc.core.audit_path()).unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_encryption_sdk_uses_the_key_core_as_its_kms() {
    let kc = RunningKeyCore::start().await;
    let who = lakeseal_keycore::Principal::account_root("111122223333");
    let ctx = lakeseal_keycore::RequestContext::local("test");
    let key = kc
        .core
        .create_key(&who, &ctx, Default::default())
        .await
        .unwrap()
        .key_metadata
        .arn;
    let out = kc.python("esdk_roundtrip.py", &[("KEY_ARN", &key)]).await;
    assert!(out.contains("PASS esdk round trip"), "{out}");
    let decrypts = audit::query(
        &kc.core.audit_path(),
        &Query {
            operation: Some("Decrypt".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(decrypts.len(), 1);
    assert_eq!(decrypts[0].event.result, "Success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_refused_then_retried_through() {
    let two = std::num::NonZeroU32::new(2).unwrap();
    let config = lakeseal_keycore_server::ServerConfig {
        rate_limits: lakeseal_keycore_server::RateLimits {
            control: lakeseal_keycore_server::Limit::per_second(two),
            ..Default::default()
        },
        ..Default::default()
    };
    let kc = RunningKeyCore::start_with(config).await;
    let out = kc.python("kms_throttling.py", &[]).await;
    assert!(out.contains("PASS standard retries"), "{out}");
    let throttled = audit::query(
        &kc.core.audit_path(),
        &Query {
            operation: Some("ListKeys".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let refused: Vec<_> = throttled
        .iter()
        .filter(|r| r.event.result == "ThrottlingException")
        .collect();
    assert!(!refused.is_empty());
    assert!(
        refused
            .iter()
            .all(|r| r.event.principal.ends_with(":user/admin")),
        "throttled requests name the caller"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_aws_errors_never_a_500() {
    let kc = RunningKeyCore::start().await;
    let out = kc.python("kms_bad_input.py", &[]).await;
    assert!(!out.contains("FAIL"), "{out}");
    assert_eq!(out.matches("PASS").count(), 17, "{out}");
}

/// `lakeseal iam --endpoint-url` acts through the running key core: the data directory is the
/// server's. An access key whose file cannot be made is never created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_manages_identities_through_a_running_key_core() {
    let kc = RunningKeyCore::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let iam = |args: &[&str]| {
        let out = std::process::Command::new(crate::stage::lakeseal())
            .args(["iam", "--endpoint-url", &kc.endpoint])
            .args(args)
            .env("AWS_SHARED_CREDENTIALS_FILE", &kc.credentials)
            .env_remove("AWS_PROFILE")
            .env_remove("LAKESEAL_DATA_DIR")
            .output()
            .unwrap();
        let stdout: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        (
            out.status.success(),
            stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, user, err) = iam(&["create-user", "--user-name", "writer"]);
    assert!(ok, "{err}");
    assert_eq!(user["User"]["UserName"], "writer", "{user}");

    let nowhere = tmp.path().join("no/such/dir/credentials");
    let (ok, _, err) = iam(&[
        "create-access-key",
        "--user-name",
        "writer",
        "--credentials-file",
        nowhere.to_str().unwrap(),
    ]);
    assert!(!ok && err.contains("no/such/dir"), "{err}");
    let (ok, keys, err) = iam(&["list-access-keys", "--user-name", "writer"]);
    assert!(ok, "{err}");
    assert_eq!(keys["AccessKeyMetadata"], serde_json::json!([]), "{keys}");

    let file = tmp.path().join("writer");
    let (ok, made, err) = iam(&[
        "create-access-key",
        "--user-name",
        "writer",
        "--credentials-file",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let id = made["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!made.to_string().contains("SecretAccessKey"), "{made}");
    let written = lakeseal_keyclient::RemoteCredentials::from_file(&file, "default").unwrap();
    assert_eq!(written.access_key_id, id);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (_, keys, _) = iam(&["list-access-keys", "--user-name", "writer"]);
    assert_eq!(keys["AccessKeyMetadata"][0]["AccessKeyId"], id.as_str());

    let (ok, _, err) = iam(&[
        "delete-access-key",
        "--user-name",
        "writer",
        "--access-key-id",
        &id,
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) = iam(&["create-user", "--user-name", "writer"]);
    assert!(!ok && err.contains("EntityAlreadyExists"), "{err}");
    let (ok, listed, _) = iam(&["list"]);
    assert!(ok);
    assert!(listed["Users"].as_array().unwrap().len() >= 2, "{listed}");
    // Every action went through the API and its audit.
    let records = audit::query(&kc.core.audit_path(), &Query::default()).unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.event.operation == "DeleteAccessKey"
                && r.event.result == "Success"
                && r.event.source_ip.is_some())
    );
}
