//! Join: every event to its grid and the grid's ancestors.
//!
//! In: a [`GridModel`](crate::grid::GridModel) and validated events. Out: one
//! [`Outcome`] and deepest unit per event, then a polars frame with the tier
//! codes (`crate::columns`). The spatial work is in [`Locator`]: a uniform
//! cell index over the tier-3 grids (cells inside one grid skip the exact
//! test), exact half-open point-in-polygon tests ([`BandedPolygon`]) for the
//! rest, and `rstar` R-trees over tiers 1-2 for points in gaps.

mod cells;
mod locate;
mod pip;

pub use cells::CellIndex;
pub use locate::{Locator, Outcome, Strategy, CELLS_PER_GRID, MAX_CELLS, NONE};
pub use pip::BandedPolygon;

mod frame;
mod run;
mod steps;
mod versions;

pub use frame::{
    joined_frame, joined_schema, tier_table, unit_codes, with_missing_columns, TierCodes,
};
pub use run::{join_files, CaseSteps, JoinOutput, JoinSummary};
