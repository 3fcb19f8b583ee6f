//! Turning labelled cells into GeoJSON-ready polygons.
//!
//! A unit's boundary is the set of cell edges whose other side has another
//! label (or no cell). Each edge is emitted in its cell's counter-clockwise
//! direction, so chained edges give a CCW exterior and CW holes, which is
//! what RFC 7946 asks for. Coordinates come from the mesh's rounded vertex
//! table, so two units sharing an edge carry identical numbers.

use super::mesh::Mesh;
use super::DemoError;

/// Rings of one polygon, each closed (last position = first); exterior first.
pub type Rings = Vec<Vec<[f64; 2]>>;

/// Polygons of every label in `0..n`, from a label per cell.
pub fn polygons(mesh: &Mesh, labels: &[u32], n: usize) -> Result<Vec<Rings>, DemoError> {
    let mut edges: Vec<(u32, u32, u32)> = Vec::new();
    for (c, &l) in labels.iter().enumerate() {
        let vs = mesh.cell_vertices(c);
        for (k, nb) in mesh.neighbours(c).iter().enumerate() {
            if nb.is_none_or(|nb| labels[nb] != l) {
                edges.push((l, vs[k] as u32, vs[(k + 1) % 6] as u32));
            }
        }
    }
    edges.sort_unstable();
    let mut out = vec![Vec::new(); n];
    let mut start = 0;
    while start < edges.len() {
        let label = edges[start].0;
        let end = start + edges[start..].partition_point(|e| e.0 == label);
        out[label as usize] = trace(mesh, &edges[start..end], label)?;
        start = end;
    }
    if let Some(l) = out.iter().position(|r| r.is_empty()) {
        return Err(DemoError::Geometry(format!("unit {l} of {n} has no cells")));
    }
    Ok(out)
}

/// Chains one label's directed edges (sorted by start vertex) into rings.
fn trace(mesh: &Mesh, edges: &[(u32, u32, u32)], label: u32) -> Result<Rings, DemoError> {
    let mut used = vec![false; edges.len()];
    let mut exterior = Vec::new();
    let mut holes = Vec::new();
    for first in 0..edges.len() {
        if used[first] {
            continue;
        }
        let mut ring = Vec::new();
        let mut i = first;
        while !used[i] {
            used[i] = true;
            ring.push(mesh.vertices[edges[i].1 as usize]);
            let to = edges[i].2;
            i = edges.partition_point(|e| e.1 < to);
            if i >= edges.len() || edges[i].1 != to {
                return Err(DemoError::Geometry(format!(
                    "open boundary in unit {label}"
                )));
            }
        }
        if i != first {
            return Err(DemoError::Geometry(format!(
                "boundary of unit {label} is not a simple ring"
            )));
        }
        ring.push(ring[0]);
        if signed_area(&ring) > 0.0 {
            exterior.push(ring);
        } else {
            holes.push(ring);
        }
    }
    if exterior.len() != 1 {
        return Err(DemoError::Geometry(format!(
            "unit {label} has {} exterior rings",
            exterior.len()
        )));
    }
    exterior.append(&mut holes);
    Ok(exterior)
}

/// Planar shoelace area of a closed ring in its own units (positive = CCW).
pub fn signed_area(ring: &[[f64; 2]]) -> f64 {
    ring.windows(2)
        .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
        .sum::<f64>()
        / 2.0
}

/// Even-odd point-in-polygon over all rings of a polygon.
pub fn contains(rings: &Rings, x: f64, y: f64) -> bool {
    let mut inside = false;
    for ring in rings {
        for w in ring.windows(2) {
            let ([xi, yi], [xj, yj]) = (w[0], w[1]);
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::source;

    #[test]
    fn halves_of_the_mesh_share_their_edge_exactly() {
        let county = source::load().expect("data");
        let mesh = Mesh::build(&county.rings, 2000, 3).expect("mesh");
        let labels: Vec<u32> = mesh.centres.iter().map(|p| u32::from(p[0] > 0.0)).collect();
        let polys = polygons(&mesh, &labels, 2).expect("polygons");
        let whole = polygons(&mesh, &vec![0; mesh.len()], 1).expect("whole");
        let area = |p: &Rings| p.iter().map(|r| signed_area(r)).sum::<f64>();
        let sum = area(&polys[0]) + area(&polys[1]);
        assert!((sum - area(&whole[0])).abs() < 1e-9 * area(&whole[0]));
    }
}
