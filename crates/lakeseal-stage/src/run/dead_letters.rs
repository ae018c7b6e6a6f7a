//! Dead letters: records that do not decode go to the dead-letter topic with their reason and
//! source, and a window waits for its dead letters' delivery before its offsets are committed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lakeseal_kafka_batch::Record;
use lakeseal_keyclient::KeyService;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use rdkafka::producer::{DeliveryResult, ProducerContext};

use super::kafka::forward_log;
use super::kafka::kafka;
use super::lock;
use super::partitions::Shared;
use super::writer::Sink;
use crate::Result;
use crate::broker_errors::{Client, Trouble};

/// A window's dead letters on their way: each holds the window's `Arc` until its delivery report.
#[derive(Default)]
pub(super) struct DeadLetters {
    /// Sent and not yet reported.
    pub(super) outstanding: AtomicUsize,
    /// The first that failed.
    pub(super) failed: Mutex<Option<KafkaError>>,
}

/// The dead-letter producer's context: delivery reports go to their window's [`DeadLetters`].
///
/// The producer is polled by whoever waits for a window's dead letters, and between checks by
/// the loop — not by a thread of its own: the `rdkafka` crate's polling thread (behind its
/// `FutureProducer`) waits 100 ms at a time and then spins through the last millisecond of each
/// wait (its timeout is rounded down to whole milliseconds, and 0 ms returns at once), about 1 %
/// of a core even when the stage is idle.
pub(super) struct DeadLetterContext {
    pub(super) trouble: Arc<Trouble>,
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

impl<K: KeyService + 'static> Shared<K> {
    /// Sends `message` to the dead-letter topic as one of `window`'s dead letters.
    pub(super) fn dead_letter(
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
        let mut record = BaseRecord::with_opaque_to(&self.sink.config.dlq_topic, window.clone())
            .payload(message.payload.unwrap_or_default())
            .headers(headers);
        if let Some(key) = message.key {
            record = record.key(key);
        }
        window.outstanding.fetch_add(1, Ordering::Relaxed);
        loop {
            match self.sink.dead_letters.send(record) {
                Ok(()) => return Ok(()),
                // Room is made as delivery reports are served.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.sink.dead_letters.poll(Duration::from_millis(10));
                }
                Err((e, _)) => {
                    window.outstanding.fetch_sub(1, Ordering::Relaxed);
                    return Err(kafka("dead-letter topic", e));
                }
            }
        }
    }
}

impl<K: KeyService + 'static> Sink<K> {
    /// Waits until every dead letter of `window` is delivered, serving the producer's delivery
    /// reports meanwhile (librdkafka fails one after `message.timeout.ms`).
    pub(super) fn deliver(&self, window: &DeadLetters) -> Result<()> {
        while window.outstanding.load(Ordering::Acquire) > 0 {
            self.dead_letters.poll(Duration::from_millis(10));
        }
        match lock(&window.failed).clone() {
            Some(e) => Err(kafka("dead-letter delivery", e)),
            None => Ok(()),
        }
    }
}
