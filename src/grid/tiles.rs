//! Mapbox Vector Tiles of one tier: web-mercator z/x/y tiles with the
//! tier's units as polygons (layer `units`) and one label point per unit
//! (layer `labels`).
//!
//! Geometry comes from the tier's shared arcs ([`super::arcs`]), each
//! simplified once per zoom to half a pixel of a 512-px tile, so
//! neighbouring units keep exactly the same boundary at every zoom. Rings
//! are clipped to the tile plus a buffer (Sutherland-Hodgman against the
//! square, exact for polygons), wound as the MVT spec asks (exterior
//! clockwise on screen) and encoded with the `mvt` crate. Label points are
//! `geo`'s interior point (inside concave units, unlike a centroid), each
//! in the one tile that holds it.
//!
//! Which units go into a tile is the caller's choice (`visible`): the
//! service passes the caller's scope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use geo::{Coord, InteriorPoint};
use mvt::{GeomEncoder, GeomType, Tile};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use super::arcs::Arcs;
use super::{GridModel, Level};

/// A tile's width on screen, in CSS pixels (MapLibre's vector tiles).
const TILE_PX: f64 = 512.0;
/// The smallest width or height on screen, in CSS pixels, of a unit whose
/// name goes into a tile (its label point, its `name` property): below it a
/// name cannot be read, and at county zoom tens of thousands of names would
/// be most of a tile's bytes. Clients name a unit from its code.
pub const LABEL_MIN_PX: f64 = 32.0;

/// Tile extent in tile units (the MVT default).
pub const EXTENT: u32 = 4096;
/// Buffer around a tile, in tile units: strokes at the edge are drawn whole.
const BUFFER: f64 = 64.0;
/// Beyond this zoom the arcs are no longer simplified (under 0.3 m).
pub const MAX_SIMPLIFY_ZOOM: u8 = 17;
/// Highest zoom served.
pub const MAX_ZOOM: u8 = 22;

/// Web mercator, normalised: x and y in [0, 1], y down (tile order).
pub fn mercator(c: Coord<f64>) -> [f64; 2] {
    let lat = c.y.clamp(-85.051_128_78, 85.051_128_78).to_radians();
    let x = (c.x + 180.0) / 360.0;
    let y = (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0;
    [x, y]
}

/// What a unit's features carry.
struct Props {
    model_index: usize,
    code: String,
    name: String,
    parent: Option<String>,
    /// Its township and village codes (or its own at that level), for a
    /// client filtering one township's or village's units out of the tiles.
    t1: Option<String>,
    t2: Option<String>,
    /// The code as a number, as MVT ids must be, when it is one.
    id: Option<u64>,
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// Arcs' points, as drawn at one zoom.
type Drawn = Arc<Vec<Vec<[f64; 2]>>>;

/// The tiles of one tier of one grid version.
pub struct TileSet {
    pub level: Level,
    props: Vec<Props>,
    arcs: Arcs,
    index: RTree<Entry>,
    labels: Vec<Option<[f64; 2]>>,
    /// Each unit's width or height, whichever is larger, in normalised units.
    spans: Vec<f64>,
    /// Simplified arcs by zoom, made on first use.
    simplified: Mutex<HashMap<u8, Drawn>>,
}

impl TileSet {
    /// The tier `level` of `model`.
    pub fn new(model: &GridModel, level: Level) -> TileSet {
        let members: Vec<usize> = model.level(level).collect();
        let shapes: Vec<&geo::MultiPolygon<f64>> =
            members.iter().map(|&i| &model.unit(i).geometry).collect();
        let arcs = Arcs::build(&shapes, mercator);
        let code_at =
            |i: usize, l: Level| model.ancestor_at(i, l).map(|a| model.unit(a).code.clone());
        let props: Vec<Props> = members
            .iter()
            .map(|&i| {
                let u = model.unit(i);
                Props {
                    model_index: i,
                    code: u.code.clone(),
                    name: u.name.clone(),
                    parent: u.parent.map(|p| model.unit(p).code.clone()),
                    t1: code_at(i, 1),
                    t2: code_at(i, 2),
                    id: (u.code.len() <= 19 && u.code.bytes().all(|b| b.is_ascii_digit()))
                        .then(|| u.code.parse().ok())
                        .flatten(),
                }
            })
            .collect();
        let mut spans = vec![0.0; props.len()];
        let entries: Vec<Entry> = arcs
            .shapes
            .iter()
            .enumerate()
            .filter_map(|(k, polys)| {
                let mut b = [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ];
                for &(id, _) in polys.iter().flatten().flatten() {
                    for p in &arcs.arcs[id as usize] {
                        b = [
                            b[0].min(p[0]),
                            b[1].min(p[1]),
                            b[2].max(p[0]),
                            b[3].max(p[1]),
                        ];
                    }
                }
                (b[0] <= b[2]).then(|| {
                    spans[k] = (b[2] - b[0]).max(b[3] - b[1]);
                    GeomWithData::new(
                        Rectangle::from_corners([b[0], b[1]], [b[2], b[3]]),
                        k as u32,
                    )
                })
            })
            .collect();
        let labels = shapes
            .iter()
            .map(|g| g.interior_point().map(|p| mercator(p.0)))
            .collect();
        TileSet {
            level,
            props,
            arcs,
            index: RTree::bulk_load(entries),
            labels,
            spans,
            simplified: Mutex::new(HashMap::new()),
        }
    }

    /// Number of units in the tier.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }

    /// The arcs as drawn at zoom `z`.
    fn arcs_at(&self, z: u8) -> Drawn {
        let z = z.min(MAX_SIMPLIFY_ZOOM);
        let mut cache = self.simplified.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(z)
            .or_insert_with(|| {
                // Half a pixel of a 512-px tile, in normalised units.
                let tolerance = 1.0 / (f64::from(1u32 << z) * 1024.0);
                Arc::new(self.arcs.simplified(tolerance))
            })
            .clone()
    }

    /// Tile z/x/y holding the units for which `visible(model index)` is
    /// true, MVT-encoded. Empty layers are left out (an empty tile is a
    /// valid tile of no layers).
    pub fn tile(
        &self,
        z: u8,
        x: u32,
        y: u32,
        visible: &dyn Fn(usize) -> bool,
    ) -> Result<Vec<u8>, mvt::Error> {
        let n = f64::from(1u32 << z);
        let scale = n * f64::from(EXTENT);
        let (x0, y0) = (f64::from(x) / n, f64::from(y) / n);
        let pad = BUFFER / scale;
        let query = AABB::from_corners(
            [x0 - pad, y0 - pad],
            [x0 + 1.0 / n + pad, y0 + 1.0 / n + pad],
        );
        let mut hits: Vec<u32> = self
            .index
            .locate_in_envelope_intersecting(&query)
            .map(|e| e.data)
            .filter(|&k| visible(self.props[k as usize].model_index))
            .collect();
        hits.sort_unstable();
        let arcs = self.arcs_at(z);
        let to_tile = |p: &[f64; 2]| [(p[0] - x0) * scale, (p[1] - y0) * scale];
        // Names go only with units large enough on screen to be labelled.
        let legible = |k: u32| self.spans[k as usize] * n * TILE_PX >= LABEL_MIN_PX;
        let mut tile = Tile::new(EXTENT);
        let mut units = tile.create_layer("units");
        let mut ring = Vec::new();
        let mut clipped = Vec::new();
        for &k in &hits {
            let mut enc = GeomEncoder::new(GeomType::Polygon);
            let mut any = false;
            for poly in &self.arcs.shapes[k as usize] {
                for (r, parts) in poly.iter().enumerate() {
                    Arcs::ring(&arcs, parts, &mut ring);
                    let pts: Vec<[f64; 2]> = ring.iter().map(to_tile).collect();
                    clip(&pts, -BUFFER, f64::from(EXTENT) + BUFFER, &mut clipped);
                    let snapped = snap(&clipped);
                    if snapped.len() < 3 {
                        if r == 0 {
                            break; // exterior gone: so are its holes
                        }
                        continue;
                    }
                    // MVT: exterior rings clockwise on screen (positive
                    // area with y down), holes the other way.
                    let positive = signed_area(&snapped) > 0.0;
                    let want_positive = r == 0;
                    let mut push = |p: &[i32; 2]| enc.add_point(f64::from(p[0]), f64::from(p[1]));
                    if positive == want_positive {
                        snapped.iter().try_for_each(&mut push)?;
                    } else {
                        snapped.iter().rev().try_for_each(&mut push)?;
                    }
                    enc.complete_geom()?;
                    any = true;
                }
            }
            if !any {
                continue;
            }
            let p = &self.props[k as usize];
            let mut f = units.into_feature(enc.encode()?);
            if let Some(id) = p.id {
                f.set_id(id);
            }
            tag_props(&mut f, p, self.level, legible(k));
            units = f.into_layer();
        }
        if units.num_features() > 0 {
            tile.add_layer(units)?;
        }
        let mut labels = tile.create_layer("labels");
        for &k in hits.iter().filter(|&&k| legible(k)) {
            let Some(lp) = self.labels[k as usize] else {
                continue;
            };
            let t = to_tile(&lp);
            let inside = |v: f64| (0.0..f64::from(EXTENT)).contains(&v);
            if !inside(t[0]) || !inside(t[1]) {
                continue;
            }
            let geom = GeomEncoder::new(GeomType::Point)
                .point(t[0].floor(), t[1].floor())?
                .encode()?;
            let p = &self.props[k as usize];
            let mut f = labels.into_feature(geom);
            if let Some(id) = p.id {
                f.set_id(id);
            }
            f.add_tag_string("code", &p.code);
            f.add_tag_string("name", &p.name);
            labels = f.into_layer();
        }
        if labels.num_features() > 0 {
            tile.add_layer(labels)?;
        }
        tile.to_bytes()
    }
}

fn tag_props(f: &mut mvt::Feature, p: &Props, level: Level, named: bool) {
    f.add_tag_string("code", &p.code);
    if named {
        f.add_tag_string("name", &p.name);
    }
    f.add_tag_uint("level", u64::from(level));
    if let Some(v) = &p.parent {
        f.add_tag_string("parent", v);
    }
    if let Some(v) = &p.t1 {
        f.add_tag_string("t1", v);
    }
    if let Some(v) = &p.t2 {
        f.add_tag_string("t2", v);
    }
}

/// Twice the signed area (shoelace) of a closed ring.
fn signed_area(r: &[[i32; 2]]) -> f64 {
    let n = r.len();
    (0..n)
        .map(|i| {
            let (a, b) = (r[i], r[(i + 1) % n]);
            f64::from(a[0]) * f64::from(b[1]) - f64::from(b[0]) * f64::from(a[1])
        })
        .sum()
}

/// Rounds to tile units and drops repeated points and the closing point;
/// fewer than 3 points (or no area) means the ring vanished at this zoom.
fn snap(pts: &[[f64; 2]]) -> Vec<[i32; 2]> {
    let mut out: Vec<[i32; 2]> = Vec::with_capacity(pts.len());
    for p in pts {
        let q = [p[0].round() as i32, p[1].round() as i32];
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    if out.len() < 3 || signed_area(&out) == 0.0 {
        out.clear();
    }
    out
}

/// Sutherland-Hodgman: the closed ring `pts` clipped to the square
/// [lo, hi]², into `out` (closed, or empty).
fn clip(pts: &[[f64; 2]], lo: f64, hi: f64, out: &mut Vec<[f64; 2]>) {
    out.clear();
    if pts
        .iter()
        .all(|p| p[0] >= lo && p[0] <= hi && p[1] >= lo && p[1] <= hi)
    {
        out.extend_from_slice(pts);
        return;
    }
    let mut cur: Vec<[f64; 2]> = pts.to_vec();
    if cur.first() == cur.last() {
        cur.pop();
    }
    for edge in 0..4 {
        let (axis, bound, keep_above) = match edge {
            0 => (0, lo, true),
            1 => (0, hi, false),
            2 => (1, lo, true),
            _ => (1, hi, false),
        };
        let inside = |p: &[f64; 2]| {
            if keep_above {
                p[axis] >= bound
            } else {
                p[axis] <= bound
            }
        };
        let mut next = Vec::with_capacity(cur.len() + 4);
        let n = cur.len();
        for i in 0..n {
            let (a, b) = (cur[(i + n - 1) % n], cur[i]);
            let (ia, ib) = (inside(&a), inside(&b));
            if ia != ib {
                let t = (bound - a[axis]) / (b[axis] - a[axis]);
                let mut c = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
                c[axis] = bound;
                next.push(c);
            }
            if ib {
                next.push(b);
            }
        }
        cur = next;
        if cur.is_empty() {
            return;
        }
    }
    out.extend_from_slice(&cur);
    if let Some(&f) = out.first() {
        out.push(f);
    }
}

/// The tile z/x/y holding a lon/lat point.
pub fn tile_of(lon: f64, lat: f64, z: u8) -> (u32, u32) {
    let [x, y] = mercator(Coord { x: lon, y: lat });
    let n = f64::from(1u32 << z);
    let cl = |v: f64| ((v * n).floor().max(0.0) as u32).min((1u32 << z) - 1);
    (cl(x), cl(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_a_square_to_the_tile_keeps_the_inside() {
        let sq = [
            [-10.0, -10.0],
            [50.0, -10.0],
            [50.0, 50.0],
            [-10.0, 50.0],
            [-10.0, -10.0],
        ];
        let mut out = Vec::new();
        clip(&sq, 0.0, 100.0, &mut out);
        let s = snap(&out);
        assert_eq!(signed_area(&s).abs(), 2.0 * 50.0 * 50.0);
        // Entirely outside: nothing.
        let far = [
            [200.0, 200.0],
            [300.0, 200.0],
            [300.0, 300.0],
            [200.0, 300.0],
            [200.0, 200.0],
        ];
        clip(&far, 0.0, 100.0, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn mercator_puts_the_origin_in_the_middle_and_tiles_count_from_the_top_left() {
        assert_eq!(mercator(Coord { x: 0.0, y: 0.0 }), [0.5, 0.5]);
        // 定州市 at z10: tile (839, 393) (x from lon, y from the top).
        assert_eq!(tile_of(115.0, 38.5, 10), (839, 393));
    }
}
