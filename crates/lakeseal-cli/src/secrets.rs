//! `lakeseal secret …`: each command builds the Secrets Manager request and sends it to the
//! key core — opened from the data directory, or serving at `--endpoint-url` — then prints the
//! response with AWS's member names. Only `get` prints a value, as `SecretString` or
//! `SecretBinary`, and wipes its copies.

use std::path::Path;

use anyhow::bail;
use lakeseal_envelope::SecretBytes;
use lakeseal_keyclient::{Remote, RemoteCredentials, TrustRoots};
use lakeseal_keycore::Service;
use lakeseal_kms_types::secrets::SecretIdRequest;
use lakeseal_kms_types::secrets::SecretRef;
use lakeseal_kms_types::secrets::describe::{
    ListSecretsRequest, ListSecretsResponse, SecretMetadata,
};
use lakeseal_kms_types::secrets::manage::{
    DeleteSecretRequest, DeleteSecretResponse, UpdateSecretVersionStageRequest,
};
use lakeseal_kms_types::secrets::read::{GetSecretValueRequest, GetSecretValueResponse};
use lakeseal_kms_types::secrets::rotate::{RotateSecretRequest, RotateSecretResponse};
use lakeseal_kms_types::secrets::write::{
    CreateSecretRequest, CreateSecretResponse, PutSecretValueRequest, PutSecretValueResponse,
};

use crate::Session;
use crate::args::{SecretCmd, ValueArgs};
use crate::output::Output;

/// Where the requests go.
pub(crate) enum Backend {
    /// The data directory, opened by this process.
    Local(Session),
    /// A running key core, over HTTP with SigV4.
    Remote(Box<Remote>),
}

impl Backend {
    pub(crate) fn remote(
        endpoint: &str,
        profile: &str,
        region: &str,
        ca_file: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let credentials =
            RemoteCredentials::from_file(&crate::iam_remote::credentials_path()?, profile)?;
        Ok(Backend::Remote(Box::new(Remote::with_roots(
            endpoint,
            region,
            credentials,
            &TrustRoots::from_ca_file(ca_file),
        )?)))
    }
}

/// One operation on either backend: the engine method locally, `secretsmanager.<Op>` remotely.
/// Errors read as the AWS CLI words them.
macro_rules! call {
    ($backend:expr, $method:ident, $operation:literal, $request:expr) => {{
        let request = $request;
        match $backend {
            Backend::Local(s) => s.core.$method(&s.who, &s.ctx, request).await.map_err(|e| {
                anyhow::anyhow!(
                    "An error occurred ({}): {e}",
                    e.code_in(Service::SecretsManager).as_str()
                )
            }),
            Backend::Remote(r) => r.secrets($operation, &request).await.map_err(|e| match e {
                lakeseal_keyclient::Error::Refused { code, message } => {
                    anyhow::anyhow!("An error occurred ({code}): {message}")
                }
                other => other.into(),
            }),
        }
    }};
}

/// `--secret-string` or `--secret-binary`, read from their files or standard input.
fn value(args: &ValueArgs) -> anyhow::Result<(Option<SecretBytes>, Option<SecretBytes>)> {
    let string = match &args.secret_string {
        Some(source) => {
            let bytes = source.secret("--secret-string")?;
            if std::str::from_utf8(bytes.expose_secret()).is_err() {
                bail!("--secret-string is not UTF-8 text; give bytes with --secret-binary");
            }
            Some(bytes)
        }
        None => None,
    };
    let binary = args
        .secret_binary
        .as_ref()
        .map(|source| source.secret("--secret-binary"))
        .transpose()?;
    Ok((string, binary))
}

pub(crate) async fn secret(backend: &Backend, cmd: SecretCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        SecretCmd::Create(a) => {
            let (secret_string, secret_binary) = value(&a.value)?;
            let req = CreateSecretRequest {
                name: a.name,
                client_request_token: a.client_request_token,
                description: a.description,
                kms_key_id: a.kms_key_id,
                secret_string,
                secret_binary,
                tags: a.tags,
                ..Default::default()
            };
            let made: CreateSecretResponse = call!(backend, create_secret, "CreateSecret", req)?;
            out.print(&made)
        }
        SecretCmd::Get(a) => {
            let req = GetSecretValueRequest {
                secret_id: a.secret_id,
                version_id: a.version_id,
                version_stage: a.version_stage,
            };
            let got: GetSecretValueResponse =
                call!(backend, get_secret_value, "GetSecretValue", req)?;
            out.print_secret(&got)
        }
        SecretCmd::Put(a) => {
            let (secret_string, secret_binary) = value(&a.value)?;
            if secret_string.is_none() && secret_binary.is_none() {
                bail!("give --secret-string or --secret-binary");
            }
            let req = PutSecretValueRequest {
                secret_id: a.secret_id,
                client_request_token: a.client_request_token,
                secret_string,
                secret_binary,
                version_stages: a.version_stages,
            };
            let put: PutSecretValueResponse =
                call!(backend, put_secret_value, "PutSecretValue", req)?;
            out.print(&put)
        }
        SecretCmd::Describe(a) => {
            let described: SecretMetadata = call!(
                backend,
                describe_secret,
                "DescribeSecret",
                SecretIdRequest::new(a.secret_id)
            )?;
            out.print(&described)
        }
        SecretCmd::List(a) => {
            let req = ListSecretsRequest {
                include_planned_deletion: a.include_planned_deletion,
                max_results: a.max_results,
                next_token: a.next_token,
                ..Default::default()
            };
            let listed: ListSecretsResponse = call!(backend, list_secrets, "ListSecrets", req)?;
            out.print(&listed)
        }
        SecretCmd::Rotate(a) => {
            let req = RotateSecretRequest {
                secret_id: a.secret_id,
                client_request_token: a.client_request_token,
                rotation_lambda_arn: a.rotation_lambda_arn,
                rotation_rules: a.rotation_rules,
                rotate_immediately: Some(!a.no_rotate_immediately),
            };
            let rotated: RotateSecretResponse = call!(backend, rotate_secret, "RotateSecret", req)?;
            out.print(&rotated)
        }
        SecretCmd::CancelRotation(a) => {
            let cancelled: RotateSecretResponse = call!(
                backend,
                cancel_rotate_secret,
                "CancelRotateSecret",
                SecretIdRequest::new(a.secret_id)
            )?;
            out.print(&cancelled)
        }
        SecretCmd::Delete(a) => {
            let req = DeleteSecretRequest {
                secret_id: a.secret_id,
                recovery_window_in_days: a.recovery_window_in_days,
                force_delete_without_recovery: a.force_delete_without_recovery.then_some(true),
            };
            let deleted: DeleteSecretResponse = call!(backend, delete_secret, "DeleteSecret", req)?;
            out.print(&deleted)
        }
        SecretCmd::Restore(a) => {
            let restored: SecretRef = call!(
                backend,
                restore_secret,
                "RestoreSecret",
                SecretIdRequest::new(a.secret_id)
            )?;
            out.print(&restored)
        }
        SecretCmd::UpdateStage(a) => {
            let req = UpdateSecretVersionStageRequest {
                secret_id: a.secret_id,
                version_stage: a.version_stage,
                remove_from_version_id: a.remove_from_version_id,
                move_to_version_id: a.move_to_version_id,
            };
            let updated: SecretRef = call!(
                backend,
                update_secret_version_stage,
                "UpdateSecretVersionStage",
                req
            )?;
            out.print(&updated)
        }
    }
}
