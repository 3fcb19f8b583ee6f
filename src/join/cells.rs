//! A uniform cell index over the tier-3 grids.
//!
//! Most points fall in a cell that no grid boundary crosses; such a cell lies
//! wholly inside one grid (or none), and its points are assigned with one
//! array read and no exact test. Cells that a boundary crosses keep the short
//! list of grids that can hold their points, which the exact test then tries
//! in code order.
//!
//! The table is built without a single point-in-polygon test. Each grid's
//! rings are walked once: every cell an edge touches is marked, and every
//! row's centre line an edge crosses gets a toggle, placed in the first cell
//! of the row whose centre lies east of the crossing. The crossings are
//! counted with the exact test's half-open rule, so walking a row from the
//! west, the grids with an odd number of toggles so far are exactly those
//! holding the current cell's centre. A cell no edge touches lies wholly in
//! those grids; a touched cell lists them together with the grids touching
//! it. Rows are scanned in parallel, and the result is exact even where
//! grids overlap.

use rayon::prelude::*;

use super::pip::{bbox_of, BandedPolygon};
use crate::sort::counting_sort;

const EMPTY: u32 = u32::MAX;
const LIST: u32 = 1 << 31;
/// Marks a toggle (as opposed to a touched cell) in the build.
const TOGGLE: u32 = 1 << 31;

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

/// One row's candidate lists, numbered from 0.
struct Row {
    list_end: Vec<u32>,
    items: Vec<u32>,
}

/// Puts one row's marks in cell order (a counting sort on the column).
fn sort_by_cell(row: &mut [u64], nx: usize, scratch: &mut Vec<u64>) {
    scratch.clear();
    scratch.extend_from_slice(row);
    counting_sort(scratch, row, nx, |&v| (v >> 32) as usize % nx);
}

/// One row of the scanline (see the module docs): `marks` are the row's
/// (cell, toggle flag, polygon) in cell order, `out` its cells.
fn scan_row(marks: &[u64], out: &mut [u32]) -> Row {
    let mut row = Row {
        list_end: Vec::new(),
        items: Vec::new(),
    };
    let mut holding: Vec<u32> = Vec::new(); // polygons holding the centre of the current cell
    let (mut t, nx) = (0, out.len());
    for (cx, slot) in out.iter_mut().enumerate() {
        let from = row.items.len();
        while t < marks.len() && (marks[t] >> 32) as usize % nx == cx {
            let pi = (marks[t] & 0x7fff_ffff) as u32;
            if marks[t] & TOGGLE as u64 != 0 {
                match holding.binary_search(&pi) {
                    Ok(k) => {
                        holding.remove(k);
                    }
                    Err(k) => holding.insert(k, pi),
                }
            } else {
                row.items.push(pi);
            }
            t += 1;
        }
        if row.items.len() == from {
            *slot = holding.first().copied().unwrap_or(EMPTY);
            continue;
        }
        // A boundary cell: whoever touches it, and whoever holds it whole.
        row.items.extend_from_slice(&holding);
        row.items[from..].sort_unstable();
        let mut end = from;
        for i in from..row.items.len() {
            if i == from || row.items[i] != row.items[end - 1] {
                row.items[end] = row.items[i];
                end += 1;
            }
        }
        row.items.truncate(end);
        *slot = LIST | row.list_end.len() as u32;
        row.list_end.push(row.items.len() as u32);
    }
    row
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
        let bb = bbox_of(polys);
        let (w, h) = ((bb[2] - bb[0]).max(1e-9), (bb[3] - bb[1]).max(1e-9));
        let target = (polys.len() * cells_per_polygon).clamp(1, max_cells) as f64;
        let size = (w * h / target).sqrt();
        let nx = ((w / size).ceil() as usize).max(1);
        let ny = ((h / size).ceil() as usize).max(1);
        // Cell numbers share a u32 with the toggle flag while building.
        assert!(
            nx * ny < TOGGLE as usize,
            "a cell table of {nx} × {ny} cells is too large"
        );
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
        // Per polygon: the cells its boundary touches (a cell may repeat;
        // the scan lists each grid once) and its toggles (see `mark_ring`;
        // two toggles of one grid in one cell undo each other in the scan).
        let centres: Vec<f64> = (0..ny).map(|r| idx.centre_y(r)).collect();
        let marks: Vec<Vec<u32>> = polys
            .par_iter()
            .map(|p| {
                let mut marks = Vec::with_capacity(p.rings().map(|r| r.len() * 3 / 2).sum());
                for ring in p.rings() {
                    idx.mark_ring(ring, &centres, &mut marks);
                }
                marks
            })
            .collect();
        // (cell, kind, polygon) bucketed by row, in polygon order within a row.
        let row_of = |m: u32| (m & !TOGGLE) as usize / nx;
        let mut row_start = vec![0usize; ny + 1];
        for &m in marks.iter().flatten() {
            row_start[row_of(m) + 1] += 1;
        }
        for r in 0..ny {
            row_start[r + 1] += row_start[r];
        }
        let mut items = vec![0u64; row_start[ny]];
        let mut fill = row_start.clone();
        for (pi, ms) in marks.iter().enumerate() {
            for &m in ms {
                let r = row_of(m);
                items[fill[r]] = (((m & !TOGGLE) as u64) << 32) | ((m & TOGGLE) as u64) | pi as u64;
                fill[r] += 1;
            }
        }
        drop(marks);
        let mut slices = Vec::with_capacity(ny);
        let mut rest = items.as_mut_slice();
        for r in 0..ny {
            let (head, tail) = rest.split_at_mut(row_start[r + 1] - row_start[r]);
            slices.push(head);
            rest = tail;
        }
        let mut cells = std::mem::take(&mut idx.cells);
        let rows: Vec<Row> = cells
            .par_chunks_mut(nx)
            .zip(slices)
            .map_init(Vec::new, |scratch, (out, row)| {
                sort_by_cell(row, nx, scratch);
                scan_row(row, out)
            })
            .collect();
        // Number the candidate lists county-wide.
        let mut bases = Vec::with_capacity(ny);
        for row in &rows {
            bases.push(idx.list_start.len() as u32 - 1);
            let offset = idx.list_items.len() as u32;
            idx.list_start
                .extend(row.list_end.iter().map(|e| offset + e));
            idx.list_items.extend_from_slice(&row.items);
        }
        cells.par_chunks_mut(nx).zip(bases).for_each(|(out, base)| {
            for v in out.iter_mut().filter(|v| **v != EMPTY && **v & LIST != 0) {
                *v += base;
            }
        });
        idx.cells = cells;
        idx
    }

    /// The y of row `r`'s centre line.
    fn centre_y(&self, r: usize) -> f64 {
        self.y0 + (r as f64 + 0.5) / self.inv
    }

    /// Marks one closed ring: the cells its edges touch (each run of
    /// repeats once), and a toggle for every row centre line an edge crosses
    /// (half-open in y, as the exact test counts crossings), in the first
    /// cell of the row whose centre lies east of the crossing (none when no
    /// centre does).
    fn mark_ring(&self, ring: &[[f64; 2]], centres: &[f64], marks: &mut Vec<u32>) {
        // The first row whose centre line is at or above y: exact against
        // `centres`, so an edge ending on a centre line and the next edge
        // starting there decide it the same way.
        let first_row_at_or_above = |y: f64| {
            // An estimate (`as` truncates and saturates), made exact below.
            let mut r = (((y - self.y0) * self.inv + 0.5) as usize).min(self.ny);
            while r > 0 && centres[r - 1] >= y {
                r -= 1;
            }
            while r < self.ny && centres[r] < y {
                r += 1;
            }
            r
        };
        // A boundary zigzagging along a cell side returns to the cells it
        // just left: the last few marks catch most repeats.
        fn push(marks: &mut Vec<u32>, c: usize) {
            if !marks[marks.len().saturating_sub(4)..].contains(&(c as u32)) {
                marks.push(c as u32)
            }
        }
        let Some(&[x, y]) = ring.first() else { return };
        let mut prev = (x, y, self.cell_xy(x, y), first_row_at_or_above(y));
        for &[x, y] in &ring[1..] {
            let (cell, row) = (self.cell_xy(x, y), first_row_at_or_above(y));
            let (ax, ay, acell, arow) = prev;
            if cell == acell {
                // Both ends in one cell, and a cell is convex.
                push(marks, cell.1 * self.nx + cell.0);
            } else {
                self.for_cells_on_segment(&[ax, ay, x, y], |c| push(marks, c));
            }
            if row != arow {
                // The rows from the lower end's to the upper end's have
                // lower end <= centre < upper end.
                let ((xl, yl), (xh, yh)) = if (ay, ax) < (y, x) {
                    ((ax, ay), (x, y))
                } else {
                    ((x, y), (ax, ay))
                };
                let lo = arow.min(row);
                for (r, &yc) in (lo..).zip(&centres[lo..arow.max(row)]) {
                    let xc = xl + (xh - xl) * (yc - yl) / (yh - yl);
                    let f = (xc - self.x0) * self.inv - 0.5;
                    let col = if f < 0.0 { 0 } else { f as usize + 1 };
                    if col < self.nx {
                        marks.push((r * self.nx + col) as u32 | TOGGLE);
                    }
                }
            }
            prev = (x, y, cell, row);
        }
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

    /// Calls `f` for every cell the segment may touch (conservative: a small
    /// margin covers rounding in the column-by-column walk).
    fn for_cells_on_segment(&self, e: &[f64; 4], mut f: impl FnMut(usize)) {
        let [x1, y1, x2, y2] = *e;
        let (ax, bx) = if x1 <= x2 {
            ((x1, y1), (x2, y2))
        } else {
            ((x2, y2), (x1, y1))
        };
        let (c0, r0) = self.cell_xy(ax.0, ax.1);
        let (c1, r1) = self.cell_xy(bx.0, bx.1);
        if (c0, r0) == (c1, r1) {
            // Most edges are short: both ends in one cell, and a cell is convex.
            f(r0 * self.nx + c0);
            return;
        }
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

    fn polygon(ring: &[(f64, f64)]) -> BandedPolygon {
        BandedPolygon::new(&MultiPolygon(vec![geo::Polygon::new(
            geo::LineString::from(ring.to_vec()),
            vec![],
        )]))
    }

    #[test]
    fn vertices_on_row_centre_lines_and_cell_sides_change_nothing() {
        // The frame, last in code order, fixes the box at 8 × 8; with 4
        // polygons at 64 cells each, cells are 0.5 wide, so row centre lines
        // are at 0.25, 0.75, ... and cell sides at multiples of 0.5.
        let polys = [
            // A diamond with every vertex on a centre line and a cell side.
            polygon(&[(2., 0.75), (3., 1.75), (2., 2.75), (1., 1.75), (2., 0.75)]),
            // A horizontal edge along a centre line, an apex on a cell centre.
            polygon(&[(4., 0.75), (6., 0.75), (5.25, 3.25), (4., 0.75)]),
            // Spikes: two edges meet on a centre line and turn back.
            polygon(&[
                (1., 4.),
                (3.5, 4.25),
                (1.5, 4.75),
                (3.5, 5.25),
                (1., 6.),
                (1., 4.),
            ]),
            square(0., 0., 8., 8.),
        ];
        let idx = CellIndex::build(&polys, 64, 1 << 20);
        assert_eq!((idx.nx, idx.ny), (16, 16));
        assert_eq!(idx.centre_y(0), 0.25);
        for i in 0..=160 {
            for j in 0..=160 {
                let (x, y) = (i as f64 / 20.0, j as f64 / 20.0);
                let brute = (0..4u32).find(|&k| polys[k as usize].contains(x, y));
                assert_eq!(first_holder(&idx, &polys, x, y), brute, "({x}, {y})");
            }
        }
    }
}
