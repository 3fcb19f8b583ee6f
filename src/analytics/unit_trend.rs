//! One unit's metric period by period over a window, with a trailing mean,
//! and the spike alerts of its event counts: what `/trend` answers, as one
//! call.

use chrono::NaiveDate;

use super::catalogue::MetricDef;
use super::filter::{date_of, Query};
use super::metrics::{ingredients_for, Parts, UnitContext};
use super::preagg::PreAgg;
use super::trend::{alerts, Alert, AlertParams, Granularity};
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
    let range = pre.day_range()?;
    let from = q.from.or(range.map(|r| date_of(r.0)));
    let to = q.to.or(range.map(|r| date_of(r.1 + 1)));
    let Some((from, to)) = from.zip(to) else {
        return Ok(UnitTrend {
            series: Vec::new(),
            alerts: Vec::new(),
        });
    };
    let cx = UnitContext::of(gm, index);
    let mut starts: Vec<NaiveDate> = Vec::new();
    let mut s = grain.period(from).0;
    while s < to {
        starts.push(s);
        if starts.len() > MAX_PERIODS {
            return Err(AnalyticsError::BadParameter {
                name: "grain",
                reason: format!("more than {MAX_PERIODS} periods; use a coarser grain"),
            }
            .into());
        }
        s = grain.next(s);
    }
    let mut values = Vec::with_capacity(starts.len());
    for &s in &starts {
        let pq = Query {
            from: Some(s.max(from)),
            to: Some(grain.next(s).min(to)),
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
    let series = starts
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let win = (k + 1 >= ma).then(|| &values[k + 1 - ma..=k]);
            let mean = win.and_then(|w| {
                w.iter()
                    .copied()
                    .sum::<Option<f64>>()
                    .map(|s| s / ma as f64)
            });
            MetricPoint {
                period: grain.period(*s).1,
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
