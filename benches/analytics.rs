//! Criterion bench of the analytics hot paths over the deterministic demo
//! county (5,000 grids; 1,000,000 events, with `WANGGE_BENCH_FULL=1` also
//! 10,000,000), generated and joined once per size:
//!
//! - `full`: pre-aggregation of the joined Parquet and every catalogue metric
//!   for tiers 1, 2 and 3 over the whole two years (what a fresh service or
//!   `wangge stats` pays);
//! - `filtered`: one month, one category, one tier (villages) from the
//!   pre-aggregates, with its 同比/环比 bases;
//! - `preagg`: the pre-aggregation alone, the scan that dominates `full`;
//! - `emerging_tier3`, `emerging_tier1`: emerging hot spots of
//!   `event_count` by month over the whole data (24 months), 199
//!   permutations, for the 5,000 grids and the 25 townships: the cube and
//!   the analysis, contiguity built once beforehand as the service caches it
//!   (goals: under 5 s and under 200 ms in release). Run alone with
//!   `cargo bench --bench analytics -- emerging`.
//! - `repeats`: repeat-complaint points of 600,000 issues (the first of a
//!   demo county of 1,100,000 events, two years over the county's
//!   1,300 km²): reading the issues from the in-memory joined frame, the
//!   clustering (100 m, 30 days) and the points at level 3 (goal under
//!   2 s in release). Run alone with `cargo bench --bench analytics --
//!   repeats`.
//!
//! The comparison with DuckDB lives in `wangge bench stats --duckdb`.

use std::path::Path;

use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use polars::prelude::{col, lit, IntoLazy, LazyFrame, PlRefPath, ScanArgsParquet};
use wangge::analytics::emerging::{self, Params};
use wangge::analytics::repeats::{self as repeat, RepeatParams};
use wangge::analytics::{
    compute_metrics, compute_tiers, metric, queen_contiguity, Granularity, PreAgg, Query, Zone,
};
use wangge::demo::{generate, DemoOptions};
use wangge::grid::{load_geojson, GridModel};
use wangge::ingest::crs::Crs;
use wangge::ingest::privacy::KeyedHasher;
use wangge::ingest::Validator;
use wangge::join::{join_files, JoinOutput, Locator, Strategy};

/// Demo county and its joined events in `dir`.
fn joined(dir: &Path, grids: usize, events: usize) -> GridModel {
    let s = generate(&DemoOptions {
        out: dir.to_owned(),
        grids,
        events,
        seed: 42,
    })
    .expect("demo county");
    let grids = || {
        let (model, _) = load_geojson(&s.grids_path).expect("grids load");
        let locator = Locator::new(&model, Strategy::Cells);
        Ok((model, locator))
    };
    let hasher = KeyedHasher::new([7; 32]);
    let validator = Validator {
        crs: Crs::Wgs84,
        tz: chrono_tz::Asia::Shanghai,
        hasher: &hasher,
        dates: wangge::ingest::Dates::default(),
        unused: Default::default(),
    };
    let out = JoinOutput {
        parquet: &dir.join("joined.parquet"),
        rejects: &dir.join("rejects.csv"),
        earlier: &[],
    };
    join_files(
        &grids,
        std::slice::from_ref(&s.events_path),
        None,
        &validator,
        &Default::default(),
        &out,
        &mut |_| {},
    )
    .expect("join");
    load_geojson(&s.grids_path).expect("grids load").0
}

fn full(path: &str, gm: &GridModel) -> PreAgg {
    let pre = PreAgg::from_parquet(path, Zone::default()).expect("pre-aggregation");
    compute_tiers(&pre, gm, &[1, 2, 3], &Query::default()).expect("metrics");
    pre
}

fn bench(c: &mut Criterion) {
    let big = std::env::var("WANGGE_BENCH_FULL").is_ok_and(|v| v == "1");
    let sizes: &[usize] = if big {
        &[1_000_000, 10_000_000]
    } else {
        &[1_000_000]
    };
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("date");
    let month = Query {
        categories: vec!["环境卫生".into()],
        ..Query::window(d(3, 1), d(4, 1))
    };
    let mut g = c.benchmark_group("analytics");
    g.sample_size(10);
    for &n in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let gm = joined(dir.path(), 5_000, n);
        let parquet = dir.path().join("joined.parquet");
        let path = parquet.to_str().expect("UTF-8 temp path");
        g.bench_function(BenchmarkId::new("full", n), |b| b.iter(|| full(path, &gm)));
        g.bench_function(BenchmarkId::new("preagg", n), |b| {
            b.iter(|| PreAgg::from_parquet(path, Zone::default()).expect("pre-aggregation"))
        });
        let pre = full(path, &gm);
        g.bench_function(BenchmarkId::new("filtered", n), |b| {
            b.iter(|| compute_metrics(&pre, &gm, 2, &month).expect("metrics"))
        });
        let def = metric("event_count").expect("metric");
        for (level, name) in [(3u8, "emerging_tier3"), (1, "emerging_tier1")] {
            let units: Vec<usize> = gm.level(level).collect();
            let geoms: Vec<_> = units.iter().map(|&i| &gm.unit(i).geometry).collect();
            let w = queen_contiguity(&geoms, 1.0).expect("contiguity");
            let run = || {
                let q = Query::default();
                emerging::run(
                    &pre,
                    &gm,
                    level,
                    &units,
                    def,
                    &q,
                    Granularity::Month,
                    &w,
                    Params::default(),
                )
                .expect("emerging")
            };
            g.bench_function(BenchmarkId::new(name, n), |b| b.iter(run));
        }
    }
    // Repeat points: a county with enough events for 600,000 issues.
    let dir = tempfile::tempdir().expect("temp dir");
    joined(dir.path(), 5_000, 1_100_000);
    let parquet = dir.path().join("joined.parquet");
    let path = parquet.to_str().expect("UTF-8 temp path");
    let issues = LazyFrame::scan_parquet(PlRefPath::from(path), ScanArgsParquet::default())
        .expect("scan")
        .filter(col(wangge::columns::KIND).eq(lit("issue")))
        .limit(600_000)
        .collect()
        .expect("issues");
    assert_eq!(
        issues.height(),
        600_000,
        "the demo county has too few issues"
    );
    let run = || {
        repeat::repeats(
            issues.clone().lazy(),
            &Query::default(),
            &RepeatParams::default(),
            3,
        )
        .expect("repeat points")
    };
    eprintln!(
        "repeats: {} points at level 3 among 600,000 issues",
        run().len()
    );
    g.bench_function(BenchmarkId::new("repeats", 600_000), |b| b.iter(run));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
