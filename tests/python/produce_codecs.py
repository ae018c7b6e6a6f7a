"""Produces telemetry the way a stock Kafka client in the field does: confluent-kafka's Producer
with batching on and one compression codec. Run by tests/it/topics.rs with BOOTSTRAP, TOPIC,
CODEC (none, gzip, snappy, lz4 or zstd), RECORDS and FIRST (the first sequence number). Prints
how many records the broker acknowledged."""
import json
import os
import sys

from confluent_kafka import Producer

topic = os.environ["TOPIC"]
first = int(os.environ["FIRST"])
records = int(os.environ["RECORDS"])
failed = []

producer = Producer({
    "bootstrap.servers": os.environ["BOOTSTRAP"],
    "compression.type": os.environ["CODEC"],
    # Many records a batch, as a producer under load sends them: the codec compresses the batch.
    "linger.ms": 50,
    "batch.num.messages": 1000,
    "enable.idempotence": True,
})


def delivered(err, _msg):
    if err is not None:
        failed.append(str(err))


for seq in range(first, first + records):
    body = {"ts": 1_795_000_000_000 + seq * 10, "device": f"dev-{seq % 10}", "seq": seq, "temp": seq % 40 + 0.5}
    producer.produce(topic, json.dumps(body).encode(), key=str(seq).encode(), on_delivery=delivered)
    producer.poll(0)
left = producer.flush(30)
if failed or left:
    sys.exit(f"{len(failed)} records failed ({failed[:1]}), {left} not delivered")
print(records)
