//! The composition root of the key client: turns a `[keycore]` section (or a reader's flags)
//! into a key service. Only the CLI builds an embedded key core, so the stage library reaches
//! keys through the key client alone and does not compile the engine.

use anyhow::Context;
use lakeseal_keyclient::{Either, InProcess, Remote, RemoteCredentials};
use lakeseal_keycore::{KeyCore, Options, Principal};
use lakeseal_stage::config::KeycoreConfig;

/// Opens the embedded key core (calling it as the configured user, or as the account root for
/// an operator's own commands) or reaches the remote one.
pub(crate) fn service(config: &KeycoreConfig) -> anyhow::Result<Either> {
    Ok(match config {
        KeycoreConfig::Embedded { data_dir, user } => {
            let core = KeyCore::open(data_dir, Options::default()).context("keycore.data_dir")?;
            let who = match user {
                Some(user) => core.local_user(user).context("keycore.user")?,
                None => Principal::account_root(&core.location().account_id),
            };
            Either::InProcess(InProcess::new(core, who))
        }
        KeycoreConfig::Remote {
            endpoint,
            region,
            credentials_file,
            profile,
        } => {
            let credentials = RemoteCredentials::from_file(credentials_file, profile)
                .context("keycore.credentials_file")?;
            Either::Remote(Box::new(
                Remote::new(endpoint, region, credentials).context("keycore.endpoint")?,
            ))
        }
    })
}
