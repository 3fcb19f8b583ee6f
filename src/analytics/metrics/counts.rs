//! The additive counts of the event table, per unit.

use super::*;

/// The sums of [`counts_lazy`], added to `into`, by a plain loop over the
/// integer columns: the count table has about one row per event, and
/// indexing a vector by the unit's position is several times cheaper than
/// polars' group-by with ten aggregations. The filter is [`PreAgg::code_filter`].
pub(super) fn add_counts(
    pre: &PreAgg,
    events: &DataFrame,
    key: &UnitKey,
    q: &Query,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let f = pre.code_filter(q);
    let keys = KeyCols::of(events)?;
    let rows = keys.rows(key, &f);
    let n = u32s(events, p::N)?;
    let fl = one_chunk(events.column(p::FLAGS)?.u8()?);
    let (n, fl) = (view(&n), view(&fl));
    let k = KindCodes::of(pre);
    // issues, incidents, visits, resolved, satisfied, basic, unsatisfied,
    // cleared, discovered, sourced
    let mut sums: Vec<[i64; 10]> = vec![[0; 10]; key.names.len()];
    let mut seen = vec![false; key.names.len()];
    for i in 0..keys.len() {
        let Some(unit) = rows.unit(i) else { continue };
        let (kind, source) = (rows.kind.get(i), rows.src.get(i));
        let unit = unit as usize;
        seen[unit] = true;
        let row = &mut sums[unit];
        let n = i64::from(n.get(i).unwrap_or(0));
        if kind.is_some() && kind == k.issue {
            row[0] += n;
            if source.is_some_and(|s| k.discovered.contains(&s)) {
                row[8] += n;
            }
            if source.is_some() {
                row[9] += n;
            }
        } else if kind.is_some() && kind == k.incident {
            row[1] += n;
        } else if kind.is_some() && kind == k.visit {
            row[2] += n;
        }
        let f = fl.get(i).unwrap_or(0);
        if f & flags::RESOLVED != 0 {
            row[3] += n;
        }
        match flags::rating(f) {
            0 => {}
            r => row[3 + usize::from(r)] += n,
        }
        if f & flags::CLEARED != 0 {
            row[7] += n;
        }
    }
    let as_u64 = |x: i64| x.max(0) as u64;
    for (i, r) in sums.iter().enumerate().filter(|(i, _)| seen[*i]) {
        let ing = into.at(i);
        ing.issues = as_u64(r[0]);
        ing.incidents = as_u64(r[1]);
        ing.visits = as_u64(r[2]);
        ing.resolved = as_u64(r[3]);
        ing.satisfied = as_u64(r[4]);
        ing.basic = as_u64(r[5]);
        ing.unsatisfied = as_u64(r[6]);
        ing.cleared = as_u64(r[7]);
        ing.discovered = as_u64(r[8]);
        ing.sourced = as_u64(r[9]);
    }
    Ok(())
}
