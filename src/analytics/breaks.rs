//! Class breaks for choropleth maps: quantiles and Fisher-Jenks natural
//! breaks over the units that have a value.
//!
//! A unit without data (no households for a per-household rate, no rated
//! issue for a satisfaction rate) must not be painted as the lowest class:
//! that would tell a leader the unit does badly when nobody knows. So
//! callers pass only the values there are; the map shows the others as
//! no data.

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
}
