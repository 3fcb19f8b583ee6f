//! What can go wrong in the live engine.

use crate::analytics::AnalyticsError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The frame is still being built (start-up).
    #[error("the analytics frame is still being built")]
    NotReady,
    /// A body that cannot be read: not JSON, a CSV without a required column.
    #[error("{0}")]
    BadInput(String),
    /// A content type or charset the ingest does not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A grid file could not be loaded.
    #[error(transparent)]
    Grid(#[from] crate::grid::GridError),
    /// An events or updates file could not be read.
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    #[error("building the frame: {0}")]
    Frame(#[from] polars::prelude::PolarsError),
    #[error(transparent)]
    Analytics(#[from] AnalyticsError),
    /// An invariant broken inside the engine.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = LiveError> = std::result::Result<T, E>;
