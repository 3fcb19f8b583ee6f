//! The reference polars queries the loops are checked against (tests only):
//! the same ingredients from lazy group-bys.

use super::*;

/// Name of the unit-code column in the queries' frames.
const UNIT: &str = "unit";

/// `col(name) == code`, false when no event has the value.
pub(super) fn is_code(name: &str, code: Option<u32>) -> Expr {
    match code {
        Some(v) => col(name).eq(lit(v)),
        None => lit(false),
    }
}

/// Query: additive counts per unit from the event table.
///
/// Each count is first a plain column (the row's `n` where the condition
/// holds), then summed per unit: sums of plain columns take polars' fast
/// grouped path, conditional expressions inside `agg` do not.
pub fn counts_lazy(pre: &PreAgg, events: LazyFrame, key: &UnitKey, q: &Query) -> LazyFrame {
    let k = KindCodes::of(pre);
    let issue = is_code(c::KIND, k.issue);
    let n_if = |pred: Expr, name: &str| {
        when(pred.fill_null(false))
            .then(col(p::N).cast(DataType::Int64))
            .otherwise(lit(0i64))
            .alias(name)
    };
    let names = [
        "issues",
        "incidents",
        "visits",
        "resolved",
        "satisfied",
        "basic",
        "unsatisfied",
        "cleared",
        "discovered",
        "sourced",
    ];
    let discovered = lit(Series::new("".into(), k.discovered)).implode(false);
    let bits = || col(p::FLAGS).cast(DataType::Int32);
    let flag = |f: u8| (bits() / lit(i32::from(f)) % lit(2)).eq(lit(1));
    let rating = |r: i32| (bits() / lit(1i32 << flags::RATING_SHIFT) % lit(4)).eq(lit(r));
    events
        .filter(pre.predicate(q))
        .select([
            key.expr.clone().alias(UNIT),
            n_if(issue.clone(), "issues"),
            n_if(is_code(c::KIND, k.incident), "incidents"),
            n_if(is_code(c::KIND, k.visit), "visits"),
            n_if(flag(flags::RESOLVED), "resolved"),
            n_if(rating(1), "satisfied"),
            n_if(rating(2), "basic"),
            n_if(rating(3), "unsatisfied"),
            n_if(flag(flags::CLEARED), "cleared"),
            n_if(
                issue.clone().and(col(c::SOURCE).is_in(discovered, false)),
                "discovered",
            ),
            n_if(issue.and(col(c::SOURCE).is_not_null()), "sourced"),
        ])
        .group_by([col(UNIT)])
        .agg(
            names
                .iter()
                .map(|n| col(*n).sum().cast(DataType::Int64))
                .collect::<Vec<_>>(),
        )
        .filter(col(UNIT).is_not_null())
}

/// The closing time, the resolved flag and the deadline of the issue
/// table's rows as they stood at a cut (`by(t)`: `t` came by it), as
/// `Step::closure` and `Step::deadline` take them.
fn as_of(by: impl Fn(Expr) -> Expr) -> (Expr, Expr, Expr) {
    let (first_closed, reopen) = (col(p::FLOW_US[FIRST_CLOSED]), col(p::FLOW_US[REOPEN]));
    let reopened = by(first_closed.clone())
        .and(by(reopen).not())
        .fill_null(false);
    let (extended, first_due) = (col(p::FLOW_US[EXT]), col(p::FLOW_US[FIRST_DUE]));
    let later = by(extended)
        .not()
        .and(first_due.clone().is_not_null())
        .fill_null(false);
    (
        when(reopened.clone())
            .then(first_closed)
            .otherwise(col(p::RES_US)),
        when(reopened)
            .then(lit(true))
            .otherwise(col(p::IS_RESOLVED)),
        when(later).then(first_due).otherwise(col(p::DUE_US)),
    )
}

/// Query: on-time counts and resolution-time quantiles per unit.
pub fn lifecycle_lazy(
    pre: &PreAgg,
    issues: LazyFrame,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
) -> LazyFrame {
    let at_end = |t: Expr| t.lt(lit(end_us));
    let (res, resolved, due) = as_of(at_end);
    let occ = col(p::OCC_US);
    let flag = |pred: Expr, name: &str| pred.fill_null(false).cast(DataType::Int64).alias(name);
    let closed = resolved
        .clone()
        .and(res.clone().is_null().or(res.clone().lt(lit(end_us))));
    let timed = closed.clone().and(res.clone().is_not_null());
    let hours = when(timed.clone().and(res.clone().gt_eq(occ.clone())))
        .then((res.clone() - occ).cast(DataType::Float64) / lit(3_600_000_000.0))
        .otherwise(lit(NULL).cast(DataType::Float64));
    let (first, resumed) = (col(p::FLOW_US[SUS]), col(p::FLOW_US[RSM]));
    let suspended = col(p::SUSP_US)
        .is_not_null()
        .and(col(p::SUSP_US).lt(lit(end_us)))
        .or(first
            .clone()
            .is_not_null()
            .and(first.lt(lit(end_us)))
            .and(resumed.clone().is_not_null())
            .and(resumed.gt_eq(lit(end_us))))
        .fill_null(false);
    let due_closure = suspended
        .clone()
        .not()
        .and(closed.clone().or(due.clone().lt(lit(end_us))));
    let closed_due = due_closure.clone().and(closed.clone());
    let closed_on_time = closed_due
        .clone()
        .and(due.clone().is_null().or(res.clone().lt_eq(due.clone())));
    issues
        .filter(pre.predicate(q).and(col(c::DUPLICATE).not()))
        .select([
            key.expr.clone().alias(UNIT),
            hours.alias("hours"),
            lit(1i64).alias("cases"),
            flag(due_closure, "due_closure"),
            flag(closed_due, "closed_due"),
            flag(closed_on_time, "closed_on_time"),
            flag(
                timed
                    .clone()
                    .and(due.clone().is_not_null())
                    .and(res.lt_eq(due.clone())),
                "on_time",
            ),
            flag(
                due.clone().is_not_null().and(
                    timed.or(closed
                        .clone()
                        .not()
                        .and(suspended.clone().not())
                        .and(due.lt(lit(end_us)))),
                ),
                "due",
            ),
        ])
        .group_by([col(UNIT)])
        .agg([
            col("cases").sum(),
            col("on_time").sum(),
            col("due").sum(),
            col("due_closure").sum(),
            col("closed_due").sum(),
            col("closed_on_time").sum(),
            col("hours").median().alias("median_hours"),
            col("hours")
                .quantile(lit(0.9), QuantileMethod::Linear)
                .alias("p90_hours"),
        ])
        .filter(col(UNIT).is_not_null())
}

/// Query: backlog and overdue at the window end, over all issues before it.
pub fn backlog_lazy(
    pre: &PreAgg,
    issues: LazyFrame,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
) -> LazyFrame {
    let before_end = Query {
        from: None,
        to: None,
        ..q.clone()
    };
    let (res, resolved, due) = as_of(|t| t.lt(lit(end_us)));
    // A resolved issue without a time is taken as resolved before the end:
    // the alternative would keep it in the backlog forever.
    let done = res
        .clone()
        .is_not_null()
        .and(res.clone().lt(lit(end_us)))
        .or(resolved.and(res.is_null()));
    let open = done.not().fill_null(false);
    // Not overdue while suspended then (in the current suspension or the first).
    let before = |t: Expr| t.lt(lit(end_us));
    let (first, resumed) = (col(p::FLOW_US[SUS]), col(p::FLOW_US[RSM]));
    let suspended = before(col(p::SUSP_US))
        .fill_null(false)
        .or(before(first).and(before(resumed).not()).fill_null(false));
    let overdue = open
        .clone()
        .and(due.lt(lit(end_us)))
        .and(suspended.not())
        .fill_null(false);
    issues
        .filter(
            pre.predicate(&before_end)
                .and(col(p::OCC_US).lt(lit(end_us)))
                .and(col(c::DUPLICATE).not()),
        )
        .select([
            key.expr.clone().alias(UNIT),
            open.cast(DataType::Int64).alias("backlog"),
            overdue.cast(DataType::Int64).alias("overdue"),
        ])
        .group_by([col(UNIT)])
        .agg([col("backlog").sum(), col("overdue").sum()])
        .filter(col(UNIT).is_not_null())
}

/// Query: distinct households visited per unit.
pub fn households_lazy(pre: &PreAgg, households: LazyFrame, key: &UnitKey, q: &Query) -> LazyFrame {
    households
        .filter(pre.predicate(q))
        .with_column(key.expr.clone().alias(UNIT))
        .group_by([col(UNIT)])
        .agg([col(p::HOUSEHOLD)
            .n_unique()
            .cast(DataType::Int64)
            .alias("households_visited")])
        .filter(col(UNIT).is_not_null())
}

/// Per-unit rows of a collected frame: unit code → (column → value).
#[cfg(test)]
pub(super) fn read_rows(
    df: &DataFrame,
    key: &UnitKey,
    into: &mut HashMap<String, Ingredients>,
    set: impl Fn(&mut Ingredients, &str, Option<f64>),
) -> Result<(), AnalyticsError> {
    let units = df.column(UNIT)?.u32()?.clone();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .filter(|n| n != UNIT)
        .collect();
    let cols: Vec<Float64Chunked> = names
        .iter()
        .map(|n| Ok(df.column(n)?.cast(&DataType::Float64)?.f64()?.clone()))
        .collect::<Result<_, PolarsError>>()?;
    for (row, unit) in units.iter().enumerate() {
        let Some(unit) = unit.and_then(|u| key.names.get(u as usize)) else {
            continue;
        };
        let ing = into.entry(unit.clone()).or_default();
        for (name, column) in names.iter().zip(&cols) {
            set(ing, name, column.get(row));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(super) fn set_field(i: &mut Ingredients, name: &str, v: Option<f64>) {
    // Counts come from sums of non-negative integers, so the cast is exact.
    let n = v.unwrap_or(0.0).max(0.0) as u64;
    match name {
        "issues" => i.issues = n,
        "incidents" => i.incidents = n,
        "visits" => i.visits = n,
        "resolved" => i.resolved = n,
        "satisfied" => i.satisfied = n,
        "basic" => i.basic = n,
        "unsatisfied" => i.unsatisfied = n,
        "cleared" => i.cleared = n,
        "discovered" => i.discovered = n,
        "sourced" => i.sourced = n,
        "on_time" => i.on_time = n,
        "cases" => i.cases = n,
        "due" => i.due = n,
        "due_closure" => i.due_closure = n,
        "closed_due" => i.closed_due = n,
        "closed_on_time" => i.closed_on_time = n,
        "backlog" => i.backlog = n,
        "overdue" => i.overdue = n,
        "households_visited" => i.households_visited = n,
        "median_hours" => i.median_hours = v,
        "p90_hours" => i.p90_hours = v,
        _ => {}
    }
}
