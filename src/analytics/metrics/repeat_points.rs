//! Repeat points (three or five complaints of a kind at one place within
//! 30 days), clustered once per window and counted in their home units.

use super::*;
use crate::analytics::filter::day_number;
use rayon::prelude::*;

/// The issues of the pre-aggregates' issue table, in the table's order.
#[derive(Debug, Clone, Default)]
struct Located {
    points: Vec<repeats::IssuePoint>,
    /// Each one's place: its tier-triple code.
    places: Vec<u32>,
    /// Each one's frame row.
    frame_rows: Vec<u32>,
}

/// The issues of the window that pass the filter, have a category, a time
/// and a position, and whose place (tier-triple code) `keep` accepts.
fn located(pre: &PreAgg, q: &Query, keep: impl Fn(u32) -> bool) -> Result<Located, AnalyticsError> {
    let issues = pre.issues_in(q);
    let f = pre.code_filter(q);
    let keys = KeyCols::of_kind(&issues, pre.kind_code(ISSUE))?;
    let (occ, lon, lat, rows) = (
        Instants::of(&issues, p::OCC_US)?,
        one_chunk(issues.column(c::LON)?.f64()?),
        one_chunk(issues.column(c::LAT)?.f64()?),
        u32s(&issues, c::FRAME_ROW)?,
    );
    let (occ, lon, lat, rows, t) = (
        occ.view(),
        view(&lon),
        view(&lat),
        view(&rows),
        view(&keys.t),
    );
    let (day, kind, cat, src) = (
        view(&keys.day),
        keys.kind_view(),
        view(&keys.cat),
        keys.src_view(),
    );
    let all = f.keeps_all();
    let mut out = Located::default();
    for row in 0..keys.len() {
        let (Some(at_us), Some(x), Some(y), Some(category), Some(place)) = (
            occ.get(row),
            lon.get(row),
            lat.get(row),
            cat.get(row),
            t.get(row),
        ) else {
            continue;
        };
        if !keep(place)
            || !(all || f.keeps(day.get(row), kind.get(row), Some(category), src.get(row)))
        {
            continue;
        }
        out.points.push(repeats::IssuePoint {
            lon: x,
            lat: y,
            at_us,
            category,
        });
        out.places.push(place);
        out.frame_rows.push(rows.get(row).unwrap_or(u32::MAX));
    }
    Ok(out)
}

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
    let Located { points, places, .. } = located(pre, q, in_grid)?;
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

/// What `/api/v1/repeats` answers: the repeat points of the issues in some
/// grids and their counts per unit of one tier.
#[derive(Debug, Clone)]
pub struct RepeatReport {
    /// The clusters with a peak of at least 3 or `min` (whichever is
    /// lower), largest peak first ([`repeats::repeat_clusters`]).
    pub clusters: Vec<repeats::RepeatCluster>,
    /// Per unit of the model (by index), its points at [`repeats::LEVELS`]
    /// at the tier asked for ([`repeats::counts_at`]).
    pub counts: Vec<[usize; repeats::LEVELS.len()]>,
}

/// The repeat points of the issues of `q` in the grids `grids` (unit
/// indices of `model`; `None`: every grid), counted per unit at `level`.
/// The issues are clustered in frame order, the order
/// [`repeats::issues`] reads a frame in, so centres are summed alike.
pub fn repeat_report(
    pre: &PreAgg,
    model: &GridModel,
    grids: Option<&[usize]>,
    level: u8,
    q: &Query,
    params: &repeats::RepeatParams,
    min: usize,
) -> Result<RepeatReport, AnalyticsError> {
    q.validate()?;
    params.validate()?;
    repeats::validate_min(min)?;
    let codes: Option<std::collections::HashSet<&str>> =
        grids.map(|g| g.iter().map(|&i| model.unit(i).code.as_str()).collect());
    let keep: Vec<bool> = pre
        .codes
        .tiers
        .iter()
        .map(|t| {
            t[2].as_deref()
                .is_some_and(|g| codes.as_ref().is_none_or(|c| c.contains(g)))
        })
        .collect();
    let Located {
        points,
        places,
        frame_rows,
    } = located(pre, q, |t| keep.get(t as usize).copied().unwrap_or(false))?;
    let mut order: Vec<u32> = (0..points.len() as u32).collect();
    order.par_sort_unstable_by_key(|&i| frame_rows[i as usize]);
    let issues = repeats::Issues {
        points: order.iter().map(|&i| points[i as usize]).collect(),
        places: order.iter().map(|&i| places[i as usize]).collect(),
        categories: pre.codes.categories.clone(),
        tiers: pre.codes.tiers.clone(),
    };
    let clusters = repeats::repeat_clusters(&issues, params, min.min(repeats::LEVELS[0]))?;
    let counts = repeats::counts_at(model, level, &clusters);
    Ok(RepeatReport { clusters, counts })
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
        || {
            let t = std::time::Instant::now();
            let homes = repeat_homes(pre, q)?;
            tracing::debug!(
                from = ?q.from,
                to = ?q.to,
                points = homes.len(),
                secs = t.elapsed().as_secs_f64(),
                "repeat points clustered"
            );
            Ok::<_, AnalyticsError>((now, std::sync::Arc::new(homes)))
        },
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
