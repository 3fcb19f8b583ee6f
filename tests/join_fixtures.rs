//! The join on the tiny county: edges, vertices, holes, gaps, overlaps.

use wangge::join::{Locator, Outcome, Strategy, NONE};

use crate::util::tiny_county;

fn locate_code(strategy: Strategy, x: f64, y: f64) -> (Outcome, Option<String>) {
    let (m, _) = tiny_county();
    let loc = Locator::new(&m, strategy);
    let (o, u) = loc.locate(x, y);
    (o, (u != NONE).then(|| m.unit(u as usize).code.clone()))
}

fn both(x: f64, y: f64) -> (Outcome, Option<String>) {
    let a = locate_code(Strategy::Cells, x, y);
    let b = locate_code(Strategy::Rtree, x, y);
    assert_eq!(a, b, "cells and R-tree disagree at ({x}, {y})");
    a
}

fn matched(code: &str) -> (Outcome, Option<String>) {
    (Outcome::Matched, Some(code.to_owned()))
}

#[test]
fn a_point_on_a_shared_edge_lands_in_the_grid_to_its_east() {
    assert_eq!(both(115.01, 38.505), matched("C01001002"));
}

#[test]
fn a_point_on_a_shared_horizontal_edge_lands_in_the_grid_to_its_north() {
    assert_eq!(both(115.025, 38.51), matched("C02001003"));
}

#[test]
fn a_point_on_a_vertex_shared_by_four_grids_lands_in_the_north_east_one() {
    // (115.03, 38.51): C02001001 (both parts), C02001002 and C02001003 meet here.
    assert_eq!(both(115.03, 38.51), matched("C02001001"));
}

#[test]
fn a_point_in_a_hole_is_partial_in_the_village() {
    assert_eq!(
        both(115.005, 38.506),
        (Outcome::Partial, Some("C01001".into()))
    );
}

#[test]
fn a_point_in_a_gap_between_grids_is_partial() {
    assert_eq!(
        both(115.015, 38.515),
        (Outcome::Partial, Some("C01001".into()))
    );
}

#[test]
fn a_point_in_an_overlap_goes_to_the_lower_code() {
    assert_eq!(both(115.0297, 38.505), matched("C02001001"));
}

#[test]
fn a_point_in_the_second_part_of_a_multipolygon_is_matched() {
    assert_eq!(both(115.035, 38.515), matched("C02001001"));
}

#[test]
fn a_point_far_outside_is_outside() {
    assert_eq!(both(116.5, 39.9), (Outcome::Outside, None));
    assert_eq!(both(-70.0, -30.0), (Outcome::Outside, None));
}

#[test]
fn the_answer_does_not_depend_on_feature_order() {
    let text = std::fs::read_to_string(crate::util::fixture("grids/tiny_county.geojson")).unwrap();
    let mut fc: serde_json::Value = serde_json::from_str(&text).unwrap();
    fc["features"].as_array_mut().unwrap().reverse();
    let (rev, _) = wangge::grid::parse_geojson(&fc.to_string(), Default::default()).unwrap();
    let (fwd, _) = tiny_county();
    let (a, b) = (
        Locator::new(&fwd, Strategy::Cells),
        Locator::new(&rev, Strategy::Cells),
    );
    for k in 0..4000 {
        let (x, y) = (
            115.0 + (k % 80) as f64 * 0.0005,
            38.5 + (k / 80) as f64 * 0.0004,
        );
        let code = |m: &wangge::grid::GridModel, (o, u): (Outcome, u32)| {
            (o, (u != NONE).then(|| m.unit(u as usize).code.clone()))
        };
        assert_eq!(
            code(&fwd, a.locate(x, y)),
            code(&rev, b.locate(x, y)),
            "({x}, {y})"
        );
    }
}
