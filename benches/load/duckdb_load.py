"""DuckDB's side of `wangge bench load`: the events file copied into a new
database file (CREATE TABLE AS SELECT * FROM read_csv, CHECKPOINT, fsync),
timed from connect to the fsync. No validation, no grid join, no
deduplication: the floor of loading the file. Prints one JSON object."""
import json
import os
import sys
import time

import duckdb

src, db = sys.argv[1], sys.argv[2]
for f in (db, db + ".wal"):
    if os.path.exists(f):
        os.remove(f)
t = time.perf_counter()
con = duckdb.connect(db)
quoted = src.replace("'", "''")
con.execute(f"CREATE TABLE events AS SELECT * FROM read_csv('{quoted}', header = true)")
con.execute("CHECKPOINT")
con.close()
fd = os.open(db, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
secs = time.perf_counter() - t
rows = duckdb.connect(db, read_only=True).execute("SELECT count(*) FROM events").fetchone()[0]
for f in (db, db + ".wal"):
    if os.path.exists(f):
        os.remove(f)
print(json.dumps({"tool": f"duckdb {duckdb.__version__}", "rows": rows, "secs": secs}))
