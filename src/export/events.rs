//! Event exports: one row and one point per event, with the three tier
//! codes, the join outcome and local date parts, read and written one local
//! month at a time.
//!
//! A first aggregate query gives the rows and bounding box of every month
//! (and township, when partitioned), so the progress total and the `geo`
//! metadata are known before the first row is written; then each month is
//! collected alone, put in Hilbert order and written. Memory holds one month.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Datelike;
use geo::Point;
use polars::prelude::*;

use super::order::{hilbert, sort_order, BBox};
use super::target::partition_path;
use super::{
    open_sink, Batch, ExportError, Geom, Output, Progress, Selection, SinkOptions, Summary,
};
use crate::analytics::filter::{date_of, DAY};
use crate::analytics::Query;
use crate::columns as c;
use crate::grid::GridModel;
use crate::live::Snapshot;
use crate::store::Store;

/// Local calendar date (Date).
pub const LOCAL_DATE: &str = "local_date";
/// Local calendar year (Int32).
pub const YEAR: &str = "year";
/// Local calendar month, `YYYY-MM` (String); also the partition key.
pub const MONTH: &str = "month";
/// ISO 8601 week of the local date, `YYYY-Www` (String).
pub const ISO_WEEK: &str = "iso_week";
/// Month index (year × 12 + month − 1) of the plan query.
const MONTH_KEY: &str = "month_key";

/// Columns of an event export, in order (geometry and bbox follow in GeoParquet).
pub const COLUMNS: [&str; 39] = [
    c::ID,
    c::SYSTEM,
    c::KIND,
    c::OCCURRED_AT,
    LOCAL_DATE,
    YEAR,
    MONTH,
    ISO_WEEK,
    c::CATEGORY,
    c::STATUS,
    c::RESOLVED_AT,
    c::DEADLINE,
    c::SATISFACTION,
    c::SOURCE,
    c::CLEARED,
    c::HOUSEHOLD_HASH,
    c::VISITOR_HASH,
    c::TIER1,
    c::TIER2,
    c::TIER3,
    c::OUTCOME,
    c::LON,
    c::LAT,
    c::STATE,
    c::UPDATED_AT,
    c::ACCEPTED_AT,
    c::DISPATCHED_AT,
    c::HANDLED_AT,
    c::FIRST_CLOSED_AT,
    c::RETURNED_AT,
    c::REWORKED_AT,
    c::REOPENED_AT,
    c::EXTENDED_AT,
    c::FIRST_DEADLINE,
    c::ESCALATED_AT,
    c::SUSPENDED_AT,
    c::RESUMED_AT,
    c::SOLVED,
    c::DUPLICATE,
];

/// The joined events that `q` and `sel` keep, with the local day column.
pub fn filtered(
    source: LazyFrame,
    model: &GridModel,
    q: &Query,
    sel: &Selection,
) -> Result<LazyFrame, ExportError> {
    let mut lf = source
        .with_column(q.zone.local_day(c::OCCURRED_AT).alias(DAY))
        .filter(q.predicate());
    if let Some(p) = &sel.parent {
        let unit = model
            .get(p)
            .ok_or_else(|| ExportError::UnknownUnit { code: p.clone() })?;
        lf = lf.filter(match unit.level {
            0 => col(c::TIER1).is_not_null(),
            level => col(c::tier(level)).eq(lit(p.as_str())),
        });
    }
    if let Some(visible) = &sel.visible {
        let codes: Vec<&str> = visible.iter().map(String::as_str).collect();
        let codes = lit(Series::new("".into(), codes)).implode(false);
        // The deepest tier set is among the visible units (each tier is
        // coded on its own, so the three are tested one by one).
        let within = |name: &str| col(name).is_in(codes.clone(), false).fill_null(false);
        let (t3, t2) = (col(c::TIER3).is_null(), col(c::TIER2).is_null());
        lf = lf.filter(
            within(c::TIER3)
                .or(t3.clone().and(within(c::TIER2)))
                .or(t3.and(t2).and(within(c::TIER1))),
        );
    }
    Ok(lf)
}

fn month_key() -> Expr {
    let date = col(DAY).cast(DataType::Date);
    (date.clone().dt().year() * lit(12) + date.dt().month().cast(DataType::Int32) - lit(1))
        .alias(MONTH_KEY)
}

/// `YYYY-MM` of a month index.
fn month_name(key: i32) -> String {
    format!("{:04}-{:02}", key.div_euclid(12), key.rem_euclid(12) + 1)
}

/// Rows and box of one month (and township).
#[derive(Debug, Clone)]
struct Cell {
    rows: u64,
    bbox: BBox,
}

/// Per (month index, tier1) rows and bounding boxes.
fn plan(lf: &LazyFrame) -> Result<BTreeMap<(i32, Option<String>), Cell>, ExportError> {
    let df = lf
        .clone()
        .group_by([month_key(), col(c::TIER1)])
        .agg([
            len().alias("n"),
            col(c::LON).min().alias("xmin"),
            col(c::LAT).min().alias("ymin"),
            col(c::LON).max().alias("xmax"),
            col(c::LAT).max().alias("ymax"),
        ])
        .collect()?;
    let f64s = |name: &str| -> Result<Vec<f64>, ExportError> {
        Ok(df
            .column(name)?
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    let (xmin, ymin, xmax, ymax) = (f64s("xmin")?, f64s("ymin")?, f64s("xmax")?, f64s("ymax")?);
    let n = df.column("n")?.cast(&DataType::UInt64)?;
    let keys = df.column(MONTH_KEY)?.cast(&DataType::Int32)?;
    let tier1 = c::text(df.column(c::TIER1)?)?.into_owned();
    let mut out = BTreeMap::new();
    for (i, ((k, n), t)) in keys
        .i32()?
        .iter()
        .zip(n.u64()?.iter())
        .zip(tier1.iter())
        .enumerate()
    {
        let (Some(k), Some(n)) = (k, n) else { continue };
        let bbox = BBox {
            xmin: xmin[i],
            ymin: ymin[i],
            xmax: xmax[i],
            ymax: ymax[i],
        };
        out.insert((k, t.map(String::from)), Cell { rows: n, bbox });
    }
    Ok(out)
}

/// The attribute frame and points of collected rows, in Hilbert order over `bounds`.
fn decorate(df: DataFrame, bounds: &BBox) -> Result<Batch, ExportError> {
    // Files carry text, whatever the frame codes.
    let df = c::decode(df)?;
    let lon = df.column(c::LON)?.f64()?.clone();
    let lat = df.column(c::LAT)?.f64()?.clone();
    let keys: Vec<u32> = lon
        .iter()
        .zip(lat.iter())
        .map(|(x, y)| hilbert(bounds, x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN)))
        .collect();
    let order = IdxCa::from_vec("".into(), sort_order(&keys));
    let df = df.take(&order)?;
    let days = df.column(DAY)?.i32()?.clone();
    let dates: Vec<Option<chrono::NaiveDate>> = days.iter().map(|d| d.map(date_of)).collect();
    let year: Vec<Option<i32>> = dates.iter().map(|d| d.map(|d| d.year())).collect();
    let month: Vec<Option<String>> = dates
        .iter()
        .map(|d| d.map(|d| format!("{:04}-{:02}", d.year(), d.month())))
        .collect();
    let week: Vec<Option<String>> = dates
        .iter()
        .map(|d| {
            d.map(|d| {
                let w = d.iso_week();
                format!("{:04}-W{:02}", w.year(), w.week())
            })
        })
        .collect();
    let mut frame = df;
    frame.with_column(Column::new(YEAR.into(), year))?;
    frame.with_column(Column::new(MONTH.into(), month))?;
    frame.with_column(Column::new(ISO_WEEK.into(), week))?;
    frame.with_column(
        frame
            .column(DAY)?
            .cast(&DataType::Date)?
            .with_name(LOCAL_DATE.into()),
    )?;
    let instants = [c::OCCURRED_AT, c::RESOLVED_AT, c::DEADLINE, c::UPDATED_AT];
    for name in instants.into_iter().chain(c::FLOW) {
        let utc = utc(frame.column(name)?)?;
        frame.with_column(utc)?;
    }
    let frame = frame.select(COLUMNS)?;
    let lon = frame.column(c::LON)?.f64()?;
    let lat = frame.column(c::LAT)?.f64()?;
    let geometry = lon
        .iter()
        .zip(lat.iter())
        .map(|(x, y)| Geom::Point(Point::new(x.unwrap_or(f64::NAN), y.unwrap_or(f64::NAN))))
        .collect();
    Ok(Batch { frame, geometry })
}

/// An instant column (the join writes µs since the epoch, UTC) typed as
/// UTC, so readers show it in their zone instead of as a wall-clock time.
fn utc(column: &Column) -> Result<Column, ExportError> {
    let us = match column.dtype() {
        DataType::Datetime(TimeUnit::Microseconds, _) | DataType::Int64 => {
            column.cast(&DataType::Int64)?
        }
        other => {
            return Err(ExportError::Column {
                column: "occurred_at/resolved_at/deadline",
                reason: format!("expected Datetime(µs), found {other}"),
            })
        }
    };
    let dt = us
        .i64()?
        .clone()
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    Ok(dt.into_series().with_name(column.name().clone()).into())
}

/// The rows of `frame` (the served frame, without the case times and the
/// pseudonyms, which the filters do not read) that `q` and `sel` keep, in
/// frame order: an export gathers those rows alone.
pub fn rows(
    frame: &DataFrame,
    model: &GridModel,
    q: &Query,
    sel: &Selection,
) -> Result<Vec<u32>, ExportError> {
    const ROW: &str = "__row";
    let lf = frame.clone().lazy().with_row_index(ROW, None);
    let kept = filtered(lf, model, q, sel)?.select([col(ROW)]).collect()?;
    let kept = kept.column(ROW)?.idx()?;
    Ok(kept.into_no_null_iter().collect())
}

/// The served frame's rows that `q` and `sel` keep, whole (pseudonyms and
/// case times included): what an event export of the service writes.
pub fn selected(
    snap: &Snapshot,
    store: &Store,
    q: &Query,
    sel: &Selection,
) -> Result<DataFrame, ExportError> {
    let rows = rows(&snap.frame, &snap.grids.model, q, sel)?;
    Ok(snap.frame_at(store, &rows)?)
}

/// The columns read from the source.
fn source_columns() -> Vec<Expr> {
    c::ALL.iter().map(|&n| col(n)).chain([col(DAY)]).collect()
}

/// Writes the events that `q` and `sel` keep from `source` (the joined
/// frame) to `target`; partitioned targets (a folder, or a tar archive of
/// the same files) get one file per local month and township, without those
/// two columns (they are in the folder names), written month by month.
pub fn export(
    source: LazyFrame,
    model: &GridModel,
    q: &Query,
    sel: &Selection,
    out: Output<'_>,
    progress: &dyn Progress,
) -> Result<Summary, ExportError> {
    let Output {
        format,
        bom,
        target,
        tz,
        query,
        zh_headers,
    } = out;
    let lf = filtered(source, model, q, sel)?.select(source_columns());
    let cells = plan(&lf)?;
    let mut bounds = BBox::EMPTY;
    let mut months: BTreeMap<i32, u64> = BTreeMap::new();
    for ((m, _), cell) in &cells {
        bounds.add(&cell.bbox);
        *months.entry(*m).or_default() += cell.rows;
    }
    let total: u64 = months.values().sum();
    if format == super::Format::Xlsx && total > super::xlsx::MAX_ROWS {
        return Err(ExportError::TooManyRows {
            rows: total,
            max: super::xlsx::MAX_ROWS,
        });
    }
    progress.total(total);
    let empty = decorate(lf.clone().limit(0).collect()?, &bounds)?;
    let opts = |bbox: BBox| SinkOptions {
        bom,
        types: &["Point"],
        bbox,
        tz,
        query: &query,
        zh_headers,
    };
    let month_rows = |m: i32| -> Result<DataFrame, ExportError> {
        Ok(lf.clone().filter(month_key().eq(lit(m))).collect()?)
    };
    let mut summary = Summary::default();
    let target = match target.parts() {
        Ok(mut parts) => {
            let schema = empty
                .frame
                .drop_many([MONTH, c::TIER1])
                .schema()
                .as_ref()
                .clone();
            for &m in months.keys() {
                let batch = decorate(month_rows(m)?, &bounds)?;
                let tier1 = c::text(batch.frame.column(c::TIER1)?)?.into_owned();
                let mut groups: BTreeMap<Option<String>, Vec<u32>> = BTreeMap::new();
                for (i, t) in tier1.iter().enumerate() {
                    groups
                        .entry(t.map(String::from))
                        .or_default()
                        .push(i as u32);
                }
                let name = month_name(m);
                for (t, rows) in groups {
                    let idx = IdxCa::from_vec("".into(), rows);
                    let part = Batch {
                        frame: batch.frame.take(&idx)?.drop_many([MONTH, c::TIER1]),
                        geometry: idx
                            .into_no_null_iter()
                            .map(|i| batch.geometry[i as usize].clone())
                            .collect(),
                    };
                    let bbox = cells.get(&(m, t.clone())).map_or(bounds, |c| c.bbox);
                    let rel = partition_path(
                        Path::new(""),
                        &[(MONTH, Some(name.as_str())), (c::TIER1, t.as_deref())],
                        format,
                    );
                    let (rows, path) = parts.file(&rel, |w| {
                        let mut sink = open_sink(format, w, &schema, opts(bbox))?;
                        sink.write(&part)?;
                        sink.finish()
                    })?;
                    summary.rows += rows;
                    progress.inc(part.frame.height() as u64);
                    summary.files.push(path);
                }
            }
            parts.finish()?;
            return Ok(summary);
        }
        Err(whole) => whole,
    };
    let (mut sink, file) = target.open(format, empty.frame.schema(), opts(bounds))?;
    for &m in months.keys() {
        let batch = decorate(month_rows(m)?, &bounds)?;
        sink.write(&batch)?;
        progress.inc(batch.frame.height() as u64);
    }
    summary.rows = sink.finish()?;
    summary.files.extend(file);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_index_names_its_month() {
        assert_eq!(month_name(2026 * 12 + 2), "2026-03");
        assert_eq!(month_name(2025 * 12 + 11), "2025-12");
    }
}
