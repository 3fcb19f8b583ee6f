//! The per-unit metric table of one tier for one query, with 同比/环比 changes.
//!
//! Three small lazy queries over the [`PreAgg`] tables give each unit its
//! [`Ingredients`] (additive counts plus duration quantiles); every catalogue
//! metric is then a plain function of the ingredients and the unit's
//! [`UnitContext`]. Units without any event still get a row (zero counts,
//! null rates), so a map never shows a hole where nothing happened.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

use crate::sort::counting_sort;

use super::catalogue::{catalogue, MetricDef};
use super::filter::Query;

use super::filter::DAY;
use super::preagg::{
    col_names as p, CodeFilter, PreAgg, UnitKey, DISCOVERED_SOURCES, INCIDENT, ISSUE, T, VISIT,
};
use super::recent::Recent;
use super::repeats;
use super::AnalyticsError;
use crate::columns as c;
use crate::grid::{GridModel, GRID_LEVEL};

/// Additive counts (and duration quantiles) of one unit over one query.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ingredients {
    /// Issues reported (every report: the call volume).
    pub issues: u64,
    /// Of `issues`, the cases: reports that repeat no other case (重复件
    /// are counted under the case they repeat).
    pub cases: u64,
    /// Incidents.
    pub incidents: u64,
    /// Visits.
    pub visits: u64,
    /// Issues with status resolved.
    pub resolved: u64,
    /// Issues resolved at or before their deadline.
    pub on_time: u64,
    /// Issues with a deadline that are due (resolved, or open past the deadline at window end).
    pub due: u64,
    /// 应结案: issues of the window, not suspended at the window end, closed
    /// by it or with a deadline at or before it (as of the window end).
    pub due_closure: u64,
    /// 结案: of `due_closure`, closed by the window end.
    pub closed_due: u64,
    /// 按期结案: of `closed_due`, closed at or before the deadline (or without one).
    pub closed_on_time: u64,
    /// Issues rated satisfied.
    pub satisfied: u64,
    /// Issues rated basically satisfied.
    pub basic: u64,
    /// Issues rated unsatisfied.
    pub unsatisfied: u64,
    /// Incidents cleared.
    pub cleared: u64,
    /// Issues found by patrols or visits.
    pub discovered: u64,
    /// Issues with a known source.
    pub sourced: u64,
    /// Distinct households visited.
    pub households_visited: u64,
    /// Issues open at the window end (all history).
    pub backlog: u64,
    /// Of the backlog, past their deadline at the window end.
    pub overdue: u64,
    /// Of the window's issues, dispatched by its end (派遣).
    pub dispatched: u64,
    /// Of `dispatched`, handled (or closed) by the window end (处置).
    pub handled: u64,
    /// Of `handled`, handled at or before the deadline in force (or without one).
    pub handled_on_time: u64,
    /// Of `dispatched`, with the deadline extended by the window end (延期).
    pub extended: u64,
    /// Of `dispatched`, returned at least once by the window end (退单).
    pub returned: u64,
    /// Of `closed_due`, re-opened or failed a check by the window end (返工).
    pub reworked: u64,
    /// Of the window's issues, closed by its end.
    pub closed: u64,
    /// Of `closed`, with a satisfaction rating (回访).
    pub closed_rated: u64,
    /// Of `closed`, with a `solved` report.
    pub solved_reported: u64,
    /// Of `solved_reported`, actually solved (实际解决).
    pub solved: u64,
    /// Of `closed`, never escalated above the village by the window end (就地化解).
    pub closed_local: u64,
    /// Issues of all history dispatched by the window end and neither
    /// handled nor closed by it (待处置).
    pub pending_handling: u64,
    /// Of `pending_handling`, past the deadline at the window end (超期待处置).
    pub overdue_pending: u64,
    /// Repeat-complaint points (重复投诉点位) of the window's issues whose
    /// home is in the unit, at level 3 and level 5 ("3次以上", "5次以上";
    /// [`super::repeats`], default distance and span).
    pub repeat_points: [u64; 2],
    /// Median hours from the report to the first action after it (响应时长).
    pub response_hours: Option<f64>,
    /// Mean hours from the first action (acceptance) to closure (办理周期).
    pub cycle_hours: Option<f64>,
    /// Median hours to resolve.
    pub median_hours: Option<f64>,
    /// 90th percentile hours to resolve.
    pub p90_hours: Option<f64>,
}

impl Ingredients {
    /// Issues with a satisfaction rating.
    pub fn rated(&self) -> u64 {
        self.satisfied + self.basic + self.unsatisfied
    }

    /// Takes the fields the window's issue table gives ([`add_lifecycle`]).
    fn take_lifecycle(&mut self, l: &Ingredients) {
        (self.on_time, self.due, self.median_hours, self.p90_hours) =
            (l.on_time, l.due, l.median_hours, l.p90_hours);
        (self.due_closure, self.closed_due, self.closed_on_time) =
            (l.due_closure, l.closed_due, l.closed_on_time);
        (self.dispatched, self.handled, self.handled_on_time) =
            (l.dispatched, l.handled, l.handled_on_time);
        (self.extended, self.returned, self.reworked) = (l.extended, l.returned, l.reworked);
        (self.closed, self.closed_rated, self.closed_local) =
            (l.closed, l.closed_rated, l.closed_local);
        self.cases = l.cases;
        (self.solved_reported, self.solved) = (l.solved_reported, l.solved);
        (self.response_hours, self.cycle_hours) = (l.response_hours, l.cycle_hours);
    }

    /// Takes the fields the issues of all history give ([`add_backlog`]).
    fn take_backlog(&mut self, b: &Ingredients) {
        (self.backlog, self.overdue) = (b.backlog, b.overdue);
        (self.pending_handling, self.overdue_pending) = (b.pending_handling, b.overdue_pending);
    }
}

/// What a unit brings to its metrics besides events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UnitContext {
    /// Area in km².
    pub area_km2: f64,
    /// Households; `None` = no data.
    pub households: Option<u64>,
    /// Tier-3 grids in the unit (1 for a grid).
    pub grids: u64,
}

impl UnitContext {
    /// The context of a unit of the model.
    pub fn of(gm: &GridModel, index: usize) -> UnitContext {
        let u = gm.unit(index);
        let grids = if u.level == GRID_LEVEL {
            1
        } else {
            gm.descendants(index)
                .iter()
                .filter(|&&d| gm.unit(d).level == GRID_LEVEL)
                .count() as u64
        };
        UnitContext {
            area_km2: u.area_km2,
            households: gm.households(index),
            grids,
        }
    }
}

/// Change of a count against a base period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Change {
    /// Value in the current window.
    pub current: f64,
    /// Value in the base window.
    pub base: f64,
    /// current − base.
    pub abs: f64,
    /// (current − base) / base × 100. With a zero base: 0 when the current
    /// value is also 0 (nothing changed), null otherwise (growth from nothing
    /// has no percentage; show the absolute change, e.g. "新增 3").
    pub pct: Option<f64>,
}

/// The change from `base` to `current`, see [`Change::pct`] for a zero base.
pub fn change(current: f64, base: f64) -> Change {
    let pct = if base != 0.0 {
        Some((current - base) / base * 100.0)
    } else if current == 0.0 {
        Some(0.0)
    } else {
        None
    };
    Change {
        current,
        base,
        abs: current - base,
        pct,
    }
}

/// One unit's row of the metric table.
#[derive(Debug, Clone, Serialize)]
pub struct UnitMetrics {
    /// Unit code.
    pub code: String,
    /// Unit name.
    pub name: String,
    /// Index in the grid model.
    #[serde(skip)]
    pub index: usize,
    /// Area, households, grids.
    pub context: UnitContext,
    /// The counts behind the metrics.
    pub ingredients: Ingredients,
    /// Every catalogue metric by name; null = no data.
    pub values: BTreeMap<&'static str, Option<f64>>,
    /// 同比: change of each count metric against the same window a year earlier.
    pub yoy: BTreeMap<&'static str, Change>,
    /// 环比: change of each count metric against the previous window.
    pub pop: BTreeMap<&'static str, Change>,
}

impl UnitMetrics {
    /// Value of a metric (None for no data or an unknown name).
    pub fn value(&self, name: &str) -> Option<f64> {
        self.values.get(name).copied().flatten()
    }
}

/// Metrics of every unit of one tier.
#[derive(Debug, Clone, Serialize)]
pub struct MetricTable {
    /// Tier.
    pub level: u8,
    /// The query answered.
    pub query: Query,
    /// One row per unit of the tier, in code order.
    pub rows: Vec<UnitMetrics>,
}

/// Name of the unit-code column in intermediate frames.
const UNIT: &str = "unit";

/// A tier's [`UnitKey`] with each model unit's position in it: the loops
/// fill their sums by key position, and a metric is read by model index,
/// so a unit's code is touched only at the edges.
struct TierKey {
    key: UnitKey,
    /// Key position by model index (None: no event, or another tier).
    at: Vec<Option<u32>>,
}

impl std::ops::Deref for TierKey {
    type Target = UnitKey;
    fn deref(&self) -> &UnitKey {
        &self.key
    }
}

impl TierKey {
    fn of(pre: &PreAgg, gm: &GridModel, level: u8, root: &str) -> Result<TierKey, AnalyticsError> {
        let key = pre.unit_key(level, root)?;
        let mut at = vec![None; gm.units.len()];
        for (p, code) in key.names.iter().enumerate() {
            if let Some(i) = gm.index_of(code) {
                at[i] = Some(p as u32);
            }
        }
        Ok(TierKey { key, at })
    }

    /// What the model's unit `index` has in `d` (nothing: the default).
    fn get<'a>(&self, d: &'a Dense, index: usize) -> Option<&'a Ingredients> {
        let p = self.at.get(index).copied().flatten()? as usize;
        d.touched
            .get(p)
            .copied()
            .unwrap_or(false)
            .then(|| &d.rows[p])
    }
}

/// The key of `level` on the tables of `pre` (level 0: the county root).
///
/// Kept per (pre-aggregate generation, level, root, model): a tier's key
/// maps every place code to its unit, 50,000 names at the grids, and was
/// an eighth of an uncached map request when made each time. A grid model
/// is never changed in place (a new grid version is a new model).
fn unit_key(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
) -> Result<std::sync::Arc<TierKey>, AnalyticsError> {
    static KEYS: Recent<(u64, u8, String, usize, usize), std::sync::Arc<TierKey>> = Recent::new(16);
    let root = gm
        .level(0)
        .next()
        .map(|i| gm.unit(i).code.clone())
        .unwrap_or_default();
    let model = (gm as *const GridModel as usize, gm.units.len());
    KEYS.get_or(
        (pre.generation(), level, root.clone(), model.0, model.1),
        || TierKey::of(pre, gm, level, &root).map(std::sync::Arc::new),
    )
}

/// Ingredients by unit-key position, as the loops fill them: merged part
/// by part and read by position, without hashing or copying a code (the
/// map of codes it replaced was a third of an uncached map request).
#[derive(Default)]
struct Dense {
    rows: Vec<Ingredients>,
    /// Whether a part wrote the row (the unit had something in the window).
    touched: Vec<bool>,
}

impl Dense {
    fn new(n: usize) -> Dense {
        Dense {
            rows: vec![Ingredients::default(); n],
            touched: vec![false; n],
        }
    }

    /// Row `i`, marked as written.
    fn at(&mut self, i: usize) -> &mut Ingredients {
        self.touched[i] = true;
        &mut self.rows[i]
    }

    /// The written rows with their key positions.
    fn written(&self) -> impl Iterator<Item = (usize, &Ingredients)> {
        self.rows
            .iter()
            .enumerate()
            .filter(|(i, _)| self.touched[*i])
    }
}

/// Codes of the kinds the counts tell apart, and of the discovering sources.
struct KindCodes {
    issue: Option<u32>,
    incident: Option<u32>,
    visit: Option<u32>,
    discovered: Vec<u32>,
}

impl KindCodes {
    fn of(pre: &PreAgg) -> KindCodes {
        KindCodes {
            issue: pre.kind_code(ISSUE),
            incident: pre.kind_code(INCIDENT),
            visit: pre.kind_code(VISIT),
            discovered: pre.source_codes(&DISCOVERED_SOURCES),
        }
    }
}

/// `col(name) == code`, false when no event has the value.
fn is_code(name: &str, code: Option<u32>) -> Expr {
    match code {
        Some(v) => col(name).eq(lit(v)),
        None => lit(false),
    }
}

/// Query: additive counts per unit from the event table.
///
/// Each count is first a plain column (the row's `n` where the condition
/// holds), then summed per unit: sums of plain columns take polars' fast
/// grouped path, conditional expressions inside `agg` do not.
pub fn counts_lazy(pre: &PreAgg, events: LazyFrame, key: &UnitKey, q: &Query) -> LazyFrame {
    let k = KindCodes::of(pre);
    let issue = is_code(c::KIND, k.issue);
    let n_if = |pred: Expr, name: &str| {
        when(pred.fill_null(false))
            .then(col(p::N))
            .otherwise(lit(0i64))
            .alias(name)
    };
    let names = [
        "issues",
        "incidents",
        "visits",
        "resolved",
        "satisfied",
        "basic",
        "unsatisfied",
        "cleared",
        "discovered",
        "sourced",
    ];
    let discovered = lit(Series::new("".into(), k.discovered)).implode(false);
    events
        .filter(pre.predicate(q))
        .select([
            key.expr.clone().alias(UNIT),
            n_if(issue.clone(), "issues"),
            n_if(is_code(c::KIND, k.incident), "incidents"),
            n_if(is_code(c::KIND, k.visit), "visits"),
            col(p::RESOLVED).alias("resolved"),
            col(p::SATISFIED).alias("satisfied"),
            col(p::BASIC).alias("basic"),
            col(p::UNSATISFIED).alias("unsatisfied"),
            col(p::CLEARED).alias("cleared"),
            n_if(
                issue.clone().and(col(c::SOURCE).is_in(discovered, false)),
                "discovered",
            ),
            n_if(issue.and(col(c::SOURCE).is_not_null()), "sourced"),
        ])
        .group_by([col(UNIT)])
        .agg(
            names
                .iter()
                .map(|n| col(*n).sum().cast(DataType::Int64))
                .collect::<Vec<_>>(),
        )
        .filter(col(UNIT).is_not_null())
}

/// One column's values and validity, read by row (one chunk).
struct View<'a, T> {
    values: &'a [T],
    valid: Option<Vec<bool>>,
}

impl<T: Copy> View<'_, T> {
    #[inline]
    fn get(&self, i: usize) -> Option<T> {
        match &self.valid {
            Some(v) if !v.get(i).copied().unwrap_or(false) => None,
            _ => self.values.get(i).copied(),
        }
    }
}

/// A column rechunked into one array, to be viewed.
fn one_chunk<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> ChunkedArray<T> {
    ca.rechunk().into_owned()
}

fn view<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> View<'_, T::Native> {
    match ca.downcast_iter().next() {
        Some(a) if ca.chunks().len() == 1 => View {
            values: a.values().as_slice(),
            valid: (ca.null_count() > 0).then(|| ca.iter().map(|v| v.is_some()).collect()),
        },
        _ => View {
            values: &[],
            valid: None,
        },
    }
}

/// The coded key columns of a table: tier, day, kind, category, source.
struct KeyCols {
    t: UInt32Chunked,
    day: Int32Chunked,
    kind: UInt32Chunked,
    cat: UInt32Chunked,
    src: UInt32Chunked,
}

/// Views of [`KeyCols`] and the unit and filter they are read with.
struct Rows<'a> {
    t: View<'a, u32>,
    day: View<'a, i32>,
    kind: View<'a, u32>,
    cat: View<'a, u32>,
    src: View<'a, u32>,
    map: &'a [Option<u32>],
    filter: &'a CodeFilter,
    all: bool,
}

impl Rows<'_> {
    /// Row `i`'s unit position when it passes the filter.
    #[inline]
    fn unit(&self, i: usize) -> Option<u32> {
        let u = self.map.get(self.t.get(i)? as usize).copied().flatten()?;
        if self.all {
            return Some(u);
        }
        let (d, k, c, s) = (
            self.day.get(i),
            self.kind.get(i),
            self.cat.get(i),
            self.src.get(i),
        );
        self.filter.keeps(d, k, c, s).then_some(u)
    }
}

impl KeyCols {
    fn of(df: &DataFrame) -> Result<KeyCols, AnalyticsError> {
        let u = |name: &str| -> Result<UInt32Chunked, AnalyticsError> {
            Ok(one_chunk(df.column(name)?.u32()?))
        };
        Ok(KeyCols {
            t: u(T)?,
            day: one_chunk(df.column(DAY)?.i32()?),
            kind: u(c::KIND)?,
            cat: u(c::CATEGORY)?,
            src: u(c::SOURCE)?,
        })
    }

    fn len(&self) -> usize {
        self.t.len()
    }

    fn rows<'a>(&'a self, key: &'a UnitKey, filter: &'a CodeFilter) -> Rows<'a> {
        Rows {
            t: view(&self.t),
            day: view(&self.day),
            kind: view(&self.kind),
            cat: view(&self.cat),
            src: view(&self.src),
            map: &key.map,
            filter,
            all: filter.keeps_all(),
        }
    }
}

/// A column as Int64 in one chunk.
fn i64s(df: &DataFrame, name: &str) -> Result<Int64Chunked, AnalyticsError> {
    Ok(one_chunk(df.column(name)?.cast(&DataType::Int64)?.i64()?))
}

/// The sums of [`counts_lazy`], added to `into`, by a plain loop over the
/// integer columns: the count table has about one row per event, and
/// indexing a vector by the unit's position is several times cheaper than
/// polars' group-by with ten aggregations. The filter is [`PreAgg::code_filter`].
fn add_counts(
    pre: &PreAgg,
    events: &DataFrame,
    key: &UnitKey,
    q: &Query,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let f = pre.code_filter(q);
    let keys = KeyCols::of(events)?;
    let rows = keys.rows(key, &f);
    let counts = [
        i64s(events, p::N)?,
        i64s(events, p::RESOLVED)?,
        i64s(events, p::SATISFIED)?,
        i64s(events, p::BASIC)?,
        i64s(events, p::UNSATISFIED)?,
        i64s(events, p::CLEARED)?,
    ];
    let views: Vec<View<i64>> = counts.iter().map(|c| view(c)).collect();
    let k = KindCodes::of(pre);
    // issues, incidents, visits, resolved, satisfied, basic, unsatisfied,
    // cleared, discovered, sourced
    let mut sums: Vec<[i64; 10]> = vec![[0; 10]; key.names.len()];
    let mut seen = vec![false; key.names.len()];
    for i in 0..keys.len() {
        let Some(unit) = rows.unit(i) else { continue };
        let (kind, source) = (rows.kind.get(i), rows.src.get(i));
        let unit = unit as usize;
        seen[unit] = true;
        let row = &mut sums[unit];
        let n = views[0].get(i).unwrap_or(0);
        if kind.is_some() && kind == k.issue {
            row[0] += n;
            if source.is_some_and(|s| k.discovered.contains(&s)) {
                row[8] += n;
            }
            if source.is_some() {
                row[9] += n;
            }
        } else if kind.is_some() && kind == k.incident {
            row[1] += n;
        } else if kind.is_some() && kind == k.visit {
            row[2] += n;
        }
        for (j, v) in views[1..].iter().enumerate() {
            row[3 + j] += v.get(i).unwrap_or(0);
        }
    }
    let as_u64 = |x: i64| x.max(0) as u64;
    for (i, r) in sums.iter().enumerate().filter(|(i, _)| seen[*i]) {
        let ing = into.at(i);
        ing.issues = as_u64(r[0]);
        ing.incidents = as_u64(r[1]);
        ing.visits = as_u64(r[2]);
        ing.resolved = as_u64(r[3]);
        ing.satisfied = as_u64(r[4]);
        ing.basic = as_u64(r[5]);
        ing.unsatisfied = as_u64(r[6]);
        ing.cleared = as_u64(r[7]);
        ing.discovered = as_u64(r[8]);
        ing.sourced = as_u64(r[9]);
    }
    Ok(())
}

/// The time columns of the issue table.
struct Times {
    occ: Int64Chunked,
    res: Int64Chunked,
    due: Int64Chunked,
    susp: Int64Chunked,
    resolved: BooleanChunked,
    /// Milestones, in the order of [`p::FLOW_US`].
    flow: [Int64Chunked; 9],
    solved: BooleanChunked,
    rated: BooleanChunked,
    /// Rows of cases that repeat another (重复件): in no case count.
    dup: Vec<bool>,
}

/// Positions in [`p::FLOW_US`].
const ACC: usize = 0;
const DISP: usize = 1;
const HAND: usize = 2;
const RET: usize = 3;
const REW: usize = 4;
const EXT: usize = 5;
const ESC: usize = 6;
const SUS: usize = 7;
const RSM: usize = 8;

impl Times {
    fn of(df: &DataFrame) -> Result<Times, AnalyticsError> {
        let flow = p::FLOW_US.map(|n| i64s(df, n));
        let [a, b, cc, d, e, f, g, h, k] = flow;
        Ok(Times {
            occ: i64s(df, p::OCC_US)?,
            res: i64s(df, p::RES_US)?,
            due: i64s(df, p::DUE_US)?,
            susp: i64s(df, p::SUSP_US)?,
            resolved: df.column(p::IS_RESOLVED)?.bool()?.rechunk().into_owned(),
            flow: [a?, b?, cc?, d?, e?, f?, g?, h?, k?],
            solved: df.column(p::SOLVED)?.bool()?.rechunk().into_owned(),
            rated: df.column(p::RATED)?.bool()?.rechunk().into_owned(),
            dup: df
                .column(c::DUPLICATE)?
                .bool()?
                .iter()
                .map(|v| v == Some(true))
                .collect(),
        })
    }

    /// Whether row `i` is a case that repeats another.
    #[inline]
    fn dup(&self, i: usize) -> bool {
        self.dup.get(i).copied().unwrap_or(false)
    }

    /// The milestone views, by position in [`p::FLOW_US`].
    fn flow_views(&self) -> [View<'_, i64>; 9] {
        std::array::from_fn(|t| view(&self.flow[t]))
    }

    /// Occurred, resolved, deadline (µs) and the resolved flag, by row.
    fn views(
        &self,
    ) -> (
        View<'_, i64>,
        View<'_, i64>,
        View<'_, i64>,
        impl Fn(usize) -> bool + '_,
    ) {
        let flags: Vec<bool> = self.resolved.iter().map(|v| v == Some(true)).collect();
        let resolved = move |i: usize| flags.get(i).copied().unwrap_or(false);
        (view(&self.occ), view(&self.res), view(&self.due), resolved)
    }
}

/// Linear-interpolated quantile of unsorted values (as polars' `Linear`).
fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
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
fn by_unit<T: Copy + Default>(n: usize, items: Vec<(u32, T)>) -> (Vec<usize>, Vec<T>) {
    let mut sorted = vec![(0, T::default()); items.len()];
    let start = counting_sort(&items, &mut sorted, n, |p| p.0 as usize);
    (start, sorted.into_iter().map(|p| p.1).collect())
}

/// [`lifecycle_lazy`] by a loop: on-time and due counts, then each unit's
/// median and 90th percentile hours by selection.
fn add_lifecycle(
    pre: &PreAgg,
    issues: &DataFrame,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let f = pre.code_filter(q);
    let (keys, times) = (KeyCols::of(issues)?, Times::of(issues)?);
    let rows = keys.rows(key, &f);
    let (occ, res, due, resolved) = times.views();
    let susp = view(&times.susp);
    let flow = times.flow_views();
    let n = key.names.len();
    let (mut on_time, mut due_n, mut seen) = (vec![0u64; n], vec![0u64; n], vec![false; n]);
    let mut closure = vec![[0u64; 3]; n];
    // The workflow counts, in the fields they end up in; cycle hours as (sum, n).
    let mut work = vec![Ingredients::default(); n];
    let mut cycle = vec![(0.0f64, 0u64); n];
    let mut hours: Vec<(u32, f64)> = Vec::new();
    let mut response: Vec<(u32, f64)> = Vec::new();
    for row in 0..keys.len() {
        let Some(u) = rows.unit(row) else { continue };
        if times.dup(row) {
            continue;
        }
        let i = u as usize;
        work[i].cases += 1;
        seen[i] = true;
        let (res, resolved) = (res.get(row), resolved(row));
        // 应结案 as of the window end: closed by it (a closing time after
        // it is still open then), or due by it, and not suspended then.
        let closed = resolved && res.is_none_or(|r| r <= end_us);
        // Suspended then: in its current suspension, or in its first one
        // (entered by the end, left after it).
        let suspended = susp.get(row).is_some_and(|s| s <= end_us)
            || (flow[SUS].get(row).is_some_and(|s| s <= end_us)
                && flow[RSM].get(row).is_some_and(|r| r > end_us));
        let deadline = due.get(row);
        // A milestone counts when it was reached by the window end.
        let by_end = |t: usize| flow[t].get(row).filter(|&x| x <= end_us);
        if !suspended && (closed || deadline.is_some_and(|d| d <= end_us)) {
            let c = &mut closure[i];
            c[0] += 1;
            if closed {
                c[1] += 1;
                let in_time = match (deadline, res) {
                    (None, _) => true,
                    (Some(d), Some(r)) => r <= d,
                    (Some(_), None) => false,
                };
                c[2] += u64::from(in_time);
                work[i].reworked += u64::from(by_end(REW).is_some());
            }
        }
        let w = &mut work[i];
        if by_end(DISP).is_some() {
            w.dispatched += 1;
            w.extended += u64::from(by_end(EXT).is_some());
            w.returned += u64::from(by_end(RET).is_some());
            if let Some(h) = by_end(HAND) {
                w.handled += 1;
                w.handled_on_time += u64::from(deadline.is_none_or(|d| h <= d));
            }
        }
        let accepted = by_end(ACC);
        if let (Some(a), Some(o)) = (accepted, occ.get(row)) {
            if a >= o {
                response.push((u, (a - o) as f64 / 3_600_000_000.0));
            }
        }
        if closed {
            w.closed += 1;
            w.closed_rated += u64::from(times.rated.get(row) == Some(true));
            if let Some(v) = times.solved.get(row) {
                w.solved_reported += 1;
                w.solved += u64::from(v);
            }
            w.closed_local += u64::from(by_end(ESC).is_none());
            if let (Some(a), Some(r)) = (accepted, res) {
                if r >= a {
                    cycle[i].0 += (r - a) as f64 / 3_600_000_000.0;
                    cycle[i].1 += 1;
                }
            }
        }
        // As of the window end: a case closed after it was open then.
        let timed = closed && res.is_some();
        if let (true, Some(r), Some(o)) = (timed, res, occ.get(row)) {
            if r >= o {
                hours.push((u, (r - o) as f64 / 3_600_000_000.0));
            }
        }
        if let Some(d) = due.get(row) {
            if let (true, Some(r)) = (timed, res) {
                on_time[i] += u64::from(r <= d);
            }
            due_n[i] += u64::from(timed || (!closed && d < end_us));
        }
    }
    // Hours grouped by unit, then two selections each.
    let (start, mut grouped) = by_unit(n, hours);
    let (rstart, mut rgrouped) = by_unit(n, response);
    for i in (0..n).filter(|&i| seen[i]) {
        let values = &mut grouped[start[i]..start[i + 1]];
        let w = &mut work[i];
        (w.on_time, w.due) = (on_time[i], due_n[i]);
        [w.due_closure, w.closed_due, w.closed_on_time] = closure[i];
        w.median_hours = quantile(values, 0.5);
        w.p90_hours = quantile(values, 0.9);
        w.response_hours = quantile(&mut rgrouped[rstart[i]..rstart[i + 1]], 0.5);
        let (sum, k) = cycle[i];
        w.cycle_hours = (k > 0).then(|| sum / k as f64);
        into.at(i).take_lifecycle(w);
    }
    Ok(())
}

/// [`backlog_lazy`] by a loop.
fn add_backlog(
    pre: &PreAgg,
    issues: &DataFrame,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let before_end = Query {
        from: None,
        to: None,
        ..q.clone()
    };
    let f = pre.code_filter(&before_end);
    let (keys, times) = (KeyCols::of(issues)?, Times::of(issues)?);
    let rows = keys.rows(key, &f);
    let (occ, res, due, resolved) = times.views();
    let flow = times.flow_views();
    let n = key.names.len();
    let (mut backlog, mut overdue, mut seen) = (vec![0u64; n], vec![0u64; n], vec![false; n]);
    let (mut pending, mut overdue_pending) = (vec![0u64; n], vec![0u64; n]);
    for row in 0..keys.len() {
        if occ.get(row).is_none_or(|o| o >= end_us) || times.dup(row) {
            continue;
        }
        let Some(u) = rows.unit(row) else { continue };
        let i = u as usize;
        seen[i] = true;
        // A resolved issue without a time is taken as resolved before the end.
        let res = res.get(row);
        let done = res.is_some_and(|r| r < end_us) || (res.is_none() && resolved(row));
        if !done {
            let late = due.get(row).is_some_and(|d| d < end_us);
            backlog[i] += 1;
            overdue[i] += u64::from(late);
            // 待处置: dispatched by the end, not handled by it.
            let at = |t: usize| flow[t].get(row).is_some_and(|x| x < end_us);
            if at(DISP) && !at(HAND) {
                pending[i] += 1;
                overdue_pending[i] += u64::from(late);
            }
        }
    }
    for i in (0..n).filter(|&i| seen[i]) {
        let ing = into.at(i);
        ing.backlog = backlog[i];
        ing.overdue = overdue[i];
        ing.pending_handling = pending[i];
        ing.overdue_pending = overdue_pending[i];
    }
    Ok(())
}

/// Open and overdue issues by unit code, at one period end.
pub type BacklogByUnit = HashMap<String, (u64, u64)>;

/// Backlog and overdue of every unit of `level` at the end of each of the
/// periods ending on `tos` (ascending, exclusive local dates), in one pass
/// over the issues: an issue is open from its report to its resolution,
/// so it adds one to a contiguous run of period ends (a difference array),
/// where [`ingredients_of`] would scan all history once per period. Units
/// without any issue reported before an end are absent from its map.
pub fn backlog_series(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    tos: &[NaiveDate],
) -> Result<Vec<BacklogByUnit>, AnalyticsError> {
    let key = unit_key(pre, gm, level)?;
    let all_history = Query {
        from: None,
        to: tos.last().copied(),
        zone: pre.zone,
        ..q.clone()
    };
    let f = pre.code_filter(&Query {
        to: None,
        ..all_history.clone()
    });
    let ends: Vec<i64> = tos.iter().map(|d| pre.zone.midnight_us(*d)).collect();
    let issues = pre.issues_before_end(&all_history);
    let (keys, times) = (KeyCols::of(&issues)?, Times::of(&issues)?);
    let rows = keys.rows(&key, &f);
    let (occ, res, due, resolved) = times.views();
    let (n, m) = (key.names.len(), ends.len());
    let first_above = |t: i64| ends.partition_point(|&e| e <= t);
    let mut open = vec![0i64; n * (m + 1)];
    let mut late = vec![0i64; n * (m + 1)];
    let mut first = vec![m; n];
    for row in 0..keys.len() {
        let (Some(o), Some(u)) = (occ.get(row), rows.unit(row)) else {
            continue;
        };
        if times.dup(row) {
            continue;
        }
        let (u, a) = (u as usize, first_above(o));
        if a == m {
            continue;
        }
        first[u] = first[u].min(a);
        let res = res.get(row);
        if res.is_none() && resolved(row) {
            continue; // resolved at an unknown time: never in a backlog
        }
        // Open at every end E with o < E <= res.
        let b = res.map_or(m, first_above);
        if b > a {
            open[u * (m + 1) + a] += 1;
            open[u * (m + 1) + b] -= 1;
        }
        if let Some(d) = due.get(row) {
            let a = a.max(first_above(d));
            if b > a {
                late[u * (m + 1) + a] += 1;
                late[u * (m + 1) + b] -= 1;
            }
        }
    }
    let mut out = vec![HashMap::new(); m];
    for u in 0..n {
        let (mut b, mut o) = (0i64, 0i64);
        for (k, period) in out.iter_mut().enumerate() {
            b += open[u * (m + 1) + k];
            o += late[u * (m + 1) + k];
            if k >= first[u] {
                period.insert(key.names[u].clone(), (b.max(0) as u64, o.max(0) as u64));
            }
        }
    }
    Ok(out)
}

/// [`households_lazy`] by a loop: distinct (unit, household) pairs.
fn add_households(
    pre: &PreAgg,
    households: &DataFrame,
    key: &UnitKey,
    q: &Query,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let f = pre.code_filter(q);
    let keys = KeyCols::of(households)?;
    let rows = keys.rows(key, &f);
    let hh = one_chunk(households.column(p::HOUSEHOLD)?.u64()?);
    let hh = view(&hh);
    // Households grouped by unit, then counted distinct within each slice.
    let pairs = (0..keys.len()).filter_map(|i| Some((rows.unit(i)?, hh.get(i)?)));
    let (start, mut grouped) = by_unit(key.names.len(), pairs.collect());
    let visited: Vec<u64> = start
        .windows(2)
        .map(|w| {
            let slice = &mut grouped[w[0]..w[1]];
            slice.sort_unstable();
            let mut distinct = 0u64;
            for (j, h) in slice.iter().enumerate() {
                distinct += u64::from(j == 0 || slice[j - 1] != *h);
            }
            distinct
        })
        .collect();
    for (i, &v) in visited.iter().enumerate().filter(|(_, &v)| v > 0) {
        into.at(i).households_visited = v;
    }
    Ok(())
}

/// The repeat points of the window's issues that pass the filter and lie
/// in a grid (as `/repeats` clusters them: the same clusters at every
/// tier): each one's home (the place code most of its issues have, ties to
/// the smallest codes) and peak.
fn repeat_homes(pre: &PreAgg, q: &Query) -> Result<Vec<(u32, usize)>, AnalyticsError> {
    let issues = pre.issues_in(q);
    let f = pre.code_filter(q);
    let keys = KeyCols::of(&issues)?;
    let (occ, lon, lat) = (
        i64s(&issues, p::OCC_US)?,
        one_chunk(issues.column(c::LON)?.f64()?),
        one_chunk(issues.column(c::LAT)?.f64()?),
    );
    let (occ, lon, lat, t) = (view(&occ), view(&lon), view(&lat), view(&keys.t));
    let (day, kind, cat, src) = (
        view(&keys.day),
        view(&keys.kind),
        view(&keys.cat),
        view(&keys.src),
    );
    let all = f.keeps_all();
    // Located issues with a category and a time, and their place codes.
    let mut points = Vec::new();
    let mut places = Vec::new();
    for row in 0..keys.len() {
        let (Some(at_us), Some(x), Some(y), Some(category), Some(place)) = (
            occ.get(row),
            lon.get(row),
            lat.get(row),
            cat.get(row),
            t.get(row),
        ) else {
            continue;
        };
        let in_grid = pre
            .codes
            .tiers
            .get(place as usize)
            .is_some_and(|t| t[2].is_some());
        if !in_grid || !(all || f.keeps(day.get(row), kind.get(row), Some(category), src.get(row)))
        {
            continue;
        }
        points.push(repeats::IssuePoint {
            lon: x,
            lat: y,
            at_us,
            category,
        });
        places.push(place);
    }
    let params = repeats::RepeatParams::default();
    let mut out = Vec::new();
    for found in repeats::found(&points, &params, repeats::LEVELS[0])? {
        let home =
            repeats::most_frequent(found.members.iter().map(|&i| places[i as usize]), |a, b| {
                pre.codes.tiers[*a as usize].cmp(&pre.codes.tiers[*b as usize])
            });
        if let Some(h) = home {
            out.push((h, found.peak));
        }
    }
    Ok(out)
}

/// [`repeat_homes`], shared.
type RepeatHomes = std::sync::Arc<Vec<(u32, usize)>>;

/// [`repeat_homes`] of recent (pre-aggregate generation, query) pairs: the
/// three tiers of one table, a map's tiers and the exports of one window
/// cluster once ([`compute_tiers_of`] asks before its tiers run side by side).
fn cached_repeat_homes(pre: &PreAgg, q: &Query) -> Result<RepeatHomes, AnalyticsError> {
    type Key = (u64, Option<NaiveDate>, Option<NaiveDate>, [Vec<String>; 3]);
    static HOMES: Recent<Key, RepeatHomes> = Recent::new(16);
    let key: Key = (
        pre.generation(),
        q.from,
        q.to,
        [q.kinds.clone(), q.categories.clone(), q.sources.clone()],
    );
    HOMES.get_or(key, || repeat_homes(pre, q).map(std::sync::Arc::new))
}

/// Repeat-complaint points per unit: the window's issues that pass the
/// filter are clustered (same category, 100 m, 30 days: [`repeats`]), and
/// each point counts in the unit its home grid is under, at level 3 and 5.
/// Clustering is across units: a point on a boundary counts once, where
/// most of its issues are.
fn add_repeats(
    pre: &PreAgg,
    key: &UnitKey,
    q: &Query,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let mut counts = vec![[0u64; 2]; key.names.len()];
    for &(home, peak) in cached_repeat_homes(pre, q)?.iter() {
        let Some(u) = key.map.get(home as usize).copied().flatten() else {
            continue;
        };
        for (k, &level) in repeats::LEVELS.iter().enumerate() {
            counts[u as usize][k] += u64::from(peak >= level);
        }
    }
    for (i, c) in counts.into_iter().enumerate().filter(|(_, c)| c[0] > 0) {
        into.at(i).repeat_points = c;
    }
    Ok(())
}

/// Query: on-time counts and resolution-time quantiles per unit.
pub fn lifecycle_lazy(
    pre: &PreAgg,
    issues: LazyFrame,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
) -> LazyFrame {
    let (res, due, occ) = (col(p::RES_US), col(p::DUE_US), col(p::OCC_US));
    let resolved = col(p::IS_RESOLVED);
    let flag = |pred: Expr, name: &str| pred.fill_null(false).cast(DataType::Int64).alias(name);
    let closed = resolved
        .clone()
        .and(res.clone().is_null().or(res.clone().lt_eq(lit(end_us))));
    let timed = closed.clone().and(res.clone().is_not_null());
    let hours = when(timed.clone().and(res.clone().gt_eq(occ.clone())))
        .then((res.clone() - occ).cast(DataType::Float64) / lit(3_600_000_000.0))
        .otherwise(lit(NULL).cast(DataType::Float64));
    let (first, resumed) = (col(p::FLOW_US[SUS]), col(p::FLOW_US[RSM]));
    let suspended = col(p::SUSP_US)
        .is_not_null()
        .and(col(p::SUSP_US).lt_eq(lit(end_us)))
        .or(first
            .clone()
            .is_not_null()
            .and(first.lt_eq(lit(end_us)))
            .and(resumed.clone().is_not_null())
            .and(resumed.gt(lit(end_us))))
        .fill_null(false);
    let due_closure = suspended
        .not()
        .and(closed.clone().or(due.clone().lt_eq(lit(end_us))));
    let closed_due = due_closure.clone().and(closed.clone());
    let closed_on_time = closed_due
        .clone()
        .and(due.clone().is_null().or(res.clone().lt_eq(due.clone())));
    issues
        .filter(pre.predicate(q).and(col(c::DUPLICATE).not()))
        .select([
            key.expr.clone().alias(UNIT),
            hours.alias("hours"),
            lit(1i64).alias("cases"),
            flag(due_closure, "due_closure"),
            flag(closed_due, "closed_due"),
            flag(closed_on_time, "closed_on_time"),
            flag(
                timed
                    .clone()
                    .and(due.clone().is_not_null())
                    .and(res.lt_eq(due.clone())),
                "on_time",
            ),
            flag(
                due.clone()
                    .is_not_null()
                    .and(timed.or(closed.clone().not().and(due.lt(lit(end_us))))),
                "due",
            ),
        ])
        .group_by([col(UNIT)])
        .agg([
            col("cases").sum(),
            col("on_time").sum(),
            col("due").sum(),
            col("due_closure").sum(),
            col("closed_due").sum(),
            col("closed_on_time").sum(),
            col("hours").median().alias("median_hours"),
            col("hours")
                .quantile(lit(0.9), QuantileMethod::Linear)
                .alias("p90_hours"),
        ])
        .filter(col(UNIT).is_not_null())
}

/// Query: backlog and overdue at the window end, over all issues before it.
pub fn backlog_lazy(
    pre: &PreAgg,
    issues: LazyFrame,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
) -> LazyFrame {
    let before_end = Query {
        from: None,
        to: None,
        ..q.clone()
    };
    let res = col(p::RES_US);
    // A resolved issue without a time is taken as resolved before the end:
    // the alternative would keep it in the backlog forever.
    let done = res
        .clone()
        .is_not_null()
        .and(res.clone().lt(lit(end_us)))
        .or(col(p::IS_RESOLVED).and(res.is_null()));
    let open = done.not().fill_null(false);
    let overdue = open
        .clone()
        .and(col(p::DUE_US).lt(lit(end_us)))
        .fill_null(false);
    issues
        .filter(
            pre.predicate(&before_end)
                .and(col(p::OCC_US).lt(lit(end_us)))
                .and(col(c::DUPLICATE).not()),
        )
        .select([
            key.expr.clone().alias(UNIT),
            open.cast(DataType::Int64).alias("backlog"),
            overdue.cast(DataType::Int64).alias("overdue"),
        ])
        .group_by([col(UNIT)])
        .agg([col("backlog").sum(), col("overdue").sum()])
        .filter(col(UNIT).is_not_null())
}

/// Query: distinct households visited per unit.
pub fn households_lazy(pre: &PreAgg, households: LazyFrame, key: &UnitKey, q: &Query) -> LazyFrame {
    households
        .filter(pre.predicate(q))
        .with_column(key.expr.clone().alias(UNIT))
        .group_by([col(UNIT)])
        .agg([col(p::HOUSEHOLD)
            .n_unique()
            .cast(DataType::Int64)
            .alias("households_visited")])
        .filter(col(UNIT).is_not_null())
}

/// Per-unit rows of a collected frame: unit code → (column → value).
#[cfg(test)]
fn read_rows(
    df: &DataFrame,
    key: &UnitKey,
    into: &mut HashMap<String, Ingredients>,
    set: impl Fn(&mut Ingredients, &str, Option<f64>),
) -> Result<(), AnalyticsError> {
    let units = df.column(UNIT)?.u32()?.clone();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .filter(|n| n != UNIT)
        .collect();
    let cols: Vec<Float64Chunked> = names
        .iter()
        .map(|n| Ok(df.column(n)?.cast(&DataType::Float64)?.f64()?.clone()))
        .collect::<Result<_, PolarsError>>()?;
    for (row, unit) in units.iter().enumerate() {
        let Some(unit) = unit.and_then(|u| key.names.get(u as usize)) else {
            continue;
        };
        let ing = into.entry(unit.clone()).or_default();
        for (name, column) in names.iter().zip(&cols) {
            set(ing, name, column.get(row));
        }
    }
    Ok(())
}

#[cfg(test)]
fn set_field(i: &mut Ingredients, name: &str, v: Option<f64>) {
    // Counts come from sums of non-negative integers, so the cast is exact.
    let n = v.unwrap_or(0.0).max(0.0) as u64;
    match name {
        "issues" => i.issues = n,
        "incidents" => i.incidents = n,
        "visits" => i.visits = n,
        "resolved" => i.resolved = n,
        "satisfied" => i.satisfied = n,
        "basic" => i.basic = n,
        "unsatisfied" => i.unsatisfied = n,
        "cleared" => i.cleared = n,
        "discovered" => i.discovered = n,
        "sourced" => i.sourced = n,
        "on_time" => i.on_time = n,
        "cases" => i.cases = n,
        "due" => i.due = n,
        "due_closure" => i.due_closure = n,
        "closed_due" => i.closed_due = n,
        "closed_on_time" => i.closed_on_time = n,
        "backlog" => i.backlog = n,
        "overdue" => i.overdue = n,
        "households_visited" => i.households_visited = n,
        "median_hours" => i.median_hours = v,
        "p90_hours" => i.p90_hours = v,
        _ => {}
    }
}

/// Which of the tables beyond the count table a metric reads. The backlog
/// scans every issue before the window's end, so a series of one metric
/// over thirty short periods should not pay it thirty times for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// On-time and due counts, duration quantiles (issues of the window).
    pub lifecycle: bool,
    /// Backlog and overdue at the window end (issues of all history).
    pub backlog: bool,
    /// Distinct households visited.
    pub households: bool,
    /// Repeat-complaint points (a clustering of the window's issues).
    pub repeats: bool,
}

impl Parts {
    /// Everything (a full metric table).
    pub const ALL: Parts = Parts {
        lifecycle: true,
        backlog: true,
        households: true,
        repeats: true,
    };

    /// What `def` reads, found by changing those ingredients alone and
    /// watching its value: it stays right as formulas are added.
    pub fn of(def: &MetricDef) -> Parts {
        let cx = UnitContext {
            area_km2: 2.0,
            households: Some(1_000),
            grids: 3,
        };
        let base = Ingredients {
            issues: 40,
            cases: 38,
            incidents: 30,
            visits: 50,
            resolved: 20,
            on_time: 8,
            due: 16,
            due_closure: 15,
            closed_due: 12,
            closed_on_time: 9,
            satisfied: 6,
            basic: 4,
            unsatisfied: 2,
            cleared: 9,
            discovered: 11,
            sourced: 33,
            households_visited: 25,
            backlog: 14,
            overdue: 5,
            dispatched: 30,
            handled: 24,
            handled_on_time: 20,
            extended: 3,
            returned: 4,
            reworked: 2,
            closed: 18,
            closed_rated: 10,
            solved_reported: 9,
            solved: 7,
            closed_local: 16,
            pending_handling: 6,
            overdue_pending: 2,
            response_hours: Some(5.0),
            cycle_hours: Some(40.0),
            median_hours: Some(30.0),
            p90_hours: Some(90.0),
            repeat_points: [4, 1],
        };
        let reads = |changed: Ingredients| (def.value)(&changed, &cx) != (def.value)(&base, &cx);
        Parts {
            lifecycle: reads(Ingredients {
                cases: 36,
                on_time: 12,
                due: 18,
                due_closure: 19,
                closed_due: 13,
                closed_on_time: 10,
                median_hours: Some(31.0),
                p90_hours: Some(95.0),
                dispatched: 33,
                handled: 25,
                handled_on_time: 22,
                extended: 5,
                returned: 6,
                reworked: 3,
                closed: 19,
                closed_rated: 12,
                solved_reported: 11,
                solved: 8,
                closed_local: 15,
                response_hours: Some(6.0),
                cycle_hours: Some(44.0),
                ..base.clone()
            }),
            backlog: reads(Ingredients {
                backlog: 17,
                overdue: 7,
                pending_handling: 9,
                overdue_pending: 4,
                ..base.clone()
            }),
            households: reads(Ingredients {
                households_visited: 35,
                ..base.clone()
            }),
            repeats: reads(Ingredients {
                repeat_points: [6, 2],
                ..base.clone()
            }),
        }
    }
}

/// Ingredients of every unit of a tier that has events under the query.
///
/// Local days were fixed when the pre-aggregate was built, so its zone
/// replaces the query's.
pub fn ingredients(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
) -> Result<HashMap<String, Ingredients>, AnalyticsError> {
    ingredients_of(pre, gm, level, q, Parts::ALL)
}

/// [`ingredients`] with only the tables of `parts` read besides the counts;
/// the fields of the others stay zero or unknown.
pub fn ingredients_of(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    parts: Parts,
) -> Result<HashMap<String, Ingredients>, AnalyticsError> {
    let (key, d) = dense_of(pre, gm, level, q, parts)?;
    Ok(d.written()
        .map(|(i, ing)| (key.names[i].clone(), ing.clone()))
        .collect())
}

/// [`ingredients_of`] by key position.
fn dense_of(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    parts: Parts,
) -> Result<(std::sync::Arc<TierKey>, Dense), AnalyticsError> {
    q.validate()?;
    let key = unit_key(pre, gm, level)?;
    let q = Query {
        zone: pre.zone,
        ..q.clone()
    };
    let end_us = q
        .end_us()
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    // Each part fills its own rows: the parts run side by side and their
    // rows are merged field by field.
    type Fill<'a> = dyn Fn(&mut Dense) -> Result<(), AnalyticsError> + Sync + 'a;
    let n = key.names.len();
    let run = |on: bool, f: &Fill| -> Result<Dense, AnalyticsError> {
        if !on {
            return Ok(Dense::default());
        }
        let mut d = Dense::new(n);
        f(&mut d)?;
        Ok(d)
    };
    let k = &key.key;
    let (((counts, life), (backlog, households)), repeats) = rayon::join(
        || {
            rayon::join(
                || {
                    rayon::join(
                        || run(true, &|m| add_counts(pre, &pre.events_in(&q), k, &q, m)),
                        || {
                            run(parts.lifecycle, &|m| {
                                add_lifecycle(pre, &pre.issues_in(&q), k, &q, end_us, m)
                            })
                        },
                    )
                },
                || {
                    rayon::join(
                        || {
                            run(parts.backlog, &|m| {
                                add_backlog(pre, &pre.issues_before_end(&q), k, &q, end_us, m)
                            })
                        },
                        || {
                            run(parts.households, &|m| {
                                add_households(pre, &pre.households_in(&q), k, &q, m)
                            })
                        },
                    )
                },
            )
        },
        || run(parts.repeats, &|m| add_repeats(pre, k, &q, m)),
    );
    let mut out = counts?;
    for (i, l) in life?.written() {
        out.at(i).take_lifecycle(l);
    }
    for (i, b) in backlog?.written() {
        out.at(i).take_backlog(b);
    }
    for (i, h) in households?.written() {
        out.at(i).households_visited = h.households_visited;
    }
    for (i, r) in repeats?.written() {
        out.at(i).repeat_points = r.repeat_points;
    }
    Ok((key, out))
}

/// Every catalogue metric for every unit of `level`, with 同比 and 环比
/// changes of the count metrics when the window is closed.
pub fn compute_metrics(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
) -> Result<MetricTable, AnalyticsError> {
    compute_metrics_of(pre, gm, level, q, Parts::ALL)
}

/// [`compute_metrics`] reading only the tables of `parts`: the metrics of
/// the others are zero or null (the benchmark against DuckDB leaves out
/// the repeat points, which DuckDB's script does not compute).
pub fn compute_metrics_of(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    parts: Parts,
) -> Result<MetricTable, AnalyticsError> {
    let (key, current) = dense_of(pre, gm, level, q, parts)?;
    let base = |b: Option<Query>| {
        b.map(|b| dense_of(pre, gm, level, &b, parts).map(|(_, d)| d))
            .transpose()
    };
    let last_year = base(q.same_period_last_year())?;
    let previous = base(q.previous_period())?;
    let empty = Ingredients::default();
    let rows = gm
        .level(level)
        .map(|index| {
            let u = gm.unit(index);
            let cx = UnitContext::of(gm, index);
            let ing = key.get(&current, index).cloned().unwrap_or_default();
            let mut row = UnitMetrics {
                code: u.code.clone(),
                name: u.name.clone(),
                index,
                context: cx,
                values: catalogue()
                    .iter()
                    .map(|m| (m.name, (m.value)(&ing, &cx)))
                    .collect(),
                ingredients: ing,
                yoy: BTreeMap::new(),
                pop: BTreeMap::new(),
            };
            for (bases, target) in [(&last_year, &mut row.yoy), (&previous, &mut row.pop)] {
                let Some(bases) = bases else { continue };
                let b = key.get(bases, index).unwrap_or(&empty);
                for m in catalogue().iter().filter(|m| m.is_count) {
                    if let (Some(now), Some(then)) =
                        ((m.value)(&row.ingredients, &cx), (m.value)(b, &cx))
                    {
                        target.insert(m.name, change(now, then));
                    }
                }
            }
            row
        })
        .collect();
    Ok(MetricTable {
        level,
        query: q.clone(),
        rows,
    })
}

/// The value of one metric for every unit of `level` over `q` (no 同比 or
/// 环比), reading only the tables its formula uses: what a map colours.
pub fn metric_values(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    def: &MetricDef,
) -> Result<Vec<(usize, Option<f64>)>, AnalyticsError> {
    let (key, ing) = dense_of(pre, gm, level, q, Parts::of(def))?;
    let empty = Ingredients::default();
    Ok(gm
        .level(level)
        .map(|index| {
            let v = (def.value)(
                key.get(&ing, index).unwrap_or(&empty),
                &UnitContext::of(gm, index),
            );
            (index, v)
        })
        .collect())
}

/// [`compute_metrics`] for several tiers at once, side by side (each
/// tier's loops leave a core idle while its longest part finishes).
pub fn compute_tiers(
    pre: &PreAgg,
    gm: &GridModel,
    levels: &[u8],
    q: &Query,
) -> Result<Vec<MetricTable>, AnalyticsError> {
    compute_tiers_of(pre, gm, levels, q, Parts::ALL)
}

/// [`compute_tiers`] with only the tables of `parts` ([`compute_metrics_of`]).
pub fn compute_tiers_of(
    pre: &PreAgg,
    gm: &GridModel,
    levels: &[u8],
    q: &Query,
    parts: Parts,
) -> Result<Vec<MetricTable>, AnalyticsError> {
    use rayon::prelude::*;
    if parts.repeats && levels.len() > 1 {
        q.validate()?;
        // One clustering per window for every tier, not one per tier at once.
        let windows = [
            Some(q.clone()),
            q.same_period_last_year(),
            q.previous_period(),
        ];
        for w in windows.iter().flatten() {
            let w = Query {
                zone: pre.zone,
                ..w.clone()
            };
            cached_repeat_homes(pre, &w)?;
        }
    }
    levels
        .par_iter()
        .map(|&level| compute_metrics_of(pre, gm, level, q, parts))
        .collect()
}

impl MetricTable {
    /// The row of a unit.
    pub fn row(&self, code: &str) -> Option<&UnitMetrics> {
        self.rows.iter().find(|r| r.code == code)
    }

    /// Wide frame: code, name, every metric, then `<metric>_yoy_abs`,
    /// `_yoy_pct`, `_pop_abs`, `_pop_pct` for the count metrics.
    pub fn to_dataframe(&self) -> Result<DataFrame, AnalyticsError> {
        let mut cols: Vec<Column> = vec![
            Column::new(
                "code".into(),
                self.rows
                    .iter()
                    .map(|r| r.code.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "name".into(),
                self.rows
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new("level".into(), vec![u32::from(self.level); self.rows.len()]),
        ];
        for m in catalogue() {
            cols.push(Column::new(
                m.name.into(),
                self.rows
                    .iter()
                    .map(|r| r.value(m.name))
                    .collect::<Vec<_>>(),
            ));
        }
        for m in catalogue().iter().filter(|m| m.is_count) {
            for (tag, pick) in [("yoy", true), ("pop", false)] {
                let get = |r: &UnitMetrics| {
                    if pick {
                        r.yoy.get(m.name).copied()
                    } else {
                        r.pop.get(m.name).copied()
                    }
                };
                cols.push(Column::new(
                    format!("{}_{tag}_abs", m.name).into(),
                    self.rows
                        .iter()
                        .map(|r| get(r).map(|ch| ch.abs))
                        .collect::<Vec<_>>(),
                ));
                cols.push(Column::new(
                    format!("{}_{tag}_pct", m.name).into(),
                    self.rows
                        .iter()
                        .map(|r| get(r).and_then(|ch| ch.pct))
                        .collect::<Vec<_>>(),
                ));
            }
        }
        Ok(DataFrame::new_infer_height(cols)?)
    }
}

/// Counts per unit, kind and category (long format), for category breakdowns.
pub fn category_counts(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
) -> Result<DataFrame, AnalyticsError> {
    let key = unit_key(pre, gm, level)?;
    let q = Query {
        zone: pre.zone,
        ..q.clone()
    };
    let df = pre
        .events_in(&q)
        .lazy()
        .filter(pre.predicate(&q))
        .with_column(key.expr.clone().alias(UNIT))
        .filter(col(UNIT).is_not_null())
        .group_by([col(UNIT), col(c::KIND), col(c::CATEGORY)])
        .agg([col(p::N).sum().alias(p::N)])
        .collect()?;
    let mut df = pre.decode(df)?;
    let units: StringChunked = df
        .column(UNIT)?
        .u32()?
        .iter()
        .map(|u| u.and_then(|u| key.names.get(u as usize).map(String::as_str)))
        .collect();
    df.with_column(units.with_name(UNIT.into()).into_column())?;
    Ok(df.sort([UNIT, c::KIND, c::CATEGORY], SortMultipleOptions::default())?)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    #[test]
    fn a_metric_reads_only_the_tables_its_formula_uses() {
        use crate::analytics::catalogue::metric;
        let parts = |name: &str| Parts::of(metric(name).unwrap());
        let none = Parts {
            lifecycle: false,
            backlog: false,
            households: false,
            repeats: false,
        };
        assert_eq!(parts("issue_count"), none);
        assert_eq!(
            parts("backlog_open"),
            Parts {
                backlog: true,
                ..none
            }
        );
        assert_eq!(
            parts("on_time_rate"),
            Parts {
                lifecycle: true,
                ..none
            }
        );
        assert_eq!(
            parts("median_hours_to_resolve"),
            Parts {
                lifecycle: true,
                ..none
            }
        );
        assert_eq!(
            parts("visit_coverage"),
            Parts {
                households: true,
                ..none
            }
        );
        for name in ["repeat_points_3", "repeat_points_5"] {
            assert_eq!(
                parts(name),
                Parts {
                    repeats: true,
                    ..none
                }
            );
        }
        // Every metric of the catalogue still reads what it did: a full
        // table computed with only its parts gives the same value.
        let gm = county();
        let df = joined(
            &gm,
            &[
                Ev::issue("2026-03-01 09:00", "G1"),
                Ev::visit("2026-03-02 10:00", "G2", "h1"),
                Ev::incident("2026-03-03 11:00", "G3"),
            ],
        );
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        let q = Query::window(
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
        );
        let all = ingredients(&pre, &gm, 3, &q).unwrap();
        for def in catalogue() {
            let some = ingredients_of(&pre, &gm, 3, &q, Parts::of(def)).unwrap();
            for (code, ing) in &all {
                let cx = UnitContext {
                    area_km2: 1.0,
                    households: Some(100),
                    grids: 1,
                };
                assert_eq!(
                    (def.value)(ing, &cx),
                    (def.value)(&some[code], &cx),
                    "{} of {code}",
                    def.name
                );
            }
        }
    }

    use super::*;
    use crate::analytics::filter::Zone;
    use crate::analytics::testutil::{county, joined, Ev};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// The loops of [`ingredients_of`] give what the reference polars
    /// queries give, on every tier, with and without filters.
    #[test]
    fn the_loops_agree_with_the_polars_queries() {
        let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 5_000, 60);
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        let filtered = Query {
            categories: vec!["环境卫生".into(), "盗窃".into()],
            sources: vec!["patrol".into()],
            ..Query::window(d(2025, 1, 10), d(2025, 2, 1))
        };
        let visits = Query {
            kinds: vec!["visit".into(), "issue".into()],
            ..Query::window(d(2025, 1, 1), d(2025, 1, 20))
        };
        for q in [Query::default(), filtered, visits] {
            let q = Query {
                zone: pre.zone,
                ..q
            };
            let end_us = q.end_us().unwrap_or(i64::MAX / 2);
            for level in 0..=3 {
                let key = unit_key(&pre, &gm, level).unwrap();
                let mut fast = Dense::new(key.names.len());
                add_counts(&pre, &pre.events_in(&q), &key, &q, &mut fast).unwrap();
                add_lifecycle(&pre, &pre.issues_in(&q), &key, &q, end_us, &mut fast).unwrap();
                add_backlog(
                    &pre,
                    &pre.issues_before_end(&q),
                    &key,
                    &q,
                    end_us,
                    &mut fast,
                )
                .unwrap();
                add_households(&pre, &pre.households_in(&q), &key, &q, &mut fast).unwrap();
                let fast: HashMap<String, Ingredients> = fast
                    .written()
                    .map(|(i, ing)| (key.names[i].clone(), ing.clone()))
                    .collect();
                let mut slow = HashMap::new();
                for df in [
                    counts_lazy(&pre, pre.events.clone().lazy(), &key, &q),
                    lifecycle_lazy(&pre, pre.issues.clone().lazy(), &key, &q, end_us),
                    backlog_lazy(&pre, pre.issues.clone().lazy(), &key, &q, end_us),
                    households_lazy(&pre, pre.households.clone().lazy(), &key, &q),
                ] {
                    read_rows(&df.collect().unwrap(), &key, &mut slow, set_field).unwrap();
                }
                assert!(!fast.is_empty());
                // Hours may differ in the last bit (another summation order).
                let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
                    (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                    (a, b) => a == b,
                };
                assert_eq!(fast.len(), slow.len(), "level {level}, {q:?}");
                for (unit, a) in &fast {
                    let b = &slow[unit];
                    assert!(close(a.median_hours, b.median_hours), "{unit}");
                    assert!(close(a.p90_hours, b.p90_hours), "{unit}");
                    // The workflow counts have no lazy twin: the
                    // scale-out job and the fixtures check them.
                    let strip = |i: &Ingredients| {
                        let mut i = Ingredients {
                            median_hours: None,
                            p90_hours: None,
                            ..i.clone()
                        };
                        i.take_lifecycle(&Ingredients {
                            on_time: i.on_time,
                            due: i.due,
                            due_closure: i.due_closure,
                            closed_due: i.closed_due,
                            closed_on_time: i.closed_on_time,
                            ..Ingredients::default()
                        });
                        i.take_backlog(&Ingredients {
                            backlog: i.backlog,
                            overdue: i.overdue,
                            ..Ingredients::default()
                        });
                        i
                    };
                    assert_eq!(strip(a), strip(b), "{unit} level {level}, {q:?}");
                }
            }
        }
    }

    /// The repeat points per unit from the pre-aggregates' issue table are
    /// the clusters the joined frame gives (`repeats`, what `/repeats` and
    /// `wangge repeats` answer), counted where their home is, on every
    /// tier, with and without filters.
    #[test]
    fn repeat_points_per_unit_are_the_frame_clusters_counted_at_home() {
        let (gm, mut df) = crate::analytics::testutil::big(2, 2, 3, 6_000, 90);
        // 100 places 220 m apart (never linked across), so each place
        // gathers issues of several categories over the 90 days.
        let place = |i: usize| ((i * 7_919) % 100) as f64;
        let n = df.height();
        let lon: Vec<f64> = (0..n).map(|i| 0.5 + (place(i) % 10.0) * 0.0025).collect();
        let lat: Vec<f64> = (0..n)
            .map(|i| 0.5 + (place(i) / 10.0).floor() * 0.002)
            .collect();
        df.with_column(Column::new(c::LON.into(), lon)).unwrap();
        df.with_column(Column::new(c::LAT.into(), lat)).unwrap();
        let pre = PreAgg::build(df.clone().lazy(), Zone::default()).unwrap();
        let queries = [
            Query::default(),
            Query {
                categories: vec!["环境卫生".into()],
                ..Query::window(d(2025, 1, 10), d(2025, 3, 1))
            },
            Query::window(d(2025, 2, 1), d(2025, 3, 1)),
        ];
        let (mut seen3, mut seen5) = (0, 0);
        for q in queries {
            let q = Query {
                zone: pre.zone,
                ..q
            };
            let found = repeats::repeats(
                df.clone().lazy(),
                &q,
                &repeats::RepeatParams::default(),
                repeats::LEVELS[0],
            )
            .unwrap();
            for level in 1..=3 {
                let key = unit_key(&pre, &gm, level).unwrap();
                let mut fast = Dense::new(key.names.len());
                add_repeats(&pre, &key, &q, &mut fast).unwrap();
                let counts = repeats::counts_at(&gm, level, &found);
                for i in gm.level(level) {
                    let code = &gm.unit(i).code;
                    let ours = key.get(&fast, i).map_or([0, 0], |x| x.repeat_points);
                    let theirs = counts[i].map(|c| c as u64);
                    assert_eq!(ours, theirs, "{code} level {level}, {q:?}");
                    seen3 += ours[0];
                    seen5 += ours[1];
                }
            }
        }
        // The fixture has points at both levels, and fewer at 5 than at 3.
        assert!(seen5 > 0 && seen3 > seen5, "{seen3} {seen5}");
    }

    /// Repeat points are kept per pre-aggregate generation: an append
    /// that completes a point shows at once, and a duplicate report counts.
    #[test]
    fn a_third_complaint_appended_makes_a_repeat_point() {
        let gm = county();
        let at = |t: &'static str| Ev {
            category: "噪音",
            ..Ev::issue(t, "G1")
        };
        let two = joined(&gm, &[at("2026-03-01 09:00"), at("2026-03-10 09:00")]);
        let mut pre = PreAgg::build(two.lazy(), Zone::default()).unwrap();
        let q = Query::window(d(2026, 3, 1), d(2026, 4, 1));
        let points = |pre: &PreAgg| {
            let v = metric_values(
                pre,
                &gm,
                3,
                &q,
                crate::analytics::catalogue::metric("repeat_points_3").unwrap(),
            )
            .unwrap();
            v.into_iter()
                .map(|(i, v)| (gm.unit(i).code.clone(), v.unwrap()))
                .filter(|(_, v)| *v > 0.0)
                .collect::<Vec<_>>()
        };
        assert!(points(&pre).is_empty());
        let third = joined(
            &gm,
            &[Ev {
                duplicate: true,
                ..at("2026-03-20 09:00")
            }],
        );
        pre.append(&PreAgg::build(third.lazy(), Zone::default()).unwrap())
            .unwrap();
        assert_eq!(points(&pre), vec![("G1".to_owned(), 1.0)]);
    }

    /// One pass over the issues gives each period's backlog as a scan of
    /// all history per period does.
    #[test]
    fn backlog_series_matches_one_scan_per_period() {
        let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 6_000, 90);
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        let tos: Vec<NaiveDate> = (0..40)
            .map(|k| d(2024, 12, 20) + chrono::Duration::days(3 * k))
            .collect();
        let only_backlog = Parts {
            lifecycle: false,
            backlog: true,
            households: false,
            repeats: false,
        };
        for q in [
            Query::default(),
            Query {
                categories: vec!["环境卫生".into()],
                sources: vec!["patrol".into()],
                ..Query::default()
            },
        ] {
            for level in 1..=3 {
                let series = backlog_series(&pre, &gm, level, &q, &tos).unwrap();
                let mut nonzero = 0;
                for (k, to) in tos.iter().enumerate() {
                    let pq = Query {
                        from: Some(*to - chrono::Duration::days(3)),
                        to: Some(*to),
                        ..q.clone()
                    };
                    let scan = ingredients_of(&pre, &gm, level, &pq, only_backlog).unwrap();
                    for u in gm.level(level) {
                        let code = &gm.unit(u).code;
                        let want = scan.get(code).map_or((0, 0), |i| (i.backlog, i.overdue));
                        let got = series[k].get(code).copied().unwrap_or((0, 0));
                        assert_eq!(got, want, "{code} at {to}, {q:?}");
                        nonzero += usize::from(got.0 > 0);
                    }
                }
                assert!(nonzero > 0);
            }
        }
    }

    #[test]
    fn quantiles_interpolate_like_polars() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), Some(2.5));
        assert_eq!(quantile(&mut v, 0.9), Some(3.7));
        assert_eq!(quantile(&mut [7.0], 0.9), Some(7.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }

    fn march() -> Query {
        Query::window(d(2026, 3, 1), d(2026, 4, 1))
    }

    /// The fixture whose numbers the tests below work out by hand.
    fn events() -> Vec<Ev> {
        let issue = |at, grid| Ev::issue(at, grid);
        vec![
            // G1: at local midnight (28 Feb in UTC), resolved in 10 h, on time.
            Ev {
                status: Some("resolved"),
                resolved: Some("2026-03-01 10:30"),
                deadline: Some("2026-03-02 00:00"),
                satisfaction: Some("satisfied"),
                source: Some("patrol"),
                ..issue("2026-03-01 00:30", "G1")
            },
            // G1: resolved in 48 h, a day late.
            Ev {
                status: Some("resolved"),
                resolved: Some("2026-03-12 09:00"),
                deadline: Some("2026-03-11 09:00"),
                satisfaction: Some("basic"),
                source: Some("hotline"),
                ..issue("2026-03-10 09:00", "G1")
            },
            // G1: open and overdue at the window end.
            Ev {
                deadline: Some("2026-03-25 09:00"),
                source: Some("patrol"),
                ..issue("2026-03-20 09:00", "G1")
            },
            // G1: February, open, no deadline: backlog only.
            issue("2026-02-28 23:59", "G1"),
            Ev {
                cleared: Some(true),
                ..Ev::incident("2026-03-05 12:00", "G1")
            },
            Ev {
                cleared: Some(false),
                ..Ev::incident("2026-03-06 12:00", "G1")
            },
            Ev::visit("2026-03-03 10:00", "G1", "h1"),
            Ev::visit("2026-03-04 10:00", "G1", "h1"),
            Ev::visit("2026-03-04 11:00", "G1", "h2"),
            // Local midnight of 1 April: 31 March in UTC, but April locally.
            Ev::visit("2026-04-01 00:00", "G1", "h3"),
            // G2: resolved in 10 h, no deadline, unsatisfied, unknown source.
            Ev {
                status: Some("resolved"),
                resolved: Some("2026-03-15 20:00"),
                satisfaction: Some("unsatisfied"),
                ..issue("2026-03-15 10:00", "G2")
            },
            // G2: open, not yet due at the window end.
            Ev {
                deadline: Some("2026-04-05 00:00"),
                ..issue("2026-03-31 23:59", "G2")
            },
            // G3 (no household data): incidents last year, last month, this month.
            Ev::incident("2025-03-10 10:00", "G3"),
            Ev::incident("2026-03-10 10:00", "G3"),
            Ev::incident("2026-03-11 10:00", "G3"),
            Ev::incident("2026-02-10 10:00", "G3"),
            // Outside every unit.
            Ev {
                grid: None,
                ..issue("2026-03-05 10:00", "G1")
            },
            // A leap day.
            Ev::incident("2028-02-29 12:00", "G1"),
        ]
    }

    fn pre() -> (GridModel, PreAgg) {
        let gm = county();
        let pre = PreAgg::build(joined(&gm, &events()).lazy(), Zone::default()).unwrap();
        (gm, pre)
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn grid_metrics_match_the_hand_computation() {
        let (gm, pre) = pre();
        let t = compute_metrics(&pre, &gm, 3, &march()).unwrap();
        let g1 = t.row("G1").unwrap();
        let i = &g1.ingredients;
        assert_eq!((i.issues, i.incidents, i.visits, i.resolved), (3, 2, 3, 2));
        assert_eq!((i.on_time, i.due, i.backlog, i.overdue), (1, 3, 2, 1));
        assert_eq!(
            (i.satisfied, i.basic, i.unsatisfied, i.cleared),
            (1, 1, 0, 1)
        );
        assert_eq!((i.discovered, i.sourced, i.households_visited), (2, 3, 2));
        assert!(close(g1.value("resolution_rate"), 2.0 / 3.0));
        assert!(close(g1.value("on_time_rate"), 1.0 / 3.0));
        assert!(close(g1.value("median_hours_to_resolve"), 29.0));
        assert!(close(g1.value("p90_hours_to_resolve"), 44.2));
        assert!(close(g1.value("satisfaction_rate"), 0.5));
        assert!(close(g1.value("satisfaction_score"), 4.5));
        assert!(close(g1.value("clearance_rate"), 0.5));
        assert!(close(g1.value("visit_coverage"), 2.0 / 60.0));
        assert!(close(g1.value("visits_per_grid"), 3.0));
        assert!(close(g1.value("issues_per_100_visits"), 100.0));
        assert!(close(g1.value("issues_found_per_100_visits"), 200.0 / 3.0));
        assert!(close(g1.value("discovery_rate"), 2.0 / 3.0));
        assert!(close(g1.value("issue_density"), 3.0));
        assert!(close(g1.value("issues_per_1k_households"), 50.0));
        assert!(close(g1.value("backlog_open"), 2.0));
        assert!(close(g1.value("overdue_open"), 1.0));

        let g2 = t.row("G2").unwrap();
        assert!(close(g2.value("resolution_rate"), 0.5));
        assert_eq!(
            g2.value("on_time_rate"),
            None,
            "nothing due: no data, not 0%"
        );
        assert_eq!(g2.value("discovery_rate"), None);
        assert_eq!(g2.value("issues_per_100_visits"), None);
        assert!(close(g2.value("visit_coverage"), 0.0));
        assert!(close(g2.value("satisfaction_score"), 3.0));
        assert!(close(g2.value("median_hours_to_resolve"), 10.0));
        assert_eq!((g2.ingredients.backlog, g2.ingredients.overdue), (1, 0));

        let g3 = t.row("G3").unwrap();
        assert_eq!(
            g3.value("incidents_per_1k_households"),
            None,
            "no households is no data, never zero"
        );
        assert_eq!(g3.value("visit_coverage"), None);
        assert!(close(g3.value("incident_density"), 1.0));
    }

    #[test]
    fn changes_have_defined_answers_for_zero_bases() {
        let (gm, pre) = pre();
        let t = compute_metrics(&pre, &gm, 3, &march()).unwrap();
        let g3 = t.row("G3").unwrap();
        assert_eq!(g3.yoy["incident_count"], change(2.0, 1.0));
        assert_eq!(g3.yoy["incident_count"].pct, Some(100.0));
        assert_eq!(g3.pop["incident_count"].pct, Some(100.0));
        let g1 = t.row("G1").unwrap();
        assert_eq!(
            g1.yoy["incident_count"].pct, None,
            "growth from nothing has no percentage"
        );
        assert_eq!(g1.yoy["incident_count"].abs, 2.0);
        assert_eq!(g1.pop["issue_count"].pct, Some(200.0));
        assert_eq!(g1.yoy["visit_count"].pct, None);
        assert_eq!(
            t.row("G2").unwrap().yoy["incident_count"].pct,
            Some(0.0),
            "0 → 0 is no change"
        );
    }

    #[test]
    fn villages_and_townships_add_up_their_grids() {
        let (gm, pre) = pre();
        let v = compute_metrics(&pre, &gm, 2, &march()).unwrap();
        let v1 = v.row("V1").unwrap();
        assert_eq!(
            (
                v1.ingredients.issues,
                v1.ingredients.resolved,
                v1.context.households,
                v1.context.grids
            ),
            (5, 3, Some(100), 2)
        );
        assert!(close(v1.value("median_hours_to_resolve"), 10.0));
        assert!(close(v1.value("p90_hours_to_resolve"), 40.4));
        assert!(close(v1.value("issues_per_1k_households"), 50.0));
        let t = compute_metrics(&pre, &gm, 1, &march()).unwrap();
        assert_eq!(t.row("T2").unwrap().value("issues_per_1k_households"), None);
        assert_eq!(t.row("T1").unwrap().ingredients.incidents, 2);
        assert_eq!(t.row("T2").unwrap().ingredients.incidents, 2);
        assert!(compute_metrics(&pre, &gm, 4, &march()).is_err());
    }

    #[test]
    fn an_empty_window_gives_zero_counts_null_rates_and_the_standing_backlog() {
        let (gm, pre) = pre();
        let t =
            compute_metrics(&pre, &gm, 3, &Query::window(d(2030, 1, 1), d(2030, 2, 1))).unwrap();
        let g1 = t.row("G1").unwrap();
        assert_eq!(g1.value("issue_count"), Some(0.0));
        assert_eq!(g1.value("resolution_rate"), None);
        assert_eq!(g1.value("median_hours_to_resolve"), None);
        assert_eq!((g1.ingredients.backlog, g1.ingredients.overdue), (2, 1));
        assert_eq!(t.rows.len(), 3);
    }

    #[test]
    fn filters_by_source_category_and_leap_day() {
        let (gm, pre) = pre();
        let q = Query {
            sources: vec!["patrol".into()],
            ..march()
        };
        let g1 = compute_metrics(&pre, &gm, 3, &q)
            .unwrap()
            .row("G1")
            .unwrap()
            .ingredients
            .clone();
        assert_eq!((g1.issues, g1.incidents, g1.visits), (2, 2, 3));
        let q = Query {
            categories: vec!["盗窃".into()],
            ..march()
        };
        let g1 = compute_metrics(&pre, &gm, 3, &q)
            .unwrap()
            .row("G1")
            .unwrap()
            .ingredients
            .clone();
        assert_eq!((g1.issues, g1.incidents), (0, 2));
        let leap =
            compute_metrics(&pre, &gm, 3, &Query::window(d(2028, 2, 29), d(2028, 3, 1))).unwrap();
        let g1 = leap.row("G1").unwrap();
        assert_eq!(g1.value("incident_count"), Some(1.0));
        assert_eq!(g1.yoy["incident_count"].base, 0.0);
    }

    #[test]
    fn the_wide_frame_has_every_metric_and_change_column() {
        let (gm, pre) = pre();
        let df = compute_metrics(&pre, &gm, 3, &march())
            .unwrap()
            .to_dataframe()
            .unwrap();
        assert_eq!(df.height(), 3);
        assert!(df.column("resolution_rate").is_ok());
        assert!(df.column("incident_count_yoy_pct").is_ok());
        let cats = category_counts(&pre, &gm, 3, &march()).unwrap();
        assert!(cats.height() >= 4);
    }

    #[test]
    fn the_county_root_sums_every_unit_but_not_the_outside() {
        use crate::analytics::testutil::{model, square, unit};
        let sq = square(0.0, 0.0, 0.01);
        let gm = model(vec![
            (unit("C", 0, None, 4.0, sq.clone()), None),
            (unit("T1", 1, None, 2.0, sq.clone()), Some("C")),
            (unit("T2", 1, None, 2.0, sq.clone()), Some("C")),
            (unit("V1", 2, None, 2.0, sq.clone()), Some("T1")),
            (unit("G1", 3, Some(10), 2.0, sq), Some("V1")),
        ]);
        let events = vec![
            Ev::incident("2026-03-02 10:00", "G1"),
            Ev::incident("2026-03-03 10:00", "G1"),
            Ev {
                grid: None,
                ..Ev::incident("2026-03-03 10:00", "G1")
            },
        ];
        let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
        let t = compute_metrics(&pre, &gm, 0, &march()).unwrap();
        assert_eq!(t.rows.len(), 1);
        let c = t.row("C").unwrap();
        // T2 has no household figure, so neither has the county: no data, not 10.
        assert_eq!(
            (
                c.ingredients.incidents,
                c.context.households,
                c.context.grids
            ),
            (2, None, 1)
        );
        assert!(close(c.value("incident_density"), 0.5));
    }
}
