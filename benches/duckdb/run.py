"""Times benches/duckdb/stats.sql on a joined Parquet file; prints one JSON line.

Install:  python3 -m venv .venv && .venv/bin/pip install duckdb==1.4.4
Usage:    .venv/bin/python benches/duckdb/run.py --joined joined.parquet \
              [--reps 3] [--end-us MICROS] [--from 2026-03-01 --to 2026-04-01] \
              [--category 环境卫生] [--level 2]

Each query is run `--reps` times on one connection (every core, DuckDB's
defaults) and fully fetched; the median wall time is reported, as
`wangge bench stats` does for its own side. The township rows of the full
query and the current-period rows of the filtered query are included so the
caller can compare numbers.
"""

import argparse
import json
import os
import statistics
import time

import duckdb


def sections(path):
    """`-- name: x` blocks of the script."""
    out, name = {}, None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("-- name:"):
                name = line.split(":", 1)[1].strip()
                out[name] = ""
            elif name:
                out[name] += line
    return out


def timed(con, sql, reps):
    times, rows = [], None
    for _ in range(reps):
        t = time.perf_counter()
        cur = con.execute(sql)
        rows = cur.fetchall()
        times.append(time.perf_counter() - t)
        cols = [d[0] for d in cur.description]
    return statistics.median(times), [dict(zip(cols, r)) for r in rows]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--joined", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--end-us", type=int, help="backlog instant of the full query (default now)")
    ap.add_argument("--from", dest="d0", default="2026-03-01")
    ap.add_argument("--to", dest="d1", default="2026-04-01", help="first date excluded")
    ap.add_argument("--category", default="环境卫生")
    ap.add_argument("--level", type=int, default=2)
    a = ap.parse_args()
    sql = sections(os.path.join(os.path.dirname(os.path.abspath(__file__)), "stats.sql"))
    con = duckdb.connect()
    con.execute(sql["params"])
    con.execute("SET VARIABLE joined = $1", [a.joined])
    if a.end_us is not None:
        con.execute("SET VARIABLE end_ts = make_timestamptz($1::BIGINT)", [a.end_us])
    con.execute("SET VARIABLE d0 = $1::DATE", [a.d0])
    con.execute("SET VARIABLE d1 = $1::DATE", [a.d1])
    con.execute("SET VARIABLE category = $1", [a.category])
    con.execute("SET VARIABLE level = $1::INTEGER", [a.level])
    full_s, full = timed(con, sql["full"], a.reps)
    filtered_s, filtered = timed(con, sql["filtered"], a.reps)
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(json.dumps({
        "tool": f"duckdb {duckdb.__version__}",
        "threads": threads,
        "full_s": full_s,
        "filtered_s": filtered_s,
        "full_rows": len(full),
        "townships": [r for r in full if r["level"] == 1],
        "filtered": [r for r in filtered if r["period"] == "current"],
    }, ensure_ascii=False, default=float))


if __name__ == "__main__":
    main()
