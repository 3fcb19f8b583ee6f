//! Cutting the mesh into units: seeds grown through cell adjacency.
//!
//! Each tier is a discrete, additively weighted Voronoi diagram of seeds
//! restricted to the parent: cells are claimed in order of distance to a
//! seed plus that seed's offset, but only by growth from an already claimed
//! neighbour in the same parent. Growth makes every unit connected by
//! construction (no fragments to merge afterwards) and every unit keeps at
//! least its seed cell. Lloyd steps move seeds to the weighted centroid of
//! their region; offsets are tuned so each region's mass nears its target
//! (small streets, grids of similar household counts).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::mesh::Mesh;
use super::rng::{Cdf, Rng};

/// Label of a cell that no seed has claimed.
pub const UNSET: u32 = u32::MAX;

/// One tier: a label per cell and, per label, its parent and seed cell.
#[derive(Debug, Clone)]
pub struct Tier {
    pub labels: Vec<u32>,
    pub parent: Vec<usize>,
    pub seeds: Vec<usize>,
}

impl Tier {
    /// Number of units.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// True when the tier has no units.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Sum of `weight` over each unit's cells.
    pub fn mass(&self, weight: &[f64]) -> Vec<f64> {
        let mut m = vec![0.0; self.len()];
        for (c, &l) in self.labels.iter().enumerate() {
            m[l as usize] += weight[c];
        }
        m
    }

    /// Cells of each unit, in ascending cell order.
    pub fn cells(&self) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::new(); self.len()];
        for (c, &l) in self.labels.iter().enumerate() {
            out[l as usize].push(c);
        }
        out
    }
}

/// What to relax: the parent of every cell and the weight that defines both
/// centroids and the mass compared with targets.
pub struct Problem<'a> {
    pub mesh: &'a Mesh,
    pub parent_of_cell: &'a [u32],
    pub weight: &'a [f64],
}

/// A seed to start from.
#[derive(Debug, Clone, Copy)]
pub struct Seed {
    pub cell: usize,
    pub parent: usize,
    /// Share of the parent's mass this unit should get (any positive scale).
    pub target: f64,
    /// Fixed seeds never move (the urban streets around the county seat).
    pub fixed: bool,
}

impl Problem<'_> {
    /// Lloyd-relaxes the seeds for `iters` rounds and returns the final tier.
    pub fn relax(&self, seeds: &[Seed], iters: usize) -> Tier {
        let n = seeds.len();
        let mut cells: Vec<usize> = seeds.iter().map(|s| s.cell).collect();
        let mut offset = vec![0.0; n];
        let parent: Vec<usize> = seeds.iter().map(|s| s.parent).collect();
        let targets = self.normalised_targets(seeds);
        let cell_area = self.mesh.spacing * self.mesh.spacing * 0.866;
        let mut labels = self.grow(&cells, &offset);
        for _ in 0..iters {
            let mut mass = vec![0.0; n];
            let mut count = vec![0usize; n];
            let mut sum = vec![[0.0; 2]; n];
            for (c, &l) in labels.iter().enumerate() {
                let (l, w, p) = (l as usize, self.weight[c], self.mesh.centres[c]);
                mass[l] += w;
                count[l] += 1;
                sum[l][0] += w * p[0];
                sum[l][1] += w * p[1];
            }
            // Snap each centroid to the nearest cell of its own region, so
            // seeds stay distinct and inside their parent.
            let mut best = vec![(f64::MAX, usize::MAX); n];
            for (c, &l) in labels.iter().enumerate() {
                let l = l as usize;
                if seeds[l].fixed || mass[l] <= 0.0 {
                    continue;
                }
                let p = self.mesh.centres[c];
                let d = dist2(p, [sum[l][0] / mass[l], sum[l][1] / mass[l]]);
                if d < best[l].0 {
                    best[l] = (d, c);
                }
            }
            for l in 0..n {
                if best[l].1 != usize::MAX {
                    cells[l] = best[l].1;
                }
                let radius = (count[l] as f64 * cell_area / std::f64::consts::PI).sqrt();
                let ratio = (mass[l] / targets[l]).max(1e-3);
                offset[l] += 0.6 * radius * ratio.ln() / 2.0;
            }
            labels = self.grow(&cells, &offset);
        }
        Tier {
            labels,
            parent,
            seeds: cells,
        }
    }

    /// Scales targets so that within each parent they sum to its mass.
    fn normalised_targets(&self, seeds: &[Seed]) -> Vec<f64> {
        let np = seeds.iter().map(|s| s.parent + 1).max().unwrap_or(0);
        let mut parent_mass = vec![0.0; np];
        for (c, &p) in self.parent_of_cell.iter().enumerate() {
            if (p as usize) < np {
                parent_mass[p as usize] += self.weight[c];
            }
        }
        let mut target_sum = vec![0.0; np];
        for s in seeds {
            target_sum[s.parent] += s.target;
        }
        seeds
            .iter()
            .map(|s| (s.target / target_sum[s.parent] * parent_mass[s.parent]).max(1e-12))
            .collect()
    }

    /// Claims cells outward from the seeds; see the module docs.
    fn grow(&self, cells: &[usize], offset: &[f64]) -> Vec<u32> {
        let mesh = self.mesh;
        let mut labels = vec![UNSET; mesh.len()];
        let mut heap = BinaryHeap::new();
        for (l, &c) in cells.iter().enumerate() {
            labels[c] = l as u32;
        }
        let push = |heap: &mut BinaryHeap<Claim>, labels: &[u32], c: usize, l: usize| {
            for n in mesh.neighbours(c).into_iter().flatten() {
                if labels[n] == UNSET && self.parent_of_cell[n] == self.parent_of_cell[c] {
                    let key = dist2(mesh.centres[n], mesh.centres[cells[l]]).sqrt() + offset[l];
                    heap.push(Claim {
                        key,
                        cell: n as u32,
                        label: l as u32,
                    });
                }
            }
        };
        for (l, &c) in cells.iter().enumerate() {
            push(&mut heap, &labels, c, l);
        }
        while let Some(Claim { cell, label, .. }) = heap.pop() {
            let c = cell as usize;
            if labels[c] != UNSET {
                continue;
            }
            labels[c] = label;
            push(&mut heap, &labels, c, label as usize);
        }
        labels
    }
}

fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

/// Heap entry; ordered so the smallest key pops first, ties by cell then
/// label, which keeps growth independent of push order.
#[derive(Debug, Clone, Copy)]
struct Claim {
    key: f64,
    cell: u32,
    label: u32,
}

impl PartialEq for Claim {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Claim {}
impl PartialOrd for Claim {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Claim {
    fn cmp(&self, o: &Self) -> Ordering {
        o.key
            .total_cmp(&self.key)
            .then(o.cell.cmp(&self.cell))
            .then(o.label.cmp(&self.label))
    }
}

/// `k` distinct cells drawn with probability proportional to `weight`.
pub fn pick_cells(cells: &[usize], weight: &[f64], k: usize, rng: &mut Rng) -> Vec<usize> {
    if k >= cells.len() {
        return cells.to_vec();
    }
    let cdf = Cdf::new(&cells.iter().map(|&c| weight[c]).collect::<Vec<_>>());
    let mut taken = vec![false; cells.len()];
    let mut out = Vec::with_capacity(k);
    let mut tries = 0;
    while out.len() < k {
        // Heavy weights can make rejection slow; fall back to uniform.
        let i = if tries < 50 * k {
            cdf.sample(rng)
        } else {
            rng.below(cells.len())
        };
        tries += 1;
        if !taken[i] {
            taken[i] = true;
            out.push(cells[i]);
        }
    }
    out
}

/// Largest-remainder split of `total` proportional to `weights`, each share
/// between `min` and `max`.
pub fn allocate(weights: &[f64], total: usize, min: usize, max: usize) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let quota: Vec<f64> = weights
        .iter()
        .map(|w| w / sum.max(1e-300) * total as f64)
        .collect();
    let mut n: Vec<usize> = quota
        .iter()
        .map(|q| (q.floor() as usize).clamp(min, max))
        .collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        (quota[b] - quota[b].floor())
            .total_cmp(&(quota[a] - quota[a].floor()))
            .then(a.cmp(&b))
    });
    let mut given: usize = n.iter().sum();
    let mut pass = 0;
    while given < total && pass < 1000 {
        for &i in &order {
            if given < total && n[i] < max {
                n[i] += 1;
                given += 1;
            }
        }
        pass += 1;
    }
    // Floors raised to `min` may overshoot; take back from the largest.
    while given > total {
        let Some(i) = (0..n.len())
            .filter(|&i| n[i] > min)
            .max_by_key(|&i| (n[i], std::cmp::Reverse(i)))
        else {
            break;
        };
        n[i] -= 1;
        given -= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_hits_the_total_and_respects_the_minimum() {
        let n = allocate(&[100.0, 1.0, 1.0, 50.0], 20, 1, 999);
        assert_eq!(n.iter().sum::<usize>(), 20);
        assert!(n.iter().all(|&k| k >= 1));
        assert!(n[0] > n[3]);
    }
}
