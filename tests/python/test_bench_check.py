"""`wangge bench stats --duckdb` checks its numbers one by one against
DuckDB's script (`benches/duckdb/stats.sql`), which restates the service's
definitions in SQL. Run here on a small demo, so that the script cannot
drift from the service unnoticed (it had: 1,487 of 11,907 numbers differed
once the metrics counted as of the window end). The timings it prints are
not looked at: a test asserts, the benchmark measures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_duckdbs_script_gives_the_services_numbers(tmp_path):
    d = tmp_path
    for args in (
        ("demo", "--out", d, "--grids", 600, "--events", 20000),
        ("join", "--grids", d / "grids.geojson", "--events", d / "events.csv",
         "--updates", d / "updates.csv", "--out", d / "joined.parquet", "--secret", d / "secret.key"),
    ):
        r = run(*args)
        assert r.returncode == 0, r.stderr[-2000:]
    r = run("bench", "stats", "--joined", d / "joined.parquet", "--grids", d / "grids.geojson",
            "--reps", 1, "--duckdb", "--python", sys.executable,
            "--script", ROOT / "benches" / "duckdb" / "run.py")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    (check,) = [line for line in r.stdout.splitlines() if line.startswith("check: ")]
    agreed = int(check.split()[1])
    # Townships over the whole file and a filtered month of villages, every
    # compared number of each: thousands, not a vacuous handful.
    assert "numbers agree" in check and agreed > 1000, check
