"""Reads one lake file the stage wrote, as a data team would: pyarrow with its own CryptoFactory
and a KmsClient that asks the key core (boto3, SigV4) to unwrap the file key; DuckDB given the key
that `lakeseal lake unwrap-key` printed as `Plaintext` (KEY, empty when that command was refused).
Run by tests/it/stage.rs with FILE and KEY. Prints `<tool> rows=N` or `<tool> error=...`."""
import os
from datetime import timedelta

import duckdb
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from lakeseal_kms import LakesealKms

path = os.environ["FILE"]
key = os.environ.get("KEY", "")


try:
    factory = pe.CryptoFactory(lambda config: LakesealKms(config))
    properties = factory.file_decryption_properties(
        pe.KmsConnectionConfig(), pe.DecryptionConfiguration(cache_lifetime=timedelta(seconds=1))
    )
    table = pq.read_table(path, decryption_properties=properties)
    print(f"pyarrow rows={table.num_rows}")
except Exception as e:  # the test reads the error's text
    print(f"pyarrow error={type(e).__name__}: {e}".replace("\n", " "))

con = duckdb.connect()
try:
    if key:
        con.execute(f"PRAGMA add_parquet_key('lakeseal', '{key}')")
        # Every column of every row is read (a bare count(*) reads only the footer).
        query = "SELECT count(*), sum(length(t::VARCHAR)) FROM read_parquet(?, encryption_config = {footer_key: 'lakeseal'}) t"
    else:
        query = "SELECT count(*), sum(length(t::VARCHAR)) FROM read_parquet(?) t"
    rows, _ = con.execute(query, [path]).fetchone()
    print(f"duckdb rows={rows}")
except Exception as e:
    print(f"duckdb error={type(e).__name__}: {e}".replace("\n", " "))
