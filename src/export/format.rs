//! Output formats behind one [`Sink`]: batches in, one file (or response
//! body) out.

use std::io::Write;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate};
use polars::prelude::*;
use serde_json::{Map, Value};

use super::batch::{micros, safe_cell, Batch, Geom, Sink, SinkOptions};
use super::geoparquet::GeoParquetSink;
use super::ExportError;

/// A file format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// GeoParquet 1.1 (WKB, bbox covering column, zstd).
    #[default]
    Geoparquet,
    /// CSV, UTF-8; geometry as lon/lat (events) or centroid columns (units).
    Csv,
    /// GeoJSON FeatureCollection (RFC 7946, WGS84).
    Geojson,
    /// Excel workbook: one sheet of rows with Chinese headers and local
    /// times as Excel dates, and a sheet describing the columns and the query.
    Xlsx,
}

impl Format {
    /// File extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Geoparquet => "parquet",
            Format::Csv => "csv",
            Format::Geojson => "geojson",
            Format::Xlsx => "xlsx",
        }
    }

    /// MIME type of a response body.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Geoparquet => "application/vnd.apache.parquet",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Geojson => "application/geo+json",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

impl FromStr for Format {
    type Err = ExportError;
    fn from_str(s: &str) -> Result<Self, ExportError> {
        match s {
            "geoparquet" | "parquet" => Ok(Format::Geoparquet),
            "csv" => Ok(Format::Csv),
            "geojson" | "json" => Ok(Format::Geojson),
            "xlsx" => Ok(Format::Xlsx),
            other => Err(ExportError::UnknownFormat { name: other.into() }),
        }
    }
}

/// A sink of `format` over `out`, for batches whose attribute columns are `schema`.
pub fn open_sink<'w, W: Write + Send + 'w>(
    format: Format,
    out: W,
    schema: &Schema,
    opts: SinkOptions<'_>,
) -> Result<Box<dyn Sink + 'w>, ExportError> {
    Ok(match format {
        Format::Geoparquet => Box::new(GeoParquetSink::new(
            out, schema, opts.types, &opts.bbox, opts.query,
        )?),
        Format::Csv => {
            let mut out = out;
            if opts.bom {
                out.write_all("\u{feff}".as_bytes())
                    .map_err(|e| ExportError::io("<csv>", e))?;
            }
            let mut w = csv::Writer::from_writer(out);
            if opts.zh_headers {
                w.write_record(schema.iter_names().map(|n| super::xlsx::describe(n).0))?;
            } else {
                w.write_record(schema.iter_names().map(|n| n.as_str()))?;
            }
            Box::new(CsvSink { w, rows: 0 })
        }
        Format::Geojson => {
            let mut out = out;
            out.write_all(br#"{"type":"FeatureCollection","features":["#)
                .map_err(|e| ExportError::io("<geojson>", e))?;
            Box::new(GeoJsonSink { out, rows: 0 })
        }
        Format::Xlsx => Box::new(super::xlsx::XlsxSink::new(out, schema, opts)?),
    })
}

impl<W: Write> Sink for GeoParquetSink<W> {
    fn write(&mut self, batch: &Batch) -> Result<(), ExportError> {
        GeoParquetSink::write(self, batch)
    }
    fn finish(self: Box<Self>) -> Result<u64, ExportError> {
        GeoParquetSink::finish(*self)
    }
}

/// A CSV cell: text made safe ([`safe_cell`]), anything else as [`text`].
fn csv_cell(v: &AnyValue) -> String {
    match v {
        AnyValue::String(s) => safe_cell(s).into_owned(),
        AnyValue::StringOwned(s) => safe_cell(s).into_owned(),
        other => text(other),
    }
}

/// Text of a cell: empty for null, ISO 8601 for dates and instants.
fn text(v: &AnyValue) -> String {
    match v {
        AnyValue::Null => String::new(),
        AnyValue::String(s) => (*s).to_owned(),
        AnyValue::StringOwned(s) => s.to_string(),
        // Shortest text that reads back to the same number (polars' Display rounds).
        AnyValue::Float64(x) => x.to_string(),
        AnyValue::Float32(x) => x.to_string(),
        AnyValue::Date(d) => date(*d).to_string(),
        AnyValue::Datetime(us, unit, _) => instant(*us, *unit),
        AnyValue::DatetimeOwned(us, unit, _) => instant(*us, *unit),
        other => other.to_string(),
    }
}

fn date(day: i32) -> NaiveDate {
    crate::analytics::filter::date_of(day)
}

fn instant(v: i64, unit: TimeUnit) -> String {
    DateTime::from_timestamp_micros(micros(v, unit))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// JSON value of a cell.
fn json(v: &AnyValue) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::Float64(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        AnyValue::Float32(x) => {
            serde_json::Number::from_f64(f64::from(*x)).map_or(Value::Null, Value::Number)
        }
        AnyValue::Int8(_)
        | AnyValue::Int16(_)
        | AnyValue::Int32(_)
        | AnyValue::Int64(_)
        | AnyValue::UInt8(_)
        | AnyValue::UInt16(_)
        | AnyValue::UInt32(_)
        | AnyValue::UInt64(_) => v
            .extract::<i64>()
            .map_or(Value::Null, |i| Value::Number(i.into())),
        other => Value::String(text(other)),
    }
}

struct CsvSink<W: Write> {
    w: csv::Writer<W>,
    rows: u64,
}

impl<W: Write> Sink for CsvSink<W> {
    fn write(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let cols = batch.frame.columns();
        let mut rec = Vec::with_capacity(cols.len());
        for i in 0..batch.frame.height() {
            rec.clear();
            for c in cols {
                rec.push(csv_cell(&c.get(i)?));
            }
            self.w.write_record(&rec)?;
        }
        self.rows += batch.frame.height() as u64;
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<u64, ExportError> {
        self.w.flush().map_err(|e| ExportError::io("<csv>", e))?;
        Ok(self.rows)
    }
}

struct GeoJsonSink<W: Write> {
    out: W,
    rows: u64,
}

impl<W: Write> Sink for GeoJsonSink<W> {
    fn write(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let cols = batch.frame.columns();
        for (i, g) in batch.geometry.iter().enumerate() {
            let mut props = Map::new();
            for c in cols {
                props.insert(c.name().to_string(), json(&c.get(i)?));
            }
            let geometry = match g {
                Geom::Point(p) => geojson::Geometry::from(p),
                Geom::Polygons(mp) => geojson::Geometry::from(mp),
            };
            let feature = serde_json::json!({
                "type": "Feature",
                "geometry": geometry,
                "properties": props,
            });
            let io = |e| ExportError::io("<geojson>", e);
            if self.rows > 0 {
                self.out.write_all(b",\n").map_err(io)?;
            }
            serde_json::to_writer(&mut self.out, &feature)?;
            self.rows += 1;
        }
        Ok(())
    }
    fn finish(mut self: Box<Self>) -> Result<u64, ExportError> {
        let io = |e| ExportError::io("<geojson>", e);
        self.out.write_all(b"]}\n").map_err(io)?;
        self.out.flush().map_err(io)?;
        Ok(self.rows)
    }
}
