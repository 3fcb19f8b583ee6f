//! The calendar every series is cut on: local days, ISO 8601 weeks and
//! calendar months, in the dates of the configured zone.
//!
//! Unit trends (`/trend`), the sparklines of a league table, the space-time
//! cube of emerging hot spots and the spike alerts all take their periods
//! from here, so a week or a month is the same span, with the same label,
//! wherever it is shown. A window is `[from, to)` in local dates; an open
//! window is the data's days.

use std::str::FromStr;

use chrono::{Datelike, Duration, Months, NaiveDate};
use serde::Serialize;

use super::filter::{date_of, Query};

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

impl FromStr for Granularity {
    type Err = String;

    /// `day`, `week` or `month`, as the API and the command line spell them.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(Granularity::Day),
            "week" => Ok(Granularity::IsoWeek),
            "month" => Ok(Granularity::Month),
            other => Err(format!("{other:?}: use day, week or month")),
        }
    }
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

/// One period of a series: `[from, to)` in local dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// `2026-03-01`, `2026-W09` or `2026-03` (of the period's first day).
    pub label: String,
    /// First date included.
    pub from: NaiveDate,
    /// First date excluded.
    pub to: NaiveDate,
}

/// The window of `q`, its open ends filled from `data_days` (the first and
/// last day with an event, [`super::PreAgg::day_range`]); None when it is
/// empty or nothing fills an open end.
pub fn window(q: &Query, data_days: Option<(i32, i32)>) -> Option<(NaiveDate, NaiveDate)> {
    let from = q.from.or(data_days.map(|d| date_of(d.0)));
    let to = q.to.or(data_days.map(|d| date_of(d.1 + 1)));
    from.zip(to).filter(|(f, t)| f < t)
}

/// The periods of grain `g` that meet `[from, to)`, clipped to it (the
/// first and last may be shorter than a whole period), oldest first.
pub fn calendar(g: Granularity, from: NaiveDate, to: NaiveDate) -> Vec<Period> {
    blocks(g, 1, from, to, usize::MAX).unwrap_or_default()
}

/// Like [`calendar`], stopping with None past `max` periods (before
/// cutting them all: a day grain over decades is refused, not built).
pub fn calendar_up_to(
    g: Granularity,
    from: NaiveDate,
    to: NaiveDate,
    max: usize,
) -> Option<Vec<Period>> {
    blocks(g, 1, from, to, max)
}

/// Most periods a sparkline has (monthly blocks merge beyond it).
pub const MAX_SPARK_PERIODS: usize = 36;

/// The grain a window is drawn at as a sparkline, and its periods: a window
/// of three or more whole months by month; up to 62 days by day; up to 183
/// days by ISO week; longer windows by month, merged into blocks of several
/// months when there would be more than [`MAX_SPARK_PERIODS`].
pub fn spark_periods(from: NaiveDate, to: NaiveDate) -> (Granularity, Vec<Period>) {
    if from >= to {
        return (Granularity::Month, Vec::new());
    }
    let days = (to - from).num_days();
    let whole_months = from.day() == 1 && to.day() == 1 && months_between(from, to) >= 3;
    let (g, step) = if whole_months || days > 183 {
        let n = months_between(month_start(from), to);
        (
            Granularity::Month,
            n.div_ceil(MAX_SPARK_PERIODS as u32).max(1),
        )
    } else if days <= 62 {
        (Granularity::Day, 1)
    } else {
        (Granularity::IsoWeek, 1)
    };
    (g, blocks(g, step, from, to, usize::MAX).unwrap_or_default())
}

/// Blocks of `step` periods of grain `g` over `[from, to)`, clipped to it;
/// None past `max` blocks.
fn blocks(
    g: Granularity,
    step: u32,
    from: NaiveDate,
    to: NaiveDate,
    max: usize,
) -> Option<Vec<Period>> {
    let mut out = Vec::new();
    let mut start = g.period(from).0;
    while start < to {
        if out.len() == max {
            return None;
        }
        let mut end = start;
        for _ in 0..step {
            end = g.next(end);
        }
        out.push(clipped(g, start, end, from, to));
        start = end;
    }
    Some(out)
}

/// The period `[start, end)` clipped to `[from, to)`, labelled by its first
/// day.
fn clipped(
    g: Granularity,
    start: NaiveDate,
    end: NaiveDate,
    from: NaiveDate,
    to: NaiveDate,
) -> Period {
    let p_from = start.max(from);
    Period {
        label: g.period(p_from).1,
        from: p_from,
        to: end.min(to),
    }
}

fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// Calendar months touched by `[from, to)` counted from `from`'s month.
fn months_between(from: NaiveDate, to: NaiveDate) -> u32 {
    let m = |d: NaiveDate| d.year() * 12 + d.month0() as i32;
    let last = to.pred_opt().unwrap_or(to);
    u32::try_from(m(last) - m(from) + 1).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn labels(p: &[Period]) -> Vec<&str> {
        p.iter().map(|p| p.label.as_str()).collect()
    }

    #[test]
    fn a_year_is_twelve_months_and_a_month_is_its_days() {
        let (g, p) = spark_periods(d(2026, 1, 1), d(2027, 1, 1));
        assert_eq!(g, Granularity::Month);
        assert_eq!(p.len(), 12);
        assert_eq!((p[0].from, p[11].to), (d(2026, 1, 1), d(2027, 1, 1)));
        assert_eq!(
            (p[0].label.as_str(), p[11].label.as_str()),
            ("2026-01", "2026-12")
        );
        let (g, p) = spark_periods(d(2026, 2, 1), d(2026, 3, 1));
        assert_eq!((g, p.len()), (Granularity::Day, 28));
        let (g, p) = spark_periods(d(2026, 8, 1), d(2026, 11, 1));
        assert_eq!(g, Granularity::Month);
        assert_eq!(labels(&p), vec!["2026-08", "2026-09", "2026-10"]);
    }

    #[test]
    fn periods_tile_the_window_exactly() {
        for (from, to) in [
            (d(2026, 3, 4), d(2026, 7, 20)),
            (d(2025, 12, 31), d(2026, 1, 2)),
            (d(2024, 11, 17), d(2026, 10, 9)),
            (d(2016, 1, 1), d(2026, 1, 1)),
        ] {
            let (_, p) = spark_periods(from, to);
            assert!(!p.is_empty() && p.len() <= MAX_SPARK_PERIODS.max(62));
            assert_eq!((p[0].from, p[p.len() - 1].to), (from, to));
            for w in p.windows(2) {
                assert_eq!(w[0].to, w[1].from);
                assert!(w[0].from < w[0].to);
            }
        }
        // Weeks are clipped to the window at both ends.
        let (g, p) = spark_periods(d(2026, 3, 4), d(2026, 7, 20));
        assert_eq!(g, Granularity::IsoWeek);
        assert_eq!((p[0].from, p[0].to), (d(2026, 3, 4), d(2026, 3, 9)));
        // Ten years: blocks of four months, at most MAX_SPARK_PERIODS of them.
        let (_, p) = spark_periods(d(2016, 1, 1), d(2026, 1, 1));
        assert_eq!(p.len(), 30);
        assert_eq!(p[1].from, d(2016, 5, 1));
        assert!(spark_periods(d(2026, 1, 1), d(2026, 1, 1)).1.is_empty());
    }

    #[test]
    fn a_calendar_is_cut_at_most_into_the_periods_asked_for() {
        let (from, to) = (d(2026, 1, 1), d(2026, 1, 11));
        let p = calendar(Granularity::Day, from, to);
        assert_eq!(p.len(), 10);
        assert_eq!(calendar_up_to(Granularity::Day, from, to, 10), Some(p));
        assert_eq!(calendar_up_to(Granularity::Day, from, to, 9), None);
        // Weeks clipped to the window, labelled by their first day's week.
        let w = calendar(Granularity::IsoWeek, d(2026, 12, 31), d(2027, 1, 6));
        assert_eq!(
            w.iter()
                .map(|p| (p.label.as_str(), p.from, p.to))
                .collect::<Vec<_>>(),
            vec![
                ("2026-W53", d(2026, 12, 31), d(2027, 1, 4)),
                ("2027-W01", d(2027, 1, 4), d(2027, 1, 6)),
            ]
        );
        assert_eq!("week".parse::<Granularity>(), Ok(Granularity::IsoWeek));
        assert!("year"
            .parse::<Granularity>()
            .unwrap_err()
            .contains("day, week or month"));
    }
}
