//! The one error type of the export layer.

use std::path::PathBuf;

use crate::analytics::AnalyticsError;

/// Everything that can go wrong while exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A polars query or the Parquet writer failed.
    #[error("polars: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    /// Gathering the served events failed (the snapshot file, the database).
    #[error(transparent)]
    Live(#[from] crate::live::LiveError),
    /// Computing the metric table failed (or a bad level, window or metric).
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    /// Writing to the output failed.
    #[error("writing {path}: {source}")]
    Io {
        /// File or folder written ("<stream>" for a response body).
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV writer failed.
    #[error("csv: {0}")]
    Csv(#[from] csv::Error),
    /// Serialising GeoJSON or the `geo` metadata failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A unit code that the grid model does not hold (or the caller may not see).
    #[error("unknown unit code {code:?}")]
    UnknownUnit {
        /// The code asked for.
        code: String,
    },
    /// The spreadsheet writer failed.
    #[error("xlsx: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// More rows than one Excel sheet holds.
    #[error("{rows} rows: an Excel sheet holds at most {max} (narrow the window or filters, or use csv or geoparquet)")]
    TooManyRows {
        /// Rows asked for (at least).
        rows: u64,
        /// Rows a sheet holds below its header.
        max: u64,
    },
    /// A format name other than geoparquet, csv, geojson or xlsx.
    #[error("unknown format {name:?}; use geoparquet, csv, geojson or xlsx")]
    UnknownFormat {
        /// The name given.
        name: String,
    },
    /// A tar archive asked of an export that is not partitioned (units, metric tables).
    #[error("only event exports are partitioned")]
    NotPartitioned,
    /// A column the joined frame should have, of the wrong type or missing.
    #[error("column {column}: {reason}")]
    Column {
        /// Column name.
        column: &'static str,
        /// What was wrong.
        reason: String,
    },
}

impl ExportError {
    /// An I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> ExportError {
        ExportError::Io {
            path: path.into(),
            source,
        }
    }
}
