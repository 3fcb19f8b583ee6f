//! Vector tiles: decoded, not only fetched. Neighbouring grids neither gap
//! nor overlap at any zoom, and a caller's tiles hold only the units they
//! may see.

use std::collections::HashSet;

use axum::http::StatusCode;
use geo::{BoundingRect, Contains, Coord, MultiPolygon, Point, Polygon};
use mvt_reader::feature::Value;
use mvt_reader::Reader;
use wangge::grid::tiles::{mercator, tile_of, EXTENT};

use super::support::{env, get, login, send, Env};

/// A decoded tile layer: each feature's code and geometry (tile units).
fn decode(body: &[u8], layer: &str) -> Vec<(String, geo::Geometry<f64>)> {
    let r = Reader::new(body.to_vec()).expect("a vector tile");
    let names = r.get_layer_names().expect("layers");
    let Some(k) = names.iter().position(|n| n == layer) else {
        return Vec::new();
    };
    r.get_features(k)
        .expect("features")
        .into_iter()
        .map(|f| {
            let code = match f.properties.as_ref().and_then(|p| p.get("code")) {
                Some(Value::String(s)) => s.clone(),
                other => panic!("feature without a code: {other:?}"),
            };
            let g = match f.geometry {
                geo::Geometry::Polygon(p) => {
                    geo::Geometry::MultiPolygon(MultiPolygon(vec![to_f64(&p)]))
                }
                geo::Geometry::MultiPolygon(m) => {
                    geo::Geometry::MultiPolygon(MultiPolygon(m.0.iter().map(to_f64).collect()))
                }
                geo::Geometry::Point(p) => {
                    geo::Geometry::Point(Point::new(p.x().into(), p.y().into()))
                }
                geo::Geometry::MultiPoint(m) if m.0.len() == 1 => {
                    geo::Geometry::Point(Point::new(m.0[0].x().into(), m.0[0].y().into()))
                }
                other => panic!("unexpected geometry {other:?}"),
            };
            (code, g)
        })
        .collect()
}

fn polygons(g: &geo::Geometry<f64>) -> MultiPolygon<f64> {
    match g {
        geo::Geometry::MultiPolygon(m) => m.clone(),
        other => panic!("not a polygon: {other:?}"),
    }
}

fn to_f64(p: &Polygon<f32>) -> Polygon<f64> {
    let ring = |r: &geo::LineString<f32>| -> geo::LineString<f64> {
        r.0.iter()
            .map(|c| Coord {
                x: f64::from(c.x),
                y: f64::from(c.y),
            })
            .collect()
    };
    Polygon::new(ring(p.exterior()), p.interiors().iter().map(ring).collect())
}

async fn tile(e: &Env, t: &str, level: u8, z: u8, x: u32, y: u32) -> Vec<u8> {
    let r = get(&e.app, &format!("/tiles/{level}/{z}/{x}/{y}.mvt"), t).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{level}/{z}/{x}/{y}: {}",
        r.text()
    );
    assert_eq!(
        r.headers["content-type"],
        "application/vnd.mapbox-vector-tile"
    );
    r.body.to_vec()
}

/// The grids of the test county at full detail, in the tile's units.
fn grids_in_tile(e: &Env, z: u8, x: u32, y: u32) -> Vec<MultiPolygon<f64>> {
    use geo::MapCoords;
    let snap = e.state.snapshot().expect("snapshot");
    let model = &snap.grids.model;
    let scale = f64::from(1u32 << z) * f64::from(EXTENT);
    model
        .level(3)
        .map(|i| {
            model.unit(i).geometry.map_coords(|c| {
                let [mx, my] = mercator(c);
                Coord {
                    x: mx * scale - f64::from(x) * f64::from(EXTENT),
                    y: my * scale - f64::from(y) * f64::from(EXTENT),
                }
            })
        })
        .collect()
}

fn count_at(polys: &[MultiPolygon<f64>], p: Point<f64>) -> usize {
    polys
        .iter()
        .filter(|m| {
            m.bounding_rect().is_some_and(|b| {
                b.min().x <= p.x() && p.x() <= b.max().x && b.min().y <= p.y() && p.y() <= b.max().y
            }) && m.contains(&p)
        })
        .count()
}

/// Sampled on a 64 × 64 lattice over tiles around a junction of grids, at
/// zooms 10 to 16: every point is in at most one grid (no overlap), and a
/// point inside the county at full detail is in exactly one grid (no gap),
/// except within `margin` tile units of the county's outer edge, which
/// simplification moves by up to half a pixel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbouring_grids_neither_gap_nor_overlap_at_any_zoom() {
    let e = env();
    let t = login(&e.app, "admin").await;
    let (lon, lat) = {
        let snap = e.state.snapshot().unwrap();
        let model = &snap.grids.model;
        let g = model.get(&e.codes.grid).unwrap();
        // A corner of the grid: where it meets its neighbours.
        let c = g.geometry.0[0].exterior().0[0];
        (c.x, c.y)
    };
    let mut sampled = 0;
    for z in [10u8, 12, 14, 16] {
        let (tx, ty) = tile_of(lon, lat, z);
        let body = tile(&e, &t, 3, z, tx, ty).await;
        let drawn: Vec<MultiPolygon<f64>> = decode(&body, "units")
            .iter()
            .map(|f| polygons(&f.1))
            .collect();
        assert!(drawn.len() >= 2, "z{z}: {} grids", drawn.len());
        let full = grids_in_tile(&e, z, tx, ty);
        let margin = 12.0;
        let n = 64;
        for i in 0..n {
            for j in 0..n {
                // Off the integer lattice: tile vertices are integers, and
                // a point on an edge is in neither polygon.
                let p = Point::new(
                    (f64::from(i) + 0.5) * f64::from(EXTENT) / f64::from(n) + 0.37,
                    (f64::from(j) + 0.5) * f64::from(EXTENT) / f64::from(n) + 0.29,
                );
                let k = count_at(&drawn, p);
                assert!(k <= 1, "z{z} {tx}/{ty}: {k} grids overlap at {p:?}");
                let inside_full = [
                    (0.0, 0.0),
                    (margin, 0.0),
                    (-margin, 0.0),
                    (0.0, margin),
                    (0.0, -margin),
                ]
                .iter()
                .all(|(dx, dy)| count_at(&full, Point::new(p.x() + dx, p.y() + dy)) >= 1);
                if inside_full {
                    assert_eq!(k, 1, "z{z} {tx}/{ty}: a gap at {p:?}");
                    sampled += 1;
                }
            }
        }
    }
    assert!(
        sampled > 4 * 64 * 64 / 2,
        "too few samples inside the county: {sampled}"
    );
}

/// A chief's tiles, at every tier and zoom, around their grid: only their
/// grid and its ancestors; a leader's: only their township's units. The
/// chief's grid is in the tile that holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_tiles_hold_only_the_units_they_may_see() {
    let e = env();
    let snap = e.state.snapshot().unwrap();
    let model = &snap.grids.model;
    let gi = model.index_of(&e.codes.grid).unwrap();
    let chief_sees: HashSet<String> = std::iter::once(gi)
        .chain(model.ancestors(gi))
        .map(|i| model.unit(i).code.clone())
        .collect();
    let ti = model.index_of(&e.codes.township).unwrap();
    let leader_sees: HashSet<String> = std::iter::once(ti)
        .chain(model.descendants(ti))
        .map(|i| model.unit(i).code.clone())
        .collect();
    let c = model.unit(gi).geometry.0[0].exterior().0[0];
    for (user, sees) in [("chief", &chief_sees), ("leader", &leader_sees)] {
        let t = login(&e.app, user).await;
        let mut seen_own = false;
        for level in 1..=3u8 {
            for z in [6u8, 8, 10, 12, 14, 16] {
                let (x, y) = tile_of(c.x, c.y, z);
                for (dx, dy) in [
                    (0i64, 0i64),
                    (-1, 0),
                    (1, 0),
                    (0, -1),
                    (0, 1),
                    (1, 1),
                    (-1, -1),
                ] {
                    let (Ok(x), Ok(y)) =
                        (u32::try_from(x as i64 + dx), u32::try_from(y as i64 + dy))
                    else {
                        continue;
                    };
                    let body = tile(&e, &t, level, z, x, y).await;
                    for layer in ["units", "labels"] {
                        for (code, _) in decode(&body, layer) {
                            assert!(
                                sees.contains(&code),
                                "{user} got {code} in {layer} {level}/{z}/{x}/{y}"
                            );
                            seen_own |= code == e.codes.grid;
                        }
                    }
                }
            }
        }
        assert!(seen_own, "{user}: the chief's grid was never drawn");
    }
    // The admin sees the sibling in the same tile; the chief never does.
    let admin = login(&e.app, "admin").await;
    let (x, y) = tile_of(c.x, c.y, 12);
    let all: HashSet<String> = decode(&tile(&e, &admin, 3, 12, x, y).await, "units")
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert!(
        all.len() > 1 && all.iter().any(|c| !chief_sees.contains(c)),
        "{all:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_need_a_login_and_bad_addresses_are_404_json() {
    let e = env();
    let r = send(
        &e.app,
        "GET",
        "/tiles/3/10/839/393.mvt",
        None,
        None,
        Vec::new(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let t = login(&e.app, "admin").await;
    for uri in [
        "/tiles/4/10/839/393.mvt",
        "/tiles/3/23/0/0.mvt",
        "/tiles/3/2/4/0.mvt",
        "/tiles/3/10/839/393.png",
        "/tiles/nothing",
    ] {
        let r = get(&e.app, uri, &t).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(r.json()["code"], "not_found", "{uri}");
    }
    // A tile far from the county is a valid, empty tile.
    let r = get(&e.app, "/tiles/3/10/0/0.mvt", &t).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(decode(&r.body, "units").is_empty());
    // Labels: one per grid, inside it.
    let snap = e.state.snapshot().unwrap();
    let g = snap.grids.model.get(&e.codes.grid).unwrap();
    let c = geo::InteriorPoint::interior_point(&g.geometry).unwrap();
    let (x, y) = tile_of(c.x(), c.y(), 14);
    let body = tile(&e, &t, 3, 14, x, y).await;
    let units = decode(&body, "units");
    let labels = decode(&body, "labels");
    assert!(
        labels.iter().any(|l| l.0 == e.codes.grid),
        "the grid's label is in the tile holding it"
    );
    for (code, g) in &labels {
        let geo::Geometry::Point(p) = g else {
            panic!("label {code} is not a point")
        };
        let unit = units
            .iter()
            .find(|u| &u.0 == code)
            .expect("the label's unit");
        assert!(
            polygons(&unit.1).contains(p),
            "label {code} at {p:?} is outside its unit"
        );
    }
}
