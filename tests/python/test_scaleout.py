"""The PySpark job (scaleout/tier_metrics.py) gives the service's numbers.

Runs Spark in local mode (needs Java 17+) on the partitioned Parquet export
of a small demo and compares every metric it computes, for each tier and for
a filtered window, with `wangge stats --json`.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WANGGE_BIN", ROOT / "target" / "debug" / "wangge"))

if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("PySpark needs Java 17+", allow_module_level=True)

spec = importlib.util.spec_from_file_location("tier_metrics", ROOT / "scaleout" / "tier_metrics.py")
tm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tm)


def run(*args) -> str:
    out = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, f"wangge {args}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("spark")
    run("demo", "--out", d, "--grids", 600, "--events", 20000)
    run("join", "--grids", d / "grids.geojson", "--events", d / "events.csv",
        "--out", d / "joined.parquet", "--secret", d / "secret.key")
    run("export", "events", "--joined", d / "joined.parquet", "--grids", d / "grids.geojson",
        "--partition", "--out", d / "events")
    run("export", "units", "--grids", d / "grids.geojson", "--out", d / "units.parquet")
    return d


@pytest.fixture(scope="module")
def spark():
    s = tm.session("local[2]")
    s.sparkContext.setLogLevel("ERROR")
    yield s
    s.stop()


def service(d: Path, level: int, *extra: str) -> dict[str, dict]:
    text = run("stats", "--joined", d / "joined.parquet", "--grids", d / "grids.geojson",
               "--level", str(level), "--json", *extra)
    return {r["code"]: r["values"] for r in json.loads(text)["rows"]}


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("level,window", [(1, None), (2, None), (3, None), (1, ("2026-03-01", "2026-03-31"))])
def test_spark_tier_metrics_equal_the_service(demo, spark, level, window):
    events = tm.read_events(spark, str(demo / "events"))
    units = spark.read.parquet(str(demo / "units.parquet"))
    frm, to = window or (None, None)
    got = {r["code"]: r.asDict() for r in tm.tier_metrics(events, units, level, frm, to).collect()}
    extra = ["--from", frm, "--to", to] if window else []
    want = service(demo, level, *extra)
    assert set(got) == set(want)
    bad = [(code, m, got[code][m], want[code][m]) for code in want for m in tm.METRICS
           if not same(got[code][m], want[code][m])]
    assert not bad, bad[:10]
