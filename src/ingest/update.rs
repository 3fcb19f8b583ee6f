//! One transition row, validated: a step of a case (CONTRACT.md, "Updates
//! to cases").

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::event::{err, id_text, number, one_of, text, time, Named, Validator, SATISFACTION};
use super::json_row::{self, JsonRow, Scalar};
use super::read;
use super::{Field, IngestError, RowError};

/// The contract's transition columns, in order.
pub const UPDATE_FIELDS: [&str; 13] = [
    "issue_id",
    "update_id",
    "at",
    "status",
    "deadline",
    "satisfaction",
    "solved",
    "category",
    "lon",
    "lat",
    "to_unit",
    "note",
    "duplicate_of",
];

/// Position of a transition column in [`UPDATE_FIELDS`].
#[derive(Debug, Clone, Copy)]
#[repr(usize)]
pub enum UCol {
    IssueId,
    UpdateId,
    At,
    Status,
    Deadline,
    Satisfaction,
    Solved,
    Category,
    Lon,
    Lat,
    ToUnit,
    Note,
    DuplicateOf,
}

impl UCol {
    /// Every column, in [`UPDATE_FIELDS`] order.
    const ALL: [UCol; UPDATE_FIELDS.len()] = [
        UCol::IssueId,
        UCol::UpdateId,
        UCol::At,
        UCol::Status,
        UCol::Deadline,
        UCol::Satisfaction,
        UCol::Solved,
        UCol::Category,
        UCol::Lon,
        UCol::Lat,
        UCol::ToUnit,
        UCol::Note,
        UCol::DuplicateOf,
    ];
}

impl Named for UCol {
    fn name(self) -> &'static str {
        UPDATE_FIELDS[self as usize]
    }
}

/// A transition column by its contract name or a header alias of Chinese
/// work-order systems.
pub fn update_column_of(header: &str) -> Option<usize> {
    let h = header
        .trim()
        .trim_start_matches('\u{feff}')
        .to_ascii_lowercase();
    if let Some(i) = UPDATE_FIELDS.iter().position(|f| *f == h) {
        return Some(i);
    }
    let c = match h.as_str() {
        "service_request_id" | "案件编号" | "工单编号" | "诉求编号" => UCol::IssueId,
        "环节编号" | "流水号" | "记录编号" => UCol::UpdateId,
        "updated_datetime" | "时间" | "操作时间" | "处理时间" => UCol::At,
        "状态" | "环节" | "办理状态" => UCol::Status,
        "办理期限" | "截止时间" => UCol::Deadline,
        "满意度" => UCol::Satisfaction,
        "解决情况" | "是否解决" => UCol::Solved,
        "类别" => UCol::Category,
        // As events name them (and Open311's `long`).
        "long" | "经度" | "longitude" | "lng" => UCol::Lon,
        "纬度" | "latitude" => UCol::Lat,
        "承办单位" | "派往" => UCol::ToUnit,
        "description" | "备注" | "意见" | "处理意见" => UCol::Note,
        "重复件" | "重复工单" | "重复于" | "原工单编号" | "合并至" => {
            UCol::DuplicateOf
        }
        _ => return None,
    };
    Some(c as usize)
}

/// A validated transition (positions in WGS84, times in µs UTC, the note hashed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub issue_id: String,
    pub update_id: String,
    /// When the step happened at the source (µs UTC).
    pub at: i64,
    /// Canonical state after the step ([`super::state`]).
    pub state: String,
    /// A new deadline (an extension).
    pub deadline: Option<i64>,
    pub satisfaction: Option<String>,
    /// `solved`, `partly` or `unsolved`.
    pub solved: Option<String>,
    /// A corrected category.
    pub category: Option<String>,
    /// A corrected position, WGS84.
    pub lon: Option<f64>,
    pub lat: Option<f64>,
    /// Department or unit dispatched or escalated to.
    pub to_unit: Option<String>,
    /// Keyed hash of the free-text note: it may hold personal data, so the
    /// clear text is never stored.
    pub note_hash: Option<String>,
    /// Links the case to the one it repeats (重复件, same source system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
    /// The source system of the case (empty: the county's own); set from
    /// the writer, never read from the row.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub system: String,
}

impl Step {
    /// Update `update_id` of issue `issue_id` to `state` at `at`, every
    /// optional field empty.
    pub fn new(issue_id: &str, update_id: &str, at: i64, state: &str) -> Step {
        Step {
            issue_id: issue_id.into(),
            update_id: update_id.into(),
            at,
            state: state.into(),
            deadline: None,
            satisfaction: None,
            solved: None,
            category: None,
            lon: None,
            lat: None,
            to_unit: None,
            note_hash: None,
            duplicate_of: None,
            system: String::new(),
        }
    }
}

const SOLVED: &[(&[&str], &str)] = &[
    (
        &["solved", "解决", "已解决"],
        crate::vocab::SOLVED_ANSWERS[0],
    ),
    (&["partly", "部分解决"], crate::vocab::SOLVED_ANSWERS[1]),
    (&["unsolved", "未解决"], crate::vocab::SOLVED_ANSWERS[2]),
];

impl Validator<'_> {
    /// Validates one transition row given as a field accessor over [`UPDATE_FIELDS`].
    pub fn validate_update<'r>(&self, get: impl Fn(UCol) -> Field<'r>) -> Result<Step, RowError> {
        use super::event::{bounded, MAX_ID_CHARS, MAX_TEXT_CHARS};
        let issue_id = id_text(get(UCol::IssueId), UCol::IssueId)?;
        let issue_id = bounded(issue_id, MAX_ID_CHARS, UCol::IssueId)?;
        let update_id = id_text(get(UCol::UpdateId), UCol::UpdateId)?;
        let update_id = bounded(update_id, MAX_ID_CHARS, UCol::UpdateId)?;
        let at = time(get(UCol::At), UCol::At, self.tz)?.ok_or_else(|| err(UCol::At, "missing"))?;
        let at = self.dates.check(at, UCol::At)?;
        let short = |c: UCol| {
            text(get(c))
                .map(|v| bounded(v, MAX_TEXT_CHARS, c))
                .transpose()
        };
        let (category, to_unit) = (short(UCol::Category)?, short(UCol::ToUnit)?);
        let word = text(get(UCol::Status)).ok_or_else(|| err(UCol::Status, "missing"))?;
        let state = super::state::canonical(&word).map_err(|r| err(UCol::Status, r))?;
        let lon = match get(UCol::Lon) {
            Field::Null => None,
            Field::Text(t) if t.trim().is_empty() => None,
            f => Some(number(f, UCol::Lon)?),
        };
        let lat = match get(UCol::Lat) {
            Field::Null => None,
            Field::Text(t) if t.trim().is_empty() => None,
            f => Some(number(f, UCol::Lat)?),
        };
        let position = match (lon, lat) {
            (None, None) => None,
            (Some(x), Some(y)) => {
                let (x, y) = self.crs.unproject(x, y).map_err(|r| err(UCol::Lon, r))?;
                if !(-90.0..=90.0).contains(&y) {
                    return Err(err(UCol::Lat, format!("{y} is out of range -90..90")));
                }
                if !(-180.0..=180.0).contains(&x) {
                    return Err(err(UCol::Lon, format!("{x} is out of range -180..180")));
                }
                Some(super::crs::to_wgs84(self.crs, x, y))
            }
            (None, Some(_)) => return Err(err(UCol::Lon, "missing (lat is given)")),
            (Some(_), None) => return Err(err(UCol::Lat, "missing (lon is given)")),
        };
        Ok(Step {
            update_id,
            at,
            state: state.to_owned(),
            deadline: time(get(UCol::Deadline), UCol::Deadline, self.tz)?
                .map(|t| self.dates.for_deadlines().check(t, UCol::Deadline))
                .transpose()?,
            satisfaction: one_of(get(UCol::Satisfaction), UCol::Satisfaction, SATISFACTION)?
                .map(str::to_owned),
            solved: one_of(get(UCol::Solved), UCol::Solved, SOLVED)?.map(str::to_owned),
            category,
            lon: position.map(|p| p.0),
            lat: position.map(|p| p.1),
            to_unit,
            note_hash: text(get(UCol::Note)).map(|n| self.hasher.hash(&n)),
            duplicate_of: super::event::duplicate_of(
                get(UCol::DuplicateOf),
                &issue_id,
                UCol::DuplicateOf,
            )?,
            issue_id,
            system: String::new(),
        })
    }
}

/// Parsed transition rows: the 1-based row, the issue id when readable,
/// the step or why not.
pub type ParsedSteps = Vec<(u64, Option<String>, Result<Step, RowError>)>;

impl Validator<'_> {
    /// One JSON object of transition fields (contract names or aliases).
    fn update_from_json(&self, row: &JsonRow<'_>) -> (Option<String>, Result<Step, RowError>) {
        let map = match row.columns(update_column_of, &UPDATE_FIELDS) {
            Ok(map) => map,
            Err(reason) => return (None, Err(err(UCol::IssueId, reason))),
        };
        let id = map[UCol::IssueId as usize].and_then(Scalar::id);
        let step =
            self.validate_update(|c: UCol| map[c as usize].map_or(Field::Null, Scalar::field));
        (id, step)
    }

    /// Transition rows given as JSON objects, numbered (an element that is
    /// no JSON keeps the reason, charged to `issue_id`).
    pub fn updates_from_json_rows(
        &self,
        rows: Vec<(u64, Result<JsonRow<'_>, String>)>,
    ) -> ParsedSteps {
        rows.into_iter()
            .map(|(n, row)| match row {
                Ok(x) => {
                    let (id, step) = self.update_from_json(&x);
                    (n, id, step)
                }
                Err(reason) => (n, None, Err(err(UCol::IssueId, reason))),
            })
            .collect()
    }

    /// CSV text of transition rows (rows numbered from 1 after the header);
    /// `Err` names a required column the header lacks, or an unreadable header.
    pub fn updates_from_csv(&self, text: &str, lossy: bool) -> Result<ParsedSteps, String> {
        let mut rows = CsvSteps::new(text.as_bytes(), b',', lossy)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next(self).map_err(|e| e.to_string())? {
            out.push(r);
        }
        Ok(out)
    }
}

/// One parsed transition row: the 1-based row, the issue id when readable,
/// the step or why not.
pub type ParsedStep = (u64, Option<String>, Result<Step, RowError>);

/// CSV transition rows, read one at a time from any text source.
struct CsvSteps<R> {
    rdr: csv::Reader<super::quote::QuoteWatch<R>>,
    map: [Option<usize>; UPDATE_FIELDS.len()],
    rec: csv::ByteRecord,
    /// The row after `rec`, read before `rec` is handed on so that the last
    /// row is known to be last (a quote it left open runs to the end of the
    /// text, and the CSV reader ends the value there as if closed), and
    /// what reading it gave.
    ahead: csv::ByteRecord,
    read_ahead: Option<csv::Result<bool>>,
    /// Rows read so far.
    n: u64,
    /// The text came through a lossy decoder: a U+FFFD marks a byte the
    /// file's encoding could not read, and rejects its row.
    lossy: bool,
    /// The rows' shape, to find a row that took in the rows after it
    /// ([`super::read::swallowed`]).
    shape: super::read::RowShape,
}

impl<R: std::io::Read> CsvSteps<R> {
    /// The reader past its header; `Err` names a required column the
    /// header lacks, or an unreadable header.
    fn new(input: R, delimiter: u8, lossy: bool) -> Result<Self, String> {
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .from_reader(super::quote::QuoteWatch::new(input, delimiter));
        let headers = rdr.byte_headers().map_err(|e| format!("CSV header: {e}"))?;
        let names: Vec<_> = headers.iter().map(String::from_utf8_lossy).collect();
        let width = names.len();
        let map = super::headers::map_names(
            names.iter().map(|n| n.as_ref()),
            update_column_of,
            &UPDATE_FIELDS,
        )
        .map_err(|e| format!("CSV header: {e}"))?;
        for c in [UCol::IssueId, UCol::UpdateId, UCol::At, UCol::Status] {
            if map[c as usize].is_none() {
                return Err(format!(
                    "CSV header lacks the required column {:?}{}",
                    UPDATE_FIELDS[c as usize],
                    super::headers::header_hint(names.iter().map(|n| n.as_ref()))
                ));
            }
        }
        Ok(CsvSteps {
            rdr,
            map,
            rec: csv::ByteRecord::new(),
            ahead: csv::ByteRecord::new(),
            read_ahead: None,
            n: 0,
            lossy,
            shape: super::read::RowShape::new(
                delimiter,
                width,
                [UCol::IssueId, UCol::UpdateId, UCol::At, UCol::Status].map(|c| map[c as usize]),
                map[UCol::At as usize],
            ),
        })
    }

    /// The next row (numbered from 1 after the header), `None` at the end;
    /// `Err` only when the source itself fails to read.
    /// The line the last row read begins on (the header is line 1): a
    /// row with a quoted line break runs over several.
    fn line(&self) -> u64 {
        let offset = self.rdr.get_ref().line_offset();
        self.rec
            .position()
            .map_or(self.n + 1, |p| p.line() + offset)
    }

    fn next(&mut self, v: &Validator<'_>) -> std::io::Result<Option<ParsedStep>> {
        let read = match self.read_ahead.take() {
            Some(read) => {
                std::mem::swap(&mut self.rec, &mut self.ahead);
                read
            }
            None => self.rdr.read_byte_record(&mut self.rec),
        };
        if matches!(read, Ok(true)) {
            self.read_ahead = Some(self.rdr.read_byte_record(&mut self.ahead));
        }
        let last = matches!(self.read_ahead, Some(Ok(false)));
        self.n += 1;
        let n = self.n;
        match read {
            Ok(false) => Ok(None),
            Err(e) if e.is_io_error() => match e.into_kind() {
                csv::ErrorKind::Io(e) => Err(e),
                kind => Err(std::io::Error::other(format!("{kind:?}"))),
            },
            Err(e) => Ok(Some((
                n,
                None,
                Err(err(UCol::IssueId, format!("unreadable row: {e}"))),
            ))),
            Ok(true) => {
                let field = |c: UCol| {
                    self.map[c as usize]
                        .and_then(|i| self.rec.get(i))
                        .map(|b| std::str::from_utf8(b).unwrap_or("\u{fffd}"))
                };
                let id = field(UCol::IssueId).map(str::to_owned);
                // The row's values as text, for the rare row with a line
                // break in it (the others are read through `field`).
                let fields = || -> Vec<&str> {
                    self.rec
                        .iter()
                        .map(|b| std::str::from_utf8(b).unwrap_or(""))
                        .collect()
                };
                let line = self.line();
                let broken = self.rec.as_slice().contains(&b'\n');
                let swallowed = broken
                    .then(|| super::read::swallowed(&fields(), &self.shape, line))
                    .flatten();
                let open = (last && self.rdr.get_ref().open()).then(|| {
                    let reason = format!(
                        "a quote opened on line {line} is never closed: the value runs to the end of the text \
                         (a quote inside a value is written doubled, \"\")"
                    );
                    (self.rec.len().saturating_sub(1), reason)
                });
                if let Some((col, reason)) = swallowed.or(open) {
                    // Named by the contract column it holds (the note, as a rule).
                    let c = (0..UPDATE_FIELDS.len())
                        .find(|&c| self.map[c] == Some(col))
                        .map_or(UCol::Note, |c| UCol::ALL[c]);
                    // Its id is not echoed when the open value is the id's
                    // (it holds the rest of the text).
                    let id = id.filter(|_| !matches!(c, UCol::IssueId));
                    return Ok(Some((n, id, Err(err(c, reason)))));
                }
                if let Some(reason) = super::read::overflow(self.rec.iter(), self.shape.width) {
                    let e = RowError { column: "", reason };
                    return Ok(Some((n, id, Err(e))));
                }
                if self.lossy {
                    let bad = (0..UPDATE_FIELDS.len())
                        .find(|&c| field(UCol::ALL[c]).is_some_and(|f| f.contains('\u{fffd}')));
                    if let Some(c) = bad {
                        let reason = "malformed byte sequence for the file's encoding";
                        return Ok(Some((n, id, Err(err(UCol::ALL[c], reason)))));
                    }
                }
                let step = v
                    .validate_update(|c: UCol| field(c).map_or(Field::Null, Field::Text))
                    .map_err(|e| super::spanning(e, &fields(), line));
                Ok(Some((n, id, step)))
            }
        }
    }
}

/// Valid steps with their row numbers, and the rejected rows.
pub type StepsRead = (Vec<(u64, Step)>, Vec<super::Reject>);

/// Rows of one file gathered into [`StepsRead`] chunks of
/// [`super::BATCH_ROWS`] rows.
pub(super) struct Chunks<'a> {
    file: String,
    chunk: StepsRead,
    rows: usize,
    /// Rows handed on so far.
    pub total: u64,
    sink: &'a mut dyn FnMut(StepsRead) -> Result<(), super::IngestError>,
}

impl<'a> Chunks<'a> {
    pub(super) fn new(
        path: &std::path::Path,
        sink: &'a mut dyn FnMut(StepsRead) -> Result<(), super::IngestError>,
    ) -> Self {
        Chunks {
            file: path.display().to_string(),
            chunk: StepsRead::default(),
            rows: 0,
            total: 0,
            sink,
        }
    }

    /// One row: a step, or a reject naming the file, row, column and reason.
    pub(super) fn push(
        &mut self,
        row: u64,
        r: Result<Step, RowError>,
    ) -> Result<(), super::IngestError> {
        match r {
            Ok(s) => self.chunk.0.push((row, s)),
            Err(e) => self.chunk.1.push(super::Reject {
                file: self.file.clone(),
                row,
                column: e.column.to_owned(),
                reason: e.reason,
            }),
        }
        self.rows += 1;
        if self.rows >= super::BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands on the rows gathered so far.
    pub(super) fn flush(&mut self) -> Result<(), super::IngestError> {
        if self.rows > 0 {
            self.total += self.rows as u64;
            self.rows = 0;
            (self.sink)(std::mem::take(&mut self.chunk))?;
        }
        Ok(())
    }
}

/// A file of transition rows: CSV or TSV (UTF-8 with or without BOM, or
/// GB18030/GBK), JSON Lines or Parquet, headers, keys and columns by
/// contract name or Chinese alias. Streams: `sink` gets each valid step
/// with its row number (CSV: the line, the header being line 1; JSON
/// Lines: the line; Parquet: the 1-based row) and a [`super::Reject`] for
/// every other row, [`super::BATCH_ROWS`] rows at a time, so memory stays
/// flat however long the file. Returns the rows read. A row with a byte the
/// file's encoding cannot read is rejected, naming its column.
pub fn read_updates_with(
    path: &std::path::Path,
    v: &Validator<'_>,
    sink: &mut dyn FnMut(StepsRead) -> Result<(), super::IngestError>,
) -> Result<u64, super::IngestError> {
    use super::IngestError;
    let parse = |reason: String| IngestError::Parse {
        path: path.to_owned(),
        reason,
    };
    let mut out = Chunks::new(path, sink);
    match super::Format::of(path)? {
        super::Format::Csv => {
            let text = read::open_text(path, None)?;
            let mut rows = CsvSteps::new(text, read::delimiter(path), true).map_err(parse)?;
            while let Some((_, _, r)) = rows.next(v).map_err(|e| parse(e.to_string()))? {
                out.push(rows.line(), r)?;
            }
        }
        super::Format::JsonLines => {
            read::json_records(path, None, &mut |row, record| {
                let r = match record {
                    Ok(text) if text.contains('\u{fffd}') => Err(err(
                        UCol::IssueId,
                        "malformed byte sequence for the file's encoding",
                    )),
                    Ok(text) => match json_row::row(text) {
                        Ok(x) => v.update_from_json(&x).1,
                        Err(e) => Err(err(UCol::IssueId, format!("not JSON: {e}"))),
                    },
                    Err(reason) => Err(err(UCol::IssueId, reason)),
                };
                out.push(row, r)
            })?;
        }
        super::Format::Parquet => {
            read::guarded(path, || updates_from_parquet(path, v, &mut out))?;
        }
    }
    out.flush()?;
    Ok(out.total)
}

/// A whole file of transition rows, as [`read_updates_with`] reads it:
/// every valid step with its row number, and the rejected rows.
pub fn read_updates(
    path: &std::path::Path,
    v: &Validator<'_>,
) -> Result<StepsRead, super::IngestError> {
    let mut all = StepsRead::default();
    read_updates_with(path, v, &mut |(steps, rejects)| {
        all.0.extend(steps);
        all.1.extend(rejects);
        Ok(())
    })?;
    Ok(all)
}

/// A Parquet file of transition rows, columns by contract name or Chinese
/// alias (rows numbered from 1), read in slices of [`read::BATCH_ROWS`] rows.
pub(super) fn updates_from_parquet(
    path: &Path,
    v: &Validator<'_>,
    out: &mut Chunks<'_>,
) -> Result<(), IngestError> {
    let (scan, names) = read::parquet_columns(path, update_column_of, &UPDATE_FIELDS)?;
    for c in [UCol::IssueId, UCol::UpdateId, UCol::At, UCol::Status] {
        if names[c as usize].is_none() {
            return Err(IngestError::Parse {
                path: path.to_owned(),
                reason: format!("lacks the required column {:?}", UPDATE_FIELDS[c as usize]),
            });
        }
    }
    read::parquet_slices(path, &scan, &names, &mut |first, n, cols| {
        for i in 0..n {
            let step = read::ParquetCol::row_checked(cols, &UPDATE_FIELDS, i)
                .and_then(|get| v.validate_update(|c: UCol| get(c as usize)));
            out.push(first + i as u64, step)?;
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::privacy::KeyedHasher;

    #[test]
    fn a_step_takes_the_position_headers_an_event_takes() {
        for h in ["lon", "long", "lng", "longitude", "经度"] {
            assert_eq!(update_column_of(h), Some(UCol::Lon as usize), "{h}");
        }
        for h in ["lat", "latitude", "纬度"] {
            assert_eq!(update_column_of(h), Some(UCol::Lat as usize), "{h}");
        }
    }

    /// A work-order export with Chinese headers links a case to the one it
    /// repeats (重复件); a link to the case itself is refused, naming the column.
    #[test]
    fn a_step_links_a_case_to_the_one_it_repeats() {
        let hasher = KeyedHasher::new([7; 32]);
        let v = Validator {
            crs: crate::ingest::crs::Crs::Wgs84,
            tz: chrono_tz::Asia::Shanghai,
            hasher: &hasher,
            dates: crate::ingest::Dates::default(),
            unused: Default::default(),
        };
        let csv = "工单编号,环节编号,操作时间,状态,重复件\n\
                   A-2,u1,2026-03-01 09:00,受理,A-1\n\
                   A-3,u1,2026-03-01 09:00,受理,\n\
                   A-4,u1,2026-03-01 09:00,受理,A-4\n";
        let rows = v.updates_from_csv(csv, false).unwrap();
        let steps: Vec<_> = rows.iter().map(|(_, _, s)| s.clone()).collect();
        assert_eq!(
            steps[0].as_ref().unwrap().duplicate_of.as_deref(),
            Some("A-1")
        );
        assert_eq!(steps[1].as_ref().unwrap().duplicate_of, None);
        let e = steps[2].as_ref().unwrap_err();
        assert_eq!(e.column, "duplicate_of");
        assert!(e.reason.contains("itself"), "{}", e.reason);
    }
}
