//! The Mann-Kendall trend test of one unit's Gi* z series, as R's
//! `Kendall::MannKendall` (what sfdep calls) computes it.
//!
//! S = Σ_{i<j} sign(x_j − x_i); τ = S / D with D = √(n(n−1)/2) ·
//! √(n(n−1)/2 − Σ_g t_g(t_g−1)/2) over groups g of t_g tied values (τ-b;
//! time has no ties); Var S = (n(n−1)(2n+5) − Σ_g t_g(t_g−1)(2t_g+5)) / 18;
//! the two-sided p from the normal approximation with a continuity
//! correction, z = (S − sign S) / √Var S. `Kendall`'s Fortran (`TAUK2`)
//! never reaches its exact branch for a time series, so the normal
//! approximation is what R reports for every n > 3; for n ≤ 3 it reports
//! p = 1, and so do we. Two departures, neither of which changes a
//! category: R computes in single precision (τ and p agree to about 1e-6),
//! and for a constant series R reports τ = 1 with p = 1 where we report
//! τ = 0 with p = 1 (no trend).

use serde::Serialize;

use crate::analytics::stats::normal_sf;

/// Trend of a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Kendall's τ-b of the series against time, in −1..=1.
    pub tau: f64,
    /// Two-sided p of "no monotonic trend".
    pub p: f64,
    /// The Kendall score S.
    pub s: f64,
    /// Variance of S under no trend, corrected for ties.
    pub var_s: f64,
}

/// Mann-Kendall test of `x` in time order.
pub fn mann_kendall(x: &[f64]) -> Trend {
    let n = x.len();
    let flat = Trend {
        tau: 0.0,
        p: 1.0,
        s: 0.0,
        var_s: 0.0,
    };
    if n < 2 || x.iter().all(|&v| v == x[0]) {
        return flat;
    }
    let mut s = 0i64;
    for i in 0..n - 1 {
        for j in i + 1..n {
            s += match x[j].partial_cmp(&x[i]) {
                Some(std::cmp::Ordering::Greater) => 1,
                Some(std::cmp::Ordering::Less) => -1,
                _ => 0,
            };
        }
    }
    let mut sorted = x.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let (mut ties_pairs, mut ties_var) = (0.0, 0.0);
    let mut k = 0;
    while k < n {
        let mut e = k + 1;
        while e < n && sorted[e] == sorted[k] {
            e += 1;
        }
        let t = (e - k) as f64;
        ties_pairs += t * (t - 1.0);
        ties_var += t * (t - 1.0) * (2.0 * t + 5.0);
        k = e;
    }
    let nf = n as f64;
    let dn = nf * (nf - 1.0) / 2.0;
    let d = dn.sqrt() * (dn - ties_pairs / 2.0).sqrt();
    let s = s as f64;
    let var_s = (nf * (nf - 1.0) * (2.0 * nf + 5.0) - ties_var) / 18.0;
    let p = if n <= 3 || var_s <= 0.0 {
        1.0
    } else {
        // R's continuity correction moves S one step towards 0, and leaves
        // S = 0 at 0 (f64::signum would give 1 there).
        let corrected = if s > 0.0 {
            s - 1.0
        } else if s < 0.0 {
            s + 1.0
        } else {
            0.0
        };
        (2.0 * normal_sf((corrected / var_s.sqrt()).abs())).min(1.0)
    };
    Trend {
        tau: s / d,
        p,
        s,
        var_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_series_matches_the_hand_computation() {
        // Pairs of [1, 3, 2, 4]: five rise, one falls, S = 4 of 6 pairs;
        // Var S = 4·3·13/18; z = (4 − 1)/√Var S = 1.01905.
        let t = mann_kendall(&[1.0, 3.0, 2.0, 4.0]);
        assert_eq!(t.s, 4.0);
        assert!((t.tau - 4.0 / 6.0).abs() < 1e-12);
        assert!((t.var_s - 4.0 * 3.0 * 13.0 / 18.0).abs() < 1e-12);
        assert!((t.p - 0.308_179_547_467_054).abs() < 1e-9, "{t:?}");
    }

    #[test]
    fn ties_shrink_the_variance_and_the_denominator() {
        // [1, 2, 2, 3, 5]: S = 9 (the tied pair scores 0); one pair of ties:
        // D = √10·√(10 − 1), Var S = (5·4·15 − 2·1·9)/18, z = 8/√Var S.
        let t = mann_kendall(&[1.0, 2.0, 2.0, 3.0, 5.0]);
        assert_eq!(t.s, 9.0);
        assert!((t.tau - 9.0 / 90f64.sqrt()).abs() < 1e-12);
        assert!((t.var_s - 282.0 / 18.0).abs() < 1e-12);
        assert!((t.p - 0.043_262_727_806_910_66).abs() < 1e-9, "{t:?}");
    }

    #[test]
    fn a_falling_series_has_a_negative_tau_and_short_or_flat_ones_no_trend() {
        let t = mann_kendall(&[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]);
        assert!((t.tau + 1.0).abs() < 1e-12);
        assert!(t.p < 0.05);
        assert_eq!(mann_kendall(&[1.0, 2.0, 3.0]).p, 1.0);
        assert!((mann_kendall(&[1.0, 2.0, 3.0]).tau - 1.0).abs() < 1e-12);
        // S = 0: no correction, z = 0, p = 1.
        let none = mann_kendall(&[1.0, 4.0, 3.0, 2.0]);
        assert_eq!((none.s, none.tau, none.p), (0.0, 0.0, 1.0));
        let flat = mann_kendall(&[2.0; 6]);
        assert_eq!((flat.tau, flat.p), (0.0, 1.0));
    }
}
