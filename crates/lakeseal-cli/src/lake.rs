//! `lakeseal stage run` and `lakeseal lake read|verify|unwrap-key`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lakeseal_stage::config::{CredentialsConfig, KeycoreConfig, StageConfig};
use lakeseal_stage::health::Health;
use lakeseal_stage::keys::{self, KeyClient};
use lakeseal_stage::lake::{Lake, LakeFile, Location, S3Location};
use lakeseal_stage::run::Stage;
use lakeseal_stage::secrets::StageSecrets;
use lakeseal_stage::{read, verify};
use zeroize::Zeroizing;

use crate::args::{KeySource, LakeCmd, ReadFormat};
use crate::output::Output;

fn load(path: &Path) -> anyhow::Result<StageConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    StageConfig::from_toml(&text).with_context(|| path.display().to_string())
}

/// Runs the stage until SIGTERM or SIGINT, keeping `health` up to date.
pub(crate) async fn run_stage(config: &Path, health: Health) -> anyhow::Result<ExitCode> {
    let config = load(config)?;
    let keys = keys::key_client(
        crate::keys::service(&config.keycore)?,
        config.keycore_rate,
        config.window.max_age,
        keys::STAGE_RETRIES,
    );
    keys::check_key(&config, &keys).await?;
    let secrets = StageSecrets::resolve(&config, keys.service().clone()).await?;
    let stage = Stage::new(
        config,
        keys,
        tokio::runtime::Handle::current(),
        health,
        secrets,
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let mut worker = tokio::task::spawn_blocking(move || stage.run(&flag));
    eprintln!("lakeseal stage running");
    let result = tokio::select! {
        r = &mut worker => r,
        () = crate::shutdown_signal() => {
            stop.store(true, Ordering::Relaxed);
            worker.await
        }
    };
    result.context("the stage's thread failed")??;
    Ok(ExitCode::SUCCESS)
}

fn key_client(
    source: &KeySource,
    data_dir: Option<&Path>,
    ca_file: Option<&Path>,
) -> anyhow::Result<KeyClient> {
    let one = std::num::NonZeroU32::MIN.saturating_add(99);
    let mut rate = (one, one);
    let config = match (&source.config, &source.endpoint, data_dir) {
        (Some(path), _, _) => {
            let stage = load(path)?;
            rate = stage.keycore_rate;
            stage.keycore
        }
        (None, Some(endpoint), _) => KeycoreConfig::Remote {
            endpoint: endpoint.clone(),
            region: source.region.clone().context("--region is required")?,
            ca_file: ca_file.map(Path::to_path_buf),
            credentials: match &source.credentials_file {
                Some(path) => CredentialsConfig::File {
                    path: path.clone(),
                    profile: source.profile.clone(),
                },
                None => CredentialsConfig::Environment,
            },
            assume_role: None,
        },
        (None, None, Some(dir)) => KeycoreConfig::Embedded {
            data_dir: dir.to_path_buf(),
            user: None,
        },
        (None, None, None) => {
            bail!("say which key core unwraps the keys: --config, --endpoint or --data-dir")
        }
    };
    Ok(keys::key_client(
        crate::keys::service(&config)?,
        rate,
        Duration::from_secs(300),
        keys::READER_RETRIES,
    ))
}

/// A file named on the command line, local or `s3://bucket/key`.
fn one_file(name: &str) -> anyhow::Result<(Lake, LakeFile)> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let (lake, path) =
        match Location::parse(name, true, endpoint, None).map_err(anyhow::Error::msg)? {
            // The URL's "prefix" is the object's key; the lake is the bucket's root.
            Location::S3(object) if object.prefix.is_empty() => {
                bail!("{name}: name an object, s3://bucket/key")
            }
            Location::S3(object) => {
                let bucket = S3Location {
                    prefix: String::new(),
                    ..object.clone()
                };
                (
                    Lake::open(&Location::S3(bucket))?,
                    PathBuf::from(object.prefix),
                )
            }
            Location::Local(path) => (Lake::from_url(".")?, path),
        };
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (topic, partition, first, last) = lake_name(file_name).unwrap_or_default();
    Ok((
        lake,
        LakeFile {
            path,
            topic,
            partition,
            first,
            last,
        },
    ))
}

fn lake_name(name: &str) -> Option<(String, i32, i64, i64)> {
    lakeseal_stage::lake::parse_file_name(name).map(|(t, p, f, l)| (t.to_owned(), p, f, l))
}

/// Every file under the given files, directories and `s3://bucket/prefix` URLs.
async fn files_under(paths: &[String]) -> anyhow::Result<Vec<(Lake, LakeFile)>> {
    let mut files = Vec::new();
    for p in paths {
        if p.starts_with("s3://") || Path::new(p).is_dir() {
            let lake = Lake::from_url(p)?;
            for f in lake
                .list("")
                .await
                .with_context(|| format!("listing {p}"))?
            {
                files.push((lake.clone(), f));
            }
        } else {
            files.push(one_file(p)?);
        }
    }
    Ok(files)
}

pub(crate) async fn lake(
    cmd: LakeCmd,
    data_dir: Option<&Path>,
    ca_file: Option<&Path>,
    output: Output,
) -> anyhow::Result<ExitCode> {
    match cmd {
        LakeCmd::Read {
            paths,
            format,
            keys,
        } => {
            let client = key_client(&keys, data_dir, ca_file)?;
            let mut out = std::io::stdout().lock();
            for (lake, file) in files_under(&paths).await? {
                let batches = read::read_file(&client, &lake, &file)
                    .await
                    .with_context(|| file.path.display().to_string())?;
                let written = match format {
                    ReadFormat::JsonLines => {
                        let mut writer = arrow_json::LineDelimitedWriter::new(&mut out);
                        writer.write_batches(&batches.iter().collect::<Vec<_>>())?;
                        writer.finish()
                    }
                    ReadFormat::Table => {
                        arrow_cast::pretty::pretty_format_batches(&batches).map(|table| {
                            let _ = writeln!(out, "{}\n{table}", file.path.display());
                        })
                    }
                };
                written?;
            }
        }
        LakeCmd::Verify {
            table,
            path,
            brokers,
            topic,
            keys,
        } => {
            let client = key_client(&keys, data_dir, ca_file)?;
            let lake = Lake::from_url(&path).with_context(|| path.clone())?;
            let report = verify::verify(&client, &lake, &table, brokers.as_deref(), &topic)
                .await
                .with_context(|| format!("{table} in {path}"))?;
            output.print(&report)?;
            return Ok(if report.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
        LakeCmd::UnwrapKey { file, keys } => {
            let client = key_client(&keys, data_dir, ca_file)?;
            let (lake, file) = one_file(&file)?;
            let bytes = lake
                .get(&file)
                .await
                .with_context(|| format!("{}", file.path.display()))?;
            let material = read::key_material(&bytes)?;
            let key = read::unwrap_key(&client, &material).await?;
            print_key(output, &material.master_key_id, key.expose_secret())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a data key, asked for explicitly (the one command that prints key bytes), with the
/// member names of `Decrypt`'s answer: `KeyId` (the master key) and `Plaintext` (base64). The
/// text is made in one buffer that is wiped when dropped, not through `serde_json::Value`;
/// standard output's own small buffer is the one copy left unwiped.
fn print_key(output: Output, key_id: &str, key: &[u8]) -> anyhow::Result<()> {
    let mut text = Zeroizing::new(String::with_capacity(
        key_id.len() + key.len().div_ceil(3) * 4 + 64,
    ));
    match output {
        Output::Json => {
            text.push_str("{\n  \"KeyId\": ");
            text.push_str(&serde_json::to_string(key_id)?);
            text.push_str(",\n  \"Plaintext\": \"");
            STANDARD.encode_string(key, &mut text);
            text.push_str("\"\n}\n");
        }
        Output::Text => {
            text.push_str("KeyId\t");
            text.push_str(&crate::output::escape_controls(key_id));
            text.push_str("\nPlaintext\t");
            STANDARD.encode_string(key, &mut text);
            text.push('\n');
        }
    }
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}
