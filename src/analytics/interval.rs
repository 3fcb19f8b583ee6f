//! The confidence interval of a metric's value, by the kind of metric.
//!
//! One rule for every table that shows an interval (the league table, the
//! exports of rankings): a proportion gets Wilson's score interval; a count
//! of events gets the exact Poisson (Garwood) interval; a count per exposure
//! (per km², per 1,000 households, per grid, per 100 visits) gets the exact
//! interval of its count divided by the exposure, which is fixed. Durations,
//! satisfaction scores and other metrics without a sampling model get none.

use super::catalogue::{MetricDef, Ratio};
use super::stats::{poisson_exact, wilson};

/// Normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Exact Poisson interval of `x` events over exposure `e` (e > 0): the
/// interval of the count, divided by `e`.
///
/// # Examples
///
/// ```
/// use wangge::analytics::poisson_interval;
/// // 10 incidents in 2 km²: 2.40–9.20 per km².
/// let (lo, hi) = poisson_interval(10.0, 2.0, 1.959_963_984_540_054).unwrap();
/// assert!((lo - 2.3977).abs() < 1e-4 && (hi - 9.1952).abs() < 1e-4);
/// assert_eq!(poisson_interval(3.0, 0.0, 1.96), None);
/// ```
pub fn poisson_interval(x: f64, e: f64, z: f64) -> Option<(f64, f64)> {
    if e.is_nan() || e <= 0.0 {
        return None;
    }
    poisson_exact(x, z).map(|(lo, hi)| (lo / e, hi / e))
}

/// The interval of a metric whose value is `value` and whose numerator and
/// denominator (proportions) or count and exposure (Poisson rates) are
/// `parts`, at normal quantile `z`; None where the metric has no interval or
/// no data.
///
/// # Examples
///
/// ```
/// use wangge::analytics::{metric, metric_interval, Ratio};
/// let count = metric("incident_count").unwrap();
/// let (lo, hi) = metric_interval(count, Some(10.0), None, 1.959_963_984_540_054).unwrap();
/// assert!((lo - 4.795).abs() < 1e-3 && (hi - 18.390).abs() < 1e-3);
/// let hours = metric("median_hours_to_resolve").unwrap();
/// assert_eq!(metric_interval(hours, Some(30.0), None, 1.96), None);
/// ```
pub fn metric_interval(
    def: &MetricDef,
    value: Option<f64>,
    parts: Option<Ratio>,
    z: f64,
) -> Option<(f64, f64)> {
    if def.is_rate() {
        parts.and_then(|r| wilson(r.num, r.den, z))
    } else if def.is_poisson_rate() {
        parts.and_then(|r| poisson_interval(r.num, r.den, z))
    } else if def.is_count {
        value.and_then(|x| poisson_exact(x, z))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::catalogue::{catalogue, metric, MetricUnit};

    #[test]
    fn a_count_gets_the_exact_poisson_interval() {
        let def = metric("issue_count").unwrap();
        let (lo, hi) = metric_interval(def, Some(0.0), None, Z95).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 3.688_879_454_113_936).abs() < 1e-12, "{hi}");
        let (lo, hi) = metric_interval(def, Some(1.0), None, Z95).unwrap();
        assert!((lo - 0.025_317_807_984_289_9).abs() < 1e-12, "{lo}");
        assert!((hi - 5.571_643_390_938_898).abs() < 1e-9, "{hi}");
        assert_eq!(metric_interval(def, None, None, Z95), None);
    }

    #[test]
    fn a_density_is_the_count_interval_over_the_area() {
        let def = metric("incident_density").unwrap();
        let parts = Ratio {
            num: 10.0,
            den: 4.0,
        };
        let (lo, hi) = metric_interval(def, Some(2.5), Some(parts), Z95).unwrap();
        assert!((lo - 4.795_388_696_132_434 / 4.0).abs() < 1e-9, "{lo}");
        assert!((hi - 18.390_356_042_017_78 / 4.0).abs() < 1e-9, "{hi}");
    }

    #[test]
    fn per_1000_households_is_the_count_interval_over_thousands_of_households() {
        // 1 issue among 250 households: 4 per 1,000, exposure 0.25 thousand.
        let def = metric("issues_per_1k_households").unwrap();
        let parts = Ratio {
            num: 1.0,
            den: 0.25,
        };
        let (lo, hi) = metric_interval(def, Some(4.0), Some(parts), Z95).unwrap();
        assert!((lo - 0.025_317_807_984_289_9 * 4.0).abs() < 1e-9, "{lo}");
        assert!((hi - 5.571_643_390_938_898 * 4.0).abs() < 1e-8, "{hi}");
        // No household data: no exposure, no interval.
        assert_eq!(metric_interval(def, None, None, Z95), None);
    }

    #[test]
    fn a_proportion_gets_wilson() {
        let def = metric("resolution_rate").unwrap();
        let (lo, hi) =
            metric_interval(def, Some(1.0), Some(Ratio { num: 1.0, den: 1.0 }), Z95).unwrap();
        assert!((lo - 0.206_549_314_536_459_7).abs() < 1e-9 && hi == 1.0);
    }

    #[test]
    fn every_count_and_rate_of_the_catalogue_has_an_interval_and_nothing_else_does() {
        for def in catalogue() {
            let parts = Some(Ratio { num: 3.0, den: 5.0 });
            let got = metric_interval(def, Some(3.0), def.ratio.or(def.exposure).and(parts), Z95);
            let expected = def.is_count || def.is_rate() || def.is_poisson_rate();
            assert_eq!(got.is_some(), expected, "{}", def.name);
            if let Some((lo, hi)) = got {
                assert!(lo <= hi && lo >= 0.0, "{}", def.name);
            }
            if def.unit == MetricUnit::Count {
                assert!(def.is_count, "{}", def.name);
            }
        }
    }
}
