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
    /// For each table (events, issues, households), the row offsets where
    /// its day-sorted runs start: one run after a build, one more per
    /// [`PreAgg::append`] until runs of similar length are merged.
    runs: [Vec<usize>; 3],
}

/// Runs a table may hold before the newest ones are merged regardless of length.
const MAX_RUNS: usize = 8;

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
        .select(
            keys()
                .into_iter()
                .chain([
                    col(c::OCCURRED_AT).cast(DataType::Int64).alias(p::OCC_US),
                    col(c::RESOLVED_AT).cast(DataType::Int64).alias(p::RES_US),
                    col(c::DEADLINE).cast(DataType::Int64).alias(p::DUE_US),
                    col(c::STATUS)
                        .eq(lit(RESOLVED))
                        .fill_null(false)
                        .alias(p::IS_RESOLVED),
                ])
                .collect::<Vec<_>>(),
        )
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
        .select(
            keys()
                .into_iter()
                .chain([col(c::HOUSEHOLD_HASH)])
                .collect::<Vec<_>>(),
        )
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

/// The days of `df`, read by position (any chunking).
fn days_of(df: &DataFrame) -> Option<&Int32Chunked> {
    df.column(DAY).ok()?.i32().ok()
}

/// First row at or after `start` in `[start, end)` whose day is not below
/// `day` (the rows of a run are in day order).
fn first_not_below(days: &Int32Chunked, start: usize, end: usize, day: i32) -> usize {
    let (mut lo, mut hi) = (start, end);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if days.get(mid).is_some_and(|d| d < day) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Rows with a day in `[from, to)` of a table made of day-sorted runs
/// starting at `runs`: a filtered query then reads its month of each run
/// instead of two years. Falls back to the whole table when the day column
/// cannot be read; callers filter on the day anyway, so the fallback is only
/// slower, never wrong.
fn day_slice(df: &DataFrame, runs: &[usize], from: Option<i32>, to: Option<i32>) -> DataFrame {
    let Some(days) = days_of(df) else {
        return df.clone();
    };
    let n = df.height();
    let mut pieces: Vec<DataFrame> = Vec::with_capacity(runs.len());
    for (k, &s) in runs.iter().enumerate() {
        let e = runs.get(k + 1).copied().unwrap_or(n);
        let start = from.map_or(s, |f| first_not_below(days, s, e, f));
        let end = to.map_or(e, |t| first_not_below(days, start, e, t));
        if end > start || pieces.is_empty() {
            pieces.push(df.slice(start as i64, end - start));
        }
    }
    let mut out = pieces.swap_remove(0);
    for p in &pieces {
        // Same schema by construction; a failure would only lose speed.
        if out.vstack_mut(p).is_err() {
            return df.clone();
        }
    }
    out
}

/// Sorts `df` by day in one chunk.
fn sorted_by_day(df: DataFrame) -> PolarsResult<DataFrame> {
    let mut df = df.sort(
        [DAY],
        SortMultipleOptions::default().with_multithreaded(true),
    )?;
    df.rechunk_mut();
    Ok(df)
}

/// Appends a day-sorted `tail` to the table `df` of runs `runs`, merging
/// runs so that there are few of them and each is at least twice the next
/// (the total sorting work stays that of a log-structured merge).
fn append_run(df: &mut DataFrame, runs: &mut Vec<usize>, tail: &DataFrame) -> PolarsResult<()> {
    if tail.height() == 0 {
        return Ok(());
    }
    let start = df.height();
    // New rows on or after the last day so far extend the last run. Runs
    // are sorted, so the latest day is among their last rows, and the
    // tail's earliest is its first.
    let latest = days_of(df).and_then(|d| {
        let ends = runs.iter().skip(1).copied().chain([start]);
        ends.filter(|&e| e > 0).filter_map(|e| d.get(e - 1)).max()
    });
    let extends = match (latest, days_of(tail).and_then(|d| d.get(0))) {
        (Some(last), Some(first)) => first >= last,
        _ => start == 0,
    };
    df.vstack_mut(tail)?;
    if runs.is_empty() {
        runs.push(0);
    } else if !extends {
        runs.push(start);
    }
    while runs.len() >= 2 {
        let k = runs.len() - 1;
        let last = df.height() - runs[k];
        let prev = runs[k] - runs[k - 1];
        if last * 2 < prev && runs.len() <= MAX_RUNS {
            break;
        }
        let s = runs[k - 1];
        let merged = sorted_by_day(df.slice(s as i64, df.height() - s))?;
        let mut head = df.slice(0, s);
        head.vstack_mut(&merged)?;
        *df = head;
        runs.pop();
    }
    if df.first_col_n_chunks() > 32 {
        df.rechunk_mut();
    }
    Ok(())
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
        for df in [&mut events, &mut issues, &mut households] {
            df.rechunk_mut();
        }
        Ok(PreAgg {
            events,
            issues,
            households,
            zone,
            runs: [vec![0], vec![0], vec![0]],
        })
    }

    /// Pre-aggregates from tables built elsewhere (read back from a
    /// snapshot, or cut from another pre-aggregate): each is sorted by day
    /// unless it already is, so it holds one run.
    pub fn from_tables(
        events: DataFrame,
        issues: DataFrame,
        households: DataFrame,
        zone: Zone,
    ) -> Result<PreAgg, AnalyticsError> {
        let one_run = |df: DataFrame| -> PolarsResult<DataFrame> {
            let sorted = days_of(&df).is_some_and(|d| {
                let mut it = d.iter();
                let mut prev = it.next().flatten();
                it.all(|x| {
                    let ok = prev <= x;
                    prev = x;
                    ok
                })
            });
            if sorted {
                Ok(df)
            } else {
                sorted_by_day(df)
            }
        };
        Ok(PreAgg {
            events: one_run(events)?,
            issues: one_run(issues)?,
            households: one_run(households)?,
            zone,
            runs: [vec![0], vec![0], vec![0]],
        })
    }

    /// Folds the pre-aggregates of newly stored events into these, at a
    /// cost that follows the new rows (plus an occasional merge of runs),
    /// not the ten million old ones. Every reader sums counts and counts
    /// distinct households, so a key present in both needs no merging.
    /// `new` is one build ([`PreAgg::build`]): one sorted run per table.
    pub fn append(&mut self, new: &PreAgg) -> Result<(), AnalyticsError> {
        debug_assert!(new.runs.iter().all(|r| r.len() == 1));
        let [re, ri, rh] = &mut self.runs;
        append_run(&mut self.events, re, &new.events)?;
        append_run(&mut self.issues, ri, &new.issues)?;
        append_run(&mut self.households, rh, &new.households)?;
        Ok(())
    }

    /// Day-sorted runs per table (events, issues, households).
    pub fn run_counts(&self) -> [usize; 3] {
        [self.runs[0].len(), self.runs[1].len(), self.runs[2].len()]
    }

    /// Reads a joined Parquet file and pre-aggregates it.
    pub fn from_parquet(path: &str, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        let lf = LazyFrame::scan_parquet(path.into(), ScanArgsParquet::default())?;
        PreAgg::build(lf, zone)
    }

    /// Count-table rows of the query's window (the predicate still applies on top).
    pub fn events_in(&self, q: &Query) -> DataFrame {
        day_slice(
            &self.events,
            &self.runs[0],
            q.from.map(day_number),
            q.to.map(day_number),
        )
    }

    /// Issue rows of the query's window.
    pub fn issues_in(&self, q: &Query) -> DataFrame {
        day_slice(
            &self.issues,
            &self.runs[1],
            q.from.map(day_number),
            q.to.map(day_number),
        )
    }

    /// Issue rows from the beginning up to the query's window end.
    pub fn issues_before_end(&self, q: &Query) -> DataFrame {
        day_slice(&self.issues, &self.runs[1], None, q.to.map(day_number))
    }

    /// Household rows of the query's window.
    pub fn households_in(&self, q: &Query) -> DataFrame {
        day_slice(
            &self.households,
            &self.runs[2],
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

    /// Events folded in by [`PreAgg::append`], in batches whose days go
    /// back and forth, answer every window like one build over them all.
    #[test]
    fn appended_batches_answer_like_one_build() {
        let (gm, df) = big(2, 2, 3, 6_000, 90);
        let zone = Zone::default();
        let whole = PreAgg::build(df.clone().lazy(), zone).unwrap();
        // Batches cut from a shuffled order: each spans the whole period.
        let n = df.height() as i64;
        let order: Vec<IdxSize> = (0..n as IdxSize)
            .map(|i| (i * 7_919) % n as IdxSize)
            .collect();
        let shuffled = df.take(&IdxCa::from_vec("i".into(), order)).unwrap();
        let mut pre = PreAgg::build(shuffled.slice(0, 500).lazy(), zone).unwrap();
        let mut start = 500;
        for len in [50, 1_000, 7, 300, 2_000, 1, 900, 600, 642] {
            let part = PreAgg::build(shuffled.slice(start, len).lazy(), zone).unwrap();
            pre.append(&part).unwrap();
            start += len as i64;
        }
        assert_eq!(start, n);
        // Recent rows after everything extend the last run instead.
        assert!(pre
            .run_counts()
            .iter()
            .all(|&r| (1..=MAX_RUNS).contains(&r)));
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        for q in [
            Query::default(),
            Query::window(d(1, 10), d(1, 20)),
            Query::window(d(2, 1), d(3, 1)),
        ] {
            for level in 1..=3 {
                let a = compute_metrics(&whole, &gm, level, &q).unwrap();
                let b = compute_metrics(&pre, &gm, level, &q).unwrap();
                assert_eq!(
                    serde_json::to_value(&a.rows).unwrap(),
                    serde_json::to_value(&b.rows).unwrap(),
                    "level {level}, {q:?}"
                );
            }
            assert_eq!(
                pre.events_in(&q).column(p::N).unwrap().i64().unwrap().sum(),
                whole
                    .events_in(&q)
                    .column(p::N)
                    .unwrap()
                    .i64()
                    .unwrap()
                    .sum()
            );
        }
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
