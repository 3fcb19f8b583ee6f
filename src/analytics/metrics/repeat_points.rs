//! Repeat points (three or five complaints of a kind at one place within
//! 30 days), clustered once per window and counted in their home units.

use super::*;
use crate::analytics::filter::day_number;
use rayon::prelude::*;

/// The issues of the pre-aggregates' issue table, in the table's order.
#[derive(Debug, Clone, Default)]
pub(super) struct Located {
    pub(super) points: Vec<repeats::IssuePoint>,
    /// Each one's place: its tier-triple code.
    pub(super) places: Vec<u32>,
    /// Each one's frame row.
    pub(super) frame_rows: Vec<u32>,
}

/// The issues of the window that pass the filter, have a category, a time
/// and a position, and whose place (tier-triple code) `keep` accepts.
pub(super) fn located(
    pre: &PreAgg,
    q: &Query,
    keep: impl Fn(u32) -> bool,
) -> Result<Located, AnalyticsError> {
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
/// The service clusters through [`Clustered`] (the same points, kept to
/// be grown); the tests hold it to this.
#[cfg(test)]
pub(super) fn repeat_homes(pre: &PreAgg, q: &Query) -> Result<Vec<(u32, usize)>, AnalyticsError> {
    let Located { points, places, .. } = located(pre, q, |t| in_grid(pre, t))?;
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

/// The repeat points' homes and peaks of a window, shared.
pub(super) type RepeatHomes = std::sync::Arc<Vec<(u32, usize)>>;

/// The repeat points of a window that pass the filter and lie in a grid
/// (as `/repeats` clusters them: the same clusters at every tier): each
/// one's home (the place code most of its issues have, ties to the
/// smallest codes) and peak, for recent queries: the three tiers of one table, a
/// map's tiers and the exports of one window cluster once
/// ([`compute_tiers_of`] asks before its tiers run side by side). A window's
/// points are kept across newer pre-aggregates as long as no change
/// touched its days ([`PreAgg::unchanged_between`]): under a live feed the
/// new reports are today's, and last year's points stay as they were.
/// When a change did touch them, the window's last clustering is grown
/// instead of made again where it can be ([`Clustered::grown`]).
pub(super) fn cached_repeat_homes(pre: &PreAgg, q: &Query) -> Result<RepeatHomes, AnalyticsError> {
    type Key = (u64, Option<NaiveDate>, Option<NaiveDate>, [Vec<String>; 3]);
    static HOMES: Recent<Key, (u64, RepeatHomes)> = Recent::new(16);
    // A year of a county's issues is about 40 MB of clustering: the three
    // latest windows are kept (a panel's two years and a map's month).
    static CLUSTERED: Recent<Key, std::sync::Arc<Clustered>> = Recent::new(3);
    let key: Key = (
        pre.origin(),
        q.from,
        q.to,
        [q.kinds.clone(), q.categories.clone(), q.sources.clone()],
    );
    let days = (q.from.map(day_number), q.to.map(day_number));
    let now = pre.generation();
    let (_, homes) = HOMES.get_fitting_or(
        key.clone(),
        |(kept, homes)| {
            pre.unchanged_between(*kept, days.0, days.1)
                .then(|| (now, homes.clone()))
        },
        || {
            let t = std::time::Instant::now();
            let loc = located(pre, q, |t| in_grid(pre, t))?;
            // A unit's cut answers one request: its clustering is not kept.
            let before = (!pre.is_cut()).then(|| CLUSTERED.get(&key)).flatten();
            let grown = before.and_then(|b| b.grown(pre, &loc));
            let how = if grown.is_some() { "grown" } else { "made" };
            let c = match grown {
                Some(c) => c,
                None => Clustered::of(pre, &loc)?,
            };
            let homes = c.homes();
            if !pre.is_cut() {
                CLUSTERED.put(key, std::sync::Arc::new(c));
            }
            tracing::debug!(
                from = ?q.from,
                to = ?q.to,
                points = homes.len(),
                how,
                secs = t.elapsed().as_secs_f64(),
                "repeat points clustered"
            );
            Ok::<_, AnalyticsError>((now, std::sync::Arc::new(homes)))
        },
    )?;
    Ok(homes)
}

/// Whether the place (tier-triple code) `t` is a grid's.
pub(super) fn in_grid(pre: &PreAgg, t: u32) -> bool {
    pre.codes
        .tiers
        .get(t as usize)
        .is_some_and(|t| t[2].is_some())
}

/// A window's clustering, kept to be grown at the next change: every
/// located issue's frame row (in the issue table's order), the label of its component and
/// a fingerprint of what the clustering reads of it, and the components
/// that are repeat points.
#[derive(Debug)]
pub(super) struct Clustered {
    rows: Vec<u32>,
    labels: Vec<u32>,
    prints: Vec<u64>,
    /// (label, home, peak) of each component whose peak is at least
    /// `repeats::LEVELS[0]`.
    pub(super) points: Vec<(u32, u32, usize)>,
    /// A label no component has.
    next: u32,
}

/// What the clustering reads of an issue (position, time, category,
/// place), mixed into 64 bits.
fn fingerprint(q: &repeats::IssuePoint, place: u32) -> u64 {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let mut h = mix(q.lon.to_bits());
    h = mix(h ^ q.lat.to_bits().rotate_left(21));
    h = mix(h ^ q.at_us as u64);
    mix(h ^ (u64::from(q.category) << 32 | u64::from(place)))
}

/// The fingerprints of the located issues.
fn prints_of(loc: &Located) -> Vec<u64> {
    loc.points
        .par_iter()
        .zip(loc.places.par_iter())
        .map(|(q, &place)| fingerprint(q, place))
        .collect()
}

/// The repeat points among `groups` (component label, its members as
/// indices of `loc`): each one's label, home and peak.
fn points_of(pre: &PreAgg, loc: &Located, groups: Vec<(u32, Vec<u32>)>) -> Vec<(u32, u32, usize)> {
    let span = repeats::RepeatParams::default().span_us();
    groups
        .into_par_iter()
        .filter(|(_, members)| members.len() >= repeats::LEVELS[0])
        .filter_map(|(label, members)| {
            let mut times: Vec<i64> = members
                .iter()
                .map(|&i| loc.points[i as usize].at_us)
                .collect();
            let peak = repeats::peak(&mut times, span);
            if peak < repeats::LEVELS[0] {
                return None;
            }
            let home =
                repeats::most_frequent(members.iter().map(|&i| loc.places[i as usize]), |a, b| {
                    pre.codes.tiers[*a as usize].cmp(&pre.codes.tiers[*b as usize])
                })?;
            Some((label, home, peak))
        })
        .collect()
}

impl Clustered {
    /// The clustering of the located issues, made.
    pub(super) fn of(pre: &PreAgg, loc: &Located) -> Result<Clustered, AnalyticsError> {
        let n = loc.points.len();
        let labels = repeats::component_labels(&loc.points, &repeats::RepeatParams::default())?;
        // Members of the components large enough to be a point.
        let mut size = vec![0u32; n];
        for &l in &labels {
            size[l as usize] += 1;
        }
        let mut slot = vec![u32::MAX; n];
        let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
        for (i, &l) in labels.iter().enumerate() {
            if (size[l as usize] as usize) < repeats::LEVELS[0] {
                continue;
            }
            if slot[l as usize] == u32::MAX {
                slot[l as usize] = groups.len() as u32;
                groups.push((l, Vec::with_capacity(size[l as usize] as usize)));
            }
            groups[slot[l as usize] as usize].1.push(i as u32);
        }
        Ok(Clustered {
            rows: loc.frame_rows.clone(),
            labels,
            prints: prints_of(loc),
            points: points_of(pre, loc, groups),
            next: n as u32,
        })
    }

    /// The repeat points' homes and peaks.
    pub(super) fn homes(&self) -> Vec<(u32, usize)> {
        self.points.iter().map(|&(_, h, p)| (h, p)).collect()
    }

    /// The clustering of `loc` from this one, when `loc` holds every issue
    /// this one does, unchanged, and some more (new reports, or none: case
    /// updates that moved no issue); `None` otherwise (an issue changed
    /// place, time or category, or left: made again).
    ///
    /// Components only grow when issues are added: those of the new issues
    /// are unions of the old components they link to, and the others stay.
    /// So only the new issues are linked (each against the issues of its
    /// category within the time span of it, through cells as wide as the
    /// distance), and only the components they join are counted again.
    pub(super) fn grown(&self, pre: &PreAgg, loc: &Located) -> Option<Clustered> {
        let (n, m) = (loc.points.len(), self.rows.len());
        let prints = prints_of(loc);
        let mut labels: Vec<u32> = Vec::with_capacity(n);
        let mut added: Vec<u32> = Vec::new();
        let mut next = self.next;
        if n >= m && loc.frame_rows[..m] == self.rows[..] {
            // New reports after the old ones (a fold appends them).
            if prints[..m] != self.prints[..] {
                return None;
            }
            labels.extend_from_slice(&self.labels);
            for j in m..n {
                labels.push(next);
                next = next.checked_add(1)?;
                added.push(j as u32);
            }
        } else {
            // Old and new by frame row: each old issue must be there
            // unchanged. Each old issue's position + 1 by frame row (0:
            // none, or matched already).
            let top = self.rows.iter().chain(&loc.frame_rows).max();
            let mut at = vec![0u32; top.map_or(0, |&r| r as usize + 1)];
            for (i, &r) in self.rows.iter().enumerate() {
                at[r as usize] = i as u32 + 1;
            }
            labels.resize(n, 0);
            let mut matched = 0;
            for (j, &row) in loc.frame_rows.iter().enumerate() {
                let slot = &mut at[row as usize];
                match slot.checked_sub(1).map(|i| i as usize) {
                    Some(i) => {
                        if self.prints[i] != prints[j] {
                            return None;
                        }
                        labels[j] = self.labels[i];
                        *slot = 0;
                        matched += 1;
                    }
                    None => {
                        labels[j] = next;
                        next = next.checked_add(1)?;
                        added.push(j as u32);
                    }
                }
            }
            if matched < m {
                return None;
            }
        }
        let point = |j: u32| &loc.points[j as usize];
        let params = repeats::RepeatParams::default();
        let span = params.span_us();
        // Per category of a new issue, the time its links may reach.
        let mut reach: PlHashMap<u32, (i64, i64)> = PlHashMap::default();
        for &a in &added {
            let q = point(a);
            let r = reach.entry(q.category).or_insert((q.at_us, q.at_us));
            *r = (r.0.min(q.at_us), r.1.max(q.at_us));
        }
        let mut near: PlHashMap<u32, Vec<u32>> = PlHashMap::default();
        for j in 0..n as u32 {
            let q = point(j);
            let Some(&(lo, hi)) = reach.get(&q.category) else {
                continue;
            };
            if q.at_us >= lo - span
                && q.at_us <= hi + span
                && q.lon.is_finite()
                && q.lat.is_finite()
            {
                near.entry(q.category).or_default().push(j);
            }
        }
        // Union-find over the labels the new issues touch: a few of
        // millions, so a map (a `repeats::Dsu` over every label would be
        // made and filled anew at each change).
        let mut parent: PlHashMap<u32, u32> = PlHashMap::default();
        fn find(parent: &mut PlHashMap<u32, u32>, mut x: u32) -> u32 {
            while let Some(&p) = parent.get(&x) {
                if p == x {
                    break;
                }
                let up = parent.get(&p).copied().unwrap_or(p);
                parent.insert(x, up);
                x = up;
            }
            x
        }
        for (cat, js) in &near {
            let new: Vec<u32> = added
                .iter()
                .copied()
                .filter(|&a| point(a).category == *cat)
                .collect();
            for (a, b) in repeats::links_to(&loc.points, js, &new, &params) {
                let (la, lb) = (labels[a as usize], labels[b as usize]);
                parent.entry(la).or_insert(la);
                parent.entry(lb).or_insert(lb);
                let (ra, rb) = (find(&mut parent, la), find(&mut parent, lb));
                if ra != rb {
                    parent.insert(ra.max(rb), ra.min(rb));
                }
            }
        }
        // Every label in the union-find joined a new issue: its component
        // is counted again, under its root's label.
        let mut groups: PlHashMap<u32, Vec<u32>> = PlHashMap::default();
        if !parent.is_empty() {
            for (j, l) in labels.iter_mut().enumerate() {
                if parent.contains_key(l) {
                    *l = find(&mut parent, *l);
                    groups.entry(*l).or_default().push(j as u32);
                }
            }
        }
        let mut points: Vec<(u32, u32, usize)> = self
            .points
            .iter()
            .filter(|(l, _, _)| !parent.contains_key(l))
            .copied()
            .collect();
        points.extend(points_of(pre, loc, groups.into_iter().collect()));
        Some(Clustered {
            rows: loc.frame_rows.clone(),
            labels,
            prints,
            points,
            next,
        })
    }
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
