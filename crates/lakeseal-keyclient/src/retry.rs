//! [`Resilient`]: rate limiting and bounded retries around any [`KeyService`].

use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use lakeseal_envelope::{DataKey, EncryptionContext};
use rand::Rng;

use crate::{KeyService, NewDataKey, Result};

/// When and how often to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The backoff before the second attempt; it doubles each time ("full jitter": the actual
    /// wait is random between zero and the backoff).
    pub base: Duration,
    /// The longest backoff.
    pub cap: Duration,
    /// Give up rather than wait past this, counted from the first attempt.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_millis(50),
            cap: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

/// A [`KeyService`] behind a client-side rate limit, retrying throttling and unavailability.
#[derive(Debug)]
pub struct Resilient<K> {
    inner: K,
    limiter: DefaultDirectRateLimiter,
    policy: RetryPolicy,
}

impl<K> Resilient<K> {
    /// `inner`, called at most `per_second` times a second (with bursts of `burst`).
    pub fn new(inner: K, per_second: NonZeroU32, burst: NonZeroU32, policy: RetryPolicy) -> Self {
        Self {
            inner,
            limiter: DefaultDirectRateLimiter::direct(
                Quota::per_second(per_second).allow_burst(burst),
            ),
            policy,
        }
    }

    async fn run<T, F, Fut>(&self, operation: &'static str, call: F) -> Result<T>
    where
        F: Fn() -> Fut + Send,
        Fut: Future<Output = Result<T>> + Send,
    {
        let start = tokio::time::Instant::now();
        let mut attempt: u32 = 0;
        loop {
            self.limiter.until_ready().await;
            let called = tokio::time::Instant::now();
            let outcome = call().await;
            metrics::histogram!("lakeseal_keyclient_call_duration_seconds", "operation" => operation)
                .record(called.elapsed().as_secs_f64());
            metrics::counter!(
                "lakeseal_keyclient_calls_total",
                "operation" => operation,
                "result" => match &outcome {
                    Ok(_) => "success",
                    Err(e) => e.class(),
                }
            )
            .increment(1);
            let error = match outcome {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if matches!(error, crate::Error::Throttled(_)) {
                metrics::counter!("lakeseal_keyclient_throttles_total", "operation" => operation)
                    .increment(1);
            }
            attempt += 1;
            if !error.is_retryable() || attempt >= self.policy.max_attempts {
                return Err(error);
            }
            let backoff = self
                .policy
                .base
                .saturating_mul(1 << attempt.min(20))
                .min(self.policy.cap);
            let wait = rand::rng().random_range(Duration::ZERO..=backoff);
            if start.elapsed() + wait > self.policy.max_elapsed {
                return Err(error);
            }
            tracing::warn!(operation, attempt, ?wait, error = %error, "key service call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

impl<K: crate::SecretReader> crate::SecretReader for Resilient<K> {
    async fn current_version(&self, secret_id: &str) -> Result<String> {
        self.run("DescribeSecret", || self.inner.current_version(secret_id))
            .await
    }

    async fn current_value(&self, secret_id: &str) -> Result<crate::CurrentSecret> {
        self.run("GetSecretValue", || self.inner.current_value(secret_id))
            .await
    }
}

impl<K: KeyService> KeyService for Resilient<K> {
    async fn generate_data_key(
        &self,
        key_id: &str,
        context: &EncryptionContext,
    ) -> Result<NewDataKey> {
        self.run("GenerateDataKey", || {
            self.inner.generate_data_key(key_id, context)
        })
        .await
    }

    async fn decrypt(&self, wrapped: &[u8], context: &EncryptionContext) -> Result<DataKey> {
        self.run("Decrypt", || self.inner.decrypt(wrapped, context))
            .await
    }

    async fn check_key(&self, key_id: &str, context: &EncryptionContext) -> Result<()> {
        self.run("GenerateDataKeyWithoutPlaintext", || {
            self.inner.check_key(key_id, context)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::Error;

    /// Fails with the queued errors, then succeeds.
    struct Flaky {
        errors: Mutex<Vec<Error>>,
        calls: AtomicU32,
    }

    impl KeyService for Flaky {
        async fn generate_data_key(&self, _: &str, _: &EncryptionContext) -> Result<NewDataKey> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(e) = self.errors.lock().unwrap().pop() {
                return Err(e);
            }
            Ok(NewDataKey {
                key: DataKey::from_bytes([1; 32]),
                wrapped: vec![1],
                key_arn: "arn".into(),
            })
        }

        async fn decrypt(&self, _: &[u8], _: &EncryptionContext) -> Result<DataKey> {
            unreachable!("not used")
        }
    }

    fn resilient(errors: Vec<Error>, policy: RetryPolicy) -> Resilient<Flaky> {
        let many = NonZeroU32::new(1_000_000).unwrap();
        let flaky = Flaky {
            errors: Mutex::new(errors),
            calls: AtomicU32::new(0),
        };
        Resilient::new(flaky, many, many, policy)
    }

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_and_outages_then_succeeds() {
        let errors = vec![
            Error::Unavailable("down".into()),
            Error::Throttled("slow down".into()),
        ];
        let r = resilient(errors, RetryPolicy::default());
        r.generate_data_key("k", &EncryptionContext::new())
            .await
            .unwrap();
        assert_eq!(r.inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn refusals_are_not_retried() {
        let refused = Error::Refused {
            code: "AccessDeniedException".into(),
            message: "no".into(),
        };
        let r = resilient(vec![refused], RetryPolicy::default());
        let err = r
            .generate_data_key("k", &EncryptionContext::new())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("AccessDeniedException"));
        assert_eq!(r.inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let errors = (0..10).map(|_| Error::Throttled("busy".into())).collect();
        let policy = RetryPolicy {
            max_attempts: 4,
            ..Default::default()
        };
        let r = resilient(errors, policy);
        let err = r
            .generate_data_key("k", &EncryptionContext::new())
            .await
            .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(r.inner.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_past_max_elapsed() {
        let errors = (0..100)
            .map(|_| Error::Unavailable("down".into()))
            .collect();
        let policy = RetryPolicy {
            max_attempts: 100,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(1),
            max_elapsed: Duration::from_secs(5),
        };
        let r = resilient(errors, policy);
        let start = tokio::time::Instant::now();
        // The last error is handed back as it was: still retryable, for the caller to judge.
        match r.generate_data_key("k", &EncryptionContext::new()).await {
            Err(Error::Unavailable(why)) => assert_eq!(why, "down"),
            other => panic!("{other:?}"),
        }
        assert!(start.elapsed() <= Duration::from_secs(5));
    }
}
