//! Spike alerts (预警): each unit's event count per local day, ISO week or
//! month ([`super::periods`]) against its own trailing baseline.
//!
//! A village that usually reports two disputes a week and reports nine this
//! week deserves a look even if nine is a small number county-wide; so every
//! unit is judged against its own recent past, not against the others. The
//! count of a period is compared with a Poisson whose mean is the unit's mean
//! over the previous `baseline_periods` periods; the alert threshold is a tail
//! probability (default 0.001: about one false alarm per thousand unit-periods
//! when counts are Poisson; overdispersed data will alert more often, which is
//! why a minimum count also applies).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use polars::prelude::*;
use serde::Serialize;

use super::filter::{date_of, day_number, Query, DAY};
use super::periods::{self, Granularity, Period};
use super::preagg::{col_names as p, PreAgg};
use super::stats::{negbin_upper_tail, poisson_upper_tail};
use super::AnalyticsError;
use crate::grid::GridModel;

/// Counts per unit code and local day under a query.
fn daily_counts(
    pre: &PreAgg,
    level: u8,
    q: &Query,
) -> Result<HashMap<String, BTreeMap<i32, u64>>, AnalyticsError> {
    if !(1..=3).contains(&level) {
        return Err(AnalyticsError::BadLevel { level });
    }
    let q = Query {
        zone: pre.zone,
        ..q.clone()
    };
    let key = pre.unit_key(level, "")?;
    let df = pre
        .events_in(&q)
        .lazy()
        .filter(pre.predicate(&q))
        .with_column(key.expr.clone().alias("unit"))
        .filter(col("unit").is_not_null())
        .group_by([col("unit"), col(DAY)])
        .agg([col(p::N).sum().cast(DataType::Int64).alias(p::N)])
        .collect()?;
    let (units, days, ns) = (
        df.column("unit")?.u32()?,
        df.column(DAY)?.i32()?,
        df.column(p::N)?.i64()?,
    );
    let codes = units
        .iter()
        .map(|u| u.and_then(|u| key.names.get(u as usize).map(String::as_str)));
    let mut out: HashMap<String, BTreeMap<i32, u64>> = HashMap::new();
    for ((code, day), n) in codes.zip(days.iter()).zip(ns.iter()) {
        if let (Some(code), Some(day), Some(n)) = (code, day, n) {
            *out.entry(code.to_owned())
                .or_default()
                .entry(day)
                .or_default() += u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(out)
}

/// The counts of `days` (by local day number) in each of `periods`.
fn counts_in(days: Option<&BTreeMap<i32, u64>>, periods: &[Period]) -> Vec<u64> {
    periods
        .iter()
        .map(|p| {
            days.map(|d| {
                d.range(day_number(p.from)..day_number(p.to))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0)
        })
        .collect()
}

/// Tail model of the spike test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TailModel {
    /// Poisson(λ): right when events are independent.
    #[default]
    Poisson,
    /// Negative binomial with the baseline's mean and, when the baseline
    /// varies more than a Poisson would (variance s² > mean m), size
    /// m² / (s² − m); Poisson otherwise. Fewer alerts for bursty units.
    NegativeBinomial,
}

/// Alert options.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AlertParams {
    /// Period length.
    pub granularity: Granularity,
    /// Trailing periods forming the baseline (default 8).
    pub baseline_periods: u32,
    /// Alert when P(X ≥ observed) is below this (default 0.001).
    pub threshold: f64,
    /// Alert only from this many events (default 3).
    pub min_count: u64,
    /// Tail model (default Poisson).
    pub model: TailModel,
}

impl Default for AlertParams {
    fn default() -> Self {
        AlertParams {
            granularity: Granularity::IsoWeek,
            baseline_periods: 8,
            threshold: 0.001,
            min_count: 3,
            model: TailModel::Poisson,
        }
    }
}

/// A spike: a unit whose count in a period is improbably high for it.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// Unit code.
    pub code: String,
    /// Unit name.
    pub name: String,
    /// Period label.
    pub period: String,
    /// First local date of the period.
    pub start: NaiveDate,
    /// Events in the period.
    pub observed: u64,
    /// Baseline mean λ = (Σ baseline + 0.5) / periods; the 0.5 keeps a
    /// silent baseline from making any single event "impossible".
    pub expected: f64,
    /// P(X ≥ observed) under the tail model.
    pub probability: f64,
    /// Negative-binomial size used, when the model is negative binomial and the baseline overdispersed.
    pub nb_size: Option<f64>,
}

/// Negative-binomial size m² / (s² − m) of a baseline, when its sample
/// variance exceeds its mean.
fn overdispersion(base: &[u64]) -> Option<f64> {
    let n = base.len() as f64;
    let m = base.iter().sum::<u64>() as f64 / n;
    let s2 = base.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m > 0.0 && s2 > m).then(|| m * m / (s2 - m))
}

/// Spike alerts for the periods of the query window, most improbable first.
///
/// Baselines use the `baseline_periods` periods before each period (reaching
/// before the window), but never periods before the first event in the data,
/// and need at least two such periods.
pub fn alerts(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    params: AlertParams,
) -> Result<Vec<Alert>, AnalyticsError> {
    q.validate()?;
    let g = params.granularity;
    let data_days = pre.day_range()?;
    let Some((from, to)) = periods::window(q, data_days) else {
        return Ok(Vec::new());
    };
    let Some((data_first, _)) = data_days else {
        return Ok(Vec::new());
    };
    let first = g.period(from).0;
    let lead = g.back(first, params.baseline_periods);
    let counts = daily_counts(
        pre,
        level,
        &Query {
            from: Some(lead),
            to: Some(to),
            ..q.clone()
        },
    )?;
    let data_start = g.period(date_of(data_first)).0;
    // The window's periods and the baseline's before them.
    let periods = periods::calendar(g, lead, to);
    let mut out = Vec::new();
    for i in gm.level(level) {
        let u = gm.unit(i);
        let counts = counts_in(counts.get(&u.code), &periods);
        for (k, (p, &observed)) in periods.iter().zip(&counts).enumerate() {
            if p.from < first || observed < params.min_count {
                continue;
            }
            let base: Vec<u64> = (k.saturating_sub(params.baseline_periods as usize)..k)
                .filter(|&j| periods[j].from >= data_start)
                .map(|j| counts[j])
                .collect();
            if base.len() < 2 {
                continue;
            }
            let expected = (base.iter().sum::<u64>() as f64 + 0.5) / base.len() as f64;
            let nb_size = match params.model {
                TailModel::Poisson => None,
                TailModel::NegativeBinomial => overdispersion(&base),
            };
            let probability = match nb_size {
                Some(size) => negbin_upper_tail(observed, expected, size),
                None => poisson_upper_tail(observed, expected),
            };
            if probability < params.threshold {
                out.push(Alert {
                    code: u.code.clone(),
                    name: u.name.clone(),
                    period: p.label.clone(),
                    start: p.from,
                    observed,
                    expected,
                    probability,
                    nb_size,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        a.probability
            .partial_cmp(&b.probability)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.code.cmp(&b.code))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::filter::Zone;
    use crate::analytics::testutil::{county, joined, Ev};
    use chrono::Duration;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_spike_against_a_quiet_baseline_alerts_and_a_steady_unit_does_not() {
        let gm = county();
        let mut events = Vec::new();
        // G1: one issue a day for 8 weeks, then 40 in one day. G2: steady 1 a day throughout.
        let days: Vec<String> = (0..63)
            .map(|k| {
                (d(2026, 1, 5) + Duration::days(k))
                    .format("%Y-%m-%d 10:00")
                    .to_string()
            })
            .collect();
        let leaked: Vec<&'static str> = days
            .into_iter()
            .map(|s| &*Box::leak(s.into_boxed_str()))
            .collect();
        for (k, at) in leaked.iter().enumerate() {
            events.push(Ev::issue(at, "G2"));
            if k % 7 == 0 {
                events.push(Ev::issue(at, "G1"));
            }
        }
        for _ in 0..40 {
            events.push(Ev::issue(leaked[60], "G1"));
        }
        let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
        let q = Query::window(d(2026, 3, 2), d(2026, 3, 9));
        let a = alerts(&pre, &gm, 3, &q, AlertParams::default()).unwrap();
        assert_eq!(a.len(), 1, "{a:?}");
        assert_eq!(
            (a[0].code.as_str(), a[0].period.as_str(), a[0].observed),
            ("G1", "2026-W10", 41)
        );
        assert!((a[0].expected - 8.5 / 8.0).abs() < 1e-12);
        assert!(a[0].probability < 1e-20);
        assert_eq!(a[0].nb_size, None);
    }

    #[test]
    fn a_bursty_baseline_alerts_less_under_the_negative_binomial() {
        let gm = county();
        // G1 alternates 0 and 6 issues a week, then has 9.
        let mut events = Vec::new();
        let weeks: Vec<&'static str> = (0..9)
            .map(|w| {
                &*Box::leak(
                    (d(2026, 1, 5) + Duration::days(7 * w))
                        .format("%Y-%m-%d 10:00")
                        .to_string()
                        .into_boxed_str(),
                )
            })
            .collect();
        for (w, at) in weeks.iter().enumerate() {
            let n = if w == 8 {
                9
            } else if w % 2 == 1 {
                6
            } else {
                0
            };
            events.extend((0..n).map(|_| Ev::issue(at, "G1")));
        }
        events.push(Ev::issue(weeks[0], "G2"));
        let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
        let q = Query::window(d(2026, 3, 2), d(2026, 3, 9));
        let lenient = AlertParams {
            threshold: 0.02,
            ..Default::default()
        };
        let poisson = alerts(&pre, &gm, 3, &q, lenient).unwrap();
        let nb = alerts(
            &pre,
            &gm,
            3,
            &q,
            AlertParams {
                model: TailModel::NegativeBinomial,
                ..lenient
            },
        )
        .unwrap();
        assert_eq!(poisson.len(), 1, "{poisson:?}");
        assert!(nb.is_empty(), "{nb:?}");
    }

    #[test]
    fn an_empty_window_has_no_alerts() {
        let gm = county();
        let pre = PreAgg::build(
            joined(&gm, &[Ev::issue("2026-01-05 10:00", "G1")]).lazy(),
            Zone::default(),
        )
        .unwrap();
        let q = Query::window(d(2026, 6, 1), d(2026, 6, 3));
        assert!(alerts(&pre, &gm, 2, &q, AlertParams::default())
            .unwrap()
            .is_empty());
    }
}
