//! The jittered hexagonal mesh every tier is cut from.
//!
//! Cells are centred on a triangular lattice in a local km plane
//! (equirectangular about the county centre) and kept when their centre lies
//! inside the real boundary. Vertices are the centroids of lattice triangles,
//! jittered and moved by a smooth warp, then converted to lon/lat and rounded
//! once: every ring that passes through a vertex reuses the same two f64s, so
//! neighbouring units share edges bit for bit. A hexagonal mesh has three
//! cells per vertex, so any region's boundary is a set of simple rings.

use std::collections::VecDeque;

use super::rng::{hash_unit, Rng};
use super::source::inside_even_odd;
use super::DemoError;

const KM_PER_DEG_LAT: f64 = 110.574;
const SQRT3: f64 = 1.732_050_807_568_877_2;
const NONE: u32 = u32::MAX;

/// Equirectangular projection about the county centre, in km.
#[derive(Debug, Clone, Copy)]
pub struct Plane {
    lon0: f64,
    lat0: f64,
    kx: f64,
}

impl Plane {
    fn new(lon0: f64, lat0: f64) -> Self {
        Plane {
            lon0,
            lat0,
            kx: 111.320 * lat0.to_radians().cos(),
        }
    }

    /// km → lon/lat, rounded to 7 decimals (about 1 cm).
    pub fn to_lonlat(&self, x: f64, y: f64) -> [f64; 2] {
        [
            round7(self.lon0 + x / self.kx),
            round7(self.lat0 + y / KM_PER_DEG_LAT),
        ]
    }

    /// lon/lat → km.
    pub fn to_km(&self, lon: f64, lat: f64) -> [f64; 2] {
        [
            (lon - self.lon0) * self.kx,
            (lat - self.lat0) * KM_PER_DEG_LAT,
        ]
    }
}

/// Rounds to 7 decimals; applied before rings are built so shared vertices
/// stay identical.
pub fn round7(v: f64) -> f64 {
    (v * 1e7).round() / 1e7
}

/// The kept cells of the lattice with their vertices.
#[derive(Debug, Clone)]
pub struct Mesh {
    pub plane: Plane,
    /// Lattice spacing (distance between neighbouring cell centres), km.
    pub spacing: f64,
    na: usize,
    /// Full lattice index of each kept cell, ascending.
    full: Vec<u32>,
    /// Kept-cell index of each lattice point, or `NONE`.
    compact: Vec<u32>,
    /// Unjittered centre of each kept cell, km.
    pub centres: Vec<[f64; 2]>,
    /// Rounded lon/lat of every lattice-triangle centroid (vertex id).
    pub vertices: Vec<[f64; 2]>,
}

impl Mesh {
    /// Builds a mesh of about `target_cells` cells inside `rings`.
    pub fn build(
        rings: &[Vec<[f64; 2]>],
        target_cells: usize,
        seed: u64,
    ) -> Result<Mesh, DemoError> {
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for p in rings.iter().flatten() {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let plane = Plane::new((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0);
        let [x_min, y_min] = plane.to_km(lo[0], lo[1]);
        let [x_max, y_max] = plane.to_km(hi[0], hi[1]);
        let area: f64 = rings.iter().map(|r| shoelace_km(&plane, r).abs()).sum();
        let s = (area / (target_cells.max(1) as f64 * SQRT3 / 2.0)).sqrt();
        let h = s * SQRT3 / 2.0;
        let (x0, y0) = (x_min - 3.0 * s, y_min - 3.0 * s);
        let nb = ((y_max - y_min + 6.0 * s) / h).ceil() as usize + 1;
        let off = nb / 2 + 1;
        let na = off + ((x_max - x_min + 6.0 * s) / s).ceil() as usize + 2;
        let centre = |a: usize, b: usize| {
            [
                x0 + (a as f64 - off as f64 + b as f64 / 2.0) * s,
                y0 + b as f64 * h,
            ]
        };

        let mut inside = vec![false; na * nb];
        for b in 1..nb - 1 {
            for a in 1..na - 1 {
                let [x, y] = centre(a, b);
                let [lon, lat] = plane.to_lonlat(x, y);
                inside[b * na + a] = inside_even_odd(rings, lon, lat);
            }
        }
        keep_largest_component(&mut inside, na);
        let full: Vec<u32> = (0..na * nb)
            .filter(|&f| inside[f])
            .map(|f| f as u32)
            .collect();
        if full.is_empty() {
            return Err(DemoError::Geometry(
                "no mesh cell inside the county boundary".into(),
            ));
        }
        let mut compact = vec![NONE; na * nb];
        for (c, &f) in full.iter().enumerate() {
            compact[f as usize] = c as u32;
        }
        let centres = full
            .iter()
            .map(|&f| centre(f as usize % na, f as usize / na))
            .collect();

        let warp = Warp::new(&mut Rng::stream(seed, 0x3A2F));
        let mut vertices = vec![[0.0; 2]; 2 * na * nb];
        for &f in &full {
            for v in hex_vertices(f as usize, na) {
                let base = v / 2;
                let [px, py] = centre(base % na, base / na);
                let (dx, dy) = if v % 2 == 0 {
                    (s / 2.0, h / 3.0)
                } else {
                    (s, 2.0 * h / 3.0)
                };
                let r = 0.17 * s * hash_unit(seed ^ 0x51, v as u64).sqrt();
                let t = std::f64::consts::TAU * hash_unit(seed ^ 0x52, v as u64);
                let (x, y) = (px + dx + r * t.cos(), py + dy + r * t.sin());
                let (wx, wy) = warp.at(x, y);
                vertices[v] = plane.to_lonlat(x + wx, y + wy);
            }
        }
        Ok(Mesh {
            plane,
            spacing: s,
            na,
            full,
            compact,
            centres,
            vertices,
        })
    }

    /// Number of kept cells.
    pub fn len(&self) -> usize {
        self.full.len()
    }

    /// Never true for a built mesh; [`Mesh::build`] refuses an empty one.
    pub fn is_empty(&self) -> bool {
        self.full.is_empty()
    }

    /// Kept neighbours across each of the six edges (edge k joins vertex k
    /// and vertex k+1 of [`Mesh::cell_vertices`]).
    pub fn neighbours(&self, c: usize) -> [Option<usize>; 6] {
        let f = self.full[c] as usize;
        let na = self.na;
        [f + na, f + na - 1, f - 1, f - na, f - na + 1, f + 1].map(|g| {
            let k = self.compact[g];
            (k != NONE).then_some(k as usize)
        })
    }

    /// Vertex ids of a cell, counter-clockwise.
    pub fn cell_vertices(&self, c: usize) -> [usize; 6] {
        hex_vertices(self.full[c] as usize, self.na)
    }
}

/// Vertex ids around lattice point `f`, CCW from 30°: U(a,b), D(a-1,b),
/// U(a-1,b), D(a-1,b-1), U(a,b-1), D(a,b-1) where U/D are the up and down
/// triangles anchored at a lattice point.
fn hex_vertices(f: usize, na: usize) -> [usize; 6] {
    [
        2 * f,
        2 * (f - 1) + 1,
        2 * (f - 1),
        2 * (f - 1 - na) + 1,
        2 * (f - na),
        2 * (f - na) + 1,
    ]
}

fn shoelace_km(plane: &Plane, ring: &[[f64; 2]]) -> f64 {
    let pts: Vec<[f64; 2]> = ring.iter().map(|p| plane.to_km(p[0], p[1])).collect();
    let n = pts.len();
    (0..n)
        .map(|i| pts[i][0] * pts[(i + 1) % n][1] - pts[(i + 1) % n][0] * pts[i][1])
        .sum::<f64>()
        / 2.0
}

/// Drops every cell outside the largest edge-connected group, so the county
/// (and therefore every tier) can be drawn as single polygons.
fn keep_largest_component(inside: &mut [bool], na: usize) {
    let mut comp = vec![NONE; inside.len()];
    let mut sizes = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..inside.len() {
        if !inside[start] || comp[start] != NONE {
            continue;
        }
        let id = sizes.len() as u32;
        let mut size = 0usize;
        comp[start] = id;
        queue.push_back(start);
        while let Some(f) = queue.pop_front() {
            size += 1;
            for g in [f + na, f + na - 1, f - 1, f - na, f - na + 1, f + 1] {
                if inside[g] && comp[g] == NONE {
                    comp[g] = id;
                    queue.push_back(g);
                }
            }
        }
        sizes.push(size);
    }
    // First largest wins ties, which keeps the choice deterministic.
    let best = sizes
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
        .map(|(i, _)| i as u32);
    for (f, v) in inside.iter_mut().enumerate() {
        *v = *v && Some(comp[f]) == best;
    }
}

/// Smooth multi-scale displacement; each term has slope 0.1, so the sum is
/// a contraction-plus-identity (Lipschitz < 0.6) and cannot fold cells.
struct Warp {
    terms: Vec<[f64; 5]>,
}

impl Warp {
    fn new(rng: &mut Rng) -> Self {
        let terms = [0.7, 1.4, 3.0, 6.0, 12.0, 20.0]
            .iter()
            .map(|lambda: &f64| {
                let k = std::f64::consts::TAU / lambda;
                let dir = rng.uniform(0.0, std::f64::consts::TAU);
                let udir = rng.uniform(0.0, std::f64::consts::TAU);
                let amp = 0.1 / k;
                [
                    k * dir.cos(),
                    k * dir.sin(),
                    amp * udir.cos(),
                    amp * udir.sin(),
                    rng.uniform(0.0, std::f64::consts::TAU),
                ]
            })
            .collect();
        Warp { terms }
    }

    fn at(&self, x: f64, y: f64) -> (f64, f64) {
        self.terms
            .iter()
            .fold((0.0, 0.0), |(dx, dy), [kx, ky, ux, uy, ph]| {
                let s = (kx * x + ky * y + ph).sin();
                (dx + ux * s, dy + uy * s)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::source;

    #[test]
    fn cells_are_counter_clockwise_and_neighbours_are_symmetric() {
        let county = source::load().expect("data");
        let mesh = Mesh::build(&county.rings, 3000, 1).expect("mesh");
        assert!(mesh.len() > 2000 && mesh.len() < 4000, "{}", mesh.len());
        for c in 0..mesh.len() {
            let vs = mesh.cell_vertices(c).map(|v| mesh.vertices[v]);
            let a: f64 = (0..6)
                .map(|i| vs[i][0] * vs[(i + 1) % 6][1] - vs[(i + 1) % 6][0] * vs[i][1])
                .sum();
            assert!(a > 0.0);
            for (k, n) in mesh.neighbours(c).iter().enumerate() {
                if let Some(n) = *n {
                    assert_eq!(mesh.neighbours(n)[(k + 3) % 6], Some(c));
                }
            }
        }
    }
}
