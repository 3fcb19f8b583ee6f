//! Well-known binary (ISO WKB, little-endian, 2D) for the two geometry kinds
//! exports write: points (events) and multipolygons (units).
//!
//! Hand-written because it is a few lines and the only geometry encoding
//! GeoParquet's `WKB` encoding needs; units are always written as
//! `MultiPolygon` so a column has one geometry type.

use geo::{Coord, LineString, MultiPolygon, Point};

/// WKB type code of a point.
const POINT: u32 = 1;
/// WKB type code of a multipolygon.
const MULTIPOLYGON: u32 = 6;
/// WKB type code of a polygon.
const POLYGON: u32 = 3;

fn header(out: &mut Vec<u8>, kind: u32) {
    out.push(1); // little-endian
    out.extend_from_slice(&kind.to_le_bytes());
}

fn coord(out: &mut Vec<u8>, c: Coord<f64>) {
    out.extend_from_slice(&c.x.to_le_bytes());
    out.extend_from_slice(&c.y.to_le_bytes());
}

fn count(out: &mut Vec<u8>, n: usize) {
    // Rings and parts of a real unit are far below u32::MAX.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn ring(out: &mut Vec<u8>, r: &LineString<f64>) {
    count(out, r.0.len());
    for &c in &r.0 {
        coord(out, c);
    }
}

/// WKB of a point.
///
/// # Examples
/// ```
/// let b = wangge::export::wkb::point(geo::Point::new(115.0, 38.5));
/// assert_eq!(b.len(), 21);
/// assert_eq!(&b[..5], &[1, 1, 0, 0, 0]);
/// ```
pub fn point(p: Point<f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(21);
    header(&mut out, POINT);
    coord(&mut out, p.0);
    out
}

/// WKB of a multipolygon.
///
/// # Examples
/// ```
/// use geo::{polygon, MultiPolygon};
/// let mp = MultiPolygon(vec![polygon![(x: 0., y: 0.), (x: 1., y: 0.), (x: 0., y: 1.)]]);
/// let b = wangge::export::wkb::multipolygon(&mp);
/// assert_eq!(b[1], 6); // MultiPolygon
/// assert_eq!(b.len(), 9 + 9 + 4 + 4 * 16);
/// ```
pub fn multipolygon(mp: &MultiPolygon<f64>) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, MULTIPOLYGON);
    count(&mut out, mp.0.len());
    for poly in &mp.0 {
        header(&mut out, POLYGON);
        count(&mut out, 1 + poly.interiors().len());
        ring(&mut out, poly.exterior());
        for r in poly.interiors() {
            ring(&mut out, r);
        }
    }
    out
}
