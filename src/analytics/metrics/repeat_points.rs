//! Repeat points (three or five complaints of a kind at one place within
//! 30 days), clustered once per window and counted in their home units.

use super::*;
use crate::analytics::filter::day_number;

/// The repeat points of the window's issues that pass the filter and lie
/// in a grid (as `/repeats` clusters them: the same clusters at every
/// tier): each one's home (the place code most of its issues have, ties to
/// the smallest codes) and peak.
pub(super) fn repeat_homes(pre: &PreAgg, q: &Query) -> Result<Vec<(u32, usize)>, AnalyticsError> {
    let in_grid = |place: u32| {
        pre.codes
            .tiers
            .get(place as usize)
            .is_some_and(|t| t[2].is_some())
    };
    let repeats::Located { points, places, .. } = repeats::located(pre, q, in_grid)?;
    let params = repeats::RepeatParams::default();
    let mut out = Vec::new();
    for found in repeats::found(&points, &params, repeats::LEVELS[0])? {
        let home =
            repeats::most_frequent(found.members.iter().map(|&i| places[i as usize]), |a, b| {
                pre.codes.tiers[*a as usize].cmp(&pre.codes.tiers[*b as usize])
            });
        if let Some(h) = home {
            out.push((h, found.peak));
        }
    }
    Ok(out)
}

/// [`repeat_homes`], shared.
pub(super) type RepeatHomes = std::sync::Arc<Vec<(u32, usize)>>;

/// [`repeat_homes`] of recent queries: the three tiers of one table, a
/// map's tiers and the exports of one window cluster once
/// ([`compute_tiers_of`] asks before its tiers run side by side). A window's
/// points are kept across newer pre-aggregates as long as no change
/// touched its days ([`PreAgg::unchanged_between`]): under a live feed the
/// new reports are today's, and last year's points stay as they were.
pub(super) fn cached_repeat_homes(pre: &PreAgg, q: &Query) -> Result<RepeatHomes, AnalyticsError> {
    type Key = (u64, Option<NaiveDate>, Option<NaiveDate>, [Vec<String>; 3]);
    static HOMES: Recent<Key, (u64, RepeatHomes)> = Recent::new(16);
    let key: Key = (
        pre.origin(),
        q.from,
        q.to,
        [q.kinds.clone(), q.categories.clone(), q.sources.clone()],
    );
    let days = (q.from.map(day_number), q.to.map(day_number));
    let now = pre.generation();
    let (_, homes) = HOMES.get_fitting_or(
        key,
        |(kept, homes)| {
            pre.unchanged_between(*kept, days.0, days.1)
                .then(|| (now, homes.clone()))
        },
        || Ok::<_, AnalyticsError>((now, std::sync::Arc::new(repeat_homes(pre, q)?))),
    )?;
    Ok(homes)
}

/// Repeat-complaint points per unit: the window's issues that pass the
/// filter are clustered (same category, 100 m, 30 days: [`repeats`]), and
/// each point counts in the unit its home grid is under, at level 3 and 5.
/// Clustering is across units: a point on a boundary counts once, where
/// most of its issues are.
pub(super) fn add_repeats(
    pre: &PreAgg,
    key: &UnitKey,
    q: &Query,
    into: &mut Dense,
) -> Result<(), AnalyticsError> {
    let mut counts = vec![[0u64; 2]; key.names.len()];
    for &(home, peak) in cached_repeat_homes(pre, q)?.iter() {
        let Some(u) = key.map.get(home as usize).copied().flatten() else {
            continue;
        };
        for (k, &level) in repeats::LEVELS.iter().enumerate() {
            counts[u as usize][k] += u64::from(peak >= level);
        }
    }
    for (i, c) in counts.into_iter().enumerate().filter(|(_, c)| c[0] > 0) {
        into.at(i).repeat_points = c;
    }
    Ok(())
}
