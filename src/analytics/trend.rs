//! Trends per unit by local day, ISO week or month, with moving averages,
//! and spike alerts (预警) against each unit's own trailing baseline.
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

use chrono::{Datelike, Duration, Months, NaiveDate};
use polars::prelude::*;
use serde::Serialize;

use super::filter::{date_of, day_number, Query, DAY};
use super::preagg::{col_names as p, PreAgg};
use super::stats::{negbin_upper_tail, poisson_upper_tail};
use super::AnalyticsError;
use crate::grid::GridModel;

/// Period length of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Local calendar day.
    Day,
    /// ISO 8601 week (Monday start; week 1 holds the year's first Thursday).
    #[default]
    IsoWeek,
    /// Calendar month.
    Month,
}

impl Granularity {
    /// Start date and label of the period holding `d`.
    pub fn period(self, d: NaiveDate) -> (NaiveDate, String) {
        match self {
            Granularity::Day => (d, d.format("%Y-%m-%d").to_string()),
            Granularity::IsoWeek => {
                let w = d.iso_week();
                let start = d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
                (start, format!("{}-W{:02}", w.year(), w.week()))
            }
            Granularity::Month => {
                let start = d.with_day(1).unwrap_or(d);
                (start, d.format("%Y-%m").to_string())
            }
        }
    }

    /// Start of the period after the one starting at `start`.
    pub fn next(self, start: NaiveDate) -> NaiveDate {
        match self {
            Granularity::Day => start + Duration::days(1),
            Granularity::IsoWeek => start + Duration::days(7),
            Granularity::Month => start
                .checked_add_months(Months::new(1))
                .unwrap_or(start + Duration::days(31)),
        }
    }

    /// Start of the period `k` periods before the one starting at `start`.
    pub fn back(self, start: NaiveDate, k: u32) -> NaiveDate {
        match self {
            Granularity::Day => start - Duration::days(i64::from(k)),
            Granularity::IsoWeek => start - Duration::days(7 * i64::from(k)),
            Granularity::Month => start.checked_sub_months(Months::new(k)).unwrap_or(start),
        }
    }
}

/// One period of a unit's series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendPoint {
    /// Label: `2026-03-01`, `2026-W09` or `2026-03`.
    pub period: String,
    /// First local date of the period.
    pub start: NaiveDate,
    /// Events in the period (within the query window).
    pub count: u64,
    /// Mean of this and the previous `window − 1` periods; None until there are enough.
    pub moving_avg: Option<f64>,
}

/// The series of one unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitSeries {
    /// Unit code.
    pub code: String,
    /// Periods in order, zero-filled.
    pub points: Vec<TrendPoint>,
}

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

/// Zero-filled period counts of one unit from `first` (a period start) to before `end`.
fn bucket(
    days: Option<&BTreeMap<i32, u64>>,
    g: Granularity,
    first: NaiveDate,
    end: NaiveDate,
) -> Vec<(NaiveDate, String, u64)> {
    let mut out = Vec::new();
    let mut start = first;
    while start < end {
        let next = g.next(start);
        let n = days
            .map(|d| {
                d.range(day_number(start)..day_number(next))
                    .map(|(_, n)| n)
                    .sum()
            })
            .unwrap_or(0);
        out.push((start, g.period(start).1, n));
        start = next;
    }
    out
}

/// The window of a query, or the data's day range for an open window.
fn window(pre: &PreAgg, q: &Query) -> Result<Option<(NaiveDate, NaiveDate)>, AnalyticsError> {
    let range = pre.day_range()?;
    let from = q.from.or(range.map(|r| date_of(r.0)));
    let to = q.to.or(range.map(|r| date_of(r.1 + 1)));
    Ok(from.zip(to).filter(|(f, t)| f < t))
}

/// Series of every unit of `level` by period, with a trailing moving average
/// over `ma_window` periods (0 or 1 = none).
pub fn series(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    g: Granularity,
    ma_window: usize,
) -> Result<Vec<UnitSeries>, AnalyticsError> {
    q.validate()?;
    let counts = daily_counts(pre, level, q)?;
    let Some((from, to)) = window(pre, q)? else {
        return Ok(gm
            .level(level)
            .map(|i| UnitSeries {
                code: gm.unit(i).code.clone(),
                points: Vec::new(),
            })
            .collect());
    };
    let first = g.period(from).0;
    Ok(gm
        .level(level)
        .map(|i| {
            let code = gm.unit(i).code.clone();
            let periods = bucket(counts.get(&code), g, first, to);
            let points = periods
                .iter()
                .enumerate()
                .map(|(k, (start, label, n))| TrendPoint {
                    period: label.clone(),
                    start: *start,
                    count: *n,
                    moving_avg: (ma_window > 1 && k + 1 >= ma_window).then(|| {
                        periods[k + 1 - ma_window..=k]
                            .iter()
                            .map(|p| p.2 as f64)
                            .sum::<f64>()
                            / ma_window as f64
                    }),
                })
                .collect();
            UnitSeries { code, points }
        })
        .collect())
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
    let Some((from, to)) = window(pre, q)? else {
        return Ok(Vec::new());
    };
    let Some((data_first, _)) = pre.day_range()? else {
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
    let mut out = Vec::new();
    for i in gm.level(level) {
        let u = gm.unit(i);
        let periods = bucket(counts.get(&u.code), g, lead, to);
        for (k, (start, label, observed)) in periods.iter().enumerate() {
            if *start < first || *observed < params.min_count {
                continue;
            }
            let base: Vec<u64> = periods[k.saturating_sub(params.baseline_periods as usize)..k]
                .iter()
                .filter(|p| p.0 >= data_start)
                .map(|p| p.2)
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
                Some(size) => negbin_upper_tail(*observed, expected, size),
                None => poisson_upper_tail(*observed, expected),
            };
            if probability < params.threshold {
                out.push(Alert {
                    code: u.code.clone(),
                    name: u.name.clone(),
                    period: label.clone(),
                    start: *start,
                    observed: *observed,
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

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    /// Hand-computed ISO weeks at year ends and a leap February.
    #[test]
    fn periods_follow_iso_weeks_across_years_and_leap_days() {
        let w = Granularity::IsoWeek;
        // Friday 1 January 2027 lies in week 53 of 2026, begun Monday 28 December.
        assert_eq!(
            w.period(d(2027, 1, 1)),
            (d(2026, 12, 28), "2026-W53".to_owned())
        );
        // Monday 30 December 2024 begins week 1 of 2025.
        assert_eq!(
            w.period(d(2024, 12, 30)),
            (d(2024, 12, 30), "2025-W01".to_owned())
        );
        assert_eq!(
            w.period(d(2024, 12, 29)),
            (d(2024, 12, 23), "2024-W52".to_owned())
        );
        // The leap day is in week 9 of 2028 (Monday 28 February to Sunday 5 March).
        assert_eq!(
            w.period(d(2028, 2, 29)),
            (d(2028, 2, 28), "2028-W09".to_owned())
        );
        assert_eq!(w.next(d(2028, 2, 28)), d(2028, 3, 6));
        let m = Granularity::Month;
        assert_eq!(
            m.period(d(2028, 2, 29)),
            (d(2028, 2, 1), "2028-02".to_owned())
        );
        assert_eq!(m.next(d(2028, 2, 1)), d(2028, 3, 1));
        assert_eq!(m.back(d(2028, 3, 1), 12), d(2027, 3, 1));
    }

    #[test]
    fn iso_weeks_cross_the_year_boundary() {
        let g = Granularity::IsoWeek;
        // 2026-12-31 is a Thursday: week 53 of 2026; 2027-01-01 (Friday) too.
        assert_eq!(
            g.period(d(2026, 12, 31)),
            (d(2026, 12, 28), "2026-W53".into())
        );
        assert_eq!(
            g.period(d(2027, 1, 1)),
            (d(2026, 12, 28), "2026-W53".into())
        );
        assert_eq!(g.period(d(2027, 1, 4)), (d(2027, 1, 4), "2027-W01".into()));
        assert_eq!(
            Granularity::Month.period(d(2028, 2, 29)),
            (d(2028, 2, 1), "2028-02".into())
        );
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
        let s = series(&pre, &gm, 3, &q, Granularity::IsoWeek, 2).unwrap();
        let g1 = s.iter().find(|s| s.code == "G1").unwrap();
        assert_eq!(
            g1.points
                .iter()
                .map(|p| (p.period.as_str(), p.count))
                .collect::<Vec<_>>(),
            vec![("2026-W53", 2), ("2027-W01", 1)]
        );
        assert_eq!(g1.points[0].moving_avg, None);
        assert_eq!(g1.points[1].moving_avg, Some(1.5));
        let days = series(
            &pre,
            &gm,
            3,
            &Query::window(d(2027, 1, 3), d(2027, 1, 5)),
            Granularity::Day,
            0,
        )
        .unwrap();
        let g1 = days.iter().find(|s| s.code == "G1").unwrap();
        assert_eq!(
            g1.points.iter().map(|p| p.count).collect::<Vec<_>>(),
            vec![0, 1]
        );
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
    fn an_empty_window_has_zero_filled_series_and_no_alerts() {
        let gm = county();
        let pre = PreAgg::build(
            joined(&gm, &[Ev::issue("2026-01-05 10:00", "G1")]).lazy(),
            Zone::default(),
        )
        .unwrap();
        let q = Query::window(d(2026, 6, 1), d(2026, 6, 3));
        let s = series(&pre, &gm, 2, &q, Granularity::Day, 0).unwrap();
        assert!(s
            .iter()
            .all(|s| s.points.len() == 2 && s.points.iter().all(|p| p.count == 0)));
        assert!(alerts(&pre, &gm, 2, &q, AlertParams::default())
            .unwrap()
            .is_empty());
    }
}
