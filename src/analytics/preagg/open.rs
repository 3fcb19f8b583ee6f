//! Which issues may still be open at a window's end, without reading all
//! history: the backlog at an end counts the issues reported before it
//! and not resolved by it, and a leader asks about last month, when two
//! years of issues lie before that end and nearly all of them are closed.
//!
//! At the first of every month (a checkpoint) the index keeps the issue
//! rows that may be open then or later: reported before it, not a repeat,
//! and resolved at it or after, or not at all. The backlog at an end then
//! reads the rows kept at the last checkpoint before it and the rows
//! reported since, tested as before; a window that ends on the first of a
//! month reads only the first. Built once per version of the tables, when
//! a backlog is first asked for.

use std::ops::Range;

use chrono::Datelike;
use polars::prelude::*;

use super::instants::Instants;
use super::{col_names as p, CodeFilter, PreAgg, T};
use crate::analytics::filter::{date_of, day_number, DAY};
use crate::analytics::view::{one_chunk, view, Flags, View};
use crate::columns as c;

/// See the module.
pub struct OpenIndex {
    /// The checkpoints' local days, ascending (the first of each month
    /// from the earliest report's to the one after the latest).
    days: Vec<i32>,
    /// Their midnights (µs).
    midnights: Vec<i64>,
    /// For each checkpoint, the rows (issue-table positions) that may be
    /// open at it or later.
    open: Vec<Kept>,
    /// The first report of the non-repeat issues of each (tier code,
    /// category, source): which units had an issue before an end, closed
    /// or not (they get a backlog of zero, not none).
    first: Vec<FirstReport>,
}

/// The rows kept at one checkpoint, ascending within each category, so
/// that a query of some categories reads theirs alone: category slot `s`
/// (0: none, `c + 1`: code `c`) holds `rows[starts[s]..starts[s + 1]]`.
#[derive(Debug, Default)]
struct Kept {
    rows: Vec<u32>,
    starts: Vec<usize>,
}

impl Kept {
    fn of(slots: Vec<Vec<u32>>) -> Kept {
        let mut kept = Kept {
            rows: Vec::with_capacity(slots.iter().map(Vec::len).sum()),
            starts: vec![0],
        };
        for slot in slots {
            kept.rows.extend(slot);
            kept.starts.push(kept.rows.len());
        }
        kept
    }
}

/// A category code's slot in [`Kept`].
fn slot(category: Option<u32>) -> usize {
    category.map_or(0, |c| c as usize + 1)
}

/// The earliest report among the non-repeat issues of one key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FirstReport {
    pub(crate) t: u32,
    pub(crate) category: Option<u32>,
    pub(crate) source: Option<u32>,
    pub(crate) at_us: i64,
}

impl std::fmt::Debug for OpenIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenIndex")
            .field("checkpoints", &self.days.len())
            .field("rows", &self.rows_kept())
            .field("first", &self.first.len())
            .finish()
    }
}

/// The columns the index reads, in one chunk of the issue table.
struct Part {
    t: UInt32Chunked,
    category: UInt32Chunked,
    source: Option<UInt32Chunked>,
    occ: Instants,
    res: Instants,
    resolved: Flags,
    dup: Flags,
}

impl Part {
    fn of(df: &DataFrame) -> PolarsResult<Part> {
        let u =
            |name: &str| -> PolarsResult<UInt32Chunked> { Ok(one_chunk(df.column(name)?.u32()?)) };
        Ok(Part {
            t: u(T)?,
            category: u(c::CATEGORY)?,
            source: df
                .schema()
                .contains(c::SOURCE)
                .then(|| u(c::SOURCE))
                .transpose()?,
            occ: Instants::of(df, p::OCC_US)?,
            res: Instants::of(df, p::RES_US)?,
            resolved: Flags::of(df, p::IS_RESOLVED)?,
            dup: Flags::of(df, c::DUPLICATE)?,
        })
    }
}

impl OpenIndex {
    /// The index of `pre`'s issue table as it is.
    pub fn build(pre: &PreAgg) -> PolarsResult<OpenIndex> {
        let days = pre.issues.column(DAY)?.i32()?;
        let days: Vec<i32> = match days.min().zip(days.max()) {
            Some((lo, hi)) => checkpoints(lo, hi),
            None => Vec::new(),
        };
        let midnights: Vec<i64> = days
            .iter()
            .map(|&d| pre.zone.midnight_us(date_of(d)))
            .collect();
        // Each chunk in as many pieces as there are threads, read side by
        // side and put back together in row order.
        let threads = rayon::current_num_threads().max(1);
        let mut pieces = Vec::new();
        for (start, df) in pre.issue_chunks()? {
            let step = df.height().div_ceil(threads).max(1);
            for from in (0..df.height()).step_by(step) {
                let len = step.min(df.height() - from);
                pieces.push((start + from, df.slice(from as i64, len)));
            }
        }
        use rayon::prelude::*;
        let read: Vec<(Slots, Earliest)> = pieces
            .par_iter()
            .map(|(start, df)| read_piece(pre, *start, df, &midnights))
            .collect::<PolarsResult<_>>()?;
        let slots = pre.codes.categories.len() + 1;
        let mut open: Slots = vec![vec![Vec::new(); slots]; midnights.len()];
        let mut first = Earliest::new(&pre.codes);
        for (rows, earliest) in read {
            for (all, some) in open.iter_mut().zip(rows) {
                for (all, some) in all.iter_mut().zip(some) {
                    all.extend(some);
                }
            }
            first.absorb(earliest);
        }
        Ok(OpenIndex {
            days,
            midnights,
            open: open.into_iter().map(Kept::of).collect(),
            first: first.reports(),
        })
    }

    /// The rows the backlog at `end_us` reads, in no order: those kept at
    /// the last checkpoint at or before it in the categories `f` keeps,
    /// and those reported on its day or after up to the end's day (the
    /// reader tests each row's report time and codes, as any scan
    /// would). None before the first checkpoint: no issue was reported
    /// then. The kept rows were reported before the checkpoint, the others
    /// on its day or after: never the same row twice.
    pub(crate) fn rows_at(
        &self,
        pre: &PreAgg,
        end_us: i64,
        f: &CodeFilter,
    ) -> PolarsResult<Vec<u32>> {
        let k = self.midnights.partition_point(|&e| e <= end_us);
        let Some(k) = k.checked_sub(1) else {
            return Ok(Vec::new());
        };
        // Reports before the end lie on its day or before.
        let last_day = pre.zone.day_of_us()(end_us.saturating_sub(1));
        let since: Vec<Range<usize>> = pre.issue_rows_on_days(self.days[k], Some(last_day + 1))?;
        let kept = &self.open[k];
        let mut rows = Vec::new();
        for (s, w) in kept.starts.windows(2).enumerate() {
            let category = s.checked_sub(1).map(|c| c as u32);
            if f.keeps_category(category) {
                rows.extend_from_slice(&kept.rows[w[0]..w[1]]);
            }
        }
        for r in since {
            rows.extend(r.start as u32..r.end as u32);
        }
        Ok(rows)
    }

    /// See the `first` field.
    pub(crate) fn first_reports(&self) -> &[FirstReport] {
        &self.first
    }

    /// Checkpoints.
    pub fn checkpoints(&self) -> usize {
        self.days.len()
    }

    /// Row positions held over every checkpoint.
    pub fn rows_kept(&self) -> usize {
        self.open.iter().map(|k| k.rows.len()).sum()
    }
}

/// Rows by checkpoint and category slot.
type Slots = Vec<Vec<Vec<u32>>>;

/// The open rows by checkpoint and category and the earliest reports of the piece
/// `df` of the issue table, whose first row is at `start`.
fn read_piece(
    pre: &PreAgg,
    start: usize,
    df: &DataFrame,
    midnights: &[i64],
) -> PolarsResult<(Slots, Earliest)> {
    let m = midnights.len();
    let mut open: Slots = vec![vec![Vec::new(); pre.codes.categories.len() + 1]; m];
    let mut first = Earliest::new(&pre.codes);
    let above = |t: i64| midnights.partition_point(|&e| e <= t);
    let part = Part::of(df)?;
    let (t, cat) = (view(&part.t), view(&part.category));
    let src = part.source.as_ref().map_or(View::constant(None), view);
    let (occ, res) = (part.occ.view(), part.res.view());
    for i in 0..df.height() {
        let Some(o) = occ.get(i) else { continue };
        if part.dup.get(i) == Some(true) {
            continue;
        }
        let category = cat.get(i);
        if let Some(t) = t.get(i) {
            first.note(t, category, src.get(i), o);
        }
        let r = res.get(i);
        if r.is_none() && part.resolved.get(i) == Some(true) {
            continue; // resolved at an unknown time: never open
        }
        // Kept at every checkpoint C with o < C <= r.
        let row = (start + i) as u32;
        for kept in &mut open[above(o)..r.map_or(m, above)] {
            if let Some(rows) = kept.get_mut(slot(category)) {
                rows.push(row);
            }
        }
    }
    Ok((open, first))
}

/// The earliest report by (tier code, category, source): in a flat table
/// when the codes are few, as they are (thousands of tier codes, tens of
/// categories, a few sources), else hashed.
enum Earliest {
    Flat {
        at: Vec<i64>,
        categories: usize,
        sources: usize,
    },
    Hashed(PlHashMap<(u32, Option<u32>, Option<u32>), i64>),
}

/// Entries of the flat table at most (64 MiB).
const FLAT: usize = 1 << 23;

impl Earliest {
    fn new(codes: &super::Codes) -> Earliest {
        // Null codes take slot 0.
        let (categories, sources) = (codes.categories.len() + 1, codes.sources.len() + 1);
        let n = codes.tiers.len().saturating_mul(categories * sources);
        if n <= FLAT {
            Earliest::Flat {
                at: vec![i64::MAX; n],
                categories,
                sources,
            }
        } else {
            Earliest::Hashed(PlHashMap::default())
        }
    }

    #[inline]
    fn note(&mut self, t: u32, category: Option<u32>, source: Option<u32>, at_us: i64) {
        match self {
            Earliest::Flat {
                at,
                categories,
                sources,
            } => {
                let i = (t as usize * *categories + slot(category)) * *sources + slot(source);
                if let Some(a) = at.get_mut(i) {
                    *a = (*a).min(at_us);
                }
            }
            Earliest::Hashed(map) => {
                let a = map.entry((t, category, source)).or_insert(at_us);
                *a = (*a).min(at_us);
            }
        }
    }

    /// Takes the earlier of each of `other`'s reports (same codes).
    fn absorb(&mut self, other: Earliest) {
        match (self, other) {
            (Earliest::Flat { at, .. }, Earliest::Flat { at: theirs, .. }) => {
                for (a, b) in at.iter_mut().zip(theirs) {
                    *a = (*a).min(b);
                }
            }
            (Earliest::Hashed(map), Earliest::Hashed(theirs)) => {
                for (k, b) in theirs {
                    let a = map.entry(k).or_insert(b);
                    *a = (*a).min(b);
                }
            }
            // Made from other codes (never: the pieces share theirs).
            (this, other) => {
                for r in other.reports() {
                    this.note(r.t, r.category, r.source, r.at_us);
                }
            }
        }
    }

    fn reports(self) -> Vec<FirstReport> {
        let report = |(t, category, source): (u32, Option<u32>, Option<u32>), at_us| FirstReport {
            t,
            category,
            source,
            at_us,
        };
        let mut out: Vec<FirstReport> = match self {
            Earliest::Flat {
                at,
                categories,
                sources,
            } => {
                let code = |v: usize| v.checked_sub(1).map(|v| v as u32);
                at.into_iter()
                    .enumerate()
                    .filter(|&(_, a)| a != i64::MAX)
                    .map(|(i, a)| {
                        let (ts, s) = (i / sources, i % sources);
                        let (t, c) = (ts / categories, ts % categories);
                        report((t as u32, code(c), code(s)), a)
                    })
                    .collect()
            }
            Earliest::Hashed(map) => map.into_iter().map(|(k, a)| report(k, a)).collect(),
        };
        out.sort_unstable_by_key(|f| (f.t, f.category, f.source));
        out
    }
}

/// The first of every month from `lo`'s to the one after `hi`'s, as day
/// numbers.
fn checkpoints(lo: i32, hi: i32) -> Vec<i32> {
    let start = date_of(lo);
    let mut month = start.with_day(1).unwrap_or(start);
    let mut out = Vec::new();
    loop {
        let day = day_number(month);
        out.push(day);
        if day > hi {
            return out;
        }
        month = match month.checked_add_months(chrono::Months::new(1)) {
            Some(next) => next,
            None => return out,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_are_the_month_starts_around_the_reports() {
        let d = |y, m, d| day_number(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap());
        assert_eq!(
            checkpoints(d(2025, 1, 15), d(2025, 3, 1)),
            vec![d(2025, 1, 1), d(2025, 2, 1), d(2025, 3, 1), d(2025, 4, 1)]
        );
        assert_eq!(
            checkpoints(d(2024, 12, 1), d(2024, 12, 31)),
            vec![d(2024, 12, 1), d(2025, 1, 1)]
        );
    }
}
