"""Tier metrics of wangge on Spark, from the partitioned Parquet export.

When a province outgrows one machine, the per-unit metrics of `wangge stats`
run here on an existing Spark cluster instead. Input: the folder written by
`wangge export events --partition` (hive folders `month=YYYY-MM/tier1=CODE/`)
and the units file of `wangge export units`. Output: one row per unit of the
tier with the same metric names and formulas as the service's catalogue
(`wangge stats --metric list`).

    spark-submit scaleout/tier_metrics.py --events s3a://bucket/export/events \\
        --units s3a://bucket/export/units.parquet --level 1 \\
        --from 2026-03-01 --to 2026-03-31 --out s3a://bucket/metrics/2026-03

Local run (tests): python scaleout/tier_metrics.py ... --master local[2]
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import Window
from pyspark.sql import functions as F

#: Issue sources that count as found by the grid's own work (service: DISCOVERED_SOURCES).
DISCOVERED_SOURCES = ["patrol", "visit"]

#: Every metric of the service's catalogue (`wangge stats --metric list`), in its order.
METRICS = [
    "event_count", "issue_count", "incident_count", "visit_count", "resolved_count",
    "backlog_open", "overdue_open", "households_visited", "repeat_points_3", "repeat_points_5",
    "event_density", "issue_density",
    "incident_density", "issues_per_1k_households", "incidents_per_1k_households",
    "resolution_rate", "on_time_rate", "closure_rate", "on_time_closure_rate",
    "handling_rate", "on_time_handling_rate", "overdue_pending", "overdue_pending_rate",
    "rework_rate", "extension_rate", "return_rate", "callback_rate", "solved_rate",
    "local_resolution_rate", "response_hours", "cycle_hours",
    "median_hours_to_resolve", "p90_hours_to_resolve",
    "satisfaction_rate", "satisfaction_score", "clearance_rate", "visit_coverage",
    "visits_per_grid", "issues_per_100_visits", "issues_found_per_100_visits", "discovery_rate",
]

#: Milestone columns of a case (service: columns::FLOW): when it first reached each step.
FLOW = ["accepted_at", "dispatched_at", "handled_at", "returned_at", "reworked_at",
        "extended_at", "escalated_at", "suspended_at", "resumed_at"]

#: Tier of the grids (网格).
GRID_LEVEL = 3

#: Calendar zone of the service (and default of `wangge export --tz`).
DEFAULT_TZ = "Asia/Shanghai"


def session(master: str | None = None) -> SparkSession:
    b = SparkSession.builder.appName("wangge-tier-metrics")
    if master:
        b = b.master(master)
    return (
        b.config("spark.sql.session.timeZone", "UTC")
        # Unit codes are strings (leading zeros, 15 digits): never infer numbers from folder names.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )


def read_events(spark: SparkSession, path: str) -> DataFrame:
    """The partitioned export; partition columns come back as strings."""
    return spark.read.option("basePath", path).parquet(path)


def _ratio(num, den):
    return F.when(den > 0, num / den)


def standard_offset_us(tz: str) -> int:
    """UTC offset of `tz` in µs, taken in mid-January as the service does
    (Asia/Shanghai: +08:00, fixed since 1991)."""
    probe = datetime(2020, 1, 15, tzinfo=timezone.utc).astimezone(ZoneInfo(tz))
    return int(probe.utcoffset() // timedelta(microseconds=1))


def window_end_us(date_to: str | None, tz: str = DEFAULT_TZ, now_us: int | None = None) -> int:
    """The window end as UTC µs since the epoch: local midnight after the last
    date `date_to` (inclusive), or now for a window without an end."""
    if date_to is None:
        return now_us if now_us is not None else time.time_ns() // 1000
    day = (date.fromisoformat(date_to) + timedelta(days=1) - date(1970, 1, 1)).days
    return day * 86_400_000_000 - standard_offset_us(tz)


def grid_counts(units: DataFrame, level: int) -> DataFrame:
    """Tier-3 grids in each unit of `level` (code, grids); a grid counts 1 for itself."""
    u = units.select("code", "parent", "level")
    if level == GRID_LEVEL:
        return u.where(F.col("level") == level).select("code", F.lit(1).alias("grids"))
    parent = u.select(F.col("code").alias("_c"), F.col("parent").alias("_p"))
    grids = u.where(F.col("level") == GRID_LEVEL).select(
        F.col("code").alias("grid"), F.col("parent").alias("a1"))
    # Ancestors up to three tiers up (township ← village ← grid, with room for a county root).
    for i in (2, 3):
        up = parent.withColumnRenamed("_c", f"a{i - 1}").withColumnRenamed("_p", f"a{i}")
        grids = grids.join(up, f"a{i - 1}", "left")
    anc = grids.select("grid", F.explode(F.array("a1", "a2", "a3")).alias("code"))
    return anc.where(F.col("code").isNotNull()).groupBy("code").agg(
        F.countDistinct("grid").alias("grids"))


#: Repeat-complaint points (service: analytics::repeats): issues of one category
#: within this distance (haversine, mean Earth radius) and time link.
REPEAT_METERS = 100.0
REPEAT_DAYS = 30
REPEAT_LEVELS = (3, 5)
EARTH_R = 6_371_008.8


def _haversine_m(lon1, lat1, lon2, lat2):
    rad = math.pi / 180
    dlat, dlon = (lat2 - lat1) * rad, (lon2 - lon1) * rad
    a = F.sin(dlat / 2) ** 2 + F.cos(lat1 * rad) * F.cos(lat2 * rad) * F.sin(dlon / 2) ** 2
    return 2 * EARTH_R * F.asin(F.sqrt(a))


def _components(pairs: list[tuple[int, int]]) -> dict[int, int]:
    """Each node of the linked pairs and the smallest node of its component (union-find)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:
            up = parent[x]
            parent[x] = root
            x = up
        return root

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {p: find(p) for pair in pairs for p in pair}


def repeat_points(issues: DataFrame, level: int) -> DataFrame:
    """(code, repeat_points_3, repeat_points_5) of the units of `level` that have any.

    `issues`: the window's issues. As the service: only issues located in a
    grid; two are linked when they share the category and lie at most 100 m
    and 30 days apart; a cluster is a connected component; its peak is the
    most issues inside one closed 30-day span; it is a repeat point at K
    when the peak is at least K, and counts in the unit of the (tier1,
    tier2, tier3) most of its issues are in (ties to the smallest). Linked
    pairs come from a join of neighbouring 100 m x 100 m x 30-day buckets,
    confirmed by the exact tests; the components of the (sparse) pairs are
    found on the driver.
    """
    spark = issues.sparkSession
    empty = spark.createDataFrame([], "code string, repeat_points_3 long, repeat_points_5 long")
    span = REPEAT_DAYS * 86_400_000_000
    pts = (issues.where(F.col("category").isNotNull() & F.col("occurred_at").isNotNull()
                        & F.col("lon").isNotNull() & F.col("lat").isNotNull()
                        & F.col("tier3").isNotNull())
           .select(F.monotonically_increasing_id().alias("pid"), "category", "lon", "lat",
                   F.unix_micros(F.col("occurred_at")).alias("t"), "tier1", "tier2", "tier3")
           .cache())
    max_lat = pts.agg(F.max(F.abs(F.col("lat")))).first()[0]
    if max_lat is None:
        return empty
    # Metres on a local projection scaled at the latitude farthest from the
    # equator: projected distances never exceed true ones, so linked issues
    # lie in neighbouring buckets.
    m_per_deg = EARTH_R * math.pi / 180
    kx = m_per_deg * math.cos(math.radians(min(max_lat, 89.0)))
    b = pts.select("pid", "category", "lon", "lat", "t",
                   F.floor(F.col("lon") * kx / REPEAT_METERS).alias("bx"),
                   F.floor(F.col("lat") * m_per_deg / REPEAT_METERS).alias("by"),
                   F.floor(F.col("t") / span).alias("bt"))
    offsets = spark.createDataFrame(
        [(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)],
        "dx long, dy long, dz long")
    near = b.crossJoin(offsets).select(
        "pid", "category", "lon", "lat", "t", (F.col("bx") + F.col("dx")).alias("bx"),
        (F.col("by") + F.col("dy")).alias("by"), (F.col("bt") + F.col("dz")).alias("bt"))
    o = b.select(*[F.col(c).alias(f"o_{c}") for c in b.columns])
    pairs = (near.join(o, (near.category == o.o_category) & (near.bx == o.o_bx)
                       & (near.by == o.o_by) & (near.bt == o.o_bt) & (near.pid < o.o_pid))
             .where((F.abs(F.col("t") - F.col("o_t")) <= span)
                    & (_haversine_m(F.col("lon"), F.col("lat"), F.col("o_lon"), F.col("o_lat"))
                       <= REPEAT_METERS))
             .select("pid", "o_pid").collect())
    comp = _components([(r[0], r[1]) for r in pairs])
    size = Counter(comp.values())
    big = [(p, c) for p, c in comp.items() if size[c] >= REPEAT_LEVELS[0]]
    if not big:
        return empty
    m = spark.createDataFrame(big, "pid long, comp long").join(pts, "pid")
    # The peak: the most members inside one closed span from a member's time on.
    inside = F.count(F.lit(1)).over(Window.partitionBy("comp").orderBy("t").rangeBetween(0, span))
    peaks = m.select("comp", inside.alias("n")).groupBy("comp").agg(F.max("n").alias("peak"))
    first = Window.partitionBy("comp").orderBy(
        F.col("count").desc(), F.col("tier1").asc_nulls_first(),
        F.col("tier2").asc_nulls_first(), F.col("tier3").asc_nulls_first())
    homes = (m.groupBy("comp", "tier1", "tier2", "tier3").count()
             .withColumn("rank", F.row_number().over(first)).where(F.col("rank") == 1)
             .select("comp", F.col(f"tier{level}").alias("code")))
    k3, k5 = REPEAT_LEVELS
    return (peaks.join(homes, "comp").where(F.col("code").isNotNull()).groupBy("code")
            .agg(F.sum(F.when(F.col("peak") >= k3, 1).otherwise(0)).alias("repeat_points_3"),
                 F.sum(F.when(F.col("peak") >= k5, 1).otherwise(0)).alias("repeat_points_5")))


def tier_metrics(events: DataFrame, units: DataFrame, level: int,
                 date_from: str | None = None, date_to: str | None = None,
                 tz: str = DEFAULT_TZ, now_us: int | None = None) -> DataFrame:
    """Metrics of the units of `level` (1-3) over local dates [date_from, date_to] (inclusive).

    `tz` is the calendar zone the export's `local_date` was computed in
    (`wangge export --tz`, default Asia/Shanghai). The window ends at local
    midnight after `date_to`, or at `now_us` (default: now) without one: the
    backlog, overdue and on-time metrics look at issues as they stood then.
    """
    unit = f"tier{level}"
    end_us = window_end_us(date_to, tz, now_us)
    ev = events.where(F.col(unit).isNotNull())
    # Invalid cases (作废, 不予受理) are in no count.
    if "state" in events.columns:
        ev = ev.where(F.col("state").isNull() | (F.col("state") != "invalid"))
    # Month partitions after the window are never read (hive folder pruning);
    # months before it still are: the backlog counts every open issue in history.
    if date_to and "month" in events.columns:
        ev = ev.where(F.col("month") <= date_to[:7])
    in_window = F.lit(True)
    if date_from:
        in_window = in_window & (F.col("local_date") >= F.to_date(F.lit(date_from)))
    if date_to:
        in_window = in_window & (F.col("local_date") <= F.to_date(F.lit(date_to)))
    kind = F.col("kind")
    issue, incident, visit = (in_window & (kind == k) for k in ("issue", "incident", "visit"))
    # A report that repeats another case (重复件) is in the call volume but
    # in no case figure: 立案 counts the merged case once.
    dup = (F.coalesce(F.col("duplicate"), F.lit(False)) if "duplicate" in events.columns
           else F.lit(False))
    case = issue & ~dup
    occ = F.unix_micros(F.col("occurred_at"))

    def us(c):
        return F.unix_micros(F.col(c)) if c in events.columns else F.lit(None).cast("long")

    def as_of(by):
        """Closing time, resolved flag and deadline as the case stood at a cut
        (`by(t)`: t came by it). A case re-opened after the cut and first
        closed by it was closed then, at its first closure; a deadline first
        extended after the cut was the one before the extension."""
        first_closed, first_due = us("first_closed_at"), us("first_deadline")
        # Re-opened after its first closure (not a check failed before it).
        reopened = F.coalesce(by(first_closed) & ~by(us("reopened_at")), F.lit(False))
        later = F.coalesce(~by(us("extended_at")) & first_due.isNotNull(), F.lit(False))
        resolved_now = F.coalesce(F.col("status") == "resolved", F.lit(False))
        return (F.when(reopened, first_closed).otherwise(us("resolved_at")),
                F.when(reopened, F.lit(True)).otherwise(resolved_now),
                F.when(later, first_due).otherwise(us("deadline")))

    # Every count as of the window end, the next window's first instant: a
    # case closed at or after it was open then.
    res, is_resolved, due = as_of(lambda t: t < end_us)
    closed = is_resolved & (res.isNull() | (res < end_us))
    resolved = case & closed
    timed = resolved & res.isNotNull()
    hours = F.when(timed & (res >= occ), (res - occ) / 3.6e9)
    # 按期办结: closed by the deadline, out of issues with a deadline that
    # are due (closed with a time, or open with the deadline before the end).
    on_time = timed & due.isNotNull() & (res <= due)
    # 应结案 as of the window end: issues of the window not suspended then,
    # closed by the end or due by it.
    def suspended_by(by):
        """Suspended (挂账) at a cut: in its current suspension entered by
        then, or in its first one, entered by then and left after."""
        if "state" not in events.columns:
            return F.lit(False)
        changed = F.coalesce(F.unix_micros(F.col("updated_at")), occ)
        suspended_now = F.coalesce(F.col("state") == "suspended", F.lit(False))
        if "suspended_at" not in events.columns:
            return suspended_now & by(changed)
        first, resumed = us("suspended_at"), us("resumed_at")
        # The current suspension began at the first when the case never
        # resumed (a later step that keeps it suspended moves updated_at).
        since = F.when(resumed.isNull(), F.coalesce(first, changed)).otherwise(changed)
        now = suspended_now & by(since)
        return now | F.coalesce(by(first) & resumed.isNotNull() & ~by(resumed), F.lit(False))

    suspended = suspended_by(lambda t: t < end_us)
    # Open and past its deadline counts as due unless suspended then.
    is_due = case & due.isNotNull() & (timed | (~closed & ~suspended & (due < end_us)))
    due_closure = case & ~suspended & (closed | (due.isNotNull() & (due < end_us)))
    closed_due = due_closure & closed
    closed_on_time = closed_due & (due.isNull() | (res.isNotNull() & (res <= due)))
    # 期末积压: any issue of the unit (all history, not only the window) that
    # occurred before the end and was not resolved before it. A resolved issue
    # without a time counts as resolved before the end.
    res_b, resolved_b, due_b = as_of(lambda t: t < end_us)
    done = (res_b.isNotNull() & (res_b < end_us)) | (resolved_b & res_b.isNull())
    backlog = (kind == "issue") & ~dup & (occ < end_us) & ~F.coalesce(done, F.lit(False))
    # Overdue: past the deadline then, and not suspended then (the clock stops).
    late_b = due_b.isNotNull() & (due_b < end_us) & ~suspended_by(lambda t: t < end_us)
    overdue = backlog & late_b
    # The workflow: milestones count when reached before the window end.
    flow = {c: (F.unix_micros(F.col(c)) if c in events.columns else F.lit(None).cast("long"))
            for c in FLOW}

    def by_end(c):
        return flow[c].isNotNull() & (flow[c] < end_us)

    def before_end(c):
        return flow[c].isNotNull() & (flow[c] < end_us)

    solved_col = F.col("solved") if "solved" in events.columns else F.lit(None).cast("boolean")
    dispatched = case & by_end("dispatched_at")
    handled = dispatched & by_end("handled_at")
    handled_on_time = handled & (due.isNull() | (flow["handled_at"] <= due))
    closed_w = case & closed
    acc = flow["accepted_at"]
    response = F.when(case & by_end("accepted_at") & (acc >= occ), (acc - occ) / 3.6e9)
    cycle = F.when(closed_w & by_end("accepted_at") & res.isNotNull() & (res >= acc),
                   (res - acc) / 3.6e9)
    # 待处置: dispatched before the end, neither handled nor closed before it.
    pending = backlog & before_end("dispatched_at") & ~before_end("handled_at")

    def n(cond):
        return F.sum(F.when(cond, 1).otherwise(0))

    counts = ev.groupBy(F.col(unit).alias("code")).agg(
        n(issue).alias("issues"),
        n(case).alias("cases"),
        n(incident).alias("incidents"),
        n(visit).alias("visits"),
        n(resolved).alias("resolved"),
        n(on_time).alias("on_time"),
        n(is_due).alias("due"),
        n(due_closure).alias("due_closure"),
        n(closed_due).alias("closed_due"),
        n(closed_on_time).alias("closed_on_time"),
        n(issue & (F.col("satisfaction") == "satisfied")).alias("satisfied"),
        n(issue & (F.col("satisfaction") == "basic")).alias("basic"),
        n(issue & (F.col("satisfaction") == "unsatisfied")).alias("unsatisfied"),
        n(incident & F.col("cleared")).alias("cleared"),
        n(issue & F.col("source").isin(DISCOVERED_SOURCES)).alias("discovered"),
        n(issue & F.col("source").isNotNull()).alias("sourced"),
        n(backlog).alias("backlog"),
        n(overdue).alias("overdue"),
        n(dispatched).alias("dispatched"),
        n(handled).alias("handled"),
        n(handled_on_time).alias("handled_on_time"),
        n(dispatched & by_end("extended_at")).alias("extended"),
        n(dispatched & by_end("returned_at")).alias("returned"),
        n(closed_due & by_end("reworked_at")).alias("reworked"),
        n(closed_w).alias("closed"),
        n(closed_w & F.col("satisfaction").isNotNull()).alias("closed_rated"),
        n(closed_w & solved_col.isNotNull()).alias("solved_reported"),
        n(closed_w & F.coalesce(solved_col, F.lit(False))).alias("solved"),
        n(closed_w & ~by_end("escalated_at")).alias("closed_local"),
        n(pending).alias("pending_handling"),
        n(pending & late_b).alias("overdue_pending"),
        F.percentile(response, 0.5).alias("response_hours"),
        F.avg(cycle).alias("cycle_hours"),
        F.countDistinct(F.when(visit, F.col("household_hash"))).alias("households_visited"),
        F.percentile(hours, 0.5).alias("median_hours_to_resolve"),
        F.percentile(hours, 0.9).alias("p90_hours_to_resolve"),
    )
    u = (units.where(F.col("level") == level).select("code", "name", "households", "area_km2")
         .join(grid_counts(units, level), "code", "left"))
    zero = ["issues", "cases", "incidents", "visits", "resolved", "on_time", "due", "due_closure",
            "closed_due", "closed_on_time", "satisfied", "basic",
            "unsatisfied", "cleared", "discovered", "sourced", "backlog", "overdue",
            "households_visited", "grids", "dispatched", "handled", "handled_on_time",
            "extended", "returned", "reworked", "closed", "closed_rated", "solved_reported",
            "solved", "closed_local", "pending_handling", "overdue_pending"]
    t = (u.join(counts, "code", "left")
         .join(repeat_points(ev.where(issue), level), "code", "left")
         .fillna(0, subset=zero + ["repeat_points_3", "repeat_points_5"]))
    events_n = F.col("issues") + F.col("incidents") + F.col("visits")
    rated = F.col("satisfied") + F.col("basic") + F.col("unsatisfied")
    hh = F.col("households").cast("double")
    return t.select(
        "code", "name",
        events_n.cast("double").alias("event_count"),
        F.col("issues").cast("double").alias("issue_count"),
        F.col("incidents").cast("double").alias("incident_count"),
        F.col("visits").cast("double").alias("visit_count"),
        F.col("resolved").cast("double").alias("resolved_count"),
        F.col("backlog").cast("double").alias("backlog_open"),
        F.col("overdue").cast("double").alias("overdue_open"),
        F.col("households_visited").cast("double").alias("households_visited"),
        F.col("repeat_points_3").cast("double").alias("repeat_points_3"),
        F.col("repeat_points_5").cast("double").alias("repeat_points_5"),
        _ratio(events_n, F.col("area_km2")).alias("event_density"),
        _ratio(F.col("issues"), F.col("area_km2")).alias("issue_density"),
        _ratio(F.col("incidents"), F.col("area_km2")).alias("incident_density"),
        _ratio(F.col("issues"), hh / 1000).alias("issues_per_1k_households"),
        _ratio(F.col("incidents"), hh / 1000).alias("incidents_per_1k_households"),
        _ratio(F.col("resolved"), F.col("cases")).alias("resolution_rate"),
        _ratio(F.col("on_time"), F.col("due")).alias("on_time_rate"),
        _ratio(F.col("closed_due"), F.col("due_closure")).alias("closure_rate"),
        _ratio(F.col("closed_on_time"), F.col("due_closure")).alias("on_time_closure_rate"),
        _ratio(F.col("handled"), F.col("dispatched")).alias("handling_rate"),
        _ratio(F.col("handled_on_time"), F.col("dispatched")).alias("on_time_handling_rate"),
        F.col("overdue_pending").cast("double").alias("overdue_pending"),
        _ratio(F.col("overdue_pending"), F.col("pending_handling")).alias("overdue_pending_rate"),
        _ratio(F.col("reworked"), F.col("due_closure")).alias("rework_rate"),
        _ratio(F.col("extended"), F.col("dispatched")).alias("extension_rate"),
        _ratio(F.col("returned"), F.col("dispatched")).alias("return_rate"),
        _ratio(F.col("closed_rated"), F.col("closed")).alias("callback_rate"),
        _ratio(F.col("solved"), F.col("solved_reported")).alias("solved_rate"),
        _ratio(F.col("closed_local"), F.col("closed")).alias("local_resolution_rate"),
        "response_hours", "cycle_hours",
        "median_hours_to_resolve", "p90_hours_to_resolve",
        _ratio(F.col("satisfied"), rated).alias("satisfaction_rate"),
        _ratio(5 * F.col("satisfied") + 4 * F.col("basic") + 3 * F.col("unsatisfied"), rated)
        .alias("satisfaction_score"),
        _ratio(F.col("cleared"), F.col("incidents")).alias("clearance_rate"),
        _ratio(F.least(F.col("households_visited").cast("double"), hh), hh).alias("visit_coverage"),
        _ratio(F.col("visits"), F.col("grids").cast("double")).alias("visits_per_grid"),
        _ratio(F.col("issues"), F.col("visits") / 100).alias("issues_per_100_visits"),
        _ratio(F.col("discovered"), F.col("visits") / 100).alias("issues_found_per_100_visits"),
        _ratio(F.col("discovered"), F.col("sourced")).alias("discovery_rate"),
    ).orderBy("code")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", required=True, help="folder of `wangge export events --partition`")
    ap.add_argument("--units", required=True, help="file of `wangge export units`")
    ap.add_argument("--level", type=int, default=1, choices=[1, 2, 3])
    ap.add_argument("--from", dest="date_from", help="first local date (YYYY-MM-DD)")
    ap.add_argument("--to", dest="date_to",
                    help="last local date, inclusive; the backlog is counted at local midnight "
                         "after it (default: now)")
    ap.add_argument("--tz", default=DEFAULT_TZ,
                    help="calendar zone of the export (`wangge export --tz`), default Asia/Shanghai")
    ap.add_argument("--out", required=True, help="output folder (Parquet)")
    ap.add_argument("--master", help="Spark master, e.g. local[2]; default: from spark-submit")
    a = ap.parse_args(argv)
    spark = session(a.master)
    events = read_events(spark, a.events)
    units = spark.read.parquet(a.units)
    tier_metrics(events, units, a.level, a.date_from, a.date_to, a.tz).write.mode("overwrite").parquet(a.out)
    spark.stop()


if __name__ == "__main__":
    main()
