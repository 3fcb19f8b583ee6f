//! Test fixtures for the analytics: a tiny county built in code and joined
//! frames written event by event in Shanghai local time.
//!
//! The county: township T1 (100 households) with village V1 holding grids
//! G1 (60 households, 1 km²) and G2 (40 households, 1 km²); township T2
//! without household data, with village V2 holding grid G3 (2 km²).

use chrono::NaiveDateTime;
use geo::{polygon, MultiPolygon};
use polars::prelude::*;

use crate::columns as c;
use crate::grid::{GridModel, Unit};

/// An axis-aligned square of side `size` degrees with its south-west corner at (x, y).
pub fn square(x: f64, y: f64, size: f64) -> MultiPolygon<f64> {
    MultiPolygon(vec![polygon![
        (x: x, y: y),
        (x: x + size, y: y),
        (x: x + size, y: y + size),
        (x: x, y: y + size),
        (x: x, y: y),
    ]])
}

/// A unit for [`model`].
pub fn unit(
    code: &str,
    level: u8,
    households: Option<u64>,
    area_km2: f64,
    geometry: MultiPolygon<f64>,
) -> Unit {
    Unit {
        code: code.into(),
        name: format!("name-{code}"),
        level,
        parent: None,
        children: Vec::new(),
        households,
        population: None,
        chief: None,
        geometry,
        area_km2,
        feature_index: 0,
    }
}

/// A model from (unit, parent code) pairs.
pub fn model(units: Vec<(Unit, Option<&str>)>) -> GridModel {
    let (units, parents): (Vec<Unit>, Vec<Option<String>>) = units
        .into_iter()
        .map(|(u, p)| (u, p.map(String::from)))
        .unzip();
    GridModel::from_units(units, parents)
}

/// The tiny county described in the module docs.
pub fn county() -> GridModel {
    let g1 = square(0.0, 0.0, 0.01);
    let g2 = square(0.01, 0.0, 0.01);
    let g3 = square(0.02, 0.0, 0.01);
    model(vec![
        (unit("T1", 1, None, 2.0, g1.clone()), None),
        (unit("T2", 1, None, 2.0, g3.clone()), None),
        (unit("V1", 2, None, 2.0, g1.clone()), Some("T1")),
        (unit("V2", 2, None, 2.0, g3.clone()), Some("T2")),
        (unit("G1", 3, Some(60), 1.0, g1), Some("V1")),
        (unit("G2", 3, Some(40), 1.0, g2), Some("V1")),
        (unit("G3", 3, None, 2.0, g3), Some("V2")),
    ])
}

/// One event of a fixture; times are Shanghai local `YYYY-MM-DD HH:MM`.
#[derive(Debug, Clone, Default)]
pub struct Ev {
    pub kind: &'static str,
    pub category: &'static str,
    pub at: &'static str,
    pub grid: Option<&'static str>,
    pub status: Option<&'static str>,
    pub resolved: Option<&'static str>,
    pub deadline: Option<&'static str>,
    pub satisfaction: Option<&'static str>,
    pub source: Option<&'static str>,
    pub cleared: Option<bool>,
    pub household: Option<&'static str>,
    /// An issue that repeats another case (重复件).
    pub duplicate: bool,
}

impl Ev {
    pub fn issue(at: &'static str, grid: &'static str) -> Ev {
        Ev {
            kind: "issue",
            category: "矛盾纠纷",
            at,
            grid: Some(grid),
            status: Some("open"),
            ..Default::default()
        }
    }
    pub fn incident(at: &'static str, grid: &'static str) -> Ev {
        Ev {
            kind: "incident",
            category: "盗窃",
            at,
            grid: Some(grid),
            ..Default::default()
        }
    }
    pub fn visit(at: &'static str, grid: &'static str, household: &'static str) -> Ev {
        Ev {
            kind: "visit",
            category: "入户走访",
            at,
            grid: Some(grid),
            household: Some(household),
            ..Default::default()
        }
    }
}

/// UTC µs of a Shanghai local time.
pub fn utc_us(local: &str) -> i64 {
    let t = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").expect("fixture time");
    t.and_utc().timestamp_micros() - 8 * 3_600_000_000
}

/// The joined frame of some events against a model (tier codes from the grid's ancestors).
pub fn joined(gm: &GridModel, events: &[Ev]) -> DataFrame {
    let tiers = |e: &Ev, level: u8| {
        e.grid
            .and_then(|g| gm.index_of(g))
            .and_then(|i| gm.ancestor_at(i, level))
            .map(|i| gm.unit(i).code.clone())
    };
    let dt = |v: Vec<Option<i64>>, name: &str| {
        Column::new(name.into(), v)
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .expect("cast")
    };
    let s = |f: &dyn Fn(&Ev) -> Option<&'static str>, name: &str| {
        Column::new(name.into(), events.iter().map(f).collect::<Vec<_>>())
    };
    let cols = vec![
        Column::new(
            c::ID.into(),
            (0..events.len())
                .map(|i| format!("e{i}"))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            c::KIND.into(),
            events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        ),
        dt(
            events.iter().map(|e| Some(utc_us(e.at))).collect(),
            c::OCCURRED_AT,
        ),
        Column::new(
            c::LON.into(),
            events.iter().map(|_| 0.005).collect::<Vec<f64>>(),
        ),
        Column::new(
            c::LAT.into(),
            events.iter().map(|_| 0.005).collect::<Vec<f64>>(),
        ),
        Column::new(
            c::CATEGORY.into(),
            events.iter().map(|e| e.category).collect::<Vec<_>>(),
        ),
        s(&|e| e.status, c::STATUS),
        dt(
            events.iter().map(|e| e.resolved.map(utc_us)).collect(),
            c::RESOLVED_AT,
        ),
        dt(
            events.iter().map(|e| e.deadline.map(utc_us)).collect(),
            c::DEADLINE,
        ),
        s(&|e| e.satisfaction, c::SATISFACTION),
        s(&|e| e.source, c::SOURCE),
        Column::new(
            c::CLEARED.into(),
            events.iter().map(|e| e.cleared).collect::<Vec<_>>(),
        ),
        s(&|e| e.household, c::HOUSEHOLD_HASH),
        s(&|_| None, c::VISITOR_HASH),
        Column::new(
            c::TIER1.into(),
            events.iter().map(|e| tiers(e, 1)).collect::<Vec<_>>(),
        ),
        Column::new(
            c::TIER2.into(),
            events.iter().map(|e| tiers(e, 2)).collect::<Vec<_>>(),
        ),
        Column::new(
            c::TIER3.into(),
            events.iter().map(|e| tiers(e, 3)).collect::<Vec<_>>(),
        ),
        Column::new(
            c::OUTCOME.into(),
            events
                .iter()
                .map(|e| {
                    if e.grid.is_some() {
                        "matched"
                    } else {
                        "outside"
                    }
                })
                .collect::<Vec<_>>(),
        ),
        Column::new(
            c::DUPLICATE.into(),
            events
                .iter()
                .map(|e| (e.kind == "issue").then_some(e.duplicate))
                .collect::<Vec<_>>(),
        ),
    ];
    DataFrame::new_infer_height(cols).expect("fixture frame")
}

/// A generated county of `towns` × `villages` × `grids` units (squares) and
/// `n` events spread deterministically over `days` local days from 2025-01-01.
pub fn big(
    towns: usize,
    villages: usize,
    grids: usize,
    n: usize,
    days: i64,
) -> (GridModel, DataFrame) {
    let mut units = Vec::new();
    let mut codes = Vec::new();
    for t in 0..towns {
        let tc = format!("T{t:02}");
        units.push((unit(&tc, 1, None, 10.0, square(t as f64, 0.0, 1.0)), None));
        for v in 0..villages {
            let vc = format!("{tc}V{v:02}");
            units.push((
                unit(&vc, 2, None, 2.0, square(t as f64, v as f64 * 0.1, 0.1)),
                Some(tc.clone()),
            ));
            for g in 0..grids {
                let gc = format!("{vc}G{g:02}");
                units.push((
                    unit(
                        &gc,
                        3,
                        Some(200),
                        0.5,
                        square(t as f64 + g as f64 * 0.01, v as f64 * 0.1, 0.01),
                    ),
                    Some(vc.clone()),
                ));
                codes.push((tc.clone(), vc.clone(), gc));
            }
        }
    }
    let (u, p): (Vec<Unit>, Vec<Option<String>>) = units.into_iter().unzip();
    let gm = GridModel::from_units(u, p);
    let kinds = ["issue", "incident", "visit"];
    let cats = ["矛盾纠纷", "环境卫生", "盗窃", "入户走访", "诈骗", "噪音"];
    let sources = ["patrol", "hotline", "walk_in", "online", "other"];
    let base = utc_us("2025-01-01 00:00");
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut state, mut changed): (Vec<Option<&str>>, Vec<Option<i64>>) = (vec![], vec![]);
    let (mut kind, mut cat, mut src, mut at, mut res, mut due, mut status, mut sat, mut hh) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    let (mut t1, mut t2, mut t3) = (vec![], vec![], vec![]);
    let mut flow: [Vec<Option<i64>>; c::FLOW.len()] = Default::default();
    let mut solved: Vec<Option<bool>> = vec![];
    // One issue in twelve repeats another case (重复件).
    let mut duplicate: Vec<Option<bool>> = vec![];
    for _ in 0..n {
        let r = next();
        let k = kinds[(r % 3) as usize];
        let (tc, vc, gc) = &codes[((r >> 8) % codes.len() as u64) as usize];
        let occ = base + ((r >> 20) % (days as u64 * 86_400)) as i64 * 1_000_000;
        kind.push(k);
        cat.push(cats[((r >> 40) % 6) as usize]);
        t1.push(tc.clone());
        t2.push(vc.clone());
        t3.push(gc.clone());
        at.push(occ);
        let issue = k == "issue";
        src.push(issue.then(|| sources[((r >> 44) % 5) as usize]));
        let resolved = issue && (r >> 50) % 4 != 0;
        status.push(issue.then_some(if resolved { "resolved" } else { "open" }));
        let suspended = issue && !resolved && (r >> 40) % 5 == 0;
        state.push(issue.then_some(if resolved {
            "closed"
        } else if suspended {
            "suspended"
        } else {
            "reported"
        }));
        changed.push(suspended.then_some(occ + 24 * 3_600_000_000));
        res.push(resolved.then_some(occ + ((r >> 52) % 200) as i64 * 3_600_000_000));
        due.push(issue.then_some(occ + 72 * 3_600_000_000));
        sat.push(resolved.then(|| ["satisfied", "basic", "unsatisfied"][((r >> 56) % 3) as usize]));
        hh.push((k == "visit").then(|| format!("h{}", (r >> 30) % 5000)));
        // Milestones: most issues acted on within hours and dispatched,
        // handled when closed (some only after the deadline or never), a
        // few returned, re-opened, extended or escalated.
        let q = r.rotate_left(23);
        let hour = 3_600_000_000i64;
        let dispatched = issue && q % 10 != 0;
        let acted = (issue && q % 13 != 0).then_some(occ + ((q >> 8) % 5) as i64 * hour);
        let disp = dispatched.then_some(occ + (2 + (q >> 12) % 30) as i64 * hour);
        let handled = disp.and_then(|d| {
            let end = res.last().copied().flatten();
            end.or(((q >> 16) % 3 == 0).then_some(d + (q >> 20) as i64 % 100 * hour))
        });
        let flag = |bit: u32, every: u64| {
            disp.filter(|_| (q >> bit).is_multiple_of(every))
                .map(|d| d + hour)
        };
        // Re-opened (some closed ones): first closed, re-opened days
        // later and closed again a day after that.
        let day = 24 * hour;
        let first_closed = flag(32, 11).filter(|_| resolved);
        let reopened = first_closed.map(|c| c + (1 + (q >> 58) % 30) as i64 * day);
        if let (Some(w), Some(r)) = (reopened, res.last_mut()) {
            *r = Some(w + day);
        }
        // Some failed a check half an hour after the dispatch, before any
        // closure: reworked then, not re-opened.
        let failed = disp
            .filter(|_| (q >> 26).is_multiple_of(5))
            .map(|d| d + hour / 2);
        let reworked = match (failed, reopened) {
            (Some(f), Some(w)) => Some(f.min(w)),
            (f, w) => f.or(w),
        };
        // Extended (some) days after the dispatch, from a deadline a day
        // after the report.
        let extended = flag(36, 7).map(|x| x + ((q >> 60) % 10) as i64 * day);
        flow[0].push(acted);
        flow[1].push(disp);
        flow[2].push(handled);
        flow[3].push(first_closed.or(res.last().copied().flatten()));
        flow[4].push(flag(28, 9));
        flow[5].push(reworked);
        flow[6].push(extended);
        flow[7].push(flag(40, 17));
        // Suspended now since the day after the report, or (some closed
        // ones) suspended a while and resumed before closing.
        let was = flag(48, 6).filter(|_| resolved);
        flow[8].push(if suspended {
            changed.last().copied().flatten()
        } else {
            was
        });
        flow[9].push(was.map(|s| s + ((q >> 50) % 20 + 1) as i64 * 24 * hour));
        flow[10].push(extended.map(|_| occ + day));
        flow[11].push(reopened);
        solved.push((resolved && (q >> 44) % 3 != 0).then_some((q >> 46) % 5 != 0));
        duplicate.push(issue.then_some((q >> 54) % 12 == 0));
    }
    let dt = |v: Vec<Option<i64>>, name: &str| {
        Column::new(name.into(), v)
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .expect("cast")
    };
    let len = n;
    let df = DataFrame::new_infer_height(vec![
        Column::new(
            c::ID.into(),
            (0..len).map(|i| format!("e{i}")).collect::<Vec<_>>(),
        ),
        Column::new(c::KIND.into(), kind),
        dt(at.into_iter().map(Some).collect(), c::OCCURRED_AT),
        Column::new(c::LON.into(), vec![0.5f64; len]),
        Column::new(c::LAT.into(), vec![0.5f64; len]),
        Column::new(c::CATEGORY.into(), cat),
        Column::new(c::STATUS.into(), status),
        dt(res, c::RESOLVED_AT),
        dt(due, c::DEADLINE),
        Column::new(c::SATISFACTION.into(), sat),
        Column::new(c::SOURCE.into(), src),
        Column::new(c::CLEARED.into(), vec![Some(true); len]),
        Column::new(c::HOUSEHOLD_HASH.into(), hh),
        Column::new(c::VISITOR_HASH.into(), vec![None::<&str>; len]),
        Column::new(c::TIER1.into(), t1),
        Column::new(c::TIER2.into(), t2),
        Column::new(c::TIER3.into(), t3),
        Column::new(c::OUTCOME.into(), vec!["matched"; len]),
        Column::new(c::STATE.into(), state),
        dt(changed, c::UPDATED_AT),
    ])
    .expect("generated frame");
    let mut df = df;
    for (name, v) in c::FLOW.into_iter().zip(flow) {
        df.with_column(dt(v, name)).expect("flow column");
    }
    df.with_column(Column::new(c::SOLVED.into(), solved))
        .expect("solved column");
    df.with_column(Column::new(c::DUPLICATE.into(), duplicate))
        .expect("duplicate column");
    (gm, df)
}
