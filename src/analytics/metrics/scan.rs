//! Plain loops over the pre-aggregates' coded columns: one-chunk views,
//! the key columns and the filter they are read with, the issue table's
//! times, and per-unit grouping and quantiles.

use super::*;

pub(super) use crate::analytics::view::{one_chunk, view, Flags, View};

/// The coded key columns of a table: tier, day, kind, category, source.
pub(super) struct KeyCols {
    pub(super) t: UInt32Chunked,
    pub(super) day: Int32Chunked,
    /// None: the table holds one kind, `every_kind`.
    kind: Option<UInt32Chunked>,
    every_kind: Option<u32>,
    pub(super) cat: UInt32Chunked,
    /// None: the table holds no source (null on every row).
    src: Option<UInt32Chunked>,
}

/// Views of [`KeyCols`] and the unit and filter they are read with.
pub(super) struct Rows<'a> {
    pub(super) t: View<'a, u32>,
    pub(super) day: View<'a, i32>,
    pub(super) kind: View<'a, u32>,
    pub(super) cat: View<'a, u32>,
    pub(super) src: View<'a, u32>,
    pub(super) map: &'a [Option<u32>],
    pub(super) filter: &'a CodeFilter,
    pub(super) all: bool,
}

impl Rows<'_> {
    /// Row `i`'s unit position when it passes the filter.
    #[inline(always)]
    pub(super) fn unit(&self, i: usize) -> Option<u32> {
        if !self.all {
            let rest = || (self.day.get(i), self.kind.get(i), self.src.get(i));
            if !self.filter.keeps_row(self.cat.get(i), rest) {
                return None;
            }
        }
        self.map.get(self.t.get(i)? as usize).copied().flatten()
    }
}

impl KeyCols {
    /// The key columns of the count table.
    pub(super) fn of(df: &DataFrame) -> Result<KeyCols, AnalyticsError> {
        Self::of_kind(df, None)
    }

    /// The key columns of a table of one kind, which holds no kind column
    /// (the issue table, the household table: [`PreAgg::kind_code`] of
    /// theirs) and may hold no source either (sources restrict issues
    /// only): the absent columns read as `kind` and null on every row.
    pub(super) fn of_kind(df: &DataFrame, kind: Option<u32>) -> Result<KeyCols, AnalyticsError> {
        let u = |name: &str| -> Result<UInt32Chunked, AnalyticsError> {
            Ok(one_chunk(df.column(name)?.u32()?))
        };
        let held = |name: &str| df.schema().contains(name).then(|| u(name)).transpose();
        Ok(KeyCols {
            t: u(T)?,
            day: one_chunk(df.column(DAY)?.i32()?),
            kind: held(c::KIND)?,
            every_kind: kind,
            cat: u(c::CATEGORY)?,
            src: held(c::SOURCE)?,
        })
    }

    /// The kinds by row.
    pub(super) fn kind_view(&self) -> View<'_, u32> {
        match &self.kind {
            Some(k) => view(k),
            None => View::constant(self.every_kind),
        }
    }

    /// The sources by row.
    pub(super) fn src_view(&self) -> View<'_, u32> {
        self.src.as_ref().map_or(View::constant(None), view)
    }

    pub(super) fn len(&self) -> usize {
        self.t.len()
    }

    pub(super) fn rows<'a>(&'a self, key: &'a UnitKey, filter: &'a CodeFilter) -> Rows<'a> {
        // Tables come sliced to the window's days: when no code is
        // filtered either, no row needs testing.
        // (min and max are two scans of the column: only when they can
        // decide.)
        let within = filter.filters_no_code()
            && self.day.null_count() == 0
            && self
                .day
                .min()
                .zip(self.day.max())
                .is_some_and(|(first, last)| filter.keeps_days(first, last));
        Rows {
            t: view(&self.t),
            day: view(&self.day),
            kind: self.kind_view(),
            cat: view(&self.cat),
            src: self.src_view(),
            map: &key.map,
            filter,
            all: filter.keeps_all() || within,
        }
    }
}

/// A count column of the event table in one chunk.
pub(super) fn u32s(df: &DataFrame, name: &str) -> Result<UInt32Chunked, AnalyticsError> {
    Ok(one_chunk(df.column(name)?.u32()?))
}

/// The time columns of the issue table.
pub(super) struct Times {
    pub(super) occ: Instants,
    pub(super) res: Instants,
    pub(super) due: Instants,
    resolved: Flags,
    /// The milestones the issue table holds (those before
    /// [`FIRST_RARE_FLOW`] in [`p::FLOW_US`]).
    dense: [Instants; FIRST_RARE_FLOW],
    /// Each row's frame row, by which the rare times are found.
    rows: UInt32Chunked,
    rare: Rare,
    /// Actually solved, as last reported (null: not reported).
    solved: Flags,
    rated: Flags,
    /// Rows of cases that repeat another (重复件): in no case count.
    dup: Flags,
}

/// Positions in [`p::FLOW_US`].
pub(super) const ACC: usize = 0;
pub(super) const DISP: usize = 1;
pub(super) const HAND: usize = 2;
pub(super) const FIRST_CLOSED: usize = 3;
pub(super) const RET: usize = 4;
pub(super) const REW: usize = 5;
pub(super) const EXT: usize = 6;
pub(super) const ESC: usize = 7;
pub(super) const SUS: usize = 8;
pub(super) const RSM: usize = 9;
pub(super) const FIRST_DUE: usize = 10;
pub(super) const REOPEN: usize = 11;

impl Times {
    /// The times of `df`, rows of `pre`'s issue table.
    pub(super) fn of(pre: &PreAgg, df: &DataFrame) -> Result<Times, AnalyticsError> {
        let [a, b, cc, d] = [0, 1, 2, 3].map(|t| Instants::of(df, p::FLOW_US[t]));
        Ok(Times {
            occ: Instants::of(df, p::OCC_US)?,
            res: Instants::of(df, p::RES_US)?,
            due: Instants::of(df, p::DUE_US)?,
            resolved: Flags::of(df, p::IS_RESOLVED)?,
            dense: [a?, b?, cc?, d?],
            rows: one_chunk(df.column(c::FRAME_ROW)?.u32()?),
            rare: pre.rare.clone(),
            solved: Flags::of(df, p::SOLVED)?,
            rated: Flags::of(df, p::RATED)?,
            dup: Flags::of(df, c::DUPLICATE)?,
        })
    }

    /// Whether row `i` is a case that repeats another.
    #[inline]
    pub(super) fn dup(&self, i: usize) -> bool {
        self.dup.get(i) == Some(true)
    }

    /// Whether row `i` has a satisfaction rating.
    #[inline]
    pub(super) fn rated(&self, i: usize) -> bool {
        self.rated.get(i) == Some(true)
    }

    /// Whether row `i` was actually solved, as last reported (None: not
    /// reported).
    #[inline]
    pub(super) fn solved(&self, i: usize) -> Option<bool> {
        self.solved.get(i)
    }

    /// The milestones and the current suspension, by row.
    pub(super) fn steps(&self) -> Steps<'_> {
        Steps {
            dense: std::array::from_fn(|t| self.dense[t].view()),
            rows: view(&self.rows),
            rare: &self.rare,
        }
    }

    /// Occurred, resolved, deadline (µs) and the resolved flag, by row.
    pub(super) fn views(
        &self,
    ) -> (
        InstantView<'_>,
        InstantView<'_>,
        InstantView<'_>,
        impl Fn(usize) -> bool + '_,
    ) {
        let resolved = |i: usize| self.resolved.get(i) == Some(true);
        (self.occ.view(), self.res.view(), self.due.view(), resolved)
    }
}

/// The milestones of the issue table's rows, its own and the rare ones.
pub(super) struct Steps<'a> {
    dense: [InstantView<'a>; FIRST_RARE_FLOW],
    rows: View<'a, u32>,
    rare: &'a Rare,
}

impl Steps<'_> {
    /// Row `row`'s milestones (its rare ones looked up once, here).
    #[inline]
    pub(super) fn at(&self, row: usize) -> Step<'_> {
        Step {
            steps: self,
            row,
            slot: self.rows.get(row).and_then(|r| self.rare.slot(r)),
        }
    }
}

/// One row's milestones, read as they are asked for.
pub(super) struct Step<'a> {
    steps: &'a Steps<'a>,
    row: usize,
    /// The row's place in the rare table, if it has one.
    slot: Option<usize>,
}

impl Step<'_> {
    /// Milestone `t` (a position in [`p::FLOW_US`]).
    #[inline]
    pub(super) fn flow(&self, t: usize) -> Option<i64> {
        match t.checked_sub(FIRST_RARE_FLOW) {
            None => self.steps.dense[t].get(self.row),
            Some(k) => self.slot.and_then(|s| self.steps.rare.value(k + 1, s)),
        }
    }

    /// The case's closure at a cut (`by(t)`: `t` came by it), from its
    /// current `resolved` flag and closing time `res`: those, unless the
    /// case was re-opened after the cut and first closed by it, when it
    /// stood closed at its first closure.
    #[inline]
    pub(super) fn closure(
        &self,
        resolved: bool,
        res: Option<i64>,
        by: impl Fn(i64) -> bool,
    ) -> (bool, Option<i64>) {
        match (self.flow(FIRST_CLOSED), self.flow(REOPEN)) {
            (Some(c), Some(w)) if by(c) && !by(w) => (true, Some(c)),
            _ => (resolved, res),
        }
    }

    /// The deadline in force at a cut (`by(t)`: `t` came by it): the
    /// current one `due`, unless its first extension came after the cut.
    #[inline]
    pub(super) fn deadline(&self, due: Option<i64>, by: impl Fn(i64) -> bool) -> Option<i64> {
        match (self.flow(EXT), self.flow(FIRST_DUE)) {
            (Some(x), Some(d)) if !by(x) => Some(d),
            _ => due,
        }
    }

    /// Whether the case was suspended (挂账) at a cut (`by(t)`: `t` came
    /// by it): in its current suspension, entered by then, or in its first
    /// one, entered by then and left after.
    #[inline]
    pub(super) fn suspended_at(&self, by: impl Fn(i64) -> bool) -> bool {
        self.suspended().is_some_and(&by)
            || (self.flow(SUS).is_some_and(&by) && self.flow(RSM).is_some_and(|r| !by(r)))
    }

    /// When it entered its current suspension ([`p::SUSP_US`]), if it is
    /// suspended.
    #[inline]
    pub(super) fn suspended(&self) -> Option<i64> {
        self.slot.and_then(|s| self.steps.rare.value(0, s))
    }
}

/// Linear-interpolated quantile of unsorted values (as polars' `Linear`).
pub(super) fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let at = (values.len() - 1) as f64 * q;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    let (_, &mut lower, rest) = values.select_nth_unstable_by(lo, f64::total_cmp);
    if hi == lo {
        return Some(lower);
    }
    // The next order statistic is the smallest value above position lo.
    let upper = rest.iter().copied().min_by(f64::total_cmp).unwrap_or(lower);
    Some((at - lo as f64) * (upper - lower) + lower)
}

/// Values grouped by unit position (`0..n`) with a counting sort: unit
/// `u`'s values are `grouped[start[u]..start[u + 1]]`.
pub(super) fn by_unit<T: Copy + Default>(n: usize, items: Vec<(u32, T)>) -> (Vec<usize>, Vec<T>) {
    let mut sorted = vec![(0, T::default()); items.len()];
    let start = counting_sort(&items, &mut sorted, n, |p| p.0 as usize);
    (start, sorted.into_iter().map(|p| p.1).collect())
}

/// Values gathered by unit position (`0..n`) as they come, into room set
/// aside for each unit beforehand: no (unit, value) pairs to sort after
/// ([`by_unit`]), which at 5,000,000 issues took hundreds of megabytes a
/// tier.
pub(super) struct Grouped {
    start: Vec<usize>,
    fill: Vec<usize>,
    values: Vec<f64>,
}

impl Grouped {
    /// Room for `room[u]` values of unit `u` (at most that many come).
    pub(super) fn with_room(room: &[u32]) -> Grouped {
        let mut start = Vec::with_capacity(room.len() + 1);
        let mut at = 0;
        for &r in room {
            start.push(at);
            at += r as usize;
        }
        start.push(at);
        Grouped {
            fill: start[..room.len()].to_vec(),
            start,
            values: vec![0.0; at],
        }
    }

    /// Adds a value of unit `u`; beyond its room, a panic (a caller's
    /// miscount).
    #[inline]
    pub(super) fn push(&mut self, u: u32, v: f64) {
        let f = &mut self.fill[u as usize];
        assert!(
            *f < self.start[u as usize + 1],
            "unit {u}: more values than room"
        );
        self.values[*f] = v;
        *f += 1;
    }

    /// Unit `u`'s values, in the order they came.
    pub(super) fn of(&mut self, u: usize) -> &mut [f64] {
        &mut self.values[self.start[u]..self.fill[u]]
    }
}
