//! The key client a `[keycore]` section describes: the embedded key core or a remote one, behind
//! the client's rate limit and retries, under the DEK cache.

use std::num::NonZeroU32;
use std::time::Duration;

use lakeseal_keyclient::{
    DekCache, DekCacheConfig, Either, InProcess, KeyService, Remote, RemoteCredentials, Resilient,
    RetryPolicy,
};
use lakeseal_keycore::{KeyCore, Options, Principal};

use crate::config::{KeycoreConfig, StageConfig};
use crate::{Error, Result};

/// The key client of a stage or a lake reader.
pub type KeyClient = DekCache<Resilient<Either>>;

/// The stage's retries: short enough that its own loop (pause, back off, retry) stays in charge
/// of long outages and keeps serving its consumer group meanwhile.
pub const STAGE_RETRIES: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    base: Duration::from_millis(100),
    cap: Duration::from_secs(1),
    max_elapsed: Duration::from_secs(3),
};

/// A reader's retries (`lake read|verify|unwrap-key`): nothing else to do meanwhile, so patient.
pub const READER_RETRIES: RetryPolicy = RetryPolicy {
    max_attempts: 12,
    base: Duration::from_millis(100),
    cap: Duration::from_secs(5),
    max_elapsed: Duration::from_secs(60),
};

/// Opens (embedded) or reaches (remote) the key core; `rate` is requests a second and burst;
/// cached keys live at most `time_to_live`.
pub fn connect(
    config: &KeycoreConfig,
    rate: (NonZeroU32, NonZeroU32),
    time_to_live: Duration,
    retries: RetryPolicy,
) -> Result<KeyClient> {
    let service = match config {
        KeycoreConfig::Embedded { data_dir } => {
            let core = KeyCore::open(data_dir, Options::default())
                .map_err(|e| Error::Config(format!("keycore.data_dir: {e}")))?;
            let who = Principal::account_root(&core.location().account_id);
            Either::InProcess(InProcess::new(core, who))
        }
        KeycoreConfig::Remote {
            endpoint,
            region,
            credentials_file,
            profile,
        } => {
            let credentials = RemoteCredentials::from_file(credentials_file, profile)
                .map_err(|e| Error::Config(format!("keycore.credentials_file: {e}")))?;
            Either::Remote(Box::new(
                Remote::new(endpoint, region, credentials)
                    .map_err(|e| Error::Config(format!("keycore.endpoint: {e}")))?,
            ))
        }
    };
    Ok(DekCache::new(
        Resilient::new(service, rate.0, rate.1, retries),
        DekCacheConfig {
            time_to_live,
            ..DekCacheConfig::default()
        },
    ))
}

/// Checks at start that `encryption.key_id` names a key the stage may make data keys under, with
/// each topic's context: a dry run (`GenerateDataKeyWithoutPlaintext`), so a key that does not
/// resolve, is disabled or is not the stage's to use fails the start, not the first window. A key
/// core that cannot be reached only warns: the stage rides out outages, at start too.
pub async fn check_key(config: &StageConfig, keys: &KeyClient) -> Result<()> {
    for topic in &config.topics {
        match keys
            .service()
            .check_key(&config.key_id, &config.context_for(topic))
            .await
        {
            Ok(()) => {}
            Err(lakeseal_keyclient::Error::Refused { code, message }) => {
                return Err(Error::Config(format!(
                    "encryption.key_id: {:?} cannot wrap data keys for topic {topic:?}: \
                     {code}: {message}",
                    config.key_id
                )));
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot check encryption.key_id at start: the key core is not answering; going on"
            ),
        }
    }
    Ok(())
}
