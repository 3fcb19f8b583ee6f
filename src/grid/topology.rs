//! How well children partition their parent: gaps, overlaps, overhangs, slivers.
//!
//! For each parent the children are unioned once; then the overhang is the
//! union minus the parent, the gap the parent minus the union, and the total
//! overlap the children's summed area minus the union's. Pairwise sibling
//! overlaps are only computed when that total says there is one, so a clean
//! county costs one union and two differences per parent. Areas are geodesic,
//! in m².

use geo::bool_ops::{unary_union, BooleanOps};
use geo::{BoundingRect, Intersects, MultiPolygon, Polygon};
use rayon::prelude::*;

use super::area::{area_m2, polygon_area_m2};
use super::model::GridModel;
use super::report::{Report, Severity};

/// Pieces smaller than this are floating-point noise of the overlay, not findings.
pub const NOISE_M2: f64 = 0.01;
/// A piece whose mean width (2 · area / perimeter) is under this is a sliver.
pub const SLIVER_WIDTH_M: f64 = 5.0;

const M_PER_DEG: f64 = 111_320.0;

/// Measures every parent's partition and adds the findings to the report.
pub fn check(model: &GridModel, report: &mut Report) {
    let parents: Vec<usize> = (0..model.units().len())
        .filter(|&i| !model.unit(i).children.is_empty())
        .collect();
    let found: Vec<Vec<Finding>> = parents
        .par_iter()
        .map(|&p| check_parent(model, p))
        .collect();
    for f in found.into_iter().flatten() {
        report.push(
            Severity::Warning,
            f.check,
            Some(f.feature),
            Some(&f.code),
            f.message,
            Some(f.area_m2),
        );
    }
    // A township or village without a unit under it is all gap: its
    // events reach no grid (partial), and no partition of it was checked.
    for u in model
        .units()
        .iter()
        .filter(|u| u.level < super::model::GRID_LEVEL && u.children.is_empty())
    {
        report.push(
            Severity::Warning,
            "gap",
            Some(u.feature_index),
            Some(&u.code),
            "no unit of the tier below lies in it: its whole area is a gap, and its events reach no grid \
             (partial)",
            Some(u.area_km2 * 1e6),
        );
    }
    for u in model.units() {
        let width = mean_width_m(&u.geometry, u.area_km2 * 1e6);
        if width < SLIVER_WIDTH_M {
            report.push(
                Severity::Warning,
                "sliver",
                Some(u.feature_index),
                Some(&u.code),
                format!("unit is a sliver: mean width {width:.2} m"),
                Some(u.area_km2 * 1e6),
            );
        }
    }
}

struct Finding {
    check: &'static str,
    feature: usize,
    code: String,
    message: String,
    area_m2: f64,
}

/// 2 · area / perimeter, with the area already known (a geodesic area
/// costs as much as the rest of the check together).
fn mean_width_m(g: &MultiPolygon<f64>, area_m2: f64) -> f64 {
    let lat = g.bounding_rect().map_or(0.0, |r| r.center().y);
    let kx = M_PER_DEG * lat.to_radians().cos();
    let perimeter: f64 = g
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|r| r.lines())
        .map(|l| ((l.dx() * kx).powi(2) + (l.dy() * M_PER_DEG).powi(2)).sqrt())
        .sum();
    if perimeter == 0.0 {
        return 0.0;
    }
    2.0 * area_m2 / perimeter
}

fn pieces(mp: &MultiPolygon<f64>) -> impl Iterator<Item = (f64, f64, &Polygon<f64>)> {
    mp.iter().filter_map(|p| {
        let a = polygon_area_m2(p);
        (a > NOISE_M2).then(|| (a, mean_width_m(&MultiPolygon(vec![p.clone()]), a), p))
    })
}

fn describe(kind: &str, area: f64, width: f64, p: &Polygon<f64>) -> (&'static str, String) {
    let at = p
        .exterior()
        .0
        .first()
        .map(|c| format!(" near ({:.5}, {:.5})", c.x, c.y))
        .unwrap_or_default();
    if width < SLIVER_WIDTH_M {
        (
            "sliver",
            format!("{kind} sliver of {area:.1} m², mean width {width:.2} m{at}"),
        )
    } else {
        (
            if kind == "gap" { "gap" } else { "overhang" },
            format!("{kind} of {area:.1} m²{at}"),
        )
    }
}

fn check_parent(model: &GridModel, p: usize) -> Vec<Finding> {
    let parent = model.unit(p);
    let kids: Vec<&MultiPolygon<f64>> = parent
        .children
        .iter()
        .map(|&c| &model.unit(c).geometry)
        .collect();
    let union = unary_union(kids.iter().copied());
    let mut out = Vec::new();
    let gap = parent.geometry.difference(&union);
    for (area, width, piece) in pieces(&gap) {
        let (check, msg) = describe("gap", area, width, piece);
        let message = format!("{msg} not covered by any child");
        out.push(Finding {
            check,
            feature: parent.feature_index,
            code: parent.code.clone(),
            message,
            area_m2: area,
        });
    }
    let over = union.difference(&parent.geometry);
    if area_m2(&over) > NOISE_M2 {
        for &c in &parent.children {
            let child = model.unit(c);
            if !child.geometry.intersects(&over) {
                continue;
            }
            let out_part = child.geometry.difference(&parent.geometry);
            for (area, width, piece) in pieces(&out_part) {
                let (check, msg) = describe("outside its parent", area, width, piece);
                let check = if check == "sliver" {
                    "sliver"
                } else {
                    "outside_parent"
                };
                let message = format!("{msg} (parent {})", parent.code);
                out.push(Finding {
                    check,
                    feature: child.feature_index,
                    code: child.code.clone(),
                    message,
                    area_m2: area,
                });
            }
        }
    }
    // The children's areas as loaded (each geodesic area is taken once).
    let summed: f64 = parent
        .children
        .iter()
        .map(|&c| model.unit(c).area_km2 * 1e6)
        .sum();
    if summed - area_m2(&union) > NOISE_M2 {
        out.extend(sibling_overlaps(model, p));
    }
    out
}

fn sibling_overlaps(model: &GridModel, p: usize) -> Vec<Finding> {
    let kids = &model.unit(p).children;
    let boxes: Vec<_> = kids
        .iter()
        .map(|&c| model.unit(c).geometry.bounding_rect())
        .collect();
    let mut out = Vec::new();
    for a in 0..kids.len() {
        for b in a + 1..kids.len() {
            let (Some(ba), Some(bb)) = (boxes[a], boxes[b]) else {
                continue;
            };
            if !ba.intersects(&bb) {
                continue;
            }
            let (ua, ub) = (model.unit(kids[a]), model.unit(kids[b]));
            let inter = ua.geometry.intersection(&ub.geometry);
            let area = area_m2(&inter);
            if area <= NOISE_M2 {
                continue;
            }
            let width = mean_width_m(&inter, area);
            let check = if width < SLIVER_WIDTH_M {
                "sliver"
            } else {
                "overlap"
            };
            let message = format!(
                "overlaps {} (feature {}) by {area:.1} m², mean width {width:.2} m",
                ub.code, ub.feature_index
            );
            out.push(Finding {
                check,
                feature: ua.feature_index,
                code: ua.code.clone(),
                message,
                area_m2: area,
            });
        }
    }
    out
}
