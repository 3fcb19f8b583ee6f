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

use polars::prelude::*;

use super::filter::{day_number, Query, Zone, DAY};
use super::AnalyticsError;
use crate::columns as c;

mod pack;

pub use pack::household_key;

#[cfg(test)]
use crate::vocab;
pub use crate::vocab::{DISCOVERED_SOURCES, INCIDENT, INVALID_STATE, ISSUE, RESOLVED, VISIT};
/// Column of the tier-triple code ([`Codes::tiers`]) in every table.
pub const T: &str = "t";

/// Pre-aggregate columns (derived, not part of the joined frame).
pub mod col_names {
    /// Events in the group (Int64).
    pub const N: &str = "n";
    /// Issues with status `resolved`.
    pub const RESOLVED: &str = "n_resolved";
    /// Issues rated `satisfied`.
    pub const SATISFIED: &str = "n_satisfied";
    /// Issues rated `basic`.
    pub const BASIC: &str = "n_basic";
    /// Issues rated `unsatisfied`.
    pub const UNSATISFIED: &str = "n_unsatisfied";
    /// Incidents cleared.
    pub const CLEARED: &str = "n_cleared";
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
    pub const FLOW_US: [&str; 9] = [
        "accepted_us",
        "dispatched_us",
        "handled_us",
        "returned_us",
        "reworked_us",
        "extended_us",
        "escalated_us",
        "suspended_first_us",
        "resumed_us",
    ];
    /// Whether the issue was actually solved, as last reported (issue table, nullable).
    pub const SOLVED: &str = "solved";
    /// Whether the issue has a satisfaction rating (issue table).
    pub const RATED: &str = "rated";
    /// A visited household's 64-bit key ([`super::household_key`]).
    pub const HOUSEHOLD: &str = "household";
}

/// A category of one kind and how many events it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryCount {
    pub kind: String,
    pub category: String,
    pub events: u64,
}

/// The dictionaries of the coded columns: a code is an index into its list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Codes {
    /// (tier1, tier2, tier3) codes of the rows' units; [`T`] indexes this.
    pub tiers: Vec<[Option<String>; 3]>,
    /// Kinds (`issue`, `incident`, `visit`).
    pub kinds: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Issue sources.
    pub sources: Vec<String>,
}

/// Dictionary names in the snapshot table of [`Codes`].
const DICTS: [&str; 4] = ["tier", "kind", "category", "source"];

impl Codes {
    fn dict(&self, i: usize) -> &[String] {
        match i {
            1 => &self.kinds,
            2 => &self.categories,
            _ => &self.sources,
        }
    }

    fn dict_mut(&mut self, i: usize) -> &mut Vec<String> {
        match i {
            1 => &mut self.kinds,
            2 => &mut self.categories,
            _ => &mut self.sources,
        }
    }

    /// Codes of `values` found in `dict` (values never seen have none).
    fn find<S: AsRef<str>>(dict: &[String], values: &[S]) -> Vec<u32> {
        dict.iter()
            .enumerate()
            .filter(|(_, d)| values.iter().any(|v| v.as_ref() == d.as_str()))
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Extends these dictionaries with the values of `other` and returns,
    /// for each of its four dictionaries, the new code of each old code.
    fn absorb(&mut self, other: &Codes) -> [Vec<u32>; 4] {
        let tier_map = {
            let mut tiers: PlHashMap<&[Option<String>; 3], u32> = PlHashMap::default();
            for (i, t) in self.tiers.iter().enumerate() {
                tiers.insert(t, i as u32);
            }
            let mut added: Vec<[Option<String>; 3]> = Vec::new();
            let base = self.tiers.len();
            let map: Vec<u32> = other
                .tiers
                .iter()
                .map(|t| match tiers.get(t) {
                    Some(&i) => i,
                    None => {
                        let i = (base + added.len()) as u32;
                        tiers.insert(t, i);
                        added.push(t.clone());
                        i
                    }
                })
                .collect();
            drop(tiers);
            self.tiers.extend(added);
            map
        };
        let mut maps = [tier_map, Vec::new(), Vec::new(), Vec::new()];
        for (d, map) in maps.iter_mut().enumerate().skip(1) {
            let mine = self.dict_mut(d);
            *map = other
                .dict(d)
                .iter()
                .map(|v| match mine.iter().position(|m| m == v) {
                    Some(i) => i as u32,
                    None => {
                        mine.push(v.clone());
                        mine.len() as u32 - 1
                    }
                })
                .collect();
        }
        maps
    }

    /// The dictionaries as one table (snapshot files hold tables).
    pub fn to_frame(&self) -> PolarsResult<DataFrame> {
        let mut dict = Vec::new();
        let mut code = Vec::new();
        let mut vals: [Vec<Option<&str>>; 3] = Default::default();
        for (i, t) in self.tiers.iter().enumerate() {
            dict.push(DICTS[0]);
            code.push(i as u32);
            for (v, x) in vals.iter_mut().zip(t) {
                v.push(x.as_deref());
            }
        }
        for (d, name) in DICTS.iter().enumerate().skip(1) {
            for (i, x) in self.dict(d).iter().enumerate() {
                dict.push(*name);
                code.push(i as u32);
                vals[0].push(Some(x));
                vals[1].push(None);
                vals[2].push(None);
            }
        }
        let [a, b, cc] = vals;
        DataFrame::new_infer_height(vec![
            Column::new("dict".into(), dict),
            Column::new("code".into(), code),
            Column::new("a".into(), a),
            Column::new("b".into(), b),
            Column::new("c".into(), cc),
        ])
    }

    /// The inverse of [`Codes::to_frame`].
    pub fn from_frame(df: &DataFrame) -> PolarsResult<Codes> {
        let dict = df.column("dict")?.str()?;
        let code = df.column("code")?.u32()?;
        let (a, b, cc) = (
            df.column("a")?.str()?,
            df.column("b")?.str()?,
            df.column("c")?.str()?,
        );
        let mut out = Codes::default();
        let bad = || PolarsError::ComputeError("malformed pre-aggregate dictionary".into());
        for i in 0..df.height() {
            let at = code.get(i).ok_or_else(bad)? as usize;
            let d = DICTS
                .iter()
                .position(|n| Some(*n) == dict.get(i))
                .ok_or_else(bad)?;
            let owned = |s: Option<&str>| s.map(str::to_owned);
            if d == 0 {
                if at != out.tiers.len() {
                    return Err(bad());
                }
                out.tiers
                    .push([owned(a.get(i)), owned(b.get(i)), owned(cc.get(i))]);
            } else {
                let list = out.dict_mut(d);
                if at != list.len() {
                    return Err(bad());
                }
                list.push(a.get(i).ok_or_else(bad)?.to_owned());
            }
        }
        Ok(out)
    }
}

/// A unit key for one tier: an expression giving each table row the
/// position of its unit in `names` (null when the row has none there).
#[derive(Debug, Clone)]
pub struct UnitKey {
    /// UInt32 position into `names`.
    pub expr: Expr,
    /// The same, per tier code (for loops).
    pub map: Vec<Option<u32>>,
    /// Unit codes.
    pub names: Vec<String>,
}

/// [`PreAgg::predicate`] for plain loops over the coded columns: the same
/// rows pass, without building an expression or a filtered copy.
#[derive(Debug, Clone)]
pub struct CodeFilter {
    from: Option<i32>,
    to: Option<i32>,
    kinds: Option<Vec<bool>>,
    categories: Option<Vec<bool>>,
    sources: Option<Vec<bool>>,
    issue: Option<u32>,
}

impl CodeFilter {
    /// Whether every row passes.
    pub fn keeps_all(&self) -> bool {
        self.from.is_none()
            && self.to.is_none()
            && self.kinds.is_none()
            && self.categories.is_none()
            && self.sources.is_none()
    }

    /// Whether a row with these day and codes passes.
    #[inline]
    pub fn keeps(
        &self,
        day: Option<i32>,
        kind: Option<u32>,
        cat: Option<u32>,
        src: Option<u32>,
    ) -> bool {
        let member = |set: &Option<Vec<bool>>, v: Option<u32>| match set {
            None => true,
            Some(set) => v.is_some_and(|v| set.get(v as usize).copied().unwrap_or(false)),
        };
        if self.from.is_some() || self.to.is_some() {
            let Some(d) = day else { return false };
            if self.from.is_some_and(|f| d < f) || self.to.is_some_and(|t| d >= t) {
                return false;
            }
        }
        if !member(&self.kinds, kind) || !member(&self.categories, cat) {
            return false;
        }
        if self.sources.is_some() {
            // Sources restrict issues only (null kinds as polars' logic has them).
            let not_issue = kind.is_some() && self.issue.is_none_or(|i| Some(i) != kind);
            return not_issue || member(&self.sources, src);
        }
        true
    }
}

/// The three pre-aggregates, their dictionaries and the zone their local
/// days were computed in.
#[derive(Debug, Clone)]
pub struct PreAgg {
    /// Counts by tiers, day, kind, category, source.
    pub events: DataFrame,
    /// One row per issue: tiers, day, kind, category, source, times in µs,
    /// resolved flag, whether it repeats another case (`duplicate`),
    /// position (`lon`, `lat`).
    pub issues: DataFrame,
    /// Distinct (tiers, day, kind, category, source, household) of visits.
    pub households: DataFrame,
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
}

/// The next [`PreAgg`] generation (never 0, never reused in a process).
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Runs a table may hold before the newest ones are merged regardless of length.
const MAX_RUNS: usize = 8;

/// Every column of the joined frame that some table reads, plus [`DAY`].
fn base_columns(zone: Zone) -> Vec<Expr> {
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
    e
}

/// The days of `df`, read by position (any chunking).
fn days_of(df: &DataFrame) -> Option<&Int32Chunked> {
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
fn sorted_by_day(df: DataFrame) -> PolarsResult<DataFrame> {
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
fn append_run(df: &mut DataFrame, runs: &mut Vec<usize>, tail: &DataFrame) -> PolarsResult<()> {
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

/// `df` with the codes of column `name` replaced through `map`.
fn recode(df: &DataFrame, name: &str, map: &[u32]) -> PolarsResult<DataFrame> {
    let codes = df.column(name)?.u32()?;
    let new: UInt32Chunked = codes
        .iter()
        .map(|v| v.and_then(|v| map.get(v as usize).copied()))
        .collect();
    let mut out = df.clone();
    out.with_column(new.with_name(name.into()).into_column())?;
    Ok(out)
}

/// A UInt32 list literal for `is_in`.
fn code_list(codes: Vec<u32>) -> Expr {
    lit(Series::new("".into(), codes)).implode(false)
}

/// Replaces the codes of column `name` by their strings.
fn decode_column(df: &mut DataFrame, name: &str, dict: &[String]) -> PolarsResult<()> {
    let codes = df.column(name)?.u32()?;
    let strings: StringChunked = codes
        .iter()
        .map(|v| v.and_then(|v| dict.get(v as usize).map(String::as_str)))
        .collect();
    df.with_column(strings.with_name(name.into()).into_column())?;
    Ok(())
}

impl PreAgg {
    /// Scans the joined frame once and keeps the three tables in memory.
    pub fn build(mut joined: LazyFrame, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        // Invalid cases (作废, 不予受理) are left out of every count. A
        // joined file written before the lifecycle columns has none.
        let schema = joined.collect_schema()?;
        if schema.contains(c::STATE) {
            joined = joined.filter(
                col(c::STATE)
                    .neq(lit(INVALID_STATE))
                    .or(col(c::STATE).is_null()),
            );
        } else {
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
        let base = joined.select(base_columns(zone)).collect()?;
        let (codes, [events, issues, households]) = pack::tables(&base)?;
        Ok(PreAgg {
            events,
            issues,
            households,
            codes,
            zone,
            runs: [vec![0], vec![0], vec![0]],
            generation: next_generation(),
        })
    }

    /// Pre-aggregates from tables built elsewhere (read back from a
    /// snapshot, or cut from another pre-aggregate): each is sorted by day
    /// unless it already is, so it holds one run.
    pub fn from_tables(
        codes: Codes,
        [events, issues, households]: [DataFrame; 3],
        zone: Zone,
    ) -> Result<PreAgg, AnalyticsError> {
        let one_run = |df: DataFrame| -> PolarsResult<DataFrame> {
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
        Ok(PreAgg {
            events: one_run(events)?,
            issues: one_run(issues)?,
            households: one_run(households)?,
            codes,
            zone,
            runs: [vec![0], vec![0], vec![0]],
            generation: next_generation(),
        })
    }

    /// The tables as written to a snapshot: the three tables, then the
    /// dictionaries ([`PreAgg::from_snapshot`] reads them back).
    pub fn snapshot_tables(&self) -> Result<[DataFrame; 4], AnalyticsError> {
        Ok([
            self.events.clone(),
            self.issues.clone(),
            self.households.clone(),
            self.codes.to_frame()?,
        ])
    }

    /// The inverse of [`PreAgg::snapshot_tables`].
    pub fn from_snapshot(tables: [DataFrame; 4], zone: Zone) -> Result<PreAgg, AnalyticsError> {
        let [events, issues, households, codes] = tables;
        PreAgg::from_tables(
            Codes::from_frame(&codes)?,
            [events, issues, households],
            zone,
        )
    }

    /// Folds the pre-aggregates of newly stored events into these, at a
    /// cost that follows the new rows (plus an occasional merge of runs),
    /// not the ten million old ones. Every reader sums counts and counts
    /// distinct households, so a key present in both needs no merging.
    /// `new` is one build ([`PreAgg::build`]): one sorted run per table.
    pub fn append(&mut self, new: &PreAgg) -> Result<(), AnalyticsError> {
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
        append_run(&mut self.issues, ri, &recoded(&new.issues)?)?;
        append_run(&mut self.households, rh, &recoded(&new.households)?)?;
        self.generation = next_generation();
        Ok(())
    }

    /// See the `generation` field: equal generations, equal tables.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// These pre-aggregates with every kind but visits rebuilt from
    /// `frame` (without pseudonyms) as it now is, after cases changed in
    /// place. Visits never change once stored, and their household table
    /// needs the pseudonyms the frame does not hold.
    pub fn replace_cases(&self, frame: &DataFrame) -> Result<PreAgg, AnalyticsError> {
        let cases = frame.clone().lazy().filter(col(c::KIND).neq(lit(VISIT)));
        let visits = match self.kind_code(VISIT) {
            Some(v) => self
                .events
                .clone()
                .lazy()
                .filter(col(c::KIND).eq(lit(v)))
                .collect()?,
            None => self.events.head(Some(0)),
        };
        let mut out = PreAgg::from_tables(
            self.codes.clone(),
            [visits, self.issues.head(Some(0)), self.households.clone()],
            self.zone,
        )?;
        let cases = cases.with_columns([
            lit(NULL).cast(DataType::String).alias(c::HOUSEHOLD_HASH),
            lit(NULL).cast(DataType::String).alias(c::VISITOR_HASH),
        ]);
        out.append(&PreAgg::build(cases, self.zone)?)?;
        Ok(out)
    }

    /// Day-sorted runs per table (events, issues, households).
    pub fn run_counts(&self) -> [usize; 3] {
        [self.runs[0].len(), self.runs[1].len(), self.runs[2].len()]
    }

    /// Reads a joined Parquet file and pre-aggregates it.
    pub fn from_parquet(path: &str, zone: Zone) -> Result<PreAgg, AnalyticsError> {
        let lf = LazyFrame::scan_parquet(path.into(), ScanArgsParquet::default())?;
        PreAgg::build(crate::join::with_missing_columns(lf)?, zone)
    }

    /// The query's filters on the coded tables: its window on [`DAY`], and
    /// its kinds, categories and sources as codes (a value never seen
    /// matches nothing). Sources restrict issues only, as in
    /// [`Query::predicate`].
    pub fn predicate(&self, q: &Query) -> Expr {
        let window = Query {
            kinds: Vec::new(),
            categories: Vec::new(),
            sources: Vec::new(),
            ..q.clone()
        };
        let mut p = window.predicate();
        if !q.kinds.is_empty() {
            let codes = Codes::find(&self.codes.kinds, &q.kinds);
            p = p.and(col(c::KIND).is_in(code_list(codes), false));
        }
        if !q.categories.is_empty() {
            let codes = Codes::find(&self.codes.categories, &q.categories);
            p = p.and(col(c::CATEGORY).is_in(code_list(codes), false));
        }
        if !q.sources.is_empty() {
            let codes = Codes::find(&self.codes.sources, &q.sources);
            let in_sources = col(c::SOURCE).is_in(code_list(codes), false);
            let not_issue = match self.kind_code(ISSUE) {
                Some(issue) => col(c::KIND).neq(lit(issue)),
                None => col(c::KIND).is_not_null(),
            };
            p = p.and(not_issue.or(in_sources.fill_null(false)));
        }
        p
    }

    /// The query's filter for loops (see [`CodeFilter`]).
    pub fn code_filter(&self, q: &Query) -> CodeFilter {
        let set = |dict: &[String], values: &[String]| {
            (!values.is_empty()).then(|| {
                let mut v = vec![false; dict.len()];
                for i in Codes::find(dict, values) {
                    v[i as usize] = true;
                }
                v
            })
        };
        CodeFilter {
            from: q.from.map(day_number),
            to: q.to.map(day_number),
            kinds: set(&self.codes.kinds, &q.kinds),
            categories: set(&self.codes.categories, &q.categories),
            sources: set(&self.codes.sources, &q.sources),
            issue: self.kind_code(ISSUE),
        }
    }

    /// The code of a kind, if any event has it.
    pub fn kind_code(&self, kind: &str) -> Option<u32> {
        self.codes
            .kinds
            .iter()
            .position(|k| k == kind)
            .map(|i| i as u32)
    }

    /// Codes of the given sources.
    pub fn source_codes<S: AsRef<str>>(&self, sources: &[S]) -> Vec<u32> {
        Codes::find(&self.codes.sources, sources)
    }

    /// The key of tier `level` (1-3); level 0 gives every located row the
    /// county `root`.
    pub fn unit_key(&self, level: u8, root: &str) -> Result<UnitKey, AnalyticsError> {
        let mut names: Vec<String> = Vec::new();
        let map: Vec<Option<u32>> = match level {
            0 => {
                names.push(root.to_owned());
                self.codes
                    .tiers
                    .iter()
                    .map(|t| t[0].as_ref().map(|_| 0))
                    .collect()
            }
            1..=3 => {
                let mut at: PlHashMap<&str, u32> = PlHashMap::default();
                self.codes
                    .tiers
                    .iter()
                    .map(|t| {
                        t[usize::from(level) - 1].as_deref().map(|code| {
                            *at.entry(code).or_insert_with(|| {
                                names.push(code.to_owned());
                                names.len() as u32 - 1
                            })
                        })
                    })
                    .collect()
            }
            _ => return Err(AnalyticsError::BadLevel { level }),
        };
        let expr = lit(Series::new("".into(), map.clone())).gather(col(T), false);
        Ok(UnitKey { expr, map, names })
    }

    /// The pre-aggregates restricted to the events of one unit of `level`.
    pub fn cut(&self, level: u8, code: &str) -> Result<PreAgg, AnalyticsError> {
        if level == 0 {
            return Ok(self.clone());
        }
        let i = usize::from(level.min(3)) - 1;
        let keep: Vec<u32> = (0..self.codes.tiers.len() as u32)
            .filter(|&t| self.codes.tiers[t as usize][i].as_deref() == Some(code))
            .collect();
        let list = code_list(keep);
        let f = |df: &DataFrame| {
            df.clone()
                .lazy()
                .filter(col(T).is_in(list.clone(), false))
                .collect()
        };
        PreAgg::from_tables(
            self.codes.clone(),
            [f(&self.events)?, f(&self.issues)?, f(&self.households)?],
            self.zone,
        )
    }

    /// Every (kind, category) among the events whose units `visible`
    /// accepts (by their [`Codes::tiers`] entry), with its event count: kinds
    /// in name order, each kind's categories most frequent first.
    pub fn categories(
        &self,
        visible: &dyn Fn(&[Option<String>; 3]) -> bool,
    ) -> Result<Vec<CategoryCount>, AnalyticsError> {
        let shown: Vec<bool> = self.codes.tiers.iter().map(visible).collect();
        let (t, kinds, cats, n) = (
            self.events.column(T)?.u32()?,
            self.events.column(c::KIND)?.u32()?,
            self.events.column(c::CATEGORY)?.u32()?,
            self.events.column(col_names::N)?.i64()?,
        );
        let width = self.codes.categories.len();
        let mut counts = vec![0u64; self.codes.kinds.len() * width];
        for (((t, k), ct), n) in t.iter().zip(kinds.iter()).zip(cats.iter()).zip(n.iter()) {
            if let (Some(t), Some(k), Some(ct), Some(n)) = (t, k, ct, n) {
                if shown[t as usize] {
                    counts[k as usize * width + ct as usize] += n as u64;
                }
            }
        }
        let mut out: Vec<CategoryCount> = counts
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(i, &events)| CategoryCount {
                kind: self.codes.kinds[i / width].clone(),
                category: self.codes.categories[i % width].clone(),
                events,
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.kind, std::cmp::Reverse(a.events), &a.category).cmp(&(
                &b.kind,
                std::cmp::Reverse(b.events),
                &b.category,
            ))
        });
        Ok(out)
    }

    /// `df` (rows of these tables, or derived from them) with its kind,
    /// category and source codes as strings, where it has those columns.
    pub fn decode(&self, mut df: DataFrame) -> Result<DataFrame, AnalyticsError> {
        for (name, d) in [(c::KIND, 1), (c::CATEGORY, 2), (c::SOURCE, 3)] {
            if df.column(name).is_ok() {
                decode_column(&mut df, name, self.codes.dict(d))?;
            }
        }
        Ok(df)
    }

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

    /// First and last local day with an event, if any.
    pub fn day_range(&self) -> Result<Option<(i32, i32)>, AnalyticsError> {
        let days = self.events.column(DAY)?.i32()?;
        Ok(days.min().zip(days.max()))
    }
}

#[cfg(test)]
mod tests {

    use super::col_names as p;

    use chrono::NaiveDate;

    use super::*;
    use crate::analytics::metrics::compute_metrics;
    use crate::analytics::testutil::big;

    #[test]
    fn the_count_table_adds_up_to_the_events() {
        let (_, df) = big(2, 2, 3, 5_000, 60);
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        let total: i64 = pre
            .events
            .column(p::N)
            .unwrap()
            .i64()
            .unwrap()
            .sum()
            .unwrap();
        assert_eq!(total, 5_000);
        let issues = pre
            .events
            .clone()
            .lazy()
            .filter(col(c::KIND).eq(lit(pre.kind_code(ISSUE).unwrap())))
            .collect()
            .unwrap();
        assert_eq!(
            issues.column(p::N).unwrap().i64().unwrap().sum().unwrap() as usize,
            pre.issues.height()
        );
    }

    /// Rows of a frame in a canonical order, to compare tables built two ways.
    fn canonical(df: &DataFrame) -> DataFrame {
        let by: Vec<PlSmallStr> = df.get_column_names().into_iter().cloned().collect();
        df.sort(by, SortMultipleOptions::default()).unwrap()
    }

    fn count_if(pred: Expr, name: &str) -> Expr {
        pred.fill_null(false)
            .cast(DataType::Int64)
            .sum()
            .alias(name)
    }

    fn keys() -> Vec<Expr> {
        [
            c::TIER1,
            c::TIER2,
            c::TIER3,
            DAY,
            c::KIND,
            c::CATEGORY,
            c::SOURCE,
        ]
        .into_iter()
        .map(col)
        .collect()
    }

    /// The reference: the count table as a polars group-by over strings.
    fn events_reference(with_day: LazyFrame) -> DataFrame {
        with_day
            .group_by(keys())
            .agg([
                len().cast(DataType::Int64).alias(p::N),
                count_if(
                    col(c::KIND)
                        .eq(lit(ISSUE))
                        .and(col(c::STATUS).eq(lit(RESOLVED))),
                    p::RESOLVED,
                ),
                count_if(col(c::SATISFACTION).eq(lit(vocab::SATISFIED)), p::SATISFIED),
                count_if(col(c::SATISFACTION).eq(lit(vocab::BASIC)), p::BASIC),
                count_if(
                    col(c::SATISFACTION).eq(lit(vocab::UNSATISFIED)),
                    p::UNSATISFIED,
                ),
                count_if(
                    col(c::KIND).eq(lit(INCIDENT)).and(col(c::CLEARED)),
                    p::CLEARED,
                ),
            ])
            .collect()
            .unwrap()
    }

    fn issues_reference(with_day: LazyFrame) -> DataFrame {
        let mut cols = keys();
        cols.extend([
            col(c::OCCURRED_AT).cast(DataType::Int64).alias(p::OCC_US),
            col(c::RESOLVED_AT).cast(DataType::Int64).alias(p::RES_US),
            col(c::DEADLINE).cast(DataType::Int64).alias(p::DUE_US),
            when(col(c::STATE).eq(lit("suspended")).fill_null(false))
                .then(
                    col(c::UPDATED_AT)
                        .cast(DataType::Int64)
                        .fill_null(col(c::OCCURRED_AT).cast(DataType::Int64)),
                )
                .otherwise(lit(NULL).cast(DataType::Int64))
                .alias(p::SUSP_US),
            col(c::STATUS)
                .eq(lit(RESOLVED))
                .fill_null(false)
                .alias(p::IS_RESOLVED),
        ]);
        for (from, to) in c::FLOW.iter().zip(p::FLOW_US) {
            cols.push(col(*from).cast(DataType::Int64).alias(to));
        }
        cols.push(col(c::SOLVED).alias(p::SOLVED));
        cols.push(col(c::SATISFACTION).is_not_null().alias(p::RATED));
        cols.push(col(c::DUPLICATE).fill_null(false));
        cols.push(col(c::LON).cast(DataType::Float64));
        cols.push(col(c::LAT).cast(DataType::Float64));
        with_day
            .filter(col(c::KIND).eq(lit(ISSUE)))
            .select(cols)
            .collect()
            .unwrap()
    }

    fn households_reference(with_day: LazyFrame) -> DataFrame {
        let mut cols = keys();
        cols.push(col(c::HOUSEHOLD_HASH));
        let df = with_day
            .filter(
                col(c::KIND)
                    .eq(lit(VISIT))
                    .and(col(c::HOUSEHOLD_HASH).is_not_null()),
            )
            .select(cols)
            .unique(None, UniqueKeepStrategy::Any)
            .collect()
            .unwrap();
        let keys: Vec<Option<u64>> = df
            .column(c::HOUSEHOLD_HASH)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|h| h.map(household_key))
            .collect();
        let mut df = df.drop(c::HOUSEHOLD_HASH).unwrap();
        df.with_column(Column::new(p::HOUSEHOLD.into(), keys))
            .unwrap();
        df
    }

    /// A table of `pre` with strings for codes, columns in reference order.
    fn decoded(pre: &PreAgg, df: &DataFrame) -> DataFrame {
        let t = df.column(T).unwrap().u32().unwrap();
        let mut out = pre.decode(df.clone()).unwrap();
        for (i, name) in [c::TIER1, c::TIER2, c::TIER3].into_iter().enumerate() {
            let v: StringChunked = t
                .iter()
                .map(|x| x.and_then(|x| pre.codes.tiers[x as usize][i].as_deref()))
                .collect();
            out.with_column(v.with_name(name.into()).into_column())
                .unwrap();
        }
        let mut names = vec![c::TIER1, c::TIER2, c::TIER3];
        names.extend(
            df.get_column_names()
                .into_iter()
                .map(|n| n.as_str())
                .filter(|n| *n != T),
        );
        out.select(names).unwrap()
    }

    #[test]
    fn the_packed_tables_hold_the_rows_of_the_polars_queries() {
        use crate::analytics::testutil::{county, joined, Ev};
        let (_, big_df) = big(2, 2, 3, 5_000, 60);
        let gm = county();
        let small = joined(
            &gm,
            &[
                Ev::issue("2026-03-01 00:30", "G1"),
                Ev {
                    grid: None,
                    ..Ev::issue("2026-03-01 00:30", "G1")
                },
                Ev {
                    grid: None,
                    ..Ev::visit("2026-03-02 10:00", "G2", "h1")
                },
                Ev::visit("2026-03-02 10:00", "G2", "h1"),
                Ev::visit("2026-03-02 11:00", "G2", "h1"),
                Ev::incident("2026-02-28 23:59", "G3"),
            ],
        );
        for df in [big_df, small] {
            the_same_rows(df);
        }
    }

    fn the_same_rows(mut df: DataFrame) {
        let zone = Zone::default();
        let pre = PreAgg::build(df.clone().lazy(), zone).unwrap();
        let n = df.height();
        if df.column(c::STATE).is_err() {
            df.with_column(Column::new(c::STATE.into(), vec![None::<&str>; n]))
                .unwrap();
        }
        for name in std::iter::once(c::UPDATED_AT).chain(c::FLOW) {
            if df.column(name).is_err() {
                df.with_column(
                    Column::new(name.into(), vec![None::<i64>; n])
                        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
                        .unwrap(),
                )
                .unwrap();
            }
        }
        if df.column(c::SOLVED).is_err() {
            df.with_column(Column::new(c::SOLVED.into(), vec![None::<bool>; n]))
                .unwrap();
        }
        let with_day = df
            .lazy()
            .with_column(zone.local_day(c::OCCURRED_AT).alias(DAY));
        for (table, reference) in [
            (&pre.events, events_reference(with_day.clone())),
            (&pre.issues, issues_reference(with_day.clone())),
            (&pre.households, households_reference(with_day)),
        ] {
            let ours = canonical(&decoded(&pre, table));
            let reference = canonical(&reference.select(ours.get_column_names()).unwrap());
            assert!(ours.equals_missing(&reference), "{ours}\n{reference}");
            let days = table.column(DAY).unwrap().i32().unwrap();
            assert!(days.iter().zip(days.iter().skip(1)).all(|(a, b)| a <= b));
        }
    }

    /// The dictionaries survive a snapshot, and appending a build with
    /// other dictionaries recodes its rows into ours.
    #[test]
    fn categories_count_the_visible_units_events_by_kind_most_frequent_first() {
        use crate::analytics::testutil::{county, joined, Ev};
        let gm = county();
        let fraud = Ev {
            category: "诈骗",
            ..Ev::incident("2026-03-02 10:00", "G3")
        };
        let events = [
            Ev::issue("2026-03-01 09:00", "G1"),
            Ev {
                category: "环境卫生",
                ..Ev::issue("2026-03-01 09:00", "G1")
            },
            Ev {
                category: "环境卫生",
                ..Ev::issue("2026-03-05 09:00", "G2")
            },
            Ev::incident("2026-03-02 10:00", "G1"),
            fraud.clone(),
            fraud,
            Ev::visit("2026-03-03 15:00", "G2", "h1"),
        ];
        let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
        let row = |k: &str, c: &str, n: u64| CategoryCount {
            kind: k.into(),
            category: c.into(),
            events: n,
        };
        assert_eq!(
            pre.categories(&|_| true).unwrap(),
            vec![
                row("incident", "诈骗", 2),
                row("incident", "盗窃", 1),
                row("issue", "环境卫生", 2),
                row("issue", "矛盾纠纷", 1),
                row("visit", "入户走访", 1),
            ]
        );
        // Only grid G1's events: G3's fraud and G2's visit are not listed.
        let g1 = |t: &[Option<String>; 3]| t[2].as_deref() == Some("G1");
        assert_eq!(
            pre.categories(&g1).unwrap(),
            vec![
                row("incident", "盗窃", 1),
                row("issue", "环境卫生", 1),
                row("issue", "矛盾纠纷", 1),
            ]
        );
    }

    #[test]
    fn codes_survive_snapshots_and_appends() {
        let (_, df) = big(2, 2, 3, 3_000, 60);
        let zone = Zone::default();
        let pre = PreAgg::build(df.clone().lazy(), zone).unwrap();
        let back = PreAgg::from_snapshot(pre.snapshot_tables().unwrap(), zone).unwrap();
        assert_eq!(back.codes, pre.codes);
        // The second half first: its dictionaries number values differently.
        let (a, b) = (df.slice(0, 1_500), df.slice(1_500, 1_500));
        let mut parts = PreAgg::build(b.lazy(), zone).unwrap();
        parts
            .append(&PreAgg::build(a.lazy(), zone).unwrap())
            .unwrap();
        let n = |p: &PreAgg| p.events.column(p::N).unwrap().i64().unwrap().sum();
        assert_eq!(n(&pre), n(&parts));
        assert_eq!(
            canonical(&decoded(&pre, &pre.issues)),
            canonical(&decoded(&parts, &parts.issues))
        );
    }

    #[test]
    fn day_windows_are_cut_from_the_sorted_tables() {
        let (_, df) = big(2, 2, 3, 5_000, 60);
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        let q = Query::window(d(1, 10), d(1, 20));
        let cut = pre.events_in(&q);
        let days = cut.column(DAY).unwrap().i32().unwrap();
        assert!(
            days.min().unwrap() >= day_number(d(1, 10))
                && days.max().unwrap() < day_number(d(1, 20))
        );
        let all = pre
            .events
            .clone()
            .lazy()
            .filter(q.predicate())
            .collect()
            .unwrap();
        assert_eq!(cut.height(), all.height());
        assert_eq!(pre.events_in(&Query::window(d(6, 1), d(6, 2))).height(), 0);
        assert_eq!(
            pre.issues_before_end(&Query::default()).height(),
            pre.issues.height()
        );
    }

    /// Events folded in by [`PreAgg::append`], in batches whose days go
    /// back and forth, answer every window like one build over them all.
    #[test]
    fn appended_batches_answer_like_one_build() {
        let (gm, df) = big(2, 2, 3, 6_000, 90);
        let zone = Zone::default();
        let whole = PreAgg::build(df.clone().lazy(), zone).unwrap();
        // Batches cut from a shuffled order: each spans the whole period.
        let n = df.height() as i64;
        let order: Vec<IdxSize> = (0..n as IdxSize)
            .map(|i| (i * 7_919) % n as IdxSize)
            .collect();
        let shuffled = df.take(&IdxCa::from_vec("i".into(), order)).unwrap();
        let mut pre = PreAgg::build(shuffled.slice(0, 500).lazy(), zone).unwrap();
        let mut start = 500;
        for len in [50, 1_000, 7, 300, 2_000, 1, 900, 600, 642] {
            let part = PreAgg::build(shuffled.slice(start, len).lazy(), zone).unwrap();
            pre.append(&part).unwrap();
            start += len as i64;
        }
        assert_eq!(start, n);
        // Recent rows after everything extend the last run instead.
        assert!(pre
            .run_counts()
            .iter()
            .all(|&r| (1..=MAX_RUNS).contains(&r)));
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        for q in [
            Query::default(),
            Query::window(d(1, 10), d(1, 20)),
            Query::window(d(2, 1), d(3, 1)),
        ] {
            for level in 1..=3 {
                let a = compute_metrics(&whole, &gm, level, &q).unwrap();
                let b = compute_metrics(&pre, &gm, level, &q).unwrap();
                assert_eq!(
                    serde_json::to_value(&a.rows).unwrap(),
                    serde_json::to_value(&b.rows).unwrap(),
                    "level {level}, {q:?}"
                );
            }
            assert_eq!(
                pre.events_in(&q).column(p::N).unwrap().i64().unwrap().sum(),
                whole
                    .events_in(&q)
                    .column(p::N)
                    .unwrap()
                    .i64()
                    .unwrap()
                    .sum()
            );
        }
    }
}
