//! The backlog at a window's end (issues of all history), per unit, and
//! its series over periods.

use super::*;

/// [`backlog_lazy`] by a loop over the issues that may be open at the
/// end ([`OpenIndex`]): those kept at the month's checkpoint and those
/// reported since, not all history.
pub(super) fn add_backlog(
    pre: &PreAgg,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let f = pre.code_filter(&Query {
        from: None,
        to: None,
        ..q.clone()
    });
    let index = pre.open_index()?;
    let issue = pre.kind_code(ISSUE);
    let n = key.names.len();
    let mut open = vec![Open::default(); n];
    // A unit with an issue before the end has a backlog, if only of zero.
    let mut seen = vec![false; n];
    for r in index.first_reports() {
        let unit = key.map.get(r.t as usize).copied().flatten();
        if let Some(u) = unit.filter(|_| r.at_us < end_us) {
            seen[u as usize] |= f.keeps(None, issue, r.category, r.source);
        }
    }
    let mut rows = index.rows_at(pre, end_us, &f)?;
    let chunks = pre.issue_chunks()?;
    if let [(_, whole)] = chunks.as_slice() {
        let all = rows.iter().map(|&r| r as usize);
        count_open(pre, whole, key, &f, end_us, all, &mut open)?;
    } else {
        // Chunk by chunk (a table appended to since its build).
        rows.sort_unstable();
        for (start, part) in chunks {
            let (lo, hi) = (
                rows.partition_point(|&r| (r as usize) < start),
                rows.partition_point(|&r| (r as usize) < start + part.height()),
            );
            let local = rows[lo..hi].iter().map(|&r| r as usize - start);
            count_open(pre, &part, key, &f, end_us, local, &mut open)?;
        }
    }
    for i in (0..n).filter(|&i| seen[i]) {
        let ing = into.at(i);
        let o = &open[i];
        (ing.backlog, ing.overdue) = (o.backlog, o.overdue);
        (ing.pending_handling, ing.overdue_pending) = (o.pending, o.overdue_pending);
    }
    Ok(())
}

/// One unit's issues open at an end.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Open {
    pub backlog: u64,
    pub overdue: u64,
    /// 待处置: dispatched by the end, not handled by it.
    pub pending: u64,
    pub overdue_pending: u64,
}

/// Adds the `rows` of the issue table `issues` (one chunk of it) that
/// are open at `end_us` to their units' counts.
pub(super) fn count_open(
    pre: &PreAgg,
    issues: &DataFrame,
    key: &UnitKey,
    f: &CodeFilter,
    end_us: i64,
    rows: impl Iterator<Item = usize>,
    open: &mut [Open],
) -> Result<(), AnalyticsError> {
    let (keys, times) = (
        KeyCols::of_kind(issues, pre.kind_code(ISSUE))?,
        Times::of(pre, issues)?,
    );
    let units = keys.rows(key, f);
    let (occ, res, due, resolved) = times.views();
    let steps = times.steps();
    for row in rows {
        // The unit and filter first: with a category kept, most rows stop
        // there.
        let Some(u) = units.unit(row) else { continue };
        if occ.get(row).is_none_or(|o| o >= end_us) || times.dup(row) {
            continue;
        }
        // As the case stood at the end (see `Step::closure`): a resolved
        // issue without a time is taken as resolved before it.
        let step = steps.at(row);
        let before = |t: i64| t < end_us;
        let (resolved, res) = step.closure(resolved(row), res.get(row), before);
        let done = res.is_some_and(|r| r < end_us) || (res.is_none() && resolved);
        if done {
            continue;
        }
        let o = &mut open[u as usize];
        // Past its deadline then, and not suspended (挂账) then: a case
        // parked stops its clock.
        let late = !step.suspended_at(before)
            && step
                .deadline(due.get(row), before)
                .is_some_and(|d| d < end_us);
        o.backlog += 1;
        o.overdue += u64::from(late);
        let at = |t: usize| step.flow(t).is_some_and(|x| x < end_us);
        if at(DISP) && !at(HAND) {
            o.pending += 1;
            o.overdue_pending += u64::from(late);
        }
    }
    Ok(())
}

/// Open, overdue and awaiting handling (待处置, and overdue so) issues by
/// unit code, at one period end.
pub type BacklogByUnit = HashMap<String, Open>;

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
    let steps = times.steps();
    let (n, m) = (key.names.len(), ends.len());
    let first_above = |t: i64| ends.partition_point(|&e| e <= t);
    let mut open = vec![0i64; n * (m + 1)];
    let mut late = vec![0i64; n * (m + 1)];
    let mut pending = vec![0i64; n * (m + 1)];
    let mut late_pending = vec![0i64; n * (m + 1)];
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
        // Open at every end E with o < E <= res, but for the ends E with
        // c < E <= w of a case first closed at c and re-opened at w
        // (`Step::closure`).
        let b = res.map_or(m, first_above);
        let step = steps.at(row);
        let mut runs = [(a, b), (0, 0)];
        if let (Some(c), Some(w)) = (step.flow(FIRST_CLOSED), step.flow(REOPEN)) {
            let (closed, reopened) = (first_above(c), first_above(w));
            if closed < reopened {
                runs = [(a, b.min(closed)), (a.max(reopened), b)];
            }
        }
        // Late at the ends past the deadline in force then: the first one
        // up to its first extension at x (E <= x), the current one after.
        let lates = match (due.get(row), step.flow(EXT), step.flow(FIRST_DUE)) {
            (d, Some(x), Some(d0)) => {
                let x = first_above(x);
                [
                    (first_above(d0), x),
                    d.map_or((0, 0), |d| (first_above(d).max(x), m)),
                ]
            }
            (Some(d), ..) => [(first_above(d), m), (0, 0)],
            (None, ..) => [(0, 0); 2],
        };
        // Not late at the ends the case was suspended then
        // (`Step::suspended_at`): from its current suspension on, and in
        // its first one.
        let current = step.suspended().map_or(m, first_above);
        let first = match (step.flow(SUS), step.flow(RSM)) {
            (Some(s), Some(r)) if first_above(s) < first_above(r) => {
                (first_above(s), first_above(r))
            }
            _ => (0, 0),
        };
        // Awaiting handling (待处置) at the ends open after its dispatch
        // and before its (first) handling.
        let (dispatched, handled) = (
            step.flow(DISP).map_or(m, first_above),
            step.flow(HAND).map_or(m, first_above),
        );
        let at = u * (m + 1);
        let (open, late) = (&mut open[at..at + m + 1], &mut late[at..at + m + 1]);
        let (pending, late_pending) = (
            &mut pending[at..at + m + 1],
            &mut late_pending[at..at + m + 1],
        );
        for (lo, hi) in runs {
            let waiting = (lo.max(dispatched), hi.min(handled));
            for ((lo, hi), count, late) in [(lo, hi), waiting]
                .into_iter()
                .zip([&mut *open, &mut *pending])
                .zip([&mut *late, &mut *late_pending])
                .map(|((r, c), l)| (r, c, l))
            {
                add_run(count, lo, hi);
                for (l, h) in lates {
                    let (l, h) = (lo.max(l), hi.min(h).min(current));
                    add_run(late, l, h.min(first.0).max(l));
                    add_run(late, l.max(first.1), h);
                }
            }
        }
    }
    let mut out = vec![HashMap::new(); m];
    for u in 0..n {
        let mut sums = [0i64; 4];
        for (k, period) in out.iter_mut().enumerate() {
            for (sum, diff) in sums.iter_mut().zip([&open, &late, &pending, &late_pending]) {
                *sum += diff[u * (m + 1) + k];
            }
            if k >= first[u] {
                let [backlog, overdue, pending, overdue_pending] = sums.map(|s| s.max(0) as u64);
                let o = Open {
                    backlog,
                    overdue,
                    pending,
                    overdue_pending,
                };
                period.insert(key.names[u].clone(), o);
            }
        }
    }
    Ok(out)
}

/// Adds one to the ends `lo..hi` of a difference array (nothing when empty).
fn add_run(diff: &mut [i64], lo: usize, hi: usize) {
    if hi > lo {
        diff[lo] += 1;
        diff[hi] -= 1;
    }
}
