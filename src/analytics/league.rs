//! A league table: the children of one unit ranked on one metric (previous
//! ranks, standings and intervals from [`super::ranking`]), each with its
//! score and its sparkline over the window's periods. What `/compare`
//! answers, as one call.

use super::catalogue::metric;
use super::filter::Query;
use super::periods::{Granularity, Period};
use super::preagg::PreAgg;
use super::ranking::{rank_children_with, Basis, Funnel, RankParams, RankRow};
use super::score::{score_ingredients, Score, ScoreConfig};
use super::spark::sparks;
use super::AnalyticsError;
use crate::grid::GridModel;

/// One unit of a league table.
pub struct LeagueRow {
    /// Model index.
    pub index: usize,
    /// Its rank, standing, value and interval.
    pub rank: RankRow,
    /// Its score over the window.
    pub score: Option<Score>,
    /// The metric in each of the table's spark periods.
    pub spark: Vec<Option<f64>>,
}

/// The children of a unit ranked on one metric over a window.
pub struct LeagueTable {
    /// What the rows' values are: the metric, or a count per 1,000 households.
    pub basis: Basis,
    /// The funnel plot of the rows (rates).
    pub funnel: Option<Funnel>,
    /// The grain of the spark periods.
    pub spark_grain: Granularity,
    /// The periods every sparkline covers: exactly the window.
    pub spark_periods: Vec<Period>,
    /// Ranked first (best first), then unranked; only units `visible` keeps.
    pub rows: Vec<LeagueRow>,
}

/// The league table of the children of the model unit `parent` on
/// `metric_name` over `q`, keeping the rows of the units `visible` accepts
/// (by model index): the ranking reads the units compared over the window
/// alone, the scores the tier's values over the window, and the sparklines
/// the parent's events only.
pub fn league_table(
    pre: &PreAgg,
    gm: &GridModel,
    parent: usize,
    metric_name: &str,
    q: &Query,
    params: RankParams,
    visible: &dyn Fn(usize) -> bool,
) -> Result<LeagueTable, AnalyticsError> {
    let def = metric(metric_name)?;
    let p = gm.unit(parent);
    let children = &p.children;
    let Some(level) = children.first().map(|&ch| gm.unit(ch).level) else {
        return Ok(LeagueTable {
            basis: Basis::AsIs,
            funnel: None,
            spark_grain: Granularity::Month,
            spark_periods: Vec::new(),
            rows: Vec::new(),
        });
    };
    // One pass over the window for the ranking and the scores: the tables
    // of the metric and of the scored metrics, the units compared only.
    let cfg = ScoreConfig::default();
    let extra = cfg.parts()?;
    // The sparklines are cut side by side with the ranking.
    let (ranked, sparks) = rayon::join(
        || rank_children_with(pre, gm, Some(&p.code), def, q, params, extra),
        || {
            sparks(
                &pre.cut(p.level, &p.code)?,
                pre.day_range()?,
                gm,
                level,
                children,
                def,
                q,
            )
        },
    );
    let (ranking, now) = ranked?;
    let sparks = sparks?;
    let scores = score_ingredients(gm, &cfg, children, &now)?;
    let mut values = sparks.values;
    let rows = ranking
        .rows
        .into_iter()
        .filter_map(|r| {
            let index = gm.index_of(&r.code)?;
            let pos = children.iter().position(|&ch| ch == index);
            Some(LeagueRow {
                index,
                score: pos.map(|pos| scores[pos].clone()),
                spark: pos
                    .map(|pos| std::mem::take(&mut values[pos]))
                    .unwrap_or_default(),
                rank: r,
            })
        })
        .filter(|row| visible(row.index))
        .collect();
    Ok(LeagueTable {
        basis: ranking.basis,
        funnel: ranking.funnel,
        spark_grain: sparks.grain,
        spark_periods: sparks.periods,
        rows,
    })
}
