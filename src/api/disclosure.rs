//! Disclosure control, in one place: what a caller is shown of a unit it
//! sees only as a total.
//!
//! Only grid chiefs see units that way: their grids fully, their village,
//! township and county as totals (`super::scope`). Subtracting what they
//! see below such a unit from its total gives the figures of the units
//! they may not see. So, with k = [`MIN_CELL`] (5):
//!
//! * a unit with exactly one child hidden from the caller is shown without
//!   any figure (the subtraction would be that child's exact figures); a
//!   unit with no hidden child reveals nothing new and is shown whole;
//! * otherwise, when the hidden remainder (the unit's figure minus those of
//!   the children the caller sees) of its events, of a count metric, of a
//!   ratio's denominator or of a rate's event count lies between 1 and
//!   k − 1, that figure is withheld (all of them for the events).
//!
//! Map values and trends (period by period) go through [`shown`]; KPIs and
//! the metric export through [`Guards`] (a figure by the window's rule, its
//! 同比/环比 change also by the base window's); a trend's spike alerts
//! (observed counts) are given only for units seen fully; units seen fully
//! are answered as they are. Exports to roles other than analysts also
//! blank small cells by their own rule ([`crate::export::metrics::suppress`]).

use std::collections::HashSet;

use super::error::ApiError;
use super::scope::Scope;
use crate::analytics::metrics::ingredients;
use crate::analytics::{catalogue, Ingredients, MetricTable, PreAgg, Query, UnitContext};
use crate::export::MIN_CELL;
use crate::grid::GridModel;

/// What of a unit's figures a caller is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// Every figure.
    All,
    /// No figure.
    Nothing,
    /// Every figure but these metrics.
    Except(HashSet<&'static str>),
}

impl Shown {
    /// Whether the metric `name` is shown.
    pub fn metric(&self, name: &str) -> bool {
        match self {
            Shown::All => true,
            Shown::Nothing => false,
            Shown::Except(hidden) => !hidden.contains(name),
        }
    }
}

fn events(i: &Ingredients) -> f64 {
    (i.issues + i.incidents + i.visits) as f64
}

/// What `scope` is shown of unit `i` for the window `q` (`pre` holds at
/// least the events under `i`).
pub fn shown(
    scope: &Scope,
    model: &GridModel,
    pre: &PreAgg,
    q: &Query,
    i: usize,
) -> Result<Shown, ApiError> {
    if scope.full(i) {
        return Ok(Shown::All);
    }
    let u = model.unit(i);
    let (seen, hidden): (Vec<usize>, Vec<usize>) =
        u.children.iter().partition(|&&c| scope.total(c));
    match hidden.len() {
        0 => return Ok(Shown::All),
        1 => return Ok(Shown::Nothing),
        _ => {}
    }
    let whole = ingredients(pre, model, u.level, q)?
        .remove(&u.code)
        .unwrap_or_default();
    let below = ingredients(pre, model, u.level + 1, q)?;
    let seen: Vec<(Ingredients, UnitContext)> = seen
        .iter()
        .map(|&c| {
            let cu = model.unit(c);
            (
                below.get(&cu.code).cloned().unwrap_or_default(),
                UnitContext::of(model, c),
            )
        })
        .collect();
    let k = MIN_CELL as f64;
    let small = |rest: f64| rest > 0.0 && rest < k;
    let rest_events = events(&whole) - seen.iter().map(|(s, _)| events(s)).sum::<f64>();
    if small(rest_events) {
        return Ok(Shown::Nothing);
    }
    let cx = UnitContext::of(model, i);
    let mut withheld = HashSet::new();
    for m in catalogue() {
        // The part of the figure that only the hidden children make up.
        let part = |f: &dyn Fn(&Ingredients, &UnitContext) -> Option<f64>| {
            f(&whole, &cx).map(|w| w - seen.iter().filter_map(|(s, c)| f(s, c)).sum::<f64>())
        };
        let rest = if m.is_count {
            part(&|a, c| (m.value)(a, c))
        } else if let Some(ratio) = m.ratio {
            part(&|a, c| ratio(a, c).map(|r| r.den))
        } else if let Some(exposure) = m.exposure {
            part(&|a, c| exposure(a, c).map(|r| r.num))
        } else {
            None
        };
        if rest.is_some_and(small) {
            withheld.insert(m.name);
        }
    }
    Ok(if withheld.is_empty() {
        Shown::All
    } else {
        Shown::Except(withheld)
    })
}

/// What a caller is shown of a unit's figures in a window and of their
/// changes against the same window a year before (同比) and the one
/// before it (环比): a change would give away its base, so it is shown
/// only where the figure is shown in both windows.
pub struct Guards {
    now: Shown,
    yoy: Shown,
    pop: Shown,
}

impl Guards {
    /// The guards of unit `i` for `scope` in window `q`.
    pub fn of(
        scope: &Scope,
        model: &GridModel,
        pre: &PreAgg,
        q: &Query,
        i: usize,
    ) -> Result<Guards, ApiError> {
        if scope.full(i) {
            return Ok(Guards {
                now: Shown::All,
                yoy: Shown::All,
                pop: Shown::All,
            });
        }
        let base = |b: Option<Query>| match b {
            Some(b) => shown(scope, model, pre, &b, i),
            // No base window, no change to give away.
            None => Ok(Shown::All),
        };
        Ok(Guards {
            now: shown(scope, model, pre, q, i)?,
            yoy: base(q.same_period_last_year())?,
            pop: base(q.previous_period())?,
        })
    }

    /// Whether the figure of metric `name` is shown.
    pub fn value(&self, name: &str) -> bool {
        self.now.metric(name)
    }

    /// Whether its 同比 change is shown.
    pub fn yoy(&self, name: &str) -> bool {
        self.now.metric(name) && self.yoy.metric(name)
    }

    /// Whether its 环比 change is shown.
    pub fn pop(&self, name: &str) -> bool {
        self.now.metric(name) && self.pop.metric(name)
    }
}

/// `table` (of window `q`) as `scope` may see it: the figures and changes
/// of units it sees only as totals blanked by their [`Guards`].
pub fn withhold(
    table: &mut MetricTable,
    scope: &Scope,
    model: &GridModel,
    pre: &PreAgg,
    q: &Query,
) -> Result<(), ApiError> {
    // Units out of scope are left to the caller's selection, which drops
    // them; only those seen as totals are weighed (each costs its tier's
    // ingredients in up to three windows).
    let totals = table
        .rows
        .iter_mut()
        .filter(|r| scope.total(r.index) && !scope.full(r.index));
    for r in totals {
        let g = Guards::of(scope, model, pre, q, r.index)?;
        for m in catalogue() {
            if !g.value(m.name) {
                r.values.insert(m.name, None);
            }
            if !g.yoy(m.name) {
                r.yoy.remove(m.name);
            }
            if !g.pop(m.name) {
                r.pop.remove(m.name);
            }
        }
    }
    Ok(())
}
