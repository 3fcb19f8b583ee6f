//! A uniform cell index over the tier-3 grids.
//!
//! Most points fall in a cell that no grid boundary crosses; such a cell lies
//! wholly inside one grid (or none), and its points are assigned with one
//! array read and no exact test. Cells that a boundary crosses keep the short
//! list of grids that can hold their points, which the exact test then tries
//! in code order.
//!
//! The table is built row by row in parallel, with a scanline: left of the
//! county every point is outside every grid; walking east, a grid can only
//! start or stop holding points inside a cell that one of its edges crosses.
//! So the set of grids holding a boundary-free cell is carried along the
//! row, and only the grids whose edges were crossed are tested again, once,
//! at the next boundary-free cell. No per-cell search is needed, and the
//! result is exact even where grids overlap.

use rayon::prelude::*;

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

/// One row's cells, with its candidate lists numbered from 0.
struct Row {
    cells: Vec<u32>,
    list_end: Vec<u32>,
    items: Vec<u32>,
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
    /// Builds the index with about `cells_per_polygon` cells per polygon,
    /// capped at `max_cells`.
    pub fn build(polys: &[BandedPolygon], cells_per_polygon: usize, max_cells: usize) -> Self {
        let mut bb = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for p in polys {
            bb = [
                bb[0].min(p.bbox[0]),
                bb[1].min(p.bbox[1]),
                bb[2].max(p.bbox[2]),
                bb[3].max(p.bbox[3]),
            ];
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
        let mut touched: Vec<u64> = polys
            .par_iter()
            .enumerate()
            .flat_map_iter(|(pi, p)| {
                let mut pairs = Vec::new();
                for e in p.edges() {
                    idx.for_cells_on_segment(e, |c| pairs.push(((c as u64) << 32) | pi as u64));
                }
                pairs
            })
            .collect();
        touched.par_sort_unstable();
        touched.dedup();
        let rows: Vec<Row> = (0..ny)
            .into_par_iter()
            .map(|cy| {
                let lo = touched.partition_point(|v| (v >> 32) < (cy * nx) as u64);
                let hi = touched.partition_point(|v| (v >> 32) < ((cy + 1) * nx) as u64);
                idx.scan_row(cy, &touched[lo..hi], polys)
            })
            .collect();
        let mut cells = std::mem::take(&mut idx.cells);
        for (row, out) in rows.iter().zip(cells.chunks_mut(nx)) {
            let base = idx.list_start.len() as u32 - 1;
            for (slot, &v) in out.iter_mut().zip(&row.cells) {
                *slot = if v != EMPTY && v & LIST != 0 {
                    LIST | (base + (v & !LIST))
                } else {
                    v
                };
            }
            let offset = idx.list_items.len() as u32;
            idx.list_start
                .extend(row.list_end.iter().map(|e| offset + e));
            idx.list_items.extend_from_slice(&row.items);
        }
        idx.cells = cells;
        idx
    }

    /// One row of the scanline (see the module docs).
    fn scan_row(&self, cy: usize, touched: &[u64], polys: &[BandedPolygon]) -> Row {
        let nx = self.nx;
        let mut row = Row {
            cells: vec![EMPTY; nx],
            list_end: Vec::new(),
            items: Vec::new(),
        };
        let mut holding: Vec<u32> = Vec::new(); // grids holding the last boundary-free cell
        let mut crossed: Vec<u32> = Vec::new(); // grids with an edge in the current run of boundary cells
        let mut t = 0;
        for cx in 0..nx {
            let c = (cy * nx + cx) as u64;
            let start = t;
            while t < touched.len() && touched[t] >> 32 == c {
                t += 1;
            }
            if t > start {
                crossed.extend(touched[start..t].iter().map(|v| (v & 0xffff_ffff) as u32));
                crossed.sort_unstable();
                crossed.dedup();
                // Candidates: who held the cell before the run, and whoever crossed since.
                let k = row.list_end.len() as u32;
                let from = row.items.len();
                row.items.extend_from_slice(&holding);
                row.items.extend_from_slice(&crossed);
                row.items[from..].sort_unstable();
                let mut end = from;
                for i in from..row.items.len() {
                    if i == from || row.items[i] != row.items[end - 1] {
                        row.items[end] = row.items[i];
                        end += 1;
                    }
                }
                row.items.truncate(end);
                row.list_end.push(row.items.len() as u32);
                row.cells[cx] = LIST | k;
            } else {
                if !crossed.is_empty() {
                    let (x, y) = self.centre(cx, cy);
                    holding.retain(|g| crossed.binary_search(g).is_err());
                    holding.extend(
                        crossed
                            .iter()
                            .copied()
                            .filter(|&g| polys[g as usize].contains(x, y)),
                    );
                    holding.sort_unstable();
                    crossed.clear();
                }
                row.cells[cx] = holding.first().copied().unwrap_or(EMPTY);
            }
        }
        row
    }

    #[inline]
    fn cell_xy(&self, x: f64, y: f64) -> (usize, usize) {
        // Monotone in x and y, so a point and an edge end compare the same way.
        let cx = ((x - self.x0) * self.inv) as isize;
        let cy = ((y - self.y0) * self.inv) as isize;
        (
            cx.clamp(0, self.nx as isize - 1) as usize,
            cy.clamp(0, self.ny as isize - 1) as usize,
        )
    }

    fn centre(&self, cx: usize, cy: usize) -> (f64, f64) {
        let size = 1.0 / self.inv;
        (
            self.x0 + (cx as f64 + 0.5) * size,
            self.y0 + (cy as f64 + 0.5) * size,
        )
    }

    /// Calls `f` for every cell the segment may touch (conservative: a small
    /// margin covers rounding in the column-by-column walk).
    fn for_cells_on_segment(&self, e: &[f64; 4], mut f: impl FnMut(usize)) {
        let [x1, y1, x2, y2] = *e;
        let (ax, bx) = if x1 <= x2 {
            ((x1, y1), (x2, y2))
        } else {
            ((x2, y2), (x1, y1))
        };
        let (c0, _) = self.cell_xy(ax.0, ax.1);
        let (c1, _) = self.cell_xy(bx.0, bx.1);
        let size = 1.0 / self.inv;
        let slope = if bx.0 > ax.0 {
            (bx.1 - ax.1) / (bx.0 - ax.0)
        } else {
            0.0
        };
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
                Cell::Some(
                    &self.list_items[self.list_start[k] as usize..self.list_start[k + 1] as usize],
                )
            }
            v => Cell::One(v),
        }
    }

    /// Number of cells, and how many a boundary crosses (for the bench report).
    pub fn stats(&self) -> (usize, usize) {
        (
            self.cells.len(),
            self.cells
                .iter()
                .filter(|&&v| v != EMPTY && v & LIST != 0)
                .count(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{MultiPolygon, Rect};

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> BandedPolygon {
        BandedPolygon::new(&MultiPolygon(vec![
            Rect::new((x0, y0), (x1, y1)).to_polygon()
        ]))
    }

    fn first_holder(idx: &CellIndex, polys: &[BandedPolygon], x: f64, y: f64) -> Option<u32> {
        match idx.lookup(x, y) {
            Cell::Empty => None,
            Cell::One(k) => Some(k),
            Cell::Some(list) => list
                .iter()
                .copied()
                .find(|&k| polys[k as usize].contains(x, y)),
        }
    }

    #[test]
    fn overlapping_polygons_resolve_to_the_first_even_far_from_its_edges() {
        // 0 is large and holds 1 entirely; 2 is small and lies inside 0 too.
        let polys = [
            square(0., 0., 10., 10.),
            square(4., 4., 6., 6.),
            square(7., 7., 9.5, 9.5),
        ];
        let idx = CellIndex::build(&polys, 400, 1 << 20);
        for i in 0..100 {
            for j in 0..100 {
                let (x, y) = (i as f64 * 0.1 + 0.013, j as f64 * 0.1 + 0.017);
                let brute = (0..3u32).find(|&k| polys[k as usize].contains(x, y));
                assert_eq!(first_holder(&idx, &polys, x, y), brute, "({x}, {y})");
            }
        }
        // Reversed order: the small squares come first where they overlap.
        let polys = [square(4., 4., 6., 6.), square(0., 0., 10., 10.)];
        let idx = CellIndex::build(&polys, 400, 1 << 20);
        assert_eq!(first_holder(&idx, &polys, 5.0, 5.0), Some(0));
        assert_eq!(first_holder(&idx, &polys, 2.0, 5.0), Some(1));
        assert_eq!(first_holder(&idx, &polys, 11.0, 5.0), None);
    }
}
