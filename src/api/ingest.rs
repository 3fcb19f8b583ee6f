//! `POST /api/v1/events`: a JSON array, JSON Lines or CSV body of events in
//! the CONTRACT.md columns, validated, joined and stored in one transaction.
//!
//! Idempotent on (kind, id): a row already stored is reported as a rejected
//! duplicate and changes nothing, so a client may re-send a batch whose
//! acknowledgement it lost. The response is sent after the commit, so an
//! acknowledged batch is durable. Per-row unit codes outside the caller's
//! scope are left out of the response.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::Serialize;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::Body;
use super::scope::Scope;
use super::state::AppState;
use crate::ingest::crs::Crs;
use crate::ingest::encoding::{decode, TextEncoding};
use crate::ingest::{column_of, REQUIRED};
use crate::ingest::{Col, Event, Field, RowError, Validator, FIELDS};
use crate::join::{joined_frame, Outcome};
use crate::store::{Located, User};

/// One row's fate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowOutcome {
    /// 1-based row (data line for CSV and JSON Lines, element for arrays).
    pub row: u64,
    pub id: Option<String>,
    /// matched, partial, outside or rejected.
    pub outcome: &'static str,
    /// Deepest unit holding the event, when in the caller's scope.
    pub unit: Option<String>,
    /// Why a row was rejected.
    pub reason: Option<String>,
}

/// Counts add up: read = matched + partial + outside + rejected.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    pub read: u64,
    pub matched: u64,
    pub partial: u64,
    pub outside: u64,
    pub rejected: u64,
    /// Of `rejected`, rows whose (kind, id) was already stored.
    pub duplicates: u64,
    pub rows: Vec<RowOutcome>,
}

type Parsed = Vec<(u64, Option<String>, Result<Event, RowError>)>;

fn bad_row(column: &'static str, reason: String) -> RowError {
    RowError { column, reason }
}

fn from_objects<'a>(
    v: &Validator<'_>,
    rows: impl Iterator<Item = (u64, Result<serde_json::Value, String>)> + 'a,
) -> Parsed {
    rows.map(|(n, r)| match r {
        Ok(serde_json::Value::Object(o)) => {
            // Keys as the file readers take them: contract names or Chinese aliases.
            let mut map: [Option<&serde_json::Value>; 14] = [None; 14];
            for (k, val) in &o {
                if let Some(c) = column_of(k) {
                    map[c].get_or_insert(val);
                }
            }
            let id = map[Col::Id as usize].and_then(|x| match x {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
            (
                n,
                id,
                v.validate(|c: Col| map[c as usize].map_or(Field::Null, Field::json)),
            )
        }
        Ok(_) => (n, None, Err(bad_row("row", "not a JSON object".into()))),
        Err(e) => (n, None, Err(bad_row("row", e))),
    })
    .collect()
}

/// A CSV body: UTF-8 (with or without BOM) or GB18030/GBK, as declared by
/// the `charset` parameter or detected like the file readers do; headers by
/// contract name or Chinese alias.
fn from_csv(v: &Validator<'_>, charset: Option<&str>, body: &[u8]) -> Result<Parsed, ApiError> {
    let declared = charset
        .map(|c| c.parse::<TextEncoding>())
        .transpose()
        .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    let (text, _) =
        decode(body, declared).map_err(|e| ApiError::BadRequest(format!("CSV body: {e}")))?;
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = r
        .headers()
        .map_err(|e| ApiError::BadRequest(format!("CSV header: {e}")))?
        .clone();
    let mut map: [Option<usize>; 14] = [None; 14];
    for (i, h) in headers.iter().enumerate() {
        if let Some(c) = column_of(h) {
            map[c].get_or_insert(i);
        }
    }
    if let Some(missing) = REQUIRED.iter().find(|&&c| map[c as usize].is_none()) {
        return Err(ApiError::BadRequest(format!(
            "CSV header lacks the required column {:?}",
            FIELDS[*missing as usize]
        )));
    }
    let mut out = Vec::new();
    for (k, rec) in r.records().enumerate() {
        let n = k as u64 + 1;
        match rec {
            Ok(rec) => {
                let id = map[Col::Id as usize]
                    .and_then(|i| rec.get(i))
                    .map(str::to_owned);
                let ev = v.validate(|c: Col| {
                    map[c as usize]
                        .and_then(|i| rec.get(i))
                        .map_or(Field::Null, Field::Text)
                });
                out.push((n, id, ev));
            }
            Err(e) => out.push((n, None, Err(bad_row("row", e.to_string())))),
        }
    }
    Ok(out)
}

/// Parses a body by its content type.
pub fn parse(v: &Validator<'_>, content_type: &str, body: &[u8]) -> Result<Parsed, ApiError> {
    let mut parts = content_type.split(';');
    let ct = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"'))
    });
    match ct.as_str() {
        "application/json" | "" => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
            let items = match value {
                serde_json::Value::Array(a) => a,
                o @ serde_json::Value::Object(_) => vec![o],
                _ => {
                    return Err(ApiError::BadRequest(
                        "expected a JSON array of event objects".into(),
                    ))
                }
            };
            Ok(from_objects(
                v,
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, x)| (i as u64 + 1, Ok(x))),
            ))
        }
        "application/x-ndjson"
        | "application/jsonl"
        | "application/json-lines"
        | "application/x-jsonlines" => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::BadRequest(format!("JSON Lines must be UTF-8: {e}")))?;
            let lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty());
            Ok(from_objects(
                v,
                lines.map(|(i, l)| {
                    (
                        i as u64 + 1,
                        serde_json::from_str(l).map_err(|e| format!("not JSON: {e}")),
                    )
                }),
            ))
        }
        "text/csv" => from_csv(v, charset, body),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "content type {other:?}: send application/json, application/x-ndjson or text/csv"
        ))),
    }
}

/// Validates, joins, stores and appends parsed rows (blocking).
pub fn store_rows(st: &AppState, user: &User, parsed: Parsed) -> Result<IngestResponse, ApiError> {
    let snap = st.snapshot()?;
    let g = &snap.grids;
    let scope = Scope::of(user, &g.model);
    let mut events = Vec::new();
    let mut index = Vec::with_capacity(parsed.len());
    let mut out = IngestResponse {
        read: parsed.len() as u64,
        ..Default::default()
    };
    for (n, id, r) in parsed {
        match r {
            Ok(e) => {
                index.push((n, id, Ok(events.len())));
                events.push(e);
            }
            Err(e) => index.push((n, id, Err(format!("{}: {}", e.column, e.reason)))),
        }
    }
    let xs: Vec<f64> = events.iter().map(|e| e.lon).collect();
    let ys: Vec<f64> = events.iter().map(|e| e.lat).collect();
    let mut hits = g.locator.locate_all(&xs, &ys);
    let code = |u: u32, t: usize| -> Option<&str> {
        let a = *g.tiers.get(u as usize)?.get(t)?;
        (a != crate::join::NONE).then(|| g.model.unit(a as usize).code.as_str())
    };
    let located: Vec<Located<'_>> = events
        .iter()
        .zip(&hits)
        .map(|(e, &(o, u))| Located {
            event: e,
            outcome: o,
            tiers: [code(u, 0), code(u, 1), code(u, 2)],
        })
        .collect();
    let inserted = st.store.insert_events(g.version.id, &located)?;
    for (h, new) in hits.iter_mut().zip(&inserted) {
        if !new {
            h.0 = Outcome::Rejected;
        }
    }
    st.append(joined_frame(&g.model, &g.tiers, &events, &hits)?);
    let rejected = |row, id, reason| RowOutcome {
        row,
        id,
        outcome: "rejected",
        unit: None,
        reason: Some(reason),
    };
    for (n, id, r) in index {
        let row = match r {
            Err(reason) => {
                out.rejected += 1;
                rejected(n, id, reason)
            }
            Ok(k) if !inserted[k] => {
                out.rejected += 1;
                out.duplicates += 1;
                let e = &events[k];
                let reason = format!(
                    "duplicate: ({}, {}) is already stored",
                    e.kind.as_str(),
                    e.id
                );
                rejected(n, id, reason)
            }
            Ok(k) => {
                let o = located[k].outcome;
                match o {
                    Outcome::Matched => out.matched += 1,
                    Outcome::Partial => out.partial += 1,
                    Outcome::Outside => out.outside += 1,
                    Outcome::Rejected => out.rejected += 1,
                }
                let t = located[k].tiers;
                let unit = scope
                    .event(&g.model, t)
                    .then(|| t.iter().rev().flatten().next().map(|s| (*s).to_owned()))
                    .flatten();
                RowOutcome {
                    row: n,
                    id,
                    outcome: o.as_str(),
                    unit,
                    reason: None,
                }
            }
        };
        out.rows.push(row);
    }
    let m = &st.metrics;
    m.ingest_read.fetch_add(out.read, Ordering::Relaxed);
    m.ingest_stored
        .fetch_add(out.matched + out.partial + out.outside, Ordering::Relaxed);
    m.ingest_rejected.fetch_add(out.rejected, Ordering::Relaxed);
    m.ingest_duplicates
        .fetch_add(out.duplicates, Ordering::Relaxed);
    Ok(out)
}

/// The validator of the deployment's coordinate system and zone.
pub fn validator(st: &AppState) -> Validator<'_> {
    let crs = match st.config.ingest.crs.as_str() {
        "gcj02" => Crs::Gcj02,
        "bd09" => Crs::Bd09,
        _ => Crs::Wgs84,
    };
    Validator {
        crs,
        tz: st.zone.tz,
        hasher: &st.hasher,
    }
}

/// Ingests events; the answer lists every row's outcome.
#[utoipa::path(post, path = "/api/v1/events",
    request_body(content = String, description = "JSON array, JSON Lines (application/x-ndjson) or CSV (text/csv; UTF-8 or GBK/GB18030, detected or from the charset parameter) in the CONTRACT.md columns; CSV headers and JSON keys may also be the Chinese names the file readers accept (编号, 类型, 发生时间, 经度, 纬度, 类别, ...)"),
    responses((status = 200, body = IngestResponse), (status = 413, body = super::error::ErrorBody), (status = 415, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn ingest(
    State(st): State<AppState>,
    c: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    st.snapshot()?;
    let st2 = st.clone();
    let out = st
        .blocking(move || {
            let parsed = parse(&validator(&st2), &ct, &body)?;
            store_rows(&st2, c.user(), parsed)
        })
        .await?;
    Ok(Json(out))
}
