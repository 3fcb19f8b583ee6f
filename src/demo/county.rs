//! The demo county as units: tiers cut from the mesh, then codes, names,
//! households and chiefs attached.
//!
//! Townships get the real names and codes (the four 街道 small and around
//! the county seat, rural towns sized by their number of villages); each
//! township is cut into exactly the villages the real list gives it; each
//! village into grids of similar household mass, so grids are small where
//! people live densely (the seat, town centres, village cores).

use super::mesh::Mesh;
use super::names;
use super::partition::{allocate, pick_cells, Problem, Seed, Tier};
use super::polygonize::{polygons, Rings};
use super::rng::Rng;
use super::source::{RealCounty, COUNTY_CODE, COUNTY_NAME};
use super::DemoError;

/// Mesh cells per grid at the requested size; gives tier-3 polygons of
/// roughly 30-80 vertices.
const CELLS_PER_GRID: usize = 36;
/// Floor on cells per village, so small `--grids` still draws villages.
const MIN_CELLS_PER_VILLAGE: usize = 60;

/// One unit of any level, ready to be written.
#[derive(Debug, Clone)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub level: u8,
    pub parent: Option<String>,
    pub households: u64,
    pub population: u64,
    pub chief: Option<String>,
    pub rings: Rings,
}

/// What the event generator needs to know about a grid.
#[derive(Debug, Clone)]
pub struct GridInfo {
    /// Index of the grid in [`County::units`].
    pub unit: usize,
    /// Mesh cells making up the grid.
    pub cells: Vec<usize>,
    /// 0 (open country) to 1 (county seat): how urban the grid is.
    pub urban: f64,
    /// Index of the grid's village in [`County::units`].
    pub village: usize,
}

/// The generated county.
#[derive(Debug, Clone)]
pub struct County {
    pub mesh: Mesh,
    /// Root, townships, villages, grids, in that order.
    pub units: Vec<Unit>,
    pub grids: Vec<GridInfo>,
}

impl County {
    /// Units per level: county, townships, villages, grids.
    pub fn units_by_level(&self) -> [usize; 4] {
        let mut n = [0; 4];
        for u in &self.units {
            n[usize::from(u.level.min(3))] += 1;
        }
        n
    }
}

/// Builds the county with `grids` grids.
pub fn build(real: &RealCounty, grids: usize, seed: u64) -> Result<County, DemoError> {
    let nv = real.villages.len();
    if grids < nv {
        return Err(DemoError::TooFewGrids {
            grids,
            villages: nv,
        });
    }
    if grids > nv * 999 {
        return Err(DemoError::TooManyGrids { grids });
    }
    let mesh = Mesh::build(
        &real.rings,
        (grids * CELLS_PER_GRID).max(nv * MIN_CELLS_PER_VILLAGE),
        seed,
    )?;
    let mut rng = Rng::stream(seed, 0x71);
    let n1 = real.townships.len();
    let township_of: Vec<usize> = real
        .villages
        .iter()
        .map(|v| {
            real.townships
                .iter()
                .position(|t| t.code == v.street_code)
                .unwrap_or(0)
        })
        .collect();
    let mut villages_in = vec![0usize; n1];
    for &t in &township_of {
        villages_in[t] += 1;
    }

    let tier1 = townships(real, &mesh, &villages_in, &mut rng);
    let urban = urban_field(real, &mesh, &tier1);
    let rho: Vec<f64> = urban.iter().map(|u| 1.0 + 2.5 * u).collect();

    // Villages: the real list, seeded where households are.
    let cells1 = tier1.cells();
    let mut picks: Vec<Vec<usize>> = (0..n1)
        .map(|t| pick_cells(&cells1[t], &rho, villages_in[t], &mut rng))
        .collect();
    let mut seeds2 = Vec::with_capacity(nv);
    for &t in &township_of {
        let cell = picks[t].pop().ok_or_else(|| {
            DemoError::Geometry(format!(
                "township {} has fewer cells than villages",
                real.townships[t].code
            ))
        })?;
        seeds2.push(Seed {
            cell,
            parent: t,
            target: rng.lognormal(1.0, 0.3),
            fixed: false,
        });
    }
    let tier2 = Problem {
        mesh: &mesh,
        parent_of_cell: &tier1.labels,
        weight: &rho,
    }
    .relax(&seeds2, 10);

    // Rural households cluster in the village core around its seed.
    let area2 = tier2.mass(&vec![1.0; mesh.len()]);
    let cell_area = mesh.spacing * mesh.spacing * 0.866;
    let rho3: Vec<f64> = (0..mesh.len())
        .map(|c| {
            let v = tier2.labels[c] as usize;
            if real.townships[township_of[v]].is_street() {
                return rho[c];
            }
            let sigma = 0.35 * (area2[v] * cell_area / std::f64::consts::PI).sqrt();
            let d2 = dist2(mesh.centres[c], mesh.centres[tier2.seeds[v]]);
            rho[c] + 1.2 * (-d2 / (2.0 * sigma * sigma)).exp()
        })
        .collect();

    let k3 = allocate(&tier2.mass(&rho3), grids, 1, 999);
    let cells2 = tier2.cells();
    let mut seeds3 = Vec::with_capacity(grids);
    for v in 0..nv {
        let mut p = pick_cells(&cells2[v], &rho3, k3[v], &mut rng);
        // Number grids north-west first, as a cadre would on a paper map.
        p.sort_by(|&a, &b| {
            let (pa, pb) = (mesh.centres[a], mesh.centres[b]);
            (-pa[1] + pa[0])
                .total_cmp(&(-pb[1] + pb[0]))
                .then(a.cmp(&b))
        });
        seeds3.extend(p.into_iter().map(|cell| Seed {
            cell,
            parent: v,
            target: 1.0,
            fixed: false,
        }));
    }
    let tier3 = Problem {
        mesh: &mesh,
        parent_of_cell: &tier2.labels,
        weight: &rho3,
    }
    .relax(&seeds3, 8);

    assemble(
        real,
        mesh,
        [&tier1, &tier2, &tier3],
        &urban,
        &township_of,
        &mut rng,
    )
}

/// Tier 1: streets on fixed seeds around the seat, towns Lloyd-relaxed.
fn townships(real: &RealCounty, mesh: &Mesh, villages_in: &[usize], rng: &mut Rng) -> Tier {
    let n = mesh.len() as f64;
    let mean = mesh
        .centres
        .iter()
        .fold([0.0; 2], |a, p| [a[0] + p[0] / n, a[1] + p[1] / n]);
    let nearest = |p: [f64; 2]| {
        (0..mesh.len())
            .min_by(|&a, &b| dist2(mesh.centres[a], p).total_cmp(&dist2(mesh.centres[b], p)))
            .unwrap_or(0)
    };
    let seat = mesh.centres[nearest(mean)];
    let targets: Vec<f64> = real
        .townships
        .iter()
        .zip(villages_in)
        .map(|(t, &k)| {
            if t.is_street() {
                0.15 * k as f64
            } else {
                (k as f64).powf(0.9) * rng.lognormal(1.0, 0.15)
            }
        })
        .collect();
    let total: f64 = targets.iter().sum();
    let county_area = n * mesh.spacing * mesh.spacing * 0.866;
    let mut dirs: Vec<(char, [f64; 2])> = vec![
        ('东', [1.0, 0.0]),
        ('北', [0.0, 1.0]),
        ('西', [-1.0, 0.0]),
        ('南', [0.0, -1.0]),
        (' ', [0.7, 0.7]),
        (' ', [-0.7, 0.7]),
        (' ', [-0.7, -0.7]),
        (' ', [0.7, -0.7]),
    ];
    let mut street_cell = vec![None; real.townships.len()];
    let mut city_radius: f64 = 0.0;
    // Streets named for a direction take it first; the rest take what is left.
    for named in [true, false] {
        for (i, t) in real.townships.iter().enumerate() {
            if !t.is_street() || street_cell[i].is_some() {
                continue;
            }
            let first = t.name.chars().next().unwrap_or(' ');
            let Some(k) = dirs
                .iter()
                .position(|d| if named { d.0 == first } else { true })
            else {
                continue;
            };
            let dir = dirs.remove(k).1;
            let r = (targets[i] / total * county_area / std::f64::consts::PI).sqrt();
            city_radius = city_radius.max(2.0 * r);
            street_cell[i] = Some(nearest([seat[0] + r * dir[0], seat[1] + r * dir[1]]));
        }
    }
    let rural: Vec<usize> = (0..mesh.len())
        .filter(|&c| dist2(mesh.centres[c], seat) > (1.5 * city_radius).powi(2))
        .collect();
    let n_rural = street_cell.iter().filter(|s| s.is_none()).count();
    let mut picks = pick_cells(&rural, &vec![1.0; mesh.len()], n_rural, rng);
    let seeds: Vec<Seed> = (0..real.townships.len())
        .map(|i| match street_cell[i] {
            Some(cell) => Seed {
                cell,
                parent: 0,
                target: targets[i],
                fixed: true,
            },
            None => Seed {
                cell: picks.pop().unwrap_or(0),
                parent: 0,
                target: targets[i],
                fixed: false,
            },
        })
        .collect();
    let zero = vec![0u32; mesh.len()];
    Problem {
        mesh,
        parent_of_cell: &zero,
        weight: &vec![1.0; mesh.len()],
    }
    .relax(&seeds, 25)
}

/// 0..1 per cell: a wide peak on the county seat (the streets' centre) and
/// smaller ones on each town's seed.
fn urban_field(real: &RealCounty, mesh: &Mesh, tier1: &Tier) -> Vec<f64> {
    let streets: Vec<usize> = (0..tier1.len())
        .filter(|&t| real.townships[t].is_street())
        .collect();
    let ns = streets.len().max(1) as f64;
    let seat = streets.iter().fold([0.0; 2], |a, &t| {
        let p = mesh.centres[tier1.seeds[t]];
        [a[0] + p[0] / ns, a[1] + p[1] / ns]
    });
    let towns: Vec<[f64; 2]> = (0..tier1.len())
        .filter(|&t| !real.townships[t].is_street())
        .map(|t| mesh.centres[tier1.seeds[t]])
        .collect();
    mesh.centres
        .iter()
        .map(|&p| {
            let s = (-dist2(p, seat) / (2.0 * 3.0 * 3.0)).exp();
            let t = towns
                .iter()
                .map(|&q| (-dist2(p, q) / 2.0).exp())
                .fold(0.0, f64::max);
            s.max(0.5 * t)
        })
        .collect()
}

fn assemble(
    real: &RealCounty,
    mesh: Mesh,
    tiers: [&Tier; 3],
    urban: &[f64],
    township_of: &[usize],
    rng: &mut Rng,
) -> Result<County, DemoError> {
    let [t1, t2, t3] = tiers;
    let root = polygons(&mesh, &vec![0; mesh.len()], 1)?;
    let p1 = polygons(&mesh, &t1.labels, t1.len())?;
    let p2 = polygons(&mesh, &t2.labels, t2.len())?;
    let p3 = polygons(&mesh, &t3.labels, t3.len())?;
    let nv = real.villages.len();
    let base = 1 + real.townships.len();
    let mut grids_units = Vec::with_capacity(t3.len());
    let mut grids = Vec::with_capacity(t3.len());
    let mut seq = vec![0usize; nv];
    let mut hh_v = vec![0u64; nv];
    let mut pop_v = vec![0u64; nv];
    for (g, (cells, rings)) in t3.cells().into_iter().zip(p3).enumerate() {
        let v = t3.parent[g];
        seq[v] += 1;
        let u = cells.iter().map(|&c| urban[c]).sum::<f64>() / cells.len().max(1) as f64;
        let street = real.townships[township_of[v]].is_street();
        let mean = 120.0 + 200.0 * u + if street { 60.0 } else { 0.0 };
        let households = (mean * rng.lognormal(1.0, 0.22))
            .round()
            .clamp(100.0, 400.0) as u64;
        let population = (households as f64 * rng.uniform(2.6, 3.2)).round() as u64;
        hh_v[v] += households;
        pop_v[v] += population;
        let village = &real.villages[v];
        grids_units.push(Unit {
            code: format!("{}{:03}", village.code, seq[v]),
            name: names::grid_name(&names::village_display(&village.name), seq[v]),
            level: 3,
            parent: Some(village.code.clone()),
            households,
            population,
            chief: Some(names::person(rng)),
            rings,
        });
        grids.push(GridInfo {
            unit: base + nv + g,
            cells,
            urban: u,
            village: base + v,
        });
    }
    let mut hh_t = vec![0u64; real.townships.len()];
    let mut pop_t = vec![0u64; real.townships.len()];
    for v in 0..nv {
        hh_t[township_of[v]] += hh_v[v];
        pop_t[township_of[v]] += pop_v[v];
    }
    let mut units = Vec::with_capacity(base + nv + grids_units.len());
    units.push(Unit {
        code: COUNTY_CODE.to_string(),
        name: COUNTY_NAME.to_string(),
        level: 0,
        parent: None,
        households: hh_t.iter().sum(),
        population: pop_t.iter().sum(),
        chief: None,
        rings: root.into_iter().next().unwrap_or_default(),
    });
    for (i, (t, rings)) in real.townships.iter().zip(p1).enumerate() {
        units.push(Unit {
            code: t.code.clone(),
            name: t.name.clone(),
            level: 1,
            parent: Some(COUNTY_CODE.to_string()),
            households: hh_t[i],
            population: pop_t[i],
            chief: None,
            rings,
        });
    }
    for (i, (v, rings)) in real.villages.iter().zip(p2).enumerate() {
        units.push(Unit {
            code: v.code.clone(),
            name: names::village_display(&v.name),
            level: 2,
            parent: Some(v.street_code.clone()),
            households: hh_v[i],
            population: pop_v[i],
            chief: None,
            rings,
        });
    }
    units.extend(grids_units);
    Ok(County { mesh, units, grids })
}

fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

/// A 600-grid county built once and shared by the tests, which only read it.
#[cfg(test)]
pub(crate) fn small_county() -> &'static County {
    static C: std::sync::OnceLock<County> = std::sync::OnceLock::new();
    C.get_or_init(|| build(&super::source::load().expect("data"), 600, 5).expect("county"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::polygonize::{contains, signed_area};
    use std::collections::BTreeMap;

    fn small() -> &'static County {
        small_county()
    }

    fn area(r: &Rings) -> f64 {
        r.iter().map(|ring| signed_area(ring)).sum()
    }

    #[test]
    fn every_level_is_counted_and_every_parent_is_one_level_up() {
        let c = small();
        assert_eq!(c.units_by_level(), [1, 25, 542, 600]);
        let by_code: BTreeMap<&str, &Unit> = c.units.iter().map(|u| (u.code.as_str(), u)).collect();
        assert_eq!(by_code.len(), c.units.len(), "codes are unique");
        for u in &c.units[1..] {
            let p = by_code[u.parent.as_deref().expect("parent")];
            assert_eq!(p.level + 1, u.level, "{}", u.code);
            assert!(u.code.starts_with(&p.code));
        }
        for g in c.units.iter().filter(|u| u.level == 3) {
            assert_eq!(g.code.len(), 15);
            assert!((100..=400).contains(&g.households));
        }
    }

    #[test]
    fn children_areas_sum_to_their_parent() {
        let c = small();
        let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
        for u in &c.units[1..] {
            *sums
                .entry(u.parent.as_deref().expect("parent"))
                .or_default() += area(&u.rings);
        }
        for u in c.units.iter().filter(|u| u.level < 3) {
            let a = area(&u.rings);
            assert!(a > 0.0);
            assert!((sums[u.code.as_str()] - a).abs() <= 1e-9 * a, "{}", u.code);
        }
    }

    #[test]
    fn a_point_in_the_county_is_in_exactly_one_grid() {
        let c = small();
        let grids: Vec<&Unit> = c.units.iter().filter(|u| u.level == 3).collect();
        let mut rng = Rng::stream(9, 9);
        let root = &c.units[0].rings;
        let (lo, hi) = root[0]
            .iter()
            .fold(([f64::MAX; 2], [f64::MIN; 2]), |(lo, hi), p| {
                (
                    [lo[0].min(p[0]), lo[1].min(p[1])],
                    [hi[0].max(p[0]), hi[1].max(p[1])],
                )
            });
        let mut tested = 0;
        for _ in 0..400 {
            let (x, y) = (rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1]));
            let hits = grids.iter().filter(|g| contains(&g.rings, x, y)).count();
            if contains(root, x, y) {
                assert_eq!(hits, 1, "({x}, {y})");
                tested += 1;
            } else {
                assert_eq!(hits, 0, "({x}, {y})");
            }
        }
        assert!(tested > 100);
    }

    #[test]
    fn streets_are_small_and_central() {
        let c = small();
        let t: Vec<&Unit> = c.units.iter().filter(|u| u.level == 1).collect();
        let street_max = t
            .iter()
            .filter(|u| u.name.ends_with("街道"))
            .map(|u| area(&u.rings))
            .fold(0.0, f64::max);
        let town_median = {
            let mut a: Vec<f64> = t
                .iter()
                .filter(|u| !u.name.ends_with("街道"))
                .map(|u| area(&u.rings))
                .collect();
            a.sort_by(f64::total_cmp);
            a[a.len() / 2]
        };
        assert!(street_max < town_median, "{street_max} vs {town_median}");
    }
}
