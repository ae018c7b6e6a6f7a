//! Kafka set-up: the consumer's and the dead-letter producer's librdkafka configuration,
//! librdkafka's log lines into tracing, and its errors into the stage's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lakeseal_kafka_batch::Record;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseProducer, Producer};

use zeroize::Zeroizing;

use crate::config::KafkaProperties;
use crate::secret_ref;
use crate::secrets::LoginProbe;
use crate::{Error, Result};

/// librdkafka properties that only a consumer understands; the dead-letter producer gets the rest
/// (brokers, security, SASL, TLS, client id).
pub(super) const CONSUMER_ONLY: &[&str] = &[
    "group.id",
    "group.instance.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "group.protocol",
    "isolation.level",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.wait.max.ms",
    "fetch.queue.backoff.ms",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "max.partition.fetch.bytes",
];

/// The stage's `fetch.queue.backoff.ms` unless the user sets one. librdkafka stops fetching a
/// partition whose prefetch queue is full and looks again only this long after (1 s by default):
/// a consumer that is at times slower than the broker — any that does work per record — drains
/// the queue in a fraction of that and then waits idle for the rest.
pub const FETCH_QUEUE_BACKOFF_MS: &str = "50";

/// The librdkafka log level matching what tracing lets through (librdkafka filters before the
/// callback, so an off-by-default debug stays cheap).
pub(super) fn librdkafka_level() -> RDKafkaLogLevel {
    use tracing::level_filters::LevelFilter;
    match LevelFilter::current() {
        LevelFilter::TRACE | LevelFilter::DEBUG => RDKafkaLogLevel::Debug,
        LevelFilter::INFO => RDKafkaLogLevel::Info,
        LevelFilter::WARN => RDKafkaLogLevel::Warning,
        _ => RDKafkaLogLevel::Error,
    }
}

/// librdkafka's log lines, into tracing under the `librdkafka` target.
pub(crate) fn forward_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    use RDKafkaLogLevel::{Alert, Critical, Debug, Emerg, Error, Info, Notice, Warning};
    match level {
        Emerg | Alert | Critical | Error => {
            tracing::error!(target: "librdkafka", facility, "{message}");
        }
        Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
        Notice | Info => tracing::info!(target: "librdkafka", facility, "{message}"),
        Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
    }
}

/// A record the consumer's own queue gave, as the record queue gives them.
pub(super) fn record<'m>(message: &'m BorrowedMessage<'_>) -> Record<'m> {
    Record {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
        payload: message.payload(),
        key: message.key(),
    }
}

pub(super) fn kafka(what: &str, e: KafkaError) -> Error {
    Error::Kafka(format!("{what}: {e}"))
}

/// A client that librdkafka refused to create: a property the user set is named by its path in
/// `stage.toml` (the dead-letter producer takes the same properties as the consumer, so its
/// refusal is of the user's property too).
pub(super) fn kafka_config(what: &str, e: KafkaError) -> Error {
    match e {
        KafkaError::ClientConfig(_, description, key, _value) if !key.is_empty() => {
            Error::Config(format!("source.kafka.\"{key}\": {description}"))
        }
        other => kafka(what, other),
    }
}

/// How long a login check of new SASL credentials may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A check of new SASL credentials before the running clients get them: a throwaway producer
/// with the stage's connection properties (`kafka`, `secrets` as for [`client_configs`]) and the
/// new username and password reads the cluster's metadata. Its configuration, and so the
/// stage's other secret properties, stays in memory with the probe.
pub(crate) fn login_probe(
    kafka: &KafkaProperties,
    secrets: &BTreeMap<String, Zeroizing<String>>,
) -> Result<LoginProbe> {
    let (_, mut producer) = client_configs(kafka, secrets)?;
    producer
        .set("enable.idempotence", "false")
        .set_log_level(RDKafkaLogLevel::Error);
    Ok(Arc::new(move |username: &str, password: &str| {
        let mut config = producer.clone();
        config
            .set("sasl.username", username)
            .set("sasl.password", password);
        let client: BaseProducer = config
            .create()
            .map_err(|e| format!("cannot make a client to check the login: {e}"))?;
        client
            .client()
            .fetch_metadata(None, PROBE_TIMEOUT)
            .map(drop)
            .map_err(|e| format!("the login check failed: {e}"))
    }))
}

/// The consumer's and the dead-letter producer's configurations from `[source.kafka]`.
///
/// `secret://` values come resolved in `secrets`; the other secret properties are resolved here
/// from their references (see [`secret_ref`]). Each value is copied once more, into
/// `ClientConfig`'s map (dropped once the clients are made), and librdkafka keeps its own for
/// the client's lifetime, to authenticate again on reconnect.
pub(super) fn client_configs(
    kafka: &KafkaProperties,
    secrets: &BTreeMap<String, Zeroizing<String>>,
) -> Result<(ClientConfig, ClientConfig)> {
    let mut consumer = ClientConfig::new();
    let mut producer = ClientConfig::new();
    // Start from the oldest record when the group has no offset yet; the user may say otherwise.
    consumer.set("auto.offset.reset", "earliest");
    // Statistics feed the consumer-lag gauge.
    consumer.set("statistics.interval.ms", "5000");
    consumer.set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS);
    for (name, value) in kafka.iter() {
        let value = match secrets.get(name) {
            Some(resolved) => resolved.clone(),
            None => secret_ref::property_value(name, value)
                .map_err(|why| Error::Config(format!("source.kafka.\"{name}\": {why}")))?,
        };
        consumer.set(name, value.as_str());
        if !CONSUMER_ONLY.contains(&name) {
            producer.set(name, value.as_str());
        }
    }
    let level = librdkafka_level();
    consumer.set_log_level(level);
    producer.set_log_level(level);
    // The stage commits, by hand, only what the lake holds.
    consumer
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false");
    producer.set("enable.idempotence", "true");
    Ok((consumer, producer))
}
