//! Day-sorted runs: each table is kept as a few runs of rows in day order
//! (one after a build, one more per append until runs of similar length
//! merge), so a window is read by binary search in each run instead of a
//! scan of every row.

use polars::prelude::*;

use super::PreAgg;
use crate::analytics::filter::{day_number, Query, DAY};

/// Runs a table may hold before the newest ones are merged regardless of length.
pub(super) const MAX_RUNS: usize = 8;

/// The days of `df`, read by position (any chunking).
pub(super) fn days_of(df: &DataFrame) -> Option<&Int32Chunked> {
    df.column(DAY).ok()?.i32().ok()
}

/// First row at or after `start` in `[start, end)` whose day is not below
/// `day` (the rows of a run are in day order).
fn first_not_below(days: &Int32Chunked, start: usize, end: usize, day: i32) -> usize {
    let (mut lo, mut hi) = (start, end);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if days.get(mid).is_some_and(|d| d < day) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Rows with a day in `[from, to)` of a table made of day-sorted runs
/// starting at `runs`: a filtered query then reads its month of each run
/// instead of two years. Falls back to the whole table when the day column
/// cannot be read; callers filter on the day anyway, so the fallback is only
/// slower, never wrong.
fn day_slice(df: &DataFrame, runs: &[usize], from: Option<i32>, to: Option<i32>) -> DataFrame {
    let Some(days) = days_of(df) else {
        return df.clone();
    };
    let n = df.height();
    let mut pieces: Vec<DataFrame> = Vec::with_capacity(runs.len());
    for (k, &s) in runs.iter().enumerate() {
        let e = runs.get(k + 1).copied().unwrap_or(n);
        let start = from.map_or(s, |f| first_not_below(days, s, e, f));
        let end = to.map_or(e, |t| first_not_below(days, start, e, t));
        if end > start || pieces.is_empty() {
            pieces.push(df.slice(start as i64, end - start));
        }
    }
    let mut out = pieces.swap_remove(0);
    for p in &pieces {
        // Same schema by construction; a failure would only lose speed.
        if out.vstack_mut(p).is_err() {
            return df.clone();
        }
    }
    out
}

/// Sorts `df` by day in one chunk.
pub(super) fn sorted_by_day(df: DataFrame) -> PolarsResult<DataFrame> {
    let mut df = df.sort(
        [DAY],
        SortMultipleOptions::default().with_multithreaded(true),
    )?;
    df.rechunk_mut();
    Ok(df)
}

/// Appends a day-sorted `tail` to the table `df` of runs `runs`, merging
/// runs so that there are few of them and each is at least twice the next
/// (the total sorting work stays that of a log-structured merge).
pub(super) fn append_run(
    df: &mut DataFrame,
    runs: &mut Vec<usize>,
    tail: &DataFrame,
) -> PolarsResult<()> {
    if tail.height() == 0 {
        return Ok(());
    }
    let start = df.height();
    // New rows on or after the last day so far extend the last run. Runs
    // are sorted, so the latest day is among their last rows, and the
    // tail's earliest is its first.
    let latest = days_of(df).and_then(|d| {
        let ends = runs.iter().skip(1).copied().chain([start]);
        ends.filter(|&e| e > 0).filter_map(|e| d.get(e - 1)).max()
    });
    let extends = match (latest, days_of(tail).and_then(|d| d.get(0))) {
        (Some(last), Some(first)) => first >= last,
        _ => start == 0,
    };
    df.vstack_mut(tail)?;
    if runs.is_empty() {
        runs.push(0);
    } else if !extends {
        runs.push(start);
    }
    while runs.len() >= 2 {
        let k = runs.len() - 1;
        let last = df.height() - runs[k];
        let prev = runs[k] - runs[k - 1];
        if last * 2 < prev && runs.len() <= MAX_RUNS {
            break;
        }
        let s = runs[k - 1];
        let merged = sorted_by_day(df.slice(s as i64, df.height() - s))?;
        let mut head = df.slice(0, s);
        head.vstack_mut(&merged)?;
        *df = head;
        runs.pop();
    }
    if df.first_col_n_chunks() > 32 {
        df.rechunk_mut();
    }
    Ok(())
}

/// The table `df` of runs `runs` without its rows on the sorted `days`,
/// except those of them `keep` keeps (it is given each day's rows of a run
/// and answers row for row), and the runs of what is left: each run stays in
/// day order. One chunk.
pub(super) fn cut_days(
    df: &DataFrame,
    runs: &[usize],
    days: &[i32],
    keep: &dyn Fn(&DataFrame) -> PolarsResult<Vec<bool>>,
) -> PolarsResult<(DataFrame, Vec<usize>)> {
    let Some(day) = days_of(df) else {
        return Ok((df.clone(), runs.to_vec()));
    };
    let n = df.height();
    let mut mask = vec![true; n];
    let mut cut = false;
    // Rows dropped before each run's start, for the runs' new offsets.
    let mut starts = Vec::with_capacity(runs.len());
    let mut dropped = 0;
    for (k, &s) in runs.iter().enumerate() {
        starts.push(s - dropped);
        let e = runs.get(k + 1).copied().unwrap_or(n);
        let mut from = s;
        for &d in days {
            let a = first_not_below(day, from, e, d);
            let b = first_not_below(day, a, e, d + 1);
            if b > a {
                let kept = keep(&df.slice(a as i64, b - a))?;
                for (m, k) in mask[a..b].iter_mut().zip(kept) {
                    *m = k;
                    dropped += usize::from(!k);
                }
                cut = true;
            }
            from = b;
        }
    }
    if !cut {
        return Ok((df.clone(), runs.to_vec()));
    }
    let mut out = df.filter(&BooleanChunked::from_slice("kept".into(), &mask))?;
    out.rechunk_mut();
    // Runs left empty are no runs; the first always starts at 0.
    let len = out.height();
    let mut new_runs: Vec<usize> = Vec::with_capacity(starts.len());
    for s in starts {
        if (s < len || new_runs.is_empty()) && new_runs.last() != Some(&s) {
            new_runs.push(s);
        }
    }
    Ok((out, new_runs))
}

impl PreAgg {
    /// Count-table rows of the query's window (the predicate still applies on top).
    pub fn events_in(&self, q: &Query) -> DataFrame {
        day_slice(
            &self.events,
            &self.runs[0],
            q.from.map(day_number),
            q.to.map(day_number),
        )
    }

    /// Issue rows of the query's window.
    pub fn issues_in(&self, q: &Query) -> DataFrame {
        day_slice(
            &self.issues,
            &self.runs[1],
            q.from.map(day_number),
            q.to.map(day_number),
        )
    }

    /// Issue rows from the beginning up to the query's window end.
    pub fn issues_before_end(&self, q: &Query) -> DataFrame {
        day_slice(&self.issues, &self.runs[1], None, q.to.map(day_number))
    }

    /// Household rows of the query's window.
    pub fn households_in(&self, q: &Query) -> DataFrame {
        day_slice(
            &self.households,
            &self.runs[2],
            q.from.map(day_number),
            q.to.map(day_number),
        )
    }
}

impl PreAgg {
    /// Ranges of issue-table rows (positions) with a day in `[from, to)`
    /// (`None`: unbounded), one per run: the rows a window adds to what an
    /// index gives, without copying them out.
    pub(crate) fn issue_rows_on_days(
        &self,
        from: i32,
        to: Option<i32>,
    ) -> PolarsResult<Vec<std::ops::Range<usize>>> {
        let days = self.issues.column(DAY)?.i32()?;
        let (runs, n) = (&self.runs[1], self.issues.height());
        Ok(runs
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                let e = runs.get(k + 1).copied().unwrap_or(n);
                let a = first_not_below(days, s, e, from);
                a..to.map_or(e, |t| first_not_below(days, a, e, t))
            })
            .filter(|r| !r.is_empty())
            .collect())
    }

    /// The issue table in its chunks, each with the position of its first
    /// row: one-chunk views of a whole table that appends left in several
    /// chunks, without copying it into one.
    pub(crate) fn issue_chunks(&self) -> PolarsResult<Vec<(usize, DataFrame)>> {
        let lengths: Vec<usize> = self.issues.column(DAY)?.i32()?.chunk_lengths().collect();
        let mut start = 0;
        Ok(lengths
            .into_iter()
            .filter(|&len| len > 0)
            .map(|len| {
                let part = (start, self.issues.slice(start as i64, len));
                start += len;
                part
            })
            .collect())
    }
}
