//! Spatial weights between units, from their polygons: who is next to whom.
//!
//! Queen contiguity makes two units neighbours when their boundaries touch at
//! a vertex or along an edge. Real county files do not share coordinates
//! exactly — digitised boundaries leave slivers and hairline gaps — so
//! "touch" means "within `tolerance_m` metres": a vertex of one unit within
//! the tolerance of a vertex or an edge of the other. Coordinates are
//! projected to local metres (equirectangular around the county's mean
//! latitude), which is accurate to well under a percent across a county.
//! A distance band on unit centroids is offered for islands and for
//! analysts who prefer it.

use geo::{BoundingRect, Centroid, MultiPolygon};
use serde::Serialize;

use super::AnalyticsError;

/// How weights are scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// 1 for a neighbour, 0 otherwise (`B` in PySAL).
    Binary,
    /// Each row sums to 1 (`R` in PySAL); islands keep an empty row.
    Row,
}

/// Sparse spatial weights: for each unit, its neighbours and their weights.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Weights {
    /// Neighbour indices per unit, sorted ascending, never the unit itself.
    pub neighbours: Vec<Vec<usize>>,
    /// Weights aligned with `neighbours`.
    pub weights: Vec<Vec<f64>>,
    /// Scaling applied.
    pub transform: Transform,
}

/// Metres per degree of latitude (mean, WGS84).
const M_PER_DEG: f64 = 111_320.0;

impl Weights {
    /// Binary weights from neighbour lists (symmetrised, deduplicated, self removed).
    pub fn from_neighbours(mut neighbours: Vec<Vec<usize>>) -> Weights {
        let n = neighbours.len();
        let mut sym = neighbours.clone();
        for (i, ns) in neighbours.iter_mut().enumerate() {
            ns.retain(|&j| j != i && j < n);
            for &j in ns.iter() {
                sym[j].push(i);
            }
        }
        for (i, ns) in sym.iter_mut().enumerate() {
            ns.retain(|&j| j != i && j < n);
            ns.sort_unstable();
            ns.dedup();
        }
        let weights = sym.iter().map(|ns| vec![1.0; ns.len()]).collect();
        Weights {
            neighbours: sym,
            weights,
            transform: Transform::Binary,
        }
    }

    /// Number of units.
    pub fn n(&self) -> usize {
        self.neighbours.len()
    }

    /// Units without neighbours.
    pub fn islands(&self) -> Vec<usize> {
        (0..self.n())
            .filter(|&i| self.neighbours[i].is_empty())
            .collect()
    }

    /// The same neighbours with another scaling.
    pub fn transformed(&self, transform: Transform) -> Weights {
        let weights = self
            .neighbours
            .iter()
            .map(|ns| match transform {
                Transform::Binary => vec![1.0; ns.len()],
                Transform::Row => vec![1.0 / ns.len() as f64; ns.len()],
            })
            .collect();
        Weights {
            neighbours: self.neighbours.clone(),
            weights,
            transform,
        }
    }

    /// Spatial lag Σ_j w_ij y_j of every unit.
    pub fn lag(&self, y: &[f64]) -> Vec<f64> {
        self.neighbours
            .iter()
            .zip(&self.weights)
            .map(|(ns, ws)| ns.iter().zip(ws).map(|(&j, w)| w * y[j]).sum())
            .collect()
    }

    /// S0 = Σ_ij w_ij.
    pub fn s0(&self) -> f64 {
        self.weights.iter().flatten().sum()
    }

    /// S1 = ½ Σ_ij (w_ij + w_ji)² and S2 = Σ_i (w_i· + w_·i)², as PySAL defines them.
    pub fn s1_s2(&self) -> (f64, f64) {
        let n = self.n();
        let mut row = vec![0.0; n];
        let mut colsum = vec![0.0; n];
        let mut s1 = 0.0;
        for (i, (ns, ws)) in self.neighbours.iter().zip(&self.weights).enumerate() {
            for (&j, &w) in ns.iter().zip(ws) {
                row[i] += w;
                colsum[j] += w;
                let back = self.weight(j, i);
                s1 += (w + back).powi(2);
            }
        }
        // Pairs present only one way (never for contiguity, possible for
        // hand-made weights) are counted once from the side that has them.
        for (i, (ns, ws)) in self.neighbours.iter().zip(&self.weights).enumerate() {
            for (&j, &w) in ns.iter().zip(ws) {
                if self.neighbours[j].binary_search(&i).is_err() {
                    s1 += w * w;
                }
            }
        }
        let s2 = row.iter().zip(&colsum).map(|(r, c)| (r + c).powi(2)).sum();
        (s1 / 2.0, s2)
    }

    /// w_ij (0 when not neighbours).
    pub fn weight(&self, i: usize, j: usize) -> f64 {
        self.neighbours[i]
            .binary_search(&j)
            .map(|k| self.weights[i][k])
            .unwrap_or(0.0)
    }
}

/// Rings of a unit in local metres.
fn project(mp: &MultiPolygon<f64>, lat0: f64) -> Vec<Vec<(f64, f64)>> {
    let kx = M_PER_DEG * lat0.to_radians().cos();
    mp.0.iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .map(|ring| ring.0.iter().map(|c| (c.x * kx, c.y * M_PER_DEG)).collect())
        .collect()
}

fn mean_lat(units: &[&MultiPolygon<f64>]) -> f64 {
    let (sum, n) = units
        .iter()
        .filter_map(|mp| mp.bounding_rect())
        .fold((0.0, 0usize), |(s, n), r| {
            (s + (r.min().y + r.max().y) / 2.0, n + 1)
        });
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

fn seg_dist2(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (x, y) = (a.0 + t * dx, a.1 + t * dy);
    (p.0 - x).powi(2) + (p.1 - y).powi(2)
}

type Seg = ((f64, f64), (f64, f64));

/// Segments of a unit's rings that come within `window` (a box already
/// grown by the tolerance): only the part of two boundaries near the overlap
/// of their boxes can touch, and village outlines run to thousands of vertices.
fn segments_in(rings: &[Vec<(f64, f64)>], window: [f64; 4]) -> Vec<Seg> {
    rings
        .iter()
        .flat_map(|r| r.windows(2))
        .filter(|s| {
            let (a, b) = (s[0], s[1]);
            a.0.max(b.0) >= window[0]
                && a.0.min(b.0) <= window[2]
                && a.1.max(b.1) >= window[1]
                && a.1.min(b.1) <= window[3]
        })
        .map(|s| (s[0], s[1]))
        .collect()
}

fn touches(a: &[Vec<(f64, f64)>], b: &[Vec<(f64, f64)>], window: [f64; 4], tol2: f64) -> bool {
    let (sa, sb) = (segments_in(a, window), segments_in(b, window));
    // Every vertex starts a segment of its closed ring, so segment starts cover all vertices.
    let near = |from: &[Seg], to: &[Seg]| {
        from.iter()
            .any(|&(p, _)| to.iter().any(|&(u, v)| seg_dist2(p, u, v) <= tol2))
    };
    near(&sa, &sb) || near(&sb, &sa) || crosses(&sa, &sb)
}

/// Whether any edge of `a` crosses an edge of `b`: overlapping units touch
/// even when no vertex lies near the other's boundary.
fn crosses(a: &[Seg], b: &[Seg]) -> bool {
    let orient = |p: (f64, f64), q: (f64, f64), r: (f64, f64)| {
        (q.0 - p.0) * (r.1 - p.1) - (q.1 - p.1) * (r.0 - p.0)
    };
    a.iter().any(|&(s0, s1)| {
        b.iter().any(|&(t0, t1)| {
            let (d1, d2) = (orient(s0, s1, t0), orient(s0, s1, t1));
            let (d3, d4) = (orient(t0, t1, s0), orient(t0, t1, s1));
            d1 * d2 < 0.0 && d3 * d4 < 0.0
        })
    })
}

/// Queen contiguity (shared vertex or edge, within `tolerance_m` metres), binary.
///
/// With a tolerance of 0 only exactly shared coordinates count, which is
/// what PySAL's `Queen.from_dataframe` does for polygons that share vertices.
pub fn queen_contiguity(
    units: &[&MultiPolygon<f64>],
    tolerance_m: f64,
) -> Result<Weights, AnalyticsError> {
    if !(tolerance_m >= 0.0 && tolerance_m.is_finite()) {
        return Err(AnalyticsError::BadParameter {
            name: "tolerance_m",
            reason: format!("{tolerance_m} is not a finite distance >= 0"),
        });
    }
    let lat0 = mean_lat(units);
    let rings: Vec<_> = units.iter().map(|mp| project(mp, lat0)).collect();
    let boxes: Vec<Option<[f64; 4]>> = rings
        .iter()
        .map(|rs| {
            let mut it = rs.iter().flatten();
            let first = it.next()?;
            Some(it.fold([first.0, first.1, first.0, first.1], |b, p| {
                [b[0].min(p.0), b[1].min(p.1), b[2].max(p.0), b[3].max(p.1)]
            }))
        })
        .collect();
    let tol2 = tolerance_m * tolerance_m;
    let mut neighbours = vec![Vec::new(); units.len()];
    // Sweep on the west edge so only boxes overlapping in x are compared.
    let mut order: Vec<usize> = (0..units.len()).filter(|&i| boxes[i].is_some()).collect();
    order.sort_by(|&a, &b| {
        boxes[a]
            .map(|x| x[0])
            .partial_cmp(&boxes[b].map(|x| x[0]))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    for (k, &i) in order.iter().enumerate() {
        let Some(bi) = boxes[i] else { continue };
        for &j in &order[k + 1..] {
            let Some(bj) = boxes[j] else { continue };
            if bj[0] > bi[2] + tolerance_m {
                break;
            }
            let overlap = bj[1] <= bi[3] + tolerance_m && bi[1] <= bj[3] + tolerance_m;
            if overlap {
                let window = [
                    bi[0].max(bj[0]) - tolerance_m,
                    bi[1].max(bj[1]) - tolerance_m,
                    bi[2].min(bj[2]) + tolerance_m,
                    bi[3].min(bj[3]) + tolerance_m,
                ];
                if touches(&rings[i], &rings[j], window, tol2) {
                    neighbours[i].push(j);
                }
            }
        }
    }
    Ok(Weights::from_neighbours(neighbours))
}

/// Distance band: units whose centroids are within `band_m` metres, binary.
pub fn distance_band(units: &[&MultiPolygon<f64>], band_m: f64) -> Result<Weights, AnalyticsError> {
    if !(band_m > 0.0 && band_m.is_finite()) {
        return Err(AnalyticsError::BadParameter {
            name: "band_m",
            reason: format!("{band_m} is not a positive distance"),
        });
    }
    let lat0 = mean_lat(units);
    let kx = M_PER_DEG * lat0.to_radians().cos();
    let pts: Vec<Option<(f64, f64)>> = units
        .iter()
        .map(|mp| mp.centroid().map(|c| (c.x() * kx, c.y() * M_PER_DEG)))
        .collect();
    let mut neighbours = vec![Vec::new(); units.len()];
    for i in 0..pts.len() {
        for j in i + 1..pts.len() {
            if let (Some(a), Some(b)) = (pts[i], pts[j]) {
                if (a.0 - b.0).hypot(a.1 - b.1) <= band_m {
                    neighbours[i].push(j);
                }
            }
        }
    }
    Ok(Weights::from_neighbours(neighbours))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::testutil::square;

    #[test]
    fn a_three_by_three_lattice_has_queen_neighbours() {
        let cells: Vec<_> = (0..3)
            .flat_map(|r| (0..3).map(move |c| square(c as f64 * 0.01, r as f64 * 0.01, 0.01)))
            .collect();
        let refs: Vec<_> = cells.iter().collect();
        let w = queen_contiguity(&refs, 0.0).unwrap();
        assert_eq!(w.neighbours[4].len(), 8);
        assert_eq!(w.neighbours[0], vec![1, 3, 4]);
        assert_eq!(w.s0(), 40.0);
        let r = w.transformed(Transform::Row);
        assert!((r.weights[0].iter().sum::<f64>() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn a_sliver_gap_within_tolerance_still_touches() {
        // About 1.1 m of gap between the squares.
        let a = square(0.0, 0.0, 0.01);
        let b = square(0.01001, 0.0, 0.01);
        let w0 = queen_contiguity(&[&a, &b], 0.0).unwrap();
        assert!(w0.neighbours[0].is_empty());
        let w = queen_contiguity(&[&a, &b], 5.0).unwrap();
        assert_eq!(w.neighbours[0], vec![1]);
        assert_eq!(w.islands(), Vec::<usize>::new());
    }

    #[test]
    fn a_t_junction_counts_as_a_shared_edge() {
        // b's west edge runs along part of a's east edge without shared vertices.
        let a = square(0.0, 0.0, 0.02);
        let b = square(0.02, 0.005, 0.01);
        let w = queen_contiguity(&[&a, &b], 0.01).unwrap();
        assert_eq!(w.neighbours[1], vec![0]);
    }

    #[test]
    fn a_distance_band_links_near_centroids() {
        let a = square(0.0, 0.0, 0.01);
        let b = square(0.02, 0.0, 0.01);
        let w = distance_band(&[&a, &b], 1_500.0).unwrap();
        assert!(w.neighbours[0].is_empty());
        let w = distance_band(&[&a, &b], 2_500.0).unwrap();
        assert_eq!(w.neighbours[0], vec![1]);
        assert!(distance_band(&[&a], -1.0).is_err());
    }
}
