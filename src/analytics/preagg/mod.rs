//! Pre-aggregates of the joined frame, built once, queried many times.
//!
//! Ten million events make a full scan the expensive part of every query.
//! Almost every metric is a sum of per-event flags, so one table of counts by
//! (tiers, local day, kind, category, source) answers any window, tier and
//! filter; a filtered query (one month, one category, one tier) then reads
//! a few thousand rows instead of millions. What does not add up across days
//! gets its own, still much smaller, table: issue lifecycles (durations,
//! deadlines, backlog) keep one row per issue with only the columns they need,
//! and visit coverage keeps the distinct households visited per grid and day.
//!
//! The tables hold dictionary codes, not strings ([`Codes`]): the (tier1,
//! tier2, tier3) triple of a row is one `u32` in column [`T`], and kind,
//! category and source are `u32` codes under their own names. Filters
//! ([`PreAgg::predicate`]) and unit keys ([`PreAgg::unit_key`]) are
//! translated to codes, so every reader compares and groups integers, and
//! ten million rows take a fraction of the memory strings would.
//!
//! Here: the tables' life (build, snapshot, append, rebuild of changed
//! cases); `tables.rs` builds them by sorting packed integer keys;
//! `codes.rs` keeps the dictionaries; `filter.rs` turns queries and unit
//! keys into codes; `runs.rs` keeps each table in day-sorted runs and cuts
//! windows from them; `tests.rs` checks them against the polars queries
//! they replace.

use polars::prelude::*;

use super::filter::{Zone, DAY};
use super::AnalyticsError;
use crate::columns as c;

mod codes;
mod filter;
mod instants;
mod open;
mod rare;
mod runs;
mod tables;
#[cfg(test)]
mod tests;

pub use codes::Codes;
pub use filter::{CodeFilter, UnitKey};
pub(crate) use instants::{InstantView, Instants};
pub use open::OpenIndex;
pub use rare::{Rare, FIRST_RARE_FLOW, RARE_US};
pub use tables::household_key;

use codes::recode;
use runs::{append_run, cut_days, days_of, sorted_by_day};

pub use crate::vocab::{DISCOVERED_SOURCES, INCIDENT, INVALID_STATE, ISSUE, RESOLVED, VISIT};
/// The frame's case times that the issue table holds for it (the
/// milestones, the resolution time and the deadline), in the order of
/// [`CASE_TIMES_US`]: the server's frame leaves them out
/// ([`without_case_times`]) and [`PreAgg::case_times`] gives them back.
pub const CASE_TIMES: [&str; 14] = with_due_times(c::FLOW, c::RESOLVED_AT, c::DEADLINE);
/// Their columns in the issue table and the aside (µs).
pub const CASE_TIMES_US: [&str; 14] =
    with_due_times(col_names::FLOW_US, col_names::RES_US, col_names::DUE_US);

/// The milestone columns `flow`, then the resolution and due times.
const fn with_due_times(
    flow: [&'static str; 12],
    resolved: &'static str,
    due: &'static str,
) -> [&'static str; 14] {
    let mut out = [resolved; 14];
    let mut i = 0;
    while i < flow.len() {
        out[i] = flow[i];
        i += 1;
    }
    out[13] = due;
    out
}
/// Column of the tier-triple code ([`Codes::tiers`]) in every table.
pub const T: &str = "t";

/// Pre-aggregate columns (derived, not part of the joined frame).
pub mod col_names {
    /// Events in the group (UInt32).
    pub const N: &str = "n";
    /// What the count table's events share besides their key (UInt8, see
    /// [`super::flags`]): one row per day, unit, kind, category, source
    /// and these flags, so one count column serves every additive metric.
    pub const FLAGS: &str = "flags";
    /// Occurred-at in µs since the epoch (issue table).
    pub const OCC_US: &str = "occurred_us";
    /// Resolved-at in µs (issue table).
    pub const RES_US: &str = "resolved_us";
    /// Deadline in µs (issue table).
    pub const DUE_US: &str = "deadline_us";
    /// When the issue entered suspension (挂账), µs, if it is suspended now (issue table).
    pub const SUSP_US: &str = "suspended_us";
    /// Whether the issue is resolved (issue table).
    pub const IS_RESOLVED: &str = "is_resolved";
    /// Milestone times in µs, in the order of `columns::FLOW` (issue table).
    pub const FLOW_US: [&str; 12] = [
        "accepted_us",
        "dispatched_us",
        "handled_us",
        "first_closed_us",
        "returned_us",
        "reworked_us",
        "extended_us",
        "escalated_us",
        "suspended_first_us",
        "resumed_us",
        "first_deadline_us",
        "reopened_us",
    ];
    /// Whether the issue was actually solved, as last reported (issue table, nullable).
    pub const SOLVED: &str = "solved";
    /// Whether the issue has a satisfaction rating (issue table).
    pub const RATED: &str = "rated";
    /// A visited household's 64-bit key ([`super::household_key`]).
    pub const HOUSEHOLD: &str = "household";
}

/// The bits of the count table's [`col_names::FLAGS`].
pub mod flags {
    /// An issue with status `resolved`.
    pub const RESOLVED: u8 = 1;
    /// The satisfaction rating, two bits from here: 0 none, then
    /// satisfied, basic, unsatisfied.
    pub const RATING_SHIFT: u32 = 1;
    /// An incident cleared.
    pub const CLEARED: u8 = 8;

    /// The rating of `f` (0 none, 1 satisfied, 2 basic, 3 unsatisfied).
    #[inline]
    pub fn rating(f: u8) -> u8 {
        (f >> RATING_SHIFT) & 0b11
    }
}

/// A category of one kind and how many events it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    pub kind: String,
    pub category: String,
    pub events: u64,
}

/// The three pre-aggregates, their dictionaries and the zone their local
/// days were computed in.
#[derive(Debug, Clone)]
pub struct PreAgg {
    /// Counts by tiers, day, kind, category, source.
    pub events: DataFrame,
    /// One row per issue: tiers, day, kind, category, source, times in µs
    /// or whole seconds ([`instants`]; but the rare ones, [`RARE_US`]), resolved flag, whether it repeats
    /// another case (`duplicate`), position (`lon`, `lat`), frame row.
    pub issues: DataFrame,
    /// Distinct (tiers, day, kind, category, source, household) of visits.
    pub households: DataFrame,
    /// The case times of frame rows the issue table leaves out (invalid
    /// cases, any other kind that has one): [`c::FRAME_ROW`] and
    /// [`CASE_TIMES_US`]. With the issue table's, the only copy of the
    /// frame's [`CASE_TIMES`] ([`PreAgg::case_times`]).
    pub aside: DataFrame,
    /// The issue table's [`RARE_US`] times, one row per issue that has any,
    /// by frame row ([`rare`]).
    pub rare: Rare,
    /// Dictionaries of the coded columns.
    pub codes: Codes,
    /// Zone of the `day` column.
    pub zone: Zone,
    /// For each table (events, issues, households), the row offsets where
    /// its day-sorted runs start: one run after a build, one more per
    /// [`PreAgg::append`] until runs of similar length are merged.
    runs: [Vec<usize>; 3],
    /// Changes whenever the tables do (a build, an append): results derived
    /// from them may be kept under it. A clone keeps it (same content).
    generation: u64,
    /// The latest changes that led to this generation, oldest first (at
    /// most [`LINEAGE`]): [`PreAgg::unchanged_between`] tells from them
    /// whether a result of an earlier generation still holds for a window.
    lineage: Vec<Change>,
    /// The generation of the build these tables were appended to since:
    /// one line of generations.
    origin: u64,
    /// The issues that may be open at a window's end ([`open`]), indexed
    /// when a backlog is first asked for; every change starts it anew.
    /// Clones share it until they change (a county's cut is a clone).
    open: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<OpenIndex>>>,
    /// A unit's cut ([`PreAgg::cut`]), made for one request: results
    /// computed from it are not kept for others.
    cut: bool,
}

/// One change of the tables: the generations before and after, and the
/// first and last local day whose rows it added, removed or rebuilt
/// (first after last: none).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Change {
    before: u64,
    after: u64,
    days: (i32, i32),
}

/// Changes a [`PreAgg`] remembers.
const LINEAGE: usize = 64;

/// The next [`PreAgg`] generation (never 0, never reused in a process).
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Puts the case times of `newer`'s rows (its [`c::FRAME_ROW`] and
/// [`CASE_TIMES`] columns) into `flow`, the case time columns of frame rows
/// `positions` (ascending).
fn overlay(flow: &mut [Column], positions: &[u32], newer: &DataFrame) -> PolarsResult<()> {
    let rows = newer.column(c::FRAME_ROW)?.u32()?;
    let slots: Vec<(usize, usize)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, positions.binary_search(&r?).ok()?)))
        .collect();
    if slots.is_empty() {
        return Ok(());
    }
    for (col, name) in flow.iter_mut().zip(CASE_TIMES) {
        let new = newer.column(name)?.cast(&DataType::Int64)?;
        let new = new.i64()?;
        let mut values: Vec<Option<i64>> = col.cast(&DataType::Int64)?.i64()?.iter().collect();
        for &(i, slot) in &slots {
            values[slot] = new.get(i);
        }
        *col = Int64Chunked::from_iter_options(name.into(), values.into_iter())
            .into_column()
            .cast(col.dtype())?;
    }
    Ok(())
}

/// Every column of the joined frame that some table reads, plus [`DAY`].
fn base_columns(zone: Zone, numbered: bool) -> Vec<Expr> {
    let names = [
        c::TIER1,
        c::TIER2,
        c::TIER3,
        c::KIND,
        c::CATEGORY,
        c::SOURCE,
        c::STATUS,
        c::SATISFACTION,
        c::CLEARED,
        c::OCCURRED_AT,
        c::RESOLVED_AT,
        c::DEADLINE,
        c::HOUSEHOLD_HASH,
        c::STATE,
        c::UPDATED_AT,
        c::SOLVED,
        c::LON,
        c::LAT,
        c::DUPLICATE,
    ];
    let mut e: Vec<Expr> = names.iter().chain(&c::FLOW).map(|n| col(*n)).collect();
    e.push(zone.local_day(c::OCCURRED_AT).alias(DAY));
    if numbered {
        e.push(col(c::FRAME_ROW));
    }
    e
}

/// `df` with its rows numbered [`c::FRAME_ROW`] from `first`: the positions
/// they have (or will have) in the server's frame, which the issue table
/// keeps ([`PreAgg::build`] numbers a frame without the column from 0).
pub fn numbered(mut df: DataFrame, first: usize) -> PolarsResult<DataFrame> {
    let rows: Vec<u32> = (first..first + df.height()).map(|i| i as u32).collect();
    df.with_column(Column::new(c::FRAME_ROW.into(), rows))?;
    Ok(df)
}

/// The frame without its [`CASE_TIMES`] columns: the pre-aggregates hold
/// them ([`PreAgg::case_times`]).
pub fn without_case_times(df: DataFrame) -> DataFrame {
    let held: Vec<&str> = CASE_TIMES
        .into_iter()
        .chain([c::FRAME_ROW])
        .filter(|n| df.schema().contains(n))
        .collect();
    df.drop_many(held)
}

impl PreAgg {
    /// Scans the joined frame once and keeps the three tables in memory.
    pub fn build(mut joined: LazyFrame, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        // Invalid cases (作废, 不予受理) are left out of every table as it
        // is built (not filtered here: that would copy every column of the
        // frame). A joined file written before the lifecycle columns has
        // none.
        let schema = joined.collect_schema()?;
        if !schema.contains(c::STATE) {
            joined = joined.with_column(lit(NULL).cast(DataType::String).alias(c::STATE));
        }
        for name in std::iter::once(c::UPDATED_AT).chain(c::FLOW) {
            if !schema.contains(name) {
                joined = joined.with_column(
                    lit(NULL)
                        .cast(DataType::Datetime(TimeUnit::Microseconds, None))
                        .alias(name),
                );
            }
        }
        for name in [c::SOLVED, c::DUPLICATE] {
            if !schema.contains(name) {
                joined = joined.with_column(lit(NULL).cast(DataType::Boolean).alias(name));
            }
        }
        // One scan of only the columns the tables read (no ids or visitor
        // hashes; coordinates for the issue table only); the base frame is
        // dropped once they are built.
        let numbered = schema.contains(c::FRAME_ROW);
        let t = std::time::Instant::now();
        let base = joined.select(base_columns(zone, numbered)).collect()?;
        let read_s = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let (codes, [events, issues, households, aside, rare]) = tables::tables(&base)?;
        tracing::debug!(
            rows = base.height(),
            read_s,
            tables_s = t.elapsed().as_secs_f64(),
            "pre-aggregates built"
        );
        let generation = next_generation();
        Ok(PreAgg {
            events,
            issues,
            households,
            aside,
            rare: Rare::of(rare)?,
            codes,
            zone,
            runs: [vec![0], vec![0], vec![0]],
            generation,
            lineage: Vec::new(),
            origin: generation,
            open: Default::default(),
            cut: false,
        })
    }

    /// Pre-aggregates from tables built elsewhere (read back from a
    /// snapshot, or cut from another pre-aggregate): each is sorted by day
    /// unless it already is, so it holds one run, in one chunk (a file
    /// read back comes in row groups; the scans would otherwise copy them
    /// together at every query).
    pub fn from_tables(
        codes: Codes,
        [events, issues, households, aside, rare]: [DataFrame; 5],
        zone: Zone,
    ) -> Result<PreAgg, AnalyticsError> {
        let one_run = |mut df: DataFrame| -> PolarsResult<DataFrame> {
            df.rechunk_mut_par();
            let sorted = days_of(&df).is_some_and(|d| {
                let mut it = d.iter();
                let mut prev = it.next().flatten();
                it.all(|x| {
                    let ok = prev <= x;
                    prev = x;
                    ok
                })
            });
            if sorted {
                Ok(df)
            } else {
                sorted_by_day(df)
            }
        };
        let generation = next_generation();
        Ok(PreAgg {
            events: one_run(events)?,
            issues: one_run(issues)?,
            households: one_run(households)?,
            aside,
            rare: Rare::of(rare)?,
            codes,
            zone,
            runs: [vec![0], vec![0], vec![0]],
            generation,
            lineage: Vec::new(),
            origin: generation,
            open: Default::default(),
            cut: false,
        })
    }

    /// The tables as written to a snapshot: the five tables, then the
    /// dictionaries ([`PreAgg::from_snapshot`] reads them back).
    pub fn snapshot_tables(&self) -> Result<[DataFrame; 6], AnalyticsError> {
        let [events, issues, households, aside, rare] = self.tables();
        Ok([
            events,
            issues,
            households,
            aside,
            rare,
            self.codes.to_frame()?,
        ])
    }

    /// The tables as they are, in the order of [`PreAgg::from_tables`].
    pub fn tables(&self) -> [DataFrame; 5] {
        [
            self.events.clone(),
            self.issues.clone(),
            self.households.clone(),
            self.aside.clone(),
            self.rare.table().clone(),
        ]
    }

    /// The inverse of [`PreAgg::snapshot_tables`].
    pub fn from_snapshot(tables: [DataFrame; 6], zone: Zone) -> Result<PreAgg, AnalyticsError> {
        let [events, issues, households, aside, rare, codes] = tables;
        PreAgg::from_tables(
            Codes::from_frame(&codes)?,
            [events, issues, households, aside, rare],
            zone,
        )
    }

    /// The issue table with its rare times as columns again, where they
    /// were built (what the polars reference queries read).
    #[cfg(test)]
    pub fn issue_table_whole(&self) -> PolarsResult<DataFrame> {
        let mut whole = instants::widen_table(rare::whole(&self.issues, &self.rare)?)?;
        let kind = UInt32Chunked::full(
            c::KIND.into(),
            self.kind_code(ISSUE).unwrap_or(0),
            whole.height(),
        );
        whole.with_column(kind.into_column())?;
        Ok(whole)
    }

    /// The household table with the kind and source columns it leaves
    /// out (every row a visit, no source), as the polars reference
    /// queries read it.
    #[cfg(test)]
    pub fn households_whole(&self) -> PolarsResult<DataFrame> {
        let n = self.households.height();
        let mut whole = self.households.clone();
        let kind = UInt32Chunked::full(c::KIND.into(), self.kind_code(VISIT).unwrap_or(0), n);
        whole.with_column(kind.into_column())?;
        whole.with_column(UInt32Chunked::full_null(c::SOURCE.into(), n).into_column())?;
        Ok(whole)
    }

    /// The tables that hold the case time column `name_us` (µs), by frame
    /// row: the issue table or its rare table, and the aside.
    fn holding(&self, name_us: &str) -> [&DataFrame; 2] {
        let table = if RARE_US.contains(&name_us) {
            self.rare.table()
        } else {
            &self.issues
        };
        [table, &self.aside]
    }

    /// The [`CASE_TIMES`] columns of the frame of `height` rows
    /// these pre-aggregates were built from: each issue's from its row of
    /// the issue table, an invalid case's from [`PreAgg::aside`], null
    /// elsewhere (for exports and the frame snapshot; the server's frame
    /// does not hold them).
    pub fn case_times(&self, height: usize) -> Result<Vec<Column>, AnalyticsError> {
        use rayon::prelude::*;
        // The frame rows of the tables that hold a column in one slice,
        // then one column per task, written to its rows as the issue
        // table's times are.
        let rows_of = |[a, b]: [&DataFrame; 2]| -> PolarsResult<UInt32Chunked> {
            let mut rows = a.column(c::FRAME_ROW)?.u32()?.clone();
            rows.append(b.column(c::FRAME_ROW)?.u32()?)?;
            Ok(rows.rechunk().into_owned())
        };
        let dense_rows = rows_of(self.holding(CASE_TIMES_US[0]))?;
        let rare_rows = rows_of(self.holding(RARE_US[1]))?;
        let dtype = DataType::Datetime(TimeUnit::Microseconds, None);
        CASE_TIMES
            .par_iter()
            .zip(CASE_TIMES_US.par_iter())
            .map(|(name, name_us)| {
                let [table, aside] = self.holding(name_us);
                let rows = if RARE_US.contains(name_us) {
                    &rare_rows
                } else {
                    &dense_rows
                };
                let mut times = instants::widen(table.column(name_us)?)?.i64()?.clone();
                times.append(aside.column(name_us)?.i64()?)?;
                let placed = tables::scatter(&times, rows.cont_slice()?, height);
                Ok(placed
                    .with_name((*name).into())
                    .into_column()
                    .cast(&dtype)?)
            })
            .collect()
    }

    /// The case times `names` (of [`CASE_TIMES`]) of frame rows `rows`
    /// (ascending), in that order, as [`PreAgg::case_times`] gives them: one
    /// scan of the issue table's and the aside's frame rows.
    pub fn case_times_at(
        &self,
        rows: &[u32],
        names: &[&str],
    ) -> Result<Vec<Column>, AnalyticsError> {
        let n = rows.len();
        let which: Vec<usize> = names
            .iter()
            .map(|name| {
                CASE_TIMES.iter().position(|t| t == name).ok_or_else(|| {
                    AnalyticsError::Polars(PolarsError::ColumnNotFound(name.to_string().into()))
                })
            })
            .collect::<Result<_, _>>()?;
        let mut values = vec![vec![0i64; n]; which.len()];
        let mut valid: Vec<polars_arrow::bitmap::MutableBitmap> = (0..which.len())
            .map(|_| polars_arrow::bitmap::MutableBitmap::from_len_zeroed(n))
            .collect();
        if let Some(&last) = rows.last() {
            let mut wanted =
                polars_arrow::bitmap::MutableBitmap::from_len_zeroed(last as usize + 1);
            for &r in rows {
                wanted.set(r as usize, true);
            }
            for table in [&self.issues, self.rare.table(), &self.aside] {
                let frame_rows = table.column(c::FRAME_ROW)?.u32()?;
                // The columns this table holds (none of a row is in two).
                let held = which
                    .iter()
                    .map(|&w| match table.column(CASE_TIMES_US[w]) {
                        Ok(_) => Instants::of(table, CASE_TIMES_US[w]).map(Some),
                        Err(_) => Ok(None),
                    })
                    .collect::<PolarsResult<Vec<_>>>()?;
                if held.iter().all(Option::is_none) {
                    continue;
                }
                let times: Vec<Option<InstantView>> = held
                    .iter()
                    .map(|h| h.as_ref().map(Instants::view))
                    .collect();
                for (i, r) in frame_rows.iter().enumerate() {
                    let Some(r) = r.filter(|&r| r <= last && wanted.get(r as usize)) else {
                        continue;
                    };
                    let Ok(slot) = rows.binary_search(&r) else {
                        continue;
                    };
                    for ((v, ok), t) in values.iter_mut().zip(valid.iter_mut()).zip(&times) {
                        if let Some(t) = t.as_ref().and_then(|t| t.get(i)) {
                            v[slot] = t;
                            ok.set(slot, true);
                        }
                    }
                }
            }
        }
        let dtype = DataType::Datetime(TimeUnit::Microseconds, None);
        let mut out = Vec::with_capacity(which.len());
        for ((&w, v), ok) in which.iter().zip(values).zip(valid) {
            let ok: polars_arrow::bitmap::Bitmap = ok.into();
            let ok = (ok.unset_bits() > 0).then_some(ok);
            let ca = Int64Chunked::from_vec_validity(CASE_TIMES[w].into(), v, ok);
            out.push(ca.into_column().cast(&dtype)?);
        }
        Ok(out)
    }

    /// Folds the pre-aggregates of newly stored events into these, at a
    /// cost that follows the new rows (plus an occasional merge of runs),
    /// not the ten million old ones. Every reader sums counts and counts
    /// distinct households, so a key present in both needs no merging.
    /// `new` is one build ([`PreAgg::build`]): one sorted run per table.
    pub fn append(&mut self, new: &PreAgg) -> Result<(), AnalyticsError> {
        let days = self.absorb(new)?;
        self.changed(days);
        Ok(())
    }

    /// [`PreAgg::append`] but for the generation: the first and last local
    /// day of the rows added.
    fn absorb(&mut self, new: &PreAgg) -> Result<(i32, i32), AnalyticsError> {
        debug_assert!(new.runs.iter().all(|r| r.len() == 1));
        let maps = self.codes.absorb(&new.codes);
        let recoded = |df: &DataFrame| -> PolarsResult<DataFrame> {
            let mut df = recode(df, T, &maps[0])?;
            for (name, map) in [c::KIND, c::CATEGORY, c::SOURCE].iter().zip(&maps[1..]) {
                df = recode(&df, name, map)?;
            }
            Ok(df)
        };
        let [re, ri, rh] = &mut self.runs;
        append_run(&mut self.events, re, &recoded(&new.events)?)?;
        let mut issues = recoded(&new.issues)?;
        instants::unify(&mut self.issues, &mut issues)?;
        append_run(&mut self.issues, ri, &issues)?;
        append_run(&mut self.households, rh, &recoded(&new.households)?)?;
        self.aside.vstack_mut(&new.aside)?;
        self.aside.rechunk_mut();
        let mut rare = self.rare.table().clone();
        rare.vstack_mut(new.rare.table())?;
        self.rare = Rare::of(rare)?;
        Ok([&new.events, &new.issues, &new.households]
            .into_iter()
            .filter_map(|t| days_of(t).and_then(|d| d.min().zip(d.max())))
            .fold((i32::MAX, i32::MIN), |(a, b), (lo, hi)| {
                (a.min(lo), b.max(hi))
            }))
    }

    /// Moves to a new generation whose rows differ on the local days
    /// `days` (first, last) only.
    fn changed(&mut self, days: (i32, i32)) {
        self.open = Default::default();
        let before = self.generation;
        self.generation = next_generation();
        if self.lineage.len() >= LINEAGE {
            self.lineage.remove(0);
        }
        self.lineage.push(Change {
            before,
            after: self.generation,
            days,
        });
    }

    /// See the `open` field. Two callers asking at once may both build
    /// it (nothing waits on a computation that may run on rayon).
    pub fn open_index(&self) -> Result<std::sync::Arc<OpenIndex>, AnalyticsError> {
        if let Some(index) = self.open.get() {
            return Ok(index.clone());
        }
        let t = std::time::Instant::now();
        let built = std::sync::Arc::new(OpenIndex::build(self)?);
        tracing::debug!(
            index = ?built,
            secs = t.elapsed().as_secs_f64(),
            "open-issue index built"
        );
        Ok(self.open.get_or_init(|| built).clone())
    }

    /// See the `generation` field: equal generations, equal tables.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A clone that none of the results kept from these tables applies to
    /// (a new origin; the open-issue index and the unit keys are shared):
    /// what a benchmark times, so that each repetition computes.
    pub fn recomputed(&self) -> PreAgg {
        PreAgg {
            origin: next_generation(),
            ..self.clone()
        }
    }

    /// See the `cut` field.
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// See the `origin` field: results of one origin may be compared by
    /// generation ([`PreAgg::unchanged_between`]).
    pub fn origin(&self) -> u64 {
        self.origin
    }

    /// Whether the rows of the local days `[from, to)` (`None`: unbounded)
    /// are those of generation `earlier`: it is this one, or one this one
    /// came from through changes on other days only. A result that reads
    /// only those days holds then.
    pub fn unchanged_between(&self, earlier: u64, from: Option<i32>, to: Option<i32>) -> bool {
        let mut at = self.generation;
        for change in self.lineage.iter().rev() {
            if at == earlier {
                return true;
            }
            let (first, last) = change.days;
            let touches =
                first <= last && from.is_none_or(|f| last >= f) && to.is_none_or(|t| first < t);
            if change.after != at || touches {
                return false;
            }
            at = change.before;
        }
        at == earlier
    }

    /// These pre-aggregates after cases changed in place, `frame` (without
    /// pseudonyms) being the frame as it now is: the issue and incident rows
    /// of the local `days` (sorted, each once) are aggregated again from
    /// the frame's rows on those days; every other row is kept. A case's
    /// rows count on the day it was reported, so the days a change touches
    /// are those its case was and is reported on. The cost follows the rows
    /// of those days (plus one copy of the two tables), not the frame.
    /// Visits never change once stored; their household table needs the
    /// pseudonyms the frame does not hold.
    ///
    /// The rows of those days are numbered by their frame positions, so the
    /// rebuilt issue rows point where the old ones did. A frame without
    /// case time columns (the server's, [`without_case_times`]) takes them
    /// from these tables, except for the rows of `newer`: the cases that
    /// changed, as now stored ([`c::FRAME_ROW`] and the [`CASE_TIMES`]
    /// columns), whose times these tables do not know yet.
    pub fn replace_days(
        &self,
        frame: &DataFrame,
        days: &[i32],
        newer: Option<&DataFrame>,
    ) -> Result<PreAgg, AnalyticsError> {
        if days.is_empty() {
            return Ok(self.clone());
        }
        let t = frame
            .column(c::OCCURRED_AT)?
            .as_materialized_series()
            .to_physical_repr();
        let day = self.zone.day_of_us();
        let mut on_days = Vec::with_capacity(frame.height());
        for a in t.i64()?.downcast_iter() {
            on_days.extend(
                a.values()
                    .iter()
                    .map(|&t| days.binary_search(&day(t)).is_ok()),
            );
        }
        let mut rows = frame.filter(&BooleanChunked::from_slice("on_days".into(), &on_days))?;
        let positions: Vec<u32> = on_days
            .iter()
            .enumerate()
            .filter_map(|(i, &on)| on.then_some(i as u32))
            .collect();
        if !frame.schema().contains(CASE_TIMES[0]) {
            let mut flow = self.case_times_at(&positions, &CASE_TIMES)?;
            if let Some(newer) = newer {
                overlay(&mut flow, &positions, newer)?;
            }
            rows.hstack_mut(&flow)?;
        }
        rows.with_column(Column::new(c::FRAME_ROW.into(), &positions))?;
        let cases = rows
            .lazy()
            .filter(col(c::KIND).neq(lit(VISIT)))
            .with_columns([
                lit(NULL).cast(DataType::String).alias(c::HOUSEHOLD_HASH),
                lit(NULL).cast(DataType::String).alias(c::VISITOR_HASH),
            ]);
        let rebuilt = PreAgg::build(cases, self.zone)?;
        let mut out = self.clone();
        let visit = self.kind_code(VISIT);
        let [re, ri, _] = &mut out.runs;
        (out.events, *re) = cut_days(&self.events, re, days, &|df: &DataFrame| {
            let kinds = df.column(c::KIND)?.u32()?;
            Ok(kinds.iter().map(|k| k.is_some() && k == visit).collect())
        })?;
        (out.issues, *ri) = cut_days(&self.issues, ri, days, &|df: &DataFrame| {
            Ok(vec![false; df.height()])
        })?;
        // Aside and rare rows are frame rows: those of the days are rebuilt.
        let kept = |df: &DataFrame| -> PolarsResult<DataFrame> {
            let kept: BooleanChunked = df
                .column(c::FRAME_ROW)?
                .u32()?
                .iter()
                .map(|r| r.is_none_or(|r| positions.binary_search(&r).is_err()))
                .collect();
            df.filter(&kept)
        };
        out.aside = kept(&out.aside)?;
        out.rare = Rare::of(kept(out.rare.table())?)?;
        out.absorb(&rebuilt)?;
        // The rows of every day asked for were replaced, rebuilt or not.
        out.changed((days[0], days[days.len() - 1]));
        Ok(out)
    }

    /// The case times, by frame row, of the issue table and the aside.
    #[cfg(test)]
    pub fn case_time_rows(&self) -> Result<DataFrame, AnalyticsError> {
        let mut all = self
            .issue_table_whole()?
            .select(std::iter::once(c::FRAME_ROW).chain(CASE_TIMES_US))?;
        all.vstack_mut(&self.aside)?;
        Ok(all.sort([c::FRAME_ROW], Default::default())?)
    }

    /// Day-sorted runs per table (events, issues, households).
    #[cfg(test)]
    pub fn run_counts(&self) -> [usize; 3] {
        [self.runs[0].len(), self.runs[1].len(), self.runs[2].len()]
    }

    /// Reads a joined Parquet file and pre-aggregates it.
    pub fn from_parquet(path: &str, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        let lf = LazyFrame::scan_parquet(path.into(), ScanArgsParquet::default())?;
        PreAgg::build(crate::join::with_missing_columns(lf)?, zone)
    }

    /// First and last local day with an event, if any.
    pub fn day_range(&self) -> Result<Option<(i32, i32)>, AnalyticsError> {
        let days = self.events.column(DAY)?.i32()?;
        Ok(days.min().zip(days.max()))
    }
}
