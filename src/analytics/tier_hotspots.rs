//! Hot spots of one metric over the units of a tier: what `/hotspots` and
//! `wangge hotspots` answer, as one call.

use std::sync::Arc;

use super::catalogue::MetricDef;
use super::filter::Query;
use super::hotspots::{analyse, HotspotReport};
use super::metrics::metric_values;
use super::preagg::PreAgg;
use super::weights::Weights;
use super::AnalyticsError;
use crate::grid::GridModel;

/// How a hot-spot analysis is run.
#[derive(Debug, Clone, Copy)]
pub struct HotspotParams {
    /// Permutations of the pseudo p-values (0: none).
    pub permutations: usize,
    /// Seed of the permutations, so that a report can be reproduced.
    pub seed: u64,
    /// False-discovery rate of the hot and cold classes.
    pub fdr: f64,
}

/// A tier's hot spots on one metric.
pub struct TierHotspots {
    /// Codes of the units analysed (those with a value), in model order.
    pub codes: Vec<String>,
    /// Their values, in the same order.
    pub values: Vec<f64>,
    /// Units left out for want of a value: listed, not imputed.
    pub no_data: Vec<String>,
    /// The spatial weights between the units analysed.
    pub weights: Arc<Weights>,
    /// Every statistic, unit by unit in the order of `codes`.
    pub report: HotspotReport,
}

/// The weights between the model units handed over.
pub type WeightsOf<'a, E> = dyn Fn(&[usize]) -> Result<Arc<Weights>, E> + 'a;

/// Why a tier has no hot-spot statistic: fewer than three units with a
/// value, values all equal, or units without enough neighbours.
#[derive(Debug, Clone, PartialEq)]
pub struct NoStatistic(pub String);

impl std::fmt::Display for NoStatistic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no hot-spot statistic: {}", self.0)
    }
}

/// The hot spots of `def` over `q` among the units of `level` that `keep`
/// accepts (by model index), reading only the tables the metric's formula
/// uses. `weights` gives the weights between the model units it is handed
/// (queen contiguity, a distance band; the caller may cache them). A tier
/// without a statistic is [`NoStatistic`], not an error: callers may show
/// it as none.
#[allow(clippy::too_many_arguments)]
pub fn tier_hotspots<E: From<AnalyticsError>>(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    def: &MetricDef,
    q: &Query,
    keep: &dyn Fn(usize) -> bool,
    weights: &WeightsOf<E>,
    params: HotspotParams,
) -> Result<Result<TierHotspots, NoStatistic>, E> {
    let mut units = Vec::new();
    let mut values = Vec::new();
    let mut no_data = Vec::new();
    for (index, v) in metric_values(pre, gm, level, q, def)? {
        if !keep(index) {
            continue;
        }
        match v {
            Some(v) => {
                units.push(index);
                values.push(v);
            }
            None => no_data.push(gm.unit(index).code.clone()),
        }
    }
    if units.len() < 3 {
        let why = format!("{} units with a value; hot spots need 3", units.len());
        return Ok(Err(NoStatistic(why)));
    }
    let codes: Vec<String> = units.iter().map(|&i| gm.unit(i).code.clone()).collect();
    let weights = weights(&units)?;
    let report = match analyse(
        &codes,
        &values,
        &weights,
        params.permutations,
        params.seed,
        params.fdr,
    ) {
        Ok(r) => r,
        Err(AnalyticsError::Shape { reason }) => return Ok(Err(NoStatistic(reason))),
        Err(e) => return Err(e.into()),
    };
    Ok(Ok(TierHotspots {
        codes,
        values,
        no_data,
        weights,
        report,
    }))
}
