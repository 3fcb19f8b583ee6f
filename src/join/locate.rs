//! Point → unit: the tier-3 cell index with exact tests, then tiers 2 and 1
//! through R-trees for points that fall in a gap between grids.

use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;

use super::cells::{Cell, CellIndex};
use super::pip::{bbox_of, BandedPolygon};
use crate::grid::{GridModel, Level};
use crate::sort::counting_sort;

/// "No unit".
pub const NONE: u32 = u32::MAX;

pub use crate::columns::Outcome;

/// How tier-3 candidates are found before the exact test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Strategy {
    /// Uniform cells; cells inside one grid skip the exact test (default, fastest).
    #[default]
    Cells,
    /// R-tree of grid bounding boxes, exact test on each hit.
    Rtree,
}

type Entry = GeomWithData<Rectangle<[f64; 2]>, u32>;

struct Tier {
    polys: Vec<BandedPolygon>,
    units: Vec<u32>,
    tree: RTree<Entry>,
}

impl Tier {
    /// The units of `level` and their exact tests; `indexed`: with the
    /// R-tree of their boxes (tier 3 under [`Strategy::Cells`] has the cell
    /// table instead, and an empty tree).
    fn new(model: &GridModel, level: Level, indexed: bool) -> Self {
        let units: Vec<u32> = model.level(level).map(|i| i as u32).collect();
        let polys: Vec<BandedPolygon> = units
            .par_iter()
            .map(|&u| BandedPolygon::new(&model.unit(u as usize).geometry))
            .collect();
        let boxed = if indexed { &polys[..] } else { &[] };
        let entries = boxed
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let r = Rectangle::from_corners([p.bbox[0], p.bbox[1]], [p.bbox[2], p.bbox[3]]);
                GeomWithData::new(r, k as u32)
            })
            .collect();
        Tier {
            polys,
            units,
            tree: RTree::bulk_load(entries),
        }
    }

    /// The first polygon in code order that holds the point, as a position in `polys`.
    #[inline]
    fn find_index(&self, x: f64, y: f64) -> u32 {
        let mut best = NONE;
        for e in self.tree.locate_all_at_point(&[x, y]) {
            if e.data < best && self.polys[e.data as usize].contains(x, y) {
                best = e.data;
            }
        }
        best
    }

    /// The first polygon in code order that holds the point, as a unit index.
    #[inline]
    fn find(&self, x: f64, y: f64) -> u32 {
        match self.find_index(x, y) {
            NONE => NONE,
            k => self.units[k as usize],
        }
    }
}

/// Finds the unit of a point: built once per grid version, shared by threads.
pub struct Locator {
    grids: Tier,
    villages: Tier,
    townships: Tier,
    cells: CellIndex,
    strategy: Strategy,
    order: Order,
}

/// Cells per grid when many points are expected: about 1/16 of a grid's
/// width per cell side.
pub const CELLS_PER_GRID: usize = 256;
/// Fewest cells per grid.
pub const MIN_CELLS_PER_GRID: usize = 4;
/// Points per cell when sizing the table for a known number of points.
pub const POINTS_PER_CELL: usize = 4;
/// Cap on the cell table (4 bytes a cell): past it, building the table costs
/// more than the exact tests it saves, unless points outnumber cells by far.
pub const MAX_CELLS: usize = 1 << 22;

impl Locator {
    /// Indexes every tier of the model, for any number of points to come.
    pub fn new(model: &GridModel, strategy: Strategy) -> Self {
        Self::for_points(model, strategy, usize::MAX)
    }

    /// Indexes every tier of the model for about `points` points: a cell
    /// per [`POINTS_PER_CELL`] points, up to [`CELLS_PER_GRID`] a grid and at
    /// least [`MIN_CELLS_PER_GRID`]. A table much finer than the points costs
    /// more to build than the exact tests it saves: 50,000 grids and a
    /// million points (index and assignment) take 0.21-0.23 s at 5 cells a
    /// grid, 0.23-0.24 s at 20, 0.27 s at 40, 0.35 s at 256.
    pub fn for_points(model: &GridModel, strategy: Strategy, points: usize) -> Self {
        let grids = Tier::new(model, 3, strategy == Strategy::Rtree);
        let per_grid = (points / POINTS_PER_CELL / grids.polys.len().max(1))
            .clamp(MIN_CELLS_PER_GRID, CELLS_PER_GRID);
        // The cell table and the two upper tiers side by side.
        let (cells, (villages, townships)) = rayon::join(
            || match strategy {
                Strategy::Cells => CellIndex::build(&grids.polys, per_grid, MAX_CELLS),
                Strategy::Rtree => CellIndex::build(&[], 1, 1),
            },
            || rayon::join(|| Tier::new(model, 2, true), || Tier::new(model, 1, true)),
        );
        let bbox = bbox_of(grids.polys.iter().chain(&townships.polys));
        Locator {
            villages,
            townships,
            order: Order::new(bbox),
            grids,
            cells,
            strategy,
        }
    }

    /// Cell table size and boundary cells, for reports.
    pub fn cell_stats(&self) -> (usize, usize) {
        self.cells.stats()
    }

    /// The deepest unit holding a point and the outcome. The tier-3 answer
    /// is the grid, first in code order, whose half-open test holds the point
    /// (see [`super::pip`]); only without one are tiers 2 then 1 asked.
    #[inline]
    pub fn locate(&self, x: f64, y: f64) -> (Outcome, u32) {
        let grid = match self.strategy {
            Strategy::Cells => match self.cells.lookup(x, y) {
                Cell::Empty => NONE,
                Cell::One(k) => self.grids.units[k as usize],
                Cell::Some(list) => list
                    .iter()
                    .find(|&&k| self.grids.polys[k as usize].contains(x, y))
                    .map_or(NONE, |&k| self.grids.units[k as usize]),
            },
            Strategy::Rtree => self.grids.find(x, y),
        };
        if grid != NONE {
            return (Outcome::Matched, grid);
        }
        let v = self.villages.find(x, y);
        if v != NONE {
            return (Outcome::Partial, v);
        }
        let t = self.townships.find(x, y);
        if t != NONE {
            return (Outcome::Partial, t);
        }
        (Outcome::Outside, NONE)
    }

    /// Locates many points in parallel; NaN coordinates come out `Rejected`.
    ///
    /// Points arrive in any order, and looking each up where it stands would
    /// read the cell table and the polygons at random: most of the time would
    /// go to cache misses. So each block of points is first put in the
    /// order of a coarse grid over the county (a radix sort on the cell
    /// number), located in that order, and the answers written back in place.
    pub fn locate_all(&self, xs: &[f64], ys: &[f64]) -> Vec<(Outcome, u32)> {
        let mut out = vec![(Outcome::Rejected, NONE); xs.len()];
        let mut keys: Vec<u64> = Vec::with_capacity(BLOCK.min(xs.len()));
        let mut spare: Vec<u64> = Vec::new();
        let mut pts: Vec<(f64, f64)> = Vec::new();
        let mut found: Vec<(Outcome, u32)> = Vec::new();
        for (b, block) in out.chunks_mut(BLOCK).enumerate() {
            let base = b * BLOCK;
            keys.clear();
            keys.par_extend((0..block.len()).into_par_iter().filter_map(|k| {
                let (x, y) = (xs[base + k], ys[base + k]);
                (x.is_finite() && y.is_finite()).then(|| (self.order.key(x, y) << 32) | k as u64)
            }));
            if block.len() >= SORT_FROM {
                radix_sort_high(&mut keys, &mut spare, ORDER_BITS);
            }
            // Gathered once, so that locating reads the points in sequence.
            keys.par_iter()
                .map(|&v| {
                    let k = base + (v & 0xffff_ffff) as usize;
                    (xs[k], ys[k])
                })
                .collect_into_vec(&mut pts);
            pts.par_iter()
                .with_min_len(4096)
                .map(|&(x, y)| self.locate(x, y))
                .collect_into_vec(&mut found);
            for (v, r) in keys.iter().zip(&found) {
                block[(v & 0xffff_ffff) as usize] = *r;
            }
        }
        out
    }
}

/// Below this many points the sort costs more than the cache misses it saves.
const SORT_FROM: usize = 1 << 14;
/// Points sorted together: a million keeps the buffers at a few megabytes.
const BLOCK: usize = 1 << 20;
/// Bits of the order key: a 1024 × 1024 grid over the county.
const ORDER_BITS: u32 = 20;

/// The coarse grid whose row-major cell number orders the points.
struct Order {
    x0: f64,
    y0: f64,
    sx: f64,
    sy: f64,
}

impl Order {
    fn new(bbox: [f64; 4]) -> Self {
        let side = (1u64 << (ORDER_BITS / 2)) as f64;
        let span = |lo: f64, hi: f64| if hi > lo { side / (hi - lo) } else { 0.0 };
        Order {
            x0: bbox[0],
            y0: bbox[1],
            sx: span(bbox[0], bbox[2]),
            sy: span(bbox[1], bbox[3]),
        }
    }

    /// Row-major cell number; points off the grid go to its border.
    #[inline]
    fn key(&self, x: f64, y: f64) -> u64 {
        let max = (1u64 << (ORDER_BITS / 2)) - 1;
        // `as` saturates: negative offsets give 0.
        let cx = (((x - self.x0) * self.sx) as u64).min(max);
        let cy = (((y - self.y0) * self.sy) as u64).min(max);
        (cy << (ORDER_BITS / 2)) | cx
    }
}

/// Sorts `v` by its bits 32..32 + `bits` (least significant digit first,
/// 10 bits a pass, stable); `spare` is scratch space.
fn radix_sort_high(v: &mut Vec<u64>, spare: &mut Vec<u64>, bits: u32) {
    const DIGIT: u32 = 10;
    let mut shift = 32;
    while shift < 32 + bits {
        spare.resize(v.len(), 0);
        counting_sort(v, spare, 1 << DIGIT, |&x| {
            ((x >> shift) & ((1 << DIGIT) - 1)) as usize
        });
        std::mem::swap(v, spare);
        shift += DIGIT;
    }
}
