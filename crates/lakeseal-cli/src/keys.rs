//! The composition root of the key client: turns a `[keycore]` section (or a reader's flags)
//! into a key service. Only the CLI builds an embedded key core, so the stage library reaches
//! keys through the key client alone and does not compile the engine.

use anyhow::Context;
use lakeseal_keyclient::{
    CONTAINER_URI_ENV, CredentialSource, Either, InProcess, Remote, TrustRoots,
};
use lakeseal_keycore::{KeyCore, Options, Principal};
use lakeseal_stage::config::{CredentialsConfig, KeycoreConfig};

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
            ca_file,
            credentials,
            assume_role,
        } => {
            let mut source = source(credentials)?;
            if let Some(role) = assume_role {
                source = CredentialSource::AssumeRole {
                    source: Box::new(source),
                    endpoint: endpoint.clone(),
                    region: region.clone(),
                    role_arn: role.role_arn.clone(),
                    session_name: role.session_name.clone(),
                    duration_seconds: role.duration_seconds,
                };
            }
            Either::Remote(Box::new(
                Remote::with_roots(
                    endpoint,
                    region,
                    source,
                    &TrustRoots::from_ca_file(ca_file.as_deref()),
                )
                .context("keycore.endpoint")?,
            ))
        }
    })
}

/// The key client's credential source for a configuration.
fn source(config: &CredentialsConfig) -> anyhow::Result<CredentialSource> {
    Ok(match config {
        CredentialsConfig::File { path, profile } => CredentialSource::File {
            path: path.clone(),
            profile: profile.clone(),
        },
        CredentialsConfig::Container { uri, token_file } => CredentialSource::Container {
            uri: uri.clone(),
            token_file: token_file.clone(),
        },
        CredentialsConfig::Environment => {
            CredentialSource::container_from_env()?.with_context(|| {
                format!(
                    "no credentials for the key core: set keycore.credentials_file, \
                     keycore.container_credentials_uri, or {CONTAINER_URI_ENV}"
                )
            })?
        }
    })
}
