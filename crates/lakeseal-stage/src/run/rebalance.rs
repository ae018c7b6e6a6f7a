//! Rebalances: the consumer's context, which forwards assigned partitions to the record queue
//! and writes or drops windows before partitions move; assigning and revoking partitions.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use lakeseal_kafka_batch::Forwarding;
use lakeseal_keyclient::KeyService;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, TopicPartitionList};

use super::kafka::forward_log;
use super::partitions::{Partition, Shared, Wait};
use super::writer::FlushError;
use super::{TopicPartition, lock};
use crate::broker_errors::Client;
use crate::window::Window;
use crate::{Error, Result};

/// The consumer's context: assigned partitions' records go to the stage's record queue;
/// rebalances write or drop windows before partitions move.
pub(super) struct Rebalancer<K> {
    pub(super) shared: Arc<Shared<K>>,
    pub(super) forwarding: Arc<Forwarding>,
}

pub(super) type StageConsumer<K> = BaseConsumer<Rebalancer<K>>;

impl<K: KeyService + 'static> ClientContext for Rebalancer<K> {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.trouble.report(Client::Consumer, &error, reason);
    }

    /// librdkafka's statistics (every `statistics.interval.ms`): consumer lag per partition, and
    /// whether any broker is up, for the health.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let up = statistics.brokers.values().any(|b| b.state == "UP");
        self.shared.trouble.health().set_brokers_up(up);
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    metrics::gauge!(
                        "lakeseal_stage_consumer_lag",
                        "topic" => topic.clone(),
                        "partition" => partition.to_string()
                    )
                    .set(p.consumer_lag as f64);
                }
            }
        }
    }
}

impl<K: KeyService + 'static> ConsumerContext for Rebalancer<K> {
    fn pre_rebalance(&self, consumer: &StageConsumer<K>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let left = self.forwarding.forward(consumer, list);
                if left > 0 {
                    // Still consumed, one `poll` at a time.
                    tracing::warn!(
                        partitions = left,
                        "partitions not forwarded to the record queue"
                    );
                }
            }
            Rebalance::Revoke(list) => self.shared.revoke(consumer, list),
            Rebalance::Error(_) => {}
        }
    }

    fn post_rebalance(&self, _: &StageConsumer<K>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.shared.trouble.health().set_assigned(true);
            for e in list.elements() {
                let tp = (e.topic().to_owned(), e.partition());
                if let Err(error) = self.shared.assign(tp) {
                    self.shared.set_fatal(error);
                }
            }
        }
    }
}

impl<K: KeyService + 'static> Shared<K> {
    pub(super) fn set_fatal(&self, e: Error) {
        self.trouble.set_fatal(e);
    }

    pub(super) fn new_partition(&self, tp: &TopicPartition) -> Result<Partition> {
        let sink = &self.sink;
        let highest = sink
            .runtime
            .block_on(
                sink.lake
                    .highest_offset(sink.config.schema.table(), &tp.0, tp.1),
            )
            .map_err(|e| Error::Lake(format!("cannot scan the lake: {e}")))?;
        Ok(Partition {
            open: Window::new(sink.config.schema.clone(), sink.config.window),
            open_dead_letters: Arc::default(),
            pending: None,
            writing: false,
            next: highest.map_or(0, |h| h + 1),
        })
    }

    pub(super) fn assign(&self, tp: TopicPartition) -> Result<()> {
        if lock(&self.partitions).map.contains_key(&tp) {
            // Assigned again with no revoke between: its windows and resume point stand. A fresh
            // lake scan would miss a window the writer still holds and take its records again.
            tracing::info!(topic = %tp.0, partition = tp.1, "assigned again; its windows stand");
            return Ok(());
        }
        let partition = self.new_partition(&tp)?;
        tracing::info!(topic = %tp.0, partition = tp.1, resume_at = partition.next, "assigned");
        lock(&self.partitions).map.insert(tp, partition);
        Ok(())
    }

    pub(super) fn revoke(&self, consumer: &StageConsumer<K>, list: &TopicPartitionList) {
        let lost = consumer.assignment_lost();
        let mut partitions = lock(&self.partitions);
        let revoked: Vec<TopicPartition> = list
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .filter(|tp| partitions.map.contains_key(tp))
            .collect();
        let outcome = if lost {
            // Windows with the writer come back (a file landing after the partition is gone
            // holds the same records under the same offsets); nothing more is written.
            self.collect(consumer, &mut partitions, Wait::All)
                .and(Err(FlushError::Blocked("the partition was lost".into())))
        } else {
            self.flush_all(consumer, &mut partitions, &revoked)
        };
        let why = match outcome {
            Ok(()) => String::new(),
            Err(FlushError::Blocked(why)) => why,
            Err(FlushError::Fatal(error)) => {
                let why = error.to_string();
                self.set_fatal(error);
                why
            }
        };
        for tp in revoked {
            let Some(partition) = partitions.map.remove(&tp) else {
                continue;
            };
            if !lost
                && !partition.writing
                && partition.pending.is_none()
                && partition.open.is_empty()
            {
                tracing::info!(topic = %tp.0, partition = tp.1, "revoked; windows written");
            } else {
                self.sink
                    .totals
                    .dropped_windows
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = %tp.0, partition = tp.1, error = %why,
                    "revoked; its window is dropped unwritten and uncommitted, for the next owner to read again");
            }
        }
    }
}
