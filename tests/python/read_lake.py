"""Reads an encrypted Parquet file the stage wrote, the way a data team would: pyarrow with a
KmsClient that asks the key core to unwrap the file key, and DuckDB given the unwrapped key.
Run by tests/it/lake.rs with FILE naming the file. Prints what it read."""
import base64
import os
from datetime import timedelta

import duckdb
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from lakeseal_kms import LakesealKms

path = os.environ["FILE"]
unwrapped = {}

factory = pe.CryptoFactory(lambda config: LakesealKms(config, unwrapped))
properties = factory.file_decryption_properties(
    pe.KmsConnectionConfig(), pe.DecryptionConfiguration(cache_lifetime=timedelta(minutes=5))
)
table = pq.read_table(path, decryption_properties=properties)
readings = [r for r in table.column("reading").to_pylist() if r is not None]
print(f"pyarrow rows={table.num_rows} sum={sum(readings)} devices={sorted(table.column('device_id').to_pylist())}")

con = duckdb.connect()
con.execute(f"PRAGMA add_parquet_key('lakeseal', '{base64.b64encode(unwrapped['key']).decode()}')")
rows, total = con.execute(
    "SELECT count(*), sum(reading) FROM read_parquet(?, encryption_config = {footer_key: 'lakeseal'})", [path]
).fetchone()
print(f"duckdb rows={rows} sum={total}")
