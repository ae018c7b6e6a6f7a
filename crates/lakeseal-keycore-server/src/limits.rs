//! Per-account request quotas, as AWS KMS has: one shared bucket for cryptographic operations
//! and a smaller one for control-plane operations. A request over its quota is answered with
//! `ThrottlingException` (which AWS SDKs retry with backoff), audited and counted.

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota};

/// A quota: a steady rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests allowed at once before the rate applies.
    pub burst: NonZeroU32,
}

impl Limit {
    /// `per_second` sustained with a burst of the same size.
    pub const fn per_second(per_second: NonZeroU32) -> Self {
        Self {
            per_second,
            burst: per_second,
        }
    }

    pub(crate) fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// `n` as a `NonZeroU32`, for the defaults (1 if given 0, which none of them is).
pub(crate) const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => NonZeroU32::MIN,
    }
}

/// The quotas of every account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// `Encrypt`, `Decrypt`, `ReEncrypt`, `GenerateDataKey*`, `GenerateRandom`, shared.
    pub cryptographic: Limit,
    /// Everything else (`CreateKey`, `DescribeKey`, aliases, rotation …), shared.
    pub control: Limit,
}

impl Default for RateLimits {
    /// AWS KMS's default shared quota for symmetric cryptographic operations in most regions,
    /// and a control-plane rate of the same order as its per-operation ones.
    fn default() -> Self {
        Self {
            cryptographic: Limit::per_second(nz(50_000)),
            control: Limit::per_second(nz(100)),
        }
    }
}

/// Which bucket an operation draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Cryptographic,
    Control,
}

impl Class {
    pub(crate) fn of(operation: &str) -> Self {
        match operation {
            "Encrypt"
            | "Decrypt"
            | "ReEncrypt"
            | "GenerateDataKey"
            | "GenerateDataKeyWithoutPlaintext"
            | "GenerateRandom" => Class::Cryptographic,
            _ => Class::Control,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Class::Cryptographic => "cryptographic",
            Class::Control => "control",
        }
    }
}

/// The buckets, keyed by account id.
#[derive(Debug)]
pub(crate) struct Limiter {
    cryptographic: DefaultKeyedRateLimiter<String>,
    control: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    pub(crate) fn new(limits: RateLimits) -> Self {
        Self {
            cryptographic: DefaultKeyedRateLimiter::keyed(limits.cryptographic.quota()),
            control: DefaultKeyedRateLimiter::keyed(limits.control.quota()),
        }
    }

    /// Takes one request of `operation` from `account`'s bucket; false when it is empty.
    pub(crate) fn admit(&self, account: &str, operation: &str) -> bool {
        let class = Class::of(operation);
        let bucket = match class {
            Class::Cryptographic => &self.cryptographic,
            Class::Control => &self.control,
        };
        let admitted = bucket.check_key(&account.to_owned()).is_ok();
        if !admitted {
            metrics::counter!(
                "lakeseal_keycore_throttled_requests_total",
                "class" => class.as_str(),
                "operation" => crate::operation_label(operation)
            )
            .increment(1);
        }
        admitted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_per_account_and_per_class() {
        let one = NonZeroU32::MIN;
        let limiter = Limiter::new(RateLimits {
            cryptographic: Limit::per_second(one),
            control: Limit::per_second(one),
        });
        assert!(limiter.admit("111122223333", "GenerateDataKey"));
        assert!(
            !limiter.admit("111122223333", "Decrypt"),
            "the cryptographic bucket is shared"
        );
        assert!(
            limiter.admit("111122223333", "DescribeKey"),
            "control has its own bucket"
        );
        assert!(
            limiter.admit("444455556666", "Decrypt"),
            "another account has its own"
        );
    }
}
