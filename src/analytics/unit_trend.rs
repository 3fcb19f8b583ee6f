//! One unit's metric period by period over a window, with a trailing mean,
//! and the spike alerts of its event counts: what `/trend` answers, as one
//! call.

use super::catalogue::MetricDef;
use super::filter::Query;
use super::ingredients::UnitContext;
use super::metrics::{ingredients_for, Parts};
use super::periods::{self, Granularity};
use super::preagg::PreAgg;
use super::trend::{alerts, Alert, AlertParams};
use super::AnalyticsError;
use crate::grid::GridModel;

/// Most periods one trend covers.
pub const MAX_PERIODS: usize = 800;

/// One period of a unit's metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// Label: `2026-03-01`, `2026-W09` or `2026-03`.
    pub period: String,
    /// The metric in the period; None without data or where withheld.
    pub value: Option<f64>,
    /// Mean of this and the previous periods of the trailing window.
    pub ma: Option<f64>,
}

/// A unit's metric per period and its spike alerts.
#[derive(Debug, Clone)]
pub struct UnitTrend {
    pub series: Vec<MetricPoint>,
    pub alerts: Vec<Alert>,
}

/// The metric `def` of the model unit `index` in each `grain` period of
/// `q`'s window (the data's days where the window is open), with the mean
/// of the last `ma` periods. `shown(pre, period)` says whether a period's
/// value may be shown (disclosure control withholds a small remainder
/// there), over the unit's own pre-aggregates. Spike alerts come with a
/// count metric of a unit below the county when `with_alerts` (they give
/// observed counts: the caller's scope decides).
#[allow(clippy::too_many_arguments)]
pub fn unit_trend<E: From<AnalyticsError>>(
    pre: &PreAgg,
    gm: &GridModel,
    index: usize,
    def: &MetricDef,
    q: &Query,
    (grain, ma): (Granularity, usize),
    with_alerts: bool,
    shown: &dyn Fn(&PreAgg, &Query) -> Result<bool, E>,
) -> Result<UnitTrend, E> {
    let u = gm.unit(index);
    let own = pre.cut(u.level, &u.code)?;
    let Some((from, to)) = periods::window(q, pre.day_range()?) else {
        return Ok(UnitTrend {
            series: Vec::new(),
            alerts: Vec::new(),
        });
    };
    let cx = UnitContext::of(gm, index);
    let periods = periods::calendar_up_to(grain, from, to, MAX_PERIODS).ok_or_else(|| {
        AnalyticsError::BadParameter {
            name: "grain",
            reason: format!("more than {MAX_PERIODS} periods; use a coarser grain"),
        }
    })?;
    let mut values = Vec::with_capacity(periods.len());
    for p in &periods {
        let pq = Query {
            from: Some(p.from),
            to: Some(p.to),
            ..q.clone()
        };
        // The unit alone, from the tables its metric reads.
        let ing = ingredients_for(&own, gm, u.level, &pq, Parts::of(def), &[index])?
            .pop()
            .unwrap_or_default();
        // Period by period: a small remainder in one month is withheld there.
        let show = shown(&own, &pq)?;
        values.push((def.value)(&ing, &cx).filter(|_| show));
    }
    let series = periods
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let win = (k + 1 >= ma).then(|| &values[k + 1 - ma..=k]);
            let mean = win.and_then(|w| {
                w.iter()
                    .copied()
                    .sum::<Option<f64>>()
                    .map(|s| s / ma as f64)
            });
            MetricPoint {
                period: p.label.clone(),
                value: values[k],
                ma: mean,
            }
        })
        .collect();
    let alerts = if with_alerts && def.is_count && u.level > 0 {
        let kinds: Vec<String> = def
            .kinds
            .iter()
            .map(|k| (*k).to_owned())
            .filter(|k| q.wants_kind(k))
            .collect();
        let aq = Query { kinds, ..q.clone() };
        let params = AlertParams {
            granularity: grain,
            ..AlertParams::default()
        };
        alerts(&own, gm, u.level, &aq, params)?
            .into_iter()
            .filter(|a| a.code == u.code)
            .collect()
    } else {
        Vec::new()
    };
    Ok(UnitTrend { series, alerts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::catalogue::metric;
    use crate::analytics::filter::Zone;
    use crate::analytics::testutil::{county, joined, Ev};
    use chrono::NaiveDate;
    use polars::prelude::IntoLazy;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn counts(pre: &PreAgg, q: &Query, g: Granularity, ma: usize) -> Vec<MetricPoint> {
        let gm = county();
        let all = |_: &PreAgg, _: &Query| Ok::<bool, AnalyticsError>(true);
        let g1 = gm.index_of("G1").unwrap();
        let t = unit_trend(
            pre,
            &gm,
            g1,
            metric("issue_count").unwrap(),
            q,
            (g, ma),
            false,
            &all,
        );
        t.unwrap().series
    }

    #[test]
    fn a_shanghai_midnight_event_counts_on_the_local_day_and_week() {
        let gm = county();
        // 2027-01-04 00:10 in Shanghai is 2027-01-03 16:10 UTC (a Sunday, week 53).
        let events = vec![
            Ev::issue("2027-01-04 00:10", "G1"),
            Ev::issue("2026-12-31 23:50", "G1"),
            Ev::issue("2027-01-01 08:00", "G1"),
        ];
        let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
        let q = Query::window(d(2026, 12, 28), d(2027, 1, 11));
        let s = counts(&pre, &q, Granularity::IsoWeek, 2);
        assert_eq!(
            s.iter()
                .map(|p| (p.period.as_str(), p.value))
                .collect::<Vec<_>>(),
            vec![("2026-W53", Some(2.0)), ("2027-W01", Some(1.0))]
        );
        assert_eq!(s[0].ma, None);
        assert_eq!(s[1].ma, Some(1.5));
        let q = Query::window(d(2027, 1, 3), d(2027, 1, 5));
        let days = counts(&pre, &q, Granularity::Day, 1);
        assert_eq!(
            days.iter().map(|p| p.value).collect::<Vec<_>>(),
            vec![Some(0.0), Some(1.0)]
        );
    }

    #[test]
    fn an_empty_window_has_zero_filled_periods() {
        let gm = county();
        let pre = PreAgg::build(
            joined(&gm, &[Ev::issue("2026-01-05 10:00", "G1")]).lazy(),
            Zone::default(),
        )
        .unwrap();
        let q = Query::window(d(2026, 6, 1), d(2026, 6, 3));
        let s = counts(&pre, &q, Granularity::Day, 1);
        assert_eq!(
            s.iter().map(|p| p.value).collect::<Vec<_>>(),
            vec![Some(0.0), Some(0.0)]
        );
    }

    #[test]
    fn too_many_periods_are_refused_before_they_are_cut() {
        let gm = county();
        let pre = PreAgg::build(
            joined(&gm, &[Ev::issue("2026-01-05 10:00", "G1")]).lazy(),
            Zone::default(),
        )
        .unwrap();
        let all = |_: &PreAgg, _: &Query| Ok::<bool, AnalyticsError>(true);
        let q = Query::window(d(2020, 1, 1), d(2026, 1, 1));
        let g1 = gm.index_of("G1").unwrap();
        let def = metric("issue_count").unwrap();
        let err = unit_trend(&pre, &gm, g1, def, &q, (Granularity::Day, 7), false, &all);
        assert!(matches!(
            err,
            Err(AnalyticsError::BadParameter { name: "grain", .. })
        ));
        let weeks = unit_trend(
            &pre,
            &gm,
            g1,
            def,
            &q,
            (Granularity::IsoWeek, 4),
            false,
            &all,
        );
        assert_eq!(weeks.unwrap().series.len(), 314);
    }
}
