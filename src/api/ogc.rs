//! OGC API – Features, Part 1 Core, GeoJSON encoding, rooted at `/ogc`:
//! what QGIS, ArcGIS Pro and GDAL (`OAPIF:`) read, so an analyst adds a
//! tier of units as a layer without an export. One collection per tier
//! (`tier1` townships, `tier2` villages, `tier3` grids), features with the
//! unit code as `id`, their properties as the rest of the API shows them,
//! full-detail geometry in WGS84 (CRS84). Scoped like everything else: a
//! caller sees only the units the map shows them, an item outside their
//! scope is 404; the request middleware audits each read.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use geo::BoundingRect;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{P, Q};
use super::map::{list, scoped_values, Window};
use super::scope::Scope;
use super::state::AppState;
use super::state::Snapshot;
use super::units::features;
use crate::analytics::{metric, MetricDef};
use crate::grid::GridModel;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const CONFORMS: [&str; 2] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
];
/// Items per page unless `limit` says; the most a page holds.
const LIMIT: usize = 10;
const LIMIT_MAX: usize = 10_000;

/// Tier names of the collections.
const TITLES: [(&str, &str); 3] = [
    ("乡镇/街道", "Townships and streets"),
    ("村/社区", "Villages and communities"),
    ("网格", "Grids"),
];

fn tier_of(id: &str) -> Result<u8, ApiError> {
    match id {
        "tier1" => Ok(1),
        "tier2" => Ok(2),
        "tier3" => Ok(3),
        _ => Err(ApiError::NotFound(format!(
            "no collection {id:?}; collections are tier1, tier2 and tier3"
        ))),
    }
}

/// The service's base URL as the client reached it (links are absolute,
/// as GDAL follows them).
fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https")
        .unwrap_or("http");
    format!("{scheme}://{host}/ogc")
}

fn link(href: String, rel: &str, kind: &str, title: &str) -> Value {
    json!({"href": href, "rel": rel, "type": kind, "title": title})
}

fn geojson(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], body).into_response()
}

fn json_body(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// OGC API - Features landing page: the links to its parts.
#[utoipa::path(get, path = "/ogc", operation_id = "ogc_landing",
    responses((status = 200, content_type = "application/json", description = "landing page")), security(("bearer" = [])))]
pub async fn landing(headers: HeaderMap, _c: Caller) -> Response {
    let b = base(&headers);
    json_body(json!({
        "title": "wangge 网格化管理",
        "description": "Units of the county's three tiers (乡镇/街道, 村/社区, 网格) as OGC API - Features collections.",
        "links": [
            link(b.clone(), "self", "application/json", "this document"),
            link(format!("{b}/conformance"), "conformance", "application/json", "conformance classes"),
            link(format!("{b}/collections"), "data", "application/json", "collections"),
            link(b.replace("/ogc", "/api/v1/openapi.json"), "service-desc", "application/vnd.oai.openapi+json;version=3.0", "the API definition"),
        ],
    }))
}

/// The conformance classes implemented.
#[utoipa::path(get, path = "/ogc/conformance", operation_id = "ogc_conformance",
    responses((status = 200, content_type = "application/json", description = "conformsTo")), security(("bearer" = [])))]
pub async fn conformance(_c: Caller) -> Response {
    json_body(json!({ "conformsTo": CONFORMS }))
}

/// One collection's description: extent of the units the caller sees.
fn collection(b: &str, model: &GridModel, scope: &Scope, level: u8) -> Value {
    let id = format!("tier{level}");
    let (zh, en) = TITLES[usize::from(level) - 1];
    let bbox = model.extent(model.level(level).filter(|&i| scope.total(i)));
    let spatial =
        bbox.map(|r| json!({"bbox": [[r.min().x, r.min().y, r.max().x, r.max().y]], "crs": CRS84}));
    json!({
        "id": id,
        "title": format!("{zh} {en}"),
        "description": format!("Tier {level} units: code, name, parent, households, area."),
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": spatial},
        "links": [
            link(format!("{b}/collections/{id}"), "self", "application/json", "this collection"),
            link(format!("{b}/collections/{id}/items"), "items", "application/geo+json", "its units"),
        ],
    })
}

/// The collections: one per tier.
#[utoipa::path(get, path = "/ogc/collections", operation_id = "ogc_collections",
    responses((status = 200, content_type = "application/json", description = "collections")), security(("bearer" = [])))]
pub async fn collections(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Caller,
) -> Result<Response, ApiError> {
    let snap = st.snapshot()?;
    let model = &snap.grids.model;
    let scope = Scope::of(c.user(), model);
    let b = base(&headers);
    let all: Vec<Value> = (1..=3).map(|l| collection(&b, model, &scope, l)).collect();
    Ok(json_body(json!({
        "links": [link(format!("{b}/collections"), "self", "application/json", "this document")],
        "collections": all,
    })))
}

/// One collection.
#[utoipa::path(get, path = "/ogc/collections/{id}", operation_id = "ogc_collection",
    params(("id" = String, Path, description = "tier1, tier2 or tier3")),
    responses((status = 200, content_type = "application/json", description = "collection"), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn one_collection(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Caller,
    P(id): P<String>,
) -> Result<Response, ApiError> {
    let level = tier_of(&id)?;
    let snap = st.snapshot()?;
    let model = &snap.grids.model;
    let scope = Scope::of(c.user(), model);
    Ok(json_body(collection(&base(&headers), model, &scope, level)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// minLon,minLat,maxLon,maxLat (CRS84): units whose bounding box meets it.
    pub bbox: Option<String>,
    /// Items per page, 1-10000 (default 10).
    pub limit: Option<usize>,
    /// Items skipped (paging; the `next` link carries it).
    pub offset: Option<usize>,
    /// Output format: only `json` (GeoJSON) is served.
    pub f: Option<String>,
    /// Catalogue metrics added to each unit's properties, comma-separated
    /// (for example `issue_count,closure_rate`), over the window given by
    /// `from`, `to`, `kind` and `category` as on the map. A value the caller
    /// may not see is null.
    pub metric: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemQuery {
    /// Catalogue metrics added to the unit's properties, comma-separated, over the window.
    pub metric: Option<String>,
}

/// The metric attributes asked for: each metric with its value per unit.
type Attributes = Vec<(
    &'static MetricDef,
    std::collections::HashMap<usize, Option<f64>>,
)>;

/// Values of the `metric` list over `window` on tier `level`, as the caller sees them.
fn attributes(
    st: &AppState,
    snap: &Snapshot,
    c: &Caller,
    level: u8,
    metrics: &Option<String>,
    window: &Window,
) -> Result<Attributes, ApiError> {
    list(metrics)
        .iter()
        .map(|name| {
            let def = metric(name)?;
            let values = scoped_values(st, snap, c, level, None, def, window)?;
            Ok((def, values.into_iter().collect()))
        })
        .collect()
}

/// `feature` (GeoJSON text) with the metric attributes of unit `i` in its properties.
fn with_attributes(feature: &str, i: usize, attrs: &Attributes) -> Result<String, ApiError> {
    if attrs.is_empty() {
        return Ok(feature.to_owned());
    }
    Ok(attributed(feature, i, attrs)?.to_string())
}

/// `feature` (GeoJSON text) as a value, with the metric attributes of unit `i`.
fn attributed(feature: &str, i: usize, attrs: &Attributes) -> Result<Value, ApiError> {
    let mut f: Value = serde_json::from_str(feature)
        .map_err(|e| ApiError::Internal(format!("unit feature: {e}")))?;
    for (def, values) in attrs {
        f["properties"][def.name] = json!(values.get(&i).copied().flatten());
    }
    Ok(f)
}

/// The query parameters of the metric attributes, to carry into links.
fn attribute_params(metrics: &Option<String>, w: &Window) -> String {
    let mut s = String::new();
    let dates = [("from", w.from), ("to", w.to)].map(|(k, d)| (k, d.map(|d| d.to_string())));
    let rest = [
        ("metric", metrics.clone()),
        ("kind", w.kind.clone()),
        ("category", w.category.clone()),
    ];
    for (k, v) in dates.into_iter().chain(rest) {
        if let Some(v) = v {
            s.push('&');
            s.push_str(k);
            s.push('=');
            s.extend(percent_encoding::utf8_percent_encode(
                &v,
                percent_encoding::NON_ALPHANUMERIC,
            ));
        }
    }
    s
}

fn parse_bbox(s: &str) -> Result<[f64; 4], ApiError> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| ApiError::BadRequest(format!("bbox {s:?}: four numbers expected")))?;
    match v.as_slice() {
        [a, b, c, d] if a <= c && b <= d => Ok([*a, *b, *c, *d]),
        [_, _, _, _] => Err(ApiError::BadRequest(format!(
            "bbox {s:?}: the minimum corner must come first"
        ))),
        _ => Err(ApiError::BadRequest(format!(
            "bbox {s:?}: four numbers expected (minLon,minLat,maxLon,maxLat)"
        ))),
    }
}

/// A page of a collection's items.
#[utoipa::path(get, path = "/ogc/collections/{id}/items", operation_id = "ogc_items",
    params(("id" = String, Path, description = "tier1, tier2 or tier3"), ItemsQuery, Window),
    responses((status = 200, content_type = "application/geo+json", description = "FeatureCollection"), (status = 400, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn items(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Caller,
    P(id): P<String>,
    Q(q): Q<ItemsQuery>,
    Q(window): Q<Window>,
) -> Result<Response, ApiError> {
    let level = tier_of(&id)?;
    if q.f
        .as_deref()
        .is_some_and(|f| f != "json" && f != "geojson")
    {
        return Err(ApiError::BadRequest(format!(
            "f={:?}: only json (GeoJSON) is served",
            q.f.unwrap_or_default()
        )));
    }
    let limit = q.limit.unwrap_or(LIMIT);
    if !(1..=LIMIT_MAX).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit}: 1 to {LIMIT_MAX}"
        )));
    }
    let bbox = q.bbox.as_deref().map(parse_bbox).transpose()?;
    let offset = q.offset.unwrap_or(0);
    let b = base(&headers);
    let snap = st.snapshot()?;
    let st2 = st.clone();
    let body = st
        .blocking(move || {
            let model = &snap.grids.model;
            let attrs = attributes(&st2, &snap, &c, level, &q.metric, &window)?;
            // The units' Features as the map's tiers serve them, full detail.
            let feats = features(&st2, &snap, level, None);
            let scope = Scope::of(c.user(), model);
            let matched: Vec<usize> = model
                .level(level)
                .filter(|&i| scope.total(i))
                .filter(|&i| {
                    bbox.is_none_or(|[x0, y0, x1, y1]| {
                        model.unit(i).geometry.bounding_rect().is_some_and(|r| {
                            r.min().x <= x1 && r.max().x >= x0 && r.min().y <= y1 && r.max().y >= y0
                        })
                    })
                })
                .collect();
            let page: Vec<String> = matched
                .iter()
                .skip(offset)
                .take(limit)
                .map(|&i| with_attributes(&feats[i], i, &attrs))
                .collect::<Result<_, _>>()?;
            let carried = attribute_params(&q.metric, &window);
            let keep = |o: usize| {
                let mut s = format!("{b}/collections/{id}/items?limit={limit}&offset={o}");
                if let Some(bb) = &q.bbox {
                    s.push_str("&bbox=");
                    s.extend(percent_encoding::utf8_percent_encode(
                        bb,
                        percent_encoding::NON_ALPHANUMERIC,
                    ));
                }
                s.push_str(&carried);
                s
            };
            let mut links = vec![link(
                keep(offset),
                "self",
                "application/geo+json",
                "this page",
            )];
            if offset + page.len() < matched.len() {
                links.push(link(
                    keep(offset + limit),
                    "next",
                    "application/geo+json",
                    "next page",
                ));
            }
            if offset > 0 {
                links.push(link(
                    keep(offset.saturating_sub(limit)),
                    "prev",
                    "application/geo+json",
                    "previous page",
                ));
            }
            let head = json!({
                "type": "FeatureCollection",
                "numberMatched": matched.len(),
                "numberReturned": page.len(),
                "timeStamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "links": links,
            })
            .to_string();
            // The cached Feature strings go in as they are.
            let mut out = String::with_capacity(
                head.len() + page.iter().map(|f| f.len() + 1).sum::<usize>() + 16,
            );
            out.push_str(&head[..head.len() - 1]);
            out.push_str(r#","features":["#);
            out.push_str(&page.join(","));
            out.push_str("]}");
            Ok(out)
        })
        .await?;
    Ok(geojson(body))
}

/// One item by its unit code.
#[utoipa::path(get, path = "/ogc/collections/{id}/items/{fid}", operation_id = "ogc_item",
    params(("id" = String, Path, description = "tier1, tier2 or tier3"), ("fid" = String, Path, description = "unit code"), ItemQuery, Window),
    responses((status = 200, content_type = "application/geo+json", description = "Feature"), (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn item(
    State(st): State<AppState>,
    headers: HeaderMap,
    c: Caller,
    P((id, code)): P<(String, String)>,
    Q(q): Q<ItemQuery>,
    Q(window): Q<Window>,
) -> Result<Response, ApiError> {
    let level = tier_of(&id)?;
    let snap = st.snapshot()?;
    let model = &snap.grids.model;
    let i = Scope::of(c.user(), model).unit(model, &code)?;
    if model.unit(i).level != level {
        return Err(ApiError::no_unit(&code));
    }
    // The metric values are computed over the whole tier: off the async threads.
    let st2 = st.clone();
    let mut f = st
        .blocking(move || {
            let attrs = attributes(&st2, &snap, &c, level, &q.metric, &window)?;
            attributed(&features(&st2, &snap, level, None)[i], i, &attrs)
        })
        .await?;
    let b = base(&headers);
    f["links"] = json!([
        link(
            format!("{b}/collections/{id}/items/{code}"),
            "self",
            "application/geo+json",
            "this unit"
        ),
        link(
            format!("{b}/collections/{id}"),
            "collection",
            "application/json",
            "its collection"
        ),
    ]);
    Ok(geojson(f.to_string()))
}
