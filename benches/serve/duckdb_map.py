"""DuckDB side of `wangge bench serve` (uncached part); prints one JSON line.

For each (from, to, category) pair, runs the `filtered` query of
benches/duckdb/stats.sql (one month, one category, one tier, with the
previous month and the same month a year earlier, as the service's map
values answer a closed window) on the joined Parquet, fully fetched, once,
after one warm-up query. The service's side gets no warm-up beyond its
start-up, and every one of its requests is a cache miss.

Usage: python benches/serve/duckdb_map.py --joined joined.parquet --level 3 \
           --pairs '[["2026-03-01", "2026-04-01", "环境卫生"], ...]'
"""

import argparse
import json
import os
import statistics
import sys
import time

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "duckdb"))
from run import sections  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--joined", required=True)
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--pairs", required=True, help="JSON list of [from, to, category]")
    a = ap.parse_args()
    pairs = json.loads(a.pairs)
    sql = sections(os.path.join(HERE, "..", "duckdb", "stats.sql"))
    con = duckdb.connect()
    con.execute(sql["params"])
    con.execute("SET VARIABLE joined = $1", [a.joined])
    con.execute("SET VARIABLE level = $1::INTEGER", [a.level])

    def run(d0, d1, category):
        con.execute("SET VARIABLE d0 = $1::DATE", [d0])
        con.execute("SET VARIABLE d1 = $1::DATE", [d1])
        con.execute("SET VARIABLE category = $1", [category])
        t = time.perf_counter()
        rows = con.execute(sql["filtered"]).fetchall()
        return time.perf_counter() - t, len(rows)

    run(*pairs[0])
    times, rows = [], []
    for p in pairs:
        t, n = run(*p)
        times.append(t)
        rows.append(n)
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({
        "tool": f"duckdb {duckdb.__version__}",
        "threads": threads,
        "times": times,
        "rows": rows,
        "p50": statistics.median(times),
    }))


if __name__ == "__main__":
    main()
