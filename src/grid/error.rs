//! Errors of the grid layer.

use std::path::PathBuf;

use super::report::Report;

/// Why a grid file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// The file could not be read.
    #[error("{path}: cannot read: {cause}")]
    Io {
        path: PathBuf,
        /// Told in the message, so no `source` of the error: a chain
        /// printed whole would say it twice.
        cause: std::io::Error,
    },
    /// The file is not a GeoJSON FeatureCollection.
    #[error("{path}: not a GeoJSON FeatureCollection: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// The file parsed but has fatal problems; the report lists each one.
    #[error("{path}: {} fatal problem(s); first: {}", report.fatal_count(), report.first_fatal().map_or_else(|| "?".to_owned(), |f| f.to_string()))]
    Rejected { path: PathBuf, report: Box<Report> },
}
