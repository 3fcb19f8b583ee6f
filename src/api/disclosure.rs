//! Disclosure control, in one place: what a caller is shown of a unit it
//! sees only as a total.
//!
//! Only grid chiefs see units that way: their grids fully, and their
//! village, township and county by name and outline (the map and the panel
//! place the grid among them), without any figure. Any figure of such a
//! unit less what the chief sees of their own grids is a figure of units
//! hidden from them. Withholding only the figures whose hidden remainder
//! was small, as this module did before, could be undone: two windows
//! subtracted (a year less the same year without its last month gives
//! that month), the median and 90th percentile of a few hidden cases
//! (they give each case's duration), a rate whose parts were withheld
//! read against its bounds. A chief is shown nothing of other areas, so
//! no figure of a unit above their own reaches them: map values, trends,
//! league tables, KPIs and their 同比/环比, OGC attributes and metric
//! exports all ask [`shown`]. Units seen fully are answered as they are.
//! Exports to roles other than analysts also blank small cells by their
//! own rule ([`crate::export::metrics::suppress`]).

use super::scope::Scope;
use crate::analytics::{catalogue, MetricTable};

/// What of a unit's figures a caller is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Every figure.
    All,
    /// No figure.
    Nothing,
}

impl Shown {
    /// Whether the metric `name` is shown.
    pub fn metric(&self, _name: &str) -> bool {
        *self == Shown::All
    }
}

/// What `scope` is shown of the figures of unit `i`: all of a unit it
/// sees fully, none of one it sees only as a total.
pub fn shown(scope: &Scope, i: usize) -> Shown {
    if scope.full(i) {
        Shown::All
    } else {
        Shown::Nothing
    }
}

/// What a caller is shown of a unit's figures in a window and of their
/// changes against the same window a year before (同比) and the one
/// before it (环比).
pub struct Guards {
    shown: Shown,
}

impl Guards {
    /// The guards of unit `i` for `scope`.
    pub fn of(scope: &Scope, i: usize) -> Guards {
        Guards {
            shown: shown(scope, i),
        }
    }

    /// Whether the figure of metric `name` is shown.
    pub fn value(&self, name: &str) -> bool {
        self.shown.metric(name)
    }

    /// Whether its 同比 change is shown.
    pub fn yoy(&self, name: &str) -> bool {
        self.shown.metric(name)
    }

    /// Whether its 环比 change is shown.
    pub fn pop(&self, name: &str) -> bool {
        self.shown.metric(name)
    }
}

/// `table` as `scope` may see it: the figures and changes of units it
/// sees only as totals blanked.
pub fn withhold(table: &mut MetricTable, scope: &Scope) {
    // Units out of scope are left to the caller's selection, which drops
    // them; only those seen as totals are blanked.
    let totals = table
        .rows
        .iter_mut()
        .filter(|r| scope.total(r.index) && !scope.full(r.index));
    for r in totals {
        for m in catalogue() {
            r.values.insert(m.name, None);
        }
        r.yoy.clear();
        r.pop.clear();
    }
}
