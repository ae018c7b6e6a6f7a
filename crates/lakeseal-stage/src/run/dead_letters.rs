//! Dead letters: records that do not decode go to the dead-letter topic with their reason and
//! source, and a window waits for its dead letters' delivery before its offsets are committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lakeseal_kafka_batch::Record;
use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};

use super::kafka::{forward_log, kafka, kafka_config};
use super::lock;
use crate::Result;
use crate::broker_errors::{Client, Trouble};

/// A window's dead letters on their way: each holds the window's `Arc` until its delivery report.
#[derive(Default)]
pub(super) struct DeadLetters {
    /// Sent and not yet reported.
    outstanding: AtomicUsize,
    /// The first that failed.
    failed: Mutex<Option<KafkaError>>,
}

/// The dead-letter producer's context: delivery reports go to their window's [`DeadLetters`].
///
/// The producer ([`DeadLetterProducer`]) is polled by whoever waits for a window's dead letters, and between checks by
/// the loop — not by a thread of its own: the `rdkafka` crate's polling thread (behind its
/// `FutureProducer`) waits 100 ms at a time and then spins through the last millisecond of each
/// wait (its timeout is rounded down to whole milliseconds, and 0 ms returns at once), about 1 %
/// of a core even when the stage is idle.
struct DeadLetterContext {
    trouble: Arc<Trouble>,
}

impl ClientContext for DeadLetterContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.trouble.report(Client::DeadLetters, &error, reason);
    }
}

impl ProducerContext for DeadLetterContext {
    type DeliveryOpaque = Arc<DeadLetters>;

    fn delivery(&self, result: &DeliveryResult<'_>, window: Arc<DeadLetters>) {
        if let Err((e, _)) = result {
            lock(&window.failed).get_or_insert_with(|| e.clone());
        }
        window.outstanding.fetch_sub(1, Ordering::Release);
    }
}

/// The dead-letter topic's producer.
pub(super) struct DeadLetterProducer {
    producer: BaseProducer<DeadLetterContext>,
    topic: String,
}

impl DeadLetterProducer {
    /// A producer to `topic` made from `config` (the consumer's properties that a producer
    /// understands); its errors are reported to `trouble`.
    pub(super) fn new(config: &ClientConfig, topic: &str, trouble: Arc<Trouble>) -> Result<Self> {
        Ok(Self {
            producer: config
                .create_with_context(DeadLetterContext { trouble })
                .map_err(|e| kafka_config("dead-letter producer", e))?,
            topic: topic.to_owned(),
        })
    }

    /// Gives the producer new SASL credentials, used at its next login.
    pub(super) fn set_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> std::result::Result<(), lakeseal_kafka_sasl::SaslError> {
        use rdkafka::producer::Producer;
        lakeseal_kafka_sasl::set_credentials(self.producer.client(), username, password)
    }

    /// Serves delivery reports and errors for up to `wait`.
    pub(super) fn poll(&self, wait: Duration) {
        self.producer.poll(wait);
    }

    /// Sends `message` to the dead-letter topic as one of `window`'s dead letters.
    pub(super) fn send(
        &self,
        message: &Record<'_>,
        reason: &str,
        window: &Arc<DeadLetters>,
    ) -> Result<()> {
        let partition = message.partition.to_string();
        let offset = message.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "lakeseal.reason",
                value: Some(reason),
            })
            .insert(Header {
                key: "lakeseal.source.topic",
                value: Some(message.topic),
            })
            .insert(Header {
                key: "lakeseal.source.partition",
                value: Some(&partition),
            })
            .insert(Header {
                key: "lakeseal.source.offset",
                value: Some(&offset),
            });
        let mut record = BaseRecord::with_opaque_to(&self.topic, window.clone())
            .payload(message.payload.unwrap_or_default())
            .headers(headers);
        if let Some(key) = message.key {
            record = record.key(key);
        }
        window.outstanding.fetch_add(1, Ordering::Relaxed);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                // Room is made as delivery reports are served.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    window.outstanding.fetch_sub(1, Ordering::Relaxed);
                    return Err(kafka("dead-letter topic", e));
                }
            }
        }
    }

    /// Waits until every dead letter of `window` is delivered, serving the producer's delivery
    /// reports meanwhile (librdkafka fails one after `message.timeout.ms`).
    pub(super) fn deliver(&self, window: &DeadLetters) -> Result<()> {
        while window.outstanding.load(Ordering::Acquire) > 0 {
            self.producer.poll(Duration::from_millis(10));
        }
        match lock(&window.failed).clone() {
            Some(e) => Err(kafka("dead-letter delivery", e)),
            None => Ok(()),
        }
    }
}
