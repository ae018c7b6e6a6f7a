//! A stream of control-plane writes against a data directory, for the crash-safety test.
//!
//! Creates keys and rotates them without end, printing one line per acknowledged operation
//! (`created <key id>` / `rotated <key id> <version>`) only after the call returned, so every
//! printed line is an operation the key core acknowledged as durable.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use lakeseal_keycore::ops::KeyIdRequest;
use lakeseal_keycore::ops::create_key::CreateKeyRequest;
use lakeseal_keycore::{KeyCore, Options, Principal, RequestContext};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: keycore-churn DATA_DIR")?
        .into();
    let core = KeyCore::open(&dir, Options::default())?;
    let who = Principal::account_root(&core.location().account_id);
    let ctx = RequestContext::local("keycore-churn");
    let mut out = std::io::stdout().lock();
    loop {
        let key = core
            .create_key(&who, &ctx, CreateKeyRequest::default())
            .await?
            .key_metadata
            .key_id;
        writeln!(out, "created {key}")?;
        out.flush()?;
        for _ in 0..3 {
            let rotated = core
                .rotate_key_on_demand(&who, &ctx, KeyIdRequest::new(&key))
                .await?;
            writeln!(out, "rotated {key} {}", rotated.key_version)?;
            out.flush()?;
        }
    }
}
