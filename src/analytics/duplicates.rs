//! Duplicate suggestions: for a newly reported issue, the open issues of the
//! same category nearby (FixMyStreet's default: within 250 m), nearest
//! first, at most five, so whoever registers the report can see that the
//! case may already be known.
//!
//! The open issues of the probes' categories are taken from the frame in
//! one filtered scan and put, per category, in an R-tree (`rstar`) of
//! positions in local metres; each probe is one query of its tree. The
//! distance reported and the cut at the radius are great-circle distances.

use std::collections::HashMap;

use geo::{Distance, Haversine, Point};
use polars::prelude::*;
use rstar::primitives::GeomWithData;
use rstar::RTree;
use serde::Serialize;

use crate::columns as c;

/// How far a suggested duplicate may lie, in metres (FixMyStreet's default).
pub const RADIUS_M: f64 = 250.0;
/// Most suggestions per new issue.
pub const MAX_SUGGESTIONS: usize = 5;

/// An open issue near a new one.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Nearby {
    pub id: String,
    /// Its source system; absent for the county's own id space.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Great-circle distance from the new issue, metres (rounded to 1 m).
    pub distance_m: f64,
    /// Its current lifecycle state (`dispatched`, ...).
    pub state: Option<String>,
}

/// A new issue to find duplicates for.
#[derive(Debug, Clone, Copy)]
pub struct Probe<'a> {
    pub lon: f64,
    pub lat: f64,
    pub category: &'a str,
}

/// Metres per degree of latitude, and of longitude at the equator.
const M_PER_DEG_LAT: f64 = 110_574.0;
const M_PER_DEG_LON: f64 = 111_320.0;

type Entry = GeomWithData<[f64; 2], usize>;

/// The open issues of `frame` (the joined frame) of the same category as
/// each probe within `radius_m` of it, nearest first (ties by id), at most
/// `max`, keeping only those whose tier codes `keep` accepts (the caller's
/// units). One list per probe, in order.
pub fn open_nearby(
    frame: &DataFrame,
    probes: &[Probe<'_>],
    radius_m: f64,
    max: usize,
    keep: &dyn Fn([Option<&str>; 3]) -> bool,
) -> PolarsResult<Vec<Vec<Nearby>>> {
    if probes.is_empty() || max == 0 {
        return Ok(vec![Vec::new(); probes.len()]);
    }
    let mut cats: Vec<&str> = probes.iter().map(|p| p.category).collect();
    cats.sort_unstable();
    cats.dedup();
    let cats = Series::new("cats".into(), cats);
    let open = frame
        .clone()
        .lazy()
        .filter(
            col(c::KIND)
                .eq(lit(crate::vocab::ISSUE))
                .and(col(c::STATUS).eq(lit(crate::vocab::OPEN)))
                .and(col(c::CATEGORY).is_in(lit(cats).implode(false), false)),
        )
        .select([
            col(c::ID),
            col(c::SYSTEM),
            col(c::STATE),
            col(c::CATEGORY),
            col(c::LON),
            col(c::LAT),
            col(c::TIER1),
            col(c::TIER2),
            col(c::TIER3),
        ])
        .collect()?;
    let s = |n: &str| {
        open.column(n)
            .and_then(|x| c::text(x).map(|t| t.into_owned()))
    };
    let (id, system, state, category) = (s(c::ID)?, s(c::SYSTEM)?, s(c::STATE)?, s(c::CATEGORY)?);
    let (t1, t2, t3) = (s(c::TIER1)?, s(c::TIER2)?, s(c::TIER3)?);
    let lon = open.column(c::LON)?.f64()?.clone();
    let lat = open.column(c::LAT)?.f64()?.clone();
    // Local metres around the probes: an error of well under a metre at
    // 250 m over a county; the cut itself is by great-circle distance.
    let lat0 = probes.iter().map(|p| p.lat).sum::<f64>() / probes.len() as f64;
    let kx = M_PER_DEG_LON * lat0.to_radians().cos();
    let xy = |lon: f64, lat: f64| [lon * kx, lat * M_PER_DEG_LAT];
    let mut by_category: HashMap<&str, Vec<Entry>> = HashMap::new();
    for k in 0..open.height() {
        let (Some(cat), Some(x), Some(y)) = (category.get(k), lon.get(k), lat.get(k)) else {
            continue;
        };
        if !(x.is_finite() && y.is_finite() && keep([t1.get(k), t2.get(k), t3.get(k)])) {
            continue;
        }
        by_category
            .entry(cat)
            .or_default()
            .push(GeomWithData::new(xy(x, y), k));
    }
    let trees: HashMap<&str, RTree<Entry>> = by_category
        .into_iter()
        .map(|(cat, entries)| (cat, RTree::bulk_load(entries)))
        .collect();
    // A little beyond the radius in local metres; the exact cut follows.
    let reach = (radius_m * 1.01 + 1.0).powi(2);
    Ok(probes
        .iter()
        .map(|p| {
            let Some(tree) = trees.get(p.category) else {
                return Vec::new();
            };
            let here = Point::new(p.lon, p.lat);
            let mut found: Vec<(f64, usize)> = tree
                .locate_within_distance(xy(p.lon, p.lat), reach)
                .filter_map(|e| {
                    let k = e.data;
                    let there = Point::new(lon.get(k)?, lat.get(k)?);
                    let d = Haversine.distance(here, there);
                    (d <= radius_m).then_some((d, k))
                })
                .collect();
            found.sort_by(|a, b| {
                a.0.total_cmp(&b.0)
                    .then_with(|| id.get(a.1).cmp(&id.get(b.1)))
            });
            found
                .into_iter()
                .take(max)
                .map(|(d, k)| Nearby {
                    id: id.get(k).unwrap_or_default().to_owned(),
                    system: system.get(k).map(str::to_owned),
                    distance_m: d.round(),
                    state: state.get(k).map(str::to_owned),
                })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An issue of a test frame: (id, category, status, lon, lat, tier3).
    type Row<'a> = (&'a str, &'a str, &'a str, f64, f64, &'a str);

    /// A frame of issues.
    fn frame(rows: &[Row<'_>]) -> DataFrame {
        let col_of =
            |f: &dyn Fn(&Row<'_>) -> Option<String>| rows.iter().map(f).collect::<Vec<_>>();
        df!(
            c::ID => col_of(&|r| Some(r.0.to_owned())),
            c::KIND => col_of(&|_| Some("issue".to_owned())),
            c::CATEGORY => col_of(&|r| Some(r.1.to_owned())),
            c::STATUS => col_of(&|r| Some(r.2.to_owned())),
            c::STATE => col_of(&|r| Some(if r.2 == "open" { "dispatched" } else { "closed" }.to_owned())),
            c::SYSTEM => col_of(&|_| None),
            c::LON => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
            c::LAT => rows.iter().map(|r| r.4).collect::<Vec<_>>(),
            c::TIER1 => col_of(&|_| Some("T".to_owned())),
            c::TIER2 => col_of(&|_| Some("V".to_owned())),
            c::TIER3 => col_of(&|r| Some(r.5.to_owned())),
        )
        .unwrap()
    }

    /// `m` metres north of `lat`.
    fn north(lat: f64, m: f64) -> f64 {
        lat + m / 6_371_008.8_f64.to_radians()
    }

    #[test]
    fn open_issues_of_the_category_within_the_radius_nearest_first() {
        let (x, y) = (115.0, 38.5);
        let f = frame(&[
            ("far", "噪音", "open", x, north(y, 251.0), "G1"),
            ("near", "噪音", "open", x, north(y, 40.0), "G1"),
            ("edge", "噪音", "open", x, north(y, 249.0), "G1"),
            ("closed", "噪音", "resolved", x, north(y, 10.0), "G1"),
            ("other-category", "环境卫生", "open", x, north(y, 5.0), "G1"),
            ("mid", "噪音", "open", x, north(y, 120.0), "G2"),
        ]);
        let probe = [Probe {
            lon: x,
            lat: y,
            category: "噪音",
        }];
        let all = open_nearby(&f, &probe, RADIUS_M, MAX_SUGGESTIONS, &|_| true).unwrap();
        let ids: Vec<&str> = all[0].iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["near", "mid", "edge"]);
        assert_eq!(all[0][0].distance_m, 40.0);
        assert_eq!(all[0][0].state.as_deref(), Some("dispatched"));
        // Only the caller's units; at most `max`.
        let mine = open_nearby(&f, &probe, RADIUS_M, 5, &|t| t[2] == Some("G1")).unwrap();
        assert_eq!(
            mine[0].iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            ["near", "edge"]
        );
        let one = open_nearby(&f, &probe, RADIUS_M, 1, &|_| true).unwrap();
        assert_eq!(one[0].len(), 1);
        // A category nobody reported nearby: nothing.
        let none = open_nearby(
            &f,
            &[Probe {
                lon: x,
                lat: y,
                category: "占道经营",
            }],
            RADIUS_M,
            5,
            &|_| true,
        )
        .unwrap();
        assert!(none[0].is_empty());
    }

    #[test]
    fn the_tree_finds_what_a_scan_of_every_pair_finds() {
        // Seeded points over a few kilometres, three categories.
        let mut s: u64 = 7;
        let mut next = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let cats = ["a", "b", "c"];
        let rows: Vec<(String, &str, f64, f64)> = (0..3000)
            .map(|i| {
                let cat = cats[i % 3];
                (
                    format!("i{i}"),
                    cat,
                    115.0 + next() * 0.03,
                    38.5 + next() * 0.03,
                )
            })
            .collect();
        let f = frame(
            &rows
                .iter()
                .map(|r| (r.0.as_str(), r.1, "open", r.2, r.3, "G"))
                .collect::<Vec<_>>(),
        );
        let probes: Vec<Probe<'_>> = (0..200)
            .map(|k| Probe {
                lon: 115.0 + next() * 0.03,
                lat: 38.5 + next() * 0.03,
                category: cats[k % 3],
            })
            .collect();
        let got = open_nearby(&f, &probes, RADIUS_M, usize::MAX, &|_| true).unwrap();
        for (p, got) in probes.iter().zip(&got) {
            let mut want: Vec<(f64, &str)> = rows
                .iter()
                .filter(|r| r.1 == p.category)
                .map(|r| {
                    (
                        Haversine.distance(Point::new(p.lon, p.lat), Point::new(r.2, r.3)),
                        r.0.as_str(),
                    )
                })
                .filter(|(d, _)| *d <= RADIUS_M)
                .collect();
            want.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            let want: Vec<&str> = want.into_iter().map(|w| w.1).collect();
            let got: Vec<&str> = got.iter().map(|n| n.id.as_str()).collect();
            assert_eq!(got, want);
        }
    }
}
