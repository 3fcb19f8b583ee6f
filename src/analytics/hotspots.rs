//! Hot spots: global Moran's I, Getis-Ord Gi*, Local Moran quadrants and
//! false-discovery-rate control, plain Rust over slices.
//!
//! The formulas follow PySAL `esda` 2.x exactly, so analysts can check any
//! number against the reference implementation (a test does, to 1e-9):
//! Moran's I uses the weights as given (esda row-standardises by default,
//! so callers pass [`Transform::Row`] weights to
//! match), with the analytic variance under normality and randomisation and
//! a two-sided p; Gi* is the textbook Getis-Ord (1995) z with binary weights
//! and the unit itself included (esda `G_Local(y, w, transform='B',
//! star=True)`), with esda's one-sided p = P(Z > |z|). Permutation p-values
//! use a seeded generator so a report can be reproduced.

use serde::Serialize;

use super::stats::{normal_sf, SplitMix64};
use super::weights::{Transform, Weights};
use super::AnalyticsError;

/// Global Moran's I and its inference.
#[derive(Debug, Clone, Serialize)]
pub struct MoranGlobal {
    /// Number of units.
    pub n: usize,
    /// I = n / S0 · Σ_ij w_ij z_i z_j / Σ_i z_i².
    pub i: f64,
    /// E(I) = −1 / (n − 1).
    pub expected: f64,
    /// Var(I) under normality.
    pub variance_norm: f64,
    /// (I − E(I)) / √Var_norm.
    pub z_norm: f64,
    /// Two-sided p under normality.
    pub p_norm: f64,
    /// Var(I) under randomisation.
    pub variance_rand: f64,
    /// (I − E(I)) / √Var_rand.
    pub z_rand: f64,
    /// Two-sided p under randomisation.
    pub p_rand: f64,
    /// Permutations run (0 = none).
    pub permutations: usize,
    /// Pseudo p-value (folded, as esda): (min(#I_sim ≥ I, perms − that) + 1) / (perms + 1).
    pub p_sim: Option<f64>,
}

fn check(y: &[f64], w: &Weights, min: usize) -> Result<(), AnalyticsError> {
    if y.len() != w.n() {
        return Err(AnalyticsError::Shape {
            reason: format!("{} values for {} units of weights", y.len(), w.n()),
        });
    }
    if y.len() < min {
        return Err(AnalyticsError::Shape {
            reason: format!("{} units; at least {min} are needed", y.len()),
        });
    }
    if y.iter().any(|v| !v.is_finite()) {
        return Err(AnalyticsError::Shape {
            reason: "values must be finite (fill or drop no-data units first)".into(),
        });
    }
    Ok(())
}

fn deviations(y: &[f64]) -> Vec<f64> {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    y.iter().map(|v| v - mean).collect()
}

fn moran_i(z: &[f64], w: &Weights, s0: f64, z2: f64) -> f64 {
    let lag = w.lag(z);
    let cross: f64 = z.iter().zip(&lag).map(|(a, b)| a * b).sum();
    z.len() as f64 / s0 * cross / z2
}

/// Global Moran's I of `y` with weights `w` as given.
pub fn moran(
    y: &[f64],
    w: &Weights,
    permutations: usize,
    seed: u64,
) -> Result<MoranGlobal, AnalyticsError> {
    check(y, w, 4)?;
    let n = y.len() as f64;
    let z = deviations(y);
    let z2: f64 = z.iter().map(|v| v * v).sum();
    let s0 = w.s0();
    if z2 == 0.0 || s0 == 0.0 {
        return Err(AnalyticsError::Shape {
            reason: "constant values or no neighbours: Moran's I is undefined".into(),
        });
    }
    let (s1, s2) = w.s1_s2();
    let i = moran_i(&z, w, s0, z2);
    let ei = -1.0 / (n - 1.0);
    let s02 = s0 * s0;
    let n2 = n * n;
    let variance_norm = (n2 * s1 - n * s2 + 3.0 * s02) / ((n - 1.0) * (n + 1.0) * s02) - ei * ei;
    let k = (z.iter().map(|v| v.powi(4)).sum::<f64>() / n) / (z2 / n).powi(2);
    let a = n * ((n2 - 3.0 * n + 3.0) * s1 - n * s2 + 3.0 * s02);
    let b = k * ((n2 - n) * s1 - 2.0 * n * s2 + 6.0 * s02);
    let variance_rand = (a - b) / ((n - 1.0) * (n - 2.0) * (n - 3.0) * s02) - ei * ei;
    let z_norm = (i - ei) / variance_norm.sqrt();
    let z_rand = (i - ei) / variance_rand.sqrt();
    let two_sided = |z: f64| 2.0 * normal_sf(z.abs());
    let p_sim = (permutations > 0).then(|| {
        let mut rng = SplitMix64::new(seed);
        let mut perm = z.clone();
        let mut above = 0usize;
        for _ in 0..permutations {
            rng.shuffle(&mut perm);
            if moran_i(&perm, w, s0, z2) >= i {
                above += 1;
            }
        }
        let larger = above.min(permutations - above);
        (larger as f64 + 1.0) / (permutations as f64 + 1.0)
    });
    Ok(MoranGlobal {
        n: y.len(),
        i,
        expected: ei,
        variance_norm,
        z_norm,
        p_norm: two_sided(z_norm),
        variance_rand,
        z_rand,
        p_rand: two_sided(z_rand),
        permutations,
        p_sim,
    })
}

/// Gi* of one unit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct GiStar {
    /// Standardised Gi* (textbook z).
    pub z: f64,
    /// One-sided p = P(Z > |z|), as esda reports `p_norm`.
    pub p: f64,
}

/// Getis-Ord Gi* with binary weights and the unit itself included:
///
/// Gi* = (Σ_j w_ij x_j − x̄ W_i) / (S √((n S1_i − W_i²) / (n − 1))),
/// with W_i = Σ_j w_ij, S1_i = Σ_j w_ij², x̄ and S the mean and (population)
/// standard deviation of all values, and w_ii = 1.
pub fn getis_ord_gi_star(y: &[f64], w: &Weights) -> Result<Vec<GiStar>, AnalyticsError> {
    check(y, w, 2)?;
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let s = (y.iter().map(|v| v * v).sum::<f64>() / n - mean * mean)
        .max(0.0)
        .sqrt();
    if s == 0.0 {
        return Err(AnalyticsError::Shape {
            reason: "constant values: Gi* is undefined".into(),
        });
    }
    let binary = w.transformed(Transform::Binary);
    Ok((0..y.len())
        .map(|i| {
            let ns = &binary.neighbours[i];
            let wi = ns.len() as f64 + 1.0;
            let lag = y[i] + ns.iter().map(|&j| y[j]).sum::<f64>();
            // Binary weights: S1_i = W_i.
            let z = gi_z(lag, wi, wi, mean, s, n);
            GiStar {
                z,
                p: normal_sf(z.abs()),
            }
        })
        .collect())
}

/// The Getis-Ord z of one unit from its weighted sum `lag` = Σ_j w_ij x_j,
/// W_i = Σ_j w_ij and S1_i = Σ_j w_ij², given the mean and (population)
/// standard deviation `s` of the `n` values the neighbours are drawn from:
/// (lag − x̄ W_i) / (s √((n S1_i − W_i²) / (n − 1))), and 0 when the
/// denominator vanishes (constant values, or a unit whose neighbourhood is
/// everything). Shared by the one-window [`getis_ord_gi_star`] and the
/// space-time bins of [`crate::analytics::emerging`].
pub(crate) fn gi_z(lag: f64, wi: f64, s1i: f64, mean: f64, s: f64, n: f64) -> f64 {
    let den = s * ((n * s1i - wi * wi) / (n - 1.0)).max(0.0).sqrt();
    if den > 0.0 {
        (lag - mean * wi) / den
    } else {
        0.0
    }
}

/// Local Moran scatter-plot quadrant: value high/low, neighbours high/low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Quadrant {
    /// High value among high neighbours (hot cluster).
    HH,
    /// Low value among high neighbours (cold outlier).
    LH,
    /// Low value among low neighbours (cold cluster).
    LL,
    /// High value among low neighbours (hot outlier).
    HL,
}

/// Local Moran of one unit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LocalMoran {
    /// I_i = (n − 1) z_i Σ_j w_ij z_j / Σ_k z_k².
    pub i: f64,
    /// Quadrant; a deviation of exactly 0 counts as low, as in esda.
    pub quadrant: Quadrant,
    /// Folded conditional-permutation pseudo p (None without permutations).
    pub p_sim: Option<f64>,
}

/// Local Moran's I with row-standardised weights (esda `Moran_Local` default).
pub fn local_moran(
    y: &[f64],
    w: &Weights,
    permutations: usize,
    seed: u64,
) -> Result<Vec<LocalMoran>, AnalyticsError> {
    check(y, w, 3)?;
    let w = w.transformed(Transform::Row);
    let z = deviations(y);
    let den: f64 = z.iter().map(|v| v * v).sum();
    if den == 0.0 {
        return Err(AnalyticsError::Shape {
            reason: "constant values: Local Moran is undefined".into(),
        });
    }
    let n1 = y.len() as f64 - 1.0;
    let lag = w.lag(&z);
    let mut rng = SplitMix64::new(seed);
    Ok((0..y.len())
        .map(|i| {
            let li = n1 * z[i] * lag[i] / den;
            let quadrant = match (z[i] > 0.0, lag[i] > 0.0) {
                (true, true) => Quadrant::HH,
                (false, true) => Quadrant::LH,
                (false, false) => Quadrant::LL,
                (true, false) => Quadrant::HL,
            };
            let k = w.neighbours[i].len();
            let p_sim = (permutations > 0 && k > 0).then(|| {
                // Conditional randomisation: z_i stays, its neighbours are
                // drawn without replacement from the other units.
                let mut others: Vec<f64> = z
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, v)| *v)
                    .collect();
                let wk = 1.0 / k as f64;
                let mut above = 0usize;
                for _ in 0..permutations {
                    for t in 0..k {
                        let j = t + rng.below(others.len() - t);
                        others.swap(t, j);
                    }
                    let sim_lag: f64 = others[..k].iter().sum::<f64>() * wk;
                    if n1 * z[i] * sim_lag / den >= li {
                        above += 1;
                    }
                }
                let larger = above.min(permutations - above);
                (larger as f64 + 1.0) / (permutations as f64 + 1.0)
            });
            LocalMoran {
                i: li,
                quadrant,
                p_sim,
            }
        })
        .collect())
}

/// Benjamini-Hochberg adjusted p-values (q-values), in input order.
///
/// q_(k) = min over j ≥ k of p_(j) · m / j, capped at 1; a unit is a
/// discovery at false-discovery rate α when its q ≤ α.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].partial_cmp(&p[b]).unwrap_or(std::cmp::Ordering::Equal));
    let mut q = vec![1.0; m];
    let mut running = 1.0f64;
    for (rank, &i) in order.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// Hot-spot class of a unit after FDR control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HotClass {
    /// Significantly high Gi* (热点).
    Hot,
    /// Significantly low Gi* (冷点).
    Cold,
    /// Not significant at the chosen FDR.
    NotSignificant,
}

impl HotClass {
    /// The class of a unit whose Gi* is `z`, with BH q-value `q` of its
    /// two-sided p, at false-discovery rate `fdr`.
    pub fn of(z: f64, q: f64, fdr: f64) -> HotClass {
        match (q <= fdr, z > 0.0) {
            (true, true) => HotClass::Hot,
            (true, false) => HotClass::Cold,
            _ => HotClass::NotSignificant,
        }
    }
}

/// FDR levels the map grades hot and cold spots by, strictest first.
pub const GRADES: [(f64, &str, &str); 3] = [
    (0.01, "hot99", "cold99"),
    (0.05, "hot95", "cold95"),
    (0.10, "hot90", "cold90"),
];

/// The map's grade of a unit: [`HotClass::of`] at the strictest FDR of
/// [`GRADES`] that holds it (`hot99`, `hot95`, `hot90`, `cold…`), `ns`
/// where none does. The units `wangge hotspots` classes hot or cold at an
/// FDR of 0.05 are exactly those graded 99 or 95.
pub fn grade(z: f64, q: f64) -> &'static str {
    GRADES
        .iter()
        .find_map(|&(fdr, hot, cold)| match HotClass::of(z, q, fdr) {
            HotClass::Hot => Some(hot),
            HotClass::Cold => Some(cold),
            HotClass::NotSignificant => None,
        })
        .unwrap_or("ns")
}

/// Hot-spot statistics of one unit.
#[derive(Debug, Clone, Serialize)]
pub struct UnitHotspot {
    /// Unit code.
    pub code: String,
    /// Value analysed.
    pub value: f64,
    /// Gi* z and one-sided p.
    pub gi: GiStar,
    /// BH q-value of the two-sided Gi* p (2·p).
    pub gi_q: f64,
    /// Hot, cold or neither at the report's FDR.
    pub class: HotClass,
    /// Local Moran.
    pub local: LocalMoran,
    /// BH q-value of the Local Moran pseudo p.
    pub local_q: Option<f64>,
}

/// Everything `wangge hotspots` reports.
#[derive(Debug, Clone, Serialize)]
pub struct HotspotReport {
    /// Global Moran's I on row-standardised weights.
    pub moran: MoranGlobal,
    /// Per-unit statistics, in input order.
    pub units: Vec<UnitHotspot>,
    /// False-discovery rate used for classes.
    pub fdr: f64,
    /// Units without neighbours (their local statistics carry no information).
    pub islands: Vec<String>,
}

/// Runs every hot-spot statistic on one vector of values.
pub fn analyse(
    codes: &[String],
    y: &[f64],
    w: &Weights,
    permutations: usize,
    seed: u64,
    fdr: f64,
) -> Result<HotspotReport, AnalyticsError> {
    if codes.len() != y.len() {
        return Err(AnalyticsError::Shape {
            reason: format!("{} codes for {} values", codes.len(), y.len()),
        });
    }
    let moran = moran(y, &w.transformed(Transform::Row), permutations, seed)?;
    let gi = getis_ord_gi_star(y, w)?;
    let local = local_moran(y, w, permutations, seed.wrapping_add(1))?;
    let gi_q = benjamini_hochberg(&gi.iter().map(|g| (2.0 * g.p).min(1.0)).collect::<Vec<_>>());
    let local_q = (permutations > 0).then(|| {
        benjamini_hochberg(
            &local
                .iter()
                .map(|l| l.p_sim.unwrap_or(1.0))
                .collect::<Vec<_>>(),
        )
    });
    let units = (0..y.len())
        .map(|i| UnitHotspot {
            code: codes[i].clone(),
            value: y[i],
            gi: gi[i],
            gi_q: gi_q[i],
            class: HotClass::of(gi[i].z, gi_q[i], fdr),
            local: local[i],
            local_q: local_q.as_ref().map(|q| q[i]),
        })
        .collect();
    let islands = w.islands().into_iter().map(|i| codes[i].clone()).collect();
    Ok(HotspotReport {
        moran,
        units,
        fdr,
        islands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4×4 rook-free queen lattice, hand-checkable.
    fn lattice(rows: usize, cols: usize) -> Weights {
        let idx = |r: usize, c: usize| r * cols + c;
        let mut ns = vec![Vec::new(); rows * cols];
        for r in 0..rows {
            for c in 0..cols {
                for (dr, dc) in [(0i64, 1i64), (1, -1), (1, 0), (1, 1)] {
                    let (r2, c2) = (r as i64 + dr, c as i64 + dc);
                    if r2 >= 0 && c2 >= 0 && (r2 as usize) < rows && (c2 as usize) < cols {
                        ns[idx(r, c)].push(idx(r2 as usize, c2 as usize));
                    }
                }
            }
        }
        Weights::from_neighbours(ns)
    }

    #[test]
    fn a_clustered_pattern_has_positive_moran_and_a_hot_corner() {
        let w = lattice(4, 4);
        let y: Vec<f64> = (0..16)
            .map(|i| if i % 4 < 2 && i / 4 < 2 { 10.0 } else { 1.0 })
            .collect();
        let m = moran(&y, &w.transformed(Transform::Row), 99, 1).unwrap();
        assert!(m.i > 0.0 && m.z_norm > 0.0 && m.p_norm < 0.05, "{m:?}");
        assert!((m.expected + 1.0 / 15.0).abs() < 1e-15);
        let p = m.p_sim.unwrap();
        assert!(p > 0.0 && p <= 0.05);
        let gi = getis_ord_gi_star(&y, &w).unwrap();
        assert!(gi[0].z > gi[15].z);
        let lm = local_moran(&y, &w, 0, 1).unwrap();
        assert_eq!(lm[0].quadrant, Quadrant::HH);
        assert_eq!(lm[15].quadrant, Quadrant::LL);
    }

    #[test]
    fn gi_star_matches_a_hand_computation_on_a_chain() {
        // Chain 0-1-2, y = [1, 2, 6]: mean 3, S = sqrt(41/3 - 9).
        let w = Weights::from_neighbours(vec![vec![1], vec![2], vec![]]);
        let gi = getis_ord_gi_star(&[1.0, 2.0, 6.0], &w).unwrap();
        let s = (41.0f64 / 3.0 - 9.0).sqrt();
        // Unit 2: W = 2 (self + 1), lag = 8.
        let want = (8.0 - 3.0 * 2.0) / (s * ((3.0 * 2.0 - 4.0) / 2.0f64).sqrt());
        assert!((gi[2].z - want).abs() < 1e-12);
    }

    #[test]
    fn benjamini_hochberg_matches_the_textbook_example() {
        let q = benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.02, 0.04, 0.04, 0.02];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
    }

    #[test]
    fn constant_values_and_mismatched_lengths_are_errors() {
        let w = lattice(2, 2);
        assert!(moran(&[1.0; 4], &w, 0, 0).is_err());
        assert!(getis_ord_gi_star(&[1.0; 3], &w).is_err());
    }

    #[test]
    fn permutation_p_values_replay_from_the_seed() {
        let w = lattice(3, 3);
        let y = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0];
        let a = local_moran(&y, &w, 199, 42).unwrap();
        let b = local_moran(&y, &w, 199, 42).unwrap();
        assert_eq!(
            a.iter().map(|l| l.p_sim).collect::<Vec<_>>(),
            b.iter().map(|l| l.p_sim).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_map_grades_are_the_fdr_classes_at_each_level() {
        assert_eq!(grade(2.0, 0.01), "hot99");
        assert_eq!(grade(2.0, 0.05), "hot95");
        assert_eq!(grade(-2.0, 0.0501), "cold90");
        assert_eq!(grade(-2.0, 0.2), "ns");
        for q in [0.0, 0.004, 0.01, 0.03, 0.05, 0.07, 0.1, 0.5] {
            for z in [-3.0, 3.0] {
                let hot_at_5 = HotClass::of(z, q, 0.05) != HotClass::NotSignificant;
                assert_eq!(
                    hot_at_5,
                    ["hot99", "hot95", "cold99", "cold95"].contains(&grade(z, q)),
                    "z {z} q {q}"
                );
            }
        }
    }
}
