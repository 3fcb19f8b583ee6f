//! What a metric's formula reads of one unit: its [`Ingredients`] (the
//! counts, durations and backlog of its events under a query, filled by
//! [`super::metrics`]) and its [`UnitContext`] (area, households, grids).
//! Every metric of [`super::catalogue()`] is a plain function of the two.

use serde::Serialize;

use crate::grid::{GridModel, GRID_LEVEL};

/// Additive counts (and duration quantiles) of one unit over one query.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ingredients {
    /// Issues reported (every report: the call volume).
    pub issues: u64,
    /// Of `issues`, the cases: reports that repeat no other case (重复件
    /// are counted under the case they repeat).
    pub cases: u64,
    /// Incidents.
    pub incidents: u64,
    /// Visits.
    pub visits: u64,
    /// Issues with status resolved.
    pub resolved: u64,
    /// Issues resolved at or before their deadline.
    pub on_time: u64,
    /// Issues with a deadline that are due (resolved, or open past the deadline at window end).
    pub due: u64,
    /// 应结案: issues of the window, not suspended at the window end, closed
    /// by it or with a deadline at or before it (as of the window end).
    pub due_closure: u64,
    /// 结案: of `due_closure`, closed by the window end.
    pub closed_due: u64,
    /// 按期结案: of `closed_due`, closed at or before the deadline (or without one).
    pub closed_on_time: u64,
    /// Issues rated satisfied.
    pub satisfied: u64,
    /// Issues rated basically satisfied.
    pub basic: u64,
    /// Issues rated unsatisfied.
    pub unsatisfied: u64,
    /// Incidents cleared.
    pub cleared: u64,
    /// Issues found by patrols or visits.
    pub discovered: u64,
    /// Issues with a known source.
    pub sourced: u64,
    /// Distinct households visited.
    pub households_visited: u64,
    /// Issues open at the window end (all history).
    pub backlog: u64,
    /// Of the backlog, past their deadline at the window end.
    pub overdue: u64,
    /// Of the window's issues, dispatched by its end (派遣).
    pub dispatched: u64,
    /// Of `dispatched`, handled (or closed) by the window end (处置).
    pub handled: u64,
    /// Of `handled`, handled at or before the deadline in force (or without one).
    pub handled_on_time: u64,
    /// Of `dispatched`, with the deadline extended by the window end (延期).
    pub extended: u64,
    /// Of `dispatched`, returned at least once by the window end (退单).
    pub returned: u64,
    /// Of `closed_due`, re-opened or failed a check by the window end (返工).
    pub reworked: u64,
    /// Of the window's issues, closed by its end.
    pub closed: u64,
    /// Of `closed`, with a satisfaction rating (回访).
    pub closed_rated: u64,
    /// Of `closed`, with a `solved` report.
    pub solved_reported: u64,
    /// Of `solved_reported`, actually solved (实际解决).
    pub solved: u64,
    /// Of `closed`, never escalated above the village by the window end (就地化解).
    pub closed_local: u64,
    /// Issues of all history dispatched by the window end and neither
    /// handled nor closed by it (待处置).
    pub pending_handling: u64,
    /// Of `pending_handling`, past the deadline at the window end (超期待处置).
    pub overdue_pending: u64,
    /// Repeat-complaint points (重复投诉点位) of the window's issues whose
    /// home is in the unit, at level 3 and level 5 ("3次以上", "5次以上";
    /// [`super::repeats`], default distance and span).
    pub repeat_points: [u64; 2],
    /// Median hours from the report to the first action after it (响应时长).
    pub response_hours: Option<f64>,
    /// Mean hours from the first action (acceptance) to closure (办理周期).
    pub cycle_hours: Option<f64>,
    /// Median hours to resolve.
    pub median_hours: Option<f64>,
    /// 90th percentile hours to resolve.
    pub p90_hours: Option<f64>,
}

impl Ingredients {
    /// Issues with a satisfaction rating.
    pub fn rated(&self) -> u64 {
        self.satisfied + self.basic + self.unsatisfied
    }
}

/// What a unit brings to its metrics besides events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct UnitContext {
    /// Area in km².
    pub area_km2: f64,
    /// Households; `None` = no data.
    pub households: Option<u64>,
    /// Tier-3 grids in the unit (1 for a grid).
    pub grids: u64,
}

impl UnitContext {
    /// The context of a unit of the model.
    pub fn of(gm: &GridModel, index: usize) -> UnitContext {
        let u = gm.unit(index);
        let grids = if u.level == GRID_LEVEL {
            1
        } else {
            gm.descendants(index)
                .iter()
                .filter(|&&d| gm.unit(d).level == GRID_LEVEL)
                .count() as u64
        };
        UnitContext {
            area_km2: u.area_km2,
            households: gm.households(index),
            grids,
        }
    }
}
