//! Pre-aggregates of the joined frame, built once, queried many times.
//!
//! Ten million events make a full scan the expensive part of every query.
//! Almost every metric is a sum of per-event flags, so one table of counts by
//! (tier codes, local day, kind, category, source) answers any window, tier
//! and filter; a filtered query (one month, one category, one tier) then reads
//! a few thousand rows instead of millions. What does not add up across days
//! gets its own, still much smaller, table: issue lifecycles (durations,
//! deadlines, backlog) keep one row per issue with only the columns they need,
//! and visit coverage keeps the distinct households visited per grid and day.

use polars::prelude::*;

use super::filter::{day_number, Query, Zone, DAY};
use super::AnalyticsError;
use crate::columns as c;

mod pack;

/// Kind value of residents' issue reports.
pub const ISSUE: &str = "issue";
/// Kind value of security incidents.
pub const INCIDENT: &str = "incident";
/// Kind value of cadres' visits.
pub const VISIT: &str = "visit";
/// Issue sources that count as found by the grid's own work (发现), not
/// reported by residents. `visit` is accepted for systems that record it.
pub const DISCOVERED_SOURCES: [&str; 2] = ["patrol", "visit"];
/// Issue status meaning handled (办结).
pub const RESOLVED: &str = "resolved";

/// Pre-aggregate columns (derived, not part of the joined frame).
pub mod col_names {
    /// Events in the group (UInt32 → Int64).
    pub const N: &str = "n";
    /// Issues with status `resolved`.
    pub const RESOLVED: &str = "n_resolved";
    /// Issues rated `satisfied`.
    pub const SATISFIED: &str = "n_satisfied";
    /// Issues rated `basic`.
    pub const BASIC: &str = "n_basic";
    /// Issues rated `unsatisfied`.
    pub const UNSATISFIED: &str = "n_unsatisfied";
    /// Incidents cleared.
    pub const CLEARED: &str = "n_cleared";
    /// Occurred-at in µs since the epoch (issue table).
    pub const OCC_US: &str = "occurred_us";
    /// Resolved-at in µs (issue table).
    pub const RES_US: &str = "resolved_us";
    /// Deadline in µs (issue table).
    pub const DUE_US: &str = "deadline_us";
    /// Whether the issue is resolved (issue table).
    pub const IS_RESOLVED: &str = "is_resolved";
}
use col_names as p;

/// The three pre-aggregates and the zone their local days were computed in.
#[derive(Debug, Clone)]
pub struct PreAgg {
    /// Counts by tier1, tier2, tier3, day, kind, category, source.
    pub events: DataFrame,
    /// One row per issue: tiers, day, kind, category, source, times in µs, resolved flag.
    pub issues: DataFrame,
    /// Distinct (tier1, tier2, tier3, day, kind, category, household_hash) of visits.
    pub households: DataFrame,
    /// Zone of the `day` column.
    pub zone: Zone,
}

fn count_if(pred: Expr, name: &str) -> Expr {
    pred.fill_null(false)
        .cast(DataType::Int64)
        .sum()
        .alias(name)
}

/// Group keys shared by the tables.
fn keys() -> [Expr; 7] {
    [
        col(c::TIER1),
        col(c::TIER2),
        col(c::TIER3),
        col(DAY),
        col(c::KIND),
        col(c::CATEGORY),
        col(c::SOURCE),
    ]
}

/// Query: the count table.
pub fn events_lazy(joined: LazyFrame, zone: Zone) -> LazyFrame {
    count_by_keys(joined.with_column(zone.local_day(c::OCCURRED_AT).alias(DAY)))
}

/// The count table of a frame that already has [`DAY`].
fn count_by_keys(with_day: LazyFrame) -> LazyFrame {
    with_day
        .group_by(keys())
        .agg([
            len().cast(DataType::Int64).alias(p::N),
            count_if(
                col(c::KIND)
                    .eq(lit(ISSUE))
                    .and(col(c::STATUS).eq(lit(RESOLVED))),
                p::RESOLVED,
            ),
            count_if(col(c::SATISFACTION).eq(lit("satisfied")), p::SATISFIED),
            count_if(col(c::SATISFACTION).eq(lit("basic")), p::BASIC),
            count_if(col(c::SATISFACTION).eq(lit("unsatisfied")), p::UNSATISFIED),
            count_if(
                col(c::KIND).eq(lit(INCIDENT)).and(col(c::CLEARED)),
                p::CLEARED,
            ),
        ])
        .sort([DAY], SortMultipleOptions::default())
}

/// Query: one row per issue with what lifecycles need.
pub fn issues_lazy(joined: LazyFrame, zone: Zone) -> LazyFrame {
    issues_of(joined.with_column(zone.local_day(c::OCCURRED_AT).alias(DAY)))
}

fn issues_of(with_day: LazyFrame) -> LazyFrame {
    with_day
        .filter(col(c::KIND).eq(lit(ISSUE)))
        .select([
            col(c::TIER1),
            col(c::TIER2),
            col(c::TIER3),
            col(DAY),
            col(c::KIND),
            col(c::CATEGORY),
            col(c::SOURCE),
            col(c::OCCURRED_AT).cast(DataType::Int64).alias(p::OCC_US),
            col(c::RESOLVED_AT).cast(DataType::Int64).alias(p::RES_US),
            col(c::DEADLINE).cast(DataType::Int64).alias(p::DUE_US),
            col(c::STATUS)
                .eq(lit(RESOLVED))
                .fill_null(false)
                .alias(p::IS_RESOLVED),
        ])
        .sort([DAY], SortMultipleOptions::default())
}

/// Query: distinct households visited per grid, day and category.
pub fn households_lazy(joined: LazyFrame, zone: Zone) -> LazyFrame {
    households_of(joined.with_column(zone.local_day(c::OCCURRED_AT).alias(DAY)))
}

fn households_of(with_day: LazyFrame) -> LazyFrame {
    with_day
        .filter(
            col(c::KIND)
                .eq(lit(VISIT))
                .and(col(c::HOUSEHOLD_HASH).is_not_null()),
        )
        .select([
            col(c::TIER1),
            col(c::TIER2),
            col(c::TIER3),
            col(DAY),
            col(c::KIND),
            col(c::CATEGORY),
            col(c::SOURCE),
            col(c::HOUSEHOLD_HASH),
        ])
        .unique(None, UniqueKeepStrategy::Any)
        .sort([DAY], SortMultipleOptions::default())
}

/// Every column of the joined frame that some table reads, plus [`DAY`].
fn base_columns(zone: Zone) -> Vec<Expr> {
    let names = [
        c::TIER1,
        c::TIER2,
        c::TIER3,
        c::KIND,
        c::CATEGORY,
        c::SOURCE,
        c::STATUS,
        c::SATISFACTION,
        c::CLEARED,
        c::OCCURRED_AT,
        c::RESOLVED_AT,
        c::DEADLINE,
        c::HOUSEHOLD_HASH,
    ];
    let mut e: Vec<Expr> = names.iter().map(|n| col(*n)).collect();
    e.push(zone.local_day(c::OCCURRED_AT).alias(DAY));
    e
}

/// Rows with a day in `[from, to)` of a table sorted by day: a filtered
/// query then reads its month instead of two years. Falls back to the whole
/// table when the day column cannot be read as one slice; callers filter on
/// the day anyway, so the fallback is only slower, never wrong.
fn day_slice(df: &DataFrame, from: Option<i32>, to: Option<i32>) -> DataFrame {
    let Some(days) = df
        .column(DAY)
        .ok()
        .and_then(|c| c.i32().ok())
        .and_then(|ca| ca.cont_slice().ok())
    else {
        return df.clone();
    };
    let start = from.map_or(0, |f| days.partition_point(|&d| d < f));
    let end = to
        .map_or(days.len(), |t| days.partition_point(|&d| d < t))
        .max(start);
    df.slice(start as i64, end - start)
}

impl PreAgg {
    /// Scans the joined frame once and keeps the three tables in memory.
    pub fn build(joined: LazyFrame, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        // One scan of only the columns the tables read (no ids, coordinates
        // or visitor hashes); the base frame is dropped once they are built.
        let base = joined.select(base_columns(zone)).collect()?;
        let mut events = match pack::count_table(&base)? {
            Some(df) => df,
            None => count_by_keys(base.clone().lazy()).collect()?,
        };
        let mut households = match pack::household_table(&base)? {
            Some(df) => df,
            None => households_of(base.clone().lazy()).collect()?,
        };
        let mut issues = issues_of(base.lazy()).collect()?;
        // One chunk per column, so day windows can be cut by binary search.
        for df in [&mut events, &mut issues, &mut households] {
            df.rechunk_mut();
        }
        Ok(PreAgg {
            events,
            issues,
            households,
            zone,
        })
    }

    /// Reads a joined Parquet file and pre-aggregates it.
    pub fn from_parquet(path: &str, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        let lf = LazyFrame::scan_parquet(path.into(), ScanArgsParquet::default())?;
        PreAgg::build(lf, zone)
    }

    /// Count-table rows of the query's window (the predicate still applies on top).
    pub fn events_in(&self, q: &Query) -> DataFrame {
        day_slice(&self.events, q.from.map(day_number), q.to.map(day_number))
    }

    /// Issue rows of the query's window.
    pub fn issues_in(&self, q: &Query) -> DataFrame {
        day_slice(&self.issues, q.from.map(day_number), q.to.map(day_number))
    }

    /// Issue rows from the beginning up to the query's window end.
    pub fn issues_before_end(&self, q: &Query) -> DataFrame {
        day_slice(&self.issues, None, q.to.map(day_number))
    }

    /// Household rows of the query's window.
    pub fn households_in(&self, q: &Query) -> DataFrame {
        day_slice(
            &self.households,
            q.from.map(day_number),
            q.to.map(day_number),
        )
    }

    /// First and last local day with an event, if any.
    pub fn day_range(&self) -> Result<Option<(i32, i32)>, AnalyticsError> {
        let days = self.events.column(DAY)?.i32()?;
        Ok(days.min().zip(days.max()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use chrono::NaiveDate;

    use super::*;
    use crate::analytics::metrics::compute_metrics;
    use crate::analytics::testutil::big;

    #[test]
    fn the_count_table_adds_up_to_the_events() {
        let (_, df) = big(2, 2, 3, 5_000, 60);
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        let total: i64 = pre
            .events
            .column(p::N)
            .unwrap()
            .i64()
            .unwrap()
            .sum()
            .unwrap();
        assert_eq!(total, 5_000);
        let issues = pre
            .events
            .clone()
            .lazy()
            .filter(col(c::KIND).eq(lit(ISSUE)))
            .collect()
            .unwrap();
        assert_eq!(
            issues.column(p::N).unwrap().i64().unwrap().sum().unwrap() as usize,
            pre.issues.height()
        );
    }

    /// Rows of a frame in a canonical order, to compare tables built two ways.
    fn canonical(df: &DataFrame) -> DataFrame {
        let by: Vec<PlSmallStr> = df.get_column_names().into_iter().cloned().collect();
        df.sort(by, SortMultipleOptions::default()).unwrap()
    }

    #[test]
    fn the_packed_tables_hold_the_rows_of_the_polars_queries() {
        use crate::analytics::testutil::{county, joined, Ev};
        let (_, big_df) = big(2, 2, 3, 5_000, 60);
        let gm = county();
        let small = joined(
            &gm,
            &[
                Ev::issue("2026-03-01 00:30", "G1"),
                Ev {
                    grid: None,
                    ..Ev::issue("2026-03-01 00:30", "G1")
                },
                Ev {
                    grid: None,
                    ..Ev::visit("2026-03-02 10:00", "G2", "h1")
                },
                Ev::visit("2026-03-02 10:00", "G2", "h1"),
                Ev::visit("2026-03-02 11:00", "G2", "h1"),
                Ev::incident("2026-02-28 23:59", "G3"),
            ],
        );
        for df in [big_df, small] {
            the_same_rows(df);
        }
    }

    fn the_same_rows(df: DataFrame) {
        let zone = Zone::default();
        let pre = PreAgg::build(df.clone().lazy(), zone).unwrap();
        let events = events_lazy(df.clone().lazy(), zone).collect().unwrap();
        let households = households_lazy(df.clone().lazy(), zone).collect().unwrap();
        let issues = issues_lazy(df.lazy(), zone).collect().unwrap();
        assert!(canonical(&pre.events).equals_missing(&canonical(&events)));
        assert!(canonical(&pre.households).equals_missing(&canonical(&households)));
        assert!(canonical(&pre.issues).equals_missing(&canonical(&issues)));
        let days = pre.events.column(DAY).unwrap().i32().unwrap();
        assert!(days.iter().zip(days.iter().skip(1)).all(|(a, b)| a <= b));
    }

    #[test]
    fn day_windows_are_cut_from_the_sorted_tables() {
        let (_, df) = big(2, 2, 3, 5_000, 60);
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        let q = Query::window(d(1, 10), d(1, 20));
        let cut = pre.events_in(&q);
        let days = cut.column(DAY).unwrap().i32().unwrap();
        assert!(
            days.min().unwrap() >= day_number(d(1, 10))
                && days.max().unwrap() < day_number(d(1, 20))
        );
        let all = pre
            .events
            .clone()
            .lazy()
            .filter(q.predicate())
            .collect()
            .unwrap();
        assert_eq!(cut.height(), all.height());
        assert_eq!(pre.events_in(&Query::window(d(6, 1), d(6, 2))).height(), 0);
        assert_eq!(
            pre.issues_before_end(&Query::default()).height(),
            pre.issues.height()
        );
    }

    /// Timing, not a unit test: `cargo test --release --lib filtered_query -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn a_filtered_query_costs_under_a_tenth_of_the_full_computation() {
        let (gm, df) = big(10, 10, 10, 2_000_000, 730);
        let t = Instant::now();
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        for level in 1..=3 {
            compute_metrics(&pre, &gm, level, &Query::default()).unwrap();
        }
        let full = t.elapsed();
        let q = Query {
            categories: vec!["环境卫生".into()],
            ..Query::window(
                NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
            )
        };
        let t = Instant::now();
        compute_metrics(&pre, &gm, 2, &q).unwrap();
        let filtered = t.elapsed();
        eprintln!(
            "full {full:?}, filtered {filtered:?}, ratio {:.3}",
            filtered.as_secs_f64() / full.as_secs_f64()
        );
        assert!(filtered.as_secs_f64() < full.as_secs_f64() / 10.0);
    }
}
