//! A uniform cell index over the tier-3 grids.
//!
//! Most points fall in a cell that no grid boundary crosses; such a cell lies
//! wholly inside one grid (or none), and its points are assigned with one
//! array read and no exact test. Cells that a boundary crosses keep the short
//! list of grids that can hold their points, which the exact test then tries
//! in code order. Identical lists are stored once.

use std::collections::HashMap;

use super::pip::BandedPolygon;

const EMPTY: u32 = u32::MAX;
const LIST: u32 = 1 << 31;

/// Cell lookup table for a set of polygons indexed 0..n in code order.
#[derive(Debug, Clone)]
pub struct CellIndex {
    x0: f64,
    y0: f64,
    inv: f64,
    nx: usize,
    ny: usize,
    /// `EMPTY`, a polygon number, or `LIST | k` for candidate list k.
    cells: Vec<u32>,
    list_start: Vec<u32>,
    list_items: Vec<u32>,
}

/// What a cell says about a point.
pub enum Cell<'a> {
    /// No polygon holds any point of this cell.
    Empty,
    /// Every point of the cell is in this polygon (the first in code order).
    One(u32),
    /// Try these polygons, in order, with the exact test.
    Some(&'a [u32]),
}

impl CellIndex {
    /// Builds the index with about `cells_per_polygon` cells per polygon, capped at `max_cells`.
    pub fn build(polys: &[BandedPolygon], cells_per_polygon: usize, max_cells: usize) -> Self {
        let mut bb = [f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY];
        for p in polys {
            bb = [bb[0].min(p.bbox[0]), bb[1].min(p.bbox[1]), bb[2].max(p.bbox[2]), bb[3].max(p.bbox[3])];
        }
        let (w, h) = ((bb[2] - bb[0]).max(1e-9), (bb[3] - bb[1]).max(1e-9));
        let target = (polys.len() * cells_per_polygon).clamp(1, max_cells) as f64;
        let size = (w * h / target).sqrt();
        let nx = ((w / size).ceil() as usize).max(1);
        let ny = ((h / size).ceil() as usize).max(1);
        let mut idx = CellIndex {
            x0: bb[0],
            y0: bb[1],
            inv: 1.0 / size,
            nx,
            ny,
            cells: vec![EMPTY; nx * ny],
            list_start: vec![0],
            list_items: Vec::new(),
        };
        if polys.is_empty() {
            return idx;
        }
        // (cell, polygon) pairs for every boundary crossing a cell, sorted by cell.
        let mut touched: Vec<u64> = Vec::new();
        for (pi, p) in polys.iter().enumerate() {
            for e in p.edges() {
                idx.for_cells_on_segment(e, |c| touched.push(((c as u64) << 32) | pi as u64));
            }
        }
        touched.sort_unstable();
        touched.dedup();
        // Owner of each cell's centre; for touched cells, also who contains the centre.
        let mut owner = vec![EMPTY; nx * ny];
        for (pi, p) in polys.iter().enumerate() {
            let (cx0, cy0) = idx.cell_xy(p.bbox[0], p.bbox[1]);
            let (cx1, cy1) = idx.cell_xy(p.bbox[2], p.bbox[3]);
            for cy in cy0..=cy1 {
                for cx in cx0..=cx1 {
                    let c = cy * nx + cx;
                    if owner[c] != EMPTY {
                        continue;
                    }
                    let (x, y) = idx.centre(cx, cy);
                    if p.contains(x, y) {
                        owner[c] = pi as u32;
                    }
                }
            }
        }
        let mut interned: HashMap<Vec<u32>, u32> = HashMap::new();
        idx.cells.copy_from_slice(&owner);
        let mut list = Vec::new();
        for group in touched.chunk_by(|a, b| a >> 32 == b >> 32) {
            let c = (group[0] >> 32) as usize;
            list.clear();
            list.extend(group.iter().map(|v| (v & 0xffff_ffff) as u32));
            if owner[c] != EMPTY {
                list.push(owner[c]);
            }
            list.sort_unstable();
            list.dedup();
            let next = interned.len() as u32;
            let k = *interned.entry(list.clone()).or_insert_with(|| {
                idx.list_items.extend_from_slice(&list);
                idx.list_start.push(idx.list_items.len() as u32);
                next
            });
            idx.cells[c] = LIST | k;
        }
        idx
    }

    #[inline]
    fn cell_xy(&self, x: f64, y: f64) -> (usize, usize) {
        // Monotone in x and y, so a point and an edge end compare the same way.
        let cx = ((x - self.x0) * self.inv) as isize;
        let cy = ((y - self.y0) * self.inv) as isize;
        (cx.clamp(0, self.nx as isize - 1) as usize, cy.clamp(0, self.ny as isize - 1) as usize)
    }

    fn centre(&self, cx: usize, cy: usize) -> (f64, f64) {
        let size = 1.0 / self.inv;
        (self.x0 + (cx as f64 + 0.5) * size, self.y0 + (cy as f64 + 0.5) * size)
    }

    /// Calls `f` for every cell the segment may touch (conservative: a small
    /// margin covers rounding in the column-by-column walk).
    fn for_cells_on_segment(&self, e: &[f64; 4], mut f: impl FnMut(usize)) {
        let [x1, y1, x2, y2] = *e;
        let (ax, bx) = if x1 <= x2 { ((x1, y1), (x2, y2)) } else { ((x2, y2), (x1, y1)) };
        let (c0, _) = self.cell_xy(ax.0, ax.1);
        let (c1, _) = self.cell_xy(bx.0, bx.1);
        let size = 1.0 / self.inv;
        let slope = if bx.0 > ax.0 { (bx.1 - ax.1) / (bx.0 - ax.0) } else { 0.0 };
        let margin = size * 1e-6;
        for cx in c0..=c1 {
            let xs = (self.x0 + cx as f64 * size).max(ax.0);
            let xe = (self.x0 + (cx + 1) as f64 * size).min(bx.0);
            let (ya, yb) = if bx.0 > ax.0 {
                (ax.1 + slope * (xs - ax.0), ax.1 + slope * (xe - ax.0))
            } else {
                (ax.1, bx.1)
            };
            let (lo, hi) = (ya.min(yb) - margin, ya.max(yb) + margin);
            let (_, r0) = self.cell_xy(xs, lo);
            let (_, r1) = self.cell_xy(xs, hi);
            for cy in r0..=r1 {
                f(cy * self.nx + cx);
            }
        }
    }

    /// Looks a point up. Points outside the indexed box are `Empty`.
    #[inline]
    pub fn lookup(&self, x: f64, y: f64) -> Cell<'_> {
        let fx = (x - self.x0) * self.inv;
        let fy = (y - self.y0) * self.inv;
        if !(fx >= 0.0 && fy >= 0.0) {
            return Cell::Empty;
        }
        let (cx, cy) = (fx as usize, fy as usize);
        if cx >= self.nx || cy >= self.ny {
            return Cell::Empty;
        }
        match self.cells[cy * self.nx + cx] {
            EMPTY => Cell::Empty,
            v if v & LIST != 0 => {
                let k = (v & !LIST) as usize;
                Cell::Some(&self.list_items[self.list_start[k] as usize..self.list_start[k + 1] as usize])
            }
            v => Cell::One(v),
        }
    }

    /// Number of cells, and how many a boundary crosses (for the bench report).
    pub fn stats(&self) -> (usize, usize) {
        (self.cells.len(), self.cells.iter().filter(|&&v| v != EMPTY && v & LIST != 0).count())
    }
}
