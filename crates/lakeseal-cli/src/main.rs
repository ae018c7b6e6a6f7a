//! `lakeseal`: the command line. Parses arguments, sets up tracing, calls the libraries.
//!
//! Flags follow the `aws kms` CLI (`--key-id`, `--plaintext`, `--ciphertext-blob`,
//! `--encryption-context k=v,...`), and `--output json` prints the AWS response member names, so
//! a script written for one reads naturally on the other.

mod args;
mod audit_cmd;
mod credentials_file;
mod crypto_cmd;
mod iam_cmd;
mod iam_remote;
mod input;
mod key_cmd;
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
use lakeseal_keycore::rotation::Rotators;
use lakeseal_keycore::{InitOptions, KeyCore, Options, Principal, RequestContext};
use lakeseal_rotator_kafka::KafkaScramUser;
use lakeseal_rotator_postgres::PostgresAlternatingUsers;
use serde::Serialize;
use serde_json::json;

use crate::args::{Cli, Command, KeycoreCmd, LogFormat, StageCmd};
use crate::credentials_file::write_credentials;
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
            let s = open(data_dir()?, keycore_config).await?;
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
            None => iam_cmd::iam(&open(data_dir()?, keycore_config).await?, a.cmd, out).await?,
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
                (None, _) => secrets::Backend::Local(open(data_dir()?, keycore_config).await?),
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
        Command::Key(cmd) => {
            key_cmd::key(&open(data_dir()?, keycore_config).await?, cmd, out).await?
        }
        Command::Alias(cmd) => {
            key_cmd::alias(&open(data_dir()?, keycore_config).await?, cmd, out).await?
        }
        Command::Crypto(cmd) => {
            crypto_cmd::crypto(&open(data_dir()?, keycore_config).await?, cmd, out).await?
        }
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
/// configuration file, when given. A key store whose PIN is a `secret://` of this key core gets
/// it now (read and audited as a served key core's scheduler would), so its keys work offline.
async fn open(dir: &Path, config: Option<&Path>) -> anyhow::Result<Session> {
    let session = open_with(dir, &serve::server_config(config)?)?;
    session.core.read_key_store_pins().await;
    Ok(session)
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

/// Prints a key core answer, or says its error as the AWS CLI does.
pub(crate) fn emit<T: Serialize>(
    out: Output,
    result: lakeseal_keycore::Result<T>,
) -> anyhow::Result<()> {
    match result {
        Ok(value) => out.print(&value),
        Err(e) => bail!("An error occurred ({}): {e}", e.code()),
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
