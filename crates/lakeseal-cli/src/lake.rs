//! `lakeseal stage run` and `lakeseal lake read|verify|unwrap-key`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use arrow_array::RecordBatch;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use lakeseal_stage::config::{KeycoreConfig, StageConfig};
use lakeseal_stage::keys::{self, KeyClient};
use lakeseal_stage::read::{self, LakeFile};
use lakeseal_stage::run::Stage;
use serde_json::json;

use crate::args::{KeySource, LakeCmd, ReadFormat};

fn load(path: &Path) -> anyhow::Result<StageConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    StageConfig::from_toml(&text).with_context(|| path.display().to_string())
}

/// Runs the stage until SIGTERM or SIGINT.
pub(crate) async fn run_stage(config: &Path) -> anyhow::Result<ExitCode> {
    let config = load(config)?;
    let keys = keys::connect(
        &config.keycore,
        config.keycore_rate,
        config.window.max_age,
        keys::STAGE_RETRIES,
    )?;
    let stage = Stage::new(config, keys, tokio::runtime::Handle::current())?;
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

fn key_client(source: &KeySource, data_dir: Option<&Path>) -> anyhow::Result<KeyClient> {
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
            credentials_file: source
                .credentials_file
                .clone()
                .context("--credentials-file is required")?,
            profile: source.profile.clone(),
        },
        (None, None, Some(dir)) => KeycoreConfig::Embedded {
            data_dir: dir.to_path_buf(),
        },
        (None, None, None) => {
            bail!("say which key core unwraps the keys: --config, --endpoint or --data-dir")
        }
    };
    Ok(keys::connect(
        &config,
        rate,
        Duration::from_secs(300),
        keys::READER_RETRIES,
    )?)
}

/// A file's rows, decrypted through the key core.
async fn decrypt(keys: &KeyClient, path: &Path) -> anyhow::Result<Vec<RecordBatch>> {
    let bytes = Bytes::from(std::fs::read(path).with_context(|| format!("{}", path.display()))?);
    let material = read::key_material(&bytes).with_context(|| format!("{}", path.display()))?;
    let key = read::unwrap_key(keys, &material)
        .await
        .with_context(|| format!("{}: unwrapping its key", path.display()))?;
    read::decrypt(bytes, &key).with_context(|| format!("{}", path.display()))
}

fn files_under(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(read::list(p)?.into_iter().map(|f| f.path));
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

pub(crate) async fn lake(cmd: LakeCmd, data_dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    match cmd {
        LakeCmd::Read {
            paths,
            format,
            keys,
        } => {
            let client = key_client(&keys, data_dir)?;
            let mut out = std::io::stdout().lock();
            for path in files_under(&paths)? {
                let batches = decrypt(&client, &path).await?;
                let written = match format {
                    ReadFormat::JsonLines => {
                        let mut writer = arrow_json::LineDelimitedWriter::new(&mut out);
                        writer.write_batches(&batches.iter().collect::<Vec<_>>())?;
                        writer.finish()
                    }
                    ReadFormat::Table => {
                        arrow_cast::pretty::pretty_format_batches(&batches).map(|table| {
                            let _ = writeln!(out, "{}\n{table}", path.display());
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
            keys,
        } => return verify(&key_client(&keys, data_dir)?, &path, &table, brokers).await,
        LakeCmd::UnwrapKey { file, keys } => {
            let client = key_client(&keys, data_dir)?;
            let bytes =
                Bytes::from(std::fs::read(&file).with_context(|| format!("{}", file.display()))?);
            let material = read::key_material(&bytes)?;
            let key = read::unwrap_key(&client, &material).await?;
            // Asked for explicitly: the one command that prints key bytes.
            println!("{}", STANDARD.encode(key.expose_secret()));
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn verify(
    keys: &KeyClient,
    root: &Path,
    table: &str,
    brokers: Option<String>,
) -> anyhow::Result<ExitCode> {
    let files: Vec<LakeFile> = read::list(&root.join(table))
        .with_context(|| format!("listing {}", root.join(table).display()))?;
    let mut problems = Vec::new();
    let mut rows = 0usize;
    for f in &files {
        match decrypt(keys, &f.path).await {
            Ok(batches) => rows += batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    let coverage = read::coverage(&files);
    let mut partitions = BTreeMap::new();
    for ((topic, partition), c) in &coverage {
        problems.extend(
            c.problems
                .iter()
                .map(|p| format!("{topic}/{partition}: {p}")),
        );
        partitions.insert(format!("{topic}/{partition}"), json!(c));
    }
    if let Some(brokers) = brokers {
        let topics: std::collections::BTreeSet<&str> =
            coverage.keys().map(|(t, _)| t.as_str()).collect();
        for topic in topics {
            // Blocking for a moment is fine in a one-shot command.
            let marks = read::watermarks(&brokers, topic)?;
            for (partition, (low, high)) in marks {
                let c = coverage.get(&(topic.to_owned(), partition));
                let (first, last) = c.map_or((None, None), |c| (c.first, c.last));
                let want = (high > low).then_some((low, high - 1));
                let have = first.zip(last);
                let ok = match (want, have) {
                    (None, None) => true,
                    (Some((lo, hi)), Some((f, l))) => f <= lo && l == hi,
                    _ => false,
                };
                if !ok {
                    problems.push(format!(
                        "{topic}/{partition}: the topic holds offsets {want:?}, the lake covers {have:?}"
                    ));
                }
            }
        }
    }
    let report = json!({
        "Table": table,
        "Files": files.len(),
        "Rows": rows,
        "Partitions": partitions,
        "Problems": problems,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
