-- DuckDB side of `wangge bench stats`: the same per-unit aggregates as
-- `PreAgg::from_parquet` + `compute_metrics`, straight from the joined Parquet.
--
-- Install:  python3 -m venv .venv && .venv/bin/pip install duckdb==1.4.4
-- Run:      .venv/bin/python benches/duckdb/run.py --joined joined.parquet
--           (or the DuckDB CLI: `duckdb < benches/duckdb/stats.sql` with the
--           defaults below; `run.py` overrides the variables and times each query)
--
-- Written as a DuckDB user would: one scan per query, FILTER clauses for the
-- flags, GROUPING SETS for the three tiers, no pre-aggregation, every core.
-- Semantics follow src/analytics (metrics.rs, preagg.rs):
--   * a unit's events are those whose tierN code is not null;
--   * local days are Asia/Shanghai calendar days (session time zone);
--   * "resolved" is status = 'resolved' (null status = not resolved), and
--     as of the window end: a case resolved after it was open then, one
--     re-opened after it was closed then (at its first closure), and a
--     deadline extended after it was the one before the extension;
--   * invalid cases (state 'invalid', 作废) are in no count;
--   * hours to resolve count resolved issues with resolved_at >= occurred_at;
--     median and p90 are linear quantiles (quantile_cont);
--   * backlog/overdue/due are taken at `end_ts` (the window end; for the open
--     full window the bench passes the same "now" our side uses).
-- Left out on purpose: ratios that divide by area, households or grid counts
-- (a join of a few thousand rows with the GeoJSON, not a Parquet aggregate).

-- name: params
SET TimeZone = 'Asia/Shanghai';
-- polars writes the UTC instants as naive TIMESTAMP columns; read them as UTC
-- (epoch_us is UTC-based for both TIMESTAMP and TIMESTAMPTZ).
CREATE OR REPLACE MACRO utc(t) AS make_timestamptz(epoch_us(t));
SET VARIABLE joined = 'joined.parquet';
SET VARIABLE end_ts = now();
SET VARIABLE d0 = DATE '2026-03-01';
SET VARIABLE d1 = DATE '2026-04-01';
SET VARIABLE category = '环境卫生';
SET VARIABLE level = 2;

-- name: full
-- Every metric for all three tiers over the whole file.
WITH ev AS (
    SELECT
        tier1, tier2, tier3, kind, satisfaction, cleared, household_hash,
        utc(occurred_at) AS occurred_at, utc(resolved_at) AS resolved_at, utc(deadline) AS deadline,
        kind = 'issue' AS is_issue,
        coalesce(status = 'resolved', false) AS is_resolved,
        source IN ('patrol', 'visit') AS is_discovered,
        source IS NOT NULL AS has_source,
        CASE WHEN status = 'resolved' AND resolved_at >= occurred_at
             THEN (epoch_us(resolved_at) - epoch_us(occurred_at)) / 3600e6 END AS hours,
        -- Suspended (挂账) at the end: in the current suspension (since the
        -- first when it never resumed, else since its last change), or in
        -- the first one.
        coalesce(state = 'suspended'
                 AND utc(CASE WHEN resumed_at IS NULL THEN coalesce(suspended_at, updated_at, occurred_at) ELSE coalesce(updated_at, occurred_at) END) < getvariable('end_ts'), false)
        OR coalesce(utc(suspended_at) < getvariable('end_ts')
                    AND utc(resumed_at) >= getvariable('end_ts'), false) AS suspended
    FROM read_parquet(getvariable('joined'))
    WHERE state IS NULL OR state <> 'invalid'
),
agg AS (
    SELECT
        CASE WHEN grouping(tier1) = 0 THEN 1 WHEN grouping(tier2) = 0 THEN 2 ELSE 3 END AS level,
        coalesce(tier1, tier2, tier3) AS unit,
        count(*) FILTER (is_issue) AS issues,
        count(*) FILTER (kind = 'incident') AS incidents,
        count(*) FILTER (kind = 'visit') AS visits,
        count(*) FILTER (is_issue AND is_resolved) AS resolved,
        count(*) FILTER (satisfaction = 'satisfied') AS satisfied,
        count(*) FILTER (satisfaction = 'basic') AS basic,
        count(*) FILTER (satisfaction = 'unsatisfied') AS unsatisfied,
        count(*) FILTER (kind = 'incident' AND cleared) AS cleared,
        count(*) FILTER (is_issue AND is_discovered) AS discovered,
        count(*) FILTER (is_issue AND has_source) AS sourced,
        count(*) FILTER (is_issue AND is_resolved AND resolved_at <= deadline) AS on_time,
        count(*) FILTER (is_issue AND deadline IS NOT NULL AND (
            (is_resolved AND resolved_at IS NOT NULL)
            OR (NOT is_resolved AND deadline < getvariable('end_ts') AND NOT suspended))) AS due,
        count(*) FILTER (is_issue AND occurred_at < getvariable('end_ts')
            AND NOT coalesce(resolved_at < getvariable('end_ts'), is_resolved)) AS backlog,
        count(*) FILTER (is_issue AND occurred_at < getvariable('end_ts')
            AND NOT coalesce(resolved_at < getvariable('end_ts'), is_resolved)
            AND deadline < getvariable('end_ts') AND NOT suspended) AS overdue,
        quantile_cont(hours, 0.5) FILTER (is_issue) AS median_hours,
        quantile_cont(hours, 0.9) FILTER (is_issue) AS p90_hours,
        count(DISTINCT household_hash) FILTER (kind = 'visit') AS households_visited
    FROM ev
    GROUP BY GROUPING SETS ((tier1), (tier2), (tier3))
)
SELECT
    level, unit, issues, incidents, visits, resolved, satisfied, basic, unsatisfied,
    cleared, discovered, sourced, on_time, due, backlog, overdue, median_hours, p90_hours,
    households_visited,
    resolved / nullif(issues, 0) AS resolution_rate,
    on_time / nullif(due, 0) AS on_time_rate,
    satisfied / nullif(satisfied + basic + unsatisfied, 0) AS satisfaction_rate,
    (5 * satisfied + 4 * basic + 3 * unsatisfied) / nullif(satisfied + basic + unsatisfied, 0) AS satisfaction_score,
    cleared / nullif(incidents, 0) AS clearance_rate,
    discovered / nullif(sourced, 0) AS discovery_rate,
    issues * 100 / nullif(visits, 0) AS issues_per_100_visits,
    discovered * 100 / nullif(visits, 0) AS issues_found_per_100_visits
FROM agg
WHERE unit IS NOT NULL
ORDER BY level, unit;

-- name: filtered
-- One month, one category, one tier, with the previous month (环比) and the
-- same month a year earlier (同比), as `compute_metrics` answers a closed
-- one-month window. Backlog counts all history before each period's end.
WITH periods AS (
    SELECT period, t0::TIMESTAMPTZ AS t0, t1::TIMESTAMPTZ AS t1 FROM (VALUES
        ('current', getvariable('d0'), getvariable('d1')),
        ('previous', (getvariable('d0') - INTERVAL 1 MONTH)::DATE, getvariable('d0')),
        ('last_year', (getvariable('d0') - INTERVAL 1 YEAR)::DATE, (getvariable('d1') - INTERVAL 1 YEAR)::DATE)
    ) p(period, t0, t1)
),
ev AS (
    SELECT
        CASE getvariable('level') WHEN 1 THEN tier1 WHEN 2 THEN tier2 ELSE tier3 END AS unit,
        kind, satisfaction, cleared, household_hash,
        utc(occurred_at) AS occurred_at, utc(resolved_at) AS resolved_at, utc(deadline) AS deadline,
        utc(first_closed_at) AS first_closed_at, utc(reopened_at) AS reopened_at,
        utc(extended_at) AS extended_at, utc(first_deadline) AS first_deadline,
        CASE WHEN state = 'suspended' THEN utc(CASE WHEN resumed_at IS NULL THEN coalesce(suspended_at, updated_at, occurred_at) ELSE coalesce(updated_at, occurred_at) END) END AS suspended_now,
        utc(suspended_at) AS suspended_at, utc(resumed_at) AS resumed_at,
        kind = 'issue' AS is_issue,
        coalesce(status = 'resolved', false) AS is_resolved,
        source IN ('patrol', 'visit') AS is_discovered,
        source IS NOT NULL AS has_source
    FROM read_parquet(getvariable('joined'))
    WHERE (state IS NULL OR state <> 'invalid')
      AND category = getvariable('category')
      AND utc(occurred_at) < getvariable('d1')::TIMESTAMPTZ
),
-- Each case as it stood at each period's end: one re-opened after the end
-- and first closed by it was closed then, at its first closure; a deadline
-- first extended after the end was the one before. "By the end" is
-- t <= t1 for the window's cases, t < t1 for the backlog.
at_end AS (
    SELECT e.*, p.period, p.t1, e.occurred_at >= p.t0 AS w,
        coalesce(e.first_closed_at <= p.t1 AND e.reopened_at > p.t1, false) AS reopened,
        coalesce(e.first_closed_at < p.t1 AND e.reopened_at >= p.t1, false) AS reopened_b,
        CASE WHEN coalesce(e.extended_at > p.t1, false) AND e.first_deadline IS NOT NULL
             THEN e.first_deadline ELSE e.deadline END AS due,
        CASE WHEN coalesce(e.extended_at >= p.t1, false) AND e.first_deadline IS NOT NULL
             THEN e.first_deadline ELSE e.deadline END AS due_b,
        -- Suspended (挂账) then: never due or overdue while suspended.
        coalesce(e.suspended_now <= p.t1, false)
        OR coalesce(e.suspended_at <= p.t1 AND e.resumed_at > p.t1, false) AS suspended,
        coalesce(e.suspended_now < p.t1, false)
        OR coalesce(e.suspended_at < p.t1 AND e.resumed_at >= p.t1, false) AS suspended_b
    FROM ev e JOIN periods p ON e.occurred_at < p.t1
    WHERE e.unit IS NOT NULL
),
cases AS (
    SELECT *,
        -- Closed as of the period's end: resolved, not after it.
        (is_resolved OR reopened) AND coalesce(res <= t1, true) AS closed,
        NOT coalesce(res_b < t1, is_resolved OR reopened_b) AS open_b
    FROM (
        SELECT *,
            CASE WHEN reopened THEN first_closed_at ELSE resolved_at END AS res,
            CASE WHEN reopened_b THEN first_closed_at ELSE resolved_at END AS res_b
        FROM at_end
    )
),
agg AS (
    SELECT
        period, unit,
        count(*) FILTER (w AND is_issue) AS issues,
        count(*) FILTER (w AND kind = 'incident') AS incidents,
        count(*) FILTER (w AND kind = 'visit') AS visits,
        count(*) FILTER (w AND is_issue AND is_resolved) AS resolved,
        count(*) FILTER (w AND is_issue AND closed) AS closed,
        count(*) FILTER (w AND satisfaction = 'satisfied') AS satisfied,
        count(*) FILTER (w AND satisfaction = 'basic') AS basic,
        count(*) FILTER (w AND satisfaction = 'unsatisfied') AS unsatisfied,
        count(*) FILTER (w AND kind = 'incident' AND cleared) AS cleared,
        count(*) FILTER (w AND is_issue AND is_discovered) AS discovered,
        count(*) FILTER (w AND is_issue AND has_source) AS sourced,
        count(*) FILTER (w AND is_issue AND closed AND res <= due) AS on_time,
        count(*) FILTER (w AND is_issue AND due IS NOT NULL AND (
            (closed AND res IS NOT NULL) OR (NOT closed AND due < t1 AND NOT suspended))) AS due,
        count(*) FILTER (is_issue AND open_b) AS backlog,
        count(*) FILTER (is_issue AND open_b AND due_b < t1 AND NOT suspended_b) AS overdue,
        quantile_cont(hours, 0.5) FILTER (w AND is_issue AND closed) AS median_hours,
        quantile_cont(hours, 0.9) FILTER (w AND is_issue AND closed) AS p90_hours,
        count(DISTINCT household_hash) FILTER (w AND kind = 'visit') AS households_visited
    FROM (
        SELECT *,
            CASE WHEN closed AND res >= occurred_at
                 THEN (epoch_us(res) - epoch_us(occurred_at)) / 3600e6 END AS hours
        FROM cases
    )
    GROUP BY period, unit
)
SELECT
    *,
    closed / nullif(issues, 0) AS resolution_rate,
    on_time / nullif(due, 0) AS on_time_rate,
    satisfied / nullif(satisfied + basic + unsatisfied, 0) AS satisfaction_rate,
    discovered / nullif(sourced, 0) AS discovery_rate
FROM agg
ORDER BY period, unit;
