//! Ingestion: event files (CSV, JSON Lines, Parquet) → validated events.
//!
//! In: files in the CONTRACT.md layout, a coordinate system, a time zone and
//! the deployment's hashing secret. Out: batches of [`Event`]s in WGS84 with
//! UTC timestamps and hashed personal data, plus a [`Reject`] for every row
//! that could not be used. A case sent again is one case: [`version`]
//! says which of its rows is the newer.

pub mod crs;
mod decode;
pub mod encoding;
mod event;
pub mod fold;
pub mod headers;
pub mod json_row;
pub mod privacy;
pub mod probe;
pub mod quote;
mod read;
pub mod state;
pub mod time;
mod update;
pub mod version;

use std::path::PathBuf;

pub use decode::{detect, DecodingReader};
pub use event::{category, Col, Dates, Event, Field, Kind, RowError, Unused, Validator, FIELDS};
pub use read::column_of;
pub(crate) use read::REQUIRED;
pub use read::{
    display_paths, file_columns, overflow, read_file, read_keys, rows_about, spanning, swallowed,
    unread_columns, Batch, Format, Reject, RowShape, BATCH_ROWS,
};
pub use update::{
    read_updates, read_updates_with, update_column_of, ParsedSteps, Step, StepsRead, UCol,
    UPDATE_FIELDS,
};

/// Why an events file could not be read at all (row problems are [`Reject`]s).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {cause}")]
    Io {
        path: PathBuf,
        /// Told in the message, so no `source` of the error: a chain
        /// printed whole would say it twice.
        cause: std::io::Error,
    },
    /// The extension is none of .csv, .tsv, .txt, .jsonl, .ndjson, .json, .parquet.
    #[error("{path}: unknown format; use .csv, .jsonl or .parquet")]
    UnknownFormat { path: PathBuf },
    /// The file has no bytes (not even a header).
    #[error("{path}: empty file (no header)")]
    Empty { path: PathBuf },
    /// The header lacks a required column.
    #[error("{path}: missing required column `{column}`{hint}")]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        /// Why the header may lack it ([`headers::header_hint`]), or empty.
        hint: String,
    },
    /// Two names of the header give one column.
    #[error("{path}: {reason}")]
    AmbiguousColumn {
        path: PathBuf,
        reason: headers::Ambiguous,
    },
    /// The text encoding is unsupported or wrong.
    #[error("{path}: {reason}")]
    Encoding { path: PathBuf, reason: String },
    /// The file is not readable as its format.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// Writing the output failed.
    #[error("{0}")]
    Output(String),
}

/// A case's (kind, id) as a 128-bit hash of the id seeded by the kind:
/// two keys meet by chance once in about 10^19 pairs.
pub fn case_key(kind: Kind, id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128_with_seed(id.as_bytes(), kind as u64)
}
