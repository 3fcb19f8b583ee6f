//! Sparklines of a league table: each unit's metric period by period across
//! exactly the selected window, on one set of periods shared by every row,
//! so the rows can be read against each other and against the window.
//!
//! The grain follows the window ([`periods::spark_periods`]). Periods are
//! clipped to the window, so the first and last week (or month) of a window
//! that does not start or end on a period boundary are shorter. A period wholly before the first event or
//! after the last one of the data is `None` for every unit: nothing was
//! recorded then, which is not the same as zero events.

use serde::Serialize;

use super::catalogue::MetricDef;
use super::filter::{date_of, Query};
use super::ingredients::UnitContext;
use super::metrics::{backlog_series, ingredients_of, Parts};
use super::periods::{self, Granularity, Period};
use super::preagg::PreAgg;
use super::AnalyticsError;
use crate::grid::GridModel;

/// Sparklines of some units of one tier.
#[derive(Debug, Clone, Serialize)]
pub struct Sparks {
    /// Grain of the periods.
    pub grain: Granularity,
    /// The shared periods, oldest first, covering the window exactly.
    pub periods: Vec<Period>,
    /// Per unit (in the order asked), the metric in each period.
    pub values: Vec<Vec<Option<f64>>>,
}

/// The metric `def` of each unit of `units` (model indices, all of tier
/// `level`) in every period of the query's window (the data's days for an
/// open window). `pre` may be cut down to the units' parent beforehand;
/// `data_days` is the first and last day with an event in the whole data
/// ([`PreAgg::day_range`] of the uncut pre-aggregates).
pub fn sparks(
    pre: &PreAgg,
    data_days: Option<(i32, i32)>,
    gm: &GridModel,
    level: u8,
    units: &[usize],
    def: &MetricDef,
    q: &Query,
) -> Result<Sparks, AnalyticsError> {
    let (grain, periods) = match periods::window(q, data_days) {
        Some((from, to)) => periods::spark_periods(from, to),
        None => (Granularity::Month, Vec::new()),
    };
    let values = values_by_period(pre, data_days, gm, level, units, def, q, &periods)?;
    Ok(Sparks {
        grain,
        periods,
        values,
    })
}

/// The metric `def` of each unit of `units` (model indices, all of tier
/// `level`) in each of `periods`: one row per unit, one value per period,
/// `None` for a period wholly outside `data_days` (nothing was recorded
/// then). What [`sparks`] draws and what the space-time cube of
/// [`crate::analytics::emerging`] is made of.
#[allow(clippy::too_many_arguments)]
pub fn values_by_period(
    pre: &PreAgg,
    data_days: Option<(i32, i32)>,
    gm: &GridModel,
    level: u8,
    units: &[usize],
    def: &MetricDef,
    q: &Query,
    periods: &[Period],
) -> Result<Vec<Vec<Option<f64>>>, AnalyticsError> {
    let data = data_days.map(|(a, b)| (date_of(a), date_of(b + 1)));
    let contexts: Vec<UnitContext> = units.iter().map(|&i| UnitContext::of(gm, i)).collect();
    let mut values = vec![Vec::with_capacity(periods.len()); units.len()];
    let parts = Parts::of(def);
    // The backlog at every period end in one pass, not one scan of all
    // history per period.
    let backlogs = if parts.backlog && !periods.is_empty() {
        let tos: Vec<_> = periods.iter().map(|p| p.to).collect();
        Some(backlog_series(pre, gm, level, q, &tos)?)
    } else {
        None
    };
    let per_period = Parts {
        backlog: false,
        ..parts
    };
    for (k, p) in periods.iter().enumerate() {
        let recorded = data.is_some_and(|(first, end)| p.from < end && p.to > first);
        let table = if recorded {
            let pq = Query {
                from: Some(p.from),
                to: Some(p.to),
                ..q.clone()
            };
            let mut t = ingredients_of(pre, gm, level, &pq, per_period)?;
            for (code, o) in backlogs.iter().flat_map(|s| &s[k]) {
                let i = t.entry(code.clone()).or_default();
                (i.backlog, i.overdue) = (o.backlog, o.overdue);
                (i.pending_handling, i.overdue_pending) = (o.pending, o.overdue_pending);
            }
            Some(t)
        } else {
            None
        };
        for ((&i, cx), row) in units.iter().zip(&contexts).zip(values.iter_mut()) {
            let v = table.as_ref().and_then(|t| {
                let empty = Default::default();
                (def.value)(t.get(&gm.unit(i).code).unwrap_or(&empty), cx)
            });
            row.push(v);
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::catalogue::metric;
    use crate::analytics::filter::{day_number, Zone};
    use crate::analytics::testutil::{county, joined, Ev};
    use chrono::NaiveDate;
    use polars::prelude::IntoLazy;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn labels(p: &[Period]) -> Vec<&str> {
        p.iter().map(|p| p.label.as_str()).collect()
    }

    #[test]
    fn periods_outside_the_data_are_unknown_not_zero() {
        let gm = county();
        let events = vec![
            Ev::incident("2026-02-10 09:00", "G1"),
            Ev::incident("2026-03-02 09:00", "G1"),
            Ev::incident("2026-03-03 09:00", "G2"),
            Ev::incident("2026-04-20 09:00", "G1"),
        ];
        let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
        let data = pre.day_range().unwrap();
        assert_eq!(
            data,
            Some((day_number(d(2026, 2, 10)), day_number(d(2026, 4, 20))))
        );
        let units: Vec<usize> = ["G1", "G2"]
            .iter()
            .map(|c| gm.index_of(c).unwrap())
            .collect();
        let def = metric("incident_count").unwrap();
        let q = Query::window(d(2025, 11, 1), d(2026, 7, 1));
        let s = sparks(&pre, data, &gm, 3, &units, def, &q).unwrap();
        assert_eq!(
            labels(&s.periods),
            vec![
                "2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04", "2026-05",
                "2026-06"
            ]
        );
        let none = None;
        assert_eq!(
            s.values[0],
            vec![
                none,
                none,
                none,
                Some(1.0),
                Some(1.0),
                Some(1.0),
                none,
                none
            ]
        );
        // A unit without events in a recorded period has zero, not a gap.
        assert_eq!(
            s.values[1],
            vec![
                none,
                none,
                none,
                Some(0.0),
                Some(1.0),
                Some(0.0),
                none,
                none
            ]
        );
        // Every row has one value per shared period.
        assert!(s.values.iter().all(|v| v.len() == s.periods.len()));
        // An open window runs over the data's days.
        let s = sparks(&pre, data, &gm, 3, &units, def, &Query::default()).unwrap();
        assert_eq!(s.grain, Granularity::IsoWeek);
        assert_eq!(
            (s.periods[0].from, s.periods.last().unwrap().to),
            (d(2026, 2, 10), d(2026, 4, 21))
        );
        assert_eq!(s.values[0].iter().flatten().sum::<f64>(), 3.0);
    }

    /// Every metric of the catalogue, in each period, is what the metric
    /// table of that period's window gives: the backlog figures read at
    /// the period ends in one pass (backlog, overdue, awaiting handling
    /// and overdue so) included. 超期待处置 was zero in every period.
    #[test]
    fn each_period_of_every_metric_is_its_window_s_table() {
        use crate::analytics::catalogue::catalogue;
        use crate::analytics::metrics::ingredients;
        let (gm, df) = crate::analytics::testutil::big(2, 2, 3, 6_000, 120);
        let pre = PreAgg::build(df.lazy(), Zone::default()).unwrap();
        let data = pre.day_range().unwrap();
        let q = Query::window(d(2025, 1, 1), d(2025, 5, 1));
        let (_, periods) = periods::spark_periods(d(2025, 1, 1), d(2025, 5, 1));
        assert_eq!(periods.len(), 4);
        for level in 1..=3 {
            let units = gm.level(level).collect::<Vec<_>>();
            let tables: Vec<_> = periods
                .iter()
                .map(|p| ingredients(&pre, &gm, level, &Query::window(p.from, p.to)).unwrap())
                .collect();
            for def in catalogue() {
                let got =
                    values_by_period(&pre, data, &gm, level, &units, def, &q, &periods).unwrap();
                let mut seen = 0;
                for (row, &u) in got.iter().zip(&units) {
                    let cx = UnitContext::of(&gm, u);
                    for (k, table) in tables.iter().enumerate() {
                        let empty = Default::default();
                        let i = table.get(&gm.unit(u).code).unwrap_or(&empty);
                        let want = (def.value)(i, &cx);
                        let close = match (row[k], want) {
                            (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                            (a, b) => a == b,
                        };
                        assert!(
                            close,
                            "{} of {} in {}: {:?} vs {want:?}",
                            def.name,
                            gm.unit(u).code,
                            periods[k].label,
                            row[k]
                        );
                        seen += usize::from(want.is_some_and(|v| v != 0.0));
                    }
                }
                // Each metric is seen non-zero somewhere, or the comparison
                // proves little (repeat points and coverage may be zero).
                if level == 3 && seen == 0 {
                    eprintln!("{} is zero or unknown in every period", def.name);
                }
            }
        }
    }
}
