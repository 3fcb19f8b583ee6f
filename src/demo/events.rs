//! Writing `events.csv`: issues, incidents and visits in the contract's
//! columns, with the faults real exports have.
//!
//! Every row is one of four classes with exact, seed-independent counts
//! ([`EventCounts::for_rows`]): normal rows inside a grid, rows clearly
//! outside the county, bad rows (one fault each, seven kinds in turn) and
//! re-sent duplicates of a recent row. Normal rows pick a grid by households
//! times an urban factor, then a uniform point inside one of its mesh cells,
//! so the point lies inside that grid by construction.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::county::County;
use super::names;
use super::rng::{Cdf, Rng};
use super::timeline::{self, Clock, Kind, END_SECS};
use super::DemoError;

const HEADER: &str =
    "id,kind,occurred_at,lon,lat,category,status,resolved_at,deadline,satisfaction,source,cleared,household,visitor\n";

/// Issue categories with base weight, deadline in days and a factor on the
/// time to resolve.
const ISSUE_CATS: [(&str, f64, i64, f64); 10] = [
    ("矛盾纠纷", 0.17, 7, 1.2),
    ("环境卫生", 0.20, 3, 0.6),
    ("劳动社保", 0.07, 15, 1.5),
    ("土地征用", 0.04, 15, 2.5),
    ("安全隐患", 0.12, 3, 0.7),
    ("市政设施", 0.12, 7, 1.0),
    ("物业管理", 0.08, 7, 1.0),
    ("民生服务", 0.10, 7, 0.9),
    ("违章建设", 0.05, 15, 2.0),
    ("其他", 0.05, 7, 1.0),
];
/// Incident categories with weight and clearance rate (frauds are rarely
/// solved locally, traffic cases nearly always).
const INCIDENT_CATS: [(&str, f64, f64); 7] = [
    ("盗窃", 0.30, 0.55),
    ("诈骗", 0.18, 0.30),
    ("故意伤害", 0.07, 0.85),
    ("赌博", 0.08, 0.80),
    ("寻衅滋事", 0.10, 0.70),
    ("交通肇事", 0.12, 0.90),
    ("治安纠纷", 0.15, 0.75),
];
const VISIT_CATS: [(&str, f64); 4] = [
    ("入户走访", 0.60),
    ("接访", 0.15),
    ("夜访", 0.10),
    ("回访", 0.15),
];
const SOURCES: [(&str, f64); 5] = [
    ("patrol", 0.40),
    ("hotline", 0.22),
    ("online", 0.20),
    ("walk_in", 0.12),
    ("other", 0.06),
];

/// How many rows of each class a file of `rows` rows holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// All rows written (without the header).
    pub rows: usize,
    /// Valid rows placed clearly outside the county.
    pub outside: usize,
    /// Rows with one deliberate fault (to be rejected on import).
    pub bad: usize,
    /// Exact re-sends of an earlier row (same kind and id).
    pub duplicates: usize,
}

impl EventCounts {
    /// The split used for `rows` rows: 2% outside, 0.5% bad, 0.1% duplicates.
    pub fn for_rows(rows: usize) -> Self {
        EventCounts {
            rows,
            outside: rows / 50,
            bad: rows / 200,
            duplicates: rows / 1000,
        }
    }
}

/// Writes `n` rows to `path`.
pub fn write(county: &County, n: usize, seed: u64, path: &Path) -> Result<EventCounts, DemoError> {
    let io = |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(io)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let counts = Generator::new(county, seed).run(n, &mut w).map_err(io)?;
    w.flush().map_err(io)?;
    Ok(counts)
}

struct Generator<'a> {
    county: &'a County,
    rng: Rng,
    clocks: [Clock; 3],
    grid_cdf: [Cdf; 3],
    cadres: Vec<[String; 3]>,
    seq: [usize; 3],
    bbox: [f64; 4],
    line: String,
}

impl<'a> Generator<'a> {
    fn new(county: &'a County, seed: u64) -> Self {
        let weights = |urban_gain: f64| -> Cdf {
            let w: Vec<f64> = county
                .grids
                .iter()
                .map(|g| county.units[g.unit].households as f64 * (1.0 + urban_gain * g.urban))
                .collect();
            Cdf::new(&w)
        };
        // Cadres per village are drawn from their own stream so that they do
        // not depend on how many events came before.
        let mut cadre_rng = Rng::stream(seed, 0xCAD);
        let cadres = county
            .units
            .iter()
            .map(|_| {
                [
                    names::person(&mut cadre_rng),
                    names::person(&mut cadre_rng),
                    names::person(&mut cadre_rng),
                ]
            })
            .collect();
        let bbox = county.units[0].rings[0].iter().fold(
            [f64::MAX, f64::MAX, f64::MIN, f64::MIN],
            |b, p| {
                [
                    b[0].min(p[0]),
                    b[1].min(p[1]),
                    b[2].max(p[0]),
                    b[3].max(p[1]),
                ]
            },
        );
        Generator {
            county,
            rng: Rng::stream(seed, 0xE7E),
            clocks: [
                Clock::new(Kind::Issue),
                Clock::new(Kind::Incident),
                Clock::new(Kind::Visit),
            ],
            grid_cdf: [weights(3.0), weights(4.0), weights(0.3)],
            cadres,
            seq: [0; 3],
            bbox,
            line: String::with_capacity(256),
        }
    }

    fn run<W: Write>(&mut self, n: usize, w: &mut W) -> std::io::Result<EventCounts> {
        w.write_all(HEADER.as_bytes())?;
        let plan = EventCounts::for_rows(n);
        let mut left = [
            n - plan.outside - plan.bad - plan.duplicates,
            plan.outside,
            plan.bad,
            plan.duplicates,
        ];
        let mut done = EventCounts {
            rows: 0,
            ..EventCounts::default()
        };
        let mut recent: Vec<String> = Vec::with_capacity(512);
        let mut bad_kind = 0usize;
        for i in 0..n {
            let mut weights = left.map(|k| k as f64);
            if recent.is_empty() {
                weights[3] = 0.0;
            }
            let class = if weights.iter().sum::<f64>() > 0.0 {
                self.rng.weighted(&weights)
            } else {
                0
            };
            left[class] = left[class].saturating_sub(1);
            if class == 3 {
                let k = self.rng.below(recent.len());
                w.write_all(recent[k].as_bytes())?;
                done.duplicates += 1;
                done.rows += 1;
                continue;
            }
            self.row(class == 1);
            if class == 2 {
                self.spoil(bad_kind);
                bad_kind = (bad_kind + 1) % 7;
                done.bad += 1;
            } else {
                done.outside += usize::from(class == 1);
                if recent.len() < 512 {
                    recent.push(self.line.clone());
                } else {
                    recent[i % 512].clone_from(&self.line);
                }
            }
            w.write_all(self.line.as_bytes())?;
            done.rows += 1;
        }
        Ok(done)
    }

    /// Builds one valid row into `self.line`.
    fn row(&mut self, outside: bool) {
        let r = &mut self.rng;
        let u = r.unit();
        let kind = if u < 0.55 {
            Kind::Issue
        } else if u < 0.70 {
            Kind::Incident
        } else {
            Kind::Visit
        };
        let k = kind as usize;
        self.seq[k] += 1;
        let g = &self.county.grids[self.grid_cdf[k].sample(r)];
        let [lon, lat] = if outside {
            outside_point(r, self.bbox)
        } else {
            point_in_cells(self.county, &g.cells, r)
        };
        let day = self.clocks[k].day(r);
        let rfc = r.chance(0.03);
        let line = &mut self.line;
        line.clear();
        let prefix = ["I", "C", "V"][k];
        let kind_name = ["issue", "incident", "visit"][k];
        use std::fmt::Write;
        let _ = write!(line, "{prefix}{:07},{kind_name},", self.seq[k]);
        match kind {
            Kind::Issue => {
                let occurred = self.clocks[k].at(day, r);
                let (cat, _, deadline_days, slow) = ISSUE_CATS[issue_category(day, r)];
                timeline::format(occurred, rfc, line);
                let _ = write!(line, ",{lon:.6},{lat:.6},{cat},");
                let deadline = occurred + deadline_days * 86_400;
                let hours = r.lognormal(48.0 * slow, 1.0);
                let resolved = occurred + (hours * 3600.0) as i64;
                let stuck = r.chance(0.09);
                if resolved >= END_SECS || stuck {
                    line.push_str("open,,");
                } else {
                    line.push_str("resolved,");
                    timeline::format(resolved, rfc, line);
                    line.push(',');
                }
                timeline::format(deadline, rfc, line);
                line.push(',');
                if resolved < END_SECS && !stuck && !r.chance(0.2) {
                    let late = resolved > deadline;
                    let p = if late {
                        [0.55, 0.28, 0.17]
                    } else {
                        [0.83, 0.13, 0.04]
                    };
                    line.push_str(["satisfied", "basic", "unsatisfied"][r.weighted(&p)]);
                }
                let source = SOURCES[r.weighted(&SOURCES.map(|s| s.1))].0;
                let _ = writeln!(line, ",{source},,,");
            }
            Kind::Incident => {
                let occurred = self.clocks[k].at(day, r);
                let (cat, _, clear_p) = INCIDENT_CATS[r.weighted(&INCIDENT_CATS.map(|c| c.1))];
                timeline::format(occurred, rfc, line);
                let cleared = r.chance(clear_p);
                let _ = writeln!(line, ",{lon:.6},{lat:.6},{cat},,,,,,{cleared},,");
            }
            Kind::Visit => {
                let (cat, _) = VISIT_CATS[r.weighted(&VISIT_CATS.map(|c| c.1))];
                let occurred = if cat == "夜访" {
                    (timeline::START_DAY + day) * 86_400
                        + (19 + r.below(3) as i64) * 3600
                        + r.below(3600) as i64
                } else {
                    self.clocks[k].at(day, r)
                };
                timeline::format(occurred, rfc, line);
                let unit = &self.county.units[g.unit];
                // Cadres return to the same vulnerable families: a quarter of
                // the households get most of the visits.
                let hh = unit.households.max(1) as usize;
                let house = if r.chance(0.65) {
                    r.below(hh.div_ceil(4))
                } else {
                    r.below(hh)
                } + 1;
                let visitor = if r.chance(0.65) {
                    unit.chief.as_deref().unwrap_or("")
                } else {
                    self.cadres[g.village][r.below(3)].as_str()
                };
                let _ = writeln!(
                    line,
                    ",{lon:.6},{lat:.6},{cat},,,,,,,H{}-{house:04},{visitor}",
                    unit.code
                );
            }
        }
    }

    /// Breaks one field of the row in `self.line`, by fault kind.
    fn spoil(&mut self, fault: usize) {
        let mut f: Vec<String> = self
            .line
            .trim_end_matches('\n')
            .split(',')
            .map(str::to_string)
            .collect();
        match fault {
            0 => f[0].clear(),
            1 => f[1] = "complaint".to_string(),
            2 => f.swap(3, 4),
            3 => f[3] = "abc".to_string(),
            4 => f[4] = "95".to_string(),
            5 => f[2] = "2025-13-40 25:00".to_string(),
            _ => f[5].clear(),
        }
        self.line = f.join(",");
        self.line.push('\n');
    }
}

/// Issue category for a day: 环境卫生 swells in summer, 安全隐患 in the
/// heating season, 矛盾纠纷 and 劳动社保 (unpaid wages) before the Spring
/// Festival, 土地征用 in the spring building season.
fn issue_category(day: i64, r: &mut Rng) -> usize {
    let d = timeline::START_DAY + day;
    let doy = timeline::day_of_year(d) as f64;
    let sf = timeline::days_to_spring_festival(d) as f64;
    let summer = (-((doy - 196.0) / 40.0).powi(2)).exp();
    let heating = if !(74.0..319.0).contains(&doy) {
        1.0
    } else {
        0.0
    };
    let festival = (-((sf + 5.0) / 15.0).powi(2)).exp();
    let spring = if (60.0..150.0).contains(&doy) {
        1.0
    } else {
        0.0
    };
    let w = ISSUE_CATS.map(|c| c.1);
    let w = [
        w[0] * (1.0 + 1.2 * festival),
        w[1] * (1.0 + 1.0 * summer),
        w[2] * (1.0 + 1.5 * festival),
        w[3] * (1.0 + 0.8 * spring),
        w[4] * (1.0 + 0.9 * heating),
        w[5],
        w[6],
        w[7],
        w[8] * (1.0 + 0.5 * spring),
        w[9],
    ];
    r.weighted(&w)
}

/// Uniform point in a random cell of `cells`, shrunk slightly toward the
/// cell centre so that rounding to 6 decimals cannot push it over an edge.
fn point_in_cells(county: &County, cells: &[usize], r: &mut Rng) -> [f64; 2] {
    let c = cells[r.below(cells.len())];
    let vs = county
        .mesh
        .cell_vertices(c)
        .map(|v| county.mesh.vertices[v]);
    let centre = vs
        .iter()
        .fold([0.0; 2], |a, p| [a[0] + p[0] / 6.0, a[1] + p[1] / 6.0]);
    let areas: [f64; 6] = std::array::from_fn(|i| {
        let (a, b) = (vs[i], vs[(i + 1) % 6]);
        ((a[0] - centre[0]) * (b[1] - centre[1]) - (b[0] - centre[0]) * (a[1] - centre[1])).abs()
    });
    let i = r.weighted(&areas);
    let (a, b) = (vs[i], vs[(i + 1) % 6]);
    let (mut s, mut t) = (r.unit(), r.unit());
    if s + t > 1.0 {
        (s, t) = (1.0 - s, 1.0 - t);
    }
    // Scaling about the cell centre keeps a margin of ~1.5% of the cell
    // along its edges only.
    let (s, t) = (0.97 * s, 0.97 * t);
    std::array::from_fn(|k| centre[k] + s * (a[k] - centre[k]) + t * (b[k] - centre[k]))
}

/// A point 3 to 20 km beyond the county's bounding box.
fn outside_point(r: &mut Rng, b: [f64; 4]) -> [f64; 2] {
    loop {
        let (lon, lat) = (
            r.uniform(b[0] - 0.22, b[2] + 0.22),
            r.uniform(b[1] - 0.18, b[3] + 0.18),
        );
        if lon < b[0] - 0.035 || lon > b[2] + 0.035 || lat < b[1] - 0.027 || lat > b[3] + 0.027 {
            return [lon, lat];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::county::small_county;
    use crate::demo::polygonize::contains;

    fn rows(n: usize) -> (String, EventCounts) {
        let mut out = Vec::new();
        let counts = Generator::new(small_county(), 3)
            .run(n, &mut out)
            .expect("write to memory");
        (String::from_utf8(out).expect("utf-8"), counts)
    }

    #[test]
    fn the_row_classes_have_exact_counts() {
        let (text, counts) = rows(20_000);
        assert_eq!(counts, EventCounts::for_rows(20_000));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].trim_end(), HEADER.trim_end());
        assert_eq!(lines.len(), 20_001);
        assert!(lines.iter().all(|l| l.split(',').count() == 14));
        assert_eq!(
            lines.iter().filter(|l| l.contains(",complaint,")).count(),
            100 / 7 + 1
        );
    }

    #[test]
    fn valid_rows_are_inside_the_county_unless_meant_to_be_outside() {
        let (text, counts) = rows(5_000);
        let root = &small_county().units[0].rings;
        let mut outside = 0;
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split(',').collect();
            let (Ok(lon), Ok(lat)) = (f[3].parse::<f64>(), f[4].parse::<f64>()) else {
                continue;
            };
            if f[0].is_empty()
                || f[1] == "complaint"
                || f[5].is_empty()
                || f[2].starts_with("2025-13")
                || lat > 90.0
            {
                continue;
            }
            outside += usize::from(!contains(root, lon, lat));
        }
        assert!(
            outside >= counts.outside && outside <= counts.outside + counts.duplicates,
            "{outside}"
        );
    }
}
