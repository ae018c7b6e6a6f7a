//! `lakeseal`: the command line. Parses arguments, sets up tracing, calls the libraries.
//!
//! Flags follow the `aws kms` CLI (`--key-id`, `--plaintext`, `--ciphertext-blob`,
//! `--encryption-context k=v,...`), and `--output json` prints the AWS response member names, so
//! a script written for one reads naturally on the other.

mod args;
mod audit_cmd;
mod iam_remote;
mod input;
mod keys;
mod lake;
mod metrics_endpoint;
mod output;
mod scan_config;
mod secrets;
mod serve;
mod tls;
mod workload;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use lakeseal_keycore::iam::{Role, User};
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::aliases::{AliasRequest, DeleteAliasRequest, ListAliasesRequest};
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::ops::custom_key_stores::DescribeCustomKeyStoresRequest;
use lakeseal_keycore::ops::decrypt::DecryptRequest;
use lakeseal_keycore::ops::encrypt::EncryptRequest;
use lakeseal_keycore::ops::generate_data_key::GenerateDataKeyRequest;
use lakeseal_keycore::ops::generate_random::GenerateRandomRequest;
use lakeseal_keycore::ops::import::{GetParametersForImportRequest, ImportKeyMaterialRequest};
use lakeseal_keycore::ops::key_deletion::ScheduleKeyDeletionRequest;
use lakeseal_keycore::ops::key_policy::{GetKeyPolicyRequest, PutKeyPolicyRequest};
use lakeseal_keycore::ops::list_keys::ListKeysRequest;
use lakeseal_keycore::ops::re_encrypt::ReEncryptRequest;
use lakeseal_keycore::ops::rotation::{EnableKeyRotationRequest, ListKeyRotationsRequest};
use lakeseal_keycore::ops::sign::{SignRequest, VerifyRequest};
use lakeseal_keycore::ops::tags::{TagResourceRequest, UntagResourceRequest};
use lakeseal_keycore::rotation::Rotators;
use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};
use lakeseal_rotator_kafka::KafkaScramUser;
use lakeseal_rotator_postgres::PostgresAlternatingUsers;
use serde::Serialize;
use serde_json::json;

use crate::args::{
    AliasCmd, Cli, Command, CryptoCmd, IamCmd, KeyCmd, KeycoreCmd, LogFormat, StageCmd,
};
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => logs.json().with_current_span(true).init(),
        // Colour for a terminal; plain lines for files and log collectors.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // Errors quote what callers chose (key ids, descriptions): one line, always.
            eprintln!("error: {}", output::escape_controls(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let out = cli.output;
    let keycore_config = cli.keycore_config.as_deref();
    let data_dir = || -> anyhow::Result<&Path> {
        cli.data_dir
            .as_deref()
            .context("--data-dir is required (or set LAKESEAL_DATA_DIR)")
    };
    match cli.command {
        Command::Keycore(KeycoreCmd::Init(a)) => {
            let options = InitOptions {
                region: a.region,
                account_id: a.account_id,
                partition: a.partition,
            };
            let location = match &a.root_key_store {
                None => KeyCore::init(data_dir()?, &options)?,
                Some(id) => {
                    let config = serve::server_config(keycore_config)?;
                    let store = config
                        .key_stores
                        .iter()
                        .find(|s| s.id == *id)
                        .with_context(|| format!("--keycore-config has no key store {id}"))?;
                    KeyCore::init_with_root_in(data_dir()?, &options, store)?
                }
            };
            let s = open(data_dir()?, keycore_config)?;
            let admin = s.core.bootstrap_admin(&s.ctx).await?;
            let path = data_dir()?.join("admin-credentials");
            write_credentials(&path, &admin.credentials_file("default"))?;
            let mut answer = json!({
                "DataDir": data_dir()?.display().to_string(),
                "Region": location.region,
                "AccountId": location.account_id,
                "AdminAccessKeyId": admin.access_key_id,
                "AdminCredentialsFile": path.display().to_string(),
            });
            if !a.tls_names.is_empty() {
                let ca = tls::issue(data_dir()?, &a.tls_names)?;
                answer["CaFile"] = ca.display().to_string().into();
            }
            out.print(&answer)?;
        }
        Command::Keycore(KeycoreCmd::Serve(a)) => serve::keycore(data_dir()?, a).await?,
        Command::Iam(a) => match &a.endpoint_url {
            Some(endpoint) => {
                let remote = iam_remote::connect(endpoint, &a.profile, cli.ca_file.as_deref())?;
                iam_remote::iam(remote, a.cmd, out).await?
            }
            None => iam(&open(data_dir()?, keycore_config)?, a.cmd, out).await?,
        },
        Command::ScanConfig(a) => {
            let confirm = match (&a.endpoint_url, cli.data_dir.as_deref()) {
                (Some(url), _) => scan_config::Confirm::Endpoint {
                    url,
                    profile: &a.profile,
                    ca_file: cli.ca_file.as_deref(),
                },
                (None, Some(dir)) => scan_config::Confirm::DataDir(dir),
                (None, None) => scan_config::Confirm::No,
            };
            return scan_config::scan_config(&a.paths, confirm, out).await;
        }
        Command::Secret(a) => {
            let backend = match (&a.endpoint_url, &a.region) {
                (Some(endpoint), Some(region)) => {
                    secrets::Backend::remote(endpoint, &a.profile, region, cli.ca_file.as_deref())?
                }
                (Some(_), None) => bail!("--endpoint-url needs --region (or AWS_REGION)"),
                (None, _) => secrets::Backend::Local(open(data_dir()?, keycore_config)?),
            };
            secrets::secret(&backend, a.cmd, out).await?;
        }
        Command::Stage(StageCmd::Run {
            config,
            metrics_listen,
        }) => {
            let health = lakeseal_stage::health::Health::default();
            if let Some(addr) = metrics_listen {
                metrics_endpoint::serve(&addr, Some(health.clone())).await?;
            }
            return lake::run_stage(&config, health).await;
        }
        Command::Lake(cmd) => {
            return lake::lake(
                cmd,
                cli.data_dir.as_deref(),
                cli.ca_file.as_deref(),
                cli.output,
            )
            .await;
        }
        Command::Simulate(a) => {
            let now_ms =
                i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)?;
            let mut fleet = lakeseal_simulator::Fleet::new(a.devices, a.malformed, a.seed, now_ms)?;
            // Parsed here rather than by clap, whose errors repeat the argument: a password
            // given by mistake would be echoed to the terminal and the logs.
            let mut kafka = Vec::with_capacity(a.kafka.len());
            for property in &a.kafka {
                let (name, value) = property.split_once('=').ok_or_else(|| {
                    anyhow::anyhow!(
                        "--kafka expects NAME=VALUE, for instance security.protocol=SSL"
                    )
                })?;
                let value = lakeseal_stage::secret_ref::property_value(name, value)
                    .map_err(|why| anyhow::anyhow!("--kafka {name}: {why}"))?;
                kafka.push((name.to_owned(), value));
            }
            let run = lakeseal_simulator::Run {
                brokers: a.brokers,
                kafka,
                topic: a.topic,
                records: a.records,
                rate: a.rate,
                progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            let started = std::time::Instant::now();
            let produced = lakeseal_simulator::produce(&mut fleet, &run).await?;
            let seconds = started.elapsed().as_secs_f64();
            out.print(&json!({
                "Records": produced.records,
                "Malformed": produced.malformed,
                "Bytes": produced.bytes,
                "Seconds": (seconds * 100.0).round() / 100.0,
                "RecordsPerSecond": (produced.records as f64 / seconds).round(),
            }))?;
        }
        Command::Audit(cmd) => return audit_cmd::run(cmd, data_dir()?, out).await,
        Command::Key(cmd) => key(&open(data_dir()?, keycore_config)?, cmd, out).await?,
        Command::Alias(cmd) => alias(&open(data_dir()?, keycore_config)?, cmd, out).await?,
        Command::Crypto(cmd) => crypto(&open(data_dir()?, keycore_config)?, cmd, out).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// An opened data directory and the local operator who acts on it.
pub(crate) struct Session {
    core: KeyCore,
    who: Principal,
    ctx: RequestContext,
}

/// Opens the data directory with the key stores and engine settings of the server's
/// configuration file, when given.
fn open(dir: &Path, config: Option<&Path>) -> anyhow::Result<Session> {
    open_with(dir, &serve::server_config(config)?)
}

/// Opens the data directory with the engine's settings of a server `config` (the shortest
/// session, the alert thresholds).
pub(crate) fn open_with(
    dir: &Path,
    config: &lakeseal_keycore_server::ServerConfig,
) -> anyhow::Result<Session> {
    let options = Options {
        rotators: Rotators::builtin()
            .with(std::sync::Arc::new(PostgresAlternatingUsers))
            .with(std::sync::Arc::new(KafkaScramUser)),
        min_session_seconds: config.min_session_seconds,
        alerts: config.alerts,
        key_stores: config.key_stores.clone(),
        ..Options::default()
    };
    let core = KeyCore::open(dir, options)?;
    let who = Principal::account_root(&core.location().account_id);
    let ctx = RequestContext::local(concat!("lakeseal-cli/", env!("CARGO_PKG_VERSION")));
    Ok(Session { core, who, ctx })
}

fn emit<T: Serialize>(out: Output, result: lakeseal_keycore::Result<T>) -> anyhow::Result<()> {
    match result {
        Ok(value) => out.print(&value),
        Err(e) => bail!("An error occurred ({}): {e}", e.code()),
    }
}

async fn key(s: &Session, cmd: KeyCmd, out: Output) -> anyhow::Result<()> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    match cmd {
        KeyCmd::Create(a) => {
            let policy = a.policy.map(|p| p.text("--policy")).transpose()?;
            let req = CreateKeyRequest {
                description: a.description,
                key_spec: a.key_spec,
                key_usage: a.key_usage,
                origin: match a.protection_level.as_deref() {
                    None | Some("SOFTWARE") => a.origin,
                    Some("HSM") if a.origin.as_deref().is_none_or(|o| o == "AWS_CLOUDHSM") => {
                        Some("AWS_CLOUDHSM".into())
                    }
                    Some("HSM") => bail!("--protection-level HSM goes with --origin AWS_CLOUDHSM"),
                    Some(other) => bail!("--protection-level is SOFTWARE or HSM, not {other}"),
                },
                custom_key_store_id: a.custom_key_store_id,
                policy,
                tags: a.tags,
                bypass_policy_lockout_safety_check: a.bypass_policy_lockout_safety_check,
                ..Default::default()
            };
            emit(out, c.create_key(w, x, req).await)
        }
        KeyCmd::GetParametersForImport(a) => {
            let req = GetParametersForImportRequest {
                key_id: a.key_id,
                wrapping_algorithm: a.wrapping_algorithm,
                wrapping_key_spec: a.wrapping_key_spec,
            };
            emit(out, c.get_parameters_for_import(w, x, req).await)
        }
        KeyCmd::ImportKeyMaterial(a) => {
            let valid_to = a
                .valid_to
                .map(|t| {
                    time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
                        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                        .map_err(|e| anyhow::anyhow!("--valid-to is not an RFC 3339 time: {e}"))
                })
                .transpose()?;
            let req = ImportKeyMaterialRequest {
                key_id: a.key_id,
                import_token: a
                    .import_token
                    .bytes("--import-token")?
                    .expose_secret()
                    .to_vec(),
                encrypted_key_material: a
                    .encrypted_key_material
                    .secret("--encrypted-key-material")?
                    .expose_secret()
                    .to_vec(),
                expiration_model: a.expiration_model,
                valid_to,
            };
            emit(out, c.import_key_material(w, x, req).await)
        }
        KeyCmd::DeleteImportedKeyMaterial(k) => {
            let req = KeyIdRequest::new(k.key_id);
            emit(out, c.delete_imported_key_material(w, x, req).await)
        }
        KeyCmd::GetPolicy(k) => {
            let req = GetKeyPolicyRequest {
                key_id: k.key_id,
                policy_name: None,
            };
            emit(out, c.get_key_policy(w, x, req).await)
        }
        KeyCmd::PutPolicy(a) => {
            let req = PutKeyPolicyRequest {
                key_id: a.key_id,
                policy_name: None,
                policy: a.policy.text("--policy")?,
                bypass_policy_lockout_safety_check: a.bypass_policy_lockout_safety_check,
            };
            emit(out, c.put_key_policy(w, x, req).await)
        }
        KeyCmd::Describe(k) => emit(out, c.describe_key(w, x, k.into()).await),
        KeyCmd::List(p) => {
            let req = ListKeysRequest {
                limit: p.limit,
                marker: p.marker,
            };
            emit(out, c.list_keys(w, x, req).await)
        }
        KeyCmd::DescribeKeyStores(p) => {
            let req = DescribeCustomKeyStoresRequest {
                limit: p.limit,
                marker: p.marker,
                ..Default::default()
            };
            emit(out, c.describe_custom_key_stores(w, x, req).await)
        }
        KeyCmd::Enable(k) => emit(out, c.enable_key(w, x, k.into()).await),
        KeyCmd::Disable(k) => emit(out, c.disable_key(w, x, k.into()).await),
        KeyCmd::Rotate(k) => emit(out, c.rotate_key_on_demand(w, x, k.into()).await),
        KeyCmd::EnableRotation(a) => {
            let req = EnableKeyRotationRequest {
                key_id: a.key_id,
                rotation_period_in_days: a.rotation_period_in_days,
            };
            emit(out, c.enable_key_rotation(w, x, req).await)
        }
        KeyCmd::DisableRotation(k) => emit(out, c.disable_key_rotation(w, x, k.into()).await),
        KeyCmd::RotationStatus(k) => emit(out, c.get_key_rotation_status(w, x, k.into()).await),
        KeyCmd::ListRotations(a) => {
            let req = ListKeyRotationsRequest {
                key_id: a.key_id,
                limit: a.limit,
                marker: a.marker,
            };
            emit(out, c.list_key_rotations(w, x, req).await)
        }
        KeyCmd::ScheduleDeletion(a) => {
            let req = ScheduleKeyDeletionRequest {
                key_id: a.key_id,
                pending_window_in_days: a.pending_window_in_days,
            };
            emit(out, c.schedule_key_deletion(w, x, req).await)
        }
        KeyCmd::CancelDeletion(k) => emit(out, c.cancel_key_deletion(w, x, k.into()).await),
        KeyCmd::Tag(a) => {
            let req = TagResourceRequest {
                key_id: a.key_id,
                tags: a.tags,
            };
            emit(out, c.tag_resource(w, x, req).await)
        }
        KeyCmd::Untag(a) => {
            let req = UntagResourceRequest {
                key_id: a.key_id,
                tag_keys: a.tag_keys,
            };
            emit(out, c.untag_resource(w, x, req).await)
        }
        KeyCmd::ListTags(k) => emit(out, c.list_resource_tags(w, x, k.into()).await),
    }
}

async fn alias(s: &Session, cmd: AliasCmd, out: Output) -> anyhow::Result<()> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    match cmd {
        AliasCmd::Create(a) => emit(out, c.create_alias(w, x, a.into()).await),
        AliasCmd::Update(a) => emit(out, c.update_alias(w, x, a.into()).await),
        AliasCmd::Delete(a) => {
            let req = DeleteAliasRequest {
                alias_name: a.alias_name,
            };
            emit(out, c.delete_alias(w, x, req).await)
        }
        AliasCmd::List(a) => {
            let req = ListAliasesRequest {
                key_id: a.key_id,
                limit: a.limit,
                marker: a.marker,
            };
            emit(out, c.list_aliases(w, x, req).await)
        }
    }
}

async fn crypto(s: &Session, cmd: CryptoCmd, out: Output) -> anyhow::Result<()> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    match cmd {
        CryptoCmd::GenerateDataKey(a) => emit(out, c.generate_data_key(w, x, a.into()).await),
        CryptoCmd::GenerateDataKeyWithoutPlaintext(a) => {
            let req: GenerateDataKeyRequest = a.into();
            emit(out, c.generate_data_key_without_plaintext(w, x, req).await)
        }
        CryptoCmd::Encrypt(a) => {
            let req = EncryptRequest {
                encryption_algorithm: a.encryption_algorithm,
                key_id: a.key_id,
                plaintext: a.plaintext.bytes("--plaintext")?,
                encryption_context: a.encryption_context.unwrap_or_default(),
            };
            emit(out, c.encrypt(w, x, req).await)
        }
        CryptoCmd::Sign(a) => {
            let req = SignRequest {
                key_id: a.key_id,
                message: a.message.secret("--message")?.expose_secret().to_vec(),
                message_type: a.message_type,
                signing_algorithm: a.signing_algorithm,
            };
            emit(out, c.sign(w, x, req).await)
        }
        CryptoCmd::Verify(a) => {
            let req = VerifyRequest {
                key_id: a.key_id,
                message: a.message.secret("--message")?.expose_secret().to_vec(),
                message_type: a.message_type,
                signature: a.signature.secret("--signature")?.expose_secret().to_vec(),
                signing_algorithm: a.signing_algorithm,
            };
            emit(out, c.verify(w, x, req).await)
        }
        CryptoCmd::GetPublicKey(a) => emit(
            out,
            c.get_public_key(w, x, KeyIdRequest::new(a.key_id)).await,
        ),
        CryptoCmd::Decrypt(a) => {
            let req = DecryptRequest {
                encryption_algorithm: a.encryption_algorithm,
                ciphertext_blob: a
                    .ciphertext_blob
                    .bytes("--ciphertext-blob")?
                    .expose_secret()
                    .to_vec(),
                encryption_context: a.encryption_context.unwrap_or_default(),
                key_id: a.key_id,
            };
            emit(out, c.decrypt(w, x, req).await)
        }
        CryptoCmd::ReEncrypt(a) => {
            let req = ReEncryptRequest {
                ciphertext_blob: a
                    .ciphertext_blob
                    .bytes("--ciphertext-blob")?
                    .expose_secret()
                    .to_vec(),
                source_encryption_context: a.source_encryption_context.unwrap_or_default(),
                source_key_id: a.source_key_id,
                destination_key_id: a.destination_key_id,
                destination_encryption_context: a
                    .destination_encryption_context
                    .unwrap_or_default(),
            };
            emit(out, c.re_encrypt(w, x, req).await)
        }
        CryptoCmd::GenerateRandom(a) => {
            let req = GenerateRandomRequest {
                number_of_bytes: a.number_of_bytes,
            };
            emit(out, c.generate_random(w, x, req).await)
        }
    }
}

/// Completes on SIGTERM or SIGINT.
pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}

/// Writes a credentials file readable by its owner only; refuses to overwrite one.
pub(crate) fn write_credentials(
    path: &Path,
    contents: &lakeseal_envelope::SecretBytes,
) -> anyhow::Result<()> {
    fill_credentials(new_credentials_file(path)?, path, contents)
}

/// Creates an empty credentials file (0600, never over an existing one), to be filled once the
/// key exists.
pub(crate) fn new_credentials_file(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

/// Writes the credentials into the file made by [`new_credentials_file`] and syncs it.
pub(crate) fn fill_credentials(
    mut file: std::fs::File,
    path: &Path,
    contents: &lakeseal_envelope::SecretBytes,
) -> anyhow::Result<()> {
    use std::io::Write;
    file.write_all(contents.expose_secret())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

async fn iam(s: &Session, cmd: IamCmd, out: Output) -> anyhow::Result<()> {
    let (c, w, x) = (&s.core, &s.who, &s.ctx);
    match cmd {
        IamCmd::CreateWorkloadIdentity(_)
        | IamCmd::RotateWorkloadIdentityToken(_)
        | IamCmd::DeleteWorkloadIdentity(_)
        | IamCmd::ListWorkloadIdentities => out.print(&workload::local(s, &cmd).await?),
        IamCmd::CreateUser(a) => {
            let account = a
                .account_id
                .unwrap_or_else(|| c.location().account_id.clone());
            let result = c.create_user_in(w, x, &account, &a.user_name).await;
            emit(out, result.map(|u| json!({ "User": u.aws() })))
        }
        IamCmd::CreateAccessKey(a) => {
            // The file first, the key second: a key whose secret could not be written is never
            // created; a file whose key could not be stored is removed again.
            let written = std::cell::Cell::new(false);
            let result = c
                .create_access_key_delivered(w, x, &a.user_name, |key| {
                    write_credentials(&a.credentials_file, &key.credentials_file(&a.profile))
                        .map_err(|e| format!("{e:#}"))?;
                    written.set(true);
                    Ok(())
                })
                .await;
            let key = match result {
                Ok(key) => key,
                Err(e) => {
                    if written.get() {
                        let _ = std::fs::remove_file(&a.credentials_file);
                    }
                    bail!("An error occurred ({}): {e}", e.code())
                }
            };
            out.print(&json!({
                "AccessKey": {
                    "UserName": a.user_name,
                    "AccessKeyId": key.access_key_id,
                    "Status": "Active",
                },
                "UserArn": key.owner_arn,
                "CredentialsFile": a.credentials_file.display().to_string(),
            }))
        }
        IamCmd::DeleteAccessKey(a) => {
            let result = c
                .delete_access_key(w, x, &a.user_name, &a.access_key_id)
                .await
                .map(|()| json!({}));
            emit(out, result)
        }
        IamCmd::ListAccessKeys(a) => {
            let result = c
                .list_access_keys(w, x, &a.user_name)
                .await
                .map(|keys| json!({ "AccessKeyMetadata": keys, "IsTruncated": false }));
            emit(out, result)
        }
        IamCmd::PutUserPolicy(a) => {
            let document = a.policy_document.text("--policy-document")?;
            let result = c
                .put_user_policy(w, x, &a.user_name, &a.policy_name, &document)
                .await
                .map(|()| json!({}));
            emit(out, result)
        }
        IamCmd::CreateRole(a) => {
            let trust = a
                .assume_role_policy_document
                .text("--assume-role-policy-document")?;
            let result = c.create_role(w, x, &a.role_name, &trust).await;
            emit(out, result.map(|r| json!({ "Role": r.aws() })))
        }
        IamCmd::PutRolePolicy(a) => {
            let document = a.policy_document.text("--policy-document")?;
            let result = c
                .put_role_policy(w, x, &a.role_name, &a.policy_name, &document)
                .await
                .map(|()| json!({}));
            emit(out, result)
        }
        IamCmd::List => {
            let users = c.list_users_of(w, x).await;
            let roles = c.list_roles_of(w, x).await;
            let result = users.and_then(|users| {
                Ok(json!({
                    "Users": users.iter().map(User::aws).collect::<Vec<_>>(),
                    "Roles": roles?.iter().map(Role::aws).collect::<Vec<_>>(),
                }))
            });
            emit(out, result)
        }
    }
}

impl From<args::KeyIdArg> for KeyIdRequest {
    fn from(a: args::KeyIdArg) -> Self {
        KeyIdRequest::new(a.key_id)
    }
}

impl From<args::AliasArgs> for AliasRequest {
    fn from(a: args::AliasArgs) -> Self {
        AliasRequest {
            alias_name: a.alias_name,
            target_key_id: a.target_key_id,
        }
    }
}

impl From<args::DataKeyArgs> for GenerateDataKeyRequest {
    fn from(a: args::DataKeyArgs) -> Self {
        GenerateDataKeyRequest {
            key_id: a.key_id,
            key_spec: a.key_spec,
            number_of_bytes: a.number_of_bytes,
            encryption_context: a.encryption_context.unwrap_or_default(),
        }
    }
}
