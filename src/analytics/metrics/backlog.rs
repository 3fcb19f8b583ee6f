//! The backlog at a window's end (issues of all history), per unit, and
//! its series over periods.

use super::*;

/// [`backlog_lazy`] by a loop.
pub(super) fn add_backlog(
    pre: &PreAgg,
    issues: &DataFrame,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let before_end = Query {
        from: None,
        to: None,
        ..q.clone()
    };
    let f = pre.code_filter(&before_end);
    let (keys, times) = (
        KeyCols::of_kind(issues, pre.kind_code(ISSUE))?,
        Times::of(pre, issues)?,
    );
    let rows = keys.rows(key, &f);
    let (occ, res, due, resolved) = times.views();
    let steps = times.steps();
    let n = key.names.len();
    let (mut backlog, mut overdue, mut seen) = (vec![0u64; n], vec![0u64; n], vec![false; n]);
    let (mut pending, mut overdue_pending) = (vec![0u64; n], vec![0u64; n]);
    for row in 0..keys.len() {
        // The unit and filter first: with a category kept, most rows of
        // all history stop there.
        let Some(u) = rows.unit(row) else { continue };
        if occ.get(row).is_none_or(|o| o >= end_us) || times.dup(row) {
            continue;
        }
        let i = u as usize;
        seen[i] = true;
        // A resolved issue without a time is taken as resolved before the end.
        let res = res.get(row);
        let done = res.is_some_and(|r| r < end_us) || (res.is_none() && resolved(row));
        if !done {
            let late = due.get(row).is_some_and(|d| d < end_us);
            backlog[i] += 1;
            overdue[i] += u64::from(late);
            // 待处置: dispatched by the end, not handled by it.
            let step = steps.at(row);
            let at = |t: usize| step.flow(t).is_some_and(|x| x < end_us);
            if at(DISP) && !at(HAND) {
                pending[i] += 1;
                overdue_pending[i] += u64::from(late);
            }
        }
    }
    for i in (0..n).filter(|&i| seen[i]) {
        let ing = into.at(i);
        ing.backlog = backlog[i];
        ing.overdue = overdue[i];
        ing.pending_handling = pending[i];
        ing.overdue_pending = overdue_pending[i];
    }
    Ok(())
}

/// Open and overdue issues by unit code, at one period end.
pub type BacklogByUnit = HashMap<String, (u64, u64)>;

/// Backlog and overdue of every unit of `level` at the end of each of the
/// periods ending on `tos` (ascending, exclusive local dates), in one pass
/// over the issues: an issue is open from its report to its resolution,
/// so it adds one to a contiguous run of period ends (a difference array),
/// where [`ingredients_of`] would scan all history once per period. Units
/// without any issue reported before an end are absent from its map.
pub fn backlog_series(
    pre: &PreAgg,
    gm: &GridModel,
    level: u8,
    q: &Query,
    tos: &[NaiveDate],
) -> Result<Vec<BacklogByUnit>, AnalyticsError> {
    let key = unit_key(pre, gm, level)?;
    let all_history = Query {
        from: None,
        to: tos.last().copied(),
        zone: pre.zone,
        ..q.clone()
    };
    let f = pre.code_filter(&Query {
        to: None,
        ..all_history.clone()
    });
    let ends: Vec<i64> = tos.iter().map(|d| pre.zone.midnight_us(*d)).collect();
    let issues = pre.issues_before_end(&all_history);
    let (keys, times) = (
        KeyCols::of_kind(&issues, pre.kind_code(ISSUE))?,
        Times::of(pre, &issues)?,
    );
    let rows = keys.rows(&key, &f);
    let (occ, res, due, resolved) = times.views();
    let (n, m) = (key.names.len(), ends.len());
    let first_above = |t: i64| ends.partition_point(|&e| e <= t);
    let mut open = vec![0i64; n * (m + 1)];
    let mut late = vec![0i64; n * (m + 1)];
    let mut first = vec![m; n];
    for row in 0..keys.len() {
        let (Some(o), Some(u)) = (occ.get(row), rows.unit(row)) else {
            continue;
        };
        if times.dup(row) {
            continue;
        }
        let (u, a) = (u as usize, first_above(o));
        if a == m {
            continue;
        }
        first[u] = first[u].min(a);
        let res = res.get(row);
        if res.is_none() && resolved(row) {
            continue; // resolved at an unknown time: never in a backlog
        }
        // Open at every end E with o < E <= res.
        let b = res.map_or(m, first_above);
        if b > a {
            open[u * (m + 1) + a] += 1;
            open[u * (m + 1) + b] -= 1;
        }
        if let Some(d) = due.get(row) {
            let a = a.max(first_above(d));
            if b > a {
                late[u * (m + 1) + a] += 1;
                late[u * (m + 1) + b] -= 1;
            }
        }
    }
    let mut out = vec![HashMap::new(); m];
    for u in 0..n {
        let (mut b, mut o) = (0i64, 0i64);
        for (k, period) in out.iter_mut().enumerate() {
            b += open[u * (m + 1) + k];
            o += late[u * (m + 1) + k];
            if k >= first[u] {
                period.insert(key.names[u].clone(), (b.max(0) as u64, o.max(0) as u64));
            }
        }
    }
    Ok(out)
}
