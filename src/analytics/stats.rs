//! Small numerical building blocks: normal and Poisson tails, gamma
//! quantiles, Wilson and exact Poisson intervals and a seeded random generator.
//!
//! They live here rather than in a statistics crate because the project
//! needs a handful of functions at double precision (p-values are compared
//! with PySAL to 1e-9) and permutation tests that replay exactly from a seed.

/// Upper tail of the standard normal, P(Z > x), accurate to about 1e-15 relative.
pub fn normal_sf(x: f64) -> f64 {
    0.5 * erfc(x / std::f64::consts::SQRT_2)
}

/// Complementary error function.
///
/// Power series for |x| < 2 (where it converges quickly and cancellation is
/// mild), Lentz continued fraction beyond.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        return 1.0 - erf_series(x);
    }
    if x > 27.0 {
        return 0.0;
    }
    // erfc(x) = exp(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..500 {
        let a = n as f64 / 2.0;
        d = x + a * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = x + a / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

fn erf_series(x: f64) -> f64 {
    // erf(x) = 2/√π · Σ (-1)^n x^(2n+1) / (n! (2n+1))
    let mut term = x;
    let mut sum = x;
    let x2 = x * x;
    for n in 1..200 {
        term *= -x2 / n as f64;
        let add = term / (2 * n + 1) as f64;
        sum += add;
        if add.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9), relative error ~1e-15.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised lower incomplete gamma P(a, x).
pub fn gamma_p(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x < a + 1.0 {
        let mut sum = 1.0 / a;
        let mut term = sum;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (sum.ln() - x + a * x.ln() - ln_gamma(a)).exp()
    } else {
        1.0 - gamma_q_cf(a, x)
    }
}

/// Regularised upper incomplete gamma Q(a, x) by continued fraction (x ≥ a + 1).
fn gamma_q_cf(a: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let mut b = x + 1.0 - a;
    let mut c = 1.0 / tiny;
    let mut d = 1.0 / b;
    let mut h = d;
    for i in 1..10_000 {
        let an = -(i as f64) * (i as f64 - a);
        b += 2.0;
        d = an * d + b;
        d = if d.abs() < tiny { tiny } else { d };
        c = b + an / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x + a * x.ln() - ln_gamma(a)).exp() * h
}

/// The `p`-quantile of a Gamma(a, 1): the x with P(a, x) = p (a > 0).
///
/// Safeguarded Newton (the derivative of P(a, ·) is the gamma density)
/// inside a bracket that every step shrinks; a step that would leave the
/// bracket is replaced by bisection, so it converges from any start.
pub fn gamma_p_inv(a: f64, p: f64) -> f64 {
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let (mut lo, mut hi) = (0.0, a.max(1.0));
    while gamma_p(a, hi) < p {
        lo = hi;
        hi *= 2.0;
    }
    let ln_gamma_a = ln_gamma(a);
    let mut x = if a > lo && a < hi { a } else { 0.5 * (lo + hi) };
    for _ in 0..200 {
        let f = gamma_p(a, x) - p;
        if f == 0.0 {
            return x;
        }
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let density = ((a - 1.0) * x.ln() - x - ln_gamma_a).exp();
        let newton = x - f / density;
        let next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= 1e-14 * x || hi - lo <= 1e-14 * hi {
            return next;
        }
        x = next;
    }
    x
}

/// Counts above this get Byar's approximation instead of the exact interval:
/// the series behind [`gamma_p`] stops converging within its iteration limit
/// a little beyond, and Byar's error is far below a count there anyway.
const EXACT_POISSON_MAX: f64 = 1e6;

/// Exact (Garwood 1936) two-sided interval of the mean of a Poisson count
/// `x` at normal quantile `z` (1.96 for 95%): the means under which `x` or
/// more, and `x` or fewer, events have probability α/2 each, α = 2·P(Z > z).
///
/// Lower = Gamma(x, 1) quantile α/2 (0 for x = 0); upper = Gamma(x + 1, 1)
/// quantile 1 − α/2, i.e. χ²(2x)/2 and χ²(2x + 2)/2. For 95%: 0 → 0–3.689,
/// 1 → 0.0253–5.572, 10 → 4.795–18.390. None for a negative or non-finite count.
pub fn poisson_exact(x: f64, z: f64) -> Option<(f64, f64)> {
    if !(x >= 0.0 && x.is_finite()) {
        return None;
    }
    if x > EXACT_POISSON_MAX {
        return Some(poisson_byar(x, z));
    }
    let alpha = 2.0 * normal_sf(z);
    let lower = if x == 0.0 {
        0.0
    } else {
        gamma_p_inv(x, alpha / 2.0)
    };
    Some((lower, gamma_p_inv(x + 1.0, 1.0 - alpha / 2.0)))
}

/// Byar's approximation to [`poisson_exact`] (Wilson–Hilferty cube roots):
/// within 0.5% at x = 10, and closer as x grows.
pub fn poisson_byar(x: f64, z: f64) -> (f64, f64) {
    let lower = if x <= 0.0 {
        0.0
    } else {
        x * (1.0 - 1.0 / (9.0 * x) - z / (3.0 * x.sqrt())).powi(3)
    };
    let x1 = x + 1.0;
    let upper = x1 * (1.0 - 1.0 / (9.0 * x1) + z / (3.0 * x1.sqrt())).powi(3);
    (lower.max(0.0), upper)
}

/// P(X ≥ k) for X ~ Poisson(λ): equals P(k, λ), the regularised lower gamma.
pub fn poisson_upper_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    gamma_p(k as f64, lambda).clamp(0.0, 1.0)
}

/// Regularised incomplete beta I_x(a, b), by Lentz's continued fraction.
pub fn beta_inc(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    // The fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise.
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let tiny = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    d = if d.abs() < tiny { tiny } else { d };
    d = 1.0 / d;
    let mut h = d;
    for m in 1..10_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < tiny { tiny } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < tiny { tiny } else { c };
        d = 1.0 / d;
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// P(X ≥ k) for a negative binomial with mean `mean` and size `size`
/// (variance mean + mean²/size): I_{1−p}(k, size) with p = size / (size + mean).
pub fn negbin_upper_tail(k: u64, mean: f64, size: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if mean <= 0.0 {
        return 0.0;
    }
    let p = size / (size + mean);
    beta_inc(k as f64, size, 1.0 - p).clamp(0.0, 1.0)
}

/// Wilson score interval for `num` successes of `den` trials at normal quantile `z`.
pub fn wilson(num: f64, den: f64, z: f64) -> Option<(f64, f64)> {
    if den <= 0.0 {
        return None;
    }
    let p = num / den;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * den)) / (1.0 + z2 / den);
    let half = z / (1.0 + z2 / den) * (p * (1.0 - p) / den + z2 / (4.0 * den * den)).sqrt();
    // At none or all of the trials a bound is exactly 0 or 1 (the centre
    // and the half-width cancel there, but in floating point to 1e-18 or
    // so: units with nothing to show ranked apart by rounding noise).
    let lo = if num <= 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if num >= den {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some((lo, hi))
}

/// SplitMix64: tiny, fast, and good enough to shuffle values for
/// permutation tests; fixed by its seed so results replay exactly.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform integer in 0..n (n > 0), by Lemire's multiply-shift (bias < n/2⁶⁴).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tails_match_reference_values() {
        // scipy.stats.norm.sf
        assert!((normal_sf(0.0) - 0.5).abs() < 1e-16);
        assert!((normal_sf(1.96) - 0.024_997_895_148_220_435).abs() < 1e-15);
        assert!((normal_sf(-1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
        assert!((normal_sf(3.5) / 2.326_290_790_355_250_4e-4 - 1.0).abs() < 1e-12);
        assert!((normal_sf(6.0) / 9.865_876_450_376_982e-10 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn poisson_tails_match_direct_sums() {
        for &(k, lambda) in &[(1u64, 0.5f64), (3, 1.2), (10, 4.0), (25, 20.0), (40, 12.5)] {
            let mut below = 0.0;
            let mut term = (-lambda).exp();
            for i in 0..k {
                below += term;
                term *= lambda / (i + 1) as f64;
            }
            let want = 1.0 - below;
            assert!(
                (poisson_upper_tail(k, lambda) - want).abs() < 1e-12,
                "{k} {lambda}"
            );
        }
        assert_eq!(poisson_upper_tail(0, 3.0), 1.0);
    }

    #[test]
    fn negative_binomial_tails_match_direct_sums() {
        for &(k, mean, size) in &[
            (1u64, 0.5f64, 2.0f64),
            (5, 2.0, 1.5),
            (12, 4.0, 3.0),
            (30, 10.0, 5.0),
        ] {
            let p = size / (size + mean);
            // pmf(0) = p^r; pmf(i+1) = pmf(i) · (i + r) / (i + 1) · (1 − p)
            let mut term = p.powf(size);
            let mut below = 0.0;
            for i in 0..k {
                below += term;
                term *= (i as f64 + size) / (i as f64 + 1.0) * (1.0 - p);
            }
            assert!(
                (negbin_upper_tail(k, mean, size) - (1.0 - below)).abs() < 1e-12,
                "{k} {mean} {size}"
            );
        }
        // A huge size is the Poisson limit.
        assert!((negbin_upper_tail(6, 2.0, 1e9) - poisson_upper_tail(6, 2.0)).abs() < 1e-7);
    }

    #[test]
    fn wilson_bounds_are_exact_at_none_and_all() {
        // Trials where the cancellation leaves noise (1.7e-18 at 17 of them).
        for den in 1..400 {
            let den = f64::from(den);
            assert_eq!(
                wilson(0.0, den, 1.959_963_984_540_054).unwrap().0,
                0.0,
                "{den}"
            );
            assert_eq!(
                wilson(den, den, 1.959_963_984_540_054).unwrap().1,
                1.0,
                "{den}"
            );
        }
    }

    #[test]
    fn wilson_interval_of_one_of_one_is_wide() {
        let (lo, hi) = wilson(1.0, 1.0, 1.959_963_984_540_054).unwrap();
        assert!((lo - 0.206_549_314_536_459_7).abs() < 1e-9, "{lo}");
        assert!((hi - 1.0).abs() < 1e-12);
        assert_eq!(wilson(0.0, 0.0, 1.96), None);
    }

    const Z95: f64 = 1.959_963_984_540_054;

    #[test]
    fn exact_poisson_intervals_match_published_garwood_values() {
        // x = 0: P(X = 0 | μ) = e^(−μ) = 0.025 at the upper end, so μ = −ln 0.025.
        let (lo, hi) = poisson_exact(0.0, Z95).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.025_f64.ln().abs()).abs() < 1e-12, "{hi}");
        assert!((hi - 3.689).abs() < 5e-4);
        // x = 1: P(X ≥ 1 | μ) = 1 − e^(−μ) = 0.025 at the lower end, so μ = −ln 0.975;
        // the upper end solves e^(−μ)(1 + μ) = 0.025.
        let (lo, hi) = poisson_exact(1.0, Z95).unwrap();
        assert!((lo + 0.975_f64.ln()).abs() < 1e-12, "{lo}");
        assert!(((-hi).exp() * (1.0 + hi) - 0.025).abs() < 1e-13, "{hi}");
        assert!((lo - 0.0253).abs() < 5e-5 && (hi - 5.572).abs() < 5e-4);
        // x = 10: 4.795–18.390 in the published tables (χ² quantiles / 2).
        let (lo, hi) = poisson_exact(10.0, Z95).unwrap();
        assert!((lo - 4.795_388_696_132_434).abs() < 1e-9, "{lo}");
        assert!((hi - 18.390_356_042_017_78).abs() < 1e-9, "{hi}");
        assert_eq!(poisson_exact(-1.0, Z95), None);
    }

    #[test]
    fn exact_poisson_intervals_hold_for_large_counts() {
        // χ² quantiles / 2 from scipy.stats.chi2.ppf.
        for &(x, lo_want, hi_want) in &[
            (100.0, 81.363_991_250_923_14, 121.626_793_792_426_38),
            (1000.0, 938.973_018_407_695_2, 1_063.952_136_016_302),
            (1e6, 998_040.983_340_293_9, 1_001_961.911_945_432_2),
        ] {
            let (lo, hi) = poisson_exact(x, Z95).unwrap();
            assert!((lo / lo_want - 1.0).abs() < 1e-9, "{x}: {lo}");
            assert!((hi / hi_want - 1.0).abs() < 1e-9, "{x}: {hi}");
        }
        // Beyond the exact range Byar's approximation takes over, continuously.
        let (lo, hi) = poisson_exact(1e6 + 1.0, Z95).unwrap();
        assert!((lo / 998_041.982_360_312 - 1.0).abs() < 1e-9, "{lo}");
        assert!((hi / 1_001_962.912_925_413_6 - 1.0).abs() < 1e-9, "{hi}");
    }

    #[test]
    fn the_gamma_quantile_inverts_the_lower_gamma() {
        for &(a, p) in &[
            (0.5, 0.3),
            (1.0, 0.025),
            (3.0, 0.975),
            (40.0, 0.5),
            (2500.0, 1e-6),
        ] {
            let x = gamma_p_inv(a, p);
            assert!(
                (gamma_p(a, x) - p).abs() < 1e-12 * p.max(1e-3),
                "{a} {p}: {x}"
            );
        }
        assert_eq!(gamma_p_inv(2.0, 0.0), 0.0);
    }

    #[test]
    fn the_generator_replays_from_its_seed() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut v: Vec<u32> = (0..10).collect();
        a.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }
}
