//! Per-unit analytics over the joined event frame: the numbers grid chiefs,
//! county leaders and analysts act on.
//!
//! In: the joined frame of [`crate::join`] (columns of [`crate::columns`]) as a
//! polars `LazyFrame`, the [`GridModel`](crate::grid::GridModel) for areas,
//! households and the hierarchy, and a [`Query`] (local-date window, kinds,
//! categories, sources). Out: typed, serialisable results — a
//! [`MetricTable`] per tier whose metrics are all defined once in the
//! [`catalogue()`], unit trends ([`UnitTrend`]) on the calendar of
//! [`periods`] and spike [`Alert`]s, legend breaks ([`jenks_breaks`]),
//! kernel [`DensityGrid`]s, spatial [`Weights`] and hot-spot statistics,
//! league tables ([`Ranking`]) with the intervals of [`metric_interval`] and
//! the window's [`Sparks`], and assessment [`Score`]s.
//!
//! Queries are written lazily and collected once, at the edge; the heavy
//! scan happens once in [`PreAgg::build`], so repeated filtered queries only
//! touch the small pre-aggregates. Pure-number algorithms (hot spots, breaks,
//! Empirical Bayes, density) are plain Rust over slices.

pub mod breaks;
pub mod catalogue;
pub mod density;
pub mod duplicates;
pub mod emerging;
pub mod filter;
pub mod hotspots;
pub mod ingredients;
pub mod interval;
pub mod league;
pub mod metrics;
pub mod periods;
pub mod preagg;
pub mod ranking;
mod recent;
pub mod repeats;
pub mod score;
pub mod spark;
mod stats;
pub mod tier_hotspots;
pub mod trend;
pub mod unit_kpis;
pub mod unit_trend;
mod view;
pub mod weights;

#[cfg(test)]
pub(crate) mod testutil;

pub use breaks::{jenks_breaks, quantile_breaks};
pub use catalogue::{
    cases_behind, catalogue, event_complements, metric, Direction, EventCount, MetricDef,
    MetricUnit, Ratio,
};
pub use density::{density_in, kernel_density, points, DensityGrid, DensityParams};
pub use filter::{Query, Zone};
pub use hotspots::{
    analyse, benjamini_hochberg, getis_ord_gi_star, local_moran, moran, GiStar, HotClass,
    HotspotReport, LocalMoran, MoranGlobal, Quadrant, UnitHotspot,
};
pub use interval::{metric_interval, poisson_interval, Z95};
pub use league::{league_table, LeagueRow, LeagueTable};
pub use metrics::{
    change, compute_metrics, compute_metrics_of, compute_tiers, compute_tiers_of, compute_window,
    metric_values, Change, Ingredients, MetricTable, Parts, UnitContext, UnitMetrics,
};
pub use periods::{Granularity, Period};
pub use preagg::{CategoryCount, PreAgg};
pub use ranking::{
    beta_prior, gamma_prior, rank_children, rank_rows, Basis, Funnel, RankParams, RankRow, Ranking,
    Smoothing, Standing,
};
pub use repeats::{repeats, RepeatCluster, RepeatParams};
pub use score::{assess, Missing, Score, ScoreComponent, ScoreConfig};
pub use spark::{sparks, Sparks};
pub use tier_hotspots::{tier_hotspots, HotspotParams, NoStatistic, TierHotspots};
pub use trend::{alerts, Alert, AlertParams, TailModel};
pub use unit_kpis::{unit_kpis, UnitKpi};
pub use unit_trend::{unit_trend, MetricPoint, UnitTrend};
pub use weights::{distance_band, queen_contiguity, Transform, Weights};

/// Everything that can go wrong in the analytics layer.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// A polars query failed (bad column type in the joined frame, I/O on scan).
    #[error("query failed: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    /// A metric name that the catalogue does not define.
    #[error("unknown metric {name:?}; see `catalogue()` for the names")]
    UnknownMetric {
        /// The name asked for.
        name: String,
    },
    /// A unit code that the grid model does not hold.
    #[error("unknown unit code {code:?}")]
    UnknownUnit {
        /// The code asked for.
        code: String,
    },
    /// A tier outside 0..=3.
    #[error("level {level} is not a tier (0 county, 1 township, 2 village, 3 grid)")]
    BadLevel {
        /// The level asked for.
        level: u8,
    },
    /// A window that is empty or reversed, or a date that cannot be represented.
    #[error("bad time window: {reason}")]
    BadWindow {
        /// Why it was refused.
        reason: String,
    },
    /// A parameter out of its domain (number of classes, bandwidth, ...).
    #[error("bad parameter {name}: {reason}")]
    BadParameter {
        /// Parameter name.
        name: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// Vectors of values and weights of different lengths, or too few units.
    #[error("shape mismatch: {reason}")]
    Shape {
        /// What did not line up.
        reason: String,
    },
    /// The score configuration file could not be read or parsed.
    #[error("score config {path}: {reason}")]
    ScoreConfig {
        /// Path of the file.
        path: String,
        /// Parse or validation message.
        reason: String,
    },
}
