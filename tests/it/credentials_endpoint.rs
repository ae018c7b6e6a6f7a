//! The credentials endpoint: boto3 gets a role's credentials from it with nothing but a token
//! file; a missing, wrong, rotated or revoked token and a forwarded request are refused; every
//! issue and every refusal is in the audit trail.

use std::io::{Read, Write};
use std::path::Path;

use lakeseal_keycore::{KeyCore, Principal, RequestContext};
use lakeseal_keycore_server::ServerConfig;

use crate::support::RunningKeyCore;

const ACCOUNT: &str = "111122223333";

/// A role `stage` whose trust policy names workload identity `name`, allowed data keys only.
pub(crate) async fn stage_role_for_workload(core: &KeyCore, name: &str) {
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("credentials-test");
    let trust = format!(
        r#"{{"Statement":{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:workload-identity/{name}"}},"Action":"sts:AssumeRole"}}}}"#
    );
    core.create_role(&root, &ctx, "stage", &trust)
        .await
        .unwrap();
    let policy = r#"{"Statement":{"Effect":"Allow","Action":["kms:GenerateDataKey*","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}}"#;
    core.put_role_policy(&root, &ctx, "stage", "data-keys", policy)
        .await
        .unwrap();
}

/// Makes workload identity `name` for role `stage` and writes its token to `token_file`.
pub(crate) async fn workload_token(
    core: &KeyCore,
    name: &str,
    seconds: Option<u32>,
    token_file: &Path,
) {
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("credentials-test");
    let (_, token) = core
        .create_workload_identity(&root, &ctx, name, "stage", seconds)
        .await
        .unwrap();
    std::fs::write(token_file, token.expose_secret()).unwrap();
}

/// One `GET` of `uri` with `headers`: the status code and the body.
fn get(uri: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let rest = uri.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Audit records of `GetRoleCredentials`: (principal, result).
pub(crate) fn issues(kc: &RunningKeyCore) -> Vec<(String, String)> {
    std::fs::read_to_string(kc.data.join("audit.log"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| r.get("event").cloned().unwrap_or(r))
        .filter(|r| r["operation"] == "GetRoleCredentials")
        .map(|r| {
            (
                r["principal"].as_str().unwrap_or_default().to_owned(),
                r["result"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_gets_role_credentials_from_a_token_file_and_nothing_else() {
    let kc = crate::stage::key_core_with_alias(ServerConfig::default()).await;
    stage_role_for_workload(&kc.core, "pipeline").await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    workload_token(&kc.core, "pipeline", None, &token_file).await;
    let uri = kc.serve_credentials().await;
    let key_arn = format!(
        "arn:aws:kms:{}:{ACCOUNT}:alias/telemetry",
        crate::support::REGION
    );
    let out = kc
        .python(
            "container_credentials.py",
            &[
                // Nothing else to find credentials in: the shared file comes first in the chain.
                ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
                ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
                (
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                    token_file.to_str().unwrap(),
                ),
                ("KEY_ARN", &key_arn),
            ],
        )
        .await;
    assert!(out.contains("PASS GenerateDataKey as the role"), "{out}");
    let principal = format!("arn:aws:iam::{ACCOUNT}:workload-identity/pipeline");
    assert!(
        issues(&kc).contains(&(principal, "Success".to_owned())),
        "{:?}",
        issues(&kc)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_wrong_rotated_and_revoked_tokens_and_forwarded_requests_are_refused() {
    let kc = RunningKeyCore::start().await;
    stage_role_for_workload(&kc.core, "pipeline").await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    workload_token(&kc.core, "pipeline", None, &token_file).await;
    let token = std::fs::read_to_string(&token_file).unwrap();
    let uri = kc.serve_credentials().await;

    let (status, body) = get(&uri, &[("Authorization", &token)]);
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    for member in [
        "AccessKeyId",
        "SecretAccessKey",
        "Token",
        "Expiration",
        "RoleArn",
    ] {
        assert!(answer[member].is_string(), "{member} missing from {body}");
    }
    assert!(answer["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(
        answer["RoleArn"],
        format!("arn:aws:iam::{ACCOUNT}:role/stage"),
        "{body}"
    );

    let refused = |headers: &[(&str, &str)], status: u16, says: &str| {
        let (got, body) = get(&uri, headers);
        assert_eq!(got, status, "{headers:?}: {body}");
        assert!(body.contains(says), "{headers:?}: {body}");
        assert!(!body.contains(token.as_str()), "the token echoed: {body}");
    };
    refused(&[], 401, "no Authorization header");
    refused(
        &[("Authorization", "not-the-token")],
        401,
        "not a workload identity",
    );
    for proxy in ["X-Forwarded-For", "Forwarded", "Via"] {
        refused(
            &[("Authorization", &token), (proxy, "10.0.0.9")],
            403,
            "forwarded by a proxy",
        );
    }
    let (status, _) = get(&uri.replace("/v1/credentials", "/latest/meta-data"), &[]);
    assert_eq!(status, 404);

    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("credentials-test");
    let rotated = kc
        .core
        .rotate_workload_token(&root, &ctx, "pipeline")
        .await
        .unwrap();
    refused(&[("Authorization", &token)], 401, "not a workload identity");
    let rotated = std::str::from_utf8(rotated.expose_secret())
        .unwrap()
        .to_owned();
    assert_eq!(get(&uri, &[("Authorization", &rotated)]).0, 200);

    kc.core
        .delete_workload_identity(&root, &ctx, "pipeline")
        .await
        .unwrap();
    refused(
        &[("Authorization", &rotated)],
        401,
        "not a workload identity",
    );

    let audited = issues(&kc);
    let principal = format!("arn:aws:iam::{ACCOUNT}:workload-identity/pipeline");
    let successes = audited
        .iter()
        .filter(|(who, result)| *who == principal && result == "Success")
        .count();
    assert_eq!(successes, 2, "{audited:?}");
    // A missing token, a wrong one, three forwarded, a wrong path, the rotated-out token and
    // the revoked one: all audited, none as the identity (a refused caller is not known to be
    // it).
    let refusals = audited.iter().filter(|(_, r)| r != "Success").count();
    assert_eq!(refusals, 8, "{audited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_whose_trust_policy_does_not_name_the_identity_cannot_be_bound() {
    let kc = RunningKeyCore::start().await;
    stage_role_for_workload(&kc.core, "pipeline").await;
    let root = Principal::account_root(ACCOUNT);
    let ctx = RequestContext::local("credentials-test");
    let err = kc
        .core
        .create_workload_identity(&root, &ctx, "intruder", "stage", None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ValidationException");
    assert!(
        err.to_string()
            .contains("workload-identity/intruder to sts:AssumeRole"),
        "{err}"
    );
}

/// `lakeseal iam --endpoint-url … *-workload-identity`: the token only ever in its file (0600),
/// replaced whole by a rotation, refused once deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_manages_workload_identities_through_a_running_key_core() {
    use std::os::unix::fs::PermissionsExt;
    let kc = RunningKeyCore::start().await;
    stage_role_for_workload(&kc.core, "pipeline").await;
    let uri = kc.serve_credentials().await;
    let tmp = tempfile::tempdir().unwrap();
    let token_file = tmp.path().join("token");
    let iam = |args: &[&str]| {
        let out = std::process::Command::new(crate::stage::lakeseal())
            .args(["iam", "--endpoint-url", &kc.endpoint])
            .args(args)
            .env("AWS_SHARED_CREDENTIALS_FILE", &kc.credentials)
            .env_remove("AWS_PROFILE")
            .env_remove("LAKESEAL_DATA_DIR")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    let made = iam(&[
        "create-workload-identity",
        "--name",
        "pipeline",
        "--role-name",
        "stage",
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    let first = std::fs::read_to_string(&token_file).unwrap();
    assert!(first.len() >= 43, "a 256-bit token");
    assert!(!made.contains(&first), "the token printed: {made}");
    assert!(made.contains("workload-identity/pipeline"), "{made}");
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(get(&uri, &[("Authorization", &first)]).0, 200);
    let listed = iam(&["list-workload-identities"]);
    assert!(listed.contains("\"RoleArn\""), "{listed}");
    assert!(!listed.contains(&first), "{listed}");

    let rotated = iam(&[
        "rotate-workload-identity-token",
        "--name",
        "pipeline",
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    let second = std::fs::read_to_string(&token_file).unwrap();
    assert_ne!(first, second);
    assert!(!rotated.contains(&second), "{rotated}");
    assert_eq!(get(&uri, &[("Authorization", &first)]).0, 401);
    assert_eq!(get(&uri, &[("Authorization", &second)]).0, 200);

    iam(&["delete-workload-identity", "--name", "pipeline"]);
    assert_eq!(get(&uri, &[("Authorization", &second)]).0, 401);
}
