//! Units: GeoJSON of a tier (geometry simplified for the map's zoom), and
//! one unit with its ancestors and children. Only units in the caller's
//! scope are listed; a chief gets only their grids at tier 3 and only the
//! outlines of their grids' ancestors at tiers 1-2.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use geo::Simplify;
use geojson::{Geometry, GeometryValue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Caller;
use super::error::ApiError;
use super::extract::{P, Q};
use super::scope::Scope;
use super::state::{AppState, Snapshot};
use crate::grid::{GridModel, Unit};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnitsQuery {
    /// Tier: 0 county, 1 township, 2 village, 3 grid.
    pub level: u8,
    /// Only the descendants of this unit at `level`.
    pub parent: Option<String>,
    /// Map zoom (0-22); geometry is simplified to half a pixel at it. Absent = full detail.
    pub zoom: Option<u8>,
    /// `bbox`: each feature without its geometry, with its `bbox` and its
    /// township and village codes (`t1`, `t2`): what the map needs beside
    /// the vector tiles it draws. Absent or `full`: the geometry.
    pub geometry: Option<String>,
}

/// The geometry cache's zoom slot for the bounding-box-only features.
const BBOX_ONLY: u8 = u8::MAX - 1;

/// Properties of a unit as every endpoint shows them.
pub fn props(model: &GridModel, u: &Unit, index: usize) -> serde_json::Value {
    json!({
        "code": u.code,
        "name": u.name,
        "level": u.level,
        "parent": u.parent.map(|p| model.unit(p).code.clone()),
        "households": model.households(index),
        "area_km2": (u.area_km2 * 1e4).round() / 1e4,
    })
}

/// `g` with coordinates rounded to 7 decimals (about 1 cm), as RFC 7946
/// §11.2 advises: more digits only make the document longer.
fn rounded(g: &geo::MultiPolygon<f64>) -> geo::MultiPolygon<f64> {
    use geo::MapCoords;
    g.map_coords(|c| geo::coord! { x: (c.x * 1e7).round() / 1e7, y: (c.y * 1e7).round() / 1e7 })
}

/// Douglas-Peucker tolerance in degrees: half a 256-px tile pixel at `zoom`.
fn tolerance(zoom: u8) -> f64 {
    360.0 / (256.0 * 2f64.powi(i32::from(zoom.min(24)))) / 2.0
}

/// One serialised Feature per unit of a level at a zoom (`None`: full
/// detail), built once: the map's tiers and the OGC API's items.
pub(super) fn features(
    st: &AppState,
    snap: &Snapshot,
    level: u8,
    zoom: Option<u8>,
) -> Arc<Vec<String>> {
    let z = zoom.unwrap_or(u8::MAX);
    let key = (level, z);
    if let Some(f) = st
        .geometry
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
    {
        return f.clone();
    }
    let model = &snap.grids.model;
    let built: Vec<String> = (0..model.units().len())
        .map(|i| {
            let u = model.unit(i);
            if u.level != level {
                return String::new();
            }
            if z == BBOX_ONLY {
                return bbox_feature(model, u, i);
            }
            let geom = match zoom {
                Some(z) => u.geometry.simplify(tolerance(z)),
                None => u.geometry.clone(),
            };
            let g = Geometry::new(GeometryValue::from(&rounded(&geom)));
            json!({"type": "Feature", "id": u.code, "properties": props(model, u, i), "geometry": g})
                .to_string()
        })
        .collect();
    let built = Arc::new(built);
    st.geometry
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, built.clone());
    built
}

/// A unit as a Feature with its bbox (RFC 7946 §5) and no geometry.
fn bbox_feature(model: &GridModel, u: &Unit, i: usize) -> String {
    use geo::BoundingRect;
    let r7 = |v: f64| (v * 1e7).round() / 1e7;
    let bbox = u
        .geometry
        .bounding_rect()
        .map(|b| json!([r7(b.min().x), r7(b.min().y), r7(b.max().x), r7(b.max().y)]));
    let mut props = props(model, u, i);
    for l in [1u8, 2] {
        props[format!("t{l}")] = json!(model.ancestor_at(i, l).map(|a| &model.unit(a).code));
    }
    json!({"type": "Feature", "id": u.code, "bbox": bbox, "properties": props, "geometry": null})
        .to_string()
}

/// Units of a tier as a GeoJSON FeatureCollection.
#[utoipa::path(get, path = "/api/v1/units", operation_id = "list_units", params(UnitsQuery),
    responses((status = 200, content_type = "application/geo+json", description = "FeatureCollection")), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    c: Caller,
    Q(q): Q<UnitsQuery>,
) -> Result<Response, ApiError> {
    super::extract::check_level(q.level)?;
    let snap = st.snapshot()?;
    let st2 = st.clone();
    let body = st
        .blocking(move || {
            let model = &snap.grids.model;
            let scope = Scope::of(c.user(), model);
            let parent = scope.parent(model, q.parent.as_deref())?;
            let zoom = match q.geometry.as_deref() {
                None | Some("full") => q.zoom.map(|z| z.min(24)),
                Some("bbox") => Some(BBOX_ONLY),
                Some(other) => {
                    return Err(ApiError::BadRequest(format!(
                        "geometry={other:?}: use full or bbox"
                    )))
                }
            };
            let feats = features(&st2, &snap, q.level, zoom);
            let mut out = String::with_capacity(1 << 16);
            out.push_str(r#"{"type":"FeatureCollection","features":["#);
            let mut first = true;
            for i in model.level(q.level) {
                if !scope.total(i) || !model.is_under(i, parent) || parent == Some(i) {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&feats[i]);
            }
            out.push_str("]}");
            Ok(out)
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], body).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UnitRef {
    pub code: String,
    pub name: String,
    pub level: u8,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UnitDetail {
    /// code, name, level, parent, households, area_km2.
    #[schema(value_type = Object)]
    pub unit: serde_json::Value,
    /// Nearest first.
    pub ancestors: Vec<UnitRef>,
    /// Only children in the caller's scope.
    pub children: Vec<UnitRef>,
}

fn unit_ref(u: &Unit) -> UnitRef {
    UnitRef {
        code: u.code.clone(),
        name: u.name.clone(),
        level: u.level,
    }
}

/// One unit with its ancestors and (visible) children.
#[utoipa::path(get, path = "/api/v1/units/{code}", operation_id = "get_unit", params(("code" = String, Path, description = "unit code")),
    responses((status = 200, body = UnitDetail), (status = 404, body = super::error::ErrorBody)), security(("bearer" = [])))]
pub async fn one(
    State(st): State<AppState>,
    c: Caller,
    P(code): P<String>,
) -> Result<Json<UnitDetail>, ApiError> {
    let snap = st.snapshot()?;
    let model = &snap.grids.model;
    let scope = Scope::of(c.user(), model);
    let i = scope.unit(model, &code)?;
    let u = model.unit(i);
    Ok(Json(UnitDetail {
        unit: props(model, u, i),
        ancestors: model
            .ancestors(i)
            .map(|a| unit_ref(model.unit(a)))
            .collect(),
        children: u
            .children
            .iter()
            .filter(|&&ch| scope.total(ch))
            .map(|&ch| unit_ref(model.unit(ch)))
            .collect(),
    }))
}
