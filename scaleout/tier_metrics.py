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

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

#: Issue sources that count as found by the grid's own work (service: DISCOVERED_SOURCES).
DISCOVERED_SOURCES = ["patrol", "visit"]

#: Metrics computed here, in the service's names.
METRICS = [
    "event_count", "issue_count", "incident_count", "visit_count", "resolved_count",
    "households_visited", "event_density", "issue_density", "incident_density",
    "issues_per_1k_households", "incidents_per_1k_households", "resolution_rate",
    "satisfaction_rate", "satisfaction_score", "clearance_rate", "discovery_rate",
    "visit_coverage", "issues_per_100_visits", "issues_found_per_100_visits",
    "median_hours_to_resolve", "p90_hours_to_resolve",
]


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


def tier_metrics(events: DataFrame, units: DataFrame, level: int,
                 date_from: str | None = None, date_to: str | None = None) -> DataFrame:
    """Metrics of the units of `level` (1-3) over local dates [date_from, date_to] (inclusive)."""
    unit = f"tier{level}"
    ev = events
    if date_from:
        ev = ev.where(F.col("local_date") >= F.to_date(F.lit(date_from)))
    if date_to:
        ev = ev.where(F.col("local_date") <= F.to_date(F.lit(date_to)))
    ev = ev.where(F.col(unit).isNotNull())
    issue, incident, visit = (F.col("kind") == k for k in ("issue", "incident", "visit"))
    resolved = issue & (F.col("status") == "resolved")
    hours = F.when(
        resolved & F.col("resolved_at").isNotNull() & (F.col("resolved_at") >= F.col("occurred_at")),
        (F.unix_micros("resolved_at") - F.unix_micros("occurred_at")) / 3.6e9,
    )

    def n(cond):
        return F.sum(F.when(cond, 1).otherwise(0))

    counts = ev.groupBy(F.col(unit).alias("code")).agg(
        n(issue).alias("issues"),
        n(incident).alias("incidents"),
        n(visit).alias("visits"),
        n(resolved).alias("resolved"),
        n(issue & (F.col("satisfaction") == "satisfied")).alias("satisfied"),
        n(issue & (F.col("satisfaction") == "basic")).alias("basic"),
        n(issue & (F.col("satisfaction") == "unsatisfied")).alias("unsatisfied"),
        n(incident & F.col("cleared")).alias("cleared"),
        n(issue & F.col("source").isin(DISCOVERED_SOURCES)).alias("discovered"),
        n(issue & F.col("source").isNotNull()).alias("sourced"),
        F.countDistinct(F.when(visit, F.col("household_hash"))).alias("households_visited"),
        F.percentile(hours, 0.5).alias("median_hours_to_resolve"),
        F.percentile(hours, 0.9).alias("p90_hours_to_resolve"),
    )
    u = units.where(F.col("level") == level).select("code", "name", "households", "area_km2")
    zero = ["issues", "incidents", "visits", "resolved", "satisfied", "basic", "unsatisfied",
            "cleared", "discovered", "sourced", "households_visited"]
    t = u.join(counts, "code", "left").fillna(0, subset=zero)
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
        F.col("households_visited").cast("double").alias("households_visited"),
        _ratio(events_n, F.col("area_km2")).alias("event_density"),
        _ratio(F.col("issues"), F.col("area_km2")).alias("issue_density"),
        _ratio(F.col("incidents"), F.col("area_km2")).alias("incident_density"),
        _ratio(F.col("issues"), hh / 1000).alias("issues_per_1k_households"),
        _ratio(F.col("incidents"), hh / 1000).alias("incidents_per_1k_households"),
        _ratio(F.col("resolved"), F.col("issues")).alias("resolution_rate"),
        _ratio(F.col("satisfied"), rated).alias("satisfaction_rate"),
        _ratio(5 * F.col("satisfied") + 4 * F.col("basic") + 3 * F.col("unsatisfied"), rated)
        .alias("satisfaction_score"),
        _ratio(F.col("cleared"), F.col("incidents")).alias("clearance_rate"),
        _ratio(F.col("discovered"), F.col("sourced")).alias("discovery_rate"),
        _ratio(F.least(F.col("households_visited").cast("double"), hh), hh).alias("visit_coverage"),
        _ratio(F.col("issues"), F.col("visits") / 100).alias("issues_per_100_visits"),
        _ratio(F.col("discovered"), F.col("visits") / 100).alias("issues_found_per_100_visits"),
        "median_hours_to_resolve", "p90_hours_to_resolve",
    ).orderBy("code")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", required=True, help="folder of `wangge export events --partition`")
    ap.add_argument("--units", required=True, help="file of `wangge export units`")
    ap.add_argument("--level", type=int, default=1, choices=[1, 2, 3])
    ap.add_argument("--from", dest="date_from", help="first local date (YYYY-MM-DD)")
    ap.add_argument("--to", dest="date_to", help="last local date, inclusive")
    ap.add_argument("--out", required=True, help="output folder (Parquet)")
    ap.add_argument("--master", help="Spark master, e.g. local[2]; default: from spark-submit")
    a = ap.parse_args(argv)
    spark = session(a.master)
    events = read_events(spark, a.events)
    units = spark.read.parquet(a.units)
    tier_metrics(events, units, a.level, a.date_from, a.date_to).write.mode("overwrite").parquet(a.out)
    spark.stop()


if __name__ == "__main__":
    main()
