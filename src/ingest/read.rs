//! Event files → batches of validated events and rejects.
//!
//! CSV (UTF-8 or GB18030, streamed), JSON Lines and Parquet are read in
//! batches, so memory stays flat however long the file. Every row read ends
//! as an event or a [`Reject`] naming the file, row, column and reason.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::decode::{detect, DecodingReader};
use super::encoding::TextEncoding;
use super::event::{Col, Event, Field, RowError, Validator, FIELDS};
use super::IngestError;

/// Rows per batch handed to the join.
pub const BATCH_ROWS: usize = 256 * 1024;

/// A row that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reject {
    /// File name as given.
    pub file: String,
    /// CSV: line number in the file (the header is line 1); JSON Lines: line; Parquet: 1-based row.
    pub row: u64,
    pub column: String,
    pub reason: String,
}

/// Validated events of one batch, with the rows rejected in it (`T`: what
/// a row is read as; the keys pass of `join` reads each row's case only).
#[derive(Debug)]
pub struct Batch<T = Event> {
    /// File the rows came from, as given.
    pub file: String,
    pub events: Vec<T>,
    /// Row number of each event, parallel to `events` (for duplicate reports).
    pub rows: Vec<u64>,
    pub rejects: Vec<Reject>,
    /// Rows read in this batch (events + rejects).
    pub read: u64,
}

impl<T> Default for Batch<T> {
    fn default() -> Self {
        Batch {
            file: String::new(),
            events: Vec::new(),
            rows: Vec::new(),
            rejects: Vec::new(),
            read: 0,
        }
    }
}

impl<T> Batch<T> {
    /// An empty batch of rows from `file`.
    pub fn new(file: &str) -> Self {
        Batch {
            file: file.to_owned(),
            ..Batch::default()
        }
    }

    /// An empty batch with room for `rows` events: a batch of a big file
    /// grown a row at a time copied its events over and over (a tenth of a
    /// Parquet file's read).
    fn with_capacity(file: &str, rows: usize) -> Self {
        Batch {
            file: file.to_owned(),
            events: Vec::with_capacity(rows),
            rows: Vec::with_capacity(rows),
            ..Batch::default()
        }
    }
}

/// Hands a full batch to the sink and starts the next one.
fn flush_if_full<T>(
    batch: &mut Batch<T>,
    total: &mut u64,
    sink: &mut dyn FnMut(Batch<T>) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    if (batch.read as usize) < BATCH_ROWS {
        return Ok(());
    }
    *total += batch.read;
    // The file filled one batch: the next is likely full too.
    let next = Batch::with_capacity(&batch.file, BATCH_ROWS);
    sink(std::mem::replace(batch, next))
}

/// Input formats, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
    Parquet,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, IngestError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" | "tsv" => Ok(Format::Csv),
            "jsonl" | "ndjson" | "json" => Ok(Format::JsonLines),
            "parquet" | "pq" => Ok(Format::Parquet),
            _ => Err(IngestError::UnknownFormat {
                path: path.to_owned(),
            }),
        }
    }
}

/// About how many rows the file at `path` holds, without reading them: a
/// Parquet file's footer says, a text file is taken at `row_bytes` bytes a
/// row; 0 when the file cannot be read (its load reports why). For
/// choices that depend only on a load's size.
pub fn rows_about(path: &Path, row_bytes: u64) -> u64 {
    match Format::of(path) {
        Ok(Format::Parquet) => std::fs::File::open(path)
            .ok()
            .and_then(|f| ParquetReader::new(f).num_rows().ok())
            .map_or(0, |n| n as u64),
        _ => std::fs::metadata(path).map_or(0, |m| m.len() / row_bytes.max(1)),
    }
}

/// The columns of the file at `path` that no contract column reads (CSV
/// or TSV headers, Parquet columns, the keys of any JSON Lines object),
/// each once in first-seen order: a misspelt `deadlin` is not read, and
/// the loads say so. `column_of` is [`column_of`] for events,
/// [`super::update_column_of`] for case updates. A file that cannot be
/// read has none (its load reports why).
pub fn unread_columns(
    path: &Path,
    encoding: Option<TextEncoding>,
    column_of: fn(&str) -> Option<usize>,
) -> Vec<String> {
    let mut names = file_columns(path, encoding, u64::MAX);
    names.retain(|k| column_of(k).is_none());
    names
}

/// The column names a file gives, each once in first-seen order: its CSV
/// or TSV header, its Parquet columns, the keys of its first `records`
/// JSON objects. A file that cannot be read has none (its load reports
/// why).
pub fn file_columns(path: &Path, encoding: Option<TextEncoding>, records: u64) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut note = |k: &str| {
        let k = k.trim().trim_start_matches('\u{feff}');
        if !k.is_empty() && !out.iter().any(|o| o == k) {
            out.push(k.to_owned());
        }
    };
    match Format::of(path) {
        Ok(Format::Csv) => {
            if let Ok(text) = open_text(path, encoding) {
                let mut rdr = csv::ReaderBuilder::new()
                    .delimiter(delimiter(path))
                    .flexible(true)
                    .from_reader(text);
                if let Ok(h) = rdr.headers() {
                    h.iter().for_each(&mut note);
                }
            }
        }
        Ok(Format::Parquet) => {
            if let Ok(schema) = File::open(path)
                .map_err(PolarsError::from)
                .and_then(|f| ParquetReader::new(f).schema())
            {
                schema.iter_names().for_each(|n| note(n));
            }
        }
        Ok(Format::JsonLines) => {
            type Keys<'a> =
                std::collections::BTreeMap<std::borrow::Cow<'a, str>, serde::de::IgnoredAny>;
            let mut seen = 0u64;
            // An error ends the reading: the file's (its load reports
            // it), or having read `records` objects.
            let _ = json_records(path, encoding, &mut |_, record| {
                if let Ok(keys) = record
                    .and_then(|t| serde_json::from_str::<Keys<'_>>(t).map_err(|e| e.to_string()))
                {
                    keys.keys().for_each(|k| note(k));
                    seen += 1;
                }
                if seen >= records {
                    return Err(IngestError::Parse {
                        path: path.to_owned(),
                        reason: "enough objects read".into(),
                    });
                }
                Ok(())
            });
        }
        Err(_) => {}
    }
    out
}

/// A contract column by its name or a header alias seen in Chinese exports
/// (the API maps CSV headers and JSON keys with it too).
pub fn column_of(header: &str) -> Option<usize> {
    let h = header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase();
    if let Some(i) = FIELDS.iter().position(|f| *f == h) {
        return Some(i);
    }
    let alias = match h.as_str() {
        "编号" | "事件编号" => Col::Id,
        "类型" | "事件类型" => Col::Kind,
        "发生时间" | "时间" => Col::OccurredAt,
        "经度" | "longitude" | "lng" | "long" => Col::Lon,
        "纬度" | "latitude" => Col::Lat,
        "类别" | "事项类别" | "案件类别" => Col::Category,
        "状态" | "办理状态" => Col::Status,
        "办结时间" => Col::ResolvedAt,
        "办理期限" | "截止时间" => Col::Deadline,
        "满意度" => Col::Satisfaction,
        "来源" => Col::Source,
        "是否破案" => Col::Cleared,
        "户" | "户号" => Col::Household,
        "走访人" => Col::Visitor,
        "更新时间" | "最后更新时间" => Col::UpdatedAt,
        "重复件" | "重复工单" | "重复于" | "原工单编号" | "合并至" => {
            Col::DuplicateOf
        }
        _ => return None,
    };
    Some(alias as usize)
}

/// The columns a file or an API upload must name.
pub(crate) const REQUIRED: [Col; 6] = [
    Col::Id,
    Col::Kind,
    Col::OccurredAt,
    Col::Lon,
    Col::Lat,
    Col::Category,
];

fn check_required<'a>(
    path: &Path,
    map: &[Option<usize>; FIELDS.len()],
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), IngestError> {
    for c in REQUIRED {
        if map[c as usize].is_none() {
            return Err(IngestError::MissingColumn {
                path: path.to_owned(),
                column: FIELDS[c as usize],
                hint: super::headers::header_hint(names),
            });
        }
    }
    Ok(())
}

fn name(path: &Path) -> String {
    path.display().to_string()
}

fn push_row<T>(batch: &mut Batch<T>, file: &str, row: u64, r: Result<T, super::event::RowError>) {
    batch.read += 1;
    match r {
        Ok(e) => {
            batch.events.push(e);
            batch.rows.push(row);
        }
        Err(e) => batch.rejects.push(Reject {
            file: file.to_owned(),
            row,
            column: e.column.into(),
            reason: e.reason,
        }),
    }
}

/// Reads one events file, calling `sink` per batch; returns rows read.
pub fn read_file(
    path: &Path,
    encoding: Option<TextEncoding>,
    v: &Validator<'_>,
    sink: &mut dyn FnMut(Batch) -> Result<(), IngestError>,
) -> Result<u64, IngestError> {
    read_as(path, encoding, v, Events, sink)
}

/// Reads the case of every row of an events file whose id and kind are
/// valid ([`Validator::identity`]), calling `each` with its key
/// ([`super::case_key`]) in file order: every row `read_file` reads as an
/// event is one of them (a row it rejects for another column may be too),
/// so a case it reads more than once comes here at least as often.
pub fn read_keys(
    path: &Path,
    encoding: Option<TextEncoding>,
    v: &Validator<'_>,
    each: &mut dyn FnMut(u128),
) -> Result<u64, IngestError> {
    read_as(path, encoding, v, Keys, &mut |batch: Batch<u128>| {
        batch.events.iter().for_each(|&k| each(k));
        Ok(())
    })
}

/// What a reader makes of each row: the validated event, or its case's
/// key only.
trait RowReader: Copy {
    type Row;
    /// Only the id and kind are read (other columns are neither decoded
    /// nor checked).
    const KEYS_ONLY: bool;
    fn row<'r>(
        self,
        v: &Validator<'_>,
        get: impl Fn(Col) -> Field<'r>,
    ) -> Result<Self::Row, super::event::RowError>;
}

/// Rows read as validated events.
#[derive(Clone, Copy)]
struct Events;

impl RowReader for Events {
    type Row = Event;
    const KEYS_ONLY: bool = false;
    fn row<'r>(
        self,
        v: &Validator<'_>,
        get: impl Fn(Col) -> Field<'r>,
    ) -> Result<Event, super::event::RowError> {
        v.validate(get)
    }
}

/// Rows read as their case's key.
#[derive(Clone, Copy)]
struct Keys;

impl RowReader for Keys {
    type Row = u128;
    const KEYS_ONLY: bool = true;
    fn row<'r>(
        self,
        _: &Validator<'_>,
        get: impl Fn(Col) -> Field<'r>,
    ) -> Result<u128, super::event::RowError> {
        Validator::identity(&get).map(|(id, kind)| super::case_key(kind, &id))
    }
}

fn read_as<R: RowReader>(
    path: &Path,
    encoding: Option<TextEncoding>,
    v: &Validator<'_>,
    rows: R,
    sink: &mut dyn FnMut(Batch<R::Row>) -> Result<(), IngestError>,
) -> Result<u64, IngestError> {
    match Format::of(path)? {
        Format::Csv => read_csv(path, encoding, v, rows, sink),
        Format::JsonLines => read_jsonl(path, encoding, v, rows, sink),
        Format::Parquet => guarded(path, || read_parquet(path, v, rows, sink)),
    }
}

/// `read` over a Parquet file, a panic of the Parquet decoder turned into
/// the file's error. The decoder trusts the lengths and offsets a file
/// declares; a damaged file makes it panic (found by `tests/fuzz.rs`), and
/// one bad file must not take the service down. Batches already handed to
/// the sink stay delivered, as with a CSV file that breaks off midway.
/// The file's column chunks are also checked to lie inside it before the
/// decoder maps them: the decoder slices the mapping by the declared ranges
/// without a bounds check, which no panic handler can catch.
pub(super) fn guarded<T>(
    path: &Path,
    read: impl FnOnce() -> Result<T, IngestError>,
) -> Result<T, IngestError> {
    let read = || {
        chunks_inside(path)?;
        super::probe::check(path)?;
        read()
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("unknown");
        Err(IngestError::Parse {
            path: path.to_owned(),
            reason: format!("not a readable Parquet file: the decoder failed ({why})"),
        })
    })
}

/// Every column chunk the Parquet footer of `path` declares lies inside the file.
fn chunks_inside(path: &Path) -> Result<(), IngestError> {
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.to_owned(),
        cause: source,
    })?;
    let len = file
        .metadata()
        .map_err(|source| IngestError::Io {
            path: path.to_owned(),
            cause: source,
        })?
        .len();
    let bad = |reason: String| IngestError::Parse {
        path: path.to_owned(),
        reason: format!("not a readable Parquet file: {reason}"),
    };
    let mut reader = ParquetReader::new(file);
    let meta = reader.get_metadata().map_err(|e| bad(e.to_string()))?;
    for (g, rg) in meta.row_groups.iter().enumerate() {
        for r in rg.byte_ranges_iter() {
            if r.start > r.end || r.end > len {
                return Err(bad(format!(
                    "row group {g} declares bytes {}..{} of a {len}-byte file",
                    r.start, r.end
                )));
            }
        }
    }
    Ok(())
}

/// The file's top-level timestamp columns that hold wall-clock readings:
/// Parquet's `TIMESTAMP(isAdjustedToUTC = false)`, what pandas, polars and
/// Arrow write for a column without a zone. They are read in the
/// configured zone, as the text form `YYYY-MM-DD HH:MM` is; a column
/// adjusted to UTC (or of the legacy `TIMESTAMP_MILLIS`/`_MICROS` or
/// `INT96` types, instants by definition) is an instant as it stands.
/// Refuses a Parquet file with a decimal column, naming it: the reader is
/// built without decimals, and polars stops on the first one it meets,
/// read or not, with a message about its own build.
pub fn refuse_decimals(path: &Path) -> Result<(), String> {
    use polars_parquet::parquet::schema::types::{
        ParquetType, PrimitiveConvertedType, PrimitiveLogicalType,
    };
    let file = File::open(path).map_err(|e| e.to_string())?;
    let meta = ParquetReader::new(file)
        .get_metadata()
        .map_err(|e| format!("not a readable Parquet file: {e}"))?
        .clone();
    let decimals: Vec<String> = meta
        .schema()
        .fields()
        .iter()
        .filter_map(|f| match f {
            ParquetType::PrimitiveType(p) => match (p.logical_type, p.converted_type) {
                (Some(PrimitiveLogicalType::Decimal(w, s)), _)
                | (_, Some(PrimitiveConvertedType::Decimal(w, s))) => {
                    Some(format!("`{}` (decimal({w},{s}))", p.field_info.name))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    if decimals.is_empty() {
        return Ok(());
    }
    Err(format!(
        "decimal columns are not read: {}; write coordinates as double and other values as text \
         (or leave the column out of the file)",
        decimals.join(", ")
    ))
}

fn wall_clock_columns(path: &Path) -> Result<Vec<String>, IngestError> {
    use polars_parquet::parquet::schema::types::{ParquetType, PrimitiveLogicalType};
    let file = File::open(path).map_err(|source| IngestError::Io {
        path: path.to_owned(),
        cause: source,
    })?;
    let meta = ParquetReader::new(file)
        .get_metadata()
        .map_err(|e| IngestError::Parse {
            path: path.to_owned(),
            reason: format!("not a readable Parquet file: {e}"),
        })?
        .clone();
    Ok(meta
        .schema()
        .fields()
        .iter()
        .filter_map(|f| match f {
            ParquetType::PrimitiveType(p)
                if matches!(
                    p.logical_type,
                    Some(PrimitiveLogicalType::Timestamp {
                        is_adjusted_to_utc: false,
                        ..
                    })
                ) =>
            {
                Some(p.field_info.name.to_string())
            }
            _ => None,
        })
        .collect())
}

/// The field delimiter of a text table: a tab for `.tsv`, else a comma.
pub(super) fn delimiter(path: &Path) -> u8 {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
    {
        b'\t'
    } else {
        b','
    }
}

/// A text file as UTF-8, its encoding declared or detected from its first
/// bytes; an empty file is an error.
pub(super) fn open_text(
    path: &Path,
    encoding: Option<TextEncoding>,
) -> Result<DecodingReader<BufReader<File>>, IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_owned(),
        cause: source,
    };
    let mut f = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
    let prefix = f.fill_buf().map_err(io)?.to_vec();
    if prefix.is_empty() {
        return Err(IngestError::Empty {
            path: path.to_owned(),
        });
    }
    let enc = detect(&prefix, encoding).map_err(|reason| IngestError::Encoding {
        path: path.to_owned(),
        reason,
    })?;
    Ok(DecodingReader::new(f, enc))
}

fn read_csv<R: RowReader>(
    path: &Path,
    encoding: Option<TextEncoding>,
    v: &Validator<'_>,
    rows: R,
    sink: &mut dyn FnMut(Batch<R::Row>) -> Result<(), IngestError>,
) -> Result<u64, IngestError> {
    let text = super::quote::QuoteWatch::new(open_text(path, encoding)?, delimiter(path));
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter(path))
        .flexible(true)
        .has_headers(true)
        .from_reader(text);
    let headers = rdr
        .byte_headers()
        .map_err(|e| IngestError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?
        .clone();
    let names: Vec<_> = headers.iter().map(String::from_utf8_lossy).collect();
    let map = super::headers::map_names(names.iter().map(|n| n.as_ref()), column_of, &FIELDS)
        .map_err(|reason| IngestError::AmbiguousColumn {
            path: path.to_owned(),
            reason,
        })?;
    check_required(path, &map, names.iter().map(|n| n.as_ref()))?;
    let file = name(path);
    let mut batch = Batch::new(&file);
    let mut total = 0;
    let shape = RowShape::new(
        delimiter(path),
        headers.len(),
        REQUIRED.map(|c| map[c as usize]),
        map[Col::OccurredAt as usize],
    );
    let column_name = |col: usize| {
        headers
            .get(col)
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .unwrap_or_default()
    };
    // A row is taken once the row after it is read, so that the last one
    // is known to be last: a quote it opened and never closed runs to the
    // end of the file, and the CSV reader ends the value there as if closed.
    let take = |batch: &mut Batch<R::Row>, rec: &csv::ByteRecord, line: u64, open_at_end: bool| {
        if R::KEYS_ONLY {
            // Only the id and kind: a row the checks below reject is
            // counted all the same (a case counted once too often is
            // only held to the end), and no row they accept is missed.
            let r = rows.row(v, |c| match map[c as usize].and_then(|i| rec.get(i)) {
                Some(b) => Field::Text(std::str::from_utf8(b).unwrap_or("\u{fffd}")),
                None => Field::Null,
            });
            push_row(batch, &file, line, r);
            return;
        }
        let fields: Vec<&str> = rec
            .iter()
            .map(|b| std::str::from_utf8(b).unwrap_or("\u{fffd}"))
            .collect();
        let rejected = |column: String, reason: String| Reject {
            file: file.clone(),
            row: line,
            column,
            reason,
        };
        let reject = if let Some((col, reason)) = swallowed(&fields, &shape, line) {
            Some(rejected(column_name(col), reason))
        } else if open_at_end {
            Some(rejected(
                column_name(fields.len().saturating_sub(1)),
                format!(
                    "a quote opened on line {line} is never closed: the value runs to the end of the file \
                     (a quote inside a value is written doubled, \"\")"
                ),
            ))
        } else if let Some(reason) = overflow(rec.iter(), headers.len()) {
            Some(rejected(String::new(), reason))
        } else if let Some(col) = fields.iter().position(|f| f.contains('\u{fffd}')) {
            let reason = "malformed byte sequence for the file's encoding";
            Some(rejected(column_name(col), reason.into()))
        } else {
            None
        };
        if let Some(reject) = reject {
            batch.read += 1;
            batch.rejects.push(reject);
            return;
        }
        let r = rows.row(v, |c| match map[c as usize].and_then(|i| fields.get(i)) {
            Some(s) => Field::Text(s),
            None => Field::Null,
        });
        push_row(
            batch,
            &file,
            line,
            r.map_err(|e| spanning(e, &fields, line)),
        );
    };
    // The row read and not yet taken (with its line), and the one after it.
    let (mut rec, mut ahead) = (csv::ByteRecord::new(), csv::ByteRecord::new());
    let mut held: Option<u64> = None;
    loop {
        let line = rdr.position().line() + rdr.get_ref().line_offset();
        let read = rdr.read_byte_record(&mut ahead);
        if let Some(held_line) = held.take() {
            let open_at_end = matches!(read, Ok(false)) && rdr.get_ref().open();
            take(&mut batch, &rec, held_line, open_at_end);
        }
        match read {
            Ok(false) => break,
            Ok(true) => {
                std::mem::swap(&mut rec, &mut ahead);
                let offset = rdr.get_ref().line_offset();
                held = Some(rec.position().map_or(line, |p| p.line() + offset));
            }
            Err(e) => {
                let offset = rdr.get_ref().line_offset();
                let row = e.position().map_or(line + 1, |p| p.line() + offset);
                batch.read += 1;
                batch.rejects.push(Reject {
                    file: file.clone(),
                    row,
                    column: String::new(),
                    reason: format!("unreadable CSV row: {e}"),
                });
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    return Err(IngestError::Parse {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        flush_if_full(&mut batch, &mut total, sink)?;
    }
    total += batch.read;
    sink(batch)?;
    Ok(total)
}

/// A rejected CSV row's error, told when the row runs over several lines:
/// a quote left open takes every line after it into one row, so those
/// lines are no rows of their own and the reason says where they went.
/// What a row of a text table looks like, to tell a line taken into a
/// value from a row of its own ([`swallowed`]).
#[derive(Debug, Clone, Copy)]
pub struct RowShape {
    pub delimiter: u8,
    /// The header's columns.
    pub width: usize,
    /// The fewest values a row can have: up to the last required column.
    pub min_width: usize,
    /// The column of the row's time, when the header has it.
    pub time_col: Option<usize>,
}

impl RowShape {
    /// The shape of rows under a header of `width` columns separated by
    /// `delimiter`, whose `required` columns are at the positions given
    /// and whose time is at `time_col`.
    pub fn new(
        delimiter: u8,
        width: usize,
        required: impl IntoIterator<Item = Option<usize>>,
        time_col: Option<usize>,
    ) -> Self {
        let min_width = required
            .into_iter()
            .flatten()
            .max()
            .map_or(width, |i| i + 1);
        RowShape {
            delimiter,
            width,
            min_width: min_width.min(width),
            time_col,
        }
    }

    /// Whether a line looks like a row: a value for every column of the
    /// header, or for every required one with a time where the time goes
    /// (a row whose empty trailing values were left off).
    fn row_like(&self, line: &str) -> bool {
        let d = char::from(self.delimiter);
        let n = line.matches(d).count() + 1;
        if n >= self.width {
            return true;
        }
        n >= self.min_width
            && self
                .time_col
                .and_then(|c| line.split(d).nth(c))
                .is_some_and(|t| {
                    super::time::parse_timestamp(t.trim_matches('"'), chrono_tz::UTC).is_ok()
                })
    }
}

/// A row that swallowed rows after it: a value of `fields` (a row read
/// from `line` of a file whose rows have the `shape`) holding a line break
/// and then a line that looks like a row ([`RowShape::row_like`]). That is
/// what a quote opened and never closed (or closed rows later by another
/// stray quote) does: the CSV reader takes every line up to the next
/// quote, or to the end of the file, into the one value, and the row after
/// it looks valid. The error names the column and the lines taken in.
pub fn swallowed(fields: &[&str], shape: &RowShape, line: u64) -> Option<(usize, String)> {
    if shape.width < 4 {
        return None;
    }
    fields.iter().enumerate().find_map(|(col, f)| {
        let mut lines = f.split('\n');
        lines.next();
        let at = lines.position(|l| shape.row_like(l))?;
        let first = line + at as u64 + 1;
        let breaks: usize = fields.iter().map(|f| f.matches('\n').count()).sum();
        let last = line + breaks as u64 - u64::from(f.ends_with('\n'));
        Some((
            col,
            format!(
                "this value runs over lines {line}-{} and takes in line {first}, which looks like a row of \
                 its own: a quote opened here is not closed where the value ends (a quote inside a value is \
                 written doubled, \"\"); the row and the lines it took in are rejected together",
                last.max(first)
            ),
        ))
    })
}

/// A row with more values than the header has columns, and a value past
/// them: a delimiter inside a value that is not quoted, which moves every
/// value after it one column on (an identifier into `category`, a note
/// into `status`). Such a row is rejected, never read with its values in
/// the wrong columns; the reason tells no value (the one moved may be
/// personal). Blank values past the header (a delimiter at the end of each
/// row, as some spreadsheets write) move nothing.
pub fn overflow<V: AsRef<[u8]>>(values: impl Iterator<Item = V>, width: usize) -> Option<String> {
    // Only the values past the header are looked at.
    let (mut past, mut moved) = (0, false);
    for v in values.skip(width) {
        moved |= !v.as_ref().trim_ascii().is_empty();
        past += 1;
    }
    let n = width + past;
    moved.then(|| {
        format!(
            "{n} values where the header has {width} columns: a delimiter inside a value that is not quoted \
             moves every value after it into the next column (quote such a value: \"a, b\"); the row is rejected \
             rather than read with its values in the wrong columns"
        )
    })
}

pub fn spanning(mut e: RowError, fields: &[&str], line: u64) -> RowError {
    let breaks: usize = fields.iter().map(|f| f.matches('\n').count()).sum();
    // At the end of the file an open quote holds the last line's own
    // line break too.
    let breaks = breaks - usize::from(fields.last().is_some_and(|f| f.ends_with('\n')));
    if breaks > 0 {
        e.reason = format!(
            "{}; this row runs over lines {line}-{} (a quote left open takes the lines after it into the row)",
            e.reason,
            line + breaks as u64
        );
    }
    e
}

/// What [`json_records`] hands each record to: its number, and its text
/// or why it has none.
pub(super) type JsonRecord<'a> =
    dyn FnMut(u64, Result<&str, String>) -> Result<(), IngestError> + 'a;

/// Each record of a JSON file, numbered, to `each`: JSON Lines (one
/// object per line, numbered by line, blank lines skipped) or one JSON
/// array of objects, what the API takes (numbered by element, read one
/// element at a time, so memory stays flat). An array that breaks off is
/// one more record, whose text says where, and nothing after it is read.
pub(super) fn json_records(
    path: &Path,
    encoding: Option<TextEncoding>,
    each: &mut JsonRecord<'_>,
) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        path: path.to_owned(),
        cause: source,
    };
    let mut text = BufReader::with_capacity(1 << 20, open_text(path, encoding)?);
    // The first byte that is not blank tells an array from lines.
    let array = loop {
        let buf = text.fill_buf().map_err(io)?;
        if buf.is_empty() {
            break false;
        }
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                break buf[i] == b'[';
            }
            None => {
                let n = buf.len();
                text.consume(n);
            }
        }
    };
    if !array {
        for (n, line) in text.lines().enumerate() {
            let line = line.map_err(io)?;
            if !line.trim().is_empty() {
                each(n as u64 + 1, Ok(&line))?;
            }
        }
        return Ok(());
    }
    // The elements one at a time, each handed on as it is read.
    struct Elements<'a, 'f> {
        each: &'a mut JsonRecord<'f>,
        n: &'f mut u64,
        failed: &'f mut Option<IngestError>,
    }
    impl<'de> serde::de::Visitor<'de> for Elements<'_, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of objects")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(raw) = seq.next_element::<Box<serde_json::value::RawValue>>()? {
                *self.n += 1;
                if let Err(e) = (self.each)(*self.n, Ok(raw.get())) {
                    *self.failed = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    let (mut n, mut failed) = (0u64, None);
    let mut de = serde_json::Deserializer::from_reader(text);
    let read = serde::Deserializer::deserialize_seq(
        &mut de,
        Elements {
            each: &mut *each,
            n: &mut n,
            failed: &mut failed,
        },
    )
    .and_then(|()| de.end());
    if let Some(e) = failed {
        return Err(e);
    }
    match read {
        Ok(()) => Ok(()),
        Err(e) if e.is_io() => Err(io(std::io::Error::other(e))),
        Err(e) => each(
            n + 1,
            Err(format!(
                "the JSON array breaks off after element {n} (line {}, column {}): {e}; \
                 nothing after it is read",
                e.line(),
                e.column()
            )),
        ),
    }
}

fn read_jsonl<R: RowReader>(
    path: &Path,
    encoding: Option<TextEncoding>,
    v: &Validator<'_>,
    rows: R,
    sink: &mut dyn FnMut(Batch<R::Row>) -> Result<(), IngestError>,
) -> Result<u64, IngestError> {
    let file = name(path);
    let mut batch = Batch::new(&file);
    let mut total = 0;
    json_records(path, encoding, &mut |row, record| {
        let parsed = record.and_then(|text| {
            super::json_row::row(text).map_err(|e| format!("not a JSON object: {e}"))
        });
        match parsed.as_ref().map(|r| r.columns(column_of, &FIELDS)) {
            Ok(Ok(map)) => push_row(
                &mut batch,
                &file,
                row,
                rows.row(v, |c| {
                    map[c as usize].map_or(Field::Null, super::json_row::Scalar::field)
                }),
            ),
            Ok(Err(reason)) => reject_row(&mut batch, &file, row, reason),
            Err(reason) => reject_row(&mut batch, &file, row, reason.clone()),
        }
        flush_if_full(&mut batch, &mut total, sink)
    })?;
    total += batch.read;
    sink(batch)?;
    Ok(total)
}

/// A row of no use: read, and rejected for `reason`.
fn reject_row<T>(batch: &mut Batch<T>, file: &str, row: u64, reason: String) {
    batch.read += 1;
    batch.rejects.push(Reject {
        file: file.to_owned(),
        row,
        column: String::new(),
        reason,
    });
}

/// One Parquet column, typed as the file has it.
pub(super) enum ParquetCol {
    Missing,
    Text(StringChunked),
    Num(Float64Chunked),
    /// Integer columns, exact (an id of 18 digits is no float).
    Int(Int64Chunked),
    UInt(UInt64Chunked),
    Bool(BooleanChunked),
    /// Text as bytes (a binary column, as some writers store strings):
    /// a value that is no UTF-8 costs its row ([`ParquetCol::malformed`]).
    Bytes(BinaryChunked),
    /// Values, the factor to microseconds (negative: a divisor), and
    /// whether they are wall-clock readings ([`Field::Wall`]).
    Time(Int64Chunked, i64, bool),
}

impl ParquetCol {
    fn of(df: &DataFrame, name: Option<&str>, wall: &[String]) -> PolarsResult<ParquetCol> {
        let Some(name) = name else {
            return Ok(ParquetCol::Missing);
        };
        let wall = wall.iter().any(|w| w == name);
        let s = df.column(name)?.as_materialized_series().rechunk();
        Ok(match s.dtype() {
            DataType::String => ParquetCol::Text(s.str()?.clone()),
            DataType::Boolean => ParquetCol::Bool(s.bool()?.clone()),
            DataType::Binary => ParquetCol::Bytes(s.binary()?.clone()),
            DataType::Datetime(unit, _) => {
                let per_us = match unit {
                    TimeUnit::Nanoseconds => -1000,
                    TimeUnit::Microseconds => 1,
                    TimeUnit::Milliseconds => 1000,
                };
                ParquetCol::Time(s.cast(&DataType::Int64)?.i64()?.clone(), per_us, wall)
            }
            d if d.is_unsigned_integer() => {
                ParquetCol::UInt(s.cast(&DataType::UInt64)?.u64()?.clone())
            }
            d if d.is_integer() => ParquetCol::Int(s.cast(&DataType::Int64)?.i64()?.clone()),
            d if d.is_primitive_numeric() => {
                ParquetCol::Num(s.cast(&DataType::Float64)?.f64()?.clone())
            }
            d @ (DataType::List(_) | DataType::Struct(_)) => polars_bail!(ComputeError:
                "column `{name}` holds {d} values: no contract column takes nested values (write it as text)"),
            d => {
                let text = s.cast(&DataType::String).map_err(|e| {
                    polars_err!(ComputeError: "column `{name}` ({d}) is not readable as text: {e}")
                })?;
                ParquetCol::Text(text.str()?.clone())
            }
        })
    }

    /// Whether row `i` holds bytes that are no UTF-8 text.
    pub(super) fn malformed(&self, i: usize) -> bool {
        matches!(self, ParquetCol::Bytes(c) if c.get(i).is_some_and(|b| std::str::from_utf8(b).is_err()))
    }

    /// Row `i` of the columns in contract order (`names`): its values, or
    /// its refusal naming the first column whose bytes are no UTF-8 text.
    pub(super) fn row_checked<'c>(
        cols: &'c [ParquetCol],
        names: &[&'static str],
        i: usize,
    ) -> Result<impl Fn(usize) -> Field<'c>, super::event::RowError> {
        if let Some(k) = cols.iter().position(|c| c.malformed(i)) {
            return Err(super::event::err(
                names[k],
                "malformed byte sequence: the value is no UTF-8 text",
            ));
        }
        Ok(move |c: usize| cols[c].get(i))
    }

    pub(super) fn get(&self, i: usize) -> Field<'_> {
        match self {
            ParquetCol::Missing => Field::Null,
            ParquetCol::Text(c) => c.get(i).map_or(Field::Null, Field::Text),
            ParquetCol::Num(c) => c.get(i).map_or(Field::Null, Field::Num),
            ParquetCol::Int(c) => c.get(i).map_or(Field::Null, |n| Field::Int(n.into())),
            ParquetCol::UInt(c) => c.get(i).map_or(Field::Null, |n| Field::Int(n.into())),
            ParquetCol::Bool(c) => c.get(i).map_or(Field::Null, Field::Bool),
            ParquetCol::Bytes(c) => c.get(i).map_or(Field::Null, |b| {
                Field::Text(std::str::from_utf8(b).unwrap_or("\u{fffd}"))
            }),
            ParquetCol::Time(c, k, wall) => c.get(i).map_or(Field::Null, |t| {
                let us = if *k < 0 { t.div_euclid(-k) } else { t * k };
                if *wall {
                    Field::Wall(us)
                } else {
                    Field::Time(us)
                }
            }),
        }
    }
}

fn read_parquet<R: RowReader>(
    path: &Path,
    v: &Validator<'_>,
    rows: R,
    sink: &mut dyn FnMut(Batch<R::Row>) -> Result<(), IngestError>,
) -> Result<u64, IngestError> {
    let meta = std::fs::metadata(path).map_err(|source| IngestError::Io {
        path: path.to_owned(),
        cause: source,
    })?;
    if meta.len() == 0 {
        return Err(IngestError::Empty {
            path: path.to_owned(),
        });
    }
    let (scan, mut names) = parquet_columns(path, column_of, &FIELDS)?;
    let map: [Option<usize>; FIELDS.len()] = std::array::from_fn(|i| names[i].as_ref().map(|_| i));
    check_required(path, &map, [])?;
    if R::KEYS_ONLY {
        for (i, n) in names.iter_mut().enumerate() {
            if i != Col::Id as usize && i != Col::Kind as usize {
                *n = None;
            }
        }
    }
    let file = name(path);
    parquet_slices(path, &scan, &names, &mut |first, n, cols| {
        let mut batch = Batch::with_capacity(&file, n);
        for i in 0..n {
            let r = ParquetCol::row_checked(cols, &FIELDS, i)
                .and_then(|get| rows.row(v, |c| get(c as usize)));
            push_row(&mut batch, &file, first + i as u64, r);
        }
        sink(batch)
    })
}

/// A Parquet file to scan, and for each of the `N` contract columns the
/// name of the file's column `column_of` maps to it (two that map to one are an
/// error: [`super::headers`]).
pub(super) fn parquet_columns<const N: usize>(
    path: &Path,
    column_of: fn(&str) -> Option<usize>,
    fields: &[&'static str; N],
) -> Result<(LazyFrame, [Option<String>; N]), IngestError> {
    let perr = |e: PolarsError| IngestError::Parse {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let p = path.to_str().ok_or_else(|| IngestError::Parse {
        path: path.to_owned(),
        reason: "path is not UTF-8".into(),
    })?;
    refuse_decimals(path).map_err(|reason| IngestError::Parse {
        path: path.to_owned(),
        reason,
    })?;
    let scan =
        LazyFrame::scan_parquet(PlRefPath::from(p), ScanArgsParquet::default()).map_err(perr)?;
    let schema = scan.clone().collect_schema().map_err(perr)?;
    let all: Vec<&str> = schema.iter_names().map(|n| n.as_str()).collect();
    let map =
        super::headers::map_names(all.iter().copied(), column_of, fields).map_err(|reason| {
            IngestError::AmbiguousColumn {
                path: path.to_owned(),
                reason,
            }
        })?;
    Ok((scan, map.map(|i| i.map(|i| all[i].to_owned()))))
}

/// What [`parquet_slices`] hands each slice to.
pub(super) type SliceSink<'a> =
    dyn FnMut(u64, usize, &[ParquetCol]) -> Result<(), IngestError> + 'a;

/// The file's rows in slices of [`BATCH_ROWS`]: `each` gets the 1-based
/// number of a slice's first row, its length and its columns in contract
/// order. Returns the rows read.
pub(super) fn parquet_slices(
    path: &Path,
    scan: &LazyFrame,
    names: &[Option<String>],
    each: &mut SliceSink<'_>,
) -> Result<u64, IngestError> {
    let perr = |e: PolarsError| IngestError::Parse {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let wall = wall_clock_columns(path)?;
    // Only the columns read: a file's other columns are not decoded.
    let scan = scan.clone().select(
        names
            .iter()
            .flatten()
            .map(|n| col(n.as_str()))
            .collect::<Vec<_>>(),
    );
    let mut offset = 0u64;
    loop {
        let df = scan
            .clone()
            .slice(offset as i64, BATCH_ROWS as IdxSize)
            .collect()
            .map_err(perr)?;
        let n = df.height();
        if n == 0 {
            return Ok(offset);
        }
        let cols: Vec<ParquetCol> = names
            .iter()
            .map(|nm| ParquetCol::of(&df, nm.as_deref(), &wall))
            .collect::<PolarsResult<_>>()
            .map_err(perr)?;
        each(offset + 1, n, &cols)?;
        offset += n as u64;
    }
}

/// Paths as given on the command line, for messages.
pub fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parquet_file_tells_its_rows_and_a_text_file_is_taken_by_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let pq = dir.path().join("u.parquet");
        let mut df =
            df!("issue_id" => (0..5000).map(|i| format!("I{i}")).collect::<Vec<_>>()).unwrap();
        ParquetWriter::new(File::create(&pq).unwrap())
            .finish(&mut df)
            .unwrap();
        assert_eq!(rows_about(&pq, 64), 5000);
        let csv = dir.path().join("u.csv");
        std::fs::write(&csv, vec![b'x'; 6400]).unwrap();
        assert_eq!(rows_about(&csv, 64), 100);
        assert_eq!(rows_about(&dir.path().join("none.csv"), 64), 0);
        std::fs::write(dir.path().join("bad.parquet"), b"not parquet").unwrap();
        assert_eq!(rows_about(&dir.path().join("bad.parquet"), 64), 0);
    }
}
