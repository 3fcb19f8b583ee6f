//! The issue table's rare times, held apart.
//!
//! Seven milestones (returned, reworked, extended, escalated, the first
//! suspension and its end, the first re-open after a closure), the
//! deadline before an extension and the current suspension are reached by a few issues in a hundred. As columns of the issue table each took eight bytes
//! of every issue, set or not (0.3 GB at ten million events). They live in
//! a table of their own instead: one row per issue that has any of them,
//! sorted by frame row ([`c::FRAME_ROW`], which the issue table keeps too),
//! found through [`RareIndex`], a bitmap of frame rows with a count per
//! word. Frame rows do not move when the issue table is cut into windows,
//! merged or rebuilt for some days, so neither does this table.

use polars::prelude::*;
use polars_arrow::array::PrimitiveArray;

use super::col_names as p;
use crate::analytics::view::holds;
use crate::columns as c;

/// The issue table's columns held in the rare table, in the order their
/// values come out of [`Rare::at`]: the current suspension, then the
/// milestones from `returned` on (`p::FLOW_US[4..]`).
pub const RARE_US: [&str; 9] = [
    p::SUSP_US,
    p::FLOW_US[4],
    p::FLOW_US[5],
    p::FLOW_US[6],
    p::FLOW_US[7],
    p::FLOW_US[8],
    p::FLOW_US[9],
    p::FLOW_US[10],
    p::FLOW_US[11],
];

/// The first milestone held in the rare table (`p::FLOW_US` position).
pub const FIRST_RARE_FLOW: usize = 4;

/// Which frame rows have a row in the rare table, and which one: bit `r` of
/// the bitmap is set for frame row `r`, and the rows before word `w` number
/// `ranks[w]`.
#[derive(Debug, Default)]
pub struct RareIndex {
    words: Vec<u64>,
    ranks: Vec<u32>,
}

impl RareIndex {
    /// The index of a rare table (sorted by frame row, each once).
    pub fn of(rare: &DataFrame) -> PolarsResult<RareIndex> {
        let rows = rare.column(c::FRAME_ROW)?.u32()?;
        let words = rows.max().map_or(0, |m| m as usize / 64 + 1);
        let mut bits = vec![0u64; words];
        for r in rows.into_no_null_iter() {
            bits[r as usize / 64] |= 1 << (r % 64);
        }
        let mut ranks = Vec::with_capacity(words);
        let mut before = 0u32;
        for w in &bits {
            ranks.push(before);
            before += w.count_ones();
        }
        Ok(RareIndex { words: bits, ranks })
    }

    /// The rare table's row of frame row `r`, if it has one.
    #[inline]
    pub fn slot(&self, r: u32) -> Option<usize> {
        let (w, b) = (r as usize / 64, r % 64);
        let word = *self.words.get(w)?;
        if word >> b & 1 == 0 {
            return None;
        }
        let below = word & ((1u64 << b) - 1);
        Some(self.ranks[w] as usize + below.count_ones() as usize)
    }
}

/// The issue table without its [`RARE_US`] columns, and the rare table of
/// its rows that have any (frame row and those columns).
pub fn split(issues: DataFrame) -> PolarsResult<(DataFrame, DataFrame)> {
    let mut any = BooleanChunked::full("any".into(), false, issues.height());
    for name in RARE_US {
        any = &any | &issues.column(name)?.is_not_null();
    }
    let rare = issues
        .select(std::iter::once(c::FRAME_ROW).chain(RARE_US))?
        .filter(&any)?;
    Ok((issues.drop_many(RARE_US), rare))
}

/// `rare` sorted by frame row, in one chunk. Each frame row must come once:
/// tables appended to one another hold rows of one frame
/// ([`super::numbered`]).
fn by_frame_row(rare: DataFrame) -> PolarsResult<DataFrame> {
    let ascending = |df: &DataFrame| -> PolarsResult<Result<(), Option<u32>>> {
        let mut prev = None;
        for r in df.column(c::FRAME_ROW)?.u32()?.iter() {
            if r.is_none() || r <= prev {
                return Ok(Err(r));
            }
            prev = r;
        }
        Ok(Ok(()))
    };
    let mut rare = match ascending(&rare)? {
        Ok(()) => rare,
        Err(_) => {
            let sorted = rare.sort([c::FRAME_ROW], Default::default())?;
            if let Err(r) = ascending(&sorted)? {
                polars_bail!(ComputeError: "the issue table's rare times: frame row {r:?} is missing or there twice");
            }
            sorted
        }
    };
    rare.rechunk_mut();
    Ok(rare)
}

/// The rare table, sorted by frame row, with its columns ready to be read
/// by frame row.
#[derive(Debug, Clone)]
pub struct Rare {
    table: DataFrame,
    /// The [`RARE_US`] columns' arrays, read by row (a `ChunkedArray`'s
    /// `get` finds the chunk first: a tenth of a KPI panel's time).
    columns: [Option<PrimitiveArray<i64>>; RARE_US.len()],
    index: std::sync::Arc<RareIndex>,
}

impl Rare {
    /// A rare table (each frame row once, in any order), sorted and indexed.
    pub fn of(table: DataFrame) -> PolarsResult<Rare> {
        let table = by_frame_row(table)?;
        let index = std::sync::Arc::new(RareIndex::of(&table)?);
        let col = |name: &str| -> PolarsResult<Option<PrimitiveArray<i64>>> {
            let one = table.column(name)?.i64()?.rechunk();
            let first = one.downcast_iter().next().cloned();
            Ok(first)
        };
        let [a, b, d, e, f, g, h, i, j] = RARE_US.map(col);
        Ok(Rare {
            columns: [a?, b?, d?, e?, f?, g?, h?, i?, j?],
            table,
            index,
        })
    }

    /// The table: [`c::FRAME_ROW`] and [`RARE_US`], by frame row.
    pub fn table(&self) -> &DataFrame {
        &self.table
    }

    /// The row of frame row `r` here, if it has one.
    #[inline]
    pub fn slot(&self, r: u32) -> Option<usize> {
        self.index.slot(r)
    }

    /// Column `k` of [`RARE_US`] at row `slot` ([`Rare::slot`]).
    #[inline]
    pub fn value(&self, k: usize, slot: usize) -> Option<i64> {
        let a = self.columns.get(k)?.as_ref()?;
        holds(a, slot).then(|| a.value(slot))
    }

    /// The [`RARE_US`] values of frame row `r` (all `None` when it has no
    /// row here).
    pub fn at(&self, r: u32) -> [Option<i64>; RARE_US.len()] {
        match self.slot(r) {
            None => [None; RARE_US.len()],
            Some(s) => std::array::from_fn(|k| self.value(k, s)),
        }
    }
}

/// The issue table with its [`RARE_US`] columns back where they were built
/// (the current suspension after the deadline, the rare milestones after
/// `handled`): the table as the polars reference queries and the snapshot
/// of an older build know it.
#[cfg(test)]
pub fn whole(issues: &DataFrame, rare: &Rare) -> PolarsResult<DataFrame> {
    let rows = issues.column(c::FRAME_ROW)?.u32()?;
    let values: Vec<[Option<i64>; RARE_US.len()]> = rows
        .iter()
        .map(|r| r.map_or([None; RARE_US.len()], |r| rare.at(r)))
        .collect();
    let column = |k: usize| -> Column {
        Int64Chunked::from_iter_options(RARE_US[k].into(), values.iter().map(|v| v[k]))
            .into_column()
    };
    let mut out = Vec::with_capacity(issues.width() + RARE_US.len());
    for col in issues.columns() {
        out.push(col.clone());
        if col.name().as_str() == p::DUE_US {
            out.push(column(0));
        }
        if col.name().as_str() == p::FLOW_US[FIRST_RARE_FLOW - 1] {
            out.extend((1..RARE_US.len()).map(column));
        }
    }
    DataFrame::new(issues.height(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_finds_each_row_and_no_other() {
        let frame_rows: Vec<u32> = vec![0, 3, 63, 64, 65, 200, 1000];
        let times: Vec<Option<i64>> = (0..frame_rows.len() as i64).map(Some).collect();
        let mut cols = vec![Column::new(c::FRAME_ROW.into(), &frame_rows)];
        for name in RARE_US {
            cols.push(Column::new(name.into(), &times));
        }
        let table = DataFrame::new_infer_height(cols).unwrap();
        let index = RareIndex::of(&table).unwrap();
        for r in 0..1100u32 {
            assert_eq!(
                index.slot(r),
                frame_rows.iter().position(|&x| x == r),
                "{r}"
            );
        }
        let rare = Rare::of(table).unwrap();
        assert_eq!(rare.at(65), [Some(4); RARE_US.len()]);
        assert_eq!(rare.at(66), [None; RARE_US.len()]);
        assert_eq!(RareIndex::default().slot(0), None);
    }

    #[test]
    fn a_frame_row_there_twice_is_refused() {
        let table = |rows: &[u32]| {
            let mut cols = vec![Column::new(c::FRAME_ROW.into(), rows)];
            for name in RARE_US {
                cols.push(Column::new(name.into(), vec![Some(1i64); rows.len()]));
            }
            DataFrame::new_infer_height(cols).unwrap()
        };
        let sorted = by_frame_row(table(&[9, 2, 5])).unwrap();
        let rows: Vec<u32> = sorted
            .column(c::FRAME_ROW)
            .unwrap()
            .u32()
            .unwrap()
            .into_no_null_iter()
            .collect();
        assert_eq!(rows, [2, 5, 9]);
        let err = by_frame_row(table(&[9, 2, 9])).unwrap_err().to_string();
        assert!(err.contains("frame row Some(9)"), "{err}");
    }

    #[test]
    fn split_then_whole_gives_the_table_back() {
        let n = 10u32;
        let mut cols = vec![
            Column::new(p::DUE_US.into(), vec![1i64; n as usize]),
            Column::new(p::FLOW_US[3].into(), vec![2i64; n as usize]),
        ];
        for (k, name) in RARE_US.iter().enumerate() {
            let v: Vec<Option<i64>> = (0..n as i64)
                .map(|i| (i % 3 == 0 && i as usize % 7 != k).then_some(i * 10 + k as i64))
                .collect();
            cols.push(Column::new((*name).into(), v));
        }
        // Frame rows out of order, as in a day-sorted table.
        let rows: Vec<u32> = (0..n).map(|i| (i * 7) % n).collect();
        cols.push(Column::new(c::FRAME_ROW.into(), rows));
        let table = DataFrame::new_infer_height(cols).unwrap();
        let (dense, rare_table) = split(table.clone()).unwrap();
        assert_eq!(dense.width(), 3);
        assert_eq!(rare_table.height(), 4);
        let back = whole(&dense, &Rare::of(rare_table).unwrap()).unwrap();
        let order: Vec<&str> = [p::DUE_US, p::SUSP_US, p::FLOW_US[3]]
            .into_iter()
            .chain(RARE_US[1..].iter().copied())
            .chain([c::FRAME_ROW])
            .collect();
        assert!(back.equals_missing(&table.select(order).unwrap()));
    }
}
