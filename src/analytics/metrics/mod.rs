//! The per-unit metric table of one tier for one query, with 同比/环比 changes.
//!
//! Each unit's [`Ingredients`] come from plain loops over the
//! pre-aggregates' coded columns, one per table, run side by side and
//! merged by the unit's position in the tier's key (codes only at the
//! edges):
//! - `counts`: the event table's additive counts;
//! - `lifecycle`: the window's issues (应结案, 按期, the workflow steps
//!   reached by the window's end, durations);
//! - `backlog`: the issues of all history still open at the window's end;
//! - `households`: distinct households visited;
//! - `repeat_points`: repeat complaints, clustered once per window;
//! - `scan`: what the loops share (column views, the filter, issue times);
//! - `key`: a tier's unit key with each model unit's position in it, and
//!   the rows the loops fill by that position;
//! - `reference` (tests only): the same ingredients from polars' lazy
//!   group-bys, which the loops are checked against.
//!
//! Every catalogue metric is then a plain function of the ingredients and
//! the unit's [`UnitContext`]. Units without any event still get a row
//! (zero counts, null rates), so a map never shows a hole where nothing
//! happened.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

use crate::sort::counting_sort;

use super::catalogue::{catalogue, MetricDef};
use super::filter::{day_number, Query};
pub use super::ingredients::{Ingredients, UnitContext};

use super::filter::DAY;
use super::preagg::{
    col_names as p, flags, CodeFilter, InstantView, Instants, PreAgg, Rare, UnitKey,
    DISCOVERED_SOURCES, FIRST_RARE_FLOW, INCIDENT, ISSUE, T, VISIT,
};
use super::recent::Recent;
use super::repeats;
use super::AnalyticsError;
use crate::columns as c;
use crate::grid::GridModel;

mod backlog;
mod counts;
mod households;
mod key;
mod lifecycle;
#[cfg(test)]
mod reference;
mod repeat_points;
mod scan;
#[cfg(test)]
mod tests;

use backlog::add_backlog;
pub use backlog::backlog_series;
use counts::add_counts;
use households::add_households;
use key::{unit_key, Dense, KindCodes, TierKey};
use lifecycle::add_lifecycle;
#[cfg(test)]
use reference::*;
use repeat_points::{add_repeats, cached_repeat_homes};
pub use repeat_points::{repeat_report, RepeatReport};
use scan::{
    by_unit, one_chunk, quantile, u32s, view, Grouped, KeyCols, Times, ACC, DISP, ESC, EXT,
    FIRST_CLOSED, FIRST_DUE, HAND, REOPEN, RET, REW, RSM, SUS,
};

impl Ingredients {
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

/// Which of the tables beyond the count table a metric reads. The backlog
/// scans every issue before the window's end, so a series of one metric
/// over thirty short periods should not pay it thirty times for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// On-time and due counts, workflow steps (issues of the window).
    pub lifecycle: bool,
    /// The duration quantiles (median and 90th percentile hours to close,
    /// median hours to accept): with `lifecycle`, which reads them, but
    /// only when asked, for they sort every case's hours by unit.
    pub durations: bool,
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
        durations: true,
        backlog: true,
        households: true,
        repeats: true,
    };

    /// The counts alone (every metric reads them).
    pub const COUNTS: Parts = Parts {
        lifecycle: false,
        durations: false,
        backlog: false,
        households: false,
        repeats: false,
    };

    /// What either reads.
    pub fn and(self, other: Parts) -> Parts {
        Parts {
            lifecycle: self.lifecycle || other.lifecycle,
            durations: self.durations || other.durations,
            backlog: self.backlog || other.backlog,
            households: self.households || other.households,
            repeats: self.repeats || other.repeats,
        }
    }

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
        // Each of the issue table's fields moved alone: several moved
        // together can leave a ratio as it was (22/33 is 20/30).
        let lifecycle_fields: [fn(&mut Ingredients); 21] = [
            |i| i.cases += 1,
            |i| i.on_time += 1,
            |i| i.due += 1,
            |i| i.due_closure += 1,
            |i| i.closed_due += 1,
            |i| i.closed_on_time += 1,
            |i| i.median_hours = Some(31.0),
            |i| i.p90_hours = Some(95.0),
            |i| i.dispatched += 1,
            |i| i.handled += 1,
            |i| i.handled_on_time += 1,
            |i| i.extended += 1,
            |i| i.returned += 1,
            |i| i.reworked += 1,
            |i| i.closed += 1,
            |i| i.closed_rated += 1,
            |i| i.solved_reported += 1,
            |i| i.solved += 1,
            |i| i.closed_local += 1,
            |i| i.response_hours = Some(6.0),
            |i| i.cycle_hours = Some(44.0),
        ];
        Parts {
            lifecycle: lifecycle_fields.iter().any(|f| {
                let mut changed = base.clone();
                f(&mut changed);
                reads(changed)
            }),
            durations: reads(Ingredients {
                median_hours: Some(31.0),
                p90_hours: Some(95.0),
                response_hours: Some(6.0),
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
    dense_by(pre, key, q, parts)
}

/// [`dense_of`] with the key given.
///
/// A closed window's ingredients are kept (the latest [`KEPT`] queries) and
/// given again while the pre-aggregates change on other days only
/// ([`PreAgg::unchanged_between`]; all days before the window's end when
/// the backlog is read): under a live feed the new reports are today's, and
/// the same-period-last-year and previous windows of a panel, a map or a
/// league table stay as they were. A window open at its end (no `to`) is
/// as of now, so never kept; neither is what a unit's cut gives.
fn dense_by(
    pre: &PreAgg,
    key: std::sync::Arc<TierKey>,
    q: &Query,
    parts: Parts,
) -> Result<(std::sync::Arc<TierKey>, Dense), AnalyticsError> {
    let d = match kept_dense(pre, &key, q, parts)? {
        Some(rows) => {
            let mut d = Dense::new(key.names.len());
            for (i, ing) in rows.iter() {
                *d.at(*i as usize) = ing.clone();
            }
            d
        }
        None => compute_dense(pre, &key, q, parts)?,
    };
    Ok((key, d))
}

/// How many windows' ingredients [`dense_by`] keeps (a tier of 5,000
/// grids is 2 MB; a unit's panel one row). Unit tests running side by side
/// share it, and check what is kept: they keep more.
const KEPT: usize = if cfg!(test) { 4096 } else { 32 };

/// The written rows of [`compute_dense`] (key position, ingredients),
/// kept per query as [`dense_by`] says; `None` for what is not kept.
fn kept_dense(
    pre: &PreAgg,
    key: &std::sync::Arc<TierKey>,
    q: &Query,
    parts: Parts,
) -> Result<Option<KeptRows>, AnalyticsError> {
    type Key = (
        u64,
        key::KeyIdent,
        Option<NaiveDate>,
        Option<NaiveDate>,
        [Vec<String>; 3],
        Parts,
    );
    type Kept = (u64, std::sync::Arc<TierKey>, KeptRows);
    static ROWS: Recent<Key, Kept> = Recent::new(KEPT);
    let Some(to) = q.to.filter(|_| !pre.is_cut()) else {
        return Ok(None);
    };
    // The days the result reads: the backlog reads every issue reported
    // before the end.
    let from = q.from.filter(|_| !parts.backlog).map(day_number);
    let to = Some(day_number(to));
    let now = pre.generation();
    let ck: Key = (
        pre.origin(),
        key.ident.clone(),
        q.from,
        q.to,
        [q.kinds.clone(), q.categories.clone(), q.sources.clone()],
        parts,
    );
    let (_, _, rows) = ROWS.get_fitting_or(
        ck,
        |(kept, with, rows)| {
            // The same units at the same positions, and the same rows.
            let same_key = std::sync::Arc::ptr_eq(with, key) || with.names == key.names;
            (same_key && pre.unchanged_between(*kept, from, to))
                .then(|| (now, key.clone(), rows.clone()))
        },
        || {
            let t = std::time::Instant::now();
            let d = compute_dense(pre, key, q, parts)?;
            tracing::debug!(
                level = key.ident.level(),
                from = ?q.from,
                to = ?q.to,
                secs = t.elapsed().as_secs_f64(),
                "window ingredients computed"
            );
            let rows: Vec<(u32, Ingredients)> = d
                .written()
                .map(|(i, ing)| (i as u32, ing.clone()))
                .collect();
            Ok::<_, AnalyticsError>((now, key.clone(), std::sync::Arc::new(rows)))
        },
    )?;
    Ok(Some(rows))
}

/// A window's written rows (key position, ingredients), as kept.
type KeptRows = std::sync::Arc<Vec<(u32, Ingredients)>>;

/// The ingredients of every unit of `key` under `q`, computed.
fn compute_dense(
    pre: &PreAgg,
    key: &TierKey,
    q: &Query,
    parts: Parts,
) -> Result<Dense, AnalyticsError> {
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
                                add_lifecycle(
                                    pre,
                                    &pre.issues_in(&q),
                                    k,
                                    &q,
                                    end_us,
                                    parts.durations,
                                    m,
                                )
                            })
                        },
                    )
                },
                || {
                    rayon::join(
                        || run(parts.backlog, &|m| add_backlog(pre, k, &q, end_us, m)),
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
    Ok(out)
}

/// The ingredients of the model units `indices` (all of tier `level`) over
/// `q` alone, reading only the tables of `parts`: what a ranking of some
/// units needs, without the whole table's 同比 and 环比.
pub fn ingredients_for(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    parts: Parts,
    indices: &[usize],
) -> Result<Vec<Ingredients>, AnalyticsError> {
    q.validate()?;
    // Only these units' rows are summed: a grid's panel reads its grid,
    // not the tier's 5,000.
    let key = unit_key(pre, gm, level)?.only(indices);
    let (key, d) = dense_by(pre, std::sync::Arc::new(key), q, parts)?;
    Ok(indices
        .iter()
        .map(|&i| key.get(&d, i).cloned().unwrap_or_default())
        .collect())
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
    table(pre, gm, level, q, parts, true)
}

/// [`compute_metrics`] of the window alone: no 同比 or 环比 (their maps
/// stay empty), a third of the work, for callers that read the values
/// only (the scores).
pub fn compute_window(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
) -> Result<MetricTable, AnalyticsError> {
    table(pre, gm, level, q, Parts::ALL, false)
}

/// The metric table, with the changes against the bases when `bases`.
fn table(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    parts: Parts,
    bases: bool,
) -> Result<MetricTable, AnalyticsError> {
    let base = |b: Option<Query>| {
        b.filter(|_| bases)
            .map(|b| dense_of(pre, gm, level, &b, parts).map(|(_, d)| d))
            .transpose()
    };
    // The three periods side by side: each is mostly one loop (the
    // backlog's, over all history before its end), so one alone would
    // leave a core idle.
    let (now, (last_year, previous)) = rayon::join(
        || dense_of(pre, gm, level, q, parts),
        || {
            rayon::join(
                || base(q.same_period_last_year()),
                || base(q.previous_period()),
            )
        },
    );
    let ((key, current), last_year, previous) = (now?, last_year?, previous?);
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
