//! What a consumer or producer error means for the stage: one that waiting will not cure stops
//! it with the cause and the `stage.toml` field to fix; any other is retried by librdkafka and
//! counted.
//!
//! librdkafka retries everything itself, forever: left alone, a stage that cannot authenticate,
//! trust the broker's certificate or decompress a topic's batches logs a warning twice a second
//! and consumes nothing, which from outside looks like an empty topic.
//!
//! One exception: SASL credentials that come from `secret://` references may be mid-rotation —
//! the broker takes the new password a moment before the key core makes it current — so a
//! refused login wakes the `secret://` refresher and is retried, and stops the stage only when
//! the refusals have lasted [`MANAGED_LOGIN_PATIENCE`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use tokio::sync::Notify;

use crate::Error;
use crate::health::Health;

/// What to do about an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Will not resolve by waiting: stop, and say this (the cause and the field to fix).
    Fatal(String),
    /// librdkafka retries: count it under this `kind` (a fixed, small set of labels).
    Transient(&'static str),
}

/// The verdict on `error`, with librdkafka's own explanation (`reason`, which names the broker
/// and never a credential) where there is one.
pub(crate) fn classify(error: &KafkaError, reason: &str, topics: &[String]) -> Verdict {
    use RDKafkaErrorCode as C;
    let Some(code) = error.rdkafka_error_code() else {
        return Verdict::Transient("other");
    };
    let why = |fix: &str| {
        let detail = if reason.is_empty() {
            error.to_string()
        } else {
            format!("{error} ({reason})")
        };
        Verdict::Fatal(format!("{fix}: {detail}"))
    };
    match code {
        C::Authentication | C::SaslAuthenticationFailed | C::IllegalSASLState => why(
            "the broker refused the stage's credentials; check source.kafka.\"sasl.username\", \
             \"sasl.password\" and \"sasl.mechanism\"",
        ),
        C::UnsupportedSASLMechanism => why(
            "the broker does not offer this SASL mechanism; check source.kafka.\"sasl.mechanism\"",
        ),
        C::SSL => why(
            "the TLS handshake with the broker failed (an untrusted or mismatched certificate, \
             or a broker that does not speak TLS); check source.kafka.\"ssl.ca.location\" and \
             \"security.protocol\"",
        ),
        C::NotImplemented => why(
            "records that this build cannot read (a compression codec or message format it \
             lacks); the topic's producers chose it, see the README for the codecs read",
        ),
        C::UnknownTopicOrPartition | C::UnknownTopic | C::InvalidTopic => why(&format!(
            "a subscribed topic does not exist; check source.topics ({})",
            topics.join(", ")
        )),
        C::TopicAuthorizationFailed => why(&format!(
            "the stage's principal may not read a subscribed topic; check source.topics ({}) and \
             the broker's ACLs",
            topics.join(", ")
        )),
        C::GroupAuthorizationFailed | C::InvalidGroupId => why(
            "the stage's principal may not use its consumer group; check source.kafka.\"group.id\" \
             and the broker's ACLs",
        ),
        C::ClusterAuthorizationFailed => {
            why("the stage's principal is not authorised on the cluster; check the broker's ACLs")
        }
        C::Fatal => why("librdkafka raised a fatal error"),
        C::BrokerTransportFailure => Verdict::Transient("transport"),
        C::AllBrokersDown => Verdict::Transient("all_brokers_down"),
        C::Resolve => Verdict::Transient("resolve"),
        C::MessageTimedOut | C::RequestTimedOut | C::OperationTimedOut => {
            Verdict::Transient("timed_out")
        }
        C::NotLeaderForPartition | C::LeaderNotAvailable | C::NotCoordinator => {
            Verdict::Transient("leader_moved")
        }
        C::CoordinatorNotAvailable | C::CoordinatorLoadInProgress => {
            Verdict::Transient("coordinator")
        }
        _ => Verdict::Transient("other"),
    }
}

/// How long the broker may refuse SASL credentials from `secret://` before the stage stops: the
/// refresher checks for a new version at once and a rotation makes its password current within
/// moments, so a refusal that lasts this long is a wrong secret, not a rotation.
pub(crate) const MANAGED_LOGIN_PATIENCE: Duration = Duration::from_secs(30);

/// Whether `error` is the broker refusing the stage's login.
fn is_login_refusal(error: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        error.rdkafka_error_code(),
        Some(C::Authentication | C::SaslAuthenticationFailed)
    )
}

/// A run of refused logins: none more than the patience apart.
#[derive(Debug, Clone, Copy)]
struct Refusals {
    first: Instant,
    last: Instant,
}

/// Which of the stage's clients met an error.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Client {
    Consumer,
    DeadLetters,
}

/// Where the stage's clients report their errors, from librdkafka's callbacks and from `poll`:
/// the first fatal one is kept for the loop to stop on; the rest are counted.
#[derive(Debug)]
pub(crate) struct Trouble {
    fatal: Mutex<Option<Error>>,
    health: Health,
    topics: Vec<String>,
    /// Set when the SASL credentials come from `secret://`: woken at a refused login.
    managed_login: Option<Arc<Notify>>,
    refusals: Mutex<Option<Refusals>>,
}

impl Trouble {
    /// `managed_login`: the `secret://` refresher's wake-up, when the SASL credentials are its.
    pub(crate) fn new(
        health: Health,
        topics: Vec<String>,
        managed_login: Option<Arc<Notify>>,
    ) -> Self {
        Self {
            fatal: Mutex::new(None),
            health,
            topics,
            managed_login,
            refusals: Mutex::new(None),
        }
    }

    /// New SASL credentials are in use: earlier refusals no longer count.
    pub(crate) fn credentials_changed(&self) {
        *self.refusals.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// For a refused login at `now` with credentials from `secret://`: whether to wait for the
    /// refresher (which is woken) rather than stop.
    fn awaits_rotation(&self, error: &KafkaError, now: Instant) -> bool {
        let Some(refresher) = &self.managed_login else {
            return false;
        };
        if !is_login_refusal(error) {
            return false;
        }
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        let run = match *refusals {
            Some(run) if now.duration_since(run.last) < MANAGED_LOGIN_PATIENCE => Refusals {
                first: run.first,
                last: now,
            },
            _ => Refusals {
                first: now,
                last: now,
            },
        };
        *refusals = Some(run);
        if now.duration_since(run.first) >= MANAGED_LOGIN_PATIENCE {
            return false;
        }
        refresher.notify_one();
        true
    }

    pub(crate) fn health(&self) -> &Health {
        &self.health
    }

    /// An error of `client`, with librdkafka's `reason` when it gave one.
    pub(crate) fn report(&self, client: Client, error: &KafkaError, reason: &str) {
        self.report_at(client, error, reason, Instant::now());
    }

    fn report_at(&self, client: Client, error: &KafkaError, reason: &str, now: Instant) {
        let (name, metric) = match client {
            Client::Consumer => ("consumer", "lakeseal_stage_consumer_errors_total"),
            Client::DeadLetters => (
                "dead-letter producer",
                "lakeseal_stage_dead_letter_errors_total",
            ),
        };
        let verdict = if self.awaits_rotation(error, now) {
            Verdict::Transient("login_refused")
        } else {
            classify(error, reason, &self.topics)
        };
        match verdict {
            Verdict::Fatal(why) => {
                tracing::error!(client = name, error = %why, "cannot go on");
                self.set_fatal(Error::Kafka(format!("{name}: {why}")));
            }
            Verdict::Transient(kind) => {
                metrics::counter!(metric, "kind" => kind).increment(1);
                tracing::warn!(client = name, %error, reason, "broker error; retrying");
                self.health.note_transient(if reason.is_empty() {
                    error.to_string()
                } else {
                    reason.to_owned()
                });
            }
        }
    }

    /// Stop the stage with `e` (the first one stays).
    pub(crate) fn set_fatal(&self, e: Error) {
        self.health.set_failed(e.to_string());
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(e);
    }

    pub(crate) fn take_fatal(&self) -> Option<Error> {
        self.fatal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Vec<String> {
        vec!["telemetry".into()]
    }

    #[test]
    fn errors_that_waiting_will_not_cure_are_fatal_and_name_the_field() {
        use RDKafkaErrorCode as C;
        let cases = [
            (KafkaError::Global(C::Authentication), "\"sasl.password\""),
            (KafkaError::Global(C::SSL), "\"ssl.ca.location\""),
            (
                KafkaError::MessageConsumption(C::NotImplemented),
                "compression codec",
            ),
            (
                KafkaError::MessageConsumption(C::UnknownTopicOrPartition),
                "source.topics (telemetry)",
            ),
            (
                KafkaError::MessageConsumption(C::TopicAuthorizationFailed),
                "source.topics",
            ),
            (
                KafkaError::Global(C::GroupAuthorizationFailed),
                "\"group.id\"",
            ),
            (
                KafkaError::Global(C::UnsupportedSASLMechanism),
                "\"sasl.mechanism\"",
            ),
        ];
        for (error, field) in cases {
            match classify(
                &error,
                "sasl_ssl://127.0.0.1:9093/bootstrap: refused",
                &topics(),
            ) {
                Verdict::Fatal(why) => {
                    assert!(why.contains(field), "{why} should name {field}");
                    assert!(why.contains("refused"), "{why} keeps librdkafka's reason");
                }
                other => panic!("{error:?} should be fatal, not {other:?}"),
            }
        }
    }

    #[test]
    fn a_refused_managed_login_waits_for_the_rotation_then_stops() {
        let refresher = Arc::new(Notify::new());
        let trouble = Trouble::new(Health::default(), topics(), Some(refresher.clone()));
        let refused = KafkaError::Global(RDKafkaErrorCode::Authentication);
        let start = Instant::now();
        trouble.report_at(Client::Consumer, &refused, "", start);
        assert!(
            trouble.take_fatal().is_none(),
            "a rotation may be under way"
        );
        // The refresher was woken: a permit is stored for it.
        let woken = refresher.notified();
        tokio::pin!(woken);
        assert!(woken.as_mut().enable(), "the refresher is woken");
        // New credentials start the count again.
        trouble.report_at(
            Client::Consumer,
            &refused,
            "",
            start + Duration::from_secs(20),
        );
        trouble.credentials_changed();
        trouble.report_at(
            Client::Consumer,
            &refused,
            "",
            start + Duration::from_secs(40),
        );
        assert!(trouble.take_fatal().is_none());
        // Refused for the whole patience: a wrong secret, which stops the stage.
        trouble.report_at(
            Client::Consumer,
            &refused,
            "",
            start + Duration::from_secs(60),
        );
        trouble.report_at(
            Client::Consumer,
            &refused,
            "",
            start + Duration::from_secs(71),
        );
        let fatal = trouble.take_fatal().expect("stops").to_string();
        assert!(fatal.contains("\"sasl.password\""), "{fatal}");
        // Without secret:// credentials, a refusal stops the stage at once.
        let plain = Trouble::new(Health::default(), topics(), None);
        plain.report_at(Client::Consumer, &refused, "", start);
        assert!(plain.take_fatal().is_some());
    }

    #[test]
    fn errors_that_pass_are_counted_by_kind() {
        use RDKafkaErrorCode as C;
        for (code, kind) in [
            (C::BrokerTransportFailure, "transport"),
            (C::AllBrokersDown, "all_brokers_down"),
            (C::NotLeaderForPartition, "leader_moved"),
            (C::RequestTimedOut, "timed_out"),
            (C::Resolve, "resolve"),
        ] {
            assert_eq!(
                classify(&KafkaError::Global(code), "", &topics()),
                Verdict::Transient(kind)
            );
        }
        assert_eq!(
            classify(&KafkaError::NoMessageReceived, "", &topics()),
            Verdict::Transient("other")
        );
    }
}
