//! Anomaly alerts from the audit trail, the seed's routine monitoring. One [`Detector`] reads
//! events in order, from the trail (`lakeseal audit alerts`) or as the key core answers them
//! (a `lakeseal_keycore_alerts_total{kind}` series and a `warn` log event), and says when:
//!
//! * `rate_spike`: a principal's `Decrypt`/`GenerateDataKey*` calls in one minute are far above
//!   its own baseline (an average of its past minutes, idle ones included);
//! * `new_source_ip`: a principal calls from an address it has never called from, once it is
//!   past its learning period;
//! * `new_secret_read`: a principal reads a secret it has never read, past its learning period;
//! * `pending_deletion_read`: anyone tries to read a secret scheduled for deletion;
//! * `access_denied_burst`: one principal is refused `AccessDenied` many times in a short window.
//!
//! Every decision uses the events' own times, so the trail and the live server agree. The state
//! is per principal (the addresses and secrets it used, at most [`MAX_REMEMBERED`] of each).

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;

use super::AuditEvent;
use crate::clock::{Millis, parse_rfc3339};

/// At most this many addresses and secrets are remembered per principal: past it, new ones are
/// still checked but no longer learnt, so a flood of addresses cannot grow the detector.
pub const MAX_REMEMBERED: usize = 1024;

/// When each kind of alert fires. The defaults are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertThresholds {
    /// How long after a principal's first event it is learning: no `rate_spike`,
    /// `new_source_ip` or `new_secret_read` for it before then. Default 3600 s.
    pub learning_seconds: u64,
    /// A minute's data-key calls must be this many times the principal's baseline. Default 10.
    pub rate_factor: f64,
    /// …and at least this many. Default 600 (10 a second).
    pub rate_min_per_minute: u32,
    /// `AccessDenied` refusals of one principal within `denied_window_seconds`. Default 10.
    pub denied_burst: u32,
    /// Default 60 s.
    pub denied_window_seconds: u64,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        Self {
            learning_seconds: 3600,
            rate_factor: 10.0,
            rate_min_per_minute: 600,
            denied_burst: 10,
            denied_window_seconds: 60,
        }
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Data-key calls far above the principal's baseline.
    RateSpike,
    /// An address never seen for the principal.
    NewSourceIp,
    /// A secret the principal never read.
    NewSecretRead,
    /// A read of a secret pending deletion.
    PendingDeletionRead,
    /// Many `AccessDenied` in a short window.
    AccessDeniedBurst,
}

impl AlertKind {
    /// The metric label and the name in output.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::RateSpike => "rate_spike",
            AlertKind::NewSourceIp => "new_source_ip",
            AlertKind::NewSecretRead => "new_secret_read",
            AlertKind::PendingDeletionRead => "pending_deletion_read",
            AlertKind::AccessDeniedBurst => "access_denied_burst",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// The time of the event that raised it.
    pub time: String,
    /// Whose behaviour.
    pub principal: String,
    /// The request that raised it.
    pub request_id: String,
    /// What was seen, in words (names and counts, never a value).
    pub detail: String,
}

/// Reads events in order and raises alerts.
#[derive(Debug, Default)]
pub struct Detector {
    thresholds: AlertThresholds,
    principals: HashMap<String, Seen>,
    /// Secrets (by ARN) scheduled for deletion and not restored.
    pending_deletion: HashSet<String>,
}

/// What the detector knows of one principal.
#[derive(Debug)]
struct Seen {
    first: Millis,
    addresses: HashSet<String>,
    secrets: HashSet<String>,
    /// The minute (since the epoch) being counted, and its data-key calls so far.
    minute: i64,
    in_minute: u32,
    /// The average data-key calls a minute over the principal's past minutes.
    baseline: f64,
    spike_raised: bool,
    /// Times of recent `AccessDenied`, and until when a burst was already raised.
    denied: VecDeque<Millis>,
    burst_raised_until: Millis,
}

/// Weight of the newest minute in the baseline: about the last 20 minutes count.
const BASELINE_WEIGHT: f64 = 0.05;

const DATA_KEY_OPERATIONS: [&str; 3] = [
    "Decrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
];

impl Detector {
    /// A detector with `thresholds`.
    pub fn new(thresholds: AlertThresholds) -> Self {
        Self {
            thresholds,
            ..Self::default()
        }
    }

    /// Reads the next event; returns the alerts it raises.
    pub fn observe(&mut self, event: &AuditEvent) -> Vec<Alert> {
        match parse_rfc3339(&event.time) {
            Some(now) => self.observe_at(event, now),
            None => Vec::new(),
        }
    }

    /// [`Detector::observe`] for an event whose time (`event.time`) the caller already holds
    /// as `now`: the engine, which has just written it.
    pub fn observe_at(&mut self, event: &AuditEvent, now: Millis) -> Vec<Alert> {
        let mut alerts = Vec::new();
        let mut raise = |kind, detail: String| {
            alerts.push(Alert {
                kind,
                time: event.time.clone(),
                principal: event.principal.clone(),
                request_id: event.request_id.clone(),
                detail,
            })
        };
        let ok = event.result == "Success";
        if let Some(secret) = &event.secret_arn {
            self.note_secret_lifecycle(event, secret, ok, &mut raise);
        }
        // Refusals before any operation have no principal to learn from.
        if event.principal == "anonymous" || event.principal.is_empty() {
            return alerts;
        }
        let t = self.thresholds;
        // Looked up before inserting: the principal's name is copied once, not per event.
        if !self.principals.contains_key(&event.principal) {
            self.principals
                .insert(event.principal.clone(), Seen::new(now));
        }
        let Some(seen) = self.principals.get_mut(&event.principal) else {
            return alerts;
        };
        let learnt = now - seen.first >= millis(t.learning_seconds);

        if let Some(ip) = &event.source_ip
            && !seen.addresses.contains(ip)
        {
            if learnt {
                raise(
                    AlertKind::NewSourceIp,
                    format!("first call from {ip} ({})", event.operation),
                );
            }
            remember(&mut seen.addresses, ip);
        }
        if event.operation == "GetSecretValue"
            && ok
            && let Some(secret) = &event.secret_arn
            && !seen.secrets.contains(secret)
        {
            if learnt {
                raise(AlertKind::NewSecretRead, format!("first read of {secret}"));
            }
            remember(&mut seen.secrets, secret);
        }
        if DATA_KEY_OPERATIONS.contains(&event.operation.as_str()) {
            seen.roll_to(now.div_euclid(60_000));
            seen.in_minute += 1;
            let threshold =
                (t.rate_factor * seen.baseline.max(1.0)).max(f64::from(t.rate_min_per_minute));
            if learnt && !seen.spike_raised && f64::from(seen.in_minute) > threshold {
                seen.spike_raised = true;
                raise(
                    AlertKind::RateSpike,
                    format!(
                        "{} data-key calls this minute against a baseline of {:.1} a minute",
                        seen.in_minute, seen.baseline
                    ),
                );
            }
        }
        if event.result == "AccessDeniedException" {
            let window = millis(t.denied_window_seconds);
            seen.denied.push_back(now);
            while seen.denied.front().is_some_and(|&d| now - d >= window) {
                seen.denied.pop_front();
            }
            if seen.denied.len() >= t.denied_burst as usize && now >= seen.burst_raised_until {
                seen.burst_raised_until = now + window;
                raise(
                    AlertKind::AccessDeniedBurst,
                    format!(
                        "{} AccessDenied in {} s (last: {})",
                        seen.denied.len(),
                        t.denied_window_seconds,
                        event.operation
                    ),
                );
            }
        }
        alerts
    }

    /// Follows which secrets are pending deletion; a read of one raises an alert.
    fn note_secret_lifecycle(
        &mut self,
        event: &AuditEvent,
        secret: &str,
        ok: bool,
        raise: &mut impl FnMut(AlertKind, String),
    ) {
        match event.operation.as_str() {
            "DeleteSecret" if ok => {
                self.pending_deletion.insert(secret.to_owned());
            }
            "RestoreSecret" if ok => {
                self.pending_deletion.remove(secret);
            }
            "GetSecretValue" if self.pending_deletion.contains(secret) => raise(
                AlertKind::PendingDeletionRead,
                format!(
                    "a read of {secret}, which is scheduled for deletion ({})",
                    event.result
                ),
            ),
            _ => {}
        }
    }
}

impl Seen {
    fn new(first: Millis) -> Self {
        Self {
            first,
            addresses: HashSet::new(),
            secrets: HashSet::new(),
            minute: first.div_euclid(60_000),
            in_minute: 0,
            baseline: 0.0,
            spike_raised: false,
            denied: VecDeque::new(),
            burst_raised_until: Millis::MIN,
        }
    }

    /// Moves the count to `minute`, folding the minutes that ended (idle ones as zero) into the
    /// baseline.
    fn roll_to(&mut self, minute: i64) {
        if minute <= self.minute {
            return;
        }
        let ended = f64::from(self.in_minute);
        self.baseline += BASELINE_WEIGHT * (ended - self.baseline);
        let idle = (minute - self.minute - 1).min(10_000) as i32;
        self.baseline *= (1.0 - BASELINE_WEIGHT).powi(idle);
        self.minute = minute;
        self.in_minute = 0;
        self.spike_raised = false;
    }
}

fn remember(set: &mut HashSet<String>, value: &str) {
    if set.len() < MAX_REMEMBERED {
        set.insert(value.to_owned());
    }
}

fn millis(seconds: u64) -> Millis {
    Millis::try_from(seconds.saturating_mul(1000)).unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::rfc3339;

    const T0: Millis = 1_800_000_000_000;

    fn event(at_seconds: i64, principal: &str, operation: &str) -> AuditEvent {
        AuditEvent {
            time: rfc3339(T0 + at_seconds * 1000),
            request_id: format!("r{at_seconds}"),
            operation: operation.into(),
            service: None,
            principal: principal.into(),
            access_key_id: None,
            source_ip: Some("10.0.0.1".into()),
            user_agent: None,
            region: "eu-west-1".into(),
            key_arn: None,
            key_version: None,
            source_key_arn: None,
            secret_arn: None,
            version_id: None,
            version_stage: None,
            encryption_context: None,
            result: "Success".into(),
            error_message: None,
            detail: None,
        }
    }

    fn kinds(detector: &mut Detector, events: &[AuditEvent]) -> Vec<AlertKind> {
        events
            .iter()
            .flat_map(|e| detector.observe(e))
            .map(|a| a.kind)
            .collect()
    }

    const STAGE: &str = "arn:aws:sts::111122223333:assumed-role/stage/stage-1";

    #[test]
    fn a_steady_principal_raises_nothing_and_a_tenfold_minute_raises_one_spike() {
        let mut d = Detector::default();
        // Two hours at 60 data keys a minute: learnt, and quiet.
        let steady: Vec<_> = (0..7200)
            .map(|s| event(s, STAGE, "GenerateDataKey"))
            .collect();
        assert_eq!(kinds(&mut d, &steady), vec![]);
        // Then 700 in one minute: over 10× the baseline and over the floor, raised once.
        let burst: Vec<_> = (0..700)
            .map(|i| event(7200 + i * 60 / 700, STAGE, "Decrypt"))
            .collect();
        assert_eq!(kinds(&mut d, &burst), vec![AlertKind::RateSpike]);
    }

    #[test]
    fn a_new_address_after_learning_and_never_during_it() {
        let mut d = Detector::default();
        let mut from = |at, ip: &str| {
            let mut e = event(at, STAGE, "Decrypt");
            e.source_ip = Some(ip.into());
            d.observe(&e)
                .into_iter()
                .map(|a| a.kind)
                .collect::<Vec<_>>()
        };
        assert!(from(0, "10.0.0.1").is_empty());
        assert!(from(60, "10.0.0.2").is_empty(), "still learning");
        assert!(from(4000, "10.0.0.2").is_empty(), "known");
        assert_eq!(from(4001, "192.0.2.7"), vec![AlertKind::NewSourceIp]);
        assert!(from(4002, "192.0.2.7").is_empty(), "raised once");
    }

    #[test]
    fn secret_reads_new_and_pending_deletion() {
        let mut d = Detector::default();
        let read = |at, secret: &str, result: &str| {
            let mut e = event(
                at,
                "arn:aws:iam::111122223333:user/dashboard",
                "GetSecretValue",
            );
            e.secret_arn = Some(secret.into());
            e.result = result.into();
            e
        };
        let (a, b) = (
            "arn:aws:secretsmanager:eu-west-1:1:secret:a",
            "arn:aws:secretsmanager:eu-west-1:1:secret:b",
        );
        assert_eq!(
            kinds(&mut d, &[read(0, a, "Success"), read(5000, a, "Success")]),
            vec![]
        );
        assert_eq!(
            kinds(&mut d, &[read(5001, b, "Success")]),
            vec![AlertKind::NewSecretRead]
        );
        let mut delete = event(5002, "arn:aws:iam::111122223333:root", "DeleteSecret");
        delete.secret_arn = Some(a.into());
        assert_eq!(
            kinds(&mut d, &[delete, read(5003, a, "InvalidRequestException")]),
            vec![AlertKind::PendingDeletionRead]
        );
        let mut restore = event(5004, "arn:aws:iam::111122223333:root", "RestoreSecret");
        restore.secret_arn = Some(a.into());
        assert_eq!(kinds(&mut d, &[restore, read(5005, a, "Success")]), vec![]);
    }

    #[test]
    fn a_burst_of_denials_is_raised_once_per_window() {
        let mut d = Detector::default();
        let denied = |at| {
            let mut e = event(at, "arn:aws:iam::111122223333:user/probe", "ListKeys");
            e.result = "AccessDeniedException".into();
            e
        };
        // Nine in a minute: quiet. Spread out: quiet.
        let slow: Vec<_> = (0..20).map(|i| denied(i * 30)).collect();
        assert_eq!(kinds(&mut d, &slow), vec![]);
        let fast: Vec<_> = (0..25).map(|i| denied(1000 + i)).collect();
        assert_eq!(kinds(&mut d, &fast), vec![AlertKind::AccessDeniedBurst]);
        let later: Vec<_> = (0..10).map(|i| denied(1100 + i)).collect();
        assert_eq!(kinds(&mut d, &later), vec![AlertKind::AccessDeniedBurst]);
    }
}
