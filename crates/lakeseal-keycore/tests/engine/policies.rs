//! Authorisation: key policies and identity policies together, explicit deny, conditions on
//! the encryption context and the source address, other accounts.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use lakeseal_keycore::audit::{self, Query};
use lakeseal_keycore::clock::ManualClock;
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::ops::list_keys::ListKeysRequest;
use lakeseal_keycore::{KeyCore, Options, Principal, RequestContext};

use crate::common::{ACCOUNT, context, ctx, fixture, init};

fn user(account: &str, name: &str) -> Principal {
    Principal {
        account_id: account.into(),
        arn: format!("arn:aws:iam::{account}:user/{name}"),
        access_key_id: None,
    }
}

const STAGE_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{
    "Effect":"Allow","Action":["kms:GenerateDataKey","kms:Decrypt"],"Resource":"*",
    "Condition":{"StringEquals":{"kms:EncryptionContext:table":"telemetry"}}}]}"#;

#[tokio::test]
async fn identity_policy_narrows_what_a_user_may_do() {
    let f = fixture();
    let key = f.new_key().await;
    f.core.create_user(&f.admin, &ctx(), "stage").await.unwrap();
    f.core
        .put_user_policy(&f.admin, &ctx(), "stage", "stage", STAGE_POLICY)
        .await
        .unwrap();
    let stage = user(ACCOUNT, "stage");
    let telemetry = context(&[("table", "telemetry")]);

    let dek = f
        .core
        .generate_data_key(
            &stage,
            &ctx(),
            GenerateDataKeyRequest::aes_256(&key, telemetry.clone()),
        )
        .await
        .unwrap();
    f.core
        .decrypt(
            &stage,
            &ctx(),
            DecryptRequest {
                encryption_algorithm: None,
                ciphertext_blob: dek.ciphertext_blob.clone(),
                encryption_context: telemetry,
                key_id: None,
            },
        )
        .await
        .unwrap();
    let denied = [
        f.core
            .generate_data_key(
                &stage,
                &ctx(),
                GenerateDataKeyRequest::aes_256(&key, context(&[("table", "billing")])),
            )
            .await
            .map(drop),
        f.core
            .describe_key(&stage, &ctx(), KeyIdRequest::new(&key))
            .await
            .map(drop),
        f.core
            .disable_key(&stage, &ctx(), KeyIdRequest::new(&key))
            .await
            .map(drop),
        f.core
            .create_key(&stage, &ctx(), CreateKeyRequest::default())
            .await
            .map(drop),
        f.core
            .list_keys(&stage, &ctx(), ListKeysRequest::default())
            .await
            .map(drop),
    ];
    for (i, result) in denied.into_iter().enumerate() {
        assert_eq!(
            result.unwrap_err().code(),
            "AccessDeniedException",
            "call {i}"
        );
    }
    let audited = audit::query(
        &f.core.audit_path(),
        &Query {
            principal: Some(stage.arn.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let results: Vec<&str> = audited.iter().map(|r| r.event.result.as_str()).collect();
    assert_eq!(
        results,
        [
            "Success",
            "Success",
            "AccessDeniedException",
            "AccessDeniedException",
            "AccessDeniedException",
            "AccessDeniedException",
            "AccessDeniedException"
        ]
    );

    // A user without any policy may do nothing, even though the key policy trusts the account.
    f.core
        .create_user(&f.admin, &ctx(), "nobody")
        .await
        .unwrap();
    let err = f
        .core
        .describe_key(&user(ACCOUNT, "nobody"), &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
}

#[tokio::test]
async fn explicit_deny_in_the_key_policy_wins() {
    let f = fixture();
    let policy = format!(
        r#"{{"Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}]}}"#
    );
    let key = f
        .core
        .create_key(
            &f.admin,
            &ctx(),
            CreateKeyRequest {
                policy: Some(policy),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .key_metadata
        .key_id;
    let blob = f.encrypt(&key, b"x", &context(&[])).await;
    assert_eq!(
        f.decrypt(&blob, &context(&[])).await.unwrap_err().code(),
        "AccessDeniedException"
    );
}

#[tokio::test]
async fn another_account_needs_the_key_policy_and_its_own_identity_policy() {
    const OTHER: &str = "444455556666";
    let f = fixture();
    let shared_policy = format!(
        r#"{{"Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
        {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}]}}"#
    );
    let shared = f
        .core
        .create_key(
            &f.admin,
            &ctx(),
            CreateKeyRequest {
                policy: Some(shared_policy),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .key_metadata
        .arn;
    let private = f.new_key().await;
    let private_arn = format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{private}");
    let partner = user(OTHER, "partner");
    let enc = |key: &str| lakeseal_keycore::ops::encrypt::EncryptRequest {
        encryption_algorithm: None,
        key_id: key.into(),
        plaintext: b"x".to_vec().into(),
        encryption_context: Default::default(),
    };
    // No identity policy in its own account yet: refused.
    let err = f
        .core
        .encrypt(&partner, &ctx(), enc(&shared))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
    f.core
        .create_user_in(&f.admin, &ctx(), OTHER, "partner")
        .await
        .unwrap();
    f.core
        .put_user_policy(
            &f.admin,
            &ctx(),
            &partner.arn,
            "use-shared",
            r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
        )
        .await
        .unwrap();
    f.core
        .encrypt(&partner, &ctx(), enc(&shared))
        .await
        .unwrap();
    // A key whose policy does not name the other account stays closed to it.
    let err = f
        .core
        .encrypt(&partner, &ctx(), enc(&private_arn))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
}

#[tokio::test]
async fn source_ip_condition() {
    let f = fixture();
    let key = f.new_key().await;
    f.core
        .create_user(&f.admin, &ctx(), "office")
        .await
        .unwrap();
    f.core
        .put_user_policy(
            &f.admin,
            &ctx(),
            "office",
            "from-office",
            r#"{"Statement":{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*",
            "Condition":{"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}}"#,
        )
        .await
        .unwrap();
    let office = user(ACCOUNT, "office");
    let from = |ip: &str| RequestContext {
        source_ip: Some(ip.parse::<IpAddr>().unwrap()),
        ..ctx()
    };
    f.core
        .describe_key(&office, &from("192.0.2.10"), KeyIdRequest::new(&key))
        .await
        .unwrap();
    let err = f
        .core
        .describe_key(&office, &from("198.51.100.1"), KeyIdRequest::new(&key))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
    let err = f
        .core
        .describe_key(&office, &ctx(), KeyIdRequest::new(&key))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        "AccessDeniedException",
        "no source address: the condition cannot hold"
    );
}

#[tokio::test]
async fn malformed_policies_are_refused() {
    let f = fixture();
    f.core.create_user(&f.admin, &ctx(), "u").await.unwrap();
    let err = f
        .core
        .put_user_policy(
            &f.admin,
            &ctx(),
            "u",
            "bad",
            r#"{"Statement":[{"Effect":"Perhaps","Action":"kms:*"}]}"#,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "MalformedPolicyDocumentException");
    let err = f
        .core
        .create_key(
            &f.admin,
            &ctx(),
            CreateKeyRequest {
                policy: Some("{}".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "MalformedPolicyDocumentException");
}

#[tokio::test]
async fn get_access_key_last_used_names_the_owner_in_the_callers_account_only() {
    const OTHER: &str = "444455556666";
    let f = fixture();
    f.core.create_user(&f.admin, &ctx(), "svc").await.unwrap();
    let own = f
        .core
        .create_access_key(&f.admin, &ctx(), "svc")
        .await
        .unwrap();
    f.core
        .create_user_in(&f.admin, &ctx(), OTHER, "partner")
        .await
        .unwrap();
    let theirs = f
        .core
        .create_access_key(&f.admin, &ctx(), &user(OTHER, "partner").arn)
        .await
        .unwrap();

    let owner = f
        .core
        .get_access_key_last_used(&f.admin, &ctx(), &own.access_key_id)
        .await
        .unwrap();
    assert_eq!(owner.as_deref(), Some("svc"));
    for unknown in [
        theirs.access_key_id.as_str(),
        concat!("AKIA", "QQQQQQQQQQQQQQQQ"),
    ] {
        let err = f
            .core
            .get_access_key_last_used(&f.admin, &ctx(), unknown)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "NotFoundException", "{unknown}");
    }
    // Without iam:GetAccessKeyLastUsed a user learns nothing, not even whether the key exists.
    let err = f
        .core
        .get_access_key_last_used(&user(ACCOUNT, "svc"), &ctx(), &own.access_key_id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
    let calls = audit::query(
        &f.core.audit_path(),
        &Query {
            operation: Some("GetAccessKeyLastUsed".into()),
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(calls.len(), 4);
}

#[tokio::test]
async fn the_shortest_session_is_configurable_downwards_and_expired_sessions_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let options = |min_session_seconds| Options {
        min_session_seconds,
        ..Options::default()
    };
    for refused in [0, 901] {
        let err = KeyCore::open(dir.path(), options(refused)).unwrap_err();
        assert!(err.to_string().contains("1 to 900 seconds"), "{err}");
    }
    let clock = Arc::new(ManualClock::starting_now());
    let core = KeyCore::open(
        dir.path(),
        Options {
            clock: clock.clone(),
            ..options(20)
        },
    )
    .unwrap();
    let admin = Principal::account_root(ACCOUNT);
    let trust = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}}}"#
    );
    let role = core
        .create_role(&admin, &ctx(), "stage", &trust)
        .await
        .unwrap()
        .arn;
    let err = core
        .assume_role(&admin, &ctx(), &role, "short", Some(19))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationException");
    assert!(err.to_string().contains("use 20 to 43200"), "{err}");
    let session = core
        .assume_role(&admin, &ctx(), &role, "short", Some(20))
        .await
        .unwrap();
    let identity = core
        .signing_identity(&session.access_key_id)
        .unwrap()
        .unwrap();
    assert_eq!(identity.expires, Some(session.expiration));
    assert_eq!(session.expiration - core.now_ms(), 20_000);

    // An expired session's key is kept an hour (its requests are told the token expired), then
    // deleted by the key core's maintenance.
    clock.advance(Duration::from_secs(20 + 3599));
    core.list_roles_of(&admin, &ctx()).await.unwrap();
    assert!(
        core.signing_identity(&session.access_key_id)
            .unwrap()
            .is_some()
    );
    clock.advance(Duration::from_secs(2));
    core.list_roles_of(&admin, &ctx()).await.unwrap();
    assert!(
        core.signing_identity(&session.access_key_id)
            .unwrap()
            .is_none()
    );
}
