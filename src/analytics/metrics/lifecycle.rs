//! The lifecycle of the window's issues, per unit: 应结案 and 按期,
//! the workflow steps reached by the window's end, and durations.

use super::*;

/// [`lifecycle_lazy`] by a loop: on-time and due counts, then, with
/// `durations`, each unit's median and 90th percentile hours by selection
/// (left unset without).
pub(super) fn add_lifecycle(
    pre: &PreAgg,
    issues: &DataFrame,
    key: &UnitKey,
    q: &Query,
    end_us: i64,
    durations: bool,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let f = pre.code_filter(q);
    let (keys, times) = (
        KeyCols::of_kind(issues, pre.kind_code(ISSUE))?,
        Times::of(pre, issues)?,
    );
    let rows = keys.rows(key, &f);
    let (occ, res, due, resolved) = times.views();
    let steps = times.steps();
    let n = key.names.len();
    let (mut on_time, mut due_n, mut seen) = (vec![0u64; n], vec![0u64; n], vec![false; n]);
    let mut closure = vec![[0u64; 3]; n];
    // The workflow counts, in the fields they end up in; cycle hours as (sum, n).
    let mut work = vec![Ingredients::default(); n];
    let mut cycle = vec![(0.0f64, 0u64); n];
    // Hours by unit: room for each unit's rows, counted first.
    let mut room = vec![0u32; if durations { n } else { 0 }];
    if durations {
        for u in (0..keys.len()).filter_map(|row| rows.unit(row)) {
            room[u as usize] += 1;
        }
    }
    let mut hours = Grouped::with_room(&room);
    let mut response = Grouped::with_room(&room);
    drop(room);
    for row in 0..keys.len() {
        let Some(u) = rows.unit(row) else { continue };
        if times.dup(row) {
            continue;
        }
        let i = u as usize;
        work[i].cases += 1;
        seen[i] = true;
        let step = steps.at(row);
        // As the case stood at the window end, the first instant of the
        // next window (a closing time of 00:00 on the 1st is the next
        // month's, as a report then is): its closure then (a case
        // re-opened since was closed then) and the deadline then (one
        // extended since was due by the one it had).
        let by_end_at = |t: i64| t < end_us;
        let (resolved, res) = step.closure(resolved(row), res.get(row), by_end_at);
        let deadline = step.deadline(due.get(row), by_end_at);
        // 应结案 as of the window end: closed by it (a closing time after
        // it is still open then), or due by it, and not suspended then.
        let closed = resolved && res.is_none_or(|r| r < end_us);
        // Suspended then: in its current suspension, or in its first one
        // (entered by the end, left after it).
        let suspended = step.suspended_at(by_end_at);
        // A milestone counts when it was reached by the window end.
        let by_end = |t: usize| step.flow(t).filter(|&x| x < end_us);
        if !suspended && (closed || deadline.is_some_and(|d| d < end_us)) {
            let c = &mut closure[i];
            c[0] += 1;
            if closed {
                c[1] += 1;
                let in_time = match (deadline, res) {
                    (None, _) => true,
                    (Some(d), Some(r)) => r <= d,
                    (Some(_), None) => false,
                };
                c[2] += u64::from(in_time);
                work[i].reworked += u64::from(by_end(REW).is_some());
            }
        }
        let w = &mut work[i];
        if by_end(DISP).is_some() {
            w.dispatched += 1;
            w.extended += u64::from(by_end(EXT).is_some());
            w.returned += u64::from(by_end(RET).is_some());
            if let Some(h) = by_end(HAND) {
                w.handled += 1;
                w.handled_on_time += u64::from(deadline.is_none_or(|d| h <= d));
            }
        }
        let accepted = by_end(ACC);
        if let (true, Some(a), Some(o)) = (durations, accepted, occ.get(row)) {
            if a >= o {
                response.push(u, (a - o) as f64 / 3_600_000_000.0);
            }
        }
        if closed {
            w.closed += 1;
            w.closed_rated += u64::from(times.rated(row));
            if let Some(v) = times.solved(row) {
                w.solved_reported += 1;
                w.solved += u64::from(v);
            }
            w.closed_local += u64::from(by_end(ESC).is_none());
            if let (Some(a), Some(r)) = (accepted, res) {
                if r >= a {
                    cycle[i].0 += (r - a) as f64 / 3_600_000_000.0;
                    cycle[i].1 += 1;
                }
            }
        }
        // As of the window end: a case closed after it was open then.
        let timed = closed && res.is_some();
        if let (true, Some(r), Some(o)) = (timed && durations, res, occ.get(row)) {
            if r >= o {
                hours.push(u, (r - o) as f64 / 3_600_000_000.0);
            }
        }
        if let Some(d) = deadline {
            if let (true, Some(r)) = (timed, res) {
                on_time[i] += u64::from(r <= d);
            }
            // An open case is due once its deadline has passed, unless
            // suspended then (its clock stopped, as for 应结案).
            due_n[i] += u64::from(timed || (!closed && !suspended && d < end_us));
        }
    }
    // Two selections of each unit's hours.
    for i in (0..n).filter(|&i| seen[i]) {
        let w = &mut work[i];
        (w.on_time, w.due) = (on_time[i], due_n[i]);
        [w.due_closure, w.closed_due, w.closed_on_time] = closure[i];
        if durations {
            let values = hours.of(i);
            w.median_hours = quantile(values, 0.5);
            w.p90_hours = quantile(values, 0.9);
            w.response_hours = quantile(response.of(i), 0.5);
        }
        let (sum, k) = cycle[i];
        w.cycle_hours = (k > 0).then(|| sum / k as f64);
        into.at(i).take_lifecycle(w);
    }
    Ok(())
}
