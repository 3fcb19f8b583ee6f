//! One unit's every catalogue metric over a window, with its change against
//! the same window a year earlier (同比) and the previous window (环比):
//! the side panel's figures, as one call.

use super::catalogue::catalogue;
use super::filter::Query;
use super::ingredients::{Ingredients, UnitContext};
use super::metrics::{change, ingredients_for, Change, Parts};
use super::preagg::PreAgg;
use super::AnalyticsError;
use crate::grid::GridModel;

/// One metric of a unit.
#[derive(Debug, Clone)]
pub struct UnitKpi {
    pub metric: &'static str,
    pub value: Option<f64>,
    /// 同比; None without a value in either window or without that window.
    pub yoy: Option<Change>,
    /// 环比, the same way.
    pub mom: Option<Change>,
}

/// Every catalogue metric of the model unit `index` over `q`, with 同比
/// and 环比, in catalogue order. The unit counts as it does on the map of
/// its tier (its tier's clustering of repeat points included).
pub fn unit_kpis(
    pre: &PreAgg,
    gm: &GridModel,
    index: usize,
    q: &Query,
) -> Result<Vec<UnitKpi>, AnalyticsError> {
    let level = gm.unit(index).level;
    let cx = UnitContext::of(gm, index);
    let at = |q: Option<Query>| -> Result<Option<Ingredients>, AnalyticsError> {
        let Some(q) = q else { return Ok(None) };
        Ok(ingredients_for(pre, gm, level, &q, Parts::ALL, &[index])?.pop())
    };
    // The three windows side by side: each is mostly loops over its own
    // rows (and, the first time, its clustering of repeat points).
    let (now, (yoy, mom)) = rayon::join(
        || at(Some(q.clone())),
        || rayon::join(|| at(q.same_period_last_year()), || at(q.previous_period())),
    );
    let (now, yoy, mom) = (now?.unwrap_or_default(), yoy?, mom?);
    Ok(catalogue()
        .iter()
        .map(|m| {
            let value = (m.value)(&now, &cx);
            let against = |base: &Option<Ingredients>| {
                let b = base.as_ref().and_then(|b| (m.value)(b, &cx));
                value.zip(b).map(|(v, b)| change(v, b))
            };
            UnitKpi {
                metric: m.name,
                value,
                yoy: against(&yoy),
                mom: against(&mom),
            }
        })
        .collect())
}
