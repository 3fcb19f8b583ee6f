//! Point → unit: the tier-3 cell index with exact tests, then tiers 2 and 1
//! through R-trees for points that fall in a gap between grids.

use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::RTree;
use serde::Serialize;

use super::cells::{Cell, CellIndex};
use super::pip::BandedPolygon;
use crate::grid::{GridModel, Level};

/// "No unit".
pub const NONE: u32 = u32::MAX;

/// Where one event ended up (CONTRACT.md "What every row becomes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Inside a tier-3 grid.
    Matched,
    /// Inside a tier-1 or tier-2 unit but in no grid.
    Partial,
    /// Valid, in no unit at all.
    Outside,
    /// Invalid row; never located.
    Rejected,
}

impl Outcome {
    /// Stable lower-case name, as written in the `outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::Partial => "partial",
            Outcome::Outside => "outside",
            Outcome::Rejected => "rejected",
        }
    }
}

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
    fn new(model: &GridModel, level: Level) -> Self {
        let units: Vec<u32> = model.level(level).map(|i| i as u32).collect();
        let polys: Vec<BandedPolygon> = units
            .par_iter()
            .map(|&u| BandedPolygon::new(&model.unit(u as usize).geometry))
            .collect();
        let entries = polys
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
}

/// Default cells per grid: about 1/16 of a grid's width per cell side.
pub const CELLS_PER_GRID: usize = 256;
/// Cap on the cell table (4 bytes a cell): past it, building the table costs
/// more than the exact tests it saves, unless points outnumber cells by far.
pub const MAX_CELLS: usize = 1 << 22;

impl Locator {
    /// Indexes every tier of the model.
    pub fn new(model: &GridModel, strategy: Strategy) -> Self {
        let grids = Tier::new(model, 3);
        let cells = match strategy {
            Strategy::Cells => CellIndex::build(&grids.polys, CELLS_PER_GRID, MAX_CELLS),
            Strategy::Rtree => CellIndex::build(&[], 1, 1),
        };
        Locator {
            villages: Tier::new(model, 2),
            townships: Tier::new(model, 1),
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
    pub fn locate_all(&self, xs: &[f64], ys: &[f64]) -> Vec<(Outcome, u32)> {
        let mut out = vec![(Outcome::Rejected, NONE); xs.len()];
        out.par_chunks_mut(16 * 1024)
            .enumerate()
            .for_each(|(c, chunk)| {
                let base = c * 16 * 1024;
                for (k, slot) in chunk.iter_mut().enumerate() {
                    let (x, y) = (xs[base + k], ys[base + k]);
                    if x.is_finite() && y.is_finite() {
                        *slot = self.locate(x, y);
                    }
                }
            });
        out
    }
}
