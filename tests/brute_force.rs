//! The join against an independent brute force on a generated county.
//!
//! The brute force is `geo`'s own point-in-polygon (robust predicates, no
//! index) over every grid. Where `geo` says a point is on a boundary
//! (`intersects` but not `contains`), only membership is checked: our
//! half-open rule must pick one of the grids that touch it, or none when the
//! point is on the county's outer east or north edge.

use geo::{Contains, Intersects, Point};
use wangge::demo::{generate, DemoOptions};
use wangge::grid::load_geojson;
use wangge::join::{Locator, Outcome, Strategy, NONE};

fn lcg(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

#[test]
fn the_join_agrees_with_brute_force_on_every_point_not_on_a_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DemoOptions {
        out: dir.path().to_owned(),
        grids: 600,
        events: 10,
        seed: 7,
    };
    let s = generate(&opts).unwrap();
    let (model, _) = load_geojson(&s.grids_path).unwrap();
    let grids: Vec<usize> = model.level(3).collect();
    let cells = Locator::new(&model, Strategy::Cells);
    let rtree = Locator::new(&model, Strategy::Rtree);
    let county = model.units().iter().find(|u| u.level == 0).unwrap();
    let bb = geo::BoundingRect::bounding_rect(&county.geometry).unwrap();
    let mut seed = 42u64;
    let mut points: Vec<(f64, f64)> = (0..20_000)
        .map(|_| {
            (
                bb.min().x + lcg(&mut seed) * bb.width(),
                bb.min().y + lcg(&mut seed) * bb.height(),
            )
        })
        .collect();
    // Vertices of grids: the hardest points, shared by two to four grids.
    for &g in grids.iter().step_by(7) {
        for c in model.unit(g).geometry.0[0].exterior().0.iter().step_by(5) {
            points.push((c.x, c.y));
        }
    }
    // Many points at once go through the spatial sort; a coarse table sends
    // more of them to the exact test. Both must give the same answers.
    let coarse = Locator::for_points(&model, Strategy::Cells, 1);
    let xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    let ys: Vec<f64> = points.iter().map(|p| p.1).collect();
    let (sorted, coarse_sorted) = (cells.locate_all(&xs, &ys), coarse.locate_all(&xs, &ys));
    let (mut inside, mut boundary) = (0, 0);
    for (i, &(x, y)) in points.iter().enumerate() {
        let p = Point::new(x, y);
        let contains: Vec<usize> = grids
            .iter()
            .copied()
            .filter(|&g| model.unit(g).geometry.contains(&p))
            .collect();
        let touches: Vec<usize> = grids
            .iter()
            .copied()
            .filter(|&g| model.unit(g).geometry.intersects(&p))
            .collect();
        let (o, u) = cells.locate(x, y);
        assert_eq!(
            (o, u),
            rtree.locate(x, y),
            "strategies disagree at ({x}, {y})"
        );
        assert_eq!((o, u), sorted[i], "locate_all differs at ({x}, {y})");
        assert_eq!(
            (o, u),
            coarse_sorted[i],
            "the coarse table differs at ({x}, {y})"
        );
        let ours = (o == Outcome::Matched).then_some(u as usize);
        if contains.len() == touches.len() {
            assert_eq!(
                ours,
                contains.first().copied(),
                "({x}, {y}): brute force {contains:?}"
            );
            inside += usize::from(ours.is_some());
        } else {
            boundary += 1;
            match ours {
                Some(u) => assert!(
                    touches.contains(&u),
                    "({x}, {y}) went to {u}, not one of {touches:?}"
                ),
                None => {
                    // Only on the county's own east or north edge: nothing just north-east of it.
                    let ne = Point::new(x + 1e-7, y + 1e-9);
                    let owner: Vec<usize> = touches
                        .iter()
                        .copied()
                        .filter(|&g| model.unit(g).geometry.contains(&ne))
                        .collect();
                    assert!(owner.is_empty(), "boundary point ({x}, {y}) got no grid, but {owner:?} lies north-east of it");
                }
            }
        }
        assert!(o != Outcome::Matched || u != NONE);
    }
    assert!(inside > 10_000, "too few interior points tested: {inside}");
    assert!(boundary > 100, "too few boundary points tested: {boundary}");
}
