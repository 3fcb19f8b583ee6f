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
//! exports all ask [`shows_figures`]. Units seen fully are answered as they are.
//! Exports to roles other than analysts also blank small cells by their
//! own rule ([`crate::export::metrics::suppress`]).

use super::scope::Scope;
use crate::analytics::{catalogue, MetricTable};

/// Whether `scope` is shown the figures of unit `i`: all of a unit it
/// sees fully, none of one it sees only as a total.
pub fn shows_figures(scope: &Scope, i: usize) -> bool {
    scope.full(i)
}

/// `table` as `scope` may see it: the figures and changes of units it
/// sees only as totals blanked.
pub fn withhold(table: &mut MetricTable, scope: &Scope) {
    // Units out of scope are left to the caller's selection, which drops
    // them; only those seen as totals are blanked.
    let totals = table
        .rows
        .iter_mut()
        .filter(|r| scope.total(r.index) && !shows_figures(scope, r.index));
    for r in totals {
        for m in catalogue() {
            r.values.insert(m.name, None);
        }
        r.yoy.clear();
        r.pop.clear();
    }
}
