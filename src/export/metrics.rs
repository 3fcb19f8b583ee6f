//! Metric-table exports: every catalogue metric (with 同比/环比 changes) of
//! the units of one tier, with the units' polygons, and small cells
//! suppressed for callers who are not analysts.
//!
//! Suppression ([`suppress`]) nulls, for a threshold k (5 by default,
//! [`super::MIN_CELL`]): every value of a unit with fewer than k events in
//! the window; a count below k; a statistic of fewer than k cases (the
//! hours, the satisfaction score); a proportion whose numerator or
//! denominator is below k (shown with its denominator, a proportion gives
//! its numerator away); a rate whose event count is below k; with a count
//! of events or of one kind blanked, the smallest other kind too (events =
//! issues + incidents + visits: one blanked alone is a subtraction away),
//! the events when the kinds blanked add up to less than k, and every
//! figure of a count blanked ([`crate::analytics::event_complements`]);
//! and a change whose current or base count is below k (the base could be
//! recovered from the change). The `suppressed` column says which rows
//! were blanked whole.

use polars::prelude::*;

use super::units::{bounds, spatial_order};
use super::{Batch, ExportError, Geom, Output, Progress, Selection, SinkOptions, Summary};
use crate::analytics::{
    cases_behind, catalogue, event_complements, EventCount, MetricTable, UnitMetrics,
};
use crate::grid::GridModel;

/// Whether a row was blanked whole (Boolean).
pub const SUPPRESSED: &str = "suppressed";
/// Emerging hot-spot category of the unit (String: `new_hot_spot`, ...,
/// `no_pattern`), when the export asks for one.
pub const EMERGING: &str = "emerging";
/// Its Chinese name (新热点, ...).
pub const EMERGING_ZH: &str = "emerging_zh";
/// Mann-Kendall τ of the unit's Gi* z series (Float64).
pub const EMERGING_TAU: &str = "emerging_tau";
/// Two-sided p of that trend (Float64).
pub const EMERGING_P: &str = "emerging_p";

/// The emerging hot-spot result of the exported units, by unit index: the
/// categories column of a metric table.
pub use crate::analytics::emerging::Categories as EmergingColumns;

/// Events of a unit in the window.
fn events(r: &UnitMetrics) -> u64 {
    let i = &r.ingredients;
    i.issues + i.incidents + i.visits
}

/// Blanks the small cells of `r` (see the module doc); whether the whole row was blanked.
pub fn suppress(r: &mut UnitMetrics, k: u64) -> bool {
    let k = k as f64;
    if (events(r) as f64) < k {
        for v in r.values.values_mut() {
            *v = None;
        }
        r.yoy.clear();
        r.pop.clear();
        return true;
    }
    let blank = |r: &mut UnitMetrics, name: &'static str| {
        r.values.insert(name, None);
        r.yoy.remove(name);
        r.pop.remove(name);
    };
    // The counts of events a blanked figure gives away, by EventCount.
    let mut counts = [false; 4];
    for m in catalogue() {
        // A rate shown with its denominator gives its numerator away, so
        // both must reach k.
        let small = if m.is_count {
            r.value(m.name).is_some_and(|v| v < k)
        } else if let Some(ratio) = m.ratio {
            ratio(&r.ingredients, &r.context).is_some_and(|q| q.num < k || q.den < k)
        } else if let Some(exposure) = m.exposure {
            exposure(&r.ingredients, &r.context).is_some_and(|q| q.num < k)
        } else {
            // The hours and the score: a median of a few cases is one of them.
            cases_behind(m, &r.ingredients).is_some_and(|n| (n as f64) < k)
        };
        if small {
            blank(r, m.name);
            // A count of events blanked for itself (a figure per unit of
            // it is blanked with it; one blanked for another count of its
            // own, such as the issues found per visit, says nothing of it).
            if m.is_count {
                for &c in m.event_counts() {
                    counts[c as usize] = true;
                }
            }
        }
        for changes in [&mut r.yoy, &mut r.pop] {
            if changes
                .get(m.name)
                .is_some_and(|ch| ch.base < k || ch.current < k)
            {
                changes.remove(m.name);
            }
        }
    }
    // Events = issues + incidents + visits: a count blanked alone is a
    // subtraction away, so another goes with it, with every figure of both.
    let sizes = EventCount::ALL.map(|c| c.of(&r.ingredients));
    let counts = event_complements(counts, sizes, |v| v < k);
    for m in catalogue() {
        if m.event_counts().iter().any(|&c| counts[c as usize]) {
            blank(r, m.name);
        }
    }
    false
}

/// The rows of `table` that `sel` keeps, in spatial order, suppressed as
/// `sel` asks, with their polygons, and the emerging hot-spot columns when
/// `emerging` is given (null for a unit it does not cover or a row blanked
/// whole).
pub fn batch(
    table: &MetricTable,
    model: &GridModel,
    sel: &Selection,
    emerging: Option<&EmergingColumns>,
) -> Result<(Batch, Vec<usize>), ExportError> {
    let keep = super::units::select(model, Some(table.level), sel)?;
    let order = spatial_order(model, &keep);
    let by_index: std::collections::HashMap<usize, &UnitMetrics> =
        table.rows.iter().map(|r| (r.index, r)).collect();
    let mut rows = Vec::with_capacity(order.len());
    let mut blanked = Vec::with_capacity(order.len());
    let mut idx = Vec::with_capacity(order.len());
    for i in order {
        let Some(r) = by_index.get(&i) else { continue };
        let mut r = (*r).clone();
        blanked.push(sel.suppress_below.is_some_and(|k| suppress(&mut r, k)));
        rows.push(r);
        idx.push(i);
    }
    let t = MetricTable {
        level: table.level,
        query: table.query.clone(),
        rows,
    };
    let mut frame = t.to_dataframe()?;
    if let Some(e) = emerging {
        let of = |k: usize| (!blanked[k]).then(|| e.get(&idx[k])).flatten();
        let n = idx.len();
        let cat: Vec<Option<&str>> = (0..n).map(|k| of(k).map(|x| x.0.name())).collect();
        let zh: Vec<Option<&str>> = (0..n).map(|k| of(k).map(|x| x.0.zh())).collect();
        let tau: Vec<Option<f64>> = (0..n).map(|k| of(k).map(|x| x.1)).collect();
        let p: Vec<Option<f64>> = (0..n).map(|k| of(k).map(|x| x.2)).collect();
        frame.with_column(Column::new(EMERGING.into(), cat))?;
        frame.with_column(Column::new(EMERGING_ZH.into(), zh))?;
        frame.with_column(Column::new(EMERGING_TAU.into(), tau))?;
        frame.with_column(Column::new(EMERGING_P.into(), p))?;
    }
    frame.with_column(Column::new(SUPPRESSED.into(), blanked))?;
    let geometry = idx
        .iter()
        .map(|&i| Geom::Polygons(model.unit(i).geometry.clone()))
        .collect();
    Ok((Batch { frame, geometry }, idx))
}

/// Writes a metric table to `target`.
pub fn export(
    table: &MetricTable,
    model: &GridModel,
    sel: &Selection,
    emerging: Option<&EmergingColumns>,
    out: Output<'_>,
    progress: &dyn Progress,
) -> Result<Summary, ExportError> {
    let (b, idx) = batch(table, model, sel, emerging)?;
    progress.total(idx.len() as u64);
    let query = out.query.clone();
    let opts = SinkOptions {
        bom: out.bom,
        types: &["MultiPolygon"],
        bbox: bounds(model, &idx),
        tz: out.tz,
        query: &query,
        zh_headers: out.zh_headers,
    };
    super::units::write_one(b, opts, out, progress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::{Ingredients, UnitContext};

    fn row(ingredients: Ingredients) -> UnitMetrics {
        let cx = UnitContext {
            area_km2: 2.0,
            households: Some(400),
            grids: 1,
        };
        UnitMetrics {
            code: "G1".into(),
            name: "一网格".into(),
            index: 0,
            context: cx,
            values: catalogue()
                .iter()
                .map(|m| (m.name, (m.value)(&ingredients, &cx)))
                .collect(),
            ingredients,
            yoy: Default::default(),
            pop: Default::default(),
        }
    }

    /// 24 events, 3 of them incidents, 13 issues of which 1 resolved: the
    /// incidents and the resolved issue are small cells, and so is what
    /// gives them away: the visits go too (events − issues − visits would
    /// be the incidents), and the resolution rate (times the issues, the
    /// resolved). The other figures stay. Before, the visits and the
    /// resolution rate were shown beside the blanked counts.
    #[test]
    fn a_blanked_cell_is_not_a_subtraction_or_a_product_away() {
        let mut r = row(Ingredients {
            issues: 13,
            cases: 13,
            closed: 1,
            median_hours: Some(17.7),
            incidents: 3,
            visits: 8,
            resolved: 1,
            backlog: 12,
            ..Ingredients::default()
        });
        assert_eq!(r.value("resolution_rate"), Some(1.0 / 13.0));
        assert!(
            !suppress(&mut r, 5),
            "24 events: the row is not blanked whole"
        );
        // The incidents, and the visits (the smaller other kind) with them.
        for name in [
            "incident_count",
            "incident_density",
            "visit_count",
            "visits_per_grid",
        ] {
            assert_eq!(r.value(name), None, "{name}");
        }
        assert_eq!(r.value("issues_per_100_visits"), None);
        assert_eq!(r.value("issues_found_per_100_visits"), None);
        // One closed case: its median is its own duration.
        assert_eq!(r.value("median_hours_to_resolve"), None);
        assert_eq!(r.value("event_count"), Some(24.0));
        assert_eq!(r.value("issue_count"), Some(13.0));
        assert_eq!(r.value("resolved_count"), None);
        assert_eq!(r.value("resolution_rate"), None);
        assert_eq!(r.value("backlog_open"), Some(12.0));

        // Every cell at k or more: nothing blanked.
        let mut r = row(Ingredients {
            issues: 13,
            cases: 13,
            closed: 7,
            incidents: 6,
            visits: 8,
            resolved: 7,
            ..Ingredients::default()
        });
        suppress(&mut r, 5);
        for name in [
            "event_count",
            "incident_count",
            "event_density",
            "resolution_rate",
        ] {
            assert!(r.value(name).is_some(), "{name}");
        }
    }
}
