//! What a user asks for: a window of local calendar dates, kinds, categories
//! and sources, in a time zone.
//!
//! Events are stored as UTC instants but people count by local days: an issue
//! reported at 00:30 on 1 March in Shanghai belongs to March even though it is
//! still 28/29 February in UTC. Local dates are derived by adding the zone's
//! UTC offset (Asia/Shanghai has had a fixed +08:00 since 1991, so a single
//! offset is exact there; for zones with DST the standard offset is used and
//! the hour around a change may land on the neighbouring day).

use chrono::{Datelike, Months, NaiveDate, Offset, TimeZone};
use polars::prelude::*;
use serde::Serialize;

use super::AnalyticsError;
use crate::columns as c;

/// Name of the local-day column the pre-aggregates add (days since 1970-01-01, Int32).
pub const DAY: &str = "day";

/// Microseconds in a day.
pub(crate) const DAY_US: i64 = 86_400_000_000;

/// The local time zone of the calendar. Default Asia/Shanghai.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// The IANA zone.
    pub tz: chrono_tz::Tz,
}

impl Default for Zone {
    fn default() -> Self {
        Zone {
            tz: chrono_tz::Asia::Shanghai,
        }
    }
}

impl Zone {
    /// Standard offset from UTC in seconds, taken in mid-January (outside DST
    /// in the northern hemisphere, where the counties are).
    pub fn offset_secs(&self) -> i32 {
        let probe = NaiveDate::from_ymd_opt(2020, 1, 15)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .unwrap_or_default();
        self.tz
            .offset_from_utc_datetime(&probe)
            .fix()
            .local_minus_utc()
    }

    /// Offset in microseconds.
    pub fn offset_us(&self) -> i64 {
        i64::from(self.offset_secs()) * 1_000_000
    }

    /// Expression giving the local day (days since 1970-01-01) of a UTC datetime column.
    pub fn local_day(&self, column: &str) -> Expr {
        (col(column).cast(DataType::Int64) + lit(self.offset_us()))
            .floor_div(lit(DAY_US))
            .cast(DataType::Int32)
    }

    /// The local day (days since 1970-01-01) of a UTC instant in µs, as
    /// [`Zone::local_day`] computes it for a column; the zone's offset is
    /// looked up once, for many instants.
    pub fn day_of_us(&self) -> impl Fn(i64) -> i32 {
        let offset = self.offset_us();
        move |us| (us + offset).div_euclid(DAY_US) as i32
    }

    /// The local days of UTC instants in µs, sorted, each once.
    pub fn days_of_us(&self, instants: &[i64]) -> Vec<i32> {
        let day = self.day_of_us();
        let mut days: Vec<i32> = instants.iter().map(|&t| day(t)).collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// UTC instant (µs since epoch) of local midnight starting a date.
    pub fn midnight_us(&self, date: NaiveDate) -> i64 {
        i64::from(day_number(date)) * DAY_US - self.offset_us()
    }

    /// Today's date in this zone.
    pub fn today(&self) -> NaiveDate {
        chrono::Utc::now().with_timezone(&self.tz).date_naive()
    }
}

/// Days since 1970-01-01 of a date.
pub fn day_number(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    // Dates in range of chrono fit in i32 days.
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Date of a day number.
pub fn date_of(day: i32) -> NaiveDate {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    epoch + chrono::Duration::days(i64::from(day))
}

/// A filtered question: window `[from, to)` of local dates, and optional
/// lists of kinds, categories and sources (empty list = all).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Query {
    /// First local date included; `None` = from the beginning.
    pub from: Option<NaiveDate>,
    /// First local date excluded; `None` = up to the end of the data.
    pub to: Option<NaiveDate>,
    /// Kinds kept (`issue`, `incident`, `visit`); empty = all.
    pub kinds: Vec<String>,
    /// Categories kept; empty = all.
    pub categories: Vec<String>,
    /// Issue sources kept; empty = all. Restricts issues only: incidents and
    /// visits have no source and are kept, so cross-stream ratios still work.
    pub sources: Vec<String>,
    /// Calendar zone.
    #[serde(skip)]
    pub zone: Zone,
}

impl Query {
    /// A window `[from, to)` with no other filter.
    pub fn window(from: NaiveDate, to: NaiveDate) -> Self {
        Query {
            from: Some(from),
            to: Some(to),
            ..Default::default()
        }
    }

    /// Refuses empty or reversed windows.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        if let (Some(f), Some(t)) = (self.from, self.to) {
            if t <= f {
                return Err(AnalyticsError::BadWindow {
                    reason: format!("to ({t}) must be after from ({f})"),
                });
            }
        }
        Ok(())
    }

    /// The predicate on a frame carrying [`DAY`], kind, category and source.
    pub fn predicate(&self) -> Expr {
        let mut p = lit(true);
        if let Some(f) = self.from {
            p = p.and(col(DAY).gt_eq(lit(day_number(f))));
        }
        if let Some(t) = self.to {
            p = p.and(col(DAY).lt(lit(day_number(t))));
        }
        if !self.kinds.is_empty() {
            p = p.and(col(c::KIND).is_in(str_list(&self.kinds), false));
        }
        if !self.categories.is_empty() {
            p = p.and(col(c::CATEGORY).is_in(str_list(&self.categories), false));
        }
        if !self.sources.is_empty() {
            let in_sources = col(c::SOURCE).is_in(str_list(&self.sources), false);
            p = p.and(
                col(c::KIND)
                    .neq(lit(crate::vocab::ISSUE))
                    .or(in_sources.fill_null(false)),
            );
        }
        p
    }

    /// Whether a kind passes the kind filter.
    pub fn wants_kind(&self, kind: &str) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind)
    }

    /// The previous period of the same shape (环比 base). A window of whole
    /// calendar months moves back by that many months; any other window
    /// moves back by its length in days. An open window has no previous period.
    pub fn previous_period(&self) -> Option<Query> {
        let (f, t) = (self.from?, self.to?);
        let months = whole_months(f, t);
        let (pf, pt) = match months {
            Some(m) => (f.checked_sub_months(Months::new(m))?, f),
            None => (f - (t - f), f),
        };
        Some(Query {
            from: Some(pf),
            to: Some(pt),
            ..self.clone()
        })
    }

    /// The part of the window that has happened by the end of `today`: a
    /// window reaching past it ends at the next local midnight. "This year"
    /// in October is then January-October, its 同比 base January-October of
    /// last year and its 环比 base the as long span before it, never ten
    /// months against twelve; and "as of the window end" means as of now,
    /// not a date whose deadlines have not come. A window wholly in the
    /// future is left as it is.
    pub fn elapsed(self, today: NaiveDate) -> Query {
        let end = today.succ_opt().unwrap_or(today);
        match (self.from, self.to) {
            (Some(f), Some(t)) if t > end && f < end => Query {
                to: Some(end),
                ..self
            },
            _ => self,
        }
    }

    /// The same window one year earlier (同比 base). 29 February maps to
    /// 28 February, as chrono's month arithmetic clamps to the month's end.
    pub fn same_period_last_year(&self) -> Option<Query> {
        let f = self.from?.checked_sub_months(Months::new(12))?;
        let t = self.to?.checked_sub_months(Months::new(12))?;
        Some(Query {
            from: Some(f),
            to: Some(t),
            ..self.clone()
        })
    }

    /// UTC microseconds of the end of the window (local midnight of `to`).
    pub fn end_us(&self) -> Option<i64> {
        self.to.map(|t| self.zone.midnight_us(t))
    }
}

/// Number of months when `[f, t)` is a run of whole calendar months.
fn whole_months(f: NaiveDate, t: NaiveDate) -> Option<u32> {
    if f.day() != 1 || t.day() != 1 {
        return None;
    }
    let m = (t.year() - f.year()) * 12 + t.month() as i32 - f.month() as i32;
    u32::try_from(m).ok().filter(|&m| m > 0)
}

/// A list literal for `is_in` (a bare series is ambiguous in polars ≥ 0.49).
pub(crate) fn str_list<S: AsRef<str>>(values: &[S]) -> Expr {
    let v: Vec<&str> = values.iter().map(AsRef::as_ref).collect();
    lit(Series::new("".into(), v)).implode(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_window_past_today_ends_tomorrow_and_its_bases_are_as_long() {
        let q = Query::window(d(2026, 1, 1), d(2027, 1, 1)).elapsed(d(2026, 10, 31));
        assert_eq!(q.to, Some(d(2026, 11, 1)));
        let yoy = q.same_period_last_year().unwrap();
        assert_eq!(
            (yoy.from, yoy.to),
            (Some(d(2025, 1, 1)), Some(d(2025, 11, 1)))
        );
        // Ten whole months: the ten before, not the same months as 同比.
        let prev = q.previous_period().unwrap();
        assert_eq!(
            (prev.from, prev.to),
            (Some(d(2025, 3, 1)), Some(d(2026, 1, 1)))
        );
        // Early in a month: the days so far against as many days before.
        let m = Query::window(d(2026, 12, 1), d(2027, 1, 1)).elapsed(d(2026, 12, 4));
        let prev = m.previous_period().unwrap();
        assert_eq!(
            (prev.from, prev.to),
            (Some(d(2026, 11, 27)), Some(d(2026, 12, 1)))
        );
        // Past and wholly future windows stay as they are.
        for (f, t) in [
            (d(2025, 1, 1), d(2025, 2, 1)),
            (d(2027, 1, 1), d(2027, 2, 1)),
        ] {
            let w = Query::window(f, t).elapsed(d(2026, 10, 31));
            assert_eq!((w.from, w.to), (Some(f), Some(t)));
        }
    }

    #[test]
    fn shanghai_is_eight_hours_ahead() {
        assert_eq!(Zone::default().offset_secs(), 8 * 3600);
    }

    #[test]
    fn local_midnight_in_shanghai_is_four_pm_utc_the_day_before() {
        let z = Zone::default();
        let us = z.midnight_us(d(2026, 3, 1));
        let utc = chrono::DateTime::from_timestamp_micros(us)
            .unwrap()
            .naive_utc();
        assert_eq!(utc, d(2026, 2, 28).and_hms_opt(16, 0, 0).unwrap());
    }

    #[test]
    fn a_month_window_steps_back_a_month_and_a_year() {
        let q = Query::window(d(2026, 3, 1), d(2026, 4, 1));
        let p = q.previous_period().unwrap();
        assert_eq!((p.from, p.to), (Some(d(2026, 2, 1)), Some(d(2026, 3, 1))));
        let y = q.same_period_last_year().unwrap();
        assert_eq!((y.from, y.to), (Some(d(2025, 3, 1)), Some(d(2025, 4, 1))));
    }

    #[test]
    fn a_leap_day_window_maps_to_the_28th_a_year_earlier() {
        let q = Query::window(d(2028, 2, 29), d(2028, 3, 1));
        let y = q.same_period_last_year().unwrap();
        assert_eq!((y.from, y.to), (Some(d(2027, 2, 28)), Some(d(2027, 3, 1))));
        let p = q.previous_period().unwrap();
        assert_eq!((p.from, p.to), (Some(d(2028, 2, 28)), Some(d(2028, 2, 29))));
    }

    /// Hand-computed: ISO week 53 of 2026 (Monday 28 December 2026 to
    /// Sunday 3 January 2027, since 1 January 2026 is a Thursday), its 环比
    /// base the seven days before, its 同比 base the same seven days of 2025.
    #[test]
    fn an_iso_week_across_new_year_steps_back_seven_days_and_a_year() {
        let q = Query::window(d(2026, 12, 28), d(2027, 1, 4));
        let w = d(2026, 12, 28).iso_week();
        assert_eq!((w.year(), w.week()), (2026, 53));
        assert_eq!(d(2027, 1, 3).iso_week().week(), 53);
        assert_eq!(d(2027, 1, 4).iso_week().week(), 1);
        let p = q.previous_period().unwrap();
        assert_eq!(
            (p.from, p.to),
            (Some(d(2026, 12, 21)), Some(d(2026, 12, 28)))
        );
        let y = q.same_period_last_year().unwrap();
        assert_eq!((y.from, y.to), (Some(d(2025, 12, 28)), Some(d(2026, 1, 4))));
        // Seen on Wednesday 30 December: Monday to Wednesday so far, against
        // the three days before and the same three days of 2025.
        let part = q.elapsed(d(2026, 12, 30));
        assert_eq!(part.to, Some(d(2026, 12, 31)));
        let p = part.previous_period().unwrap();
        assert_eq!(
            (p.from, p.to),
            (Some(d(2026, 12, 25)), Some(d(2026, 12, 28)))
        );
        let y = part.same_period_last_year().unwrap();
        assert_eq!(
            (y.from, y.to),
            (Some(d(2025, 12, 28)), Some(d(2025, 12, 31)))
        );
    }

    /// Hand-computed: "this year" of 2028 seen on the leap day is 1 January
    /// to 29 February (60 days), its 同比 base 1 January to 28 February 2027
    /// (59 days: the same calendar span), its 环比 base the two whole months
    /// before; "this month" seen on the 15th is 15 days against the 15
    /// days before (17 to 31 January) and 1-15 February 2027.
    #[test]
    fn a_partial_leap_year_and_month_compare_the_same_calendar_span() {
        let y = Query::window(d(2028, 1, 1), d(2029, 1, 1)).elapsed(d(2028, 2, 29));
        assert_eq!(y.to, Some(d(2028, 3, 1)));
        let b = y.same_period_last_year().unwrap();
        assert_eq!((b.from, b.to), (Some(d(2027, 1, 1)), Some(d(2027, 3, 1))));
        let p = y.previous_period().unwrap();
        assert_eq!((p.from, p.to), (Some(d(2027, 11, 1)), Some(d(2028, 1, 1))));
        let m = Query::window(d(2028, 2, 1), d(2028, 3, 1)).elapsed(d(2028, 2, 15));
        assert_eq!(m.to, Some(d(2028, 2, 16)));
        let p = m.previous_period().unwrap();
        assert_eq!((p.from, p.to), (Some(d(2028, 1, 17)), Some(d(2028, 2, 1))));
        let b = m.same_period_last_year().unwrap();
        assert_eq!((b.from, b.to), (Some(d(2027, 2, 1)), Some(d(2027, 2, 16))));
    }

    #[test]
    fn a_reversed_window_is_refused() {
        assert!(Query::window(d(2026, 3, 2), d(2026, 3, 1))
            .validate()
            .is_err());
        assert!(Query::window(d(2026, 3, 1), d(2026, 3, 1))
            .validate()
            .is_err());
    }

    #[test]
    fn day_numbers_round_trip() {
        assert_eq!(day_number(d(1970, 1, 2)), 1);
        assert_eq!(date_of(day_number(d(2028, 2, 29))), d(2028, 2, 29));
    }
}
