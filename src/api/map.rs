//! Map values, KPIs, the catalogue and the analyst's export.
//!
//! Map responses are cached as bytes with an ETag, keyed by the snapshot
//! generation, the caller's scope and the query, so the common case (the
//! same month for the same county) is one hash lookup and a memcpy, and a
//! client that already has the bytes gets 304.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{MatchedPath, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::disclosure::shows_figures;
use super::error::ApiError;
use super::extract::{IfNoneMatch, P, Q};
use super::scope::Scope;
use super::state::{AppState, Cached, Snapshot};
use crate::analytics::{
    catalogue, compute_metrics, jenks_breaks, metric, metric_values, quantile_breaks, Change,
    MetricDef, Query,
};
use crate::store::Role;

/// Window and filters shared by the analytics endpoints.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Window {
    /// First local date included (YYYY-MM-DD, Asia/Shanghai).
    #[serde(default, deserialize_with = "window_date::from")]
    pub from: Option<NaiveDate>,
    /// First local date excluded.
    #[serde(default, deserialize_with = "window_date::to")]
    pub to: Option<NaiveDate>,
    /// Kinds kept, comma-separated: issue, incident, visit.
    pub kind: Option<String>,
    /// Categories kept, comma-separated.
    pub category: Option<String>,
}

/// The window's dates, read with their parameter's name in the error: the
/// window is flattened into each route's query, where the name of a field
/// that fails is otherwise lost.
mod window_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer};

    fn named<'de, D: Deserializer<'de>>(d: D, name: &str) -> Result<Option<NaiveDate>, D::Error> {
        let Some(text) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(Some)
            .map_err(|e| {
                serde::de::Error::custom(format!("{name}: not a date (YYYY-MM-DD): {text:?}, {e}"))
            })
    }

    pub fn from<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        named(d, "from")
    }

    pub fn to<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        named(d, "to")
    }
}

/// The values of a comma-separated query parameter, trimmed, empty ones dropped.
pub(super) fn list(s: &Option<String>) -> Vec<String> {
    s.as_deref()
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

impl Window {
    pub fn query(&self, st: &AppState) -> Result<Query, ApiError> {
        let kinds = list(&self.kind);
        if let Some(k) = kinds
            .iter()
            .find(|k| !crate::vocab::KINDS.contains(&k.as_str()))
        {
            return Err(ApiError::BadRequest(format!(
                "unknown kind {k:?}; use issue, incident or visit"
            )));
        }
        let q = Query {
            from: self.from,
            to: self.to,
            kinds,
            categories: list(&self.category),
            sources: Vec::new(),
            zone: st.zone,
        };
        q.validate()?;
        Ok(q.elapsed(st.zone.today()))
    }
}

/// A catalogue entry as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MetricDto {
    pub name: &'static str,
    pub label_zh: &'static str,
    pub label_en: &'static str,
    /// count, per_km2, per1000_households, ratio, hours, ...
    #[schema(value_type = String)]
    pub unit: crate::analytics::MetricUnit,
    /// higher_is_better, higher_is_worse or neutral.
    #[schema(value_type = String)]
    pub direction: crate::analytics::Direction,
    pub kinds: &'static [&'static str],
}

pub fn dto(m: &'static MetricDef) -> MetricDto {
    MetricDto {
        name: m.name,
        label_zh: m.zh,
        label_en: m.en,
        unit: m.unit,
        direction: m.direction,
        kinds: m.kinds,
    }
}

/// Every metric the service computes.
#[utoipa::path(get, path = "/api/v1/catalogue", responses((status = 200, body = [MetricDto])), security(("bearer" = [])))]
pub async fn get_catalogue(_c: Caller) -> Json<Vec<MetricDto>> {
    Json(catalogue().iter().map(dto).collect())
}

/// A category of one kind, with its events the caller may see row by row.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CategoryDto {
    /// issue, incident or visit.
    pub kind: String,
    pub category: String,
    /// Events of all time in the caller's units.
    pub events: u64,
}

/// The basemap drawn under the units (`[map] basemap`), when one is set.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BasemapDto {
    /// Raster tile URL templates ({z}/{x}/{y}, 256 px).
    pub tiles: Vec<String>,
    pub attribution: String,
}

/// The configured basemap, or null: the map then asks no other server.
#[utoipa::path(get, path = "/api/v1/basemap", responses((status = 200, body = Option<BasemapDto>)), security(("bearer" = [])))]
pub async fn basemap(State(st): State<AppState>, _c: Caller) -> Json<Option<BasemapDto>> {
    let m = &st.config.map;
    Json((!m.basemap.trim().is_empty()).then(|| BasemapDto {
        tiles: vec![m.basemap.trim().to_owned()],
        attribution: m.basemap_attribution.clone(),
    }))
}

/// The categories of every kind found among the events in the caller's
/// units (the category filter's choices): kinds in name order, categories
/// most frequent first. A category seen only in other units is not listed.
#[utoipa::path(get, path = "/api/v1/categories", responses((status = 200, body = [CategoryDto])), security(("bearer" = [])))]
pub async fn categories(
    State(st): State<AppState>,
    c: Caller,
) -> Result<Json<Vec<CategoryDto>>, ApiError> {
    let list = visible_categories(&st, c).await?;
    Ok(Json(
        list.into_iter()
            .map(|x| CategoryDto {
                kind: x.kind,
                category: x.category,
                events: x.events,
            })
            .collect(),
    ))
}

/// [`crate::analytics::PreAgg::categories`] of the events `c` may see,
/// every acknowledged event included (a category just ingested is offered
/// at once).
pub async fn visible_categories(
    st: &AppState,
    c: Caller,
) -> Result<Vec<crate::analytics::CategoryCount>, ApiError> {
    st.on_current(move |snap| {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        Ok(snap.pre.categories(&|t| {
            scope.event(model, [t[0].as_deref(), t[1].as_deref(), t[2].as_deref()])
        })?)
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MapQuery {
    /// Tier 0-3.
    pub level: u8,
    /// Catalogue metric name.
    pub metric: String,
    /// Only units under this one.
    pub parent: Option<String>,
    /// `columns`: `codes` and `values` as two parallel arrays, without
    /// names and without the `no_data` list (null values are the units
    /// without data; a third of the bytes at 50,000 grids; the map takes
    /// names from the unit list). Default: `values` as `{code, name,
    /// value}` and `no_data`.
    pub shape: Option<String>,
    /// With `shape=columns`: the `codes_tag` of a code list the client
    /// holds. When the answer's codes are that list, `codes` is left out
    /// (the same 50,000 codes are not sent again at every recolour).
    pub codes_tag: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub window: Window,
}

/// The values of `def` on tier `level` over `window`, for the units under
/// `parent` the caller sees: a unit seen only as a total shows no value
/// that subtraction from its parts would reveal. The map and the OGC API's
/// items both serve these.
#[allow(clippy::too_many_arguments)]
pub(super) fn scoped_values(
    st: &AppState,
    snap: &Snapshot,
    c: &Caller,
    level: u8,
    parent: Option<&str>,
    def: &MetricDef,
    window: &Window,
) -> Result<Vec<(usize, Option<f64>)>, ApiError> {
    let query = window.query(st)?;
    let model = &snap.grids.model;
    let scope = Scope::of(c.user(), model);
    let parent = scope.parent(model, parent)?;
    let values = metric_values(&snap.pre, model, level, &query, def)?;
    let mut rows: Vec<(usize, Option<f64>)> = values
        .into_iter()
        .filter(|(i, _)| scope.total(*i) && model.is_under(*i, parent))
        .collect();
    for (i, v) in rows.iter_mut() {
        if !shows_figures(&scope, *i) {
            *v = None;
        }
    }
    Ok(rows)
}

/// Legend breaks of the map values (class upper bounds).
#[derive(Serialize)]
struct Breaks {
    quantile: Vec<f64>,
    jenks: Vec<f64>,
}

/// `/map?shape=columns`: a unit without data is a null in `values` (no
/// `no_data` list: at 50,000 grids that list of codes was larger than the
/// values for a rate few grids have).
#[derive(Serialize)]
struct ColumnsBody<'a> {
    metric: MetricDto,
    breaks: Breaks,
    /// Absent when the client holds the list (`codes_tag`).
    #[serde(skip_serializing_if = "Option::is_none")]
    codes: Option<Vec<&'a str>>,
    codes_tag: String,
    values: Vec<Option<f64>>,
}

fn map_body(st: &AppState, c: &Caller, q: &MapQuery) -> Result<Vec<u8>, ApiError> {
    let def = metric(&q.metric)?;
    let columns = match q.shape.as_deref() {
        None | Some("rows") => false,
        Some("columns") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "shape={other:?}: rows (default) or columns"
            )))
        }
    };
    let snap = st.snapshot()?;
    let rows = scoped_values(st, &snap, c, q.level, q.parent.as_deref(), def, &q.window)?;
    let model = &snap.grids.model;
    let mut sorted: Vec<f64> = rows
        .iter()
        .filter_map(|(_, v)| *v)
        .filter(|v| v.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    let breaks = Breaks {
        quantile: quantile_breaks(&sorted, 5),
        jenks: jenks_breaks(&sorted, 5),
    };
    // Serialised straight from these structs: a JSON tree of 50,000 values
    // first cost as much as the metric itself.
    if columns {
        let codes: Vec<&str> = rows
            .iter()
            .map(|(i, _)| model.unit(*i).code.as_str())
            .collect();
        let values: Vec<Option<f64>> = rows.iter().map(|(_, v)| *v).collect();
        // The list's tag: its SHA-256 (codes joined by newlines), 16 hex digits.
        let mut h = Sha256::new();
        for c in &codes {
            h.update(c.as_bytes());
            h.update(b"\n");
        }
        let tag = hex::encode(&h.finalize()[..8]);
        let held = q.codes_tag.as_deref() == Some(tag.as_str());
        let body = ColumnsBody {
            metric: dto(def),
            breaks,
            codes: (!held).then_some(codes),
            codes_tag: tag,
            values,
        };
        return serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()));
    }
    let no_data: Vec<&str> = rows
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(i, _)| model.unit(*i).code.as_str())
        .collect();
    let values: Vec<_> = rows
        .iter()
        .map(|(i, v)| {
            let u = model.unit(*i);
            json!({"code": u.code, "name": u.name, "value": v})
        })
        .collect();
    let body = json!({
        "metric": dto(def),
        "breaks": breaks,
        "no_data": no_data,
        "values": values,
    });
    serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Per-unit values of a metric for a tier, with legend breaks.
#[utoipa::path(get, path = "/api/v1/map", params(MapQuery, Window),
    responses((status = 200, description = "{metric, values, breaks, no_data}"), (status = 304), (status = 400, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn map(
    State(st): State<AppState>,
    c: Caller,
    uri: Uri,
    route: MatchedPath,
    Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let snap = st.snapshot()?;
    let scope_key = if c.user().role == Role::Admin {
        "*".to_owned()
    } else {
        format!("{}:{}", c.user().role.as_str(), c.user().scopes.join(","))
    };
    let key = format!(
        "{}|{}|{}",
        snap.generation,
        scope_key,
        uri.query().unwrap_or("")
    );
    let hit = st
        .cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned();
    let cached = match hit {
        Some(c) => {
            st.metrics.cache_hits.fetch_add(1, Ordering::Relaxed);
            c
        }
        None => {
            st.metrics.cache_misses.fetch_add(1, Ordering::Relaxed);
            // Parsed only on a miss: a hit is keyed by the query's text
            // (and a query refused here is never kept).
            super::extract::check_query(&doc, &axum::http::Method::GET, &route, uri.query())?;
            let q: MapQuery = super::extract::parse_query(uri.query())?;
            super::extract::check_level(q.level)?;
            let st2 = st.clone();
            let body = st.blocking(move || map_body(&st2, &c, &q)).await?;
            let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&body))[..32]);
            let etag = HeaderValue::try_from(etag)
                .map_err(|e| ApiError::Internal(format!("entity tag: {e}")))?;
            let entry = Arc::new(Cached {
                etag,
                body: body.into(),
            });
            let mut cache = st.cache.lock().unwrap_or_else(|p| p.into_inner());
            if cache.len() >= st.config.analytics.map_cache_entries {
                cache.clear();
            }
            cache.insert(key, entry.clone());
            entry
        }
    };
    if if_none_match.is_some_and(|v| v.as_bytes() == cached.etag.as_bytes()) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, cached.etag.clone())],
        )
            .into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, cached.etag.clone()),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            ),
        ],
        cached.body.clone(),
    )
        .into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangeDto {
    pub abs: Option<f64>,
    pub pct: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Kpi {
    pub metric: &'static str,
    pub value: Option<f64>,
    /// 同比: against the same window a year earlier.
    pub yoy: ChangeDto,
    /// 环比: against the previous window.
    pub mom: ChangeDto,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Kpis {
    pub code: String,
    pub name: String,
    pub kpis: Vec<Kpi>,
}

/// Every catalogue metric of one unit with 同比/环比.
#[utoipa::path(get, path = "/api/v1/units/{code}/kpis", params(("code" = String, Path, description = "unit code"), Window),
    responses((status = 200, body = Kpis), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn kpis(
    State(st): State<AppState>,
    c: Caller,
    P(code): P<String>,
    Q(w): Q<Window>,
) -> Result<Json<Kpis>, ApiError> {
    let q = w.query(&st)?;
    let snap = st.snapshot()?;
    st.blocking(move || {
        let model = &snap.grids.model;
        let scope = Scope::of(c.user(), model);
        let i = scope.unit(model, &code)?;
        let u = model.unit(i);
        // A unit seen only as a total: no figure, no change.
        let shown = shows_figures(&scope, i);
        let dto = |c: Option<Change>| ChangeDto {
            abs: c.map(|c| c.abs),
            pct: c.and_then(|c| c.pct),
        };
        let kpis = crate::analytics::unit_kpis(&snap.pre, model, i, &q)?
            .into_iter()
            .map(|k| Kpi {
                metric: k.metric,
                value: k.value.filter(|_| shown),
                yoy: dto(k.yoy.filter(|_| shown)),
                mom: dto(k.mom.filter(|_| shown)),
            })
            .collect();
        Ok(Json(Kpis {
            code: u.code.clone(),
            name: u.name.clone(),
            kpis,
        }))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Tier 0-3.
    pub level: u8,
    /// Only units under this one.
    pub parent: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub window: Window,
}

/// Every metric of every visible unit of a tier as CSV (admins and analysts).
#[utoipa::path(get, path = "/api/v1/export", params(ExportQuery, Window),
    responses((status = 200, content_type = "text/csv"), (status = 403, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn export(
    State(st): State<AppState>,
    method: axum::http::Method,
    c: Caller,
    Q(q): Q<ExportQuery>,
) -> Result<Response, ApiError> {
    super::scope::sees_points(c.user(), "only admins and analysts may export")?;
    let query = q.window.query(&st)?;
    let snap = st.snapshot()?;
    if method == axum::http::Method::HEAD {
        // Checked like the GET, computed not at all.
        let scope = Scope::of(c.user(), &snap.grids.model);
        scope.parent(&snap.grids.model, q.parent.as_deref())?;
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], "").into_response());
    }
    let body = st
        .blocking(move || {
            let model = &snap.grids.model;
            let scope = Scope::of(c.user(), model);
            let parent = scope.parent(model, q.parent.as_deref())?;
            let table = compute_metrics(&snap.pre, model, q.level, &query)?;
            let mut w = csv::Writer::from_writer(Vec::new());
            let err = |e: csv::Error| ApiError::Internal(e.to_string());
            let mut head = vec!["code", "name"];
            head.extend(catalogue().iter().map(|m| m.name));
            w.write_record(&head).map_err(err)?;
            for r in table
                .rows
                .iter()
                .filter(|r| scope.total(r.index) && model.is_under(r.index, parent))
            {
                let safe = |v: &str| crate::export::safe_cell(v).into_owned();
                let mut rec = vec![safe(&r.code), safe(&r.name)];
                rec.extend(
                    catalogue()
                        .iter()
                        .map(|m| r.value(m.name).map_or(String::new(), |v| v.to_string())),
                );
                w.write_record(&rec).map_err(err)?;
            }
            w.into_inner()
                .map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"wangge-export.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
