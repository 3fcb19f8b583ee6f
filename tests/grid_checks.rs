//! Validation of grid files: fatal problems and measured warnings.

use wangge::grid::{load_geojson_with, parse_geojson, GridError, LoadOptions, Severity};

use crate::util::{fixture, tiny_county};

#[test]
fn every_fatal_problem_is_named_with_its_feature_index_and_code() {
    let err = load_geojson_with(
        &fixture("grids/fatal_problems.geojson"),
        LoadOptions::default(),
    )
    .unwrap_err();
    // The one-line error (what `serve` and `join` stop with) names the
    // first problem's feature and code too.
    let line = err.to_string();
    assert!(line.contains("feature 4 (P)"), "{line}");
    let GridError::Rejected { report, .. } = err else {
        panic!("expected a rejected file, got {line}")
    };
    let has = |check: &str, feature: usize, code: &str| {
        report.findings.iter().any(|f| {
            f.severity == Severity::Fatal
                && f.check == check
                && f.feature == Some(feature)
                && f.code.as_deref() == Some(code)
        })
    };
    assert!(has("duplicate_code", 1, "T"), "{report}");
    assert!(has("bad_parent", 2, "V1"), "unknown parent: {report}");
    assert!(
        has("bad_parent", 3, "G1"),
        "parent not one level up: {report}"
    );
    assert!(has("bad_geometry", 4, "P"), "point geometry: {report}");
    assert!(has("bad_ring", 5, "U"), "unclosed ring: {report}");
    assert!(has("bad_coordinate", 6, "R"), "out of range: {report}");
    assert!(has("bad_ring", 7, "S"), "short ring: {report}");
}

#[test]
fn text_that_is_not_geojson_is_an_error_not_a_panic() {
    assert!(parse_geojson("{\"type\": \"Feature\"", LoadOptions::default()).is_err());
    assert!(parse_geojson("[1, 2]", LoadOptions::default()).is_err());
}

#[test]
fn gaps_overlaps_and_overhanging_slivers_are_measured_in_square_metres() {
    let (_, report) = tiny_county();
    assert_eq!(report.fatal_count(), 0, "{report}");
    let area = |check: &str, code: &str| -> f64 {
        report
            .findings
            .iter()
            .filter(|f| f.check == check && f.code.as_deref() == Some(code))
            .filter_map(|f| f.area_m2)
            .sum()
    };
    // The hole of C01001001 (0.002° x 0.002°) and the empty north-east quarter (0.01° x 0.01°) are gaps of the village.
    let gap = area("gap", "C01001");
    let cell = |dx: f64, dy: f64| dx * 111_320.0 * 38.51_f64.to_radians().cos() * dy * 110_950.0;
    let expected = cell(0.002, 0.002) + cell(0.01, 0.01);
    assert!(
        (gap - expected).abs() / expected < 0.01,
        "gap {gap} m², expected about {expected}"
    );
    // G5 reaches 0.0005° into G4.
    let overlap = area("overlap", "C02001001");
    let expected = cell(0.0005, 0.01);
    assert!(
        (overlap - expected).abs() / expected < 0.01,
        "overlap {overlap} m², expected about {expected}"
    );
    // G6 sticks out of its village by 0.00001° (about 1.1 m): a sliver.
    let sliver = area("sliver", "C02001003");
    assert!(sliver > 500.0 && sliver < 1500.0, "sliver {sliver} m²");
}

#[test]
fn strict_mode_makes_warnings_fatal() {
    let err = load_geojson_with(
        &fixture("grids/tiny_county.geojson"),
        LoadOptions {
            strict: true,
            topology: true,
            ..Default::default()
        },
    );
    assert!(matches!(err, Err(GridError::Rejected { .. })));
}

#[test]
fn the_hierarchy_links_parents_children_and_ancestors() {
    let (m, _) = tiny_county();
    let g = m.index_of("C01001002").unwrap();
    let codes: Vec<&str> = m.ancestors(g).map(|i| m.unit(i).code.as_str()).collect();
    assert_eq!(codes, ["C01001", "C01", "C"]);
    let v = m.index_of("C02001").unwrap();
    let kids: Vec<&str> = m
        .unit(v)
        .children
        .iter()
        .map(|&i| m.unit(i).code.as_str())
        .collect();
    assert_eq!(kids, ["C02001001", "C02001002", "C02001003"]);
    assert_eq!(m.count(3), 5);
    // Households: a village's own figure, or the sum of its grids, or no data.
    assert_eq!(m.households(m.index_of("C01001").unwrap()), Some(600));
    assert_eq!(m.households(m.index_of("C02001").unwrap()), None);
}

#[test]
fn areas_are_geodesic_square_kilometres() {
    let (m, _) = tiny_county();
    let county = m.get("C").unwrap();
    // 0.04° x 0.02° at 38.51°N: about 3.48 km x 2.22 km.
    assert!((county.area_km2 - 7.72).abs() < 0.05, "{}", county.area_km2);
}

#[test]
fn self_intersecting_rings_are_warned_and_the_repair_keeps_the_enclosed_area() {
    let path = fixture("grids/self_intersecting.geojson");
    let (_, plain) = load_geojson_with(&path, LoadOptions::default()).expect("loads with warnings");
    let warned: Vec<_> = plain
        .of("self_intersection")
        .filter(|f| f.severity == Severity::Warning)
        .collect();
    assert_eq!(warned.len(), 2, "{plain}");
    let (m, fixed) = load_geojson_with(
        &path,
        LoadOptions {
            repair: true,
            ..Default::default()
        },
    )
    .unwrap();
    use geo::Validation;
    assert!(m.units().iter().all(|u| u.geometry.is_valid()));
    assert_eq!(
        fixed
            .of("self_intersection")
            .filter(|f| f.severity == Severity::Repaired)
            .count(),
        2,
        "{fixed}"
    );
    // The bowtie's two lobes are 0.005° x 0.01° / 2 each; both are kept.
    let bow = m.get("BOW").unwrap();
    let lobe = 0.005 * 111_320.0 * 38.505_f64.to_radians().cos() * 0.01 * 110_950.0 / 2.0 / 1e6;
    assert!(
        (bow.area_km2 - 2.0 * lobe).abs() / lobe < 0.01,
        "{} vs {}",
        bow.area_km2,
        2.0 * lobe
    );
    assert_eq!(bow.geometry.0.len(), 2);
    // The spike encloses no area: the square is what remains.
    let spike = m.get("SPIKE").unwrap();
    assert_eq!(spike.geometry.0.len(), 1);
}

#[test]
fn the_real_dingzhou_boundary_is_reported_and_repaired_without_losing_area() {
    let path = fixture("grids/dingzhou_county.geojson");
    let (raw, plain) = load_geojson_with(&path, LoadOptions::default()).expect("loads");
    // As published: 103 consecutive repeated vertices and a clockwise exterior ring.
    let notice = plain
        .findings
        .iter()
        .find(|f| f.code.as_deref() == Some("130682"))
        .expect("a finding");
    assert!(
        notice.message.contains("103 consecutive repeated vertices"),
        "{plain}"
    );
    assert!(notice.message.contains("RFC 7946"), "{plain}");
    let (m, fixed) = load_geojson_with(
        &path,
        LoadOptions {
            repair: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(fixed.findings[0].severity, Severity::Repaired);
    use geo::{CoordsIter, Validation, Winding};
    let county = &m.units()[0];
    assert!(county.geometry.is_valid() && county.geometry.0[0].exterior().is_ccw());
    assert_eq!(county.geometry.coords_count(), 877 - 103);
    // 定州市 is about 1,278 km²; the repair must not lose or invent area.
    assert!(
        (county.area_km2 - raw.units()[0].area_km2).abs() < 1e-6,
        "{} vs {}",
        county.area_km2,
        raw.units()[0].area_km2
    );
    assert!(
        (1200.0..1350.0).contains(&county.area_km2),
        "{} km²",
        county.area_km2
    );
}

#[test]
fn a_declared_crs_must_be_longitude_and_latitude() {
    let text = std::fs::read_to_string(fixture("grids/tiny_county.geojson")).unwrap();
    let mut fc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let with = |fc: &mut serde_json::Value, name: &str| {
        fc["crs"] = serde_json::json!({"type": "name", "properties": {"name": name}});
        parse_geojson(&fc.to_string(), LoadOptions::default())
    };
    for name in [
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4490",
    ] {
        let (model, _) = with(&mut fc, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!model.units().is_empty());
    }
    // Web Mercator: refused, with the reason.
    let err = with(&mut fc, "urn:ogc:def:crs:EPSG::3857").unwrap_err();
    assert!(
        err.contains("EPSG::3857") && err.contains("longitude/latitude"),
        "{err}"
    );
    // CGCS2000 / 3-degree Gauss-Krüger CM 117E is read as metres: this
    // file's degrees are no positions of it, each refused with the system.
    let (_, report) = with(&mut fc, "urn:ogc:def:crs:EPSG::4548").unwrap();
    assert!(report.fatal_count() > 0);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.check == "bad_coordinate" && f.message.contains("EPSG:4548")),
        "{:?}",
        report.findings
    );
}

/// A grid file with a UTF-8 byte order mark is read (it was "expected
/// value at line 1 column 1"); a feature whose MultiPolygon holds no
/// polygon is an error naming it (it was dropped without a word); a
/// village with no grid in it is all gap, and said so (it was not looked
/// at: every event in it is partial).
#[test]
fn a_bom_an_empty_multipolygon_and_a_village_without_grids() {
    let square = |x: f64| {
        format!(
            "[[[{x},38.5],[{},38.5],[{},38.51],[{x},38.51],[{x},38.5]]]",
            x + 0.01,
            x + 0.01
        )
    };
    let feature = |code: &str, level: u8, parent: &str, geometry: String| {
        format!(
            r#"{{"type":"Feature","properties":{{"code":"{code}","name":"{code}","level":{level}{parent}}},"geometry":{geometry}}}"#
        )
    };
    let parent = |p: &str| format!(r#","parent":"{p}""#);
    let poly = |x: f64| format!(r#"{{"type":"Polygon","coordinates":{}}}"#, square(x));
    let collection = |features: &[String]| {
        format!(
            "\u{feff}{{\"type\":\"FeatureCollection\",\"features\":[{}]}}",
            features.join(",")
        )
    };
    let mut features = vec![
        feature("T", 1, "", r#"{"type":"Polygon","coordinates":[[[115.0,38.5],[115.02,38.5],[115.02,38.51],[115.0,38.51],[115.0,38.5]]]}"#.into()),
        feature("V1", 2, &parent("T"), poly(115.0)),
        feature("V2", 2, &parent("T"), poly(115.01)),
        feature("G1", 3, &parent("V1"), poly(115.0)),
    ];
    let find = |report: &wangge::grid::Report, sev: Severity, check: &str, code: &str| {
        report
            .findings
            .iter()
            .find(|f| f.severity == sev && f.check == check && f.code.as_deref() == Some(code))
            .map(|f| f.message.clone())
    };
    let topology = LoadOptions {
        topology: true,
        ..Default::default()
    };
    let (_, report) = parse_geojson(&collection(&features), topology).unwrap();
    let gap = find(&report, Severity::Warning, "gap", "V2").expect("V2 named");
    assert!(gap.contains("no unit of the tier below"), "{gap}");
    assert_eq!(
        find(&report, Severity::Warning, "gap", "V1"),
        None,
        "{report}"
    );
    features.push(feature(
        "G2",
        3,
        &parent("V2"),
        r#"{"type":"MultiPolygon","coordinates":[]}"#.into(),
    ));
    let (_, report) = parse_geojson(&collection(&features), LoadOptions::default()).unwrap();
    let empty = find(&report, Severity::Fatal, "bad_geometry", "G2").expect("G2 named");
    assert!(empty.contains("no polygons"), "{empty}");
}

/// One child wound clockwise (against RFC 7946) is a notice, and the
/// topology is checked on its rings turned: no false gap the size of its
/// parent, and a child that lies outside its parent is still told so.
/// Before, the clockwise child showed as a gap of its parent's whole area
/// and hid its `outside_parent`.
#[test]
fn a_child_wound_clockwise_is_checked_as_if_wound_right() {
    let ring = |x: f64, y: f64, cw: bool| {
        let mut r = vec![
            [x, y],
            [x + 0.1, y],
            [x + 0.1, y + 0.1],
            [x, y + 0.1],
            [x, y],
        ];
        if cw {
            r.reverse();
        }
        serde_json::json!({"type": "Polygon", "coordinates": [r]})
    };
    let feature = |code: &str, level: u8, parent: Option<&str>, geometry| {
        serde_json::json!({"type": "Feature",
            "properties": {"code": code, "name": code, "level": level, "parent": parent},
            "geometry": geometry})
    };
    let file = |second: (f64, bool)| {
        serde_json::json!({"type": "FeatureCollection", "features": [
            feature("T1", 1, None, ring(115.0, 38.0, false)),
            feature("V1", 2, Some("T1"), ring(115.0, 38.0, false)),
            feature("G1", 3, Some("V1"), ring(115.0, 38.0, false)),
            feature("G2", 3, Some("V1"), ring(second.0, 38.0, second.1)),
        ]})
        .to_string()
    };
    let topology = LoadOptions {
        topology: true,
        ..Default::default()
    };
    let checks = |text: String| {
        let (_, report) = parse_geojson(&text, topology).unwrap();
        let mut got: Vec<(String, String)> = report
            .findings
            .iter()
            .filter(|f| f.severity != Severity::Notice || f.check == "winding")
            .map(|f| (f.check.to_string(), f.code.clone().unwrap_or_default()))
            .collect();
        got.sort();
        got
    };
    let pair = |c: &str, u: &str| (c.to_owned(), u.to_owned());
    // G2 the same square as G1, wound clockwise: an overlap, no gap.
    let same = checks(file((115.0, true)));
    assert!(same.contains(&pair("winding", "G2")), "{same:?}");
    assert!(!same.iter().any(|(c, _)| c == "gap"), "{same:?}");
    // G2 far outside, clockwise: as wound right, outside its parent.
    let away = checks(file((125.0, true)));
    assert_eq!(
        away.iter()
            .filter(|(c, _)| c != "winding")
            .collect::<Vec<_>>(),
        checks(file((125.0, false))).iter().collect::<Vec<_>>()
    );
    assert!(away.contains(&pair("outside_parent", "G2")), "{away:?}");
}
