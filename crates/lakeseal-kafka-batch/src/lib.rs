//! A consumer's records taken from librdkafka a batch at a time, behind a safe interface.
//!
//! The `rdkafka` crate hands out one message per `BaseConsumer::poll`: each a trip through
//! librdkafka's event API (a lock, clock reads, an event, an `Arc`), about 0.2 µs of the polling
//! thread's CPU a record (throughput bench). librdkafka's `rd_kafka_consume_batch_queue` takes up
//! to a batch at once, but only from a queue that carries nothing else: on the consumer's own
//! queue it would serve rebalance events itself, never reaching the `rdkafka` context.
//!
//! So a partition's records are forwarded to a queue of their own, the [`RecordQueue`], when the
//! partition is assigned — from the context's `pre_rebalance`, through [`Forwarding`], before
//! librdkafka starts fetching it — while rebalances, commit results and errors stay on the
//! consumer's queue, served by `BaseConsumer::poll` as before. A partition that could not be
//! forwarded keeps its records on the consumer's queue, so `poll` may still return records.
//!
//! The rules that keep the raw handles valid are kept by the types, not by callers:
//! * the record queue is destroyed before its consumer: [`RecordQueue`] owns the consumer and
//!   destroys the queue first;
//! * a record is released before its queue: a [`Batch`] borrows its queue;
//! * partitions are forwarded only to a queue of the same client, and never once the queue is
//!   gone: [`Forwarding`] holds the queue under a lock and compares clients.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rdkafka::TopicPartitionList;
use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// A record queue and the client it belongs to.
struct Slot {
    queue: NonNull<rd::rd_kafka_queue_t>,
    client: NonNull<rd::rd_kafka_t>,
}

// SAFETY: librdkafka's client and queue handles may be used from any thread; `Slot` only carries
// them between the thread that made the queue and the one running the rebalance callback.
unsafe impl Send for Slot {}

/// Where a consumer's context sends the partitions it is assigned: to the [`RecordQueue`] made
/// with it, while that exists. Made before the consumer (its context holds it), then given to
/// [`RecordQueue::new`].
#[derive(Default)]
pub struct Forwarding {
    slot: Mutex<Option<Slot>>,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding")
            .field("queue", &lock(&self.slot).is_some())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Forwarding {
    /// A forwarding with no record queue yet.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// Sends the records of every partition in `assigned` to the record queue from now on. Call
    /// it from `ConsumerContext::pre_rebalance` on an assignment — before librdkafka starts
    /// fetching the partitions, so none of their records reaches the consumer's queue first —
    /// with the consumer the callback was given.
    ///
    /// Returns how many partitions stay on the consumer's own queue (their records come from
    /// `BaseConsumer::poll`): all of them when no record queue of this consumer exists (not made
    /// yet, or dropped), else those librdkafka does not know.
    pub fn forward<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        assigned: &TopicPartitionList,
    ) -> usize {
        let slot = lock(&self.slot);
        let client = consumer.client().native_ptr();
        let Some(slot) = slot.as_ref().filter(|s| s.client.as_ptr() == client) else {
            return assigned.count();
        };
        let mut left = 0;
        for element in assigned.elements() {
            let Ok(topic) = CString::new(element.topic()) else {
                left += 1;
                continue;
            };
            // SAFETY: `client` is alive (borrowed through `consumer`) and `topic` is a C string.
            // A consumer's partition queue is made when missing; null only for a bad partition.
            let partition = unsafe {
                rd::rd_kafka_queue_get_partition(client, topic.as_ptr(), element.partition())
            };
            if partition.is_null() {
                left += 1;
                continue;
            }
            // SAFETY: `partition` was just made; the record queue is alive while it is in the
            // slot, whose lock is held, and belongs to this client (compared above). Destroying
            // the partition's handle leaves its forwarding in place.
            unsafe {
                rd::rd_kafka_queue_forward(partition, slot.queue.as_ptr());
                rd::rd_kafka_queue_destroy(partition);
            }
        }
        left
    }
}

/// A consumer and the queue its assigned partitions' records are forwarded to.
pub struct RecordQueue<C: ConsumerContext + 'static> {
    queue: NonNull<rd::rd_kafka_queue_t>,
    forwarding: Arc<Forwarding>,
    /// Dropped after [`Drop::drop`] has destroyed the queue.
    consumer: BaseConsumer<C>,
}

impl<C: ConsumerContext + 'static> std::fmt::Debug for RecordQueue<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordQueue").finish_non_exhaustive()
    }
}

// SAFETY: the queue handle may be used from any thread (librdkafka locks it); the consumer is
// `Send` and `Sync` itself.
unsafe impl<C: ConsumerContext + 'static> Send for RecordQueue<C> {}
// SAFETY: as for `Send`: every use of the queue through `&self` is a thread-safe librdkafka call.
unsafe impl<C: ConsumerContext + 'static> Sync for RecordQueue<C> {}

impl<C: ConsumerContext + 'static> RecordQueue<C> {
    /// A record queue for `consumer`, registered with `forwarding` (which the consumer's context
    /// calls on assignments). Make it before the consumer's first `poll`, so that the first
    /// assignment is forwarded already.
    pub fn new(consumer: BaseConsumer<C>, forwarding: Arc<Forwarding>) -> Self {
        let client = consumer.client().native_ptr();
        // SAFETY: `client` is alive: `consumer` is owned here.
        let queue = unsafe { rd::rd_kafka_queue_new(client) };
        // librdkafka allocates with an abort on failure: neither pointer is ever null.
        let queue = NonNull::new(queue).expect("rd_kafka_queue_new returned null");
        let client = NonNull::new(client).expect("a consumer without a client");
        *lock(&forwarding.slot) = Some(Slot { queue, client });
        Self {
            queue,
            forwarding,
            consumer,
        }
    }

    /// The consumer: `poll` it between batches to serve rebalances, commits and errors.
    pub fn consumer(&self) -> &BaseConsumer<C> {
        &self.consumer
    }

    /// An empty batch of at most `capacity` records (at least one).
    pub fn batch(&self, capacity: usize) -> Batch<'_> {
        Batch {
            messages: Vec::with_capacity(capacity.max(1)),
            _queue: PhantomData,
        }
    }

    /// Releases what `batch` holds, then fills it with the records waiting, up to its capacity.
    /// When none is waiting it waits up to `timeout` (to the millisecond) for the first, then
    /// takes those that came with it. Returns how many it took.
    pub fn take<'q>(&'q self, timeout: Duration, batch: &mut Batch<'q>) -> usize {
        batch.clear();
        // librdkafka's batch call waits until the batch is full or the time is up: so wait for
        // one record only, then take the rest without waiting.
        if self.fill(Duration::ZERO, batch, usize::MAX) == 0 && self.fill(timeout, batch, 1) == 1 {
            self.fill(Duration::ZERO, batch, usize::MAX);
        }
        batch.len()
    }

    /// Appends up to `most` records to `batch` (as many as fit), waiting up to `timeout` for the
    /// batch to fill. Returns how many it appended.
    fn fill<'q>(&'q self, timeout: Duration, batch: &mut Batch<'q>, most: usize) -> usize {
        let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        let messages = &mut batch.messages;
        let room = (messages.capacity() - messages.len()).min(most);
        if room == 0 {
            return 0;
        }
        // SAFETY: the queue is alive (`self` is borrowed); librdkafka writes at most `room`
        // message pointers into the vector's spare room, which has space for them.
        let taken = unsafe {
            rd::rd_kafka_consume_batch_queue(
                self.queue.as_ptr(),
                timeout_ms,
                messages.as_mut_ptr().add(messages.len()),
                room,
            )
        };
        // -1 is an error only for a queue that is not a consumer's: not this one.
        let taken = usize::try_from(taken).unwrap_or(0).min(room);
        // SAFETY: librdkafka wrote `taken` valid message pointers after the vector's length; the
        // batch owns each from now on.
        unsafe { messages.set_len(messages.len() + taken) };
        taken
    }
}

impl<C: ConsumerContext + 'static> Drop for RecordQueue<C> {
    fn drop(&mut self) {
        {
            let mut slot = lock(&self.forwarding.slot);
            if slot.as_ref().is_some_and(|s| s.queue == self.queue) {
                *slot = None;
            }
        }
        // SAFETY: no batch is left (each borrows `self`), nothing forwards here any more (the
        // slot is cleared under its lock), and the consumer's client is alive: the `consumer`
        // field is dropped after this. Partitions still forwarded keep the queue's memory alive;
        // librdkafka drops records that reach it from now on (they were never taken, so never
        // committed).
        unsafe { rd::rd_kafka_queue_destroy(self.queue.as_ptr()) };
    }
}

/// Records taken by [`RecordQueue::take`], released when the batch is cleared, refilled or
/// dropped.
pub struct Batch<'q> {
    messages: Vec<*mut rd::rd_kafka_message_t>,
    _queue: PhantomData<&'q ()>,
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("records", &self.messages.len())
            .finish()
    }
}

impl Batch<'_> {
    /// The records in the order librdkafka gave them (each partition's in offset order), or the
    /// error a partition's fetch reported in a record's place.
    ///
    /// A topic's name is read from librdkafka once for a run of its records (it is a C string
    /// to measure and check for UTF-8): records of one topic share one `&str`.
    pub fn iter(&self) -> impl Iterator<Item = Result<Record<'_>, KafkaError>> {
        let mut named: (*const rd::rd_kafka_topic_t, &str) = (std::ptr::null(), "");
        self.messages.iter().map(move |&message| {
            // SAFETY: the message is valid until the batch releases it, which needs `&mut self`.
            let message = unsafe { &*message };
            if !std::ptr::eq(message.rkt, named.0) {
                named = (message.rkt, topic_name(message));
            }
            record(message, named.1)
        })
    }

    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the batch holds none.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Releases every record.
    pub fn clear(&mut self) {
        for message in self.messages.drain(..) {
            // SAFETY: each message is owned by the batch and released once (drained).
            unsafe { rd::rd_kafka_message_destroy(message) };
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.clear();
    }
}

/// One record of a [`Batch`].
#[derive(Clone, Copy)]
pub struct Record<'b> {
    /// Its topic.
    pub topic: &'b str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its value; `None` for a tombstone.
    pub payload: Option<&'b [u8]>,
    /// Its key, if it has one.
    pub key: Option<&'b [u8]>,
}

/// Sizes only: a record's bytes are the user's data.
impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset)
            .field("payload_len", &self.payload.map(<[u8]>::len))
            .field("key_len", &self.key.map(<[u8]>::len))
            .finish()
    }
}

/// The name of a message's topic ("" when it has none).
fn topic_name(message: &rd::rd_kafka_message_t) -> &str {
    if message.rkt.is_null() {
        return "";
    }
    // SAFETY: the message holds a reference on its topic, whose name is a C string.
    let name = unsafe { CStr::from_ptr(rd::rd_kafka_topic_name(message.rkt)) };
    name.to_str().unwrap_or("")
}

/// `message` as a record of `topic` (its topic's name).
fn record<'m>(
    message: &'m rd::rd_kafka_message_t,
    topic: &'m str,
) -> Result<Record<'m>, KafkaError> {
    if message.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(KafkaError::MessageConsumption(RDKafkaErrorCode::from(
            message.err,
        )));
    }
    Ok(Record {
        topic,
        partition: message.partition,
        offset: message.offset,
        // SAFETY: librdkafka's payload and key are `len`/`key_len` bytes, valid with the message.
        payload: unsafe { bytes(message.payload, message.len) },
        // SAFETY: as for the payload.
        key: unsafe { bytes(message.key, message.key_len) },
    })
}

/// `len` bytes at `data`, or `None` for a null pointer.
///
/// # Safety
/// A non-null `data` must point at `len` bytes valid for `'a`.
unsafe fn bytes<'a>(data: *const std::ffi::c_void, len: usize) -> Option<&'a [u8]> {
    // SAFETY: the caller's promise.
    (!data.is_null()).then(|| unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

#[cfg(test)]
mod tests {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::DefaultConsumerContext;

    use super::*;

    /// A consumer of a broker that is never reached: librdkafka connects lazily.
    fn consumer() -> BaseConsumer<DefaultConsumerContext> {
        ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("group.id", "lakeseal-kafka-batch-test")
            .create()
            .expect("consumer")
    }

    fn partitions() -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        list.add_partition("t", 0);
        list.add_partition("t", 1);
        list
    }

    #[test]
    fn only_the_queues_own_consumer_forwards_and_only_while_the_queue_lives() {
        let forwarding = Forwarding::new();
        let stranger = consumer();
        assert_eq!(
            forwarding.forward(&stranger, &partitions()),
            2,
            "no queue yet"
        );
        let queue = RecordQueue::new(consumer(), forwarding.clone());
        assert_eq!(forwarding.forward(queue.consumer(), &partitions()), 0);
        assert_eq!(
            forwarding.forward(&stranger, &partitions()),
            2,
            "another consumer's partitions are not forwarded"
        );
        drop(queue);
        assert_eq!(forwarding.forward(&stranger, &partitions()), 2);
        assert!(format!("{forwarding:?}").contains("queue: false"));
    }

    #[test]
    fn an_empty_queue_waits_then_gives_nothing() {
        let queue = RecordQueue::new(consumer(), Forwarding::new());
        let mut batch = queue.batch(16);
        let started = std::time::Instant::now();
        assert_eq!(queue.take(Duration::from_millis(50), &mut batch), 0);
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert!(batch.is_empty());
        assert_eq!(batch.iter().count(), 0);
    }

    #[test]
    fn a_later_queue_keeps_its_registration_when_an_earlier_one_drops() {
        let forwarding = Forwarding::new();
        let first = RecordQueue::new(consumer(), forwarding.clone());
        let second = RecordQueue::new(consumer(), forwarding.clone());
        drop(first);
        assert_eq!(forwarding.forward(second.consumer(), &partitions()), 0);
    }
}
