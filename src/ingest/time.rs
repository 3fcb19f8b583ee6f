//! Timestamps as upstream systems write them, to one instant in UTC.
//!
//! Well-behaved exports give RFC 3339 with an offset. Most do not: case
//! systems and spreadsheets write naive local wall-clock times, often as
//! office software formats them (`2026/3/1 8:30`, unpadded). Those are read
//! in the deployment's zone, Asia/Shanghai unless configured. Everything is
//! stored as microseconds since the Unix epoch, UTC, the unit of Parquet and
//! polars timestamps.
//!
//! # Examples
//!
//! ```
//! use wangge::ingest::time::{parse_timestamp, DEFAULT_TZ};
//!
//! let a = parse_timestamp("2026-03-01T08:30:00+08:00", DEFAULT_TZ).unwrap();
//! let b = parse_timestamp("2026/3/1 8:30", DEFAULT_TZ).unwrap();
//! assert_eq!(a, b);
//! assert_eq!(a, 1_772_325_000_000_000);
//! ```

use std::sync::LazyLock;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Timelike};
use chrono_tz::Tz;

/// The zone naive timestamps are read in unless the import says otherwise.
pub const DEFAULT_TZ: Tz = chrono_tz::Asia::Shanghai;

/// Naive layouts, tried in order. chrono reads `%m`, `%d` and `%H` with one
/// or two digits and `%.f` as an optional fraction, which covers both padded
/// ISO-like text and office-software output.
const NAIVE_FORMATS: [&str; 8] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%dT%H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%dT%H:%M",
];

/// [`NAIVE_FORMATS`] parsed once: `NaiveDateTime::parse_from_str` parses
/// its format string again for every value, which was a twentieth of the
/// CPU of loading an events file.
static NAIVE_ITEMS: LazyLock<Vec<Vec<Item<'static>>>> = LazyLock::new(|| {
    NAIVE_FORMATS
        .iter()
        .filter_map(|f| StrftimeItems::new(f).parse_to_owned().ok())
        .collect()
});

/// `s` read with one of the [`NAIVE_ITEMS`] layouts, as
/// `NaiveDateTime::parse_from_str` reads it.
fn naive(s: &str, items: &[Item<'static>]) -> Option<NaiveDateTime> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, s, items.iter()).ok()?;
    parsed.to_naive_datetime_with_offset(0).ok()
}

/// Parses a timestamp to microseconds since the Unix epoch, UTC.
///
/// Accepted, after trimming whitespace:
/// - RFC 3339 with an offset or `Z`, optional fractional seconds
///   (`2026-03-01T08:30:00+08:00`, `2026-03-01T00:30:00.25Z`);
/// - naive local times read in `tz`: `YYYY-MM-DD HH:MM`, `YYYY-MM-DD
///   HH:MM:SS[.fff]`, with `T` or a space between date and time, `-` or `/`
///   between date parts, and one- or two-digit month, day and hour
///   (`2026/3/1 8:30`).
///
/// A local time that does not exist in `tz` (skipped by a daylight-saving
/// change) is an error. One that exists twice (the hour repeated when clocks
/// go back) takes the earlier instant: the first occurrence is what a clerk
/// typing it most likely meant, and a fixed rule keeps re-imports stable.
/// China has had no daylight saving since 1991, so neither happens with the
/// default zone for current data.
///
/// The error is a short English reason naming the value, for row rejects.
///
/// # Examples
///
/// ```
/// use wangge::ingest::time::{parse_timestamp, DEFAULT_TZ};
///
/// // Midnight in Shanghai is 16:00 UTC the day before.
/// let t = parse_timestamp("2026-03-01 00:00", DEFAULT_TZ).unwrap();
/// assert_eq!(t, parse_timestamp("2026-02-28T16:00:00Z", DEFAULT_TZ).unwrap());
/// assert_eq!(
///     parse_timestamp("2025-13-40 25:00", DEFAULT_TZ).unwrap_err(),
///     r#"not a timestamp: "2025-13-40 25:00""#
/// );
/// ```
pub fn parse_timestamp(s: &str, tz: Tz) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty timestamp".to_owned());
    }
    let bad = || format!("not a timestamp: {}", super::privacy::shown(s));
    // Second 60 is a leap second to chrono (read as the next minute):
    // upstream systems keep no leap seconds, so it is a broken time.
    let leap = |t: &NaiveDateTime| t.nanosecond() >= 1_000_000_000;
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        if leap(&dt.naive_local()) {
            return Err(bad());
        }
        return Ok(dt.timestamp_micros());
    }
    let naive = NAIVE_ITEMS
        .iter()
        .find_map(|items| naive(s, items))
        .filter(|t| !leap(t))
        .ok_or_else(bad)?;
    in_zone(&naive, tz, s)
}

/// A wall-clock time in `tz` as microseconds since the epoch: an overlap
/// (clocks set back) takes the earlier instant, a gap is an error naming
/// `shown`, the value as the input had it.
fn in_zone(naive: &NaiveDateTime, tz: Tz, shown: &str) -> Result<i64, String> {
    match tz.from_local_datetime(naive) {
        LocalResult::Single(dt) => Ok(dt.timestamp_micros()),
        LocalResult::Ambiguous(a, b) => Ok(a.timestamp_micros().min(b.timestamp_micros())),
        LocalResult::None => Err(format!(
            "local time does not exist in {tz} (clocks skipped it): {shown:?}"
        )),
    }
}

/// A Parquet timestamp that is not adjusted to UTC (`isAdjustedToUTC =
/// false`, what pandas and polars write for a column without a zone):
/// `wall_us` microseconds of a wall-clock reading, read in `tz` like the
/// text form `YYYY-MM-DD HH:MM:SS`.
///
/// ```
/// use wangge::ingest::time::{wall_clock, DEFAULT_TZ};
/// // 2026-03-01 08:30 on the wall in Shanghai is 00:30 UTC.
/// let wall = 1_772_353_800_000_000; // 2026-03-01T08:30:00 as if UTC
/// assert_eq!(wall_clock(wall, DEFAULT_TZ).unwrap(), wall - 8 * 3_600_000_000);
/// ```
pub fn wall_clock(wall_us: i64, tz: Tz) -> Result<i64, String> {
    let naive = DateTime::from_timestamp_micros(wall_us)
        .ok_or_else(|| format!("timestamp out of range: {wall_us} µs"))?
        .naive_utc();
    in_zone(&naive, tz, &naive.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-01 00:30:00 UTC = 08:30 in Shanghai.
    const MARCH_1_0830_SHANGHAI: i64 = 1_772_325_000_000_000;
    const SECOND: i64 = 1_000_000;

    fn sh(s: &str) -> Result<i64, String> {
        parse_timestamp(s, DEFAULT_TZ)
    }

    /// Every layout parsed once, and each reads as `parse_from_str` does.
    #[test]
    fn the_layouts_parsed_once_read_like_parse_from_str() {
        assert_eq!(NAIVE_ITEMS.len(), NAIVE_FORMATS.len());
        for s in [
            "2026-03-01 08:30:00.25",
            "2026-03-01T08:30:00",
            "2026-03-01 08:30",
            "2026/3/1 8:30",
            "2026/03/01T08:30:05",
            "2026-3-1 8:30",
            "2026-02-30 08:30",
            "2026-03-01 8",
        ] {
            for (f, items) in NAIVE_FORMATS.iter().zip(NAIVE_ITEMS.iter()) {
                assert_eq!(
                    naive(s, items),
                    NaiveDateTime::parse_from_str(s, f).ok(),
                    "{s:?} as {f}"
                );
            }
        }
    }

    #[test]
    fn rfc3339_with_offset_z_and_fraction() {
        assert_eq!(sh("2026-03-01T08:30:00+08:00"), Ok(MARCH_1_0830_SHANGHAI));
        assert_eq!(sh("2026-03-01T00:30:00Z"), Ok(MARCH_1_0830_SHANGHAI));
        assert_eq!(
            sh("2026-03-01T00:30:00.123456Z"),
            Ok(MARCH_1_0830_SHANGHAI + 123_456)
        );
        assert_eq!(
            sh("2026-03-01T03:30:00.5+03:00"),
            Ok(MARCH_1_0830_SHANGHAI + SECOND / 2)
        );
    }

    #[test]
    fn an_explicit_offset_ignores_the_zone() {
        assert_eq!(
            parse_timestamp("2026-03-01T00:30:00Z", chrono_tz::America::New_York),
            Ok(MARCH_1_0830_SHANGHAI)
        );
    }

    #[test]
    fn naive_layouts_are_read_in_the_zone() {
        for s in [
            "2026-03-01 08:30",
            "2026-03-01T08:30",
            "2026-03-01 08:30:00",
            "2026-03-01T08:30:00",
            "2026-03-01 08:30:00.000",
            "2026/03/01 08:30",
            "2026/3/1 8:30",
            "2026/3/1 8:30:00",
            "2026-3-1 8:30",
            "  2026-03-01 08:30 \t",
        ] {
            assert_eq!(sh(s), Ok(MARCH_1_0830_SHANGHAI), "{s}");
        }
        assert_eq!(
            sh("2026-03-01 08:30:07.25"),
            Ok(MARCH_1_0830_SHANGHAI + 7 * SECOND + SECOND / 4)
        );
        assert_eq!(
            sh("2026/3/1 8:30:07.5"),
            Ok(MARCH_1_0830_SHANGHAI + 7 * SECOND + SECOND / 2)
        );
    }

    #[test]
    fn midnight_in_shanghai_is_four_pm_utc_the_day_before() {
        assert_eq!(sh("2026-01-01 00:00"), sh("2025-12-31T16:00:00Z"));
    }

    #[test]
    fn leap_day_exists_only_in_leap_years() {
        assert_eq!(sh("2024-02-29 12:00"), sh("2024-02-29T04:00:00Z"));
        assert_eq!(sh("2024-02-29 12:00"), Ok(1_709_179_200 * SECOND));
        assert_eq!(
            sh("2025-02-29 12:00"),
            Err(r#"not a timestamp: "2025-02-29 12:00""#.to_owned())
        );
    }

    #[test]
    fn invalid_month_day_hour_and_junk_are_rejected_with_the_value() {
        for s in [
            "2026-13-01 08:00",
            "2026-04-31 08:00",
            "2026-03-01 24:00",
            "2026-03-01 08:60",
            "2025-13-40 25:00",
            "2026-03-01 08:30:60",
            "2026-03-01T08:30:60+08:00",
            "2026-03-01",
        ] {
            assert_eq!(sh(s), Err(format!("not a timestamp: {s:?}")));
        }
        // Words are masked: a misplaced column may hold a name.
        assert_eq!(
            sh("yesterday"),
            Err(r#"not a timestamp: "y*******y" (9 characters, masked)"#.into())
        );
    }

    #[test]
    fn empty_and_blank_are_rejected() {
        assert_eq!(sh(""), Err("empty timestamp".to_owned()));
        assert_eq!(sh("  "), Err("empty timestamp".to_owned()));
    }

    #[test]
    fn a_dst_gap_is_an_error_and_an_overlap_takes_the_earlier_instant() {
        let ny = chrono_tz::America::New_York;
        // 2025-03-09: 02:00 EST jumps to 03:00 EDT.
        let err = parse_timestamp("2025-03-09 02:30", ny).unwrap_err();
        assert!(
            err.contains("does not exist") && err.contains("2025-03-09 02:30"),
            "{err}"
        );
        // 2025-11-02: 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
        assert_eq!(
            parse_timestamp("2025-11-02 01:30", ny),
            parse_timestamp("2025-11-02T05:30:00Z", ny)
        );
        // Summer time is UTC−4.
        assert_eq!(
            parse_timestamp("2025-07-01 08:00", ny),
            parse_timestamp("2025-07-01T12:00:00Z", ny)
        );
    }
}
