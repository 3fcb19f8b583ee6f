//! Emerging hot spots (时空热点趋势): which units are becoming hot spots, not
//! only which are hot in one window.
//!
//! The method is ArcGIS's Emerging Hot Spot Analysis as R
//! `sfdep::emerging_hotspot_analysis` implements it openly, and this module
//! follows sfdep so that its numbers can be checked:
//!
//! 1. A space-time cube: every unit × every period (local day, ISO week or
//!    month, clipped to the window) of a catalogue count metric, zero-filled
//!    ([`cube`]).
//! 2. Gi* per bin over its space-time neighbourhood: the unit's contiguity
//!    neighbours and the unit itself, in the same period and the `lag`
//!    previous ones (default 1), with sfdep's weights (row-standardised
//!    over the neighbourhood of one period, repeated for each lag: W_i is
//!    the number of periods present, S1_i = W_i / neighbourhood size) and the
//!    mean and standard deviation of the bin's own period (n = units), via
//!    the same Getis-Ord z as [`super::hotspots`].
//! 3. p of each bin: sfdep's conditional permutation (default 199 draws,
//!    seeded per bin so the result does not depend on threads): the bin
//!    keeps its value and weights and its neighbours are drawn without
//!    replacement from every other bin of the cube; p = (min(#{z ≥ z_sim},
//!    #{z ≤ z_sim}) + 1) / (draws + 1). With 0 permutations, the analytic
//!    one-sided p = P(Z > |z|) (esda's convention). A bin is significant when
//!    p ≤ α (default 0.01, sfdep's threshold), or with `fdr` when its
//!    Benjamini-Hochberg q over all bins is.
//! 4. The Mann-Kendall test of each unit's z series ([`mann_kendall`]).
//! 5. One of seventeen categories per unit ([`classify`]).
//!
//! Where this differs from sfdep: a period whose values are all equal has
//! Gi* 0 and p 1 in every bin (sfdep divides by zero and gets NaN); the
//! random draws are ours, so permutation p-values agree with R's in
//! distribution, not digit for digit.
//!
//! # sfdep's rules and ArcGIS's wording
//!
//! [`Rules::Sfdep`] (the default) is sfdep's `classify_hotspot`, rule for
//! rule, first match wins in its order: new hot, new cold, consecutive hot,
//! consecutive cold, intensifying hot, intensifying cold, persistent hot,
//! persistent cold, diminishing hot, diminishing cold, oscillating hot,
//! oscillating cold, historical hot, historical cold, sporadic hot, sporadic
//! cold, no pattern. [`Rules::Arcgis`] follows the published definitions.
//! They differ where sfdep's code departs from the wording:
//!
//! - **Persistent vs historical.** sfdep's persistent hot spot is ≥ 90 % hot
//!   bins with no significant trend, whatever the last period: hot in 9 of
//!   10 periods and not in the last is *persistent* under sfdep, *historical*
//!   under ArcGIS ("the most recent time period is not hot"). sfdep's
//!   historical hot spot needs the last z to be negative; with a positive
//!   but not significant last z and a significant trend it finds no pattern.
//! - **New and consecutive count bins of either sign.** sfdep's new hot spot
//!   is the only significant bin of the series, and its consecutive hot spot
//!   is a final run of significant bins (of either sign) with no significant
//!   bin before it. ArcGIS asks only that the unit was never a *hot* spot
//!   before. So a first hot bin after a cold one is *oscillating* under
//!   sfdep and *new* under ArcGIS, and a unit hot for nine periods and
//!   significantly cold in the tenth is a *consecutive cold spot* under
//!   sfdep (the final run is all ten bins) and a *new cold spot* under ArcGIS.
//! - **Intensifying hot counts significant bins of either sign.** A unit
//!   significantly cold in ≥ 90 % of periods, including the last, whose z
//!   rises significantly is an *intensifying hot spot* under sfdep (that
//!   rule comes first) and a *diminishing cold spot* under ArcGIS; sfdep
//!   reports a diminishing cold spot only when the trend's p equals α.
//! - **Diminishing hot needs only a significant last bin** in sfdep, not a
//!   hot one: ≥ 90 % hot, a significant fall and a significantly cold last
//!   bin (after a quiet one) is *diminishing hot* under sfdep and *new cold*
//!   under ArcGIS.
//! - **Sporadic** in sfdep is any on-and-off hot history without cold bins,
//!   whatever the last period; ArcGIS's sporadic hot spot is hot in the last
//!   period.
//! - **Thresholds.** sfdep's intensifying needs trend p < α, diminishing and
//!   intensifying cold p ≤ α, persistent p > α (at p = α exactly a hot unit
//!   with a rising trend matches nothing); its oscillating hot spot allows
//!   ≤ 90 % hot bins, its oscillating cold spot < 90 %. ArcGIS: the trend is
//!   significant when p ≤ α, "less than 90 percent" throughout.
//!
//! The ArcGIS wording leaves overlaps open (a first hot bin after cold ones
//! is both "new" and "oscillating"); we settle them in the published order,
//! and a category about the last period before a historical one.

mod classify;
mod mann_kendall;

use rayon::prelude::*;
use serde::Serialize;

pub use classify::{classify, Category, Rules};
pub use mann_kendall::{mann_kendall, Trend};

use super::catalogue::MetricDef;
use super::filter::Query;
use super::hotspots::{benjamini_hochberg, gi_z};
use super::periods::{self, Granularity, Period};
use super::preagg::PreAgg;
use super::spark::values_by_period;
use super::stats::{normal_sf, SplitMix64};
use super::weights::Weights;
use super::AnalyticsError;
use crate::grid::GridModel;

/// Previous periods in a bin's neighbourhood (sfdep's `k`).
pub const DEFAULT_LAG: usize = 1;
/// Permutations of the pseudo p-values (sfdep's `nsim`).
pub const DEFAULT_PERMUTATIONS: usize = 199;
/// Significance level of bins and of the trend (sfdep's `threshold`).
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Most periods a cube may have (two years of days and then some).
pub const MAX_PERIODS: usize = 800;

/// Options of the analysis.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Params {
    /// Previous periods in each bin's neighbourhood.
    pub lag: usize,
    /// Permutations for pseudo p-values; 0 = analytic p.
    pub permutations: usize,
    /// Seed of the permutations.
    pub seed: u64,
    /// Significance level of bins and trends.
    pub alpha: f64,
    /// Judge bins by their Benjamini-Hochberg q instead of p.
    pub fdr: bool,
    /// Classification rules.
    pub rules: Rules,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            lag: DEFAULT_LAG,
            permutations: DEFAULT_PERMUTATIONS,
            seed: 12345,
            alpha: DEFAULT_ALPHA,
            fdr: false,
            rules: Rules::Sfdep,
        }
    }
}

/// Units × periods of one count metric.
#[derive(Debug, Clone, Serialize)]
pub struct Cube {
    /// The periods, oldest first.
    pub periods: Vec<Period>,
    /// Unit codes.
    pub codes: Vec<String>,
    /// Values, period-major: `values[t * codes.len() + i]`.
    pub values: Vec<f64>,
}

/// The cube of count metric `def` for `units` (model indices of tier
/// `level`) over the query's window (the data's days for an open window),
/// cut into periods of `g`; a period without events is 0.
#[allow(clippy::too_many_arguments)]
pub fn cube(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    units: &[usize],
    def: &MetricDef,
    q: &Query,
    g: Granularity,
) -> Result<Cube, AnalyticsError> {
    if !def.is_count {
        return Err(AnalyticsError::BadParameter {
            name: "metric",
            reason: format!(
                "{} is not a count; emerging hot spots need a count metric such as issue_count",
                def.name
            ),
        });
    }
    q.validate()?;
    let data_days = pre.day_range()?;
    let Some((from, to)) = periods::window(q, data_days) else {
        return Err(AnalyticsError::BadWindow {
            reason: "no events and no window: nothing to cut into periods".into(),
        });
    };
    let periods = periods::calendar(g, from, to);
    if periods.len() < 2 || periods.len() > MAX_PERIODS {
        return Err(AnalyticsError::BadWindow {
            reason: format!(
                "{} periods; emerging hot spots need 2 to {MAX_PERIODS}",
                periods.len()
            ),
        });
    }
    let by_unit = values_by_period(pre, data_days, gm, level, units, def, q, &periods)?;
    let n = units.len();
    let mut values = vec![0.0; n * periods.len()];
    for (i, row) in by_unit.iter().enumerate() {
        for (t, v) in row.iter().enumerate() {
            values[t * n + i] = v.unwrap_or(0.0);
        }
    }
    Ok(Cube {
        periods,
        codes: units.iter().map(|&i| gm.unit(i).code.clone()).collect(),
        values,
    })
}

/// One unit's result.
#[derive(Debug, Clone, Serialize)]
pub struct UnitEmerging {
    /// Unit code.
    pub code: String,
    /// Its category.
    pub category: Category,
    /// Mann-Kendall τ of its Gi* z series.
    pub tau: f64,
    /// Two-sided p of that trend.
    pub p: f64,
    /// The metric per period (the cube's row).
    pub values: Vec<f64>,
    /// Gi* z per period.
    pub z: Vec<f64>,
    /// p per period (permutation, or analytic without permutations).
    pub p_bins: Vec<f64>,
    /// Whether each period's bin was significant (p, or q with FDR, ≤ α).
    pub significant: Vec<bool>,
}

/// Everything the analysis reports.
#[derive(Debug, Clone, Serialize)]
pub struct EmergingReport {
    /// Periods, oldest first.
    pub periods: Vec<Period>,
    /// Per unit, in the cube's order.
    pub units: Vec<UnitEmerging>,
    /// Options used.
    pub params: Params,
    /// Units without contiguity neighbours (their neighbourhood is themselves).
    pub islands: Vec<String>,
}

/// Gi* z and p of every bin of `cube` with contiguity `w` (binary, one
/// entry per unit of the cube): `(z, p)` in the cube's order.
pub fn space_time_gi(
    cube: &Cube,
    w: &Weights,
    lag: usize,
    permutations: usize,
    seed: u64,
) -> Result<(Vec<f64>, Vec<f64>), AnalyticsError> {
    let n = cube.codes.len();
    if w.n() != n || cube.values.len() != n * cube.periods.len() {
        return Err(AnalyticsError::Shape {
            reason: format!(
                "{} units of weights, {} codes, {} values for {} periods",
                w.n(),
                n,
                cube.values.len(),
                cube.periods.len()
            ),
        });
    }
    if n < 3 {
        return Err(AnalyticsError::Shape {
            reason: format!("{n} units; at least 3 are needed"),
        });
    }
    if cube.values.iter().any(|v| !v.is_finite()) {
        return Err(AnalyticsError::Shape {
            reason: "values must be finite".into(),
        });
    }
    // Each unit's neighbourhood with itself, as sfdep's include_self.
    let hood: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let mut h = w.neighbours[i].clone();
            h.push(i);
            h.sort_unstable();
            h
        })
        .collect();
    let slices: Vec<(f64, f64)> = cube
        .values
        .chunks(n)
        .map(|x| {
            let mean = x.iter().sum::<f64>() / n as f64;
            let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            (mean, var.sqrt())
        })
        .collect();
    let x = &cube.values;
    let total = x.len();
    let bin = |b: usize| -> (f64, f64) {
        let (t, i) = (b / n, b % n);
        let (mean, sd) = slices[t];
        let periods = t.min(lag) + 1;
        let wij = 1.0 / hood[i].len() as f64;
        let card = periods * hood[i].len();
        let (wi, s1i) = (card as f64 * wij, card as f64 * wij * wij);
        let sum: f64 = (0..periods)
            .flat_map(|l| hood[i].iter().map(move |&j| x[(t - l) * n + j]))
            .sum();
        let z = gi_z(wij * sum, wi, s1i, mean, sd, n as f64);
        if permutations == 0 {
            return (z, normal_sf(z.abs()));
        }
        // Neighbours drawn without replacement from every other bin.
        let mut rng = SplitMix64::new(seed ^ (b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut drawn: Vec<usize> = Vec::with_capacity(card);
        let (mut ge, mut le) = (0usize, 0usize);
        for _ in 0..permutations {
            drawn.clear();
            let mut s = 0.0;
            while drawn.len() < card.min(total - 1) {
                let r = rng.below(total - 1);
                let j = if r >= b { r + 1 } else { r };
                if !drawn.contains(&j) {
                    drawn.push(j);
                    s += x[j];
                }
            }
            let zs = gi_z(wij * s, wi, s1i, mean, sd, n as f64);
            ge += usize::from(z >= zs);
            le += usize::from(z <= zs);
        }
        (z, (ge.min(le) + 1) as f64 / (permutations + 1) as f64)
    };
    Ok((0..total).into_par_iter().map(bin).unzip())
}

/// Gi*, trends and categories of a cube.
pub fn analyse(cube: &Cube, w: &Weights, params: Params) -> Result<EmergingReport, AnalyticsError> {
    if !(params.alpha > 0.0 && params.alpha < 1.0) {
        return Err(AnalyticsError::BadParameter {
            name: "alpha",
            reason: format!("{} is not in (0, 1)", params.alpha),
        });
    }
    let (z, p) = space_time_gi(cube, w, params.lag, params.permutations, params.seed)?;
    let judged = if params.fdr {
        benjamini_hochberg(&p)
    } else {
        p.clone()
    };
    let n = cube.codes.len();
    let periods = cube.periods.len();
    let units = (0..n)
        .into_par_iter()
        .map(|i| {
            let series = |v: &[f64]| (0..periods).map(|t| v[t * n + i]).collect::<Vec<_>>();
            let zs = series(&z);
            let significant: Vec<bool> =
                series(&judged).iter().map(|&q| q <= params.alpha).collect();
            let trend = mann_kendall(&zs);
            UnitEmerging {
                code: cube.codes[i].clone(),
                category: classify(&zs, &significant, &trend, params.alpha, params.rules),
                tau: trend.tau,
                p: trend.p,
                values: series(&cube.values),
                p_bins: series(&p),
                z: zs,
                significant,
            }
        })
        .collect();
    Ok(EmergingReport {
        periods: cube.periods.clone(),
        units,
        params,
        islands: w
            .islands()
            .into_iter()
            .map(|i| cube.codes[i].clone())
            .collect(),
    })
}

/// Each unit's category, trend τ and Mann-Kendall p, by unit index.
pub type Categories = std::collections::HashMap<usize, (Category, f64, f64)>;

/// Each unit's category, trend τ and p by unit index, by month over the
/// window `q` with the default [`Params`]: the categories column of a
/// metric table. Too few units or periods for a statistic give none.
#[allow(clippy::too_many_arguments)]
pub fn categories(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    units: &[usize],
    def: &MetricDef,
    q: &Query,
    w: &Weights,
) -> Result<Categories, AnalyticsError> {
    match run(
        pre,
        gm,
        level,
        units,
        def,
        q,
        Granularity::Month,
        w,
        Params::default(),
    ) {
        Ok(r) => Ok(r
            .units
            .into_iter()
            .filter_map(|u| Some((gm.index_of(&u.code)?, (u.category, u.tau, u.p))))
            .collect()),
        Err(AnalyticsError::Shape { .. }) => Ok(Default::default()),
        Err(e) => Err(e),
    }
}

/// The analysis of count metric `def` over `units` of tier `level`, the
/// query's window cut into periods of `g`, with contiguity `w` among the
/// units (in the same order): what the CLI and the API call.
#[allow(clippy::too_many_arguments)]
pub fn run(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    units: &[usize],
    def: &MetricDef,
    q: &Query,
    g: Granularity,
    w: &Weights,
    params: Params,
) -> Result<EmergingReport, AnalyticsError> {
    let c = cube(pre, gm, level, units, def, q, g)?;
    analyse(&c, w, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// A side × side queen lattice.
    fn lattice(side: usize) -> Weights {
        let mut ns = vec![Vec::new(); side * side];
        for r in 0..side {
            for c in 0..side {
                for (dr, dc) in [(0i64, 1i64), (1, -1), (1, 0), (1, 1)] {
                    let (r2, c2) = (r as i64 + dr, c as i64 + dc);
                    if r2 >= 0 && c2 >= 0 && (r2 as usize) < side && (c2 as usize) < side {
                        ns[r * side + c].push(r2 as usize * side + c2 as usize);
                    }
                }
            }
        }
        Weights::from_neighbours(ns)
    }

    fn cube_of(periods: usize, n: usize, f: impl Fn(usize, usize) -> f64) -> Cube {
        let d = |k: usize| {
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(k as i64)
        };
        Cube {
            periods: (0..periods)
                .map(|t| Period {
                    label: format!("p{t}"),
                    from: d(t),
                    to: d(t + 1),
                })
                .collect(),
            codes: (0..n).map(|i| format!("U{i:02}")).collect(),
            values: (0..periods * n).map(|b| f(b / n, b % n)).collect(),
        }
    }

    #[test]
    fn a_period_of_equal_values_has_gi_zero_and_no_significance() {
        let w = lattice(3);
        let c = cube_of(3, 9, |t, i| if t == 1 { 4.0 } else { (i % 4) as f64 });
        let (z, p) = space_time_gi(&c, &w, 0, 0, 0).unwrap();
        assert!(z[9..18].iter().all(|&z| z == 0.0));
        assert!(p[9..18].iter().all(|&p| p == 0.5));
        let (z, p) = space_time_gi(&c, &w, 0, 19, 3).unwrap();
        assert!(z[9..18].iter().all(|&z| z == 0.0));
        assert!(p[9..18].iter().all(|&p| p == 1.0), "{p:?}");
    }

    #[test]
    fn gi_of_a_lattice_bin_matches_the_formula() {
        // 5×5 lattice, 3 periods: check the centre unit in period 2 by hand.
        let w = lattice(5);
        let c = cube_of(3, 25, |t, i| ((i * 7 + t * 3) % 11) as f64);
        let (z, _) = space_time_gi(&c, &w, 1, 0, 0).unwrap();
        let (t, i, n) = (2usize, 12usize, 25usize);
        let slice = &c.values[t * n..(t + 1) * n];
        let mean = slice.iter().sum::<f64>() / 25.0;
        let sd = (slice.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 25.0).sqrt();
        let hood = [6, 7, 8, 11, 12, 13, 16, 17, 18];
        let v = &c.values;
        let sum: f64 = [t, t - 1]
            .iter()
            .flat_map(|&p| hood.iter().map(move |&j| v[p * n + j]))
            .sum();
        let (wij, wi, s1) = (1.0 / 9.0, 2.0, 18.0 / 81.0);
        let want = (wij * sum - mean * wi) / (sd * ((25.0 * s1 - wi * wi) / 24.0f64).sqrt());
        assert!(
            (z[t * n + i] - want).abs() < 1e-12,
            "{} vs {want}",
            z[t * n + i]
        );
    }

    #[test]
    fn a_growing_cluster_is_an_emerging_hot_spot_and_the_rest_is_quiet() {
        // 6×6 lattice, 12 periods; the 2×2 corner block is quiet for eight
        // periods and then far above everything else for the last four.
        let w = lattice(6);
        let corner = |i: usize| i % 6 < 2 && i / 6 < 2;
        let c = cube_of(12, 36, |t, i| {
            let base = ((i * 5 + t * 3) % 4) as f64;
            if corner(i) && t >= 8 {
                base + 40.0
            } else {
                base
            }
        });
        let params = Params {
            permutations: 199,
            ..Params::default()
        };
        let r = analyse(&c, &w, params).unwrap();
        let zero = &r.units[0];
        assert!(zero.significant[8..].iter().all(|&s| s), "{zero:?}");
        assert!(zero.z[11] > 3.0);
        assert_eq!(zero.category, Category::ConsecutiveHotSpot, "{zero:?}");
        let far = &r.units[35];
        assert!(far.significant.iter().all(|&s| !s), "{far:?}");
        assert_eq!(far.category, Category::NoPattern);
        // Seeded: the same report twice.
        let again = analyse(&c, &w, params).unwrap();
        assert_eq!(
            r.units.iter().map(|u| u.p_bins.clone()).collect::<Vec<_>>(),
            again
                .units
                .iter()
                .map(|u| u.p_bins.clone())
                .collect::<Vec<_>>()
        );
        // Analytic p without permutations, and FDR never finds more.
        let analytic = analyse(
            &c,
            &w,
            Params {
                permutations: 0,
                ..params
            },
        )
        .unwrap();
        assert!((analytic.units[0].p_bins[11] - normal_sf(analytic.units[0].z[11])).abs() < 1e-15);
        let fdr = analyse(
            &c,
            &w,
            Params {
                fdr: true,
                ..params
            },
        )
        .unwrap();
        let count = |r: &EmergingReport| {
            r.units
                .iter()
                .flat_map(|u| &u.significant)
                .filter(|&&s| s)
                .count()
        };
        assert!(count(&fdr) <= count(&r));
    }

    #[test]
    fn permutation_p_values_are_in_range_and_bad_inputs_are_errors() {
        let w = lattice(4);
        let c = cube_of(4, 16, |t, i| ((i + t) % 5) as f64);
        let (_, p) = space_time_gi(&c, &w, 2, 19, 7).unwrap();
        assert!(p.iter().all(|&p| (0.05..=1.0).contains(&p)), "{p:?}");
        assert!(space_time_gi(&c, &lattice(3), 1, 0, 0).is_err());
        let bad = Params {
            alpha: 0.0,
            ..Params::default()
        };
        assert!(analyse(&c, &w, bad).is_err());
    }
}
