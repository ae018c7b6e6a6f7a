//! The server's configuration file (TOML), refused at start when wrong.
//!
//! ```toml
//! # Largest request body in bytes (default 131072).
//! max_body_bytes = 131072
//! # How often the scheduler runs due work: secret rotations, key rotation, erasure.
//! scheduler_tick_seconds = 10        # default 10
//!
//! [rate_limits]
//! # Per account, shared by Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateRandom.
//! cryptographic_per_second = 50000   # default 50000
//! cryptographic_burst = 50000        # default: the per-second rate
//! # Per account, shared by every other operation.
//! control_per_second = 100           # default 100
//! control_burst = 100                # default: the per-second rate
//!
//! [connections]
//! max_connections = 1024             # open at once; more wait in the listen backlog
//! header_timeout_seconds = 10        # a request's headers (and an idle connection's next ones)
//! body_timeout_seconds = 10          # a request's body, after its headers
//! shutdown_grace_seconds = 10        # requests in flight at SIGTERM have this long
//!
//! [refusal_audit]
//! # Requests refused before an operation (unsigned, bad signature, malformed, throttled) are
//! # audited one by one up to this rate per source address, then counted into one summary
//! # record per address every summary_seconds.
//! per_address_per_second = 1         # default 1 (an IPv6 address counts by its /64)
//! per_address_burst = 20             # default 20
//! overall_per_second = 20            # all addresses together; default 20
//! overall_burst = 200                # default 200
//! summary_seconds = 10               # default 10
//!
//! [sts]
//! # The shortest AssumeRole session granted, 1 to 900 seconds. Lower it only in tests that
//! # watch credentials expire.
//! min_session_seconds = 900          # default 900, as AWS
//!
//! [alerts]
//! # Anomaly alerts from the audit trail (lakeseal_keycore_alerts_total{kind} and a log event).
//! learning_seconds = 3600            # a principal's learning period (no new-address,
//!                                    # new-secret or rate alerts before its end)
//! rate_factor = 10.0                 # data-key calls in a minute above this × the baseline
//! rate_min_per_minute = 600          # … and above this many
//! denied_burst = 10                  # AccessDenied of one principal …
//! denied_window_seconds = 60         # … within this many seconds
//!
//! # PKCS#11 key stores (HSM keys: CreateKey with Origin AWS_CLOUDHSM); the first is the
//! # default. Any number, each with a unique id and name.
//! [[key_stores]]
//! id = "cks-softhsm"                 # CustomKeyStoreId: cks- and letters, digits or -
//! name = "softhsm"                   # CustomKeyStoreName
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token_label = "lakeseal"           # the token is found by label, not slot
//! pin_file = "/etc/lakeseal/hsm.pin" # the user PIN, mode 0600; never inline …
//! # pin = "secret://hsm-pin"         # … or a secret of this key core (its current value), read
//! #                                  # by the serving key core's scheduler; not for the store
//! #                                  # that holds the root key, nor one that holds the secret's key
//! sessions = 4                       # logged-in sessions at most (default 4)
//! ```

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use lakeseal_keycore::audit::alerts::AlertThresholds;
use lakeseal_keycore::hsm::KeyStoreConfig;
use lakeseal_keycore::iam::MIN_SESSION_SECONDS;
use serde::Deserialize;

use crate::{ConnectionLimits, DEFAULT_MAX_BODY, Limit, RateLimits, RefusalAudit, ServerConfig};

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// Largest request body, bytes; default 131072 (a 64 KiB binary secret, base64, with its members).
    max_body_bytes: Option<usize>,
    /// Seconds between the scheduler's runs; default 10.
    scheduler_tick_seconds: Option<NonZeroU64>,
    /// Per-account quotas.
    #[serde(default)]
    rate_limits: RawRateLimits,
    /// Connection limits and deadlines.
    #[serde(default)]
    connections: RawConnections,
    /// How refusals before an operation are audited.
    #[serde(default)]
    refusal_audit: RawRefusalAudit,
    /// Temporary credentials.
    #[serde(default)]
    sts: RawSts,
    /// Anomaly alerts.
    #[serde(default)]
    alerts: RawAlerts,
    /// PKCS#11 key stores.
    #[serde(default)]
    key_stores: Vec<KeyStoreConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerts {
    /// A principal's learning period, seconds; default 3600.
    learning_seconds: Option<NonZeroU64>,
    /// A minute's data-key calls above this many times the baseline; default 10.
    rate_factor: Option<f64>,
    /// … and above this many; default 600.
    rate_min_per_minute: Option<NonZeroU32>,
    /// `AccessDenied` of one principal; default 10.
    denied_burst: Option<NonZeroU32>,
    /// … within this many seconds; default 60.
    denied_window_seconds: Option<NonZeroU64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSts {
    /// The shortest `AssumeRole` session, seconds; default 900.
    min_session_seconds: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnections {
    /// Connections open at once; default 1024.
    max_connections: Option<NonZeroU32>,
    /// Seconds for a request's headers; default 10.
    header_timeout_seconds: Option<NonZeroU64>,
    /// Seconds for a request's body; default 10.
    body_timeout_seconds: Option<NonZeroU64>,
    /// Seconds the requests in flight at shutdown have to finish; default 10.
    shutdown_grace_seconds: Option<NonZeroU64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRefusalAudit {
    /// Refusals audited one by one per second per source address; default 1.
    per_address_per_second: Option<NonZeroU32>,
    /// Burst above that rate; default 20.
    per_address_burst: Option<NonZeroU32>,
    /// Refusals audited one by one per second from all addresses; default 20.
    overall_per_second: Option<NonZeroU32>,
    /// Burst above that rate; default 200.
    overall_burst: Option<NonZeroU32>,
    /// Seconds between summaries of the refusals over that rate; default 10.
    summary_seconds: Option<NonZeroU64>,
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
        let c = raw.connections;
        let conn_defaults = ConnectionLimits::default();
        let seconds = |v: Option<NonZeroU64>, default: Duration| {
            v.map_or(default, |s| Duration::from_secs(s.get()))
        };
        let min_session_seconds = raw.sts.min_session_seconds.unwrap_or(MIN_SESSION_SECONDS);
        if !(1..=MIN_SESSION_SECONDS).contains(&min_session_seconds) {
            return Err(ConfigError(format!(
                "[sts] min_session_seconds = {min_session_seconds}: expected 1 to {MIN_SESSION_SECONDS}"
            )));
        }
        let alert_defaults = AlertThresholds::default();
        let al = raw.alerts;
        let rate_factor = al.rate_factor.unwrap_or(alert_defaults.rate_factor);
        if !(rate_factor.is_finite() && rate_factor >= 1.0) {
            return Err(ConfigError(format!(
                "[alerts] rate_factor = {rate_factor}: expected a number of at least 1"
            )));
        }
        let alerts = AlertThresholds {
            learning_seconds: al
                .learning_seconds
                .map_or(alert_defaults.learning_seconds, NonZeroU64::get),
            rate_factor,
            rate_min_per_minute: al
                .rate_min_per_minute
                .map_or(alert_defaults.rate_min_per_minute, NonZeroU32::get),
            denied_burst: al
                .denied_burst
                .map_or(alert_defaults.denied_burst, NonZeroU32::get),
            denied_window_seconds: al
                .denied_window_seconds
                .map_or(alert_defaults.denied_window_seconds, NonZeroU64::get),
        };
        for store in &raw.key_stores {
            store
                .check()
                .map_err(|e| ConfigError(format!("[[key_stores]]: {e}")))?;
        }
        let a = raw.refusal_audit;
        let audit_defaults = RefusalAudit::default();
        Ok(Self {
            connections: ConnectionLimits {
                max_connections: c
                    .max_connections
                    .map_or(conn_defaults.max_connections, |n| n.get() as usize),
                header_timeout: seconds(c.header_timeout_seconds, conn_defaults.header_timeout),
                body_timeout: seconds(c.body_timeout_seconds, conn_defaults.body_timeout),
                shutdown_grace: seconds(c.shutdown_grace_seconds, conn_defaults.shutdown_grace),
            },
            refusal_audit: RefusalAudit {
                per_address: Limit {
                    per_second: a
                        .per_address_per_second
                        .unwrap_or(audit_defaults.per_address.per_second),
                    burst: a
                        .per_address_burst
                        .unwrap_or(audit_defaults.per_address.burst),
                },
                overall: Limit {
                    per_second: a
                        .overall_per_second
                        .unwrap_or(audit_defaults.overall.per_second),
                    burst: a.overall_burst.unwrap_or(audit_defaults.overall.burst),
                },
                summary_interval: seconds(a.summary_seconds, audit_defaults.summary_interval),
            },
            max_body,
            min_session_seconds,
            alerts,
            scheduler_tick: seconds(raw.scheduler_tick_seconds, crate::DEFAULT_SCHEDULER_TICK),
            rate_limits: RateLimits {
                cryptographic: limit(
                    r.cryptographic_per_second,
                    r.cryptographic_burst,
                    defaults.cryptographic,
                ),
                control: limit(r.control_per_second, r.control_burst, defaults.control),
            },
            // Certificates are files beside the data, named on the command line.
            tls: None,
            key_stores: raw.key_stores,
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
        assert_eq!(c.connections, ConnectionLimits::default());
        assert_eq!(c.refusal_audit, RefusalAudit::default());
        let c = ServerConfig::from_toml(
            "[connections]\nheader_timeout_seconds = 3\n[refusal_audit]\nper_address_burst = 7\n",
        )
        .unwrap();
        assert_eq!(c.connections.header_timeout, Duration::from_secs(3));
        assert_eq!(c.refusal_audit.per_address.burst.get(), 7);
        assert_eq!(c.min_session_seconds, 900);
        let c = ServerConfig::from_toml("[sts]\nmin_session_seconds = 20\n").unwrap();
        assert_eq!(c.min_session_seconds, 20);
        let c = ServerConfig::from_toml("[alerts]\ndenied_burst = 3\n").unwrap();
        assert_eq!(c.alerts.denied_burst, 3);
        assert_eq!(c.alerts.learning_seconds, 3600);
        let c = ServerConfig::from_toml("[rate_limits]\ncontrol_per_second = 5\n").unwrap();
        assert_eq!(c.rate_limits.control.per_second.get(), 5);
        assert_eq!(c.rate_limits.control.burst.get(), 5);
    }

    #[test]
    fn key_stores_are_read_and_checked() {
        let store = "[[key_stores]]\nid = \"cks-hsm\"\nname = \"hsm\"\n\
                     module = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken_label = \"t\"\n\
                     pin_file = \"/etc/lakeseal/hsm.pin\"\n";
        let c = ServerConfig::from_toml(store).unwrap();
        assert_eq!(c.key_stores.len(), 1);
        assert_eq!(c.key_stores[0].sessions, 4);
        let e = ServerConfig::from_toml(&store.replace("cks-hsm", "hsm")).unwrap_err();
        assert!(e.to_string().contains("key store id"), "{e}");
        // The PIN itself is never in the file: a file or a secret:// reference names it.
        let inline = store.replace("pin_file = \"/etc/lakeseal/hsm.pin\"", "pin = \"1234\"");
        let e = ServerConfig::from_toml(&inline).unwrap_err();
        assert!(e.to_string().contains("never the PIN itself"), "{e}");
        let secret = store.replace(
            "pin_file = \"/etc/lakeseal/hsm.pin\"",
            "pin = \"secret://hsm\"",
        );
        assert!(ServerConfig::from_toml(&secret).is_ok());
        let both = format!("{store}pin = \"secret://hsm\"\n");
        assert!(ServerConfig::from_toml(&both).is_err());
    }

    #[test]
    fn mistakes_name_the_field() {
        let e = ServerConfig::from_toml("[rate_limits]\ncontrol_per_secnd = 5\n").unwrap_err();
        assert!(e.to_string().contains("control_per_secnd"), "{e}");
        let e = ServerConfig::from_toml("[rate_limits]\ncontrol_per_second = 0\n").unwrap_err();
        assert!(e.to_string().contains("control_per_second"), "{e}");
        let e = ServerConfig::from_toml("max_body_bytes = 1\n").unwrap_err();
        assert!(e.to_string().contains("max_body_bytes"), "{e}");
        let e = ServerConfig::from_toml("[connections]\nheader_timeout_seconds = 0\n").unwrap_err();
        assert!(e.to_string().contains("header_timeout_seconds"), "{e}");
        let e = ServerConfig::from_toml("[alerts]\nrate_factor = 0.5\n").unwrap_err();
        assert!(e.to_string().contains("rate_factor"), "{e}");
        let e = ServerConfig::from_toml("[sts]\nmin_session_seconds = 901\n").unwrap_err();
        assert!(e.to_string().contains("min_session_seconds"), "{e}");
        let e = ServerConfig::from_toml("[refusal_audit]\nsummary_secs = 5\n").unwrap_err();
        assert!(e.to_string().contains("summary_secs"), "{e}");
    }
}
