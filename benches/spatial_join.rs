//! Criterion bench of the hot path: locating points in the tier-3 grids.
//!
//! Counties come from the deterministic demo generator (5,000 grids; with
//! `WANGGE_BENCH_FULL=1` also 50,000 grids and 10,000,000 points). Points are
//! uniform over the county's bounding box, so every path is exercised:
//! interior cells, boundary cells, gaps and outside.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wangge::demo::{generate, DemoOptions};
use wangge::grid::load_geojson;
use wangge::join::{Locator, Strategy};

fn points(n: usize, bb: geo::Rect<f64>) -> (Vec<f64>, Vec<f64>) {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            (
                bb.min().x + next() * bb.width(),
                bb.min().y + next() * bb.height(),
            )
        })
        .unzip()
}

fn bench(c: &mut Criterion) {
    let full = std::env::var("WANGGE_BENCH_FULL").is_ok_and(|v| v == "1");
    let sizes: &[(usize, usize)] = if full {
        &[
            (5_000, 1_000_000),
            (5_000, 10_000_000),
            (50_000, 1_000_000),
            (50_000, 10_000_000),
        ]
    } else {
        &[(5_000, 1_000_000)]
    };
    let mut g = c.benchmark_group("spatial_join");
    g.sample_size(10);
    for &(grids, n) in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        let opts = DemoOptions {
            out: dir.path().to_owned(),
            grids,
            events: 10,
            seed: 42,
        };
        let s = generate(&opts).expect("demo county");
        let (model, _) = load_geojson(&s.grids_path).expect("grids load");
        let county = model
            .units()
            .iter()
            .find(|u| u.level == 0)
            .expect("county root");
        let bb = geo::BoundingRect::bounding_rect(&county.geometry).expect("bbox");
        let (xs, ys) = points(n, bb);
        g.throughput(Throughput::Elements(n as u64));
        for strategy in [Strategy::Cells, Strategy::Rtree] {
            let loc = Locator::new(&model, strategy);
            let id = BenchmarkId::new(
                format!("{strategy:?}").to_lowercase(),
                format!("{grids}grids_{n}pts"),
            );
            g.bench_function(id, |b| b.iter(|| loc.locate_all(&xs, &ys)));
        }
        g.bench_function(
            BenchmarkId::new("build_cells", format!("{grids}grids")),
            |b| b.iter(|| Locator::new(&model, Strategy::Cells)),
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
