//! Legend classes for choropleth maps: quantile and Jenks natural breaks,
//! plus a separate no-data class.
//!
//! A unit without data (no households for a per-household rate, no rated
//! issue for a satisfaction rate) must not be painted as the lowest class:
//! that would tell a leader the unit does badly when nobody knows. So null
//! values are counted apart and classify to `None`.

use serde::Serialize;

use super::catalogue::metric;
use super::metrics::MetricTable;
use super::AnalyticsError;

/// How class bounds are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BreakMethod {
    /// Equal numbers of units per class (bounds at linear-interpolated quantiles).
    #[default]
    Quantile,
    /// Fisher-Jenks optimal classes: least within-class sum of squares.
    Jenks,
}

/// One class of a legend: values in (lower, upper], the first class closed below.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LegendClass {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound (inclusive).
    pub upper: f64,
    /// Units in the class.
    pub count: usize,
}

/// A legend: classes plus the no-data count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Legend {
    /// Method used.
    pub method: BreakMethod,
    /// Classes, ascending; may be fewer than asked when values repeat.
    pub classes: Vec<LegendClass>,
    /// Units without a value.
    pub no_data: usize,
}

impl Legend {
    /// Builds a legend of at most `k` classes over the non-null values.
    pub fn build(
        values: &[Option<f64>],
        method: BreakMethod,
        k: usize,
    ) -> Result<Legend, AnalyticsError> {
        if k == 0 {
            return Err(AnalyticsError::BadParameter {
                name: "classes",
                reason: "at least one class".into(),
            });
        }
        let mut v: Vec<f64> = values
            .iter()
            .flatten()
            .copied()
            .filter(|x| x.is_finite())
            .collect();
        let no_data = values.len() - v.len();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let uppers = match method {
            BreakMethod::Quantile => quantile_breaks(&v, k),
            BreakMethod::Jenks => jenks_breaks(&v, k),
        };
        let mut classes = Vec::with_capacity(uppers.len());
        let mut lower = v.first().copied().unwrap_or(0.0);
        for &upper in &uppers {
            classes.push(LegendClass {
                lower,
                upper,
                count: 0,
            });
            lower = upper;
        }
        let mut legend = Legend {
            method,
            classes,
            no_data,
        };
        for x in &v {
            if let Some(i) = legend.classify(Some(*x)) {
                legend.classes[i].count += 1;
            }
        }
        Ok(legend)
    }

    /// Class of a value; `None` is the no-data class.
    pub fn classify(&self, value: Option<f64>) -> Option<usize> {
        let x = value.filter(|x| x.is_finite())?;
        let last = self.classes.len().checked_sub(1)?;
        Some(
            self.classes
                .iter()
                .position(|c| x <= c.upper)
                .unwrap_or(last),
        )
    }
}

/// Upper bounds of `k` quantile classes over sorted values, duplicates removed.
pub fn quantile_breaks(sorted: &[f64], k: usize) -> Vec<f64> {
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let mut out: Vec<f64> = (1..=k)
        .map(|i| {
            let pos = (n - 1) as f64 * i as f64 / k as f64;
            let (lo, frac) = (pos.floor() as usize, pos.fract());
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        })
        .collect();
    out.dedup();
    out
}

/// Upper bounds of the Fisher-Jenks optimal `k` classes over sorted values.
///
/// The classes that minimise the within-class sum of squares, found with
/// Wang and Song's Ckmeans (the `ckmeans` crate): O(k·n·log n), so a tier
/// of 50,000 grids is classed in milliseconds where the textbook dynamic
/// programme takes O(k·n²).
pub fn jenks_breaks(sorted: &[f64], k: usize) -> Vec<f64> {
    if sorted.is_empty() || k == 0 {
        return Vec::new();
    }
    let k = u8::try_from(k.min(sorted.len())).unwrap_or(u8::MAX);
    match ckmeans::ckmeans_indices(sorted, k) {
        Ok((values, classes)) => {
            let mut uppers: Vec<f64> = classes.iter().map(|&(_, last)| values[last]).collect();
            uppers.dedup();
            uppers
        }
        // Only non-finite values fail; the callers pass finite ones.
        Err(_) => quantile_breaks(sorted, usize::from(k)),
    }
}

/// One unit's value and class on a map.
#[derive(Debug, Clone, Serialize)]
pub struct HeatValue {
    /// Unit code.
    pub code: String,
    /// Value, None = no data.
    pub value: Option<f64>,
    /// Class index, None = no-data class.
    pub class: Option<usize>,
}

/// Values of one metric for the units of a table, with their legend.
#[derive(Debug, Clone, Serialize)]
pub struct Heatmap {
    /// Metric name.
    pub metric: &'static str,
    /// One entry per unit.
    pub values: Vec<HeatValue>,
    /// Legend.
    pub legend: Legend,
}

/// Heatmap values of `metric_name` from a metric table.
pub fn heatmap(
    table: &MetricTable,
    metric_name: &str,
    method: BreakMethod,
    k: usize,
) -> Result<Heatmap, AnalyticsError> {
    let def = metric(metric_name)?;
    let raw: Vec<Option<f64>> = table.rows.iter().map(|r| r.value(def.name)).collect();
    let legend = Legend::build(&raw, method, k)?;
    let values = table
        .rows
        .iter()
        .zip(&raw)
        .map(|(r, v)| HeatValue {
            code: r.code.clone(),
            value: *v,
            class: legend.classify(*v),
        })
        .collect();
    Ok(Heatmap {
        metric: def.name,
        values,
        legend,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook Fisher-Jenks dynamic programme, O(k·n²): the oracle.
    fn jenks_dp(sorted: &[f64], k: usize) -> Vec<f64> {
        let n = sorted.len();
        let mut s1 = vec![0.0; n + 1];
        let mut s2 = vec![0.0; n + 1];
        for (i, x) in sorted.iter().enumerate() {
            s1[i + 1] = s1[i] + x;
            s2[i + 1] = s2[i] + x * x;
        }
        let ssd = |a: usize, b: usize| {
            let m = (b - a) as f64;
            let s = s1[b] - s1[a];
            (s2[b] - s2[a]) - s * s / m
        };
        let mut cost = vec![vec![f64::INFINITY; n + 1]; k];
        let mut from = vec![vec![0usize; n + 1]; k];
        for (j, c) in cost[0].iter_mut().enumerate().skip(1) {
            *c = ssd(0, j);
        }
        for c in 1..k {
            for j in c + 1..=n {
                for i in c..j {
                    let v = cost[c - 1][i] + ssd(i, j);
                    if v < cost[c][j] {
                        cost[c][j] = v;
                        from[c][j] = i;
                    }
                }
            }
        }
        let mut uppers = Vec::with_capacity(k);
        let mut j = n;
        for c in (0..k).rev() {
            uppers.push(sorted[j - 1]);
            j = if c == 0 { 0 } else { from[c][j] };
        }
        uppers.reverse();
        uppers
    }

    /// Within-class sum of squares of the classes `uppers` make.
    fn within(sorted: &[f64], uppers: &[f64]) -> f64 {
        let mut total = 0.0;
        let mut lo = f64::NEG_INFINITY;
        for &u in uppers {
            let class: Vec<f64> = sorted
                .iter()
                .copied()
                .filter(|&x| x > lo && x <= u)
                .collect();
            let m = class.iter().sum::<f64>() / class.len().max(1) as f64;
            total += class.iter().map(|x| (x - m) * (x - m)).sum::<f64>();
            lo = u;
        }
        total
    }

    #[test]
    fn ckmeans_classes_are_as_good_as_the_exact_programme() {
        // Seeded values of several shapes, distinct and tied.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for case in 0..60 {
            let n = 5 + case * 7;
            let mut v: Vec<f64> = (0..n)
                .map(|i| match case % 3 {
                    0 => next() * 100.0,
                    1 => (next() * 8.0).floor(),
                    _ => (next() * 3.0).exp() + if i % 5 == 0 { 40.0 } else { 0.0 },
                })
                .collect();
            v.sort_by(f64::total_cmp);
            let distinct = {
                let mut d = v.clone();
                d.dedup();
                d.len()
            };
            let k = 5.min(distinct);
            let fast = jenks_breaks(&v, 5);
            let exact = jenks_dp(&v, k);
            assert_eq!(fast.len(), k, "case {case}: {fast:?}");
            let (a, b) = (within(&v, &fast), within(&v, &exact));
            assert!(
                (a - b).abs() <= 1e-9 * b.max(1.0),
                "case {case}: {a} vs {b}"
            );
        }
    }

    #[test]
    fn jenks_finds_the_obvious_groups() {
        let v = [1.0, 1.5, 2.0, 10.0, 11.0, 12.0, 30.0, 31.0];
        assert_eq!(jenks_breaks(&v, 3), vec![2.0, 12.0, 31.0]);
        assert_eq!(jenks_breaks(&[5.0, 5.0, 5.0], 4), vec![5.0]);
        assert!(jenks_breaks(&[], 4).is_empty());
    }

    #[test]
    fn quantiles_split_evenly_and_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile_breaks(&v, 4), vec![2.0, 3.0, 4.0, 5.0]);
        assert_eq!(quantile_breaks(&[1.0, 2.0], 2), vec![1.5, 2.0]);
    }

    #[test]
    fn no_data_is_its_own_class_not_the_lowest() {
        let l = Legend::build(
            &[Some(1.0), None, Some(3.0), Some(2.0), None],
            BreakMethod::Quantile,
            2,
        )
        .unwrap();
        assert_eq!(l.no_data, 2);
        assert_eq!(l.classify(None), None);
        assert_eq!(l.classify(Some(1.0)), Some(0));
        assert_eq!(l.classify(Some(3.0)), Some(1));
        assert_eq!(l.classes.iter().map(|c| c.count).sum::<usize>(), 3);
        assert!(Legend::build(&[], BreakMethod::Jenks, 0).is_err());
        let empty = Legend::build(&[None], BreakMethod::Jenks, 3).unwrap();
        assert_eq!(
            (
                empty.classes.len(),
                empty.no_data,
                empty.classify(Some(1.0))
            ),
            (0, 1, None)
        );
    }
}
