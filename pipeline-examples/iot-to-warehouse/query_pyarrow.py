"""The same questions in pyarrow: every lake file read with pyarrow's own modular encryption,
its key unwrapped by the key core (boto3 KMS Decrypt, SigV4) through a KmsClient.
Usage: query_pyarrow.py LAKE_TABLE_DIR  (AWS_* variables point boto3 at the key core)"""
import base64
import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe



def session():
    """boto3, with its container-credentials fetcher trusting AWS_CA_BUNDLE: botocore verifies an
    https:// credentials endpoint against certifi's roots alone, which know no private CA."""
    import botocore.credentials
    import botocore.httpsession
    import botocore.session
    import botocore.utils

    core = botocore.session.get_session()
    ca = os.environ.get("AWS_CA_BUNDLE")
    if ca and os.environ.get("AWS_CONTAINER_CREDENTIALS_FULL_URI", "").startswith("https://"):
        http = botocore.httpsession.URLLib3Session(verify=ca, timeout=2)
        fetcher = botocore.utils.ContainerMetadataFetcher(session=http)
        provider = botocore.credentials.ContainerProvider(fetcher=fetcher)
        core.get_component("credential_provider").insert_before("env", provider)
    return boto3.Session(botocore_session=core)


kms = session().client("kms")


class LakesealKms(pe.KmsClient):
    """wrappedDEK is base64 JSON: the key core's ciphertext blob and its encryption context."""

    def __init__(self, config):
        super().__init__()

    def wrap_key(self, key_bytes, master_key_identifier):
        raise NotImplementedError("read only")

    def unwrap_key(self, wrapped_key, master_key_identifier):
        wrapped = json.loads(base64.b64decode(wrapped_key))
        return kms.decrypt(
            CiphertextBlob=base64.b64decode(wrapped["blob"]),
            EncryptionContext=wrapped["context"],
            KeyId=master_key_identifier,
        )["Plaintext"]


factory = pe.CryptoFactory(lambda config: LakesealKms(config))
decryption = factory.file_decryption_properties(
    pe.KmsConnectionConfig(), pe.DecryptionConfiguration(cache_lifetime=timedelta(minutes=10))
)
files = sorted(Path(sys.argv[1]).rglob("*.parquet"))
table = pa.concat_tables(pq.read_table(f, decryption_properties=decryption) for f in files)
print(f"pyarrow: {len(files)} files, {table.num_rows} rows")

hours = pc.floor_temporal(table["event_time"], unit="hour")
table = table.append_column("hour", hours)
hourly = table.group_by(["hour", "device_type"]).aggregate(
    [("temperature_c", "mean"), ("temperature_c", "count")]
).sort_by([("hour", "ascending"), ("device_type", "ascending")])
print("\nHourly average temperature per device type")
for row in hourly.to_pylist():
    print(f"  {row['hour']:%Y-%m-%d %H:00}  {row['device_type']:<20} "
          f"{row['temperature_c_mean']:6.2f} °C over {row['temperature_c_count']} readings")

last = table.sort_by([("event_time", "ascending")]).group_by("device_id", use_threads=False).aggregate(
    [("battery_v", "last"), ("device_type", "last")]
)
low = last.filter(pc.less(last["battery_v_last"], 3.4)).sort_by("battery_v_last")
print(f"\nDevices with a low battery: {low.num_rows}")
for row in low.slice(0, 10).to_pylist():
    print(f"  {row['device_id']}  {row['device_type_last']:<20} {row['battery_v_last']:.2f} V")
