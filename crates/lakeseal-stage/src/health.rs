//! The stage's health, as `/healthz` reports it: so an orchestrator can tell a stage that is
//! consuming an idle topic from one that is stuck.
//!
//! | status        | HTTP | meaning                                                         |
//! |---------------|------|-----------------------------------------------------------------|
//! | `starting`    | 200  | subscribed, no partition assigned yet                           |
//! | `consuming`   | 200  | partitions assigned, brokers reachable                          |
//! | `paused`      | 503  | the key core or the lake refuses a window; retrying              |
//! | `unreachable` | 503  | no broker is up (librdkafka's last statistics); retrying         |
//! | `failed`      | 503  | stopped by an error that waiting will not cure; `reason` says it |

use std::sync::{Arc, Mutex, PoisonError};

use serde_json::{Value, json};

/// A handle on the stage's health, cheap to clone: the stage writes it, `/healthz` reads it.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    assigned: bool,
    /// Why windows cannot be written now.
    paused: Option<String>,
    /// Whether any broker was up at librdkafka's last statistics (none yet: `None`).
    brokers_up: Option<bool>,
    /// The last error librdkafka is retrying.
    last_transient: Option<String>,
    failed: Option<String>,
}

impl Health {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Partitions are assigned (or, `false`, all were revoked).
    pub fn set_assigned(&self, assigned: bool) {
        self.with(|s| s.assigned = assigned);
    }

    /// Windows cannot be written (`Some(why)`), or can again (`None`).
    pub fn set_paused(&self, why: Option<String>) {
        self.with(|s| s.paused = why);
    }

    /// Whether any broker is up, from librdkafka's statistics.
    pub fn set_brokers_up(&self, up: bool) {
        self.with(|s| s.brokers_up = Some(up));
    }

    /// An error librdkafka is retrying.
    pub fn note_transient(&self, error: String) {
        self.with(|s| s.last_transient = Some(error));
    }

    /// Stopped for good, and why; the first reason is kept.
    pub fn set_failed(&self, why: String) {
        self.with(|s| {
            s.failed.get_or_insert(why);
        });
    }

    /// Whether the stage is making progress (or ready to), and the JSON `/healthz` answers.
    pub fn report(&self) -> (bool, Value) {
        self.with(|s| {
            if let Some(why) = &s.failed {
                (false, json!({ "status": "failed", "reason": why }))
            } else if let Some(why) = &s.paused {
                (false, json!({ "status": "paused", "reason": why }))
            } else if s.brokers_up == Some(false) {
                let why = s.last_transient.as_deref().unwrap_or("no broker is up");
                (false, json!({ "status": "unreachable", "reason": why }))
            } else if s.assigned {
                (true, json!({ "status": "consuming" }))
            } else {
                (true, json!({ "status": "starting" }))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(h: &Health) -> (bool, String) {
        let (ok, body) = h.report();
        (ok, body["status"].as_str().unwrap().to_owned())
    }

    #[test]
    fn the_worst_state_wins() {
        let h = Health::default();
        assert_eq!(status(&h), (true, "starting".into()));
        h.set_assigned(true);
        h.set_brokers_up(true);
        assert_eq!(status(&h), (true, "consuming".into()));
        h.note_transient("broker down".into());
        h.set_brokers_up(false);
        assert_eq!(status(&h), (false, "unreachable".into()));
        assert_eq!(h.report().1["reason"], "broker down");
        h.set_paused(Some("key core: throttled".into()));
        assert_eq!(status(&h), (false, "paused".into()));
        h.set_failed("authentication".into());
        h.set_failed("later".into());
        assert_eq!(status(&h), (false, "failed".into()));
        assert_eq!(h.report().1["reason"], "authentication");
        let (ok, _) = Health::default().report();
        assert!(ok);
    }
}
