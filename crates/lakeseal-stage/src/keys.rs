//! The stage's key client: a key service (the embedded key core or a remote one, which the CLI,
//! the composition root, picks from the `[keycore]` section) behind the client's rate limit and
//! retries, under the DEK cache; and the start-up check of `encryption.key_id`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use lakeseal_keyclient::{DekCache, DekCacheConfig, Either, KeyService, Resilient, RetryPolicy};

use crate::config::StageConfig;
use crate::{Error, Result};

/// The key client of a stage or a lake reader.
pub type KeyClient = DekCache<Arc<Resilient<Either>>>;

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

/// Puts `service` behind the key client's rate limit (`rate`: requests a second and burst) and
/// `retries`, under a DEK cache whose keys live at most `time_to_live`. The rate-limited service
/// is shared (`keys.service().clone()`) with whatever else of the stage calls the key core.
pub fn key_client(
    service: Either,
    rate: (NonZeroU32, NonZeroU32),
    time_to_live: Duration,
    retries: RetryPolicy,
) -> KeyClient {
    DekCache::new(
        Arc::new(Resilient::new(service, rate.0, rate.1, retries)),
        DekCacheConfig {
            time_to_live,
            ..DekCacheConfig::default()
        },
    )
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
