//! Calendar of the demo events: two years ending 2026-10-31, in
//! Asia/Shanghai local time (no daylight saving, so plain civil arithmetic
//! on local seconds is exact).
//!
//! Day weights carry the weekly cycle, holidays around the Spring Festival
//! and National Day, a seasonal swell and a slight growth trend; hour
//! weights give each kind a realistic working day (visits by daylight,
//! incidents late in the evening).

use super::rng::{Cdf, Rng};

/// First day of the window: 2024-11-01.
pub const START_DAY: i64 = days_from_civil(2024, 11, 1);
/// Days in the window (2024-11-01 ..= 2026-10-31).
pub const DAYS: i64 = days_from_civil(2026, 11, 1) - START_DAY;
/// Local seconds at the end of the window, "now" for open issues.
pub const END_SECS: i64 = (START_DAY + DAYS) * 86_400;

/// Lunar new year days inside or near the window.
const SPRING_FESTIVALS: [i64; 3] = [
    days_from_civil(2025, 1, 29),
    days_from_civil(2026, 2, 17),
    days_from_civil(2024, 2, 10),
];

/// The three event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Issue,
    Incident,
    Visit,
}

/// Day and hour tables for one kind.
pub struct Clock {
    days: Cdf,
    hours: Cdf,
}

impl Clock {
    pub fn new(kind: Kind) -> Self {
        let week: [f64; 7] = match kind {
            Kind::Issue => [1.1, 1.05, 1.0, 1.0, 0.95, 0.6, 0.5],
            Kind::Incident => [0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 1.2],
            Kind::Visit => [1.15, 1.1, 1.1, 1.05, 1.0, 0.3, 0.2],
        };
        let days: Vec<f64> = (0..DAYS)
            .map(|i| {
                let day = START_DAY + i;
                let doy = day_of_year(day) as f64;
                let season = match kind {
                    Kind::Issue => {
                        1.0 + 0.15 * (std::f64::consts::TAU * (doy - 110.0) / 365.0).sin()
                    }
                    Kind::Incident => {
                        1.0 + 0.2 * (std::f64::consts::TAU * (doy - 100.0) / 365.0).sin()
                    }
                    Kind::Visit => 1.0,
                };
                let sf = days_to_spring_festival(day);
                let holiday = if (0..7).contains(&sf) || is_national_day(day) {
                    match kind {
                        Kind::Incident => 0.9,
                        _ => 0.45,
                    }
                } else if kind == Kind::Visit && (-20..0).contains(&sf) {
                    1.3 // 春节前走访慰问
                } else {
                    1.0
                };
                let trend = 1.0 + 0.2 * i as f64 / DAYS as f64;
                week[weekday(day)] * season * holiday * trend
            })
            .collect();
        let hours: [f64; 24] = match kind {
            Kind::Issue => [
                0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 2.0, 5.0, 8.0, 9.0, 8.0, 4.0, 3.5, 6.0, 8.0,
                8.0, 6.5, 3.0, 2.0, 1.5, 1.0, 0.6, 0.3,
            ],
            Kind::Incident => [
                2.0, 1.6, 1.2, 0.8, 0.5, 0.5, 0.8, 1.5, 2.5, 3.0, 3.2, 3.2, 3.0, 3.0, 3.3, 3.5,
                3.8, 4.2, 5.0, 5.8, 6.2, 6.0, 4.5, 3.0,
            ],
            Kind::Visit => [
                0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.6, 5.0, 9.0, 9.5, 6.0, 1.0, 1.0, 4.0, 8.0,
                8.5, 5.0, 1.0, 0.5, 0.3, 0.1, 0.0, 0.0,
            ],
        };
        Clock {
            days: Cdf::new(&days),
            hours: Cdf::new(&hours),
        }
    }

    /// Draws a day index (0-based in the window).
    pub fn day(&self, rng: &mut Rng) -> i64 {
        self.days.sample(rng) as i64
    }

    /// Local seconds at a drawn hour of day `day`, minutes and seconds uniform.
    pub fn at(&self, day: i64, rng: &mut Rng) -> i64 {
        let hour = self.hours.sample(rng) as i64;
        (START_DAY + day) * 86_400 + hour * 3600 + rng.below(3600) as i64
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub const fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Civil date of a day number.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// Monday = 0.
pub fn weekday(day: i64) -> usize {
    (day + 3).rem_euclid(7) as usize
}

/// 0-based day of the year.
pub fn day_of_year(day: i64) -> i64 {
    let (y, _, _) = civil_from_days(day);
    day - days_from_civil(y, 1, 1)
}

/// Signed days from the nearest Spring Festival (negative = before it).
pub fn days_to_spring_festival(day: i64) -> i64 {
    SPRING_FESTIVALS
        .iter()
        .map(|sf| day - sf)
        .min_by_key(|d| d.abs())
        .unwrap_or(i64::MAX / 2)
}

fn is_national_day(day: i64) -> bool {
    let (_, m, d) = civil_from_days(day);
    m == 10 && d <= 7
}

/// Formats local seconds as `YYYY-MM-DD HH:MM:SS` or, with `rfc3339`, as
/// `YYYY-MM-DDTHH:MM:SS+08:00`.
pub fn format(secs: i64, rfc3339: bool, out: &mut String) {
    use std::fmt::Write;
    let (day, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(day);
    let sep = if rfc3339 { 'T' } else { ' ' };
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    if rfc3339 {
        out.push_str("+08:00");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_two_years_ending_on_the_last_day_of_october_2026() {
        assert_eq!(DAYS, 730);
        assert_eq!(civil_from_days(START_DAY + DAYS - 1), (2026, 10, 31));
        assert_eq!(
            weekday(days_from_civil(2026, 3, 2)),
            0,
            "2026-03-02 is a Monday"
        );
        let mut s = String::new();
        format(
            days_from_civil(2026, 3, 1) * 86_400 + 8 * 3600 + 30 * 60,
            true,
            &mut s,
        );
        assert_eq!(s, "2026-03-01T08:30:00+08:00");
    }
}
