//! Exports for analysts: exactly what was filtered, in the files their tools
//! open — GeoParquet 1.1, CSV and GeoJSON.
//!
//! In: the joined events as a polars `LazyFrame` (the Parquet written by
//! `wangge join`, or the service's in-memory frame), the
//! [`GridModel`](crate::grid::GridModel), a [`Query`](crate::analytics::Query)
//! and an [`Selection`] (parent unit, visible units, small-cell suppression).
//! Out: [`events`] (one point per event, tier codes, outcome and local date
//! parts), [`units`] (polygons with attributes) and [`metrics`] (any metric
//! table with its units' polygons), written to any `Write` through a
//! [`Sink`] of the chosen [`Format`], or to a hive-partitioned folder
//! (`month=2026-03/tier1=130682001/part-0.parquet`) or a tar stream of the
//! same files ([`Target::Archive`], the service's partitioned download).
//!
//! Events are read one local month at a time and written in row groups, so
//! memory holds one month of one export, never the whole file; rows are in
//! Hilbert order of the point (events) or the centroid (units) within each
//! batch, which keeps each row group's bounding box tight for readers that
//! skip row groups by the `bbox` covering column. Households appear only as
//! the keyed hashes the join stored. This module knows no HTTP.

mod batch;
mod error;
pub mod events;
mod format;
pub mod xlsx;
pub use batch::safe_cell;
pub mod geoparquet;
pub mod metrics;
pub mod order;
pub mod tar;
pub mod target;
pub mod units;
pub mod wkb;

pub use batch::{Batch, Geom, Sink, SinkOptions};
pub use error::ExportError;
pub use format::{open_sink, Format};
pub use target::Target;

/// Events fewer than this in a cell are suppressed for roles other than analyst.
pub const MIN_CELL: u64 = 5;

/// What part of the data an export covers besides the [`Query`](crate::analytics::Query).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only units under (or equal to) this unit code.
    pub parent: Option<String>,
    /// Codes of the units the caller may see row by row; `None` = everything.
    /// Events are kept when their deepest tier code is in the set.
    pub visible: Option<std::collections::HashSet<String>>,
    /// Metric cells from fewer events than this are nulled (`None` = none suppressed).
    pub suppress_below: Option<u64>,
}

/// Told how far an export has gone (rows written); the CLI draws a bar.
pub trait Progress {
    /// The total number of rows, once known.
    fn total(&self, _rows: u64) {}
    /// `rows` more rows were written.
    fn inc(&self, rows: u64);
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn inc(&self, _rows: u64) {}
}

/// Where and how an export is written.
pub struct Output<'w> {
    /// File format.
    pub format: Format,
    /// CSV: start with a UTF-8 byte-order mark (Excel).
    pub bom: bool,
    /// Stream, file, partitioned folder or archive.
    pub target: Target<'w>,
    /// xlsx: the zone times are shown in.
    pub tz: chrono_tz::Tz,
    /// xlsx and GeoParquet: what was asked (name, value), recorded in the file.
    pub query: Vec<(String, String)>,
    /// CSV: Chinese headers (the catalogue's labels).
    pub zh_headers: bool,
}

/// What an export wrote: rows, and the files when partitioned.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    /// Rows written across all files.
    pub rows: u64,
    /// Files written (one for an unpartitioned export to a path; the entry
    /// names of an archive).
    pub files: Vec<std::path::PathBuf>,
}
