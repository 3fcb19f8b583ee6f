//! Shared boundary arcs of a tier's polygons, built as TopoJSON builds them,
//! so that each boundary two units share is simplified once and both units
//! draw the same simplified line: no gap and no overlap between neighbours
//! at any zoom.
//!
//! A vertex is a *junction* where the boundary stops being shared by the
//! same units (three units meet, or a shared edge turns into an outer one):
//! its neighbouring vertices differ between the rings passing through it.
//! Every ring is cut at its junctions into arcs; an arc and its reverse are
//! one arc. A ring with no junction (an island, a whole outer boundary) is
//! one closed arc, started at its smallest vertex so that two copies of it
//! are found equal. Simplification keeps the ends of every arc, so rings
//! stay closed and junctions stay where they are.
//!
//! Vertices are matched exactly after rounding to 1e-7 degrees (about
//! 1 cm), the precision the service writes GeoJSON with.

use std::collections::HashMap;

use geo::{Coord, LineString, MultiPolygon, Simplify};

type Key = (i64, i64);

/// A ring's vertices with their keys.
type Vertices = Vec<(Key, Coord<f64>)>;

fn key(c: Coord<f64>) -> Key {
    ((c.x * 1e7).round() as i64, (c.y * 1e7).round() as i64)
}

/// A ring as the arcs it is made of: (arc, traversed backwards).
pub type Ring = Vec<(u32, bool)>;

/// The arcs of a set of shapes and each shape's rings made of them.
pub struct Arcs {
    /// Each arc's points, projected by the function given to [`Arcs::build`].
    pub arcs: Vec<Vec<[f64; 2]>>,
    /// Per shape: polygons, each its rings (exterior first).
    pub shapes: Vec<Vec<Vec<Ring>>>,
}

/// What is known of a vertex: the unordered pair of its neighbours where
/// first seen, or that it is a junction.
#[derive(Clone, Copy, PartialEq)]
enum Seen {
    Pair(Key, Key),
    Junction,
}

fn pair(a: Key, b: Key) -> Seen {
    if a <= b {
        Seen::Pair(a, b)
    } else {
        Seen::Pair(b, a)
    }
}

/// A ring's distinct vertices (not closed), consecutive duplicates dropped.
fn vertices(ring: &LineString<f64>) -> Vec<(Key, Coord<f64>)> {
    let mut out: Vec<(Key, Coord<f64>)> = Vec::with_capacity(ring.0.len());
    for &c in &ring.0 {
        let k = key(c);
        if out.last().is_some_and(|l| l.0 == k) {
            continue;
        }
        out.push((k, c));
    }
    while out.len() > 1 && out.first().map(|f| f.0) == out.last().map(|l| l.0) {
        out.pop();
    }
    out
}

impl Arcs {
    /// The arcs of `shapes`, points projected with `project`.
    pub fn build(shapes: &[&MultiPolygon<f64>], project: impl Fn(Coord<f64>) -> [f64; 2]) -> Arcs {
        // Every ring's vertices, in shape / polygon / ring order.
        let rings: Vec<Vec<Vec<Vertices>>> = shapes
            .iter()
            .map(|mp| {
                mp.0.iter()
                    .map(|p| {
                        std::iter::once(p.exterior())
                            .chain(p.interiors())
                            .map(vertices)
                            .filter(|v| v.len() >= 3)
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut seen: HashMap<Key, Seen> = HashMap::new();
        for ring in rings.iter().flatten().flatten() {
            let n = ring.len();
            for i in 0..n {
                let here = pair(ring[(i + n - 1) % n].0, ring[(i + 1) % n].0);
                seen.entry(ring[i].0)
                    .and_modify(|s| {
                        if *s != here {
                            *s = Seen::Junction;
                        }
                    })
                    .or_insert(here);
            }
        }
        let mut arcs = Vec::new();
        let mut ids: HashMap<Vec<Key>, u32> = HashMap::new();
        let mut add = |points: &[(Key, Coord<f64>)]| -> (u32, bool) {
            let keys: Vec<Key> = points.iter().map(|p| p.0).collect();
            if let Some(&id) = ids.get(&keys) {
                return (id, false);
            }
            let rev: Vec<Key> = keys.iter().rev().copied().collect();
            if let Some(&id) = ids.get(&rev) {
                return (id, true);
            }
            let id = arcs.len() as u32;
            arcs.push(points.iter().map(|p| project(p.1)).collect::<Vec<_>>());
            ids.insert(keys, id);
            (id, false)
        };
        let shapes = rings
            .iter()
            .map(|polys| {
                polys
                    .iter()
                    .map(|rings| {
                        rings
                            .iter()
                            .map(|ring| {
                                let junctions: Vec<usize> = (0..ring.len())
                                    .filter(|&i| seen.get(&ring[i].0) == Some(&Seen::Junction))
                                    .collect();
                                cut(ring, &junctions, &mut add)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Arcs { arcs, shapes }
    }

    /// Every arc simplified with Douglas-Peucker at `tolerance` (in the
    /// projected units), ends kept. A closed arc that would fall below a
    /// triangle keeps its points.
    pub fn simplified(&self, tolerance: f64) -> Vec<Vec<[f64; 2]>> {
        self.arcs
            .iter()
            .map(|a| {
                if a.len() <= 2 {
                    return a.clone();
                }
                let line: LineString<f64> = a.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
                let s = line.simplify(tolerance);
                let closed = a.first() == a.last();
                if closed && s.0.len() < 4 {
                    return a.clone();
                }
                s.0.iter().map(|c| [c.x, c.y]).collect()
            })
            .collect()
    }

    /// A ring's points (closed: the last equals the first) from `arcs`
    /// (these arcs or their simplified copy), appended to `out`.
    pub fn ring(arcs: &[Vec<[f64; 2]>], ring: &Ring, out: &mut Vec<[f64; 2]>) {
        out.clear();
        for &(id, back) in ring {
            let a = &arcs[id as usize];
            let skip = usize::from(!out.is_empty());
            if back {
                out.extend(a.iter().rev().skip(skip));
            } else {
                out.extend(a.iter().skip(skip));
            }
        }
    }
}

/// Cuts a ring at its junctions into arcs, each registered with `add`.
fn cut(
    ring: &[(Key, Coord<f64>)],
    junctions: &[usize],
    add: &mut impl FnMut(&[(Key, Coord<f64>)]) -> (u32, bool),
) -> Ring {
    let n = ring.len();
    if junctions.is_empty() {
        // One closed arc from its smallest vertex, in the direction whose
        // second vertex is smaller: two copies of the ring meet as one arc.
        let start = (0..n).min_by_key(|&i| ring[i].0).unwrap_or(0);
        let forward = ring[(start + 1) % n].0 <= ring[(start + n - 1) % n].0;
        let pts: Vec<(Key, Coord<f64>)> = (0..=n)
            .map(|k| {
                let i = if forward { start + k } else { start + n - k };
                ring[i % n]
            })
            .collect();
        let (id, back) = add(&pts);
        return vec![(id, back == forward)];
    }
    let mut out = Vec::with_capacity(junctions.len());
    for (j, &from) in junctions.iter().enumerate() {
        let to = junctions.get(j + 1).copied().unwrap_or(junctions[0] + n);
        let pts: Vec<(Key, Coord<f64>)> = (from..=to).map(|i| ring[i % n]).collect();
        out.push(add(&pts));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{polygon, MultiPolygon};

    fn plain(c: Coord<f64>) -> [f64; 2] {
        [c.x, c.y]
    }

    fn rings_of(a: &Arcs, arcs: &[Vec<[f64; 2]>], shape: usize) -> Vec<Vec<[f64; 2]>> {
        let mut out = Vec::new();
        for poly in &a.shapes[shape] {
            for r in poly {
                let mut pts = Vec::new();
                Arcs::ring(arcs, r, &mut pts);
                out.push(pts);
            }
        }
        out
    }

    /// Two squares sharing a wiggly edge (x = 1 with small bumps): the edge
    /// is one arc used by both, in opposite directions, and a coarse
    /// simplification leaves both rings with the same boundary.
    #[test]
    fn a_shared_edge_is_one_arc_simplified_once_for_both_units() {
        let left = MultiPolygon(vec![polygon![
            (x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.01, y: 0.3), (x: 0.99, y: 0.6),
            (x: 1.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0),
        ]]);
        let right = MultiPolygon(vec![polygon![
            (x: 1.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 1.0), (x: 1.0, y: 1.0),
            (x: 0.99, y: 0.6), (x: 1.01, y: 0.3), (x: 1.0, y: 0.0),
        ]]);
        let a = Arcs::build(&[&left, &right], plain);
        // The shared edge and one outer arc per square.
        assert_eq!(a.arcs.len(), 3, "arcs: {:?}", a.arcs);
        let l = &a.shapes[0][0][0];
        let r = &a.shapes[1][0][0];
        let shared: Vec<_> = l
            .iter()
            .filter(|(id, _)| r.iter().any(|(o, _)| o == id))
            .collect();
        assert_eq!(shared.len(), 1, "one shared arc: {l:?} / {r:?}");
        let back_l = shared[0].1;
        let back_r = r.iter().find(|(o, _)| *o == shared[0].0).map(|x| x.1);
        assert_eq!(back_r, Some(!back_l), "walked in opposite directions");

        let coarse = a.simplified(0.05);
        let rl = rings_of(&a, &coarse, 0);
        let rr = rings_of(&a, &coarse, 1);
        // The shared boundary after simplification: the straight x = 1 edge.
        let on_edge = |p: &&[f64; 2]| (p[0] - 1.0).abs() < 0.02;
        let mut el: Vec<_> = rl[0].iter().filter(on_edge).copied().collect();
        let mut er: Vec<_> = rr[0].iter().filter(on_edge).copied().collect();
        el.sort_by(|a, b| a.partial_cmp(b).unwrap());
        el.dedup();
        er.sort_by(|a, b| a.partial_cmp(b).unwrap());
        er.dedup();
        assert_eq!(el, er, "both units draw the same simplified edge");
        assert_eq!(el, vec![[1.0, 0.0], [1.0, 1.0]], "the bumps are gone");
        // Closed rings.
        for r in rl.iter().chain(&rr) {
            assert_eq!(r.first(), r.last());
            assert!(r.len() >= 4);
        }
    }

    /// An island: a unit filling another's hole is one closed arc, found
    /// equal although its ring starts elsewhere and runs the other way.
    #[test]
    fn a_hole_and_the_island_filling_it_share_one_closed_arc() {
        let outer = MultiPolygon(vec![polygon!(
            exterior: [(x: 0.0, y: 0.0), (x: 4.0, y: 0.0), (x: 4.0, y: 4.0), (x: 0.0, y: 4.0), (x: 0.0, y: 0.0)],
            interiors: [[(x: 1.0, y: 1.0), (x: 1.0, y: 2.0), (x: 2.0, y: 2.0), (x: 2.0, y: 1.0), (x: 1.0, y: 1.0)]],
        )]);
        let island = MultiPolygon(vec![polygon![
            (x: 2.0, y: 2.0), (x: 1.0, y: 2.0), (x: 1.0, y: 1.0), (x: 2.0, y: 1.0), (x: 2.0, y: 2.0),
        ]]);
        let a = Arcs::build(&[&outer, &island], plain);
        assert_eq!(a.arcs.len(), 2, "the outer ring and the shared hole");
        assert_eq!(a.shapes[0][0][1][0].0, a.shapes[1][0][0][0].0);
        // Each ring comes back as it was (same vertices, same direction).
        let hole = rings_of(&a, &a.arcs, 0)[1].clone();
        let isl = rings_of(&a, &a.arcs, 1)[0].clone();
        let area = |r: &[[f64; 2]]| {
            r.windows(2)
                .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
                .sum::<f64>()
                / 2.0
        };
        assert_eq!(area(&hole), -1.0, "the hole keeps its clockwise order");
        assert_eq!(
            area(&isl),
            1.0,
            "the island keeps its counter-clockwise order"
        );
    }

    /// Three units meeting at a point: that point ends arcs in all three.
    #[test]
    fn three_units_meeting_make_a_junction() {
        let a = MultiPolygon(vec![
            polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)],
        ]);
        let b = MultiPolygon(vec![
            polygon![(x: 1.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 1.0), (x: 1.0, y: 1.0), (x: 1.0, y: 0.0)],
        ]);
        let c = MultiPolygon(vec![
            polygon![(x: 0.0, y: 1.0), (x: 1.0, y: 1.0), (x: 2.0, y: 1.0), (x: 2.0, y: 2.0), (x: 0.0, y: 2.0), (x: 0.0, y: 1.0)],
        ]);
        let arcs = Arcs::build(&[&a, &b, &c], plain);
        let junction = [1.0, 1.0];
        for s in 0..3 {
            let ends: Vec<[f64; 2]> = arcs.shapes[s][0][0]
                .iter()
                .flat_map(|&(id, _)| {
                    let a = &arcs.arcs[id as usize];
                    [a[0], a[a.len() - 1]]
                })
                .collect();
            assert!(
                ends.contains(&junction),
                "shape {s} ends an arc at (1, 1): {ends:?}"
            );
        }
    }
}
