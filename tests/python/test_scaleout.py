"""The PySpark job (scaleout/tier_metrics.py) gives the service's numbers.

Runs Spark in local mode (needs Java 17+) on the partitioned Parquet export
of a small demo and compares every catalogue metric, for each tier and for
windows with and without an end, with `wangge stats --json`.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
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
    # The issues as they stand after their transitions: the workflow KPIs
    # read the milestones the fold leaves.
    run("join", "--grids", d / "grids.geojson", "--events", d / "events.csv",
        "--updates", d / "updates.csv",
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


def test_the_job_computes_the_whole_catalogue(demo):
    """METRICS is the service's catalogue: a metric added there fails here until the job has it."""
    listed = run("stats", "--metric", "list", "--joined", demo / "joined.parquet",
                 "--grids", demo / "grids.geojson")
    names = [line.split()[0] for line in listed.splitlines()[1:] if not line.startswith(" ")]
    assert names == tm.METRICS
    assert set(next(iter(service(demo, 1).values()))) == set(tm.METRICS)


# Windows are local dates, both ends inclusive, as `wangge stats --from/--to`.
# The demo runs from 2024-11-01 to 2026-10-31 (deadlines up to mid-November):
# a window without an end counts the backlog now, after every demo instant.
WINDOWS = [
    (1, None, None),
    (2, None, None),
    (3, None, None),
    (1, "2026-03-01", "2026-03-31"),
    # The end falls mid-month, with issues still open and some overdue at it;
    # the backlog reaches back before the start.
    (3, "2026-06-10", "2026-08-20"),
    (2, None, "2025-12-31"),
    (1, "2026-10-01", None),
]


def compare(d: Path, spark, level: int, frm: str | None, to: str | None) -> None:
    """Every catalogue metric of every unit of the tier equal to the service to 1e-9."""
    events = tm.read_events(spark, str(d / "events"))
    units = spark.read.parquet(str(d / "units.parquet"))
    got = {r["code"]: r.asDict() for r in tm.tier_metrics(events, units, level, frm, to).collect()}
    extra = (["--from", frm] if frm else []) + (["--to", to] if to else [])
    want = service(d, level, *extra)
    assert got and set(got) == set(want)
    for code in want:
        assert set(want[code]) == set(tm.METRICS), code
        assert set(tm.METRICS) <= set(got[code]), sorted(set(tm.METRICS) - set(got[code]))
    # Every metric has data somewhere, so null == null cannot pass for a whole column.
    empty = [m for m in tm.METRICS if all(want[c][m] is None for c in want)]
    assert not empty, empty
    bad = [(code, m, got[code][m], want[code][m]) for code in want for m in tm.METRICS
           if not same(got[code][m], want[code][m])]
    assert not bad, bad[:10]


@pytest.mark.parametrize("level,frm,to", WINDOWS)
def test_spark_tier_metrics_equal_the_service(demo, spark, level, frm, to):
    compare(demo, spark, level, frm, to)


# Issues on the edges of the window 2026-03-01 ..= 2026-03-31, whose end is
# 2026-04-01 00:00 in Shanghai (2026-03-31 16:00 UTC). Times are local.
# (id, occurred, status, resolved, deadline): what each one tests.
EDGE_ISSUES = [
    # Last second of the window, due at the end: in the backlog, not overdue, not yet due.
    ("E01", "2026-03-31 23:59:59", "open", "", "2026-04-01 00:00:00"),
    # Resolved exactly at the end, its deadline then: open at the end (closed
    # in the next window), and not yet due.
    ("E02", "2026-03-10 09:00:00", "resolved", "2026-04-01 00:00:00", "2026-04-01 00:00:00"),
    # Resolved without a time: not in the backlog, not due, no duration.
    ("E03", "2026-03-10 09:00:00", "resolved", "", "2026-03-12 09:00:00"),
    # Occurred at the end: after the window, not in its backlog.
    ("E04", "2026-04-01 00:00:00", "open", "", "2026-04-02 00:00:00"),
    # Open status but a resolution time before the end: not in the backlog.
    ("E05", "2026-02-01 10:00:00", "open", "2026-03-15 10:00:00", "2026-02-05 10:00:00"),
    # Late in the evening (still 31 March in UTC), past its deadline at the end: overdue and due.
    ("E06", "2026-03-31 23:00:00", "open", "", "2026-03-31 23:59:59"),
    # Before the window (28 February in UTC too), open, no deadline: backlog only.
    ("E07", "2026-02-28 23:30:00", "open", "", ""),
    # Local 1 March is 28 February in UTC: in the window; resolved on its deadline.
    ("E08", "2026-03-01 00:30:00", "resolved", "2026-03-01 10:30:00", "2026-03-01 10:30:00"),
    # Open, due after the end: backlog, neither overdue nor due.
    ("E09", "2026-03-05 08:00:00", "open", "", "2026-04-05 08:00:00"),
    # Resolved after the end, past its deadline: open and overdue at the end, due, late.
    ("E10", "2026-03-20 08:00:00", "resolved", "2026-04-03 08:00:00", "2026-03-25 08:00:00"),
    # Resolved a second after its deadline: late.
    ("E11", "2026-03-02 08:00:00", "resolved", "2026-03-09 08:00:01", "2026-03-09 08:00:00"),
    # Open past its deadline, but linked by a step to E06 (重复件): in the call
    # volume, in no case figure (not in the backlog, not overdue, not due).
    ("E12", "2026-03-12 09:00:00", "open", "", "2026-03-14 09:00:00"),
]


# Transition rows of the edge issues (issue, update, at local, status, deadline, satisfaction, solved[, duplicate_of]).
EDGE_STEPS = [
    # Dispatched in the last second of the window: dispatched and awaiting handling at the end.
    ("E01", "a", "2026-03-31 23:59:59", "派遣", "", "", ""),
    # Dispatched, then past its deadline at the end: overdue awaiting handling.
    ("E06", "a", "2026-03-31 23:10:00", "派遣", "", "", ""),
    # Returned once, deadline extended, handled exactly at the end (the next
    # window's first instant): awaiting handling at the end.
    ("E09", "a", "2026-03-05 09:00:00", "受理", "", "", ""),
    ("E09", "b", "2026-03-05 10:00:00", "派遣", "", "", ""),
    ("E09", "c", "2026-03-06 09:00:00", "退单", "", "", ""),
    ("E09", "d", "2026-03-06 10:00:00", "派遣", "", "", ""),
    ("E09", "e", "2026-03-07 10:00:00", "处置中", "2026-04-10 08:00:00", "", ""),
    ("E09", "f", "2026-04-01 00:00:00", "已处置", "", "", ""),
    # Escalated only after the end: local as of the end.
    ("E10", "a", "2026-03-20 09:00:00", "受理", "", "", ""),
    ("E10", "b", "2026-03-20 10:00:00", "派遣", "", "", ""),
    ("E10", "c", "2026-04-02 09:00:00", "上报上级", "", "", ""),
    # Handled before its deadline, failed the check, closed by the whole row; solved.
    ("E11", "a", "2026-03-02 09:00:00", "受理", "", "", ""),
    ("E11", "b", "2026-03-02 10:00:00", "派遣", "", "", ""),
    ("E11", "c", "2026-03-05 08:00:00", "已处置", "", "", ""),
    ("E11", "d", "2026-03-06 08:00:00", "核查不通过", "", "", ""),
    ("E11", "e", "2026-03-10 09:00:00", "回访", "", "satisfied", "解决"),
    # Acted on ten minutes after the report; escalated before its closing: not local.
    ("E08", "a", "2026-03-01 00:40:00", "受理", "", "", ""),
    ("E08", "b", "2026-03-01 05:00:00", "上报上级", "", "", ""),
    # Called back after the end: not solved.
    ("E02", "a", "2026-04-02 09:00:00", "回访", "", "", "未解决"),
    # Dispatched, then merged into E06 as a repeat report.
    ("E12", "a", "2026-03-12 10:00:00", "派遣", "", "", ""),
    ("E12", "b", "2026-03-12 11:00:00", "受理", "", "", "", "E06"),
]


@pytest.fixture(scope="module")
def edges(demo, tmp_path_factory):
    """The demo's grids with hand-made events on the window's edges in two of its grids."""
    d = tmp_path_factory.mktemp("edges")
    joined = pq.read_table(demo / "joined.parquet", columns=["tier1", "tier3", "lon", "lat"]).to_pylist()
    spots: dict[str, tuple[float, float]] = {}
    for r in joined:
        if r["tier3"] and r["tier1"] not in {spots[g][2] for g in spots}:
            spots[r["tier3"]] = (r["lon"], r["lat"], r["tier1"])
        if len(spots) == 2:
            break
    (a, b) = [(x, y) for x, y, _ in spots.values()]
    rows = ["id,kind,occurred_at,lon,lat,category,status,resolved_at,deadline,satisfaction,source,cleared,household,visitor"]
    for i, (id_, occ, status, res, due) in enumerate(EDGE_ISSUES):
        x, y = a if i % 3 else b
        sat = ["satisfied", "basic", "unsatisfied", ""][i % 4]
        src = ["patrol", "hotline", "online", ""][i % 4]
        rows.append(f"{id_},issue,{occ},{x},{y},其他,{status},{res},{due},{sat},{src},,,")
    for i, (occ, cleared) in enumerate([("2026-03-31 23:30:00", "true"), ("2026-03-15 12:00:00", "false"),
                                        ("2026-04-01 00:00:00", "true")]):
        x, y = (a, b)[i % 2]
        rows.append(f"C{i:02},incident,{occ},{x},{y},盗窃,,,,,,{cleared},,")
    for i, (occ, house) in enumerate([("2026-03-01 00:00:00", "h1"), ("2026-03-31 23:59:59", "h2"),
                                      ("2026-03-20 10:00:00", "h1"), ("2026-04-01 00:00:00", "h3")]):
        x, y = (a, b)[i % 2]
        rows.append(f"V{i:02},visit,{occ},{x},{y},走访,,,,,,,{house},v1")
    (d / "events.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    steps = ["issue_id,update_id,at,status,deadline,satisfaction,solved,duplicate_of"]
    steps += [",".join(s + ("",) * (8 - len(s))) for s in EDGE_STEPS]
    (d / "updates.csv").write_text("\n".join(steps) + "\n", encoding="utf-8")
    run("join", "--grids", demo / "grids.geojson", "--events", d / "events.csv",
        "--updates", d / "updates.csv",
        "--out", d / "joined.parquet", "--secret", d / "secret.key")
    placed = pq.read_table(d / "joined.parquet", columns=["id", "tier3"]).to_pylist()
    assert len(placed) == len(rows) - 1 and all(r["tier3"] for r in placed), "every edge event joined"
    run("export", "events", "--joined", d / "joined.parquet", "--grids", demo / "grids.geojson",
        "--partition", "--out", d / "events")
    shutil.copy(demo / "units.parquet", d / "units.parquet")
    shutil.copy(demo / "grids.geojson", d / "grids.geojson")
    return d


@pytest.mark.parametrize("level,frm,to", [
    (3, "2026-03-01", "2026-03-31"), (1, "2026-03-01", "2026-03-31"), (3, None, "2026-03-30"),
    (3, "2026-03-01", None),
])
def test_window_edges_equal_the_service(edges, spark, level, frm, to):
    compare(edges, spark, level, frm, to)


def test_the_edge_cases_are_counted_as_designed(edges):
    """The service's own counts of the hand-made issues, so the comparisons above are not vacuous."""
    rows = json.loads(run("stats", "--joined", edges / "joined.parquet", "--grids",
                          edges / "grids.geojson", "--level", "0", "--json",
                          "--from", "2026-03-01", "--to", "2026-03-31"))["rows"]
    (county,) = rows
    i = county["ingredients"]
    # In the window: E01 E02 E03 E06 E08 E09 E10 E11, and E12, which repeats
    # E06: a call, no case. Backlog: E01 E02 E06 E07 E09 E10.
    assert (i["issues"], i["cases"]) == (9, 8)
    assert (i["backlog"], i["overdue"]) == (6, 2)  # overdue: E06 E10
    assert (i["on_time"], i["due"]) == (1, 4)  # on time: E08; due: E06 E08 E10 E11
    # Dispatched before the end: E01 E06 E09 E10 E11; handled before it: E11
    # (E09 at the end, the next window's first instant).
    assert (i["dispatched"], i["handled"], i["handled_on_time"]) == (5, 1, 1)
    assert (i["returned"], i["extended"]) == (1, 1)  # E09
    # Awaiting handling before the end: E01 E06 E09 E10; overdue: E06 E10.
    assert (i["pending_handling"], i["overdue_pending"]) == (4, 2)
    # Closed before the end: E03 E08 E11 (E02 at it); E08 escalated; E11
    # reworked; solved known for E11.
    assert (i["closed"], i["closed_local"], i["reworked"]) == (3, 2, 1)
    assert (i["solved_reported"], i["solved"]) == (1, 1)
    # Repeat-complaint points: the window's issues at the second spot (E02 E03
    # E06 E08 E09 E11 and the duplicate E12, one category) are one cluster with
    # six inside 1-31 March: a point at 3 and at 5. The first spot's two (E01
    # E10) are none.
    assert i["repeat_points"] == [1, 1]
def test_the_window_ends_at_local_midnight():
    # 2026-03-31 inclusive ends at 2026-04-01 00:00 in Shanghai = 2026-03-31 16:00 UTC.
    assert tm.window_end_us("2026-03-31") == 1_774_972_800_000_000
    assert tm.window_end_us("2026-03-31", "UTC") == 1_775_001_600_000_000
    assert tm.window_end_us(None, now_us=42) == 42
