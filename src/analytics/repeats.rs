//! Repeat-complaint points (重复投诉点位): places where residents complain
//! about the same thing again and again.
//!
//! Definition. Two issues are *linked* when they have the same category,
//! lie at most `meters` apart (haversine distance on a sphere of radius
//! 6,371,008.8 m, "at most": exactly 100 m links) and happened at most
//! `days` days apart (exactly 30 days links, 30 days and one microsecond
//! does not). A *cluster* is a connected component of that relation (so a
//! chain of issues each 80 m from the next is one cluster even where its
//! ends are farther apart). A cluster's *peak* is the largest number of its
//! issues inside any closed `days`-long span of time; a cluster is a
//! *repeat point at level K* ("3次以上", "5次以上") when its peak is at
//! least K. The peak, not the count, decides: a chain of one complaint a
//! month for a year is one cluster of twelve, but with a 30-day span it
//! peaks at two and is no repeat point at level 3.
//!
//! Search. Per category, the issues become (x, y, day) points, x and y in
//! metres on a local equirectangular projection whose scale is taken at
//! the latitude farthest from the equator (so projected distances never
//! exceed true ones and no neighbour is missed), and go into cells of
//! `meters` × `meters` × `days`: two linked issues lie in the same or
//! adjacent cells. The issues of each pair of neighbouring cells are
//! confirmed with the exact time and haversine tests before a union-find
//! merges them. Never pairwise over the county: the cost follows the
//! issues and their near neighbours. Categories run in parallel.
//!
//! Per cluster the result carries no free text and no id: the centre (mean
//! lon/lat of the members), the category, the count, the peak, the first
//! and last `occurred_at`, and the tier codes of the unit most members fall
//! in (the most frequent (tier1, tier2, tier3) triple, ties to the smallest
//! codes). Invalid cases (作废, 不予受理) are no complaints and are left
//! out, as they are of every count.
//!
//! The same clusters, counted per unit, are the catalogue's
//! `repeat_points_3` and `repeat_points_5` (`metrics`, from the issue
//! table of the pre-aggregates, which keeps each issue's position).

use std::collections::HashMap;

use polars::prelude::*;
use rayon::prelude::*;
use serde::Serialize;

use super::filter::{Query, DAY, DAY_US};
use super::AnalyticsError;
use crate::columns as c;

/// Mean Earth radius in metres (IUGG).
const EARTH_R: f64 = 6_371_008.8;
/// Default distance, metres.
pub const DEFAULT_METERS: f64 = 100.0;
/// Default time span, days.
pub const DEFAULT_DAYS: u32 = 30;
/// Default repeat level (issues within one span).
pub const DEFAULT_MIN: usize = 3;
/// The levels the assessment rules count: 3次以上 and 5次以上.
pub const LEVELS: [usize; 2] = [3, 5];

/// Clustering parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RepeatParams {
    /// Largest distance between two linked issues, metres (default 100).
    pub meters: f64,
    /// Largest time between two linked issues, days (default 30); also the
    /// length of the span a repeat point's peak is counted in.
    pub days: u32,
}

impl Default for RepeatParams {
    fn default() -> Self {
        RepeatParams {
            meters: DEFAULT_METERS,
            days: DEFAULT_DAYS,
        }
    }
}

impl RepeatParams {
    /// Refuses distances outside (0, 10 km] and spans outside 1..=3660 days.
    pub fn validate(&self) -> Result<(), AnalyticsError> {
        if !(self.meters.is_finite() && self.meters > 0.0 && self.meters <= 10_000.0) {
            return Err(AnalyticsError::BadParameter {
                name: "meters",
                reason: format!(
                    "{} m: use a distance above 0 and at most 10,000 m",
                    self.meters
                ),
            });
        }
        if !(1..=3660).contains(&self.days) {
            return Err(AnalyticsError::BadParameter {
                name: "days",
                reason: format!("{} days: use 1 to 3660 days", self.days),
            });
        }
        Ok(())
    }

    /// The time span in µs.
    pub fn span_us(&self) -> i64 {
        i64::from(self.days) * DAY_US
    }
}

/// Refuses a repeat level below 2 (one complaint repeats nothing).
pub fn validate_min(min: usize) -> Result<(), AnalyticsError> {
    if min < 2 {
        return Err(AnalyticsError::BadParameter {
            name: "min",
            reason: format!("{min}: a repeat point needs at least 2 issues"),
        });
    }
    Ok(())
}

/// One issue as the clustering sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IssuePoint {
    /// WGS84 longitude.
    pub lon: f64,
    /// WGS84 latitude.
    pub lat: f64,
    /// `occurred_at`, µs since the epoch (UTC).
    pub at_us: i64,
    /// Index of the category (any label; only equality matters).
    pub category: u32,
}

/// Great-circle distance in metres (geo's haversine, mean Earth radius).
pub fn haversine_m(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    use geo::{Distance, Haversine, Point};
    Haversine.distance(Point::new(lon1, lat1), Point::new(lon2, lat2))
}

/// Whether two issues are linked under `p` (see the module doc).
pub fn linked(a: &IssuePoint, b: &IssuePoint, p: &RepeatParams) -> bool {
    a.category == b.category
        && (a.at_us - b.at_us).abs() <= p.span_us()
        && haversine_m(a.lon, a.lat, b.lon, b.lat) <= p.meters
}

/// The 13 neighbouring cell offsets that sort after (0, 0, 0): with the
/// cell itself, every pair of neighbouring cells once.
const FORWARD: [(i64, i64, i64); 13] = [
    (0, 0, 1),
    (0, 1, -1),
    (0, 1, 0),
    (0, 1, 1),
    (1, -1, -1),
    (1, -1, 0),
    (1, -1, 1),
    (1, 0, -1),
    (1, 0, 0),
    (1, 0, 1),
    (1, 1, -1),
    (1, 1, 0),
    (1, 1, 1),
];

/// Union-find with path halving and union by size.
struct Dsu {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl Dsu {
    fn new(n: usize) -> Self {
        Dsu {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = p;
            x = p;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32) {
        let (a, b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        let (big, small) = if self.size[a as usize] >= self.size[b as usize] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small as usize] = big;
        self.size[big as usize] += self.size[small as usize];
    }
}

/// Clusters of one category's issues (indices into `pts`) with at least
/// `min` members, found through a grid of cells as wide as the distance
/// and as long as the time span (`min` 1: singletons included).
///
/// A linked pair lies in the same or adjacent cells, so each occupied cell
/// is compared with itself and its 13 neighbours that sort after it: every
/// pair of neighbouring cells once. A year of a county's issues (2.7
/// million at 10,000,000 events) put one 3-D R-tree query per issue
/// before; most cells hold one or two issues, and the occupied cells,
/// sorted, are walked once per neighbour offset.
fn components_of(pts: &[IssuePoint], idx: &[u32], p: &RepeatParams, min: usize) -> Vec<Vec<u32>> {
    let Some((mut dsu, at)) = linked_sets(pts, idx, p) else {
        return Vec::new();
    };
    // Most issues are alone: only the components of `min` or more get a
    // list, numbered by their root.
    let n = at.len();
    let mut slot = vec![u32::MAX; n];
    let mut groups: Vec<Vec<u32>> = Vec::new();
    for a in 0..n as u32 {
        let root = dsu.find(a);
        if (dsu.size[root as usize] as usize) < min {
            continue;
        }
        if slot[root as usize] == u32::MAX {
            slot[root as usize] = groups.len() as u32;
            groups.push(Vec::with_capacity(dsu.size[root as usize] as usize));
        }
        groups[slot[root as usize] as usize].push(at[a as usize]);
    }
    groups
}

/// Issues as metres on a local equirectangular projection, scaled at the
/// latitude farthest from the equator among them (so projected distances
/// are never longer than true ones), and the width of cells in which a
/// linked pair lies in the same or adjacent ones (the distance with a
/// little slack; the exact tests decide).
struct Plane {
    kx: f64,
    ky: f64,
    r: f64,
}

impl Plane {
    fn of(pts: &[IssuePoint], idx: &[u32], p: &RepeatParams) -> Plane {
        let max_abs_lat = idx
            .iter()
            .map(|&i| pts[i as usize].lat.abs())
            .fold(0.0f64, f64::max)
            .min(89.0);
        let ky = EARTH_R * std::f64::consts::PI / 180.0;
        Plane {
            kx: ky * max_abs_lat.to_radians().cos(),
            ky,
            r: p.meters * (1.0 + 1e-6) + 1e-3,
        }
    }

    fn xy(&self, q: &IssuePoint) -> (f64, f64) {
        (q.lon * self.kx, q.lat * self.ky)
    }

    fn cell(&self, q: &IssuePoint) -> (i64, i64) {
        let (x, y) = self.xy(q);
        ((x / self.r).floor() as i64, (y / self.r).floor() as i64)
    }
}

/// The linked pairs (indices into `pts`) with an issue of `new` on one
/// side and one of `near` on the other, all of one category (the issues
/// of `new` with a position among `near`): what issues added to a
/// clustering link to, each pair found through cells as wide as the
/// distance.
pub fn links_to(
    pts: &[IssuePoint],
    near: &[u32],
    new: &[u32],
    p: &RepeatParams,
) -> Vec<(u32, u32)> {
    let plane = Plane::of(pts, near, p);
    let mut cells: PlHashMap<(i64, i64), Vec<u32>> = PlHashMap::default();
    for &j in near {
        cells
            .entry(plane.cell(&pts[j as usize]))
            .or_default()
            .push(j);
    }
    let mut out = Vec::new();
    for &a in new {
        let qa = &pts[a as usize];
        if !(qa.lon.is_finite() && qa.lat.is_finite()) {
            continue;
        }
        let (cx, cy) = plane.cell(qa);
        for dx in -1..=1 {
            for dy in -1..=1 {
                let Some(bs) = cells.get(&(cx + dx, cy + dy)) else {
                    continue;
                };
                out.extend(
                    bs.iter()
                        .filter(|&&b| b != a && linked(qa, &pts[b as usize], p))
                        .map(|&b| (a, b)),
                );
            }
        }
    }
    out
}

/// The union-find of one category's issues (indices into `pts`) under the
/// link relation, and the issue of each of its elements; `None` when
/// there are none.
fn linked_sets(pts: &[IssuePoint], idx: &[u32], p: &RepeatParams) -> Option<(Dsu, Vec<u32>)> {
    let n = idx.len();
    if n == 0 {
        return None;
    }
    let plane = Plane::of(pts, idx, p);
    let r = plane.r;
    let day = DAY_US as f64;
    let dt = f64::from(p.days) + 1e-6;
    type Cell = (i64, i64, i64);
    // Each issue as projected metres, its time and its index in `idx`, in
    // cell order: the issues of a cell sit side by side in memory.
    struct At {
        cell: Cell,
        x: f64,
        y: f64,
        at_us: i64,
        k: u32,
    }
    let mut sorted: Vec<At> = idx
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let q = &pts[i as usize];
            let (x, y) = plane.xy(q);
            At {
                cell: (
                    (x / r).floor() as i64,
                    (y / r).floor() as i64,
                    (q.at_us as f64 / day / dt).floor() as i64,
                ),
                x,
                y,
                at_us: q.at_us,
                k: k as u32,
            }
        })
        .collect();
    sorted.sort_unstable_by_key(|a| a.cell);
    // Each occupied cell's run of `sorted`, in cell order.
    let mut runs: Vec<(Cell, u32, u32)> = Vec::new();
    let mut start = 0;
    for end in 1..=n {
        if end == n || sorted[end].cell != sorted[start].cell {
            runs.push((sorted[start].cell, start as u32, end as u32));
            start = end;
        }
    }
    // Projected distances are never longer than true ones, so a pair
    // farther apart in projection, or in time, is not linked; the others
    // take the exact test.
    let (span, r2) = (p.span_us(), r * r);
    let mut dsu = Dsu::new(n);
    let try_link = |dsu: &mut Dsu, a: u32, b: u32| {
        let (u, v) = (&sorted[a as usize], &sorted[b as usize]);
        if (u.at_us - v.at_us).abs() <= span
            && (u.x - v.x).powi(2) + (u.y - v.y).powi(2) <= r2
            && dsu.find(a) != dsu.find(b)
            && linked(
                &pts[idx[u.k as usize] as usize],
                &pts[idx[v.k as usize] as usize],
                p,
            )
        {
            dsu.union(a, b);
        }
    };
    // A neighbour at a fixed offset of a cell sorts after the neighbour of
    // any cell before it: one cursor per offset walks the runs once, where
    // a hash lookup per offset and cell read memory at random.
    let mut cursors = [0usize; FORWARD.len()];
    for &((x, y, t), s, e) in &runs {
        for a in s..e {
            for b in a + 1..e {
                try_link(&mut dsu, a, b);
            }
        }
        for (at, (dx, dy, dz)) in cursors.iter_mut().zip(FORWARD) {
            let target = (x + dx, y + dy, t + dz);
            while runs.get(*at).is_some_and(|r| r.0 < target) {
                *at += 1;
            }
            let Some(&(cell, s2, e2)) = runs.get(*at) else {
                continue;
            };
            if cell != target {
                continue;
            }
            for a in s..e {
                for b in s2..e2 {
                    try_link(&mut dsu, a, b);
                }
            }
        }
    }
    let at = sorted.iter().map(|a| idx[a.k as usize]).collect();
    Some((dsu, at))
}

/// The issues of `pts` with a finite position, by category (indices),
/// once the parameters and the count are checked.
fn by_category(pts: &[IssuePoint], p: &RepeatParams) -> Result<Vec<Vec<u32>>, AnalyticsError> {
    p.validate()?;
    if pts.len() >= u32::MAX as usize {
        return Err(AnalyticsError::Shape {
            reason: format!("{} issues: too many to cluster at once", pts.len()),
        });
    }
    let mut by_cat: PlHashMap<u32, Vec<u32>> = PlHashMap::default();
    for (i, q) in pts.iter().enumerate() {
        if q.lon.is_finite() && q.lat.is_finite() {
            by_cat.entry(q.category).or_default().push(i as u32);
        }
    }
    Ok(by_cat.into_values().collect())
}

/// Each issue's component under the link relation, as a label: the index
/// of one of its members (the same for every member). Issues without a
/// finite position are alone.
pub fn component_labels(pts: &[IssuePoint], p: &RepeatParams) -> Result<Vec<u32>, AnalyticsError> {
    let cats = by_category(pts, p)?;
    let labelled: Vec<Vec<(u32, u32)>> = cats
        .par_iter()
        .map(|idx| {
            let Some((mut dsu, at)) = linked_sets(pts, idx, p) else {
                return Vec::new();
            };
            (0..at.len() as u32)
                .map(|a| (at[a as usize], at[dsu.find(a) as usize]))
                .collect()
        })
        .collect();
    let mut labels: Vec<u32> = (0..pts.len() as u32).collect();
    for (i, label) in labelled.into_iter().flatten() {
        labels[i as usize] = label;
    }
    Ok(labels)
}

/// The clusters of `pts` (every issue in exactly one, singletons included),
/// each sorted by index, the list sorted by first index: a canonical form
/// two implementations can be compared on.
pub fn clusters(pts: &[IssuePoint], p: &RepeatParams) -> Result<Vec<Vec<u32>>, AnalyticsError> {
    let mut out = clusters_of_at_least(pts, p, 1)?;
    out.sort_unstable_by_key(|g| g[0]);
    Ok(out)
}

/// The clusters of `pts` with at least `min` members, each sorted by
/// index, in no particular order.
fn clusters_of_at_least(
    pts: &[IssuePoint],
    p: &RepeatParams,
    min: usize,
) -> Result<Vec<Vec<u32>>, AnalyticsError> {
    let cats = by_category(pts, p)?;
    Ok(cats
        .par_iter()
        .flat_map_iter(|idx| components_of(pts, idx, p, min))
        .map(|mut g| {
            g.sort_unstable();
            g
        })
        .collect())
}

/// The largest number of the given instants inside any closed span of
/// `span_us` (sorts `times`).
pub fn peak(times: &mut [i64], span_us: i64) -> usize {
    times.sort_unstable();
    let (mut best, mut lo) = (0, 0);
    for hi in 0..times.len() {
        while times[hi] - times[lo] > span_us {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// A cluster of repeated complaints.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RepeatCluster {
    /// Mean longitude of the members, WGS84.
    pub lon: f64,
    /// Mean latitude of the members, WGS84.
    pub lat: f64,
    /// The issues' category.
    pub category: String,
    /// Issues in the cluster.
    pub count: usize,
    /// Most issues inside one `days`-long span.
    pub peak: usize,
    /// First `occurred_at`, µs since the epoch (UTC).
    pub first_us: i64,
    /// Last `occurred_at`, µs since the epoch (UTC).
    pub last_us: i64,
    /// Township code of the unit most members fall in.
    pub tier1: Option<String>,
    /// Village code of that unit.
    pub tier2: Option<String>,
    /// Grid code of that unit.
    pub tier3: Option<String>,
}

impl RepeatCluster {
    /// The code of the unit most of its issues fall in (the deepest known).
    pub fn home(&self) -> Option<&str> {
        [&self.tier3, &self.tier2, &self.tier1]
            .into_iter()
            .flatten()
            .next()
            .map(String::as_str)
    }
}

/// Per unit of `model` (by index), how many of the clusters `found` have
/// their home under it at tier `level`, counted at each of [`LEVELS`].
pub fn counts_at(
    model: &crate::grid::GridModel,
    level: u8,
    found: &[RepeatCluster],
) -> Vec<[usize; LEVELS.len()]> {
    let mut counts = vec![[0; LEVELS.len()]; model.units().len()];
    for cl in found {
        let unit = cl
            .home()
            .and_then(|code| model.index_of(code))
            .and_then(|i| model.ancestor_at(i, level));
        if let Some(u) = unit {
            for (k, &lv) in LEVELS.iter().enumerate() {
                if cl.peak >= lv {
                    counts[u][k] += 1;
                }
            }
        }
    }
    counts
}

/// Issues ready to cluster: points plus what the clusters report
/// (category labels, tier codes).
#[derive(Debug, Clone, Default)]
pub struct Issues {
    /// The points, `category` indexing [`Issues::categories`].
    pub points: Vec<IssuePoint>,
    /// Category labels.
    pub categories: Vec<String>,
    /// Each point's place, indexing [`Issues::tiers`].
    pub places: Vec<u32>,
    /// (tier1, tier2, tier3) of each place.
    pub tiers: Vec<[Option<String>; 3]>,
}

impl Issues {
    /// Issues whose (tier1, tier2, tier3) are given point by point.
    #[cfg(test)]
    pub fn with_tiers(
        points: Vec<IssuePoint>,
        categories: Vec<String>,
        tiers: Vec<[Option<String>; 3]>,
    ) -> Issues {
        let mut places = Vec::with_capacity(tiers.len());
        let mut distinct: Vec<[Option<String>; 3]> = Vec::new();
        let mut ids: HashMap<[Option<String>; 3], u32> = HashMap::new();
        for t in tiers {
            let id = *ids.entry(t.clone()).or_insert_with(|| {
                distinct.push(t);
                distinct.len() as u32 - 1
            });
            places.push(id);
        }
        Issues {
            points,
            categories,
            places,
            tiers: distinct,
        }
    }
}

/// Query: the issues passing `q` (kind forced to `issue`) with a category,
/// a time and a position.
pub fn issues_lazy(joined: LazyFrame, q: &Query) -> LazyFrame {
    let q = Query {
        kinds: vec![super::preagg::ISSUE.into()],
        ..q.clone()
    };
    // Invalid cases (作废, 不予受理) are no complaint, as in every count. A
    // file from before the lifecycle is read with its states null
    // (`join::with_missing_columns`).
    let valid = col(c::STATE)
        .neq(lit(super::preagg::INVALID_STATE))
        .or(col(c::STATE).is_null());
    joined
        .with_column(q.zone.local_day(c::OCCURRED_AT).alias(DAY))
        .filter(q.predicate())
        .filter(valid)
        .filter(
            col(c::CATEGORY)
                .is_not_null()
                .and(col(c::OCCURRED_AT).is_not_null())
                .and(col(c::LON).is_not_null())
                .and(col(c::LAT).is_not_null()),
        )
        .select([
            col(c::CATEGORY),
            col(c::OCCURRED_AT).cast(DataType::Int64),
            col(c::LON),
            col(c::LAT),
            col(c::TIER1),
            col(c::TIER2),
            col(c::TIER3),
        ])
}

/// Collects the issues of a query.
pub fn issues(joined: LazyFrame, q: &Query) -> Result<Issues, AnalyticsError> {
    let df = issues_lazy(joined, q).collect()?;
    let cat = c::text(df.column(c::CATEGORY)?)?;
    let at = df.column(c::OCCURRED_AT)?.i64()?;
    let (lon, lat) = (df.column(c::LON)?.f64()?, df.column(c::LAT)?.f64()?);
    let t: Vec<std::borrow::Cow<'_, StringChunked>> = [c::TIER1, c::TIER2, c::TIER3]
        .iter()
        .map(|n| df.column(n).and_then(c::text))
        .collect::<PolarsResult<_>>()?;
    let mut out = Issues::default();
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut places: HashMap<[Option<&str>; 3], u32> = HashMap::new();
    for i in 0..df.height() {
        let (Some(cv), Some(a), Some(x), Some(y)) = (cat.get(i), at.get(i), lon.get(i), lat.get(i))
        else {
            continue;
        };
        let next = ids.len() as u32;
        let id = *ids.entry(cv).or_insert_with(|| {
            out.categories.push(cv.to_owned());
            next
        });
        out.points.push(IssuePoint {
            lon: x,
            lat: y,
            at_us: a,
            category: id,
        });
        let triple = [0, 1, 2].map(|k| t[k].get(i));
        let next = places.len() as u32;
        let place = *places.entry(triple).or_insert_with(|| {
            out.tiers.push(triple.map(|v| v.map(str::to_owned)));
            next
        });
        out.places.push(place);
    }
    Ok(out)
}

/// A cluster whose peak reached the level asked for, before it is
/// described: its members (indices into the points) and their instants,
/// sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub members: Vec<u32>,
    pub peak: usize,
    pub times: Vec<i64>,
}

/// The clusters of `pts` whose peak is at least `min` (2 or more), in no
/// particular order.
pub fn found(
    pts: &[IssuePoint],
    p: &RepeatParams,
    min: usize,
) -> Result<Vec<Found>, AnalyticsError> {
    validate_min(min)?;
    Ok(clusters_of_at_least(pts, p, min)?
        .into_par_iter()
        .filter_map(|members| {
            let mut times: Vec<i64> = members.iter().map(|&i| pts[i as usize].at_us).collect();
            let peak = peak(&mut times, p.span_us());
            (peak >= min).then_some(Found {
                members,
                peak,
                times,
            })
        })
        .collect())
}

/// The most frequent of `keys`, ties to the smallest by `order`.
pub fn most_frequent<K: Copy + Eq + std::hash::Hash>(
    keys: impl Iterator<Item = K>,
    order: impl Fn(&K, &K) -> std::cmp::Ordering,
) -> Option<K> {
    let mut n: HashMap<K, usize> = HashMap::new();
    for k in keys {
        *n.entry(k).or_default() += 1;
    }
    n.into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| order(&b.0, &a.0)))
        .map(|(k, _)| k)
}

/// The clusters of `issues` whose peak is at least `min` (2 or more), the
/// largest peak first, then the largest count, then by category and place.
pub fn repeat_clusters(
    issues: &Issues,
    p: &RepeatParams,
    min: usize,
) -> Result<Vec<RepeatCluster>, AnalyticsError> {
    let mut out: Vec<RepeatCluster> = found(&issues.points, p, min)?
        .into_par_iter()
        .map(|f| {
            let g = &f.members;
            let n = g.len() as f64;
            let (sx, sy) = g.iter().fold((0.0, 0.0), |(sx, sy), &i| {
                let q = &issues.points[i as usize];
                (sx + q.lon, sy + q.lat)
            });
            let home = most_frequent(g.iter().map(|&i| issues.places[i as usize]), |a, b| {
                issues.tiers[*a as usize].cmp(&issues.tiers[*b as usize])
            });
            let tiers = home
                .and_then(|h| issues.tiers.get(h as usize))
                .cloned()
                .unwrap_or_default();
            let [tier1, tier2, tier3] = tiers;
            let cat = issues.points[g[0] as usize].category as usize;
            RepeatCluster {
                lon: sx / n,
                lat: sy / n,
                category: issues.categories.get(cat).cloned().unwrap_or_default(),
                count: g.len(),
                peak: f.peak,
                first_us: f.times[0],
                last_us: f.times[f.times.len() - 1],
                tier1,
                tier2,
                tier3,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.peak
            .cmp(&a.peak)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.category.cmp(&b.category))
            .then(a.first_us.cmp(&b.first_us))
            .then(a.lon.total_cmp(&b.lon))
            .then(a.lat.total_cmp(&b.lat))
    });
    Ok(out)
}

/// The repeat points of the issues of a joined frame passing `q`.
pub fn repeats(
    joined: LazyFrame,
    q: &Query,
    p: &RepeatParams,
    min: usize,
) -> Result<Vec<RepeatCluster>, AnalyticsError> {
    q.validate()?;
    p.validate()?;
    validate_min(min)?;
    repeat_clusters(&issues(joined, q)?, p, min)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Degrees of latitude for `m` metres on the haversine sphere.
    fn dlat(m: f64) -> f64 {
        m / (EARTH_R * std::f64::consts::PI / 180.0)
    }

    const LAT0: f64 = 38.5;
    const LON0: f64 = 115.0;
    const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00Z

    fn pt(north_m: f64, day: f64, category: u32) -> IssuePoint {
        IssuePoint {
            lon: LON0,
            lat: LAT0 + dlat(north_m),
            at_us: T0 + (day * DAY_US as f64) as i64,
            category,
        }
    }

    fn sizes(pts: &[IssuePoint]) -> Vec<usize> {
        let mut s: Vec<usize> = clusters(pts, &RepeatParams::default())
            .unwrap()
            .iter()
            .map(Vec::len)
            .collect();
        s.sort_unstable();
        s
    }

    #[test]
    fn distance_is_at_most_the_radius() {
        let d = haversine_m(LON0, LAT0, LON0, LAT0 + dlat(100.0));
        assert!((d - 100.0).abs() < 1e-6, "{d}");
        assert_eq!(sizes(&[pt(0.0, 0.0, 0), pt(99.999, 0.0, 0)]), vec![2]);
        assert_eq!(sizes(&[pt(0.0, 0.0, 0), pt(100.01, 0.0, 0)]), vec![1, 1]);
        // East-west as well: 100 m along the parallel, then a little more.
        let east = |m: f64| IssuePoint {
            lon: LON0 + m / (EARTH_R * LAT0.to_radians().cos() * std::f64::consts::PI / 180.0),
            ..pt(0.0, 0.0, 0)
        };
        assert_eq!(sizes(&[pt(0.0, 0.0, 0), east(99.99)]), vec![2]);
        assert_eq!(sizes(&[pt(0.0, 0.0, 0), east(100.01)]), vec![1, 1]);
    }

    #[test]
    fn time_is_at_most_the_span() {
        let p = RepeatParams::default();
        let a = pt(0.0, 0.0, 0);
        let exactly = IssuePoint {
            at_us: T0 + 30 * DAY_US,
            ..a
        };
        let over = IssuePoint {
            at_us: T0 + 30 * DAY_US + 1,
            ..a
        };
        assert!(linked(&a, &exactly, &p));
        assert!(!linked(&a, &over, &p));
        assert_eq!(sizes(&[a, exactly]), vec![2]);
        assert_eq!(sizes(&[a, over]), vec![1, 1]);
    }

    #[test]
    fn categories_never_mix() {
        assert_eq!(
            sizes(&[pt(0.0, 0.0, 0), pt(10.0, 1.0, 1), pt(20.0, 2.0, 0)]),
            vec![1, 2]
        );
    }

    #[test]
    fn a_chain_is_one_cluster_but_its_peak_counts_one_span() {
        // One complaint every 20 days, 80 m apart, for a year: one cluster.
        let chain: Vec<IssuePoint> = (0..19)
            .map(|i| pt(80.0 * i as f64, 20.0 * i as f64, 0))
            .collect();
        assert_eq!(sizes(&chain), vec![19]);
        let issues = Issues::with_tiers(
            chain.clone(),
            vec!["环境卫生".into()],
            vec![[None, None, Some("G1".into())]; chain.len()],
        );
        let p = RepeatParams::default();
        // Any 30-day span holds two of them: a cluster, no repeat point at 3.
        assert!(repeat_clusters(&issues, &p, 3).unwrap().is_empty());
        let two = repeat_clusters(&issues, &p, 2).unwrap();
        assert_eq!(two.len(), 1);
        assert_eq!((two[0].count, two[0].peak), (19, 2));
        assert_eq!(two[0].first_us, T0);
        assert_eq!(two[0].last_us, T0 + 360 * DAY_US);
        assert_eq!(two[0].tier3.as_deref(), Some("G1"));
    }

    #[test]
    fn a_repeat_point_reports_centre_counts_dates_and_its_main_unit() {
        let mut pts: Vec<IssuePoint> = (0..5).map(|i| pt(10.0 * i as f64, i as f64, 0)).collect();
        pts.push(pt(5000.0, 0.0, 0)); // far away
        let mut tiers = vec![[Some("T1".into()), Some("V1".into()), Some("G1".into())]; 6];
        tiers[0] = [Some("T1".into()), Some("V1".into()), Some("G2".into())];
        let issues = Issues::with_tiers(pts, vec!["噪音扰民".into()], tiers);
        let p = RepeatParams::default();
        let r3 = repeat_clusters(&issues, &p, 3).unwrap();
        assert_eq!(r3.len(), 1);
        let c = &r3[0];
        assert_eq!((c.count, c.peak, c.category.as_str()), (5, 5, "噪音扰民"));
        assert!((c.lat - (LAT0 + dlat(20.0))).abs() < 1e-9);
        assert_eq!((c.first_us, c.last_us), (T0, T0 + 4 * DAY_US));
        assert_eq!(c.tier3.as_deref(), Some("G1"));
        assert_eq!(repeat_clusters(&issues, &p, 5).unwrap().len(), 1);
        assert!(repeat_clusters(&issues, &p, 6).unwrap().is_empty());
    }

    #[test]
    fn bad_parameters_are_refused() {
        for p in [
            RepeatParams {
                meters: 0.0,
                days: 30,
            },
            RepeatParams {
                meters: f64::NAN,
                days: 30,
            },
            RepeatParams {
                meters: 100.0,
                days: 0,
            },
        ] {
            assert!(clusters(&[], &p).is_err(), "{p:?}");
        }
        assert!(validate_min(1).is_err());
        assert!(validate_min(2).is_ok());
    }

    #[test]
    fn peak_counts_a_closed_span() {
        let d = DAY_US;
        assert_eq!(peak(&mut [0, 30 * d, 60 * d], 30 * d), 2);
        assert_eq!(peak(&mut [60 * d, 0, 10 * d, 20 * d], 30 * d), 3);
        assert_eq!(peak(&mut [], 30 * d), 0);
    }

    /// Deterministic pseudo-random numbers (splitmix64).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// O(n²) reference: components of the pairwise relation.
    fn brute(pts: &[IssuePoint], p: &RepeatParams) -> Vec<Vec<u32>> {
        let n = pts.len();
        let mut dsu = Dsu::new(n);
        for i in 0..n {
            for j in i + 1..n {
                if linked(&pts[i], &pts[j], p) {
                    dsu.union(i as u32, j as u32);
                }
            }
        }
        let mut g: HashMap<u32, Vec<u32>> = HashMap::new();
        for i in 0..n as u32 {
            let r = dsu.find(i);
            g.entry(r).or_default().push(i);
        }
        let mut out: Vec<Vec<u32>> = g.into_values().collect();
        out.sort_unstable_by_key(|g| g[0]);
        out
    }

    /// `n` issues of four categories: `hot` of them within `hot_m` metres
    /// of five corners on a diagonal of a `km` square at latitude `lat0`
    /// (the square `tall` times as high as wide), the others anywhere in
    /// it, over `days` days from `t0`.
    #[allow(clippy::too_many_arguments)]
    fn scattered(
        seed: u64,
        n: usize,
        lat0: f64,
        km: f64,
        tall: f64,
        hot: f64,
        hot_m: f64,
        t0: i64,
        days: f64,
    ) -> Vec<IssuePoint> {
        let mut r = Rng(seed);
        let k = EARTH_R * std::f64::consts::PI / 180.0;
        (0..n)
            .map(|_| {
                let (cx, cy) = if r.unit() < hot {
                    let h = (r.next() % 5) as f64;
                    (h * 0.2 * km * 1000.0, h * 0.2 * tall * km * 1000.0)
                } else {
                    (r.unit() * km * 1000.0, r.unit() * tall * km * 1000.0)
                };
                let lat = lat0 + (cy + hot_m * r.unit()) / k;
                IssuePoint {
                    lon: LON0 + (cx + hot_m * r.unit()) / (k * lat.to_radians().cos()),
                    lat,
                    at_us: t0 + (r.unit() * days * DAY_US as f64) as i64,
                    category: (r.next() % 4) as u32,
                }
            })
            .collect()
    }

    #[test]
    fn crowded_places_far_latitudes_and_old_times_cluster_as_every_pair() {
        let default = RepeatParams::default();
        for (seed, pts, p) in [
            // A thousand complaints about five spots, each a few metres
            // wide: every cell a crowd.
            (
                4,
                scattered(4, 2500, 38.5, 2.0, 1.0, 0.8, 30.0, T0, 60.0),
                default,
            ),
            // Spots as wide as the distance: pairs near a cell's diagonal.
            (
                5,
                scattered(5, 2500, 38.5, 1.0, 1.0, 0.7, 120.0, T0, 40.0),
                default,
            ),
            // 40° to 48° north: a true distance up to 1.19 times its
            // projection, the crowds at the southern end.
            (
                6,
                scattered(6, 2000, 40.0, 1.0, 900.0, 0.6, 100.0, T0, 30.0),
                default,
            ),
            // 0° to 72° north: cells no clique can be, every pair tested.
            (
                7,
                scattered(7, 1500, 0.0, 1.0, 8000.0, 0.7, 150.0, T0, 30.0),
                RepeatParams {
                    meters: 250.0,
                    days: 10,
                },
            ),
            // Before and after 1970: spans counted from the epoch either way.
            (
                8,
                scattered(8, 2000, 38.5, 1.0, 1.0, 0.7, 100.0, -20 * DAY_US, 40.0),
                RepeatParams {
                    meters: 100.0,
                    days: 3,
                },
            ),
        ] {
            let fast = clusters(&pts, &p).unwrap();
            let slow = brute(&pts, &p);
            assert!(
                slow.iter().any(|g| g.len() >= 50),
                "seed {seed}: no crowd to compare"
            );
            assert!(slow.len() > 5, "seed {seed}: everything in one cluster");
            assert_eq!(fast, slow, "seed {seed}");
        }
    }

    #[test]
    fn pairs_about_the_distance_apart_are_clusters_exactly_when_linked() {
        // 20,000 pairs far from one another near 40° north, and one issue
        // at 48° north, which sets the projection's scale: there a true
        // east-west distance is 1.14 times its projection. Each pair is
        // about the distance apart, most of them diagonally: a pair is a
        // cluster exactly when it is linked, whichever cells it falls in.
        let p = RepeatParams::default();
        let k = EARTH_R * std::f64::consts::PI / 180.0;
        let mut r = Rng(9);
        let lone = IssuePoint {
            lon: LON0,
            lat: 48.0,
            at_us: T0,
            category: 0,
        };
        let (mut pts, mut expected) = (vec![lone], vec![vec![0]]);
        for i in 0..20_000u32 {
            let lat = 40.0 + f64::from(i / 200) * 0.005 + r.unit() * 0.001;
            let lon = LON0 + f64::from(i % 200) * 0.02 + r.unit() * 0.001;
            let sign = |r: &mut Rng| {
                if r.next().is_multiple_of(2) {
                    1.0
                } else {
                    -1.0
                }
            };
            let east = sign(&mut r) * (75.0 + 6.0 * r.unit());
            let north = sign(&mut r) * (63.0 + 8.0 * r.unit());
            let a = IssuePoint {
                lon,
                lat,
                at_us: T0 + i64::from(i),
                category: 0,
            };
            let b = IssuePoint {
                lon: lon + east / (k * lat.to_radians().cos()),
                lat: lat + north / k,
                ..a
            };
            let (ia, ib) = (pts.len() as u32, pts.len() as u32 + 1);
            if linked(&a, &b, &p) {
                expected.push(vec![ia, ib]);
            } else {
                expected.extend([vec![ia], vec![ib]]);
            }
            pts.extend([a, b]);
        }
        let linked_pairs = expected.iter().filter(|g| g.len() == 2).count();
        assert!(linked_pairs > 1_000 && 20_000 - linked_pairs > 1_000);
        assert_eq!(clusters(&pts, &p).unwrap(), expected);
    }

    #[test]
    fn issues_a_distance_and_a_span_apart_link_and_a_little_more_does_not() {
        // Pairs exactly at the limits and just past them, in every
        // direction, near a cell's corners or not.
        let p = RepeatParams::default();
        let k = EARTH_R * std::f64::consts::PI / 180.0;
        let mut pts = Vec::new();
        for (i, (bearing, metres, days)) in [
            (0.0, 99.999, 0.0),
            (45.0, 99.999, 29.999),
            (90.0, 100.001, 1.0),
            (135.0, 70.0, 30.0001),
            (225.0, 99.9, 30.0),
            (300.0, 100.5, 0.0),
        ]
        .into_iter()
        .enumerate()
        {
            let lat = 38.5 + i as f64 * 0.01;
            let lon = LON0 + i as f64 * 0.01;
            let b: f64 = f64::to_radians(bearing);
            let at = T0 + i as i64 * 100 * DAY_US;
            pts.push(IssuePoint {
                lon,
                lat,
                at_us: at,
                category: 0,
            });
            pts.push(IssuePoint {
                lon: lon + metres * b.sin() / (k * lat.to_radians().cos()),
                lat: lat + metres * b.cos() / k,
                at_us: at + (days * DAY_US as f64) as i64,
                category: 0,
            });
        }
        assert_eq!(clusters(&pts, &p).unwrap(), brute(&pts, &p));
    }

    #[test]
    fn the_cells_find_the_same_clusters_as_every_pair() {
        for (seed, n, km, p) in [
            (1, 2000, 2.0, RepeatParams::default()),
            (
                2,
                3000,
                1.0,
                RepeatParams {
                    meters: 50.0,
                    days: 7,
                },
            ),
            (
                3,
                1500,
                5.0,
                RepeatParams {
                    meters: 300.0,
                    days: 90,
                },
            ),
        ] {
            let mut r = Rng(seed);
            let k = EARTH_R * std::f64::consts::PI / 180.0;
            let pts: Vec<IssuePoint> = (0..n)
                .map(|_| {
                    // Half of the issues around a few hot corners.
                    let (cx, cy) = if r.unit() < 0.5 {
                        let h = (r.next() % 5) as f64;
                        (h * 0.2 * km, h * 0.1 * km)
                    } else {
                        (r.unit() * km, r.unit() * km)
                    };
                    let jitter = 150.0 * r.unit();
                    IssuePoint {
                        lon: LON0 + (cx * 1000.0 + jitter) / (k * LAT0.to_radians().cos()),
                        lat: LAT0 + (cy * 1000.0 + 150.0 * r.unit()) / k,
                        at_us: T0 + (r.unit() * 365.0 * DAY_US as f64) as i64,
                        category: (r.next() % 4) as u32,
                    }
                })
                .collect();
            let fast = clusters(&pts, &p).unwrap();
            let slow = brute(&pts, &p);
            assert!(
                fast.iter().any(|g| g.len() >= 3),
                "seed {seed}: no cluster to compare"
            );
            assert_eq!(fast, slow, "seed {seed}");
        }
    }
}
