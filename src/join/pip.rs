//! Exact point-in-polygon with a half-open boundary rule.
//!
//! The test casts a ray towards +x and counts crossings over every ring
//! (exterior and holes), so a point in a hole is outside. An edge counts when
//! its lower end is at or below the point and its upper end above
//! (`y_lo <= py < y_hi`) and the point is strictly left of it. The decision for
//! one point against one edge depends only on the unordered edge and the
//! point (each edge is stored lower end first), so two polygons sharing an
//! edge always decide it the same way. The consequence, for units that
//! partition their parent: a point on a shared edge or vertex is inside
//! exactly one of them — the unit to its east on a vertical edge, the unit to
//! its north on a horizontal one (each unit owns its west and south
//! boundary). The rule does not depend on input order.
//!
//! Edges are bucketed into horizontal bands of the polygon's bounding box so
//! a test looks only at the edges that can straddle the point's latitude.

use geo::MultiPolygon;

/// Edges of one polygon set, bucketed by band. Built once, queried without allocation.
#[derive(Debug, Clone)]
pub struct BandedPolygon {
    /// Bounding box: min x, min y, max x, max y.
    pub bbox: [f64; 4],
    /// Edges as (x_lo, y_lo, x_hi, y_hi), lower end first.
    edges: Vec<[f64; 4]>,
    /// For band b, `band_edges[band_start[b]..band_start[b + 1]]` are indices into `edges`.
    band_start: Vec<u32>,
    band_edges: Vec<u32>,
    inv_band_h: f64,
    n_bands: usize,
}

impl BandedPolygon {
    /// Builds the banded edge lists of a (multi)polygon.
    pub fn new(geometry: &MultiPolygon<f64>) -> Self {
        let mut edges = Vec::new();
        let mut bbox = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for poly in geometry {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for w in ring.0.windows(2) {
                    let (a, b) = (w[0], w[1]);
                    bbox = [
                        bbox[0].min(a.x),
                        bbox[1].min(a.y),
                        bbox[2].max(a.x),
                        bbox[3].max(a.y),
                    ];
                    let (lo, hi) = if (a.y, a.x) < (b.y, b.x) {
                        (a, b)
                    } else {
                        (b, a)
                    };
                    edges.push([lo.x, lo.y, hi.x, hi.y]);
                }
            }
        }
        let n_bands = (edges.len() / 8).clamp(1, 64);
        let height = bbox[3] - bbox[1];
        let inv_band_h = if height > 0.0 {
            n_bands as f64 / height
        } else {
            0.0
        };
        let mut p = BandedPolygon {
            bbox,
            edges,
            band_start: Vec::new(),
            band_edges: Vec::new(),
            inv_band_h,
            n_bands,
        };
        let mut counts = vec![0u32; n_bands + 1];
        // Horizontal edges never straddle a ray: kept in `edges`, left out of the bands.
        for e in p.edges.iter().filter(|e| e[1] != e[3]) {
            for b in p.band(e[1])..=p.band(e[3]) {
                counts[b + 1] += 1;
            }
        }
        for b in 0..n_bands {
            counts[b + 1] += counts[b];
        }
        let mut fill = counts.clone();
        p.band_edges = vec![0; counts[n_bands] as usize];
        for (i, e) in p.edges.iter().enumerate().filter(|(_, e)| e[1] != e[3]) {
            let (b0, b1) = (p.band(e[1]), p.band(e[3]));
            for slot in &mut fill[b0..=b1] {
                p.band_edges[*slot as usize] = i as u32;
                *slot += 1;
            }
        }
        p.band_start = counts;
        p
    }

    #[inline]
    fn band(&self, y: f64) -> usize {
        let b = ((y - self.bbox[1]) * self.inv_band_h) as isize;
        // `as` saturates; clamping keeps points on the top edge in the last band.
        b.clamp(0, self.n_bands as isize - 1) as usize
    }

    /// Whether the bounding box holds the point (closed box).
    #[inline]
    pub fn bbox_contains(&self, x: f64, y: f64) -> bool {
        x >= self.bbox[0] && x <= self.bbox[2] && y >= self.bbox[1] && y <= self.bbox[3]
    }

    /// Half-open point-in-polygon (see the module docs for the boundary rule).
    ///
    /// # Examples
    ///
    /// ```
    /// use geo::{wkt, MultiPolygon};
    /// use wangge::join::BandedPolygon;
    /// let west = BandedPolygon::new(&MultiPolygon(vec![wkt!(POLYGON((0. 0., 1. 0., 1. 1., 0. 1., 0. 0.)))]));
    /// let east = BandedPolygon::new(&MultiPolygon(vec![wkt!(POLYGON((1. 0., 2. 0., 2. 1., 1. 1., 1. 0.)))]));
    /// // On the shared edge x = 1: the eastern square owns it, the western does not.
    /// assert!(east.contains(1.0, 0.5) && !west.contains(1.0, 0.5));
    /// assert!(west.contains(0.5, 0.5));
    /// ```
    #[inline]
    pub fn contains(&self, px: f64, py: f64) -> bool {
        if !self.bbox_contains(px, py) {
            return false;
        }
        let b = self.band(py);
        let (s, e) = (self.band_start[b] as usize, self.band_start[b + 1] as usize);
        let mut inside = false;
        for &i in &self.band_edges[s..e] {
            let [xl, yl, xh, yh] = self.edges[i as usize];
            if yl <= py && py < yh {
                let cross = (xh - xl) * (py - yl) - (px - xl) * (yh - yl);
                if cross > 0.0 {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// All edges (horizontal ones too), lower end first, for callers that rasterise the boundary.
    pub fn edges(&self) -> &[[f64; 4]] {
        &self.edges
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::wkt;

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> BandedPolygon {
        BandedPolygon::new(&MultiPolygon(vec![
            geo::Rect::new((x0, y0), (x1, y1)).to_polygon()
        ]))
    }

    #[test]
    fn a_point_on_a_vertex_shared_by_four_squares_lands_in_exactly_one() {
        let sq = [
            square(0., 0., 1., 1.),
            square(1., 0., 2., 1.),
            square(0., 1., 1., 2.),
            square(1., 1., 2., 2.),
        ];
        let hits: Vec<usize> = (0..4).filter(|&i| sq[i].contains(1.0, 1.0)).collect();
        assert_eq!(
            hits,
            vec![3],
            "the north-east square owns the shared vertex"
        );
        for (x, y) in [(1.0, 0.5), (0.5, 1.0), (1.0, 1.5), (1.5, 1.0)] {
            assert_eq!(
                (0..4).filter(|&i| sq[i].contains(x, y)).count(),
                1,
                "({x}, {y})"
            );
        }
    }

    #[test]
    fn a_point_in_a_hole_is_not_in_the_polygon() {
        let p = BandedPolygon::new(&MultiPolygon(vec![wkt!(POLYGON(
            (0. 0., 10. 0., 10. 10., 0. 10., 0. 0.),
            (4. 4., 6. 4., 6. 6., 4. 6., 4. 4.)
        ))]));
        assert!(!p.contains(5.0, 5.0));
        assert!(p.contains(2.0, 5.0));
    }

    #[test]
    fn ring_direction_does_not_change_the_answer() {
        let ccw = BandedPolygon::new(&MultiPolygon(vec![
            wkt!(POLYGON((0. 0., 3. 1., 1. 3., 0. 0.))),
        ]));
        let cw = BandedPolygon::new(&MultiPolygon(vec![
            wkt!(POLYGON((0. 0., 1. 3., 3. 1., 0. 0.))),
        ]));
        for k in 0..200 {
            let (x, y) = ((k % 20) as f64 * 0.17, (k / 20) as f64 * 0.31);
            assert_eq!(ccw.contains(x, y), cw.contains(x, y));
        }
    }

    #[test]
    fn many_bands_give_the_same_answer_as_one() {
        // A 64-gon: enough edges for several bands.
        let ring: Vec<(f64, f64)> = (0..=64)
            .map(|k| {
                let t = k as f64 / 64.0 * std::f64::consts::TAU;
                let r = 1.0 + 0.3 * (5.0 * t).sin();
                (r * t.cos(), r * t.sin())
            })
            .collect();
        let poly = geo::Polygon::new(geo::LineString::from(ring), vec![]);
        let banded = BandedPolygon::new(&MultiPolygon(vec![poly.clone()]));
        assert!(banded.n_bands > 1);
        use geo::Contains;
        for i in 0..60 {
            for j in 0..60 {
                let (x, y) = (-1.5 + i as f64 * 0.0503, -1.5 + j as f64 * 0.0497);
                assert_eq!(
                    banded.contains(x, y),
                    poly.contains(&geo::Point::new(x, y)),
                    "({x}, {y})"
                );
            }
        }
    }
}
