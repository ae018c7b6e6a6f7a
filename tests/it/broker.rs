//! A real Kafka-compatible broker for the tests: `tansu` with in-memory storage on a free port
//! (installed by `.ci/run` when missing), and the `rdkafka` client the stage uses.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// A running `tansu broker`, stopped on drop.
pub struct Broker {
    pub bootstrap: String,
    child: Child,
}

impl Broker {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new("tansu")
            .args(["broker", "--storage-engine", "memory://tansu/", "--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({e}): `.ci/run` installs it with `cargo install tansu --locked --features dynostore,libsql`"));
        let bootstrap = format!("127.0.0.1:{port}");
        let start = Instant::now();
        while TcpStream::connect(&bootstrap).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "tansu did not listen on {bootstrap}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { bootstrap, child }
    }

    /// Creates a topic up front: one the broker auto-creates delays the first produce.
    pub fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new("tansu")
            .args([
                "topic",
                "create",
                name,
                "--partitions",
                &partitions.to_string(),
                "--broker",
            ])
            .arg(format!("tcp://{}", self.bootstrap))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "tansu topic create {name} failed");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `n` records into `topic`, keyed by 37 devices, each `{"device_id":…,"seq":i}`.
async fn produce(broker: &Broker, topic: &str, n: usize) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let sends: Vec<_> = (0..n)
        .map(|i| {
            let producer = producer.clone();
            async move {
                let key = format!("device-{}", i % 37);
                let payload = format!(r#"{{"device_id":"{key}","seq":{i}}}"#);
                producer
                    .send(
                        FutureRecord::to(topic).key(&key).payload(&payload),
                        Duration::from_secs(10),
                    )
                    .await
                    .map_err(|(e, _)| e)
            }
        })
        .collect();
    for send in sends {
        send.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_produces_and_consumes_through_tansu() {
    let broker = Broker::start();
    broker.create_topic("telemetry", 4);
    let n = 1000;
    produce(&broker, "telemetry", n).await;

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .set("group.id", "lakeseal-test")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&["telemetry"]).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut partitions = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < n {
        assert!(
            Instant::now() < deadline,
            "consumed only {} of {n}",
            seen.len()
        );
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap()
            .unwrap();
        partitions.insert(message.partition());
        let value: serde_json::Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        seen.insert(value["seq"].as_u64().unwrap());
    }
    assert_eq!(seen.len(), n, "every record once");
    assert_eq!(partitions.len(), 4, "keys spread over all partitions");
}

/// The consumer context of [`the_record_queue_takes_every_record_in_batches_in_offset_order`]:
/// assigned partitions go to the record queue, as in the stage; it counts those that did not
/// (a panic here would abort, inside librdkafka's callback).
struct Forwards {
    forwarding: std::sync::Arc<lakeseal_kafka_batch::Forwarding>,
    left: std::sync::atomic::AtomicUsize,
}

impl rdkafka::ClientContext for Forwards {}

impl rdkafka::consumer::ConsumerContext for Forwards {
    fn pre_rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        if let rdkafka::consumer::Rebalance::Assign(list) = rebalance {
            let left = self.forwarding.forward(consumer, list);
            self.left
                .fetch_add(left, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_queue_takes_every_record_in_batches_in_offset_order() {
    use lakeseal_kafka_batch::{Forwarding, RecordQueue};
    use rdkafka::consumer::BaseConsumer;

    let broker = Broker::start();
    broker.create_topic("batched", 4);
    let n = 5000;
    produce(&broker, "batched", n).await;

    tokio::task::spawn_blocking(move || {
        let forwarding = Forwarding::new();
        let consumer: BaseConsumer<Forwards> = ClientConfig::new()
            .set("bootstrap.servers", &broker.bootstrap)
            .set("group.id", "lakeseal-batch-test")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create_with_context(Forwards {
                forwarding: forwarding.clone(),
                left: Default::default(),
            })
            .unwrap();
        let records = RecordQueue::new(consumer, forwarding);
        records.consumer().subscribe(&["batched"]).unwrap();
        let mut batch = records.batch(256);
        let mut seen = std::collections::BTreeSet::new();
        let mut next_offset = std::collections::BTreeMap::new();
        let mut largest = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen.len() < n {
            assert!(Instant::now() < deadline, "took only {} of {n}", seen.len());
            if let Some(polled) = records.consumer().poll(Duration::ZERO) {
                panic!("a record came through poll, not the record queue: {polled:?}");
            }
            largest = largest.max(records.take(Duration::from_millis(20), &mut batch));
            for record in batch.iter() {
                let record = record.unwrap();
                assert_eq!(record.topic, "batched");
                let next = next_offset.entry(record.partition).or_insert(0);
                assert_eq!(record.offset, *next, "partition {}", record.partition);
                *next += 1;
                let value: serde_json::Value =
                    serde_json::from_slice(record.payload.unwrap()).unwrap();
                let seq = value["seq"].as_u64().unwrap();
                assert!(seen.insert(seq), "record {seq} twice");
                assert!(record.key.unwrap().starts_with(b"device-"));
            }
        }
        assert_eq!(next_offset.len(), 4, "every partition's records");
        assert!(largest > 1, "records came in batches, not one at a time");
        let left = records
            .consumer()
            .context()
            .left
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(left, 0, "every assigned partition forwarded");
        drop(batch);
        drop(records);
    })
    .await
    .unwrap();
}
