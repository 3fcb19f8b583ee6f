//! Bodies into rows: a JSON array or object, JSON Lines or CSV (UTF-8 or
//! GBK/GB18030, declared by the `charset` parameter or detected like the
//! file readers do), keys and headers by contract name or Chinese alias.
//! Every row comes out numbered, valid or with the reason it is not.

use crate::ingest::encoding::{decode_lossy, TextEncoding};
use crate::ingest::headers::map_names;
use crate::ingest::json_row::{self, JsonRow, Scalar};
use crate::ingest::{column_of, update_column_of, REQUIRED};
use crate::ingest::{Col, Event, Field, ParsedSteps, RowError, Validator, FIELDS};

use super::error::{LiveError, Result};

/// Rows of events: 1-based row number, the id when readable, the event or why not.
pub type Parsed = Vec<(u64, Option<String>, Result<Event, RowError>)>;

fn bad_row(column: &'static str, reason: String) -> RowError {
    RowError { column, reason }
}

fn from_objects<'a>(
    v: &Validator<'_>,
    rows: impl Iterator<Item = (u64, Result<JsonRow<'a>, String>)>,
) -> Parsed {
    rows.map(|(n, r)| match r {
        Ok(row) => match row.columns(column_of, &FIELDS) {
            // Keys as the file readers take them: contract names or Chinese aliases.
            Ok(map) => (
                n,
                map[Col::Id as usize].and_then(Scalar::id),
                v.validate(|c: Col| map[c as usize].map_or(Field::Null, Scalar::field)),
            ),
            // The row's id all the same, when one key alone names it.
            Err(reason) => (n, lone_id(&row), Err(bad_row("row", reason))),
        },
        Err(e) => (n, None, Err(bad_row("row", e))),
    })
    .collect()
}

/// The id of a JSON row whose columns could not be read (an array for a
/// value, a key given twice), when exactly one key maps to `id` and holds
/// one value: the answer then names the row by its id too.
fn lone_id(row: &JsonRow<'_>) -> Option<String> {
    let JsonRow::Object(entries) = row else {
        return None;
    };
    let mut ids = entries
        .iter()
        .filter(|(k, _)| column_of(k) == Some(Col::Id as usize));
    match (ids.next(), ids.next()) {
        (Some((_, v)), None) => v.id(),
        _ => None,
    }
}

/// A CSV body: UTF-8 (with or without BOM) or GB18030/GBK, as declared by
/// the `charset` parameter or detected like the file readers do; headers by
/// contract name or Chinese alias.
fn from_csv(v: &Validator<'_>, text: &str, lossy: bool) -> Result<Parsed> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(crate::ingest::quote::QuoteWatch::new(text.as_bytes(), b','));
    let headers = r
        .headers()
        .map_err(|e| LiveError::BadInput(format!("CSV header: {e}")))?
        .clone();
    let map = map_names(headers.iter(), column_of, &FIELDS)
        .map_err(|e| LiveError::BadInput(format!("CSV header: {e}")))?;
    if let Some(missing) = REQUIRED.iter().find(|&&c| map[c as usize].is_none()) {
        return Err(LiveError::BadInput(format!(
            "CSV header lacks the required column {:?}{}",
            FIELDS[*missing as usize],
            crate::ingest::headers::header_hint(headers.iter())
        )));
    }
    let shape = crate::ingest::RowShape::new(
        b',',
        headers.len(),
        REQUIRED.map(|c| map[c as usize]),
        map[Col::OccurredAt as usize],
    );
    // Known once the header is read (the file readers' rule).
    let crlf = r.get_ref().line_offset();
    let mut out = Vec::new();
    // The line the last record starts on, how many values it has and
    // whether it was rejected for swallowing the rows after it.
    let mut last = (0u64, 0usize, false);
    for (k, rec) in r.records().enumerate() {
        let n = k as u64 + 1;
        match rec {
            Ok(rec) => {
                if let Some(p) = rec.position() {
                    last = (p.line() + crlf, rec.len(), false);
                }
                let id = map[Col::Id as usize]
                    .and_then(|i| rec.get(i))
                    .map(str::to_owned);
                // A quote left open takes the rows after it into one
                // value: rejected, naming the column and the lines taken in.
                let fields: Vec<&str> = rec.iter().collect();
                let line = rec.position().map_or(n + 1, |p| p.line() + crlf);
                if let Some((col, why)) = crate::ingest::swallowed(&fields, &shape, line) {
                    out.push((n, id, Err(bad_row(field_at(&map, col), why))));
                    last.2 = true;
                    continue;
                }
                if let Some(why) = crate::ingest::overflow(rec.iter(), headers.len()) {
                    out.push((n, id, Err(bad_row("row", why))));
                    continue;
                }
                // A byte the body's encoding could not read, in a column
                // that is read: the row is rejected, naming the column.
                let unreadable = FIELDS.iter().zip(&map).find(|(_, i)| {
                    lossy
                        && i.and_then(|i| rec.get(i))
                            .is_some_and(|f| f.contains('\u{fffd}'))
                });
                if let Some((column, _)) = unreadable {
                    let why = "malformed byte sequence for the body's encoding";
                    out.push((n, id, Err(bad_row(column, why.to_owned()))));
                    continue;
                }
                let ev = v
                    .validate(|c: Col| {
                        map[c as usize]
                            .and_then(|i| rec.get(i))
                            .map_or(Field::Null, Field::Text)
                    })
                    .map_err(|e| crate::ingest::spanning(e, &fields, line));
                out.push((n, id, ev));
            }
            Err(e) => out.push((n, None, Err(bad_row("row", e.to_string())))),
        }
    }
    // A quote opened in the last row and never closed runs to the end of
    // the body with no row after it to give it away: that row is
    // rejected, whatever its values seemed to be, and its id is not
    // echoed when the open value is the id's (it holds the rest of the row).
    let (line, width, swallowing) = last;
    if !swallowing && r.get_ref().open() {
        if let Some(row) = out.last_mut() {
            let col = width.saturating_sub(1);
            let column = field_at(&map, col);
            if map[Col::Id as usize] == Some(col) {
                row.1 = None;
            }
            row.2 = Err(bad_row(
                column,
                format!(
                    "a quote opened on line {line} is never closed: the value runs to the end of the body \
                     (a quote inside a value is written doubled, \"\")"
                ),
            ));
        }
    }
    Ok(out)
}

/// The contract column a body's column `col` is read as (`row` for a
/// column no field reads).
fn field_at(map: &[Option<usize>], col: usize) -> &'static str {
    FIELDS
        .iter()
        .zip(map)
        .find(|(_, i)| **i == Some(col))
        .map_or("row", |(f, _)| *f)
}

/// What a body is, by its Content-Type: JSON, JSON Lines (as UTF-8 text)
/// or CSV (decoded from UTF-8 or GBK/GB18030 to text).
enum Body<'a> {
    Json(&'a [u8]),
    Lines(&'a str),
    /// The text, and whether a byte of the body could not be read in its
    /// encoding (U+FFFD in its place rejects its row).
    Csv(std::borrow::Cow<'a, str>, bool),
}

fn body_of<'a>(content_type: &str, body: &'a [u8]) -> Result<Body<'a>> {
    let (ct, charset) = media_type(content_type);
    match ct.as_str() {
        "application/json" | "" => Ok(Body::Json(without_bom(body))),
        "application/x-ndjson"
        | "application/jsonl"
        | "application/json-lines"
        | "application/x-jsonlines" => std::str::from_utf8(without_bom(body))
            .map(Body::Lines)
            .map_err(|e| LiveError::BadInput(format!("JSON Lines must be UTF-8: {e}"))),
        "text/csv" => {
            let declared = charset
                .map(|c| c.parse::<TextEncoding>())
                .transpose()
                .map_err(|e| LiveError::UnsupportedMediaType(e.to_string()))?;
            let (text, _, lossy) = decode_lossy(body, declared)
                .map_err(|e| LiveError::BadInput(format!("CSV body: {e}")))?;
            Ok(Body::Csv(text, lossy))
        }
        other => Err(LiveError::UnsupportedMediaType(format!(
            "content type {other:?}: send application/json, application/x-ndjson or text/csv"
        ))),
    }
}

/// `body` without a UTF-8 byte-order mark (editors on Windows write one;
/// JSON does not allow it, the file readers skip it too).
fn without_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

/// The media type of a Content-Type header, lower-cased, and its charset.
fn media_type(content_type: &str) -> (String, Option<&str>) {
    let mut parts = content_type.split(';');
    let ct = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    });
    (ct, charset)
}

/// A body read into rows, with the columns (CSV headers, JSON keys of any
/// row) that no contract column reads, in first-seen order: a misspelt
/// name is not read, and the answer says which.
pub struct ParsedBody<T> {
    pub rows: T,
    pub unread: Vec<String>,
}

/// A body's rows before validation: objects numbered from 1 (a line
/// that is not JSON keeps its reason), or the CSV text.
enum Rows<'a> {
    Objects(Vec<(u64, std::result::Result<JsonRow<'a>, String>)>),
    Csv(std::borrow::Cow<'a, str>, bool),
}

impl<'a> Rows<'a> {
    /// The rows of `body` by its content type; `what` names them in errors.
    fn of(content_type: &str, body: &'a [u8], what: &str) -> Result<Rows<'a>> {
        Ok(match body_of(content_type, body)? {
            Body::Json(body) => {
                let items = json_row::rows(body).map_err(|e| {
                    LiveError::BadInput(format!(
                        "body is not a JSON array of {what} objects (or one object): {e}"
                    ))
                })?;
                let numbered = items.into_iter().enumerate();
                Rows::Objects(
                    numbered
                        .map(|(i, x)| (i as u64 + 1, x.map_err(|e| format!("not JSON: {e}"))))
                        .collect(),
                )
            }
            Body::Lines(text) => Rows::Objects(
                text.lines()
                    .enumerate()
                    .filter(|(_, l)| !l.trim().is_empty())
                    .map(|(i, l)| {
                        let row = json_row::row(l).map_err(|e| format!("not JSON: {e}"));
                        (i as u64 + 1, row)
                    })
                    .collect(),
            ),
            Body::Csv(text, lossy) => Rows::Csv(text, lossy),
        })
    }

    /// The keys of any object, or the CSV headers, that `column_of` does
    /// not map, each once in first-seen order.
    fn unread(&self, column_of: fn(&str) -> Option<usize>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut note = |k: &str| {
            if column_of(k).is_none() && !out.iter().any(|o| o == k) {
                out.push(k.to_owned());
            }
        };
        match self {
            Rows::Objects(rows) => {
                for (_, row) in rows {
                    if let Ok(JsonRow::Object(entries)) = row {
                        entries.iter().for_each(|(k, _)| note(k));
                    }
                }
            }
            Rows::Csv(text, _) => {
                let mut r = csv::ReaderBuilder::new()
                    .flexible(true)
                    .from_reader(text.as_bytes());
                if let Ok(h) = r.headers() {
                    h.iter().for_each(&mut note);
                }
            }
        }
        out
    }
}

/// Parses a body of events by its content type.
pub fn parse_events(
    v: &Validator<'_>,
    content_type: &str,
    body: &[u8],
) -> Result<ParsedBody<Parsed>> {
    let rows = Rows::of(content_type, body, "event")?;
    let unread = rows.unread(column_of);
    let rows = match rows {
        Rows::Objects(objects) => from_objects(v, objects.into_iter()),
        Rows::Csv(text, lossy) => from_csv(v, &text, lossy)?,
    };
    Ok(ParsedBody { rows, unread })
}

/// Parses a body of transition rows (JSON array or object, JSON Lines or
/// CSV in UTF-8/GBK), keys and headers by contract name or Chinese alias.
pub fn parse_updates(
    v: &Validator<'_>,
    content_type: &str,
    body: &[u8],
) -> Result<ParsedBody<ParsedSteps>> {
    let rows = Rows::of(content_type, body, "update")?;
    let unread = rows.unread(update_column_of);
    let rows = match rows {
        Rows::Objects(objects) => v.updates_from_json_rows(objects),
        Rows::Csv(text, lossy) => v
            .updates_from_csv(&text, lossy)
            .map_err(LiveError::BadInput)?,
    };
    Ok(ParsedBody { rows, unread })
}
