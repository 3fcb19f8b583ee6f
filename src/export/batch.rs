//! Rows on their way out ([`Batch`]) and what writes them ([`Sink`]): the
//! part every format shares, below the formats themselves.

use std::borrow::Cow;

use geo::{MultiPolygon, Point};
use polars::prelude::*;

use super::order::BBox;
use super::ExportError;

/// One geometry of an exported row.
#[derive(Debug, Clone)]
pub enum Geom {
    /// An event.
    Point(Point<f64>),
    /// A unit (always written as MultiPolygon).
    Polygons(MultiPolygon<f64>),
}

/// Rows to write: attribute columns and one geometry per row.
pub struct Batch {
    /// Attribute columns.
    pub frame: DataFrame,
    /// Geometry of each row, aligned with `frame`.
    pub geometry: Vec<Geom>,
}

/// How a sink writes.
#[derive(Debug, Clone, Copy)]
pub struct SinkOptions<'a> {
    /// CSV: start with a UTF-8 byte-order mark (Excel on Windows needs it).
    pub bom: bool,
    /// GeoParquet: geometry types in the file.
    pub types: &'a [&'a str],
    /// GeoParquet: bounding box of every geometry in the file.
    pub bbox: BBox,
    /// xlsx: the zone times are shown in.
    pub tz: chrono_tz::Tz,
    /// xlsx and GeoParquet: what was asked (name, value), on the second
    /// sheet or under the `wangge:query` key of the file's metadata.
    pub query: &'a [(String, String)],
    /// CSV: the catalogue's Chinese labels as headers instead of the names.
    pub zh_headers: bool,
}

/// Receives batches and writes them in one format.
pub trait Sink {
    /// Appends rows.
    fn write(&mut self, batch: &Batch) -> Result<(), ExportError>;
    /// Completes the file (footer, closing bracket); the rows written.
    fn finish(self: Box<Self>) -> Result<u64, ExportError>;
}

/// A text cell as a spreadsheet may open it: one that begins like a
/// formula (`=`, `+`, `-`, `@`, a tab or a carriage return) and is not a
/// number gets a leading `'`, so Excel and WPS show it instead of running it.
pub fn safe_cell(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') if s.trim().parse::<f64>().is_err() => {
            Cow::Owned(format!("'{s}"))
        }
        _ => Cow::Borrowed(s),
    }
}

/// A datetime cell of `unit` in microseconds.
pub(super) fn micros(v: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => v / 1_000,
        TimeUnit::Microseconds => v,
        TimeUnit::Milliseconds => v.saturating_mul(1_000),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_cell;

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        assert_eq!(
            safe_cell("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(safe_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(safe_cell("+86 311"), "'+86 311");
        assert_eq!(safe_cell("-3.5"), "-3.5");
        assert_eq!(safe_cell("环境卫生"), "环境卫生");
    }
}
