//! Make-valid for dirty boundaries.
//!
//! Published boundaries repeat vertices, wind their rings the wrong way (the
//! real 定州市 ring does both) and often self-intersect: spikes
//! that double back, rings that touch or cross themselves. The repair re-nodes
//! the rings and keeps every region the ring winds around (non-zero fill
//! rule), so a lobe wound the "wrong" way is kept rather than cut out as a
//! hole: the repaired area is the area the boundary encloses.

use geo::bool_ops::{BooleanOps, FillRule, OpType};
use geo::orient::{Direction, Orient};
use geo::{CoordsIter, MultiPolygon, RemoveRepeatedPoints, Validation};

/// A repaired geometry and what the repair changed.
#[derive(Debug, Clone)]
pub struct Repaired {
    pub geometry: MultiPolygon<f64>,
    pub vertices_before: usize,
    pub vertices_after: usize,
}

/// Repairs a (multi)polygon; `Err` with a reason when the result is still invalid or empty.
///
/// # Examples
///
/// ```
/// use geo::{wkt, MultiPolygon, Validation, Area};
/// // A bowtie: the ring crosses itself at (5, 5).
/// let bowtie = MultiPolygon(vec![wkt!(POLYGON((0. 0., 0. 10., 10. 0., 10. 10., 0. 0.)))]);
/// assert!(!bowtie.is_valid());
/// let fixed = wangge::grid::repair_unit(&bowtie).unwrap();
/// assert!(fixed.geometry.is_valid());
/// assert!((fixed.geometry.unsigned_area() - 50.0).abs() < 1e-9);
/// ```
pub fn repair_unit(geometry: &MultiPolygon<f64>) -> Result<Repaired, String> {
    let cleaned = geometry.remove_repeated_points();
    let fixed = if cleaned.is_valid() {
        cleaned.orient(Direction::Default)
    } else {
        let empty = MultiPolygon::<f64>(vec![]);
        cleaned
            .boolean_op_with_fill_rule(&empty, OpType::Union, FillRule::NonZero)
            .orient(Direction::Default)
    };
    if fixed.0.is_empty() {
        return Err("the repaired geometry is empty".into());
    }
    if let Some(e) = fixed.validation_errors().first() {
        return Err(format!("still invalid after repair: {e}"));
    }
    Ok(Repaired {
        vertices_before: geometry.coords_count(),
        vertices_after: fixed.coords_count(),
        geometry: fixed,
    })
}
