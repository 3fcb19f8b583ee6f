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

use super::filter::{Zone, DAY};
use super::AnalyticsError;
use crate::columns as c;

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
    pred.fill_null(false).cast(DataType::Int64).sum().alias(name)
}

/// Group keys shared by the tables.
fn keys() -> [Expr; 7] {
    [col(c::TIER1), col(c::TIER2), col(c::TIER3), col(DAY), col(c::KIND), col(c::CATEGORY), col(c::SOURCE)]
}

/// Query: the count table.
pub fn events_lazy(joined: LazyFrame, zone: Zone) -> LazyFrame {
    joined
        .with_column(zone.local_day(c::OCCURRED_AT).alias(DAY))
        .group_by(keys())
        .agg([
            len().cast(DataType::Int64).alias(p::N),
            count_if(col(c::KIND).eq(lit(ISSUE)).and(col(c::STATUS).eq(lit(RESOLVED))), p::RESOLVED),
            count_if(col(c::SATISFACTION).eq(lit("satisfied")), p::SATISFIED),
            count_if(col(c::SATISFACTION).eq(lit("basic")), p::BASIC),
            count_if(col(c::SATISFACTION).eq(lit("unsatisfied")), p::UNSATISFIED),
            count_if(col(c::KIND).eq(lit(INCIDENT)).and(col(c::CLEARED)), p::CLEARED),
        ])
}

/// Query: one row per issue with what lifecycles need.
pub fn issues_lazy(joined: LazyFrame, zone: Zone) -> LazyFrame {
    joined.filter(col(c::KIND).eq(lit(ISSUE))).select([
        col(c::TIER1),
        col(c::TIER2),
        col(c::TIER3),
        zone.local_day(c::OCCURRED_AT).alias(DAY),
        col(c::KIND),
        col(c::CATEGORY),
        col(c::SOURCE),
        col(c::OCCURRED_AT).cast(DataType::Int64).alias(p::OCC_US),
        col(c::RESOLVED_AT).cast(DataType::Int64).alias(p::RES_US),
        col(c::DEADLINE).cast(DataType::Int64).alias(p::DUE_US),
        col(c::STATUS).eq(lit(RESOLVED)).fill_null(false).alias(p::IS_RESOLVED),
    ])
}

/// Query: distinct households visited per grid, day and category.
pub fn households_lazy(joined: LazyFrame, zone: Zone) -> LazyFrame {
    joined
        .filter(col(c::KIND).eq(lit(VISIT)).and(col(c::HOUSEHOLD_HASH).is_not_null()))
        .select([
            col(c::TIER1),
            col(c::TIER2),
            col(c::TIER3),
            zone.local_day(c::OCCURRED_AT).alias(DAY),
            col(c::KIND),
            col(c::CATEGORY),
            col(c::SOURCE),
            col(c::HOUSEHOLD_HASH),
        ])
        .unique(None, UniqueKeepStrategy::Any)
}

impl PreAgg {
    /// Scans the joined frame once per table and keeps the results in memory.
    pub fn build(joined: LazyFrame, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        // Three scans rather than one materialised frame: each reads only the
        // columns it needs, and ten million full rows would not fit comfortably.
        let events = events_lazy(joined.clone(), zone).collect()?;
        let issues = issues_lazy(joined.clone(), zone).collect()?;
        let households = households_lazy(joined, zone).collect()?;
        Ok(PreAgg { events, issues, households, zone })
    }

    /// Reads a joined Parquet file and pre-aggregates it.
    pub fn from_parquet(path: &str, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        let lf = LazyFrame::scan_parquet(path.into(), ScanArgsParquet::default())?;
        PreAgg::build(lf, zone)
    }

    /// First and last local day with an event, if any.
    pub fn day_range(&self) -> Result<Option<(i32, i32)>, AnalyticsError> {
        let days = self.events.column(DAY)?.i32()?;
        Ok(days.min().zip(days.max()))
    }
}
