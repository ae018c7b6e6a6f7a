//! [`DekCache`]: data keys for checkpoint windows, and unwrapped keys for readers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lakeseal_envelope::{DataKey, EncryptionContext};
use moka::future::Cache;

use crate::{Error, KeyService, NewDataKey, Result};

/// Limits of the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DekCacheConfig {
    /// Entries kept at most, in each of the two caches.
    pub max_entries: u64,
    /// An entry lives at most this long (the window's `max_age` is the natural choice).
    pub time_to_live: Duration,
    /// A data key serves at most this many requests (files) before a fresh one is made.
    pub max_uses: u64,
    /// A data key encrypts at most this many bytes (as the requests declare) before a fresh one
    /// is made.
    pub max_bytes: u64,
}

impl Default for DekCacheConfig {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            time_to_live: Duration::from_secs(300),
            max_uses: 1,
            max_bytes: 1 << 32,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WindowKey {
    key_id: String,
    context: Vec<u8>,
    window: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct WrappedKey {
    wrapped: Vec<u8>,
    context: Vec<u8>,
}

#[derive(Debug)]
struct Entry {
    dek: NewDataKey,
    uses: AtomicU64,
    bytes: AtomicU64,
    /// On tokio's clock, so a paused test clock ages entries too (moka's own clock only evicts).
    born: tokio::time::Instant,
}

/// A data key out of the cache; holding it keeps the key alive (it zeroizes when the last holder
/// and the cache have let go).
#[derive(Debug, Clone)]
pub struct CachedDek(Arc<Entry>);

impl CachedDek {
    /// The data key.
    pub fn key(&self) -> &DataKey {
        &self.0.dek.key
    }

    /// Its wrapped form, to store beside the data.
    pub fn wrapped(&self) -> &[u8] {
        &self.0.dek.wrapped
    }

    /// The ARN of the master key that wrapped it.
    pub fn key_arn(&self) -> &str {
        &self.0.dek.key_arn
    }
}

/// Data keys per (master key, encryption context, window) over a [`KeyService`].
///
/// Concurrent misses for one entry make one service call; its outcome, key or error, goes to all
/// of them. An entry serves one window at most, and at most `max_uses` requests.
#[derive(Debug)]
pub struct DekCache<K> {
    service: K,
    windows: Cache<WindowKey, Arc<Entry>>,
    unwrapped: Cache<WrappedKey, Arc<DataKey>>,
    max_uses: u64,
    max_bytes: u64,
    time_to_live: Duration,
}

impl<K: KeyService> DekCache<K> {
    /// A cache over `service`.
    pub fn new(service: K, config: DekCacheConfig) -> Self {
        Self {
            service,
            windows: Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(config.time_to_live)
                .support_invalidation_closures()
                .build(),
            unwrapped: Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(config.time_to_live)
                .build(),
            max_uses: config.max_uses.max(1),
            max_bytes: config.max_bytes.max(1),
            time_to_live: config.time_to_live,
        }
    }

    /// The service behind the cache.
    pub fn service(&self) -> &K {
        &self.service
    }

    /// The data key for `window` of the files encrypted under `key_id` with `context`, to
    /// encrypt `bytes` bytes.
    pub async fn data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
        window: u64,
        bytes: u64,
    ) -> Result<CachedDek> {
        let id = WindowKey {
            key_id: key_id.to_owned(),
            context: context.canonical_bytes(),
            window,
        };
        loop {
            let missed = std::sync::atomic::AtomicBool::new(false);
            let entry = self
                .windows
                .try_get_with(id.clone(), async {
                    missed.store(true, Ordering::Relaxed);
                    let dek = self.service.generate_data_key(key_id, context).await?;
                    Ok::<_, Error>(Arc::new(Entry {
                        dek,
                        uses: AtomicU64::new(0),
                        bytes: AtomicU64::new(0),
                        born: tokio::time::Instant::now(),
                    }))
                })
                .await
                .map_err(|shared: Arc<Error>| (*shared).clone())?;
            if missed.load(Ordering::Relaxed) {
                metrics::counter!("lakeseal_keyclient_dek_cache_misses_total").increment(1);
            } else {
                metrics::counter!("lakeseal_keyclient_dek_cache_hits_total").increment(1);
            }
            let fresh = entry.born.elapsed() < self.time_to_live;
            let uses = entry.uses.fetch_add(1, Ordering::SeqCst);
            let used = entry.bytes.fetch_add(bytes, Ordering::SeqCst);
            // A first use always succeeds, however many bytes it declares.
            if fresh && uses < self.max_uses && (uses == 0 || used + bytes <= self.max_bytes) {
                return Ok(CachedDek(entry));
            }
            // Used up or too old: drop it (if nobody replaced it meanwhile) and make a fresh one.
            if let Some(current) = self.windows.remove(&id).await
                && !Arc::ptr_eq(&current, &entry)
            {
                self.windows.insert(id.clone(), current).await;
            }
        }
    }

    /// Forgets every data key of `window` (call when it closes).
    pub fn end_window(&self, window: u64) {
        // Only fails when the cache was built without invalidation closures, which `new` sets.
        let _ = self
            .windows
            .invalidate_entries_if(move |k, _| k.window == window);
    }

    /// Unwraps a data key for reading, once per (wrapped key, context) while cached.
    pub async fn unwrap(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Arc<DataKey>> {
        let id = WrappedKey {
            wrapped: wrapped.to_vec(),
            context: context.canonical_bytes(),
        };
        self.unwrapped
            .try_get_with(id, async {
                self.service.decrypt(wrapped, context).await.map(Arc::new)
            })
            .await
            .map_err(|shared: Arc<Error>| (*shared).clone())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[derive(Default)]
    struct Counting {
        generated: AtomicU32,
        decrypted: AtomicU32,
        /// When set, `generate_data_key` waits for a permit: calls stay in flight until the
        /// test lets them go.
        gate: Option<Arc<tokio::sync::Semaphore>>,
    }

    impl KeyService for Counting {
        async fn generate_data_key(
            &self,
            key_id: &str,
            _: &EncryptionContext,
        ) -> Result<NewDataKey> {
            let n = self.generated.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                drop(gate.acquire().await.unwrap());
            }
            Ok(NewDataKey {
                key: DataKey::from_bytes([n as u8; 32]),
                wrapped: vec![n as u8],
                key_arn: key_id.to_owned(),
            })
        }

        async fn decrypt(&self, wrapped: &[u8], _: &EncryptionContext) -> Result<DataKey> {
            self.decrypted.fetch_add(1, Ordering::SeqCst);
            Ok(DataKey::from_bytes([wrapped[0]; 32]))
        }
    }

    fn ctx(table: &str) -> EncryptionContext {
        EncryptionContext::from_iter([("table", table)])
    }

    #[tokio::test]
    async fn concurrent_misses_make_one_call() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let cache = Arc::new(DekCache::new(
            Counting {
                gate: Some(gate.clone()),
                ..Default::default()
            },
            DekCacheConfig {
                max_uses: 1000,
                ..Default::default()
            },
        ));
        let asked = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (cache, asked) = (cache.clone(), asked.clone());
                tokio::spawn(async move {
                    // Counted in the same poll that first polls `data_key`.
                    asked.fetch_add(1, Ordering::SeqCst);
                    cache
                        .data_key("k", &ctx("t"), 7, 1)
                        .await
                        .unwrap()
                        .wrapped()
                        .to_vec()
                })
            })
            .collect();
        // Every task has asked while the first call is held in flight; then let it go.
        while asked.load(Ordering::SeqCst) < 100 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(100);
        let mut wrapped = Vec::new();
        for t in tasks {
            wrapped.push(t.await.unwrap());
        }
        assert_eq!(cache.service().generated.load(Ordering::SeqCst), 1);
        assert!(wrapped.windows(2).all(|w| w[0] == w[1]));
    }

    #[tokio::test]
    async fn windows_contexts_and_keys_do_not_share() {
        let cache = DekCache::new(
            Counting::default(),
            DekCacheConfig {
                max_uses: 1000,
                ..Default::default()
            },
        );
        let a = cache.data_key("k", &ctx("t"), 1, 1).await.unwrap();
        let b = cache.data_key("k", &ctx("t"), 2, 1).await.unwrap();
        let c = cache.data_key("k", &ctx("u"), 1, 1).await.unwrap();
        let d = cache.data_key("other", &ctx("t"), 1, 1).await.unwrap();
        let again = cache.data_key("k", &ctx("t"), 1, 1).await.unwrap();
        assert_eq!(cache.service().generated.load(Ordering::SeqCst), 4);
        assert_eq!(a.wrapped(), again.wrapped());
        for other in [&b, &c, &d] {
            assert_ne!(a.wrapped(), other.wrapped());
        }
        cache.end_window(1);
        let after = cache.data_key("k", &ctx("t"), 1, 1).await.unwrap();
        assert_ne!(
            after.wrapped(),
            a.wrapped(),
            "a closed window's key is never handed out again"
        );
    }

    #[tokio::test]
    async fn a_key_serves_at_most_max_uses() {
        let cache = DekCache::new(
            Counting::default(),
            DekCacheConfig {
                max_uses: 3,
                ..Default::default()
            },
        );
        let mut seen = Vec::new();
        for _ in 0..7 {
            seen.push(
                cache
                    .data_key("k", &ctx("t"), 1, 1)
                    .await
                    .unwrap()
                    .wrapped()[0],
            );
        }
        assert_eq!(seen, [0, 0, 0, 1, 1, 1, 2]);
    }

    #[tokio::test]
    async fn a_key_encrypts_at_most_max_bytes() {
        let cache = DekCache::new(
            Counting::default(),
            DekCacheConfig {
                max_uses: 100,
                max_bytes: 1000,
                ..Default::default()
            },
        );
        let mut seen = Vec::new();
        for bytes in [600, 400, 1, 5000, 10] {
            seen.push(
                cache
                    .data_key("k", &ctx("t"), 1, bytes)
                    .await
                    .unwrap()
                    .wrapped()[0],
            );
        }
        // 600 + 400 fill the first key; the next byte needs a second; an oversized request
        // gets a key of its own; the one after it starts another.
        assert_eq!(seen, [0, 0, 1, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_lives_no_longer_than_its_time_to_live() {
        let cache = DekCache::new(
            Counting::default(),
            DekCacheConfig {
                max_uses: 100,
                time_to_live: Duration::from_secs(10),
                ..Default::default()
            },
        );
        let first = cache.data_key("k", &ctx("t"), 1, 1).await.unwrap();
        tokio::time::advance(Duration::from_secs(9)).await;
        let same = cache.data_key("k", &ctx("t"), 1, 1).await.unwrap();
        assert_eq!(first.wrapped(), same.wrapped(), "still within its lifetime");
        tokio::time::advance(Duration::from_secs(2)).await;
        let next = cache.data_key("k", &ctx("t"), 1, 1).await.unwrap();
        assert_ne!(first.wrapped(), next.wrapped(), "expired: a fresh key");
        assert_eq!(cache.service().generated.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn unwrapped_keys_are_cached_per_blob_and_context() {
        let cache = DekCache::new(Counting::default(), DekCacheConfig::default());
        let k1 = cache.unwrap(&[9], &ctx("t")).await.unwrap();
        let k2 = cache.unwrap(&[9], &ctx("t")).await.unwrap();
        cache.unwrap(&[9], &ctx("u")).await.unwrap();
        assert_eq!(k1.expose_secret(), k2.expose_secret());
        assert_eq!(cache.service().decrypted.load(Ordering::SeqCst), 2);
    }
}
