//! `/api/v1/export/{events,units,metrics}`: the analyst exports of
//! [`crate::export`] over HTTP, within the caller's scope, streamed.
//! `partition=month,township` on events answers a tar archive
//! (`application/x-tar`) of the hive files `wangge export --partition`
//! writes, produced by the same code one partition at a time.
//!
//! Parameters are checked before the response starts, so a bad format,
//! window or parent answers the usual JSON error. The export then runs on a
//! blocking thread writing into a bounded channel that the response body
//! drains, so memory holds a few chunks, not the file; a failure after the
//! first byte aborts the body (a truncated download, never a file that
//! looks complete). The audit middleware records every call to these paths
//! as `export`. Row-level events are for admins and analysts; units and
//! metric tables for every role, with cells from fewer than
//! [`MIN_CELL`](crate::export::MIN_CELL) events blanked for every role but
//! analyst.

use std::collections::HashSet;
use std::io::{self, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tower_http::services::fs::AsyncReadBody;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::Q;
use super::map::Window;
use super::scope::Scope;
use super::state::{AppState, Snapshot};
use crate::analytics::compute_metrics;
use crate::export::{self, ExportError, Format, NoProgress, Output, Selection, Target, MIN_CELL};
use crate::grid::GridModel;
use crate::store::Role;

/// Bytes per chunk sent to the response body.
const CHUNK: usize = 256 * 1024;
/// Chunks buffered between the export thread and the body.
const DEPTH: usize = 8;

/// Query of the export endpoints.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Tier 0-3 (units: all tiers when absent; metrics: default 1; events: unused).
    pub level: Option<u8>,
    /// Only under this unit.
    pub parent: Option<String>,
    /// First local date included (YYYY-MM-DD, Asia/Shanghai).
    pub from: Option<NaiveDate>,
    /// First local date excluded.
    pub to: Option<NaiveDate>,
    /// Kinds kept, comma-separated: issue, incident, visit.
    pub kind: Option<String>,
    /// Categories kept, comma-separated.
    pub category: Option<String>,
    /// geoparquet (default), csv, geojson or xlsx (Excel: Chinese headers,
    /// local times, a second sheet describing the columns and the query;
    /// at most 1,048,575 rows).
    pub format: Option<String>,
    /// CSV: start with a UTF-8 byte-order mark (Excel).
    pub bom: Option<bool>,
    /// CSV: `zh` for the catalogue's Chinese labels as headers (问题数,
    /// 结案率, 发生时间, ...), `names` (default) for the column names.
    pub headers: Option<String>,
    /// Events: `month,township` answers a tar archive of hive folders
    /// (`month=2026-03/tier1=130682001/part-0.parquet`), one file per local
    /// month and township, each in `format`.
    pub partition: Option<String>,
    /// Metrics only: a count metric (e.g. `issue_count`) whose emerging
    /// hot-spot category over the window, by month (Gi* with space-time
    /// neighbours, 199 permutations, sfdep's rules, as
    /// `/api/v1/hotspots/emerging`), is added to each unit as the columns
    /// `emerging` (`new_hot_spot`, ..., `no_pattern`), `emerging_zh`,
    /// `emerging_tau` and `emerging_p`.
    pub emerging: Option<String>,
}

impl ExportParams {
    fn format(&self) -> Result<Format, ApiError> {
        self.format
            .as_deref()
            .map_or(Ok(Format::Geoparquet), str::parse)
            .map_err(|e: ExportError| ApiError::BadRequest(e.to_string()))
    }

    /// Whether `partition` asks for the hive archive (month and township,
    /// in any order; `tier1` is the township's folder key).
    fn partitioned(&self) -> Result<bool, ApiError> {
        let Some(p) = self.partition.as_deref() else {
            return Ok(false);
        };
        let mut keys: Vec<&str> = p
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| if k == "tier1" { "township" } else { k })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        match keys.as_slice() {
            [] => Ok(false),
            ["month", "township"] => Ok(true),
            _ => Err(ApiError::BadRequest(format!(
                "partition {p:?}: events are partitioned by month,township"
            ))),
        }
    }

    /// Units and metric tables are one file: `partition` is refused.
    fn whole(&self) -> Result<(), ApiError> {
        if self.partitioned()? {
            return Err(ExportError::NotPartitioned.into());
        }
        Ok(())
    }

    /// `emerging` belongs to metric tables: refused elsewhere.
    fn no_emerging(&self) -> Result<(), ApiError> {
        match self.emerging {
            Some(_) => Err(ApiError::BadRequest(
                "emerging: only the metrics export takes it".into(),
            )),
            None => Ok(()),
        }
    }

    /// The count metric `emerging` names, checked.
    fn emerging_metric(&self) -> Result<Option<&'static crate::analytics::MetricDef>, ApiError> {
        let Some(name) = self.emerging.as_deref() else {
            return Ok(None);
        };
        let def = crate::analytics::metric(name)?;
        if !def.is_count {
            return Err(ApiError::BadRequest(format!(
                "emerging {name:?}: emerging hot spots are of a count metric (issue_count, event_count, ...)"
            )));
        }
        Ok(Some(def))
    }

    /// The file name's stem: what was exported and the query's filters
    /// (tier, unit, window, kinds, categories), so that differently
    /// filtered exports never share a name.
    fn stem(&self, name: &str) -> String {
        let clean = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .take(40)
                .collect()
        };
        let mut parts = vec![format!("wangge-{name}")];
        if let Some(l) = self.level {
            parts.push(format!("tier{l}"));
        }
        if let Some(p) = &self.parent {
            parts.push(clean(p));
        }
        match (self.from, self.to) {
            (None, None) => {}
            (f, t) => parts.push(format!(
                "{}_{}",
                f.map_or("start".into(), |d| d.to_string()),
                t.map_or("end".into(), |d| d.to_string())
            )),
        }
        for v in [&self.kind, &self.category].into_iter().flatten() {
            parts.push(clean(v));
        }
        parts.join("-")
    }

    /// Whether `headers` asks for Chinese CSV headers.
    fn zh_headers(&self) -> Result<bool, ApiError> {
        match self.headers.as_deref() {
            None | Some("names") => Ok(false),
            Some("zh") => Ok(true),
            Some(other) => Err(ApiError::BadRequest(format!(
                "headers {other:?}: use names or zh"
            ))),
        }
    }

    /// What was asked, as (name, value) pairs recorded in the file (xlsx
    /// sheet, GeoParquet metadata).
    fn record(&self, what: &str, tz: chrono_tz::Tz) -> Vec<(String, String)> {
        let mut r = vec![("导出 (export)".to_owned(), what.to_owned())];
        let mut add = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                r.push((k.to_owned(), v));
            }
        };
        add("层级 (level)", self.level.map(|l| l.to_string()));
        add("上级单元 (parent)", self.parent.clone());
        add("起始日期 (from)", self.from.map(|d| d.to_string()));
        add("截止日期，不含 (to)", self.to.map(|d| d.to_string()));
        add("类型 (kind)", self.kind.clone());
        add("类别 (category)", self.category.clone());
        add(
            "导出时间 (exported at)",
            Some(
                chrono::Utc::now()
                    .with_timezone(&tz)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string(),
            ),
        );
        r
    }

    fn window(&self) -> Window {
        Window {
            from: self.from,
            to: self.to,
            kind: self.kind.clone(),
            category: self.category.clone(),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        match e {
            ExportError::UnknownUnit { code } => ApiError::no_unit(&code),
            ExportError::UnknownFormat { .. }
            | ExportError::NotPartitioned
            | ExportError::TooManyRows { .. } => ApiError::BadRequest(e.to_string()),
            ExportError::Analytics(a) => a.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Codes of the units a scope shows (`full`) or totals (`!full`); `None` for everything.
fn visible(scope: &Scope, model: &GridModel, full: bool) -> Option<HashSet<String>> {
    if scope.is_all() {
        return None;
    }
    Some(
        (0..model.units().len())
            .filter(|&i| if full { scope.full(i) } else { scope.total(i) })
            .map(|i| model.unit(i).code.clone())
            .collect(),
    )
}

/// The current snapshot and what of it the caller may export under
/// `p.parent`: units they see in `full` (row-level events) or at least as
/// totals (units, metric tables), with cells under `suppress_below` events
/// blanked. A parent out of scope is 404.
fn selection(
    st: &AppState,
    c: &Caller,
    p: &ExportParams,
    full: bool,
    suppress_below: Option<u64>,
) -> Result<(Arc<Snapshot>, Selection), ApiError> {
    let snap = st.snapshot()?;
    let model = &snap.grids.model;
    let scope = Scope::of(c.user(), model);
    if let Some(code) = &p.parent {
        if full {
            scope.unit_full(model, code)?;
        } else {
            scope.unit(model, code)?;
        }
    }
    let sel = Selection {
        parent: p.parent.clone(),
        visible: visible(&scope, model, full),
        suppress_below,
    };
    Ok((snap, sel))
}

/// Events (row level) as points: admins and analysts only. With
/// `partition=month,township`, a tar archive of one file per local month
/// and township in hive folders.
#[utoipa::path(get, path = "/api/v1/export/events", params(ExportParams),
    responses(
        (status = 200, description = "The events in `format`, or with `partition` a tar archive of hive-partitioned files in `format`", content(
            ("application/vnd.apache.parquet"), ("text/csv"), ("application/geo+json"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("application/x-tar"))),
        (status = 400, description = "Bad format, window or partition", body = super::error::ErrorBody),
        (status = 403, description = "Not an admin or analyst", body = super::error::ErrorBody),
        (status = 404, description = "Parent unknown or out of scope", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn events(
    State(st): State<AppState>,
    method: Method,
    c: Caller,
    Q(p): Q<ExportParams>,
) -> Result<Response, ApiError> {
    super::scope::sees_points(c.user(), "only admins and analysts may export events")?;
    p.no_emerging()?;
    let (format, query, partitioned) = (p.format()?, p.window().query(&st)?, p.partitioned()?);
    let (snap, sel) = selection(&st, &c, &p, true, None)?;
    let download = if partitioned {
        Download::archive(&p.stem("events"))
    } else {
        Download::file(&p.stem("events"), format)
    };
    if method == Method::HEAD {
        return Ok(download.head());
    }
    // The rows are gathered (pseudonyms read, case times put back) before
    // the download starts, so a failure is an error response rather than a
    // cut-off file; a sheet's row limit is known then too.
    let (s2, store, q2, sel2) = (snap.clone(), st.store.clone(), query.clone(), sel.clone());
    let frame = st
        .blocking(move || Ok(export::events::selected(&s2, &store, &q2, &sel2)?))
        .await?;
    if format == Format::Xlsx && frame.height() as u64 > export::xlsx::MAX_ROWS {
        return Err(ExportError::TooManyRows {
            rows: frame.height() as u64,
            max: export::xlsx::MAX_ROWS,
        }
        .into());
    }
    let bom = p.bom.unwrap_or(false);
    let zh = p.zh_headers()?;
    let record = p.record("events", st.zone.tz);
    Ok(stream(download, move |w| {
        let lf = polars::prelude::IntoLazy::lazy(frame);
        let model = &snap.grids.model;
        let target = if partitioned {
            Target::Archive(w)
        } else {
            Target::Stream(w)
        };
        let out = output(format, bom, target, st.zone.tz, record, zh);
        export::events::export(lf, model, &query, &sel, out, &NoProgress)
    }))
}

/// Units as polygons with attributes, those the caller sees.
#[utoipa::path(get, path = "/api/v1/export/units", params(ExportParams),
    responses(
        (status = 200, description = "The units in `format`", content(
            ("application/vnd.apache.parquet"), ("text/csv"), ("application/geo+json"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 400, description = "Bad format, or `partition` (units are one file)", body = super::error::ErrorBody),
        (status = 404, description = "Parent unknown or out of scope", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn units(
    State(st): State<AppState>,
    method: Method,
    c: Caller,
    Q(p): Q<ExportParams>,
) -> Result<Response, ApiError> {
    p.whole()?;
    p.no_emerging()?;
    let format = p.format()?;
    let (snap, sel) = selection(&st, &c, &p, false, None)?;
    if method == Method::HEAD {
        return Ok(Download::file(&p.stem("units"), format).head());
    }
    let (level, bom) = (p.level, p.bom.unwrap_or(false));
    let (tz, record, zh) = (st.zone.tz, p.record("units", st.zone.tz), p.zh_headers()?);
    Ok(stream(Download::file(&p.stem("units"), format), move |w| {
        let model = &snap.grids.model;
        let out = output(format, bom, Target::Stream(w), tz, record, zh);
        export::units::export(model, level, &sel, out, &NoProgress)
    }))
}

/// Every metric of the visible units of a tier, with polygons; small cells
/// blanked for every role but analyst.
#[utoipa::path(get, path = "/api/v1/export/metrics", operation_id = "export_metrics", params(ExportParams),
    responses(
        (status = 200, description = "The metric table in `format`", content(
            ("application/vnd.apache.parquet"), ("text/csv"), ("application/geo+json"), ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 400, description = "Bad format, level, window, or `partition` (metric tables are one file)", body = super::error::ErrorBody),
        (status = 404, description = "Parent unknown or out of scope", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn metrics(
    State(st): State<AppState>,
    method: Method,
    c: Caller,
    Q(p): Q<ExportParams>,
) -> Result<Response, ApiError> {
    p.whole()?;
    let (format, query) = (p.format()?, p.window().query(&st)?);
    let emerging = p.emerging_metric()?;
    let small = (c.user().role != Role::Analyst).then_some(MIN_CELL);
    let (snap, sel) = selection(&st, &c, &p, false, small)?;
    if method == Method::HEAD {
        return Ok(Download::file(&p.stem("metrics"), format).head());
    }
    let (level, bom) = (p.level.unwrap_or(1), p.bom.unwrap_or(false));
    let (tz, record, zh) = (st.zone.tz, p.record("metrics", st.zone.tz), p.zh_headers()?);
    let (table, categories) = {
        let (snap, st2, parent) = (snap.clone(), st.clone(), p.parent.clone());
        st.blocking(move || {
            let model = &snap.grids.model;
            let mut table = compute_metrics(&snap.pre, model, level, &query)?;
            // Units seen only as totals, as the map and KPIs show them.
            let scope = Scope::of(c.user(), model);
            super::disclosure::withhold(&mut table, &scope);
            let categories = emerging
                .map(|def| {
                    super::emerging::export_columns(
                        &st2,
                        &snap,
                        c.user(),
                        level,
                        parent.as_deref(),
                        def,
                        &query,
                    )
                })
                .transpose()?;
            Ok((table, categories))
        })
        .await?
    };
    Ok(stream(
        Download::file(&p.stem("metrics"), format),
        move |w| {
            let model = &snap.grids.model;
            let out = output(format, bom, Target::Stream(w), tz, record, zh);
            export::metrics::export(&table, model, &sel, categories.as_ref(), out, &NoProgress)
        },
    ))
}

fn output(
    format: Format,
    bom: bool,
    target: Target<'static>,
    tz: chrono_tz::Tz,
    query: Vec<(String, String)>,
    zh_headers: bool,
) -> Output<'static> {
    Output {
        format,
        bom,
        target,
        tz,
        query,
        zh_headers,
    }
}

/// Content type and file name of a download.
struct Download {
    content_type: &'static str,
    filename: String,
}

impl Download {
    /// One file of `format`, named `stem`.
    fn file(stem: &str, format: Format) -> Self {
        Download {
            content_type: format.content_type(),
            filename: format!("{stem}.{}", format.extension()),
        }
    }

    /// The headers a GET would send, for a HEAD: checked like the GET
    /// (role, parameters, scope), but nothing is computed or written.
    fn head(&self) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.content_type.to_owned()),
                (header::CONTENT_DISPOSITION, self.disposition()),
            ],
            Body::empty(),
        )
            .into_response()
    }

    /// `filename` in ASCII (other characters as `_`) for old clients and
    /// `filename*` in UTF-8 (RFC 6266) with the Chinese names kept.
    fn disposition(&self) -> String {
        let ascii: String = self
            .filename
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let utf8: String = self
            .filename
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{utf8}")
    }

    /// A tar archive of partition files, named `stem`.
    fn archive(stem: &str) -> Self {
        Download {
            content_type: "application/x-tar",
            filename: format!("{stem}.tar"),
        }
    }
}

/// A response whose body `run` writes on a blocking thread.
fn stream<F>(download: Download, run: F) -> Response
where
    F: FnOnce(Box<dyn Write + Send>) -> Result<export::Summary, ExportError> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(DEPTH);
    let writer = ChannelWriter {
        tx: tx.clone(),
        buf: Vec::with_capacity(CHUNK),
    };
    tokio::task::spawn_blocking(move || {
        if let Err(e) = run(Box::new(writer)) {
            tracing::error!(error = %e, "export failed while streaming");
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    let body = Body::new(AsyncReadBody::with_capacity(
        ChannelReader {
            rx,
            cur: Bytes::new(),
        },
        CHUNK,
    ));
    let disposition = download.disposition();
    (
        [
            (header::CONTENT_TYPE, download.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// The export thread's end of the channel: buffers, sends full chunks.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    /// Takes at most what fills the current chunk, so no chunk outgrows
    /// [`CHUNK`] however large the slice (an archive entry is one slice).
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

/// The body's end of the channel, read as bytes.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.cur.is_empty() {
                let n = self.cur.len().min(buf.remaining());
                let head = self.cur.split_to(n);
                buf.put_slice(&head);
                return Poll::Ready(Ok(()));
            }
            match std::task::ready!(self.rx.poll_recv(cx)) {
                Some(Ok(chunk)) => self.cur = chunk,
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More rows than a sheet holds is the caller's to narrow: a 400 that
    /// says so, not an internal error.
    #[test]
    fn a_workbook_too_long_for_a_sheet_is_a_bad_request() {
        let e: ApiError = ExportError::TooManyRows {
            rows: 2_000_000,
            max: export::xlsx::MAX_ROWS,
        }
        .into();
        assert_eq!(e.status_code().0, axum::http::StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains("2000000 rows"), "{e}");
    }
}
