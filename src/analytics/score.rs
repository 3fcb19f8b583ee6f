//! The composite assessment score (考核得分, 0-100) of each unit, always with
//! its breakdown.
//!
//! Leaders need one number, and the units being judged need to see where it
//! comes from, so a score never travels without its components. Weights come
//! from a TOML file; the default ([`DEFAULT_WEIGHTS`]) gives 80 points of
//! work results split evenly between 发现率, 按期结案率, 结案率 and 满意率,
//! and 20 points to 走访覆盖率:
//!
//! ```toml
//! missing = "rescale"       # or "zero"
//! [weights]
//! discovery_rate = 20
//! on_time_closure_rate = 20
//! closure_rate = 20
//! satisfaction_rate = 20
//! visit_coverage = 20
//! ```
//!
//! Every weighted metric must be a proportion from the catalogue; points are
//! weight × rate (× (1 − rate) for a higher-is-worse rate). A component
//! without data (no households on file, no rated issue) either scores zero
//! (`missing = "zero"`) or is left out with the other weights scaled up to
//! 100 (`missing = "rescale"`, the default: a unit is not marked down for
//! data it does not hold, and the breakdown says which parts are missing).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::catalogue::{metric, Direction, MetricDef, MetricUnit};
use super::ingredients::{Ingredients, UnitContext};
use super::metrics::{MetricTable, Parts};
use super::AnalyticsError;
use crate::grid::GridModel;

/// Default weights: 80 points of work results, 20 of visit coverage. The
/// closing of cases is judged on 结案率 and 按期结案率 (over 应结案, cases
/// due for closure), as published monthly reports do, not on 办结率 over
/// every case reported: a unit whose cases came in the last days of the
/// window is not marked down for cases not yet due.
pub const DEFAULT_WEIGHTS: [(&str, f64); 5] = [
    ("discovery_rate", 20.0),
    ("on_time_closure_rate", 20.0),
    ("closure_rate", 20.0),
    ("satisfaction_rate", 20.0),
    ("visit_coverage", 20.0),
];

/// What to do with a component that has no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// Leave it out and scale the other weights up to 100.
    #[default]
    Rescale,
    /// Score it zero.
    Zero,
}

/// Score configuration, as read from TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreConfig {
    /// Missing-data rule.
    #[serde(default)]
    pub missing: Missing,
    /// Points per metric name; they must add up to 100.
    pub weights: BTreeMap<String, f64>,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            missing: Missing::Rescale,
            weights: DEFAULT_WEIGHTS
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
        }
    }
}

impl ScoreConfig {
    /// Parses and validates TOML text; `path` is only used in messages.
    pub fn from_toml(text: &str, path: &str) -> Result<ScoreConfig, AnalyticsError> {
        let err = |reason: String| AnalyticsError::ScoreConfig {
            path: path.to_owned(),
            reason,
        };
        let cfg: ScoreConfig = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        cfg.validate().map_err(err)?;
        Ok(cfg)
    }

    /// Reads a TOML file.
    pub fn load(path: &std::path::Path) -> Result<ScoreConfig, AnalyticsError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| AnalyticsError::ScoreConfig {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        ScoreConfig::from_toml(&text, &shown)
    }

    fn validate(&self) -> Result<(), String> {
        for (name, w) in &self.weights {
            let def = metric(name).map_err(|e| e.to_string())?;
            if def.unit != MetricUnit::Ratio {
                return Err(format!("{name} is not a proportion and cannot be scored"));
            }
            if !(w.is_finite() && *w >= 0.0) {
                return Err(format!("weight of {name} must be a number >= 0, not {w}"));
            }
        }
        let total: f64 = self.weights.values().sum();
        if (total - 100.0).abs() > 1e-9 {
            return Err(format!("weights add up to {total}, not 100"));
        }
        Ok(())
    }
}

/// One part of a score.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreComponent {
    /// Metric name.
    pub metric: &'static str,
    /// zh-CN label.
    pub zh: &'static str,
    /// Configured weight (points).
    pub weight: f64,
    /// Points available after any rescaling (0 when the component is missing and rescaled away).
    pub max_points: f64,
    /// The rate scored: the unit's own rate pulled towards that of the
    /// units scored together as far as its small numbers call for
    /// (Empirical Bayes, as the league tables rank). None = no data.
    pub value: Option<f64>,
    /// The unit's own rate, as the metric gives it.
    pub rate: Option<f64>,
    /// Points earned.
    pub points: f64,
}

/// A unit's score with its breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    /// Unit code.
    pub code: String,
    /// Unit name.
    pub name: String,
    /// 0-100.
    pub total: f64,
    /// Components in configuration order.
    pub components: Vec<ScoreComponent>,
    /// Metrics without data.
    pub missing: Vec<&'static str>,
}

impl ScoreConfig {
    /// The weighted metrics, in configuration order, with their weights.
    fn defs(&self) -> Result<Vec<(&'static MetricDef, f64)>, AnalyticsError> {
        self.weights
            .iter()
            .map(|(k, w)| metric(k).map(|d| (d, *w)))
            .collect()
    }

    /// The tables the weighted metrics read.
    pub fn parts(&self) -> Result<Parts, AnalyticsError> {
        Ok(self
            .defs()?
            .iter()
            .fold(Parts::COUNTS, |p, (d, _)| p.and(Parts::of(d))))
    }
}

/// Scores every unit of a metric table (their rates smoothed over the
/// table's units, [`smoothed`]).
pub fn assess(table: &MetricTable, cfg: &ScoreConfig) -> Result<Vec<Score>, AnalyticsError> {
    let defs = cfg.defs()?;
    let units: Vec<(&Ingredients, &UnitContext)> = table
        .rows
        .iter()
        .map(|r| (&r.ingredients, &r.context))
        .collect();
    let values = smoothed(&defs, &units, |u, d| table.rows[u].value(d.name));
    Ok(table
        .rows
        .iter()
        .zip(values)
        .map(|(row, v)| score_of(&defs, cfg.missing, &row.code, &row.name, v))
        .collect())
}

/// Each unit's weighted rates as scored, and as they are, the scored
/// ones pulled towards the rate of the units scored
/// together as far as its small numbers call for: the Empirical-Bayes
/// estimate the league tables rank on ([`super::ranking::beta_prior`],
/// Marshall's method of moments over those units). A raw rate gave a
/// village with one case, closed on time and rated satisfied, full points
/// on four components and the top score of the county. A rate with no
/// denominator stays missing; with fewer than two units holding data the
/// rate is taken as it is (there is nothing to pull towards).
fn smoothed(
    defs: &[(&'static MetricDef, f64)],
    units: &[(&Ingredients, &UnitContext)],
    raw: impl Fn(usize, &MetricDef) -> Option<f64>,
) -> Vec<Vec<(Option<f64>, Option<f64>)>> {
    use super::ranking::{beta_prior, smooth};
    let per_metric: Vec<Vec<(Option<f64>, Option<f64>)>> = defs
        .iter()
        .map(|(d, _)| {
            let raw: Vec<Option<f64>> = (0..units.len()).map(|u| raw(u, d)).collect();
            let unsmoothed = |raw: Vec<Option<f64>>| raw.into_iter().map(|r| (r, r)).collect();
            let Some(ratio) = d.ratio else {
                return unsmoothed(raw);
            };
            let parts: Vec<Option<(f64, f64)>> = units
                .iter()
                .map(|(i, c)| ratio(i, c).map(|r| (r.num, r.den)))
                .collect();
            let counted: Vec<(f64, f64)> = parts.iter().flatten().copied().collect();
            let Some(prior) = beta_prior(&counted) else {
                return unsmoothed(raw);
            };
            let (x, n) = counted
                .iter()
                .fold((0.0, 0.0), |(a, b), &(x, n)| (a + x, b + n));
            let pooled = x / n;
            parts
                .iter()
                .zip(raw)
                .map(|(p, raw)| {
                    let scored = match p {
                        Some((_, n)) if *n <= 0.0 => raw,
                        Some((x, n)) if prior.0.is_finite() => Some(smooth(*x, *n, prior)),
                        Some(_) => Some(pooled),
                        None => raw,
                    };
                    (scored, raw)
                })
                .collect()
        })
        .collect();
    (0..units.len())
        .map(|u| per_metric.iter().map(|m| m[u]).collect())
        .collect()
}

/// The scores of the model units `units` from their ingredients (`ings`,
/// in the same order, read from at least the tables of
/// [`ScoreConfig::parts`]): the same scores [`assess`] gives their rows of
/// the full metric table, without reading the tables no weighted metric
/// uses.
pub fn score_ingredients(
    gm: &GridModel,
    cfg: &ScoreConfig,
    units: &[usize],
    ings: &[Ingredients],
) -> Result<Vec<Score>, AnalyticsError> {
    let defs = cfg.defs()?;
    let contexts: Vec<UnitContext> = units.iter().map(|&i| UnitContext::of(gm, i)).collect();
    let pairs: Vec<(&Ingredients, &UnitContext)> = ings.iter().zip(&contexts).collect();
    let values = smoothed(&defs, &pairs, |u, d| (d.value)(pairs[u].0, pairs[u].1));
    Ok(units
        .iter()
        .zip(values)
        .map(|(&i, v)| {
            let u = gm.unit(i);
            score_of(&defs, cfg.missing, &u.code, &u.name, v)
        })
        .collect())
}

/// One unit's score from the values of the weighted metrics (in the
/// order of `defs`).
fn score_of(
    defs: &[(&'static MetricDef, f64)],
    missing: Missing,
    code: &str,
    name: &str,
    values: Vec<(Option<f64>, Option<f64>)>,
) -> Score {
    let rates: Vec<Option<f64>> = values.iter().map(|v| v.1).collect();
    let values: Vec<Option<f64>> = values
        .into_iter()
        .map(|v| v.0.map(|v| v.clamp(0.0, 1.0)))
        .collect();
    let present: f64 = defs
        .iter()
        .zip(&values)
        .filter(|(_, v)| v.is_some())
        .map(|((_, w), _)| *w)
        .sum();
    let scale = match missing {
        Missing::Zero => 1.0,
        Missing::Rescale if present > 0.0 => 100.0 / present,
        Missing::Rescale => 0.0,
    };
    let components: Vec<ScoreComponent> = defs
        .iter()
        .zip(&values)
        .zip(rates)
        .map(|(((d, w), v), rate)| {
            let max_points = match (missing, v) {
                (Missing::Rescale, None) => 0.0,
                _ => w * scale,
            };
            let good = v.map(|v| {
                if d.direction == Direction::HigherIsWorse {
                    1.0 - v
                } else {
                    v
                }
            });
            ScoreComponent {
                metric: d.name,
                zh: d.zh,
                weight: *w,
                max_points,
                value: *v,
                rate,
                points: good.map_or(0.0, |g| g * max_points),
            }
        })
        .collect();
    Score {
        code: code.to_owned(),
        name: name.to_owned(),
        total: components.iter().map(|c| c.points).sum(),
        missing: components
            .iter()
            .filter(|c| c.value.is_none())
            .map(|c| c.metric)
            .collect(),
        components,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::filter::Query;
    use crate::analytics::ingredients::{Ingredients, UnitContext};
    use crate::analytics::metrics::UnitMetrics;

    fn table(values: &[(&'static str, Option<f64>)]) -> MetricTable {
        let row = UnitMetrics {
            code: "G1".into(),
            name: "一网格".into(),
            index: 0,
            context: UnitContext::default(),
            ingredients: Ingredients::default(),
            values: values.iter().copied().collect(),
            yoy: Default::default(),
            pop: Default::default(),
        };
        MetricTable {
            level: 3,
            query: Query::default(),
            rows: vec![row],
        }
    }

    #[test]
    fn the_default_weights_give_80_for_work_and_20_for_coverage() {
        let t = table(&[
            ("discovery_rate", Some(0.5)),
            ("on_time_closure_rate", Some(1.0)),
            ("closure_rate", Some(0.75)),
            ("satisfaction_rate", Some(0.9)),
            ("visit_coverage", Some(0.4)),
        ]);
        let s = &assess(&t, &ScoreConfig::default()).unwrap()[0];
        assert!((s.total - (10.0 + 20.0 + 15.0 + 18.0 + 8.0)).abs() < 1e-12);
        assert_eq!(s.components.len(), 5);
        assert!(s.missing.is_empty());
    }

    #[test]
    fn a_missing_component_is_rescaled_or_zeroed_and_reported() {
        let t = table(&[
            ("discovery_rate", Some(1.0)),
            ("on_time_closure_rate", Some(1.0)),
            ("closure_rate", Some(1.0)),
            ("satisfaction_rate", Some(1.0)),
            ("visit_coverage", None),
        ]);
        let s = &assess(&t, &ScoreConfig::default()).unwrap()[0];
        assert!((s.total - 100.0).abs() < 1e-12);
        assert_eq!(s.missing, vec!["visit_coverage"]);
        let zero = ScoreConfig {
            missing: Missing::Zero,
            ..Default::default()
        };
        assert!((assess(&t, &zero).unwrap()[0].total - 80.0).abs() < 1e-12);
    }

    /// One case closed on time and rated satisfied does not score full
    /// points: each rate is pulled towards the rate of the units scored
    /// together as far as its small numbers call for, so a unit with one
    /// case scores below one with sixty cases and a better record. On raw
    /// rates the one case scored 100 and topped the table.
    #[test]
    fn a_unit_with_one_case_does_not_top_the_scores() {
        let cfg = ScoreConfig::from_toml("[weights]\nresolution_rate = 100\n", "s.toml").unwrap();
        let unit = |code: &str, issues: u64, resolved: u64| {
            let ingredients = Ingredients {
                issues,
                cases: issues,
                closed: resolved,
                ..Ingredients::default()
            };
            let value = resolved as f64 / issues as f64;
            UnitMetrics {
                code: code.into(),
                name: code.into(),
                index: 0,
                context: UnitContext::default(),
                values: [("resolution_rate", Some(value))].into_iter().collect(),
                ingredients,
                yoy: Default::default(),
                pop: Default::default(),
            }
        };
        let t = MetricTable {
            level: 2,
            query: Query::default(),
            rows: vec![
                unit("one", 1, 1),
                unit("sixty", 60, 57),
                unit("forty", 40, 24),
                unit("eighty", 80, 56),
            ],
        };
        assert_eq!(t.rows[0].value("resolution_rate"), Some(1.0));
        let s = assess(&t, &cfg).unwrap();
        let total = |code: &str| s.iter().find(|s| s.code == code).unwrap().total;
        assert!(total("one") < total("sixty"), "{s:?}");
        assert!(total("one") < 99.0, "{s:?}");
        // Large units move little: sixty cases at 95% stay near 95 points.
        assert!((total("sixty") - 95.0).abs() < 3.0, "{s:?}");
    }

    #[test]
    fn config_files_are_validated() {
        let ok = "missing = \"zero\"\n[weights]\nresolution_rate = 60\nvisit_coverage = 40\n";
        let cfg = ScoreConfig::from_toml(ok, "score.toml").unwrap();
        assert_eq!(cfg.missing, Missing::Zero);
        for bad in [
            "[weights]\nresolution_rate = 50\n",
            "[weights]\nissue_count = 100\n",
            "[weights]\nnope = 100\n",
            "colour = 1\n[weights]\nresolution_rate = 100\n",
        ] {
            let e = ScoreConfig::from_toml(bad, "score.toml").unwrap_err();
            assert!(e.to_string().contains("score.toml"), "{e}");
        }
    }

    #[test]
    fn scores_from_the_weighted_tables_alone_are_those_of_the_full_table() {
        use crate::analytics::metrics::{compute_metrics, ingredients_for};
        use crate::analytics::preagg::PreAgg;
        use crate::analytics::testutil::big;
        use polars::prelude::IntoLazy;
        let (gm, df) = big(2, 3, 3, 6_000, 90);
        let pre = PreAgg::build(df.lazy(), crate::analytics::Zone::default()).unwrap();
        let cfg = ScoreConfig::default();
        assert!(!cfg.parts().unwrap().repeats && !cfg.parts().unwrap().backlog);
        for level in [1, 2, 3] {
            let q = Query::default();
            let full = assess(&compute_metrics(&pre, &gm, level, &q).unwrap(), &cfg).unwrap();
            let units: Vec<usize> = gm.level(level).collect();
            let ings = ingredients_for(&pre, &gm, level, &q, cfg.parts().unwrap(), &units).unwrap();
            let some = score_ingredients(&gm, &cfg, &units, &ings).unwrap();
            assert_eq!(full.len(), some.len());
            for (a, b) in full.iter().zip(&some) {
                assert_eq!(
                    serde_json::to_string(a).unwrap(),
                    serde_json::to_string(b).unwrap()
                );
            }
        }
    }
}
