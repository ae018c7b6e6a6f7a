"""Runs queries.sql in DuckDB over the lake. Each file has its own data key: `lakeseal lake
unwrap-key` (an audited Decrypt) gives it (its JSON's `Plaintext`), DuckDB gets one named key per file, and each file is
loaded into a table `telemetry` on its own (DuckDB 2.0 fails with "Computed AES tag differs"
when one query reads several files under different keys; each alone reads fine). Usage: query_duckdb.py LAKE_TABLE_DIR -- <lakeseal key-source flags...>"""
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

table_dir, key_flags = Path(sys.argv[1]), sys.argv[3:]
lakeseal = os.environ.get("LAKESEAL", "lakeseal")
files = sorted(table_dir.rglob("*.parquet"))
con = duckdb.connect()
for n, path in enumerate(files):
    key = json.loads(subprocess.run(
        [lakeseal, "lake", "unwrap-key", str(path), *key_flags],
        check=True, capture_output=True, text=True,
    ).stdout)["Plaintext"]
    con.execute(f"PRAGMA add_parquet_key('k{n}', '{key}')")
    source = f"read_parquet('{path}', encryption_config = {{footer_key: 'k{n}'}})"
    if n == 0:
        con.execute(f"CREATE TABLE telemetry AS SELECT * FROM {source}")
    else:
        con.execute(f"INSERT INTO telemetry SELECT * FROM {source}")
(rows,) = con.execute("SELECT count(*) FROM telemetry").fetchall()[0]
print(f"DuckDB: {len(files)} files, {rows} rows")
sql = (Path(__file__).parent / "queries.sql").read_text()
for statement in (s for s in sql.split(";") if "SELECT" in s):
    title = [l[3:] for l in statement.strip().splitlines() if l.startswith("-- ")][-1]
    print(f"\n{title}")
    print(con.sql(statement))
