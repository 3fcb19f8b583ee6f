//! `POST /api/v1/events`: a JSON array, JSON Lines or CSV body of events in
//! the CONTRACT.md columns, validated, joined and stored in one transaction.
//!
//! A (kind, id) already stored is a re-sent version of the case: `updated`
//! when newer (by `updated_at`, or a forward move in the lifecycle without
//! it), `unchanged` when identical (a client may re-send a batch whose
//! acknowledgement it lost), `stale` when older, `rejected` on a conflict.
//! `POST /api/v1/updates` takes transition rows the same way. The response is sent after the commit, so an
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
use super::state::Grids;
use crate::ingest::crs::Crs;
use crate::ingest::encoding::{decode, TextEncoding};
use crate::ingest::{column_of, REQUIRED};
use crate::ingest::{Col, Event, Field, Kind, ParsedSteps, RowError, Validator, FIELDS};
use crate::join::{joined_frame, unit_codes, Outcome};
use crate::store::{Applied, Located, Stored, User};

/// One row's fate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowOutcome {
    /// 1-based row (data line for CSV and JSON Lines, element for arrays).
    pub row: u64,
    pub id: Option<String>,
    /// matched, partial, outside (new rows), updated, unchanged, stale, pending or rejected.
    pub outcome: &'static str,
    /// Deepest unit holding the event, when in the caller's scope.
    pub unit: Option<String>,
    /// Why a row was rejected.
    pub reason: Option<String>,
}

/// Counts add up: read = matched + partial + outside + updated + unchanged
/// + stale + pending + rejected.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    pub read: u64,
    /// New events inside a grid.
    pub matched: u64,
    pub partial: u64,
    pub outside: u64,
    /// Rows that changed a stored case.
    pub updated: u64,
    /// The same version again: nothing counted twice.
    pub unchanged: u64,
    /// Older than the stored case: kept in its history, the case unchanged.
    pub stale: u64,
    /// Updates for cases not received yet, applied when they arrive.
    pub pending: u64,
    pub rejected: u64,
    /// Of `rejected`, conflicts with a stored version.
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
            let mut map: [Option<&serde_json::Value>; FIELDS.len()] = [None; FIELDS.len()];
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
    let mut map: [Option<usize>; FIELDS.len()] = [None; FIELDS.len()];
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

/// Parses a body by its content type.
pub fn parse(v: &Validator<'_>, content_type: &str, body: &[u8]) -> Result<Parsed, ApiError> {
    let (ct, charset) = media_type(content_type);
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

/// Outcome and tier codes of every position (the one place the API
/// locates events).
fn locate_all(g: &Grids, xs: &[f64], ys: &[f64]) -> Vec<(Outcome, u32)> {
    g.locator.locate_all(xs, ys)
}

/// The tier codes of a located unit.
fn codes(g: &Grids, u: u32) -> [Option<&str>; 3] {
    unit_codes(&g.model, &g.tiers, u)
}

/// Locates one position, for a case whose position an update moved.
fn locate_one(g: &Grids, x: f64, y: f64) -> (Outcome, [Option<String>; 3]) {
    crate::store::locate_one(&g.model, &g.locator, &g.tiers, x, y)
}

/// Queues the current rows of new and changed cases for the frame.
fn to_frame(st: &AppState, g: &Grids, applied: &[Applied]) -> Result<(), ApiError> {
    let (mut new, mut changed) = (Vec::new(), Vec::new());
    for a in applied {
        match (&a.stored, &a.current) {
            (Stored::New, Some(e)) => new.push(e.clone()),
            (_, Some(e)) => changed.push(e.clone()),
            _ => {}
        }
    }
    for (events, is_new) in [(new, true), (changed, false)] {
        if events.is_empty() {
            continue;
        }
        let xs: Vec<f64> = events.iter().map(|e| e.lon).collect();
        let ys: Vec<f64> = events.iter().map(|e| e.lat).collect();
        let hits = locate_all(g, &xs, &ys);
        let df = joined_frame(&g.model, &g.tiers, &events, &hits)?;
        if is_new {
            st.append(df);
        } else {
            st.replace(df);
        }
    }
    Ok(())
}

fn count(out: &mut IngestResponse, stored: &Stored) {
    match stored {
        Stored::Updated => out.updated += 1,
        Stored::Unchanged => out.unchanged += 1,
        Stored::Stale => out.stale += 1,
        Stored::Pending => out.pending += 1,
        Stored::Conflict(_) => out.rejected += 1,
        Stored::New => {}
    }
}

/// Validates, joins, stores and appends parsed rows (blocking): the one
/// pipeline of `POST /api/v1/events` and Open311 `POST requests`.
pub fn store_rows(st: &AppState, user: &User, parsed: Parsed) -> Result<IngestResponse, ApiError> {
    let snap = st.snapshot()?;
    let g = &snap.grids;
    let scope = Scope::writer(user, &g.model, st.config.auth.chief_writes)?;
    let mut out = IngestResponse {
        read: parsed.len() as u64,
        ..Default::default()
    };
    let (mut valid, mut rows) = (Vec::new(), Vec::with_capacity(parsed.len()));
    for (n, id, r) in parsed {
        match r {
            Ok(e) => {
                rows.push((n, id, Ok(valid.len())));
                valid.push(e);
            }
            Err(e) => rows.push((n, id, Err(format!("{}: {}", e.column, e.reason)))),
        }
    }
    let xs: Vec<f64> = valid.iter().map(|e| e.lon).collect();
    let ys: Vec<f64> = valid.iter().map(|e| e.lat).collect();
    let all_hits = locate_all(g, &xs, &ys);
    // A row lands only inside the writer's units, and changes a stored case
    // only when that case lies inside them too.
    let allowed: Vec<bool> = if scope.is_all() {
        vec![true; valid.len()]
    } else {
        let keys: Vec<(Kind, &str)> = valid.iter().map(|e| (e.kind, e.id.as_str())).collect();
        let stored = st.store.stored_tiers(&keys)?;
        (0..valid.len())
            .map(|k| {
                let there = stored[k]
                    .as_ref()
                    .map(|t| t.each_ref().map(|c| c.as_deref()));
                scope.writes(&g.model, codes(g, all_hits[k].1))
                    && there.is_none_or(|t| scope.writes(&g.model, t))
            })
            .collect()
    };
    let (mut events, mut hits, mut index) = (Vec::new(), Vec::new(), Vec::new());
    let mut valid: Vec<Option<Event>> = valid.into_iter().map(Some).collect();
    for (n, id, r) in rows {
        index.push(match r {
            Ok(k) if allowed[k] => {
                events.push(valid[k].take().unwrap_or_else(|| unreachable!()));
                hits.push(all_hits[k]);
                (n, id, Ok(events.len() - 1))
            }
            Ok(_) => (n, id, Err(super::scope::NOT_YOURS.to_owned())),
            Err(e) => (n, id, Err(e)),
        });
    }
    let located: Vec<Located<'_>> = events
        .iter()
        .zip(&hits)
        .map(|(e, &(o, u))| Located {
            event: e,
            outcome: o,
            tiers: codes(g, u),
        })
        .collect();
    let applied = st.store.apply_events(
        g.version.id,
        &located,
        &|x, y| locate_one(g, x, y),
        &format!("user:{}", user.name),
    )?;
    to_frame(st, g, &applied)?;
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
            Ok(k) => {
                let a = &applied[k];
                let o = match a.stored {
                    Stored::New => located[k].outcome,
                    _ => {
                        count(&mut out, &a.stored);
                        if let Stored::Conflict(reason) = &a.stored {
                            out.duplicates += 1;
                            out.rows.push(rejected(n, id, reason.clone()));
                            continue;
                        }
                        out.rows.push(RowOutcome {
                            row: n,
                            id,
                            outcome: a.stored.as_str(),
                            unit: None,
                            reason: None,
                        });
                        continue;
                    }
                };
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

/// Stores parsed transition rows (blocking): the pipeline of
/// `POST /api/v1/updates` and Open311 `POST servicerequestupdates`.
pub fn store_updates(
    st: &AppState,
    user: &User,
    parsed: ParsedSteps,
) -> Result<IngestResponse, ApiError> {
    let snap = st.snapshot()?;
    let g = &snap.grids;
    let scope = Scope::writer(user, &g.model, st.config.auth.chief_writes)?;
    let mut out = IngestResponse {
        read: parsed.len() as u64,
        ..Default::default()
    };
    let valid: Vec<&crate::ingest::Step> = parsed
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok())
        .collect();
    // A step moves a case only inside the writer's units (also where it
    // moves it to); a step for a case not stored yet waits only when the
    // writer writes everywhere, so nobody can prepare a case they do not own.
    let allowed: Vec<bool> = if scope.is_all() {
        vec![true; valid.len()]
    } else {
        let keys: Vec<(Kind, &str)> = valid
            .iter()
            .map(|s| (Kind::Issue, s.issue_id.as_str()))
            .collect();
        let stored = st.store.stored_tiers(&keys)?;
        valid
            .iter()
            .zip(&stored)
            .map(|(s, t)| {
                let Some(t) = t else { return false };
                let moved_to = match (s.lon, s.lat) {
                    (Some(x), Some(y)) => Some(locate_one(g, x, y).1),
                    _ => None,
                };
                scope.writes(&g.model, t.each_ref().map(|c| c.as_deref()))
                    && moved_to
                        .is_none_or(|m| scope.writes(&g.model, m.each_ref().map(|c| c.as_deref())))
            })
            .collect()
    };
    let mut steps = Vec::new();
    let mut index = Vec::with_capacity(parsed.len());
    let mut k = 0;
    for (n, id, r) in parsed {
        match r {
            Ok(s) => {
                k += 1;
                if allowed[k - 1] {
                    index.push((n, id, Ok(steps.len())));
                    steps.push(s);
                } else {
                    index.push((n, id, Err(super::scope::NOT_YOURS.to_owned())));
                }
            }
            Err(e) => index.push((n, id, Err(format!("{}: {}", e.column, e.reason)))),
        }
    }
    let applied = st
        .store
        .apply_updates(g.version.id, &steps, &|x, y| locate_one(g, x, y))?;
    to_frame(st, g, &applied)?;
    for (n, id, r) in index {
        let (outcome, reason) = match r {
            Err(reason) => {
                out.rejected += 1;
                ("rejected", Some(reason))
            }
            Ok(k) => {
                let a = &applied[k].stored;
                count(&mut out, a);
                let reason = match a {
                    Stored::Conflict(r) => Some(r.clone()),
                    Stored::Pending => {
                        Some("the case is not stored yet; applied when it arrives".into())
                    }
                    _ => None,
                };
                (a.as_str(), reason)
            }
        };
        out.rows.push(RowOutcome {
            row: n,
            id,
            outcome,
            unit: None,
            reason,
        });
    }
    st.metrics
        .updates_read
        .fetch_add(out.read, Ordering::Relaxed);
    Ok(out)
}

/// The validator of the deployment's coordinate system and zone.
pub fn validator(st: &AppState) -> Validator<'_> {
    // Checked when the configuration was loaded (`Config::load`).
    let crs = st.config.ingest.crs.parse().unwrap_or(Crs::Wgs84);
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

/// Parses a body of transition rows (JSON array or object, JSON Lines or
/// CSV in UTF-8/GBK), keys and headers by contract name or Chinese alias.
pub fn parse_updates(
    v: &Validator<'_>,
    content_type: &str,
    body: &[u8],
) -> Result<ParsedSteps, ApiError> {
    let (ct, charset) = media_type(content_type);
    match ct.as_str() {
        "application/json" | "" => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::BadRequest(format!("body is not JSON: {e}")))?;
            if !(value.is_array() || value.is_object()) {
                return Err(ApiError::BadRequest(
                    "expected a JSON array of update objects".into(),
                ));
            }
            Ok(v.updates_from_json(value))
        }
        "application/x-ndjson"
        | "application/jsonl"
        | "application/json-lines"
        | "application/x-jsonlines" => {
            let text = std::str::from_utf8(body)
                .map_err(|e| ApiError::BadRequest(format!("JSON Lines must be UTF-8: {e}")))?;
            Ok(v.updates_from_json_lines(text))
        }
        "text/csv" => {
            let declared = charset
                .map(|c| c.parse::<TextEncoding>())
                .transpose()
                .map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
            let (text, _) = decode(body, declared)
                .map_err(|e| ApiError::BadRequest(format!("CSV body: {e}")))?;
            v.updates_from_csv(&text).map_err(ApiError::BadRequest)
        }
        other => Err(ApiError::UnsupportedMediaType(format!(
            "content type {other:?}: send application/json, application/x-ndjson or text/csv"
        ))),
    }
}

/// Ingests transition rows (case updates); the answer lists every row's outcome.
#[utoipa::path(post, path = "/api/v1/updates",
    request_body(content = String, description = "JSON array, JSON Lines or CSV of transition rows: issue_id, update_id, at, status (any lifecycle word, English or Chinese), optional deadline, satisfaction, solved, category, lon, lat, to_unit, note (hashed, never stored in clear)"),
    responses((status = 200, body = IngestResponse), (status = 413, body = super::error::ErrorBody), (status = 415, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn updates(
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
            let parsed = parse_updates(&validator(&st2), &ct, &body)?;
            store_updates(&st2, c.user(), parsed)
        })
        .await?;
    Ok(Json(out))
}
