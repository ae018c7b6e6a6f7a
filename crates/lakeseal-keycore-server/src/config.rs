//! The server's configuration file (TOML), refused at start when wrong.
//!
//! ```toml
//! # Largest request body in bytes (default 65536).
//! max_body_bytes = 65536
//!
//! [rate_limits]
//! # Per account, shared by Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateRandom.
//! cryptographic_per_second = 50000   # default 50000
//! cryptographic_burst = 50000        # default: the per-second rate
//! # Per account, shared by every other operation.
//! control_per_second = 100           # default 100
//! control_burst = 100                # default: the per-second rate
//! ```

use std::num::NonZeroU32;

use serde::Deserialize;

use crate::{DEFAULT_MAX_BODY, Limit, RateLimits, ServerConfig};

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Largest request body, bytes; default 65536.
    max_body_bytes: Option<usize>,
    /// Per-account quotas.
    #[serde(default)]
    rate_limits: RawRateLimits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimits {
    /// Requests per second per account, cryptographic operations; default 50000.
    cryptographic_per_second: Option<NonZeroU32>,
    /// Burst above that rate; default the rate.
    cryptographic_burst: Option<NonZeroU32>,
    /// Requests per second per account, control-plane operations; default 100.
    control_per_second: Option<NonZeroU32>,
    /// Burst above that rate; default the rate.
    control_burst: Option<NonZeroU32>,
}

/// A configuration file that cannot be used, with the field and what was expected.
#[derive(Debug, thiserror::Error)]
#[error("server configuration: {0}")]
pub struct ConfigError(String);

impl ServerConfig {
    /// Parses a configuration file; absent fields take their defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        let defaults = RateLimits::default();
        let limit = |rate: Option<NonZeroU32>, burst: Option<NonZeroU32>, default: Limit| {
            let per_second = rate.unwrap_or(default.per_second);
            Limit {
                per_second,
                burst: burst.unwrap_or(per_second),
            }
        };
        let max_body = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
        if !(1024..=16 << 20).contains(&max_body) {
            return Err(ConfigError(format!(
                "max_body_bytes = {max_body}: expected 1024 to 16777216"
            )));
        }
        let r = raw.rate_limits;
        Ok(Self {
            max_body,
            rate_limits: RateLimits {
                cryptographic: limit(
                    r.cryptographic_per_second,
                    r.cryptographic_burst,
                    defaults.cryptographic,
                ),
                control: limit(r.control_per_second, r.control_burst, defaults.control),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = ServerConfig::from_toml("").unwrap();
        assert_eq!(c.rate_limits, RateLimits::default());
        let c = ServerConfig::from_toml("[rate_limits]\ncontrol_per_second = 5\n").unwrap();
        assert_eq!(c.rate_limits.control.per_second.get(), 5);
        assert_eq!(c.rate_limits.control.burst.get(), 5);
    }

    #[test]
    fn mistakes_name_the_field() {
        let e = ServerConfig::from_toml("[rate_limits]\ncontrol_per_secnd = 5\n").unwrap_err();
        assert!(e.to_string().contains("control_per_secnd"), "{e}");
        let e = ServerConfig::from_toml("[rate_limits]\ncontrol_per_second = 0\n").unwrap_err();
        assert!(e.to_string().contains("control_per_second"), "{e}");
        let e = ServerConfig::from_toml("max_body_bytes = 1\n").unwrap_err();
        assert!(e.to_string().contains("max_body_bytes"), "{e}");
    }
}
