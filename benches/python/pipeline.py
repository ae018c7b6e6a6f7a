"""What a Python user would write instead of the stage, for benches/benches/throughput.rs.

Consumes TOPIC from BOOTSTRAP until RECORDS records, in windows of 100,000 records, and writes
each window as Parquet with pyarrow's own modular encryption (256-bit keys, single wrapping,
uniform encryption, encrypted footer) under a key from an in-memory KMS (no network: generous to
Python). MODE=batched parses each window with pyarrow.json; MODE=per-record calls json.loads per
record and builds columns. Prints one JSON line: records, seconds, cpu_seconds, peak_rss_mib."""
import base64
import io
import json
import os
import resource
import sys
import tempfile
import time
import uuid

import pyarrow as pa
import pyarrow.json as pj
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe
from confluent_kafka import Consumer

bootstrap, topic = os.environ["BOOTSTRAP"], os.environ["TOPIC"]
records, mode = int(os.environ["RECORDS"]), os.environ["MODE"]
WINDOW = 100_000
schema = pa.schema([
    ("event_time", pa.timestamp("ms", tz="UTC")), ("device_id", pa.string()),
    ("device_type", pa.string()), ("temperature_c", pa.float64()),
    ("humidity_pct", pa.float64()), ("battery_v", pa.float64()), ("lat", pa.float64()),
    ("lon", pa.float64()), ("firmware", pa.string()),
])


class InMemoryKms(pe.KmsClient):
    def __init__(self, config):
        super().__init__()

    def wrap_key(self, key_bytes, master_key_identifier):
        return base64.b64encode(key_bytes).decode()

    def unwrap_key(self, wrapped_key, master_key_identifier):
        return base64.b64decode(wrapped_key)


factory = pe.CryptoFactory(lambda config: InMemoryKms(config))
kms = pe.KmsConnectionConfig()
encryption = pe.EncryptionConfiguration(
    footer_key="telemetry", uniform_encryption=True, double_wrapping=False,
    data_key_length_bits=256, plaintext_footer=False,
)
# Removed when the run ends, as the stage modes remove their lake.
out_dir = tempfile.TemporaryDirectory(prefix="lakeseal-bench-py-")
out = out_dir.name
files = 0


def write(table):
    global files
    properties = factory.file_encryption_properties(kms, encryption)
    # Snappy, as the stage writes by default (and pyarrow's own default).
    pq.write_table(table, os.path.join(out, f"w{files}.parquet"), compression="snappy",
                   encryption_properties=properties)
    files += 1


# pyarrow.json reads epoch milliseconds as int64 only; cast to the timestamp after.
json_schema = schema.set(0, pa.field("event_time", pa.int64()))


def batched(payloads):
    table = pj.read_json(io.BytesIO(b"\n".join(payloads)),
                         parse_options=pj.ParseOptions(explicit_schema=json_schema))
    return table.set_column(0, schema.field(0), table["event_time"].cast(schema.field(0).type))


def per_record(payloads):
    columns = {name: [] for name in schema.names}
    for p in payloads:
        r = json.loads(p)
        for name in schema.names:
            columns[name].append(r.get(name))
    return pa.table(columns, schema=schema)


build = batched if mode == "batched" else per_record
started = time.monotonic()
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-py-{uuid.uuid4()}",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "fetch.wait.max.ms": int(os.environ["FETCH_WAIT_MS"]),
                     "fetch.queue.backoff.ms": int(os.environ["FETCH_QUEUE_BACKOFF_MS"])})
consumer.subscribe([topic])
seen, window = 0, []
while seen < records:
    for m in consumer.consume(num_messages=10_000, timeout=0.5):
        if m.error():
            continue
        window.append(m.value())
        seen += 1
    if len(window) >= WINDOW or (seen >= records and window):
        write(build(window))
        window = []
consumer.close()
seconds = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
out_dir.cleanup()
print(json.dumps({"records": seen, "seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mib": usage.ru_maxrss / 1024, "key_calls": files}))
