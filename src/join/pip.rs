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
///
/// Two allocations a polygon: the ring vertices, and one index array that
/// holds where each ring ends, the band offsets, then the banded edge
/// numbers. Edge `i` runs from `pts[i]` to `pts[i + 1]`; the last vertex of a
/// ring starts no edge.
#[derive(Debug, Clone)]
pub struct BandedPolygon {
    /// Bounding box: min x, min y, max x, max y.
    pub bbox: [f64; 4],
    /// Every ring's vertices, rings one after the other (each closed).
    pts: Vec<[f64; 2]>,
    /// `index[..n_rings]`: where each ring ends in `pts`;
    /// `index[n_rings..=n_rings + n_bands]`: where each band's edge numbers
    /// start in `index`; then the edge numbers of every band.
    index: Vec<u32>,
    inv_band_h: f64,
    n_rings: usize,
    n_bands: usize,
}

/// The box holding every polygon of `polys` (inverted when there are none).
pub fn bbox_of<'a>(polys: impl IntoIterator<Item = &'a BandedPolygon>) -> [f64; 4] {
    polys.into_iter().fold(
        [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ],
        |b, p| {
            [
                b[0].min(p.bbox[0]),
                b[1].min(p.bbox[1]),
                b[2].max(p.bbox[2]),
                b[3].max(p.bbox[3]),
            ]
        },
    )
}

impl BandedPolygon {
    /// Builds the banded edge lists of a (multi)polygon.
    pub fn new(geometry: &MultiPolygon<f64>) -> Self {
        let rings = || {
            geometry
                .iter()
                .flat_map(|poly| std::iter::once(poly.exterior()).chain(poly.interiors()))
        };
        let mut pts = Vec::with_capacity(rings().map(|r| r.0.len()).sum());
        let mut bbox = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        // Edge starts: every vertex but the last of each ring.
        let mut n_edges = 0;
        for ring in rings() {
            for c in &ring.0 {
                bbox = [
                    bbox[0].min(c.x),
                    bbox[1].min(c.y),
                    bbox[2].max(c.x),
                    bbox[3].max(c.y),
                ];
                pts.push([c.x, c.y]);
            }
            n_edges += ring.0.len().saturating_sub(1);
        }
        let n_bands = (n_edges / 8).clamp(1, 64);
        let height = bbox[3] - bbox[1];
        let inv_band_h = if height > 0.0 {
            n_bands as f64 / height
        } else {
            0.0
        };
        let n_rings = rings().count();
        let mut p = BandedPolygon {
            bbox,
            pts,
            index: Vec::new(),
            inv_band_h,
            n_rings,
            n_bands,
        };
        // Horizontal edges never straddle a ray: left out of the bands.
        let mut starts = Vec::with_capacity(n_edges);
        let mut at = 0;
        for ring in rings() {
            let n = ring.0.len();
            starts
                .extend((at..at + n.saturating_sub(1)).filter(|&i| p.pts[i][1] != p.pts[i + 1][1]));
            at += n;
        }
        let bands = |i: usize| {
            let (y1, y2) = (p.pts[i][1], p.pts[i + 1][1]);
            p.band(y1.min(y2))..=p.band(y1.max(y2))
        };
        let mut index = Vec::with_capacity(n_rings + n_bands + 1 + starts.len() * 5 / 4);
        let mut end = 0;
        for ring in rings() {
            end += ring.0.len() as u32;
            index.push(end);
        }
        let o = n_rings;
        index.resize(o + n_bands + 1, 0);
        for &i in &starts {
            for b in bands(i) {
                index[o + b + 1] += 1;
            }
        }
        index[o] = (o + n_bands + 1) as u32;
        for b in 0..n_bands {
            index[o + b + 1] += index[o + b];
        }
        let mut fill: Vec<u32> = index[o..o + n_bands].to_vec();
        index.resize(index[o + n_bands] as usize, 0);
        for &i in &starts {
            for b in bands(i) {
                index[fill[b] as usize] = i as u32;
                fill[b] += 1;
            }
        }
        p.index = index;
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

    /// Edge `i`, a banded one (never horizontal), lower end first.
    #[inline]
    fn edge(&self, i: usize) -> [f64; 4] {
        let ([ax, ay], [bx, by]) = (self.pts[i], self.pts[i + 1]);
        // The ends' y differ: no tie for x to break.
        if ay < by {
            [ax, ay, bx, by]
        } else {
            [bx, by, ax, ay]
        }
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
        let b = self.n_rings + self.band(py);
        let (s, e) = (self.index[b] as usize, self.index[b + 1] as usize);
        let mut inside = false;
        for &i in &self.index[s..e] {
            let [xl, yl, xh, yh] = self.edge(i as usize);
            if yl <= py && py < yh {
                let cross = (xh - xl) * (py - yl) - (px - xl) * (yh - yl);
                if cross > 0.0 {
                    inside = !inside;
                }
            }
        }
        inside
    }

    /// Every ring's vertices (each ring closed), for callers that rasterise the boundary.
    pub fn rings(&self) -> impl Iterator<Item = &[[f64; 2]]> + '_ {
        let ends = &self.index[..self.n_rings];
        ends.iter().enumerate().map(move |(r, &end)| {
            let start = if r == 0 { 0 } else { ends[r - 1] as usize };
            &self.pts[start..end as usize]
        })
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
