//! A key core that stops mid-rotation, for the test that kills it there with SIGKILL.
//!
//! Opens DATA_DIR with the real PostgreSQL rotator wrapped so that, once `setSecret` has changed
//! the database, it prints `setSecret done` and waits forever instead of going on to
//! `testSecret` and `finishSecret`. The test then kills the process: the moment the issue asks
//! about, with the new password live in the database and `AWSCURRENT` not yet moved.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use lakeseal_keycore::rotation::{Rotating, RotationError, Rotator, Rotators};
use lakeseal_keycore::{KeyCore, Options, Principal, RequestContext};
use lakeseal_kms_types::secrets::SecretValue;
use lakeseal_kms_types::secrets::rotate::RotateSecretRequest;
use lakeseal_rotator_postgres::PostgresAlternatingUsers;

#[derive(Debug)]
struct StopAfterSet(PostgresAlternatingUsers);

#[async_trait::async_trait]
impl Rotator for StopAfterSet {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    async fn create_secret(
        &self,
        secret: &Rotating<'_>,
        current: &SecretValue,
    ) -> Result<SecretValue, RotationError> {
        self.0.create_secret(secret, current).await
    }
    async fn set_secret(
        &self,
        secret: &Rotating<'_>,
        current: &SecretValue,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        self.0.set_secret(secret, current, pending).await?;
        {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "setSecret done");
            let _ = out.flush();
        }
        std::future::pending().await
    }
    async fn test_secret(
        &self,
        secret: &Rotating<'_>,
        pending: &SecretValue,
    ) -> Result<(), RotationError> {
        self.0.test_secret(secret, pending).await
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let usage = "usage: rotation-crash DATA_DIR SECRET_ID";
    let dir: PathBuf = args.next().context(usage)?.into();
    let secret_id = args
        .next()
        .context(usage)?
        .into_string()
        .ok()
        .context(usage)?;
    let options = Options {
        rotators: Rotators::builtin().with(Arc::new(StopAfterSet(PostgresAlternatingUsers))),
        ..Options::default()
    };
    let core = KeyCore::open(&dir, options)?;
    let who = Principal::account_root(&core.location().account_id);
    let ctx = RequestContext::local("rotation-crash");
    core.rotate_secret(
        &who,
        &ctx,
        RotateSecretRequest {
            secret_id,
            ..Default::default()
        },
    )
    .await?;
    anyhow::bail!("the rotation finished, but it should have stopped after setSecret")
}
