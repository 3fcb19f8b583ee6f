//! Geodesic areas that do not depend on ring direction.
//!
//! `geo::GeodesicArea` reads a clockwise exterior as the rest of the globe
//! (about 510 million km²), and real files wind rings either way (the
//! published 定州市 ring is clockwise). Every area here is taken on a copy
//! oriented the RFC 7946 way first.

use geo::orient::{Direction, Orient};
use geo::{GeodesicArea, MultiPolygon, Polygon};

/// Area in m² on the WGS84 ellipsoid (Karney's algorithm), whatever the winding.
///
/// # Examples
///
/// ```
/// use geo::{wkt, MultiPolygon};
/// let ccw = MultiPolygon(vec![wkt!(POLYGON((115. 38., 115.01 38., 115.01 38.01, 115. 38.01, 115. 38.)))]);
/// let cw = MultiPolygon(vec![wkt!(POLYGON((115. 38., 115. 38.01, 115.01 38.01, 115.01 38., 115. 38.)))]);
/// let a = wangge::grid::area_m2(&ccw);
/// assert!((a - wangge::grid::area_m2(&cw)).abs() < 1e-6);
/// assert!((a - 973_000.0).abs() < 2_000.0); // 0.01° x 0.01° at 38°N
/// ```
pub fn area_m2(g: &MultiPolygon<f64>) -> f64 {
    g.iter().map(polygon_area_m2).sum()
}

/// Area of one polygon in m², whatever the winding.
pub fn polygon_area_m2(p: &Polygon<f64>) -> f64 {
    p.orient(Direction::Default).geodesic_area_unsigned()
}
