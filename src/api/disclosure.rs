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
//! * otherwise, when the hidden remainder of its events, of a count
//!   metric, of a ratio's numerator or denominator or of a rate's event
//!   count lies between 1 and k − 1, that figure is withheld (all of them
//!   for the events); with a count of events or of one kind withheld, the
//!   kind with the smallest hidden remainder too, the events when the
//!   kinds withheld add up to a small remainder, and every figure of a
//!   count withheld ([`crate::analytics::event_complements`]: events =
//!   issues + incidents + visits, so one withheld alone is a subtraction
//!   away).
//!   The remainder is the unit's figure minus what the caller can
//!   work out below it: a child's figure where the caller is shown it,
//!   else what it can work out of that child's children (a village total
//!   withheld from a chief is not subtracted from the township's; the
//!   chief's own grid is).
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
use crate::analytics::{
    catalogue, event_complements, EventCount, Ingredients, MetricTable, PreAgg, Query, UnitContext,
};
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

/// The count metrics whose sum is a unit's events.
const EVENT_COUNTS: [&str; 3] = ["issue_count", "incident_count", "visit_count"];
/// The count metric of each [`EventCount`], in its order.
const COUNT_METRICS: [&str; 4] = [
    "event_count",
    "issue_count",
    "incident_count",
    "visit_count",
];

/// What `scope` is shown of unit `i` for the window `q` (`pre` holds at
/// least the events under `i`).
pub fn shown(
    scope: &Scope,
    model: &GridModel,
    pre: &PreAgg,
    q: &Query,
    i: usize,
) -> Result<Shown, ApiError> {
    Weigher {
        scope,
        model,
        pre,
        q,
        tiers: Default::default(),
        memo: Default::default(),
    }
    .shown(i)
}

/// A figure of a unit, from its ingredients and context.
type Figure<'f> = &'f dyn Fn(&Ingredients, &UnitContext) -> Option<f64>;
/// A metric's figure weighed by [`Weigher::weigh`].
type MetricFigure = Box<dyn Fn(&Ingredients, &UnitContext) -> Option<f64>>;

/// [`shown`] for the units of one window: each unit's figures, and what
/// the caller knows of each child, computed once.
struct Weigher<'a> {
    scope: &'a Scope,
    model: &'a GridModel,
    pre: &'a PreAgg,
    q: &'a Query,
    tiers: std::collections::HashMap<u8, std::collections::HashMap<String, Ingredients>>,
    memo: std::collections::HashMap<usize, Shown>,
}

impl Weigher<'_> {
    fn ingredients(&mut self, i: usize) -> Result<Ingredients, ApiError> {
        let u = self.model.unit(i);
        if !self.tiers.contains_key(&u.level) {
            let tier = ingredients(self.pre, self.model, u.level, self.q)?;
            self.tiers.insert(u.level, tier);
        }
        Ok(self.tiers[&u.level]
            .get(&u.code)
            .cloned()
            .unwrap_or_default())
    }

    fn shown(&mut self, i: usize) -> Result<Shown, ApiError> {
        if self.scope.full(i) {
            return Ok(Shown::All);
        }
        if let Some(s) = self.memo.get(&i) {
            return Ok(s.clone());
        }
        let s = self.weigh(i)?;
        self.memo.insert(i, s.clone());
        Ok(s)
    }

    /// What the caller can work out of a figure of unit `c` (in its
    /// scope): the figure itself where it is shown (`metric`: the metric
    /// it belongs to; `None`: the events, shown with their three counts),
    /// else the sum of what it can work out of `c`'s children.
    fn known(&mut self, c: usize, metric: Option<&str>, f: Figure<'_>) -> Result<f64, ApiError> {
        let s = self.shown(c)?;
        let visible = match metric {
            Some(name) => s.metric(name),
            None => EVENT_COUNTS.iter().all(|m| s.metric(m)),
        };
        if visible {
            let ing = self.ingredients(c)?;
            return Ok(f(&ing, &UnitContext::of(self.model, c)).unwrap_or(0.0));
        }
        let mut sum = 0.0;
        for &g in &self.model.unit(c).children {
            if self.scope.total(g) {
                sum += self.known(g, metric, f)?;
            }
        }
        Ok(sum)
    }

    /// A unit seen as a total, weighed against what the caller can work
    /// out of its children: a figure whose remainder is small is withheld.
    ///
    /// The children's figures count as known only where the caller is
    /// shown them (a village total withheld from a chief is not
    /// subtracted from the township's; the chief's own grids are): the
    /// remainder is what subtracting everything the caller sees below the
    /// unit would give away.
    fn weigh(&mut self, i: usize) -> Result<Shown, ApiError> {
        let u = self.model.unit(i);
        let (seen, hidden): (Vec<usize>, Vec<usize>) =
            u.children.iter().partition(|&&c| self.scope.total(c));
        match hidden.len() {
            0 => return Ok(Shown::All),
            1 => return Ok(Shown::Nothing),
            _ => {}
        }
        let whole = self.ingredients(i)?;
        let cx = UnitContext::of(self.model, i);
        let k = MIN_CELL as f64;
        let small = |rest: f64| rest > 0.0 && rest < k;
        let mut known_events = 0.0;
        for &c in &seen {
            known_events += self.known(c, None, &|a, _| Some(events(a)))?;
        }
        if small(events(&whole) - known_events) {
            return Ok(Shown::Nothing);
        }
        let mut withheld = HashSet::new();
        for m in catalogue() {
            // The parts of the figure that only what the caller cannot see
            // make up: a count; a ratio's numerator and denominator (a rate
            // shown with its denominator gives its numerator away); the
            // events of a count per unit of exposure.
            let parts: Vec<MetricFigure> = if m.is_count {
                vec![Box::new(move |a, c| (m.value)(a, c))]
            } else if let Some(ratio) = m.ratio {
                vec![
                    Box::new(move |a, c| ratio(a, c).map(|r| r.num)),
                    Box::new(move |a, c| ratio(a, c).map(|r| r.den)),
                ]
            } else if let Some(exposure) = m.exposure {
                vec![Box::new(move |a, c| exposure(a, c).map(|r| r.num))]
            } else {
                continue;
            };
            for figure in parts {
                let Some(w) = figure(&whole, &cx) else {
                    continue;
                };
                let mut known = 0.0;
                for &c in &seen {
                    known += self.known(c, Some(m.name), &*figure)?;
                }
                if small(w - known) {
                    withheld.insert(m.name);
                }
            }
        }
        // Events = issues + incidents + visits: a count withheld alone is
        // a subtraction away, so the kind with the smallest hidden
        // remainder goes with it, and every figure of either.
        let mut counts = [false; 4];
        for m in catalogue().iter().filter(|m| withheld.contains(m.name)) {
            for &c in m.event_counts() {
                counts[c as usize] = true;
            }
        }
        if counts.iter().any(|&c| c) {
            let mut rests = [0.0; 4];
            for c in EventCount::ALL {
                let count = move |a: &Ingredients, _: &UnitContext| Some(c.of(a));
                let mut known = 0.0;
                for &s in &seen {
                    known += self.known(s, Some(COUNT_METRICS[c as usize]), &count)?;
                }
                rests[c as usize] = c.of(&whole) - known;
            }
            let counts = event_complements(counts, rests, small);
            for m in catalogue() {
                if m.event_counts().iter().any(|&c| counts[c as usize]) {
                    withheld.insert(m.name);
                }
            }
        }
        Ok(if withheld.is_empty() {
            Shown::All
        } else {
            Shown::Except(withheld)
        })
    }
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
