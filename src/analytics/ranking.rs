//! League tables of the children of a unit (the townships of the county, the
//! villages of a township ...) on a catalogue metric.
//!
//! A raw rate table rewards small numbers: a village with one issue, resolved,
//! shows 100% and tops the county. So rates are ranked on Empirical-Bayes
//! estimates fitted by the method of moments to the units being compared
//! (Marshall 1991), each unit's rate pulled towards the pooled rate in
//! proportion to how little data it has: a beta prior for proportions
//! (beta-binomial) and a gamma prior for counts per exposure such as incidents
//! per 1,000 households (Poisson-gamma). Each row also carries a 95% interval
//! where the metric has one ([`metric_interval`]: Wilson for proportions,
//! exact Poisson for counts and counts per exposure), and units
//! below a minimum volume are listed but not ranked: for proportions the
//! volume is the denominator, for Poisson rates the events expected at the
//! pooled rate. Rank change compares with the same table for the previous
//! period (环比 window), when anything was recorded in it: before the data's
//! first event every count is zero and every unit would tie for first.

use serde::Serialize;

use super::catalogue::{metric, Direction, MetricDef, MetricUnit, Ratio};
use super::filter::{day_number, Query};
use super::ingredients::{Ingredients, UnitContext};
use super::interval::{metric_interval, Z95};
use super::metrics::{ingredients_for, Parts};
use super::preagg::PreAgg;
use super::AnalyticsError;
use crate::grid::GridModel;

/// Ranking options.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RankParams {
    /// Smallest denominator for a rate to be ranked (default 10).
    pub min_volume: f64,
    /// Normal quantile of the intervals (default 1.96, 95%).
    pub z: f64,
    /// Rank count metrics per 1,000 households where the units have
    /// household data (default true): a raw count ranks the smallest units
    /// first whatever their work.
    pub per_households: bool,
}

/// What a league table ranks a count metric on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The metric as it is (every metric that is not a count, and counts
    /// when no unit compared has household data or it was asked for).
    AsIs,
    /// A count per 1,000 households, with the Poisson-gamma smoothing and
    /// funnel limits of a rate; units without household data are not ranked.
    Per1000Households,
}

impl Default for RankParams {
    fn default() -> Self {
        RankParams {
            min_volume: 10.0,
            z: Z95,
            per_households: true,
        }
    }
}

/// Where a unit stands against the pooled rate of the units compared: the
/// reading of a funnel plot (Spiegelhalter 2005), at the 95% limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// 显著优于: beyond the limits on the good side.
    Better,
    /// 无显著差异: within the limits; its rank among these is noise.
    AsExpected,
    /// 显著差于: beyond the limits on the bad side.
    Worse,
}

/// Normal quantile of the 99.8% funnel limits.
pub const Z998: f64 = 3.090_232_306_167_813_5;

/// One row of a league table.
#[derive(Debug, Clone, Serialize)]
pub struct RankRow {
    /// 1-based rank (ties share a rank); None when not ranked.
    pub rank: Option<usize>,
    /// Rank in the previous period.
    pub previous_rank: Option<usize>,
    /// previous − current: positive means the unit climbed.
    pub rank_change: Option<i64>,
    /// Unit code.
    pub code: String,
    /// Unit name.
    pub name: String,
    /// Raw metric value.
    pub value: Option<f64>,
    /// Numerator and denominator, for rates.
    pub ratio: Option<Ratio>,
    /// Interval of the raw value ([`metric_interval`]); None where the
    /// metric has none (durations, scores) or no data.
    pub interval: Option<(f64, f64)>,
    /// Empirical-Bayes smoothed rate used for ranking (rates only).
    pub smoothed: Option<f64>,
    /// Why the unit is not ranked, if it is not.
    pub note: Option<&'static str>,
    /// Rates: the raw rate's distance from the pooled rate in standard
    /// errors at the unit's volume, divided by the overdispersion's square
    /// root when there is any (what a funnel plot draws).
    pub z: Option<f64>,
    /// Rates: [`Standing`] by the 95% limits.
    pub standing: Option<Standing>,
    /// Rates: beyond the 99.8% limits as well.
    pub alarm: bool,
    /// Ranks the unit may hold: every unit of its standing shares one range
    /// (rates); the rank itself for other metrics.
    pub rank_range: Option<(usize, usize)>,
}

/// How a league table's values were smoothed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Smoothing {
    /// Proportions: beta prior, posterior mean (x + α) / (n + α + β).
    BetaBinomial,
    /// Counts per exposure: gamma prior, posterior mean (x + α) / (e + β).
    PoissonGamma,
    /// Other metrics are ranked on their raw value.
    None,
}

/// A league table.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    /// Metric name.
    pub metric: &'static str,
    /// Parent unit code (None = top-level units).
    pub parent: Option<String>,
    /// Smoothing model.
    pub smoothing: Smoothing,
    /// Prior (α, β) of the smoothing; None for raw rankings or when no finite prior was fitted.
    pub prior: Option<(f64, f64)>,
    /// The units' rates are indistinguishable from one pooled rate (no
    /// between-unit variance beyond chance): all smoothed rates are equal and
    /// the order only reflects the strength of evidence (Wilson bound).
    pub indistinguishable: bool,
    /// Options used.
    pub params: RankParams,
    /// What the rows' values are: the metric, or a count per 1,000 households.
    pub basis: Basis,
    /// The funnel plot's centre line and limits (rates with a pooled rate).
    pub funnel: Option<Funnel>,
    /// Rows, ranked first (best first), then unranked.
    pub rows: Vec<RankRow>,
}

/// Method-of-moments beta prior from (successes, trials) of the compared units.
///
/// m = Σx/Σn; s² = Σ n_i (p_i − m)² / Σn; between-unit variance A = s² − m(1−m)/n̄
/// with n̄ = Σn/k. Then α + β = m(1−m)/A − 1, α = m(α+β). When A ≤ 0 the units
/// are indistinguishable from one pooled rate and α+β is infinite: returned as
/// `Some((f64::INFINITY, f64::INFINITY))` with smoothing to m. None with fewer
/// than two units with data.
pub fn beta_prior(parts: &[(f64, f64)]) -> Option<(f64, f64)> {
    let data: Vec<(f64, f64)> = parts.iter().copied().filter(|&(_, n)| n > 0.0).collect();
    if data.len() < 2 {
        return None;
    }
    let (sx, sn): (f64, f64) = data
        .iter()
        .fold((0.0, 0.0), |(a, b), &(x, n)| (a + x, b + n));
    let m = sx / sn;
    let s2 = data
        .iter()
        .map(|&(x, n)| n * (x / n - m).powi(2))
        .sum::<f64>()
        / sn;
    let nbar = sn / data.len() as f64;
    let a = s2 - m * (1.0 - m) / nbar;
    if m <= 0.0 || m >= 1.0 {
        return None;
    }
    if a <= 0.0 {
        return Some((f64::INFINITY, f64::INFINITY));
    }
    let total = m * (1.0 - m) / a - 1.0;
    // Heterogeneity beyond binomial limits: no shrinkage is the honest answer.
    (total > 0.0).then_some((m * total, (1.0 - m) * total))
}

/// Posterior mean (x + α) / (n + α + β) under a finite beta prior.
pub fn smooth(x: f64, n: f64, prior: (f64, f64)) -> f64 {
    (x + prior.0) / (n + prior.0 + prior.1)
}

/// Method-of-moments gamma prior (shape α, rate β) from (events, exposure).
///
/// m = Σx/Σe; s² = Σ e_i (x_i/e_i − m)² / Σe; A = s² − m/ē with ē = Σe/k.
/// Then α = m²/A, β = m/A, and the posterior mean is (x + α)/(e + β).
/// `Some((∞, ∞))` when A ≤ 0 (smooth to m); None with fewer than two units
/// with exposure or no events at all.
pub fn gamma_prior(parts: &[(f64, f64)]) -> Option<(f64, f64)> {
    let data: Vec<(f64, f64)> = parts.iter().copied().filter(|&(_, e)| e > 0.0).collect();
    if data.len() < 2 {
        return None;
    }
    let (sx, se): (f64, f64) = data
        .iter()
        .fold((0.0, 0.0), |(a, b), &(x, e)| (a + x, b + e));
    let m = sx / se;
    if m <= 0.0 {
        return None;
    }
    let s2 = data
        .iter()
        .map(|&(x, e)| e * (x / e - m).powi(2))
        .sum::<f64>()
        / se;
    let a = s2 - m / (se / data.len() as f64);
    if a <= 0.0 {
        return Some((f64::INFINITY, f64::INFINITY));
    }
    Some((m * m / a, m / a))
}

/// The smoothing model a metric is ranked with.
pub fn smoothing_of(def: &MetricDef) -> Smoothing {
    if def.is_rate() {
        Smoothing::BetaBinomial
    } else if def.is_poisson_rate() {
        Smoothing::PoissonGamma
    } else {
        Smoothing::None
    }
}

/// What [`rank_rows`] needs of a unit: code, name, metric value and, for rates, the ratio.
pub type RankInput = (String, String, Option<f64>, Option<Ratio>);

/// Ranks units given their values (and, for rates, numerator and denominator or exposure). Pure: used by
/// [`rank_children`] and by tests.
pub fn rank_rows(
    def: &MetricDef,
    units: Vec<RankInput>,
    params: RankParams,
) -> (Vec<RankRow>, Option<(f64, f64)>, Option<Funnel>) {
    let parts: Vec<(f64, f64)> = units
        .iter()
        .filter_map(|u| u.3)
        .map(|r| (r.num, r.den))
        .collect();
    let smoothing = smoothing_of(def);
    let prior = match smoothing {
        Smoothing::BetaBinomial => beta_prior(&parts),
        Smoothing::PoissonGamma => gamma_prior(&parts),
        Smoothing::None => None,
    };
    let pooled = {
        let (x, n) = parts
            .iter()
            .fold((0.0, 0.0), |(a, b), &(x, n)| (a + x, b + n));
        (n > 0.0).then(|| x / n)
    };
    let smoothed_rate = smoothing != Smoothing::None;
    let better_high = def.direction != Direction::HigherIsWorse;
    let mut rows: Vec<(RankRow, Option<(f64, f64)>)> = units
        .into_iter()
        .map(|(code, name, value, ratio)| {
            let interval = metric_interval(def, value, ratio, params.z);
            let smoothed = match (smoothed_rate, ratio, prior) {
                (true, Some(r), Some(p)) if p.0.is_infinite() => pooled.or(Some(r.num / r.den)),
                (true, Some(r), Some(p)) if smoothing == Smoothing::BetaBinomial => {
                    Some(smooth(r.num, r.den, p))
                }
                (true, Some(r), Some(p)) => Some((r.num + p.0) / (r.den + p.1)),
                (true, Some(r), None) => (r.den > 0.0).then(|| r.num / r.den),
                _ => None,
            };
            let volume = |r: Ratio| match smoothing {
                Smoothing::PoissonGamma => r.den * pooled.unwrap_or(0.0),
                _ => r.den,
            };
            let note = match (smoothed_rate, ratio, value) {
                (_, _, None) => Some("no_data"),
                (true, Some(r), _) if volume(r) < params.min_volume => Some("below_min_volume"),
                _ => None,
            };
            // Sort key: smoothed rate (or value), then the cautious end of the
            // interval so that equal smoothed rates favour more evidence.
            let key = if note.is_some() {
                None
            } else if smoothed_rate {
                let tie = interval
                    .map(|(lo, hi)| if better_high { lo } else { -hi })
                    .unwrap_or(0.0);
                smoothed.map(|s| (if better_high { s } else { -s }, tie))
            } else {
                value.map(|v| (if better_high { v } else { -v }, 0.0))
            };
            (
                RankRow {
                    rank: None,
                    previous_rank: None,
                    rank_change: None,
                    code,
                    name,
                    value,
                    ratio,
                    interval,
                    smoothed,
                    note,
                    z: None,
                    standing: None,
                    alarm: false,
                    rank_range: None,
                },
                key,
            )
        })
        .collect();
    let limits = match (smoothed_rate, pooled) {
        (true, Some(theta)) => funnel(&mut rows, theta, smoothing, better_high),
        _ => None,
    };
    // Standing first (better, as expected, worse), then the key.
    let order = |s: Option<Standing>| match s {
        Some(Standing::Better) => 0,
        Some(Standing::AsExpected) | None => 1,
        Some(Standing::Worse) => 2,
    };
    rows.sort_by(|a, b| match (a.1, b.1) {
        (Some(x), Some(y)) => order(a.0.standing)
            .cmp(&order(b.0.standing))
            .then(y.partial_cmp(&x).unwrap_or(std::cmp::Ordering::Equal)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.code.cmp(&b.0.code),
    });
    let mut last: Option<((f64, f64), usize)> = None;
    for (pos, (row, key)) in rows.iter_mut().enumerate() {
        let Some(k) = *key else { continue };
        let rank = match last {
            Some((lk, lr)) if lk == k => lr,
            _ => pos + 1,
        };
        row.rank = Some(rank);
        last = Some((k, rank));
    }
    // Ranges: a standing's units share the ranks they occupy together.
    let ranked: Vec<usize> = (0..rows.len())
        .filter(|&i| rows[i].0.rank.is_some())
        .collect();
    let mut start = 0;
    while start < ranked.len() {
        let s = rows[ranked[start]].0.standing;
        let mut end = start;
        while end + 1 < ranked.len() && s.is_some() && rows[ranked[end + 1]].0.standing == s {
            end += 1;
        }
        for &i in &ranked[start..=end] {
            let r = &mut rows[i].0;
            r.rank_range = match s {
                Some(_) => Some((start + 1, end + 1)),
                None => r.rank.map(|k| (k, k)),
            };
        }
        start = end + 1;
    }
    (rows.into_iter().map(|(r, _)| r).collect(), prior, limits)
}

/// Funnel-plot standings of the ranked rows against the pooled rate θ:
/// z = (r − θ) / √(θ(1−θ)/n) for proportions, (r − θ) / √(θ/e) for counts
/// per exposure. When the units vary more than chance allows (φ, the mean
/// of the squared z-scores winsorised at 10% each side, above 1), every z
/// is divided by √φ: the multiplicative overdispersion correction of
/// Spiegelhalter (2005), so that a large county does not call every unit
/// significantly different.
fn funnel(
    rows: &mut [(RankRow, Option<(f64, f64)>)],
    theta: f64,
    smoothing: Smoothing,
    better_high: bool,
) -> Option<Funnel> {
    let var = |n: f64| match smoothing {
        Smoothing::BetaBinomial if theta > 0.0 && theta < 1.0 => Some(theta * (1.0 - theta) / n),
        Smoothing::PoissonGamma if theta > 0.0 => Some(theta / n),
        _ => None,
    };
    let raw: Vec<Option<f64>> = rows
        .iter()
        .map(|(r, key)| {
            let ratio = r.ratio.filter(|x| x.den > 0.0 && key.is_some())?;
            Some((ratio.num / ratio.den - theta) / var(ratio.den)?.sqrt())
        })
        .collect();
    let mut zs: Vec<f64> = raw.iter().flatten().copied().collect();
    if zs.is_empty() {
        return None;
    }
    zs.sort_by(f64::total_cmp);
    let k = zs.len();
    let cut = k / 10;
    let (lo, hi) = (zs[cut], zs[k - 1 - cut]);
    let phi = zs.iter().map(|z| z.clamp(lo, hi).powi(2)).sum::<f64>() / k as f64;
    let scale = if k >= 3 && phi > 1.0 { phi.sqrt() } else { 1.0 };
    for ((row, _), z) in rows.iter_mut().zip(raw) {
        let Some(z) = z.map(|z| z / scale) else {
            continue;
        };
        row.z = Some(z);
        row.alarm = z.abs() > Z998;
        row.standing = Some(if z.abs() <= Z95 {
            Standing::AsExpected
        } else if (z > 0.0) == better_high {
            Standing::Better
        } else {
            Standing::Worse
        });
    }
    Some(Funnel {
        pooled: theta,
        scale,
        model: smoothing,
    })
}

/// What a funnel plot of a league table draws: the pooled rate θ and the
/// limits θ ± z·scale·√(θ(1−θ)/n) for proportions (`BetaBinomial`) or
/// θ ± z·scale·√(θ/e) for counts per exposure (`PoissonGamma`), at z = 1.96
/// (95%) and 3.09 (99.8%), over each unit's volume n or exposure e.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Funnel {
    /// The pooled rate of the units compared.
    pub pooled: f64,
    /// √φ when the units vary more than chance allows, else 1.
    pub scale: f64,
    /// The variance model of the limits.
    pub model: Smoothing,
}

/// League table of the children of `parent` (None = top-level units) on `metric_name`.
pub fn rank_children(
    pre: &PreAgg,
    gm: &GridModel,
    parent: Option<&str>,
    metric_name: &str,
    q: &Query,
    params: RankParams,
) -> Result<Ranking, AnalyticsError> {
    let def = metric(metric_name)?;
    rank_children_with(pre, gm, parent, def, q, params, Parts::COUNTS).map(|(r, _)| r)
}

/// [`rank_children`] reading the tables of `extra` too over the window,
/// and handing back the window's ingredients of the units compared (in
/// their parent's order of children), so that other figures of the same
/// units over the same window (their scores) come from the same pass.
pub fn rank_children_with(
    pre: &PreAgg,
    gm: &GridModel,
    parent: Option<&str>,
    def: &'static MetricDef,
    q: &Query,
    params: RankParams,
    extra: Parts,
) -> Result<(Ranking, Vec<Ingredients>), AnalyticsError> {
    let children: Vec<usize> = match parent {
        Some(code) => {
            let i = gm
                .index_of(code)
                .ok_or_else(|| AnalyticsError::UnknownUnit {
                    code: code.to_owned(),
                })?;
            gm.unit(i).children.clone()
        }
        None => gm
            .roots()
            .flat_map(|r| {
                if gm.unit(r).level == 0 {
                    gm.unit(r).children.clone()
                } else {
                    vec![r]
                }
            })
            .collect(),
    };
    let Some(level) = children.first().map(|&i| gm.unit(i).level) else {
        let ranking = Ranking {
            metric: def.name,
            parent: parent.map(String::from),
            smoothing: smoothing_of(def),
            prior: None,
            indistinguishable: false,
            params,
            basis: Basis::AsIs,
            funnel: None,
            rows: Vec::new(),
        };
        return Ok((ranking, Vec::new()));
    };
    // A count is ranked per 1,000 households when any unit compared has them.
    let basis = if params.per_households
        && def.is_count
        && def.unit == MetricUnit::Count
        && children
            .iter()
            .any(|&i| gm.households(i).is_some_and(|h| h > 0))
    {
        Basis::Per1000Households
    } else {
        Basis::AsIs
    };
    let per_households = per_households(def);
    let parts = Parts::of(def);
    let def = match basis {
        Basis::AsIs => def,
        Basis::Per1000Households => &per_households,
    };
    let table = |ings: &[Ingredients]| -> Vec<RankInput> {
        children
            .iter()
            .zip(ings)
            .map(|(&i, ing)| {
                let cx = UnitContext::of(gm, i);
                let u = gm.unit(i);
                let (value, parts) = match basis {
                    Basis::AsIs => ((def.value)(ing, &cx), def.parts(ing, &cx)),
                    Basis::Per1000Households => {
                        let parts = (def.value)(ing, &cx).zip(cx.households).and_then(|(n, h)| {
                            (h > 0).then(|| Ratio {
                                num: n,
                                den: h as f64 / 1000.0,
                            })
                        });
                        (parts.map(|p| p.num / p.den), parts)
                    }
                };
                (u.code.clone(), u.name.clone(), value, parts)
            })
            .collect()
    };
    // Only the units compared, over the window alone (no 同比 or 环比),
    // from the tables the metric reads (and `extra`).
    // The previous period (for the rank changes) is read side by side.
    let days = pre.day_range()?;
    let recorded = |p: &Query| {
        days.is_some_and(|(first, last)| {
            p.from.is_none_or(|f| day_number(f) <= last)
                && p.to.is_none_or(|t| day_number(t) > first)
        })
    };
    let prev = q.previous_period().filter(recorded);
    let (now, then) = rayon::join(
        || ingredients_for(pre, gm, level, q, parts.and(extra), &children),
        || {
            prev.as_ref()
                .map(|prev| ingredients_for(pre, gm, level, prev, parts, &children))
                .transpose()
        },
    );
    let now = now?;
    let (mut rows, prior, limits) = rank_rows(def, table(&now), params);
    if let Some(then) = then? {
        let (before, _, _) = rank_rows(def, table(&then), params);
        for row in &mut rows {
            row.previous_rank = before
                .iter()
                .find(|b| b.code == row.code)
                .and_then(|b| b.rank);
            let was = before.iter().find(|b| b.code == row.code);
            row.rank_change = match (row.standing, was.and_then(|b| b.standing)) {
                // Within one standing, a move is noise: no change. Across
                // standings, the move of the shared ranges' middles.
                (Some(now), Some(then)) if now == then => Some(0),
                (Some(_), Some(_)) => row
                    .rank_range
                    .zip(was.and_then(|b| b.rank_range))
                    .map(|(n, t)| ((t.0 + t.1) as i64 - (n.0 + n.1) as i64) / 2),
                _ => row
                    .rank
                    .zip(row.previous_rank)
                    .map(|(now, then)| then as i64 - now as i64),
            };
        }
    }
    let indistinguishable = prior.is_some_and(|p| p.0.is_infinite());
    // JSON has no infinity: an infinite prior is reported through the flag.
    let prior = prior.filter(|p| p.0.is_finite());
    let ranking = Ranking {
        metric: def.name,
        parent: parent.map(String::from),
        smoothing: smoothing_of(def),
        prior,
        indistinguishable,
        params,
        basis,
        funnel: limits,
        rows,
    };
    Ok((ranking, now))
}

/// A count metric read as events per 1,000 households: ranked like the
/// catalogue's per-household rates (exposure = thousands of households).
fn per_households(def: &MetricDef) -> MetricDef {
    // The parts are computed by the caller from the count and the households.
    fn parts_by_caller(_: &Ingredients, _: &UnitContext) -> Option<Ratio> {
        None
    }
    MetricDef {
        unit: MetricUnit::Per1000Households,
        is_count: false,
        ratio: None,
        exposure: Some(parts_by_caller),
        ..*def
    }
}

#[cfg(test)]
mod tests {
    use super::super::catalogue::catalogue;
    use super::*;

    fn unit(code: &str, x: f64, n: f64) -> RankInput {
        let r = Ratio { num: x, den: n };
        (
            code.into(),
            code.into(),
            (n > 0.0).then(|| x / n),
            (n > 0.0).then_some(r),
        )
    }

    #[test]
    fn a_rate_table_carries_its_funnel_and_a_duration_table_none() {
        let def = metric("resolution_rate").unwrap();
        let units = vec![
            unit("A", 50.0, 100.0),
            unit("B", 92.0, 100.0),
            unit("C", 70.0, 100.0),
            unit("D", 30.0, 60.0),
        ];
        let (rows, _, f) = rank_rows(def, units, RankParams::default());
        let f = f.expect("a funnel for a rate");
        assert!((f.pooled - 242.0 / 360.0).abs() < 1e-12, "{f:?}");
        assert_eq!(f.model, Smoothing::BetaBinomial);
        assert!(f.scale >= 1.0);
        // Each unit's z is its distance from the pooled rate over the limits' scale.
        for r in &rows {
            let x = r.ratio.unwrap();
            let z =
                (x.num / x.den - f.pooled) / (f.pooled * (1.0 - f.pooled) / x.den).sqrt() / f.scale;
            assert!((r.z.unwrap() - z).abs() < 1e-9, "{r:?}");
        }
        let hours = metric("median_hours_to_resolve").unwrap();
        let (_, _, none) = rank_rows(
            hours,
            vec![("A".into(), "A".into(), Some(3.0), None)],
            RankParams::default(),
        );
        assert!(none.is_none());
    }

    #[test]
    fn one_of_one_tops_a_naive_table_but_not_the_smoothed_one() {
        let def = metric("resolution_rate").unwrap();
        let units = vec![
            unit("A", 1.0, 1.0),
            unit("B", 92.0, 100.0),
            unit("C", 70.0, 100.0),
            unit("D", 60.0, 100.0),
            unit("E", 40.0, 60.0),
        ];
        let naive_top = units
            .iter()
            .max_by(|a, b| a.2.partial_cmp(&b.2).unwrap())
            .unwrap();
        assert_eq!(naive_top.0, "A");
        let params = RankParams {
            min_volume: 0.0,
            ..Default::default()
        };
        let (rows, prior, _) = rank_rows(def, units, params);
        assert!(prior.is_some_and(|(a, b)| a.is_finite() && b.is_finite()));
        assert_eq!(rows[0].code, "B");
        assert_eq!(rows[0].rank, Some(1));
        let a = rows.iter().find(|r| r.code == "A").unwrap();
        assert!(a.smoothed.unwrap() < 0.92 && a.rank > Some(1));
        let (lo, hi) = a.interval.unwrap();
        assert!(lo < 0.25 && hi == 1.0);
    }

    #[test]
    fn overlapping_units_share_one_standing_and_one_rank_range() {
        // 办结率 of five townships between 89.4% and 90.7% over ~1,000
        // cases each: chance alone spreads them that far.
        let def = metric("resolution_rate").unwrap();
        let units = vec![
            unit("A", 907.0, 1000.0),
            unit("B", 901.0, 1000.0),
            unit("C", 899.0, 1000.0),
            unit("D", 896.0, 1000.0),
            unit("E", 894.0, 1000.0),
        ];
        let (rows, _, _) = rank_rows(def, units, RankParams::default());
        assert!(
            rows.iter()
                .all(|r| r.standing == Some(Standing::AsExpected)),
            "{rows:?}"
        );
        assert!(
            rows.iter().all(|r| r.rank_range == Some((1, 5))),
            "{rows:?}"
        );
        assert!(rows.iter().all(|r| r.z.is_some_and(|z| z.abs() < Z95)));
    }

    #[test]
    fn a_unit_clearly_apart_stands_apart_on_its_side() {
        // 结案率 (higher is better) and 超期率-like direction checked
        // through the same table: one township at 60% among ones near 90%.
        let def = metric("resolution_rate").unwrap();
        let mut units: Vec<RankInput> = (0..8)
            .map(|k| unit(&format!("T{k}"), 900.0 + k as f64, 1000.0))
            .collect();
        units.push(unit("LOW", 600.0, 1000.0));
        let (rows, _, _) = rank_rows(def, units, RankParams::default());
        let low = rows.iter().find(|r| r.code == "LOW").unwrap();
        assert_eq!(low.standing, Some(Standing::Worse), "{rows:?}");
        assert_eq!(low.rank_range, Some((9, 9)));
        assert_eq!(rows.last().unwrap().code, "LOW");
        let rest: Vec<_> = rows.iter().filter(|r| r.code != "LOW").collect();
        assert!(
            rest.iter()
                .all(|r| r.standing == Some(Standing::AsExpected)),
            "{rows:?}"
        );
        assert!(rest.iter().all(|r| r.rank_range == Some((1, 8))));
        // The same numbers under a metric where lower is better: the outlier
        // is now the best.
        let worse_is_high = catalogue()
            .iter()
            .find(|m| {
                m.direction == Direction::HigherIsWorse
                    && m.ratio.is_some()
                    && smoothing_of(m) == Smoothing::BetaBinomial
            })
            .expect("a proportion where higher is worse");
        let mut units: Vec<RankInput> = (0..8)
            .map(|k| unit(&format!("T{k}"), 900.0 + k as f64, 1000.0))
            .collect();
        units.push(unit("LOW", 600.0, 1000.0));
        let (rows, _, _) = rank_rows(worse_is_high, units, RankParams::default());
        assert_eq!(rows[0].code, "LOW");
        assert_eq!(rows[0].standing, Some(Standing::Better));
        assert_eq!(rows[0].rank_range, Some((1, 1)));
    }

    #[test]
    fn the_minimum_volume_rule_leaves_small_units_unranked() {
        let def = metric("resolution_rate").unwrap();
        let (rows, _, _) = rank_rows(
            def,
            vec![
                unit("A", 1.0, 1.0),
                unit("B", 5.0, 20.0),
                unit("C", 0.0, 0.0),
            ],
            RankParams::default(),
        );
        assert_eq!(rows[0].code, "B");
        assert_eq!(rows[0].rank, Some(1));
        let a = rows.iter().find(|r| r.code == "A").unwrap();
        assert_eq!((a.rank, a.note), (None, Some("below_min_volume")));
        let c = rows.iter().find(|r| r.code == "C").unwrap();
        assert_eq!(c.note, Some("no_data"));
    }

    #[test]
    fn homogeneous_units_share_the_pooled_rate_and_more_evidence_breaks_ties() {
        let def = metric("resolution_rate").unwrap();
        let params = RankParams {
            min_volume: 0.0,
            ..Default::default()
        };
        let (rows, prior, _) = rank_rows(
            def,
            vec![unit("A", 5.0, 10.0), unit("B", 50.0, 100.0)],
            params,
        );
        assert!(prior.unwrap().0.is_infinite());
        assert_eq!(rows[0].smoothed, Some(0.5));
        assert_eq!(rows[0].code, "B");
    }

    #[test]
    fn worse_when_higher_metrics_rank_ascending() {
        let def = metric("incident_count").unwrap();
        let units = vec![
            ("A".into(), "A".into(), Some(9.0), None),
            ("B".into(), "B".into(), Some(2.0), None),
            ("C".into(), "C".into(), Some(2.0), None),
        ];
        let (rows, _, _) = rank_rows(def, units, RankParams::default());
        assert_eq!(
            rows.iter().map(|r| r.rank).collect::<Vec<_>>(),
            vec![Some(1), Some(1), Some(3)]
        );
        assert_eq!(rows[2].code, "A");
        // Counts carry their exact Poisson interval; ties are not broken by it.
        let a = &rows[2];
        let (lo, hi) = a.interval.unwrap();
        assert!(
            (lo - 4.115_373_097_378_334).abs() < 1e-9 && (hi - 17.084_803_451_419_166).abs() < 1e-9
        );
    }

    #[test]
    fn the_children_of_a_village_are_ranked_with_their_previous_rank() {
        use crate::analytics::filter::Zone;
        use crate::analytics::testutil::{county, joined, Ev};
        use chrono::NaiveDate;
        use polars::prelude::IntoLazy;

        let gm = county();
        let events = vec![
            Ev::issue("2026-02-10 09:00", "G1"),
            Ev {
                status: Some("resolved"),
                ..Ev::issue("2026-03-02 09:00", "G1")
            },
            Ev {
                status: Some("resolved"),
                ..Ev::issue("2026-03-03 09:00", "G1")
            },
            Ev::issue("2026-03-04 09:00", "G1"),
            Ev {
                status: Some("resolved"),
                ..Ev::issue("2026-03-05 09:00", "G2")
            },
            Ev::issue("2026-03-06 09:00", "G2"),
        ];
        let pre = PreAgg::build(joined(&gm, &events).lazy(), Zone::default()).unwrap();
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        let params = RankParams {
            min_volume: 0.0,
            ..Default::default()
        };
        let r = rank_children(
            &pre,
            &gm,
            Some("V1"),
            "resolution_rate",
            &Query::window(d(3, 1), d(4, 1)),
            params,
        )
        .unwrap();
        assert_eq!(
            r.rows.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
            vec!["G1", "G2"]
        );
        // Two units indistinguishable from the pooled 3/5: both smoothed to 0.6,
        // the one with more evidence of a high rate first.
        assert!(r
            .rows
            .iter()
            .all(|row| (row.smoothed.unwrap() - 0.6).abs() < 1e-12));
        assert!(r.indistinguishable && r.prior.is_none());
        assert_eq!(
            (
                r.rows[0].rank,
                r.rows[0].previous_rank,
                r.rows[0].rank_change
            ),
            (Some(1), Some(1), Some(0))
        );
        assert_eq!(r.rows[1].previous_rank, None);
        assert!(rank_children(
            &pre,
            &gm,
            Some("nope"),
            "resolution_rate",
            &Query::default(),
            params
        )
        .is_err());
        // February's previous month is before the first event: no rank to
        // compare with, rather than every unit tied first on zero issues.
        let r = rank_children(
            &pre,
            &gm,
            Some("V1"),
            "issue_count",
            &Query::window(d(2, 1), d(3, 1)),
            params,
        )
        .unwrap();
        assert!(r
            .rows
            .iter()
            .all(|row| row.previous_rank.is_none() && row.rank_change.is_none()));
    }

    #[test]
    fn a_tiny_unit_without_incidents_does_not_top_a_per_household_table() {
        let def = metric("incidents_per_1k_households").unwrap();
        // (incidents, thousands of households): "tiny" has 10 households and no incident.
        let units = vec![
            unit("tiny", 0.0, 0.01),
            unit("B", 30.0, 2.0),
            unit("C", 10.0, 2.0),
            unit("D", 4.0, 1.0),
            unit("E", 20.0, 1.5),
        ];
        let naive_best = units
            .iter()
            .min_by(|a, b| a.2.partial_cmp(&b.2).unwrap())
            .unwrap();
        assert_eq!(naive_best.0, "tiny");
        let params = RankParams {
            min_volume: 0.0,
            ..Default::default()
        };
        let (rows, prior, _) = rank_rows(def, units, params);
        assert!(prior.is_some_and(|(a, b)| a.is_finite() && b > 0.0));
        // Incidents are worse when higher: rank 1 is the lowest smoothed rate.
        assert_eq!(rows[0].code, "C", "{rows:?}");
        let tiny = rows.iter().find(|r| r.code == "tiny").unwrap();
        assert!(
            tiny.rank > Some(1) && tiny.smoothed.unwrap() > 5.0,
            "{tiny:?}"
        );
        let (lo, hi) = tiny.interval.unwrap();
        assert!(lo == 0.0 && hi > 300.0);
        // Its expected count at the pooled rate is far below the default volume.
        let (rows, _, _) = rank_rows(
            def,
            vec![unit("tiny", 0.0, 0.01), unit("B", 30.0, 2.0)],
            RankParams::default(),
        );
        assert_eq!(
            rows.iter().find(|r| r.code == "tiny").unwrap().note,
            Some("below_min_volume")
        );
    }
}
