//! Distinct households visited, per unit.

use super::*;

/// [`households_lazy`] by a loop: distinct (unit, household) pairs.
pub(super) fn add_households(
    pre: &PreAgg,
    households: &DataFrame,
    key: &UnitKey,
    q: &Query,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let f = pre.code_filter(q);
    let keys = KeyCols::of_kind(households, pre.kind_code(VISIT))?;
    let rows = keys.rows(key, &f);
    let hh = one_chunk(households.column(p::HOUSEHOLD)?.u64()?);
    let hh = view(&hh);
    // Households grouped by unit, then counted distinct within each slice.
    let pairs = (0..keys.len()).filter_map(|i| Some((rows.unit(i)?, hh.get(i)?)));
    let (start, mut grouped) = by_unit(key.names.len(), pairs.collect());
    let visited: Vec<u64> = start
        .windows(2)
        .map(|w| {
            let slice = &mut grouped[w[0]..w[1]];
            slice.sort_unstable();
            let mut distinct = 0u64;
            for (j, h) in slice.iter().enumerate() {
                distinct += u64::from(j == 0 || slice[j - 1] != *h);
            }
            distinct
        })
        .collect();
    for (i, &v) in visited.iter().enumerate().filter(|(_, &v)| v > 0) {
        into.at(i).households_visited = v;
    }
    Ok(())
}
