//! Vector tiles of the tiers: `/tiles/{tier}/{z}/{x}/{y}.mvt`, Mapbox
//! Vector Tiles (layers `units` and `labels`) of the served grid version,
//! for the map and for QGIS or any XYZ vector-tile client.
//!
//! Scoped like the units list: a caller's tiles hold the units whose
//! totals they may see (a chief: their grids and their ancestors'
//! outlines, never a sibling). Tiles are cached per (grid version, tier,
//! z, x, y, scope); a new grid version is a new key.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::P;
use super::scope::Scope;
use super::state::{AppState, TileKey};
use crate::grid::tiles::{TileSet, MAX_ZOOM};

/// Media type of a Mapbox Vector Tile.
pub const MVT: &str = "application/vnd.mapbox-vector-tile";

#[derive(Deserialize)]
pub struct TilePath {
    tier: String,
    z: u8,
    x: u32,
    y: String,
}

fn tier(s: &str) -> Result<u8, ApiError> {
    match s {
        "1" | "tier1" => Ok(1),
        "2" | "tier2" => Ok(2),
        "3" | "tier3" => Ok(3),
        _ => Err(ApiError::NotFound(format!(
            "no tier {s:?}: tiles are served for tiers 1, 2 and 3"
        ))),
    }
}

/// One vector tile of a tier.
/// (The row segment carries the `.mvt` extension: `{y}` is `393.mvt`, so a
/// client's URL template reads `/tiles/3/{z}/{x}/{y}.mvt`.)
#[utoipa::path(get, path = "/tiles/{tier}/{z}/{x}/{y}", operation_id = "get_tile",
    params(
        ("tier" = String, Path, description = "1 townships, 2 villages, 3 grids (or tier1..tier3)"),
        ("z" = u8, Path, description = "zoom, 0-22"),
        ("x" = u32, Path, description = "column, 0 to 2^z - 1, from the west"),
        ("y" = String, Path, description = "row, 0 to 2^z - 1, from the north, with the extension: `393.mvt`", pattern = r"^\d+\.mvt$"),
    ),
    responses(
        (status = 200, content_type = "application/vnd.mapbox-vector-tile",
         description = "layers `units` (polygons: code, name, level, parent, t1, t2; id = the code when numeric) and `labels` (one point per unit: code, name)"),
        (status = 404, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn tile(
    State(st): State<AppState>,
    c: Caller,
    headers: HeaderMap,
    P(p): P<TilePath>,
) -> Result<Response, ApiError> {
    let level = tier(&p.tier)?;
    let y: u32 =
        p.y.strip_suffix(".mvt")
            .and_then(|y| y.parse().ok())
            .ok_or_else(|| ApiError::NotFound(format!("no tile {:?}: rows are {{y}}.mvt", p.y)))?;
    if p.z > MAX_ZOOM || p.x >= 1u32 << p.z || y >= 1u32 << p.z {
        return Err(ApiError::NotFound(format!(
            "no tile {}/{}/{y}: zoom 0-{MAX_ZOOM}, x and y below 2^z",
            p.z, p.x
        )));
    }
    let snap = st.snapshot()?;
    let st2 = st.clone();
    let (body, etag) = st
        .blocking(move || {
            let model = &snap.grids.model;
            let scope = Scope::of(c.user(), model);
            let version = snap.grids.version.id;
            let key: TileKey = (version, level, p.z, p.x, y, scope.key.clone());
            let body = st2.tiles.get(&key, || {
                let set = st2.tiles.set(version, level, || TileSet::new(model, level));
                set.tile(p.z, p.x, y, &|i| scope.total(i))
                    .map_err(|e| ApiError::Internal(format!("tile {}/{}/{y}: {e}", p.z, p.x)))
            })?;
            let digest = hex::encode(&Sha256::digest(&body)[..12]);
            let etag = format!("\"g{version}-{digest}\"");
            Ok::<_, ApiError>((body, etag))
        })
        .await?;
    let etag = HeaderValue::try_from(etag).map_err(|e| ApiError::Internal(e.to_string()))?;
    let private = HeaderValue::from_static("private, no-cache");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, private)],
        )
            .into_response());
    }
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(MVT)),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, private),
        ],
        body,
    )
        .into_response())
}

/// Builds the tile sets of the three tiers of the served grid version
/// (blocking: seconds for 50,000 grids), logging how long they took.
pub fn warm(st: &AppState) {
    let Ok(snap) = st.snapshot() else {
        return;
    };
    let t = std::time::Instant::now();
    let version = snap.grids.version.id;
    let model = &snap.grids.model;
    for level in 1..=3 {
        st.tiles.set(version, level, || TileSet::new(model, level));
    }
    tracing::info!(
        ms = t.elapsed().as_millis() as u64,
        version,
        "vector tiles of the three tiers prepared"
    );
}
