//! `POST /api/v1/events` and `POST /api/v1/updates`: a JSON array, JSON
//! Lines or CSV body in the CONTRACT.md columns, through the live engine's
//! one ingest pipeline ([`crate::live::Pipeline`]) in one transaction.
//!
//! A (kind, id) already stored is a re-sent version of the case: `updated`
//! when newer (by `updated_at`, or a forward move in the lifecycle without
//! it), `unchanged` when identical (a client may re-send a batch whose
//! acknowledgement it lost), `stale` when older, `rejected` on a conflict.
//! The response is sent after the commit, so an acknowledged batch is
//! durable. Rows outside the writer's units are rejected with one reason
//! that tells nothing of what is stored there.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{Body, Q};
use super::scope::Scope;
use super::state::AppState;
use crate::ingest::ParsedSteps;
use crate::live::Writer;
pub use crate::live::{parse_events, parse_updates, IngestResponse, Parsed, UnusedValues};
use crate::store::User;

/// The writer's scope over the served grids (403 for roles that do not
/// write) and the name recorded with what it stores.
fn writer(st: &AppState, user: &User) -> Result<(Scope, String), ApiError> {
    let snap = st.snapshot()?;
    let scope = Scope::writer(user, &snap.grids.model, st.config.auth.chief_writes)?;
    Ok((scope, format!("user:{}", user.name)))
}

/// The user as a writer: its name and source system.
fn as_writer<'a>(user: &'a User, name: &'a str) -> Writer<'a> {
    Writer {
        name,
        system: &user.system,
    }
}

/// Stores parsed events of `user` (blocking): `POST /api/v1/events` and
/// Open311 `POST requests`; with `suggest`, new issues get their possible
/// duplicates.
pub fn store_rows(
    st: &AppState,
    user: &User,
    parsed: Parsed,
    suggest: bool,
) -> Result<IngestResponse, ApiError> {
    let (scope, who) = writer(st, user)?;
    Ok(st
        .live
        .ingest_events(&scope, as_writer(user, &who), parsed, suggest)?)
}

/// Stores parsed transition rows of `user` (blocking): `POST
/// /api/v1/updates` and Open311 `POST servicerequestupdates`.
pub fn store_updates(
    st: &AppState,
    user: &User,
    parsed: ParsedSteps,
) -> Result<IngestResponse, ApiError> {
    let (scope, who) = writer(st, user)?;
    Ok(st
        .live
        .ingest_steps(&scope, as_writer(user, &who), parsed)?)
}

/// Options of an event upload.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestQuery {
    /// `true`: each new issue's row lists the open issues of the same
    /// category within 250 m in the writer's units (`duplicates`, nearest
    /// first, at most five): possible duplicates of the report.
    pub duplicates: Option<bool>,
}

/// Ingests events; the answer lists every row's outcome.
#[utoipa::path(post, path = "/api/v1/events", params(IngestQuery),
    request_body(content = String, description = "JSON array, JSON Lines (application/x-ndjson) or CSV (text/csv; UTF-8 or GBK/GB18030, detected or from the charset parameter) in the CONTRACT.md columns; CSV headers and JSON keys may also be the Chinese names the file readers accept (编号, 类型, 发生时间, 经度, 纬度, 类别, ...)"),
    responses((status = 200, body = IngestResponse), (status = 413, body = super::error::ErrorBody), (status = 415, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn ingest(
    State(st): State<AppState>,
    c: Caller,
    Q(q): Q<IngestQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let suggest = q.duplicates.unwrap_or(false);
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    st.snapshot()?;
    let st2 = st.clone();
    let out = st
        .blocking(move || {
            let v = st2.live.validator();
            let parsed = parse_events(&v, &ct, &body)?;
            let mut out = store_rows(&st2, c.user(), parsed.rows, suggest)?;
            out.unread_columns = parsed.unread;
            out.unused_values = UnusedValues::of(&v.unused);
            Ok(out)
        })
        .await?;
    Ok(Json(out))
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
            let parsed = parse_updates(&st2.live.validator(), &ct, &body)?;
            let mut out = store_updates(&st2, c.user(), parsed.rows)?;
            out.unread_columns = parsed.unread;
            Ok(out)
        })
        .await?;
    Ok(Json(out))
}
