//! Reading the grid GeoJSON of CONTRACT.md into a [`GridModel`].
//!
//! Structural problems (duplicate codes, broken parent links, bad geometry
//! types, unusable rings) are fatal; geometric quality problems are measured
//! and reported, fatal only in strict mode. Nothing here panics on input.

use std::collections::HashMap;
use std::path::Path;

use geo::{LineString, MultiPolygon, Polygon, Validation, Winding};
use geojson::{GeoJson, GeometryValue, Position};
use serde_json::Value;

use super::area::area_m2;
use super::error::GridError;
use super::gauss_kruger::GaussKruger;
use super::model::{GridModel, Level, Unit};
use super::repair::repair_unit;
use super::report::{Report, Severity};
use super::topology;

/// How strictly to load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Warnings (self-intersections, gaps, overlaps, overhangs, slivers) become fatal.
    pub strict: bool,
    /// Repair self-intersecting polygons (make-valid keeping the area) and report what changed.
    pub repair: bool,
    /// Measure gaps, overlaps and overhangs between tiers (costs a few seconds on a large county).
    pub topology: bool,
    /// Skip the ring checks (self-intersections, repeated vertices, winding),
    /// which only warn: for a version already checked when it was stored.
    pub checked_before: bool,
    /// The file's positions are CGCS2000 Gauss-Krüger easting/northing in
    /// this projection (`--crs EPSG:45xx`), taken to longitude/latitude on
    /// reading. A file may also say so itself in a legacy `crs` member.
    pub crs: Option<GaussKruger>,
}

/// Loads a grid file with the default options: not strict, no repair, no topology measures.
pub fn load_geojson(path: &Path) -> Result<(GridModel, Report), GridError> {
    load_geojson_with(path, LoadOptions::default())
}

/// Loads a grid file; `Err(GridError::Rejected)` carries the report when anything is fatal.
pub fn load_geojson_with(path: &Path, opts: LoadOptions) -> Result<(GridModel, Report), GridError> {
    let text = std::fs::read_to_string(path).map_err(|source| GridError::Io {
        path: path.to_owned(),
        cause: source,
    })?;
    parse_checked(&text, path, opts)
}

/// Parses the text of the grid file `path`; `Err(GridError::Rejected)`
/// carries the report when anything is fatal.
pub fn parse_checked(
    text: &str,
    path: &Path,
    opts: LoadOptions,
) -> Result<(GridModel, Report), GridError> {
    let (model, report) = parse_geojson(text, opts).map_err(|reason| GridError::Parse {
        path: path.to_owned(),
        reason,
    })?;
    if report.fatal_count() > 0 {
        return Err(GridError::Rejected {
            path: path.to_owned(),
            report: Box::new(report),
        });
    }
    Ok((model, report))
}

/// A legacy `crs` member (GeoJSON 2008, still written by many GIS
/// exports) must name longitude/latitude (CRS84, EPSG:4326, or geographic
/// CGCS2000, EPSG:4490, WGS84 to within centimetres) or one of CGCS2000's
/// Gauss-Krüger projections (EPSG:4491-4554), whose positions are then
/// projected back. Any other projected file would put every grid thousands
/// of kilometres away, so it is refused with the reason. `given`: the
/// projection named on the command line, which a declared one must match.
fn declared_crs(
    fc: &geojson::FeatureCollection,
    given: Option<GaussKruger>,
) -> Result<Option<GaussKruger>, String> {
    let Some(crs) = fc.foreign_members.as_ref().and_then(|m| m.get("crs")) else {
        return Ok(given);
    };
    let name = crs
        .pointer("/properties/name")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    let upper = name.to_ascii_uppercase();
    let geographic = upper.ends_with("CRS84")
        || ["4326", "4490"]
            .iter()
            .any(|code| upper.ends_with(&format!(":{code}")));
    let projected = GaussKruger::from_name(name);
    match (geographic, projected, given) {
        (true, _, None) => Ok(None),
        (_, Some(p), None) => Ok(Some(p)),
        (_, Some(p), Some(g)) if p == g => Ok(Some(g)),
        (true, _, Some(g)) | (_, Some(_), Some(g)) => Err(format!(
            "crs {name:?} declared by the file, but the positions were said to be {g} (--crs)"
        )),
        _ => Err(format!(
            "crs {name:?}: grid coordinates must be longitude/latitude (CRS84, EPSG:4326, or geographic \
             CGCS2000 EPSG:4490) or CGCS2000 Gauss-Krüger (EPSG:4491-4554); convert other \
             projections first"
        )),
    }
}

/// Parses GeoJSON text; `Err` only when the text is not a FeatureCollection at all,
/// or declares a projected `crs`.
/// Fatal findings are in the report (the model then holds what could be read).
pub fn parse_geojson(text: &str, opts: LoadOptions) -> Result<(GridModel, Report), String> {
    // A UTF-8 byte order mark (what Windows editors save) is no text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let fc = match text.parse::<GeoJson>().map_err(|e| e.to_string())? {
        GeoJson::FeatureCollection(fc) => fc,
        other => {
            return Err(format!(
                "top-level object is a {}, not a FeatureCollection",
                kind_of(&other)
            ))
        }
    };
    let crs = declared_crs(&fc, opts.crs)?;
    let mut report = Report::default();
    let mut units = Vec::with_capacity(fc.features.len());
    let mut parents = Vec::with_capacity(fc.features.len());
    for (index, feature) in fc.features.iter().enumerate() {
        if let Some((unit, parent)) = read_feature(index, feature, crs.as_ref(), &mut report) {
            units.push(unit);
            parents.push(parent);
        }
    }
    // Geodesic areas: half of a check's time, each unit on its own.
    {
        use rayon::prelude::*;
        units
            .par_iter_mut()
            .for_each(|u| u.area_km2 = area_m2(&u.geometry) / 1e6);
    }
    check_links(&units, &parents, &mut report);
    if !opts.checked_before {
        use rayon::prelude::*;
        let quality: Vec<_> = units.par_iter().map(ring_quality).collect();
        for (unit, q) in units.iter_mut().zip(quality) {
            check_validity(unit, q, opts.repair, &mut report);
        }
    }
    // Rings wound the other way (told above as a notice) are turned, so
    // every later step sees one winding: the gaps between a parent and its
    // children were measured by signed areas, and one clockwise child
    // showed as a gap the size of its parent and hid that it lay outside.
    {
        use geo::orient::{Direction, Orient};
        use rayon::prelude::*;
        units.par_iter_mut().for_each(|u| {
            if wound_against_rfc7946(&u.geometry) {
                u.geometry = u.geometry.orient(Direction::Default);
            }
        });
    }
    for unit in &units {
        report.units_by_level[usize::from(unit.level)] += 1;
    }
    if report.fatal_count() > 0 {
        // Links may be broken: keep units but do not wire them.
        let none = vec![None; units.len()];
        return Ok((GridModel::from_units(units, none), report));
    }
    let model = GridModel::from_units(units, parents);
    if opts.topology {
        topology::check(&model, &mut report);
    }
    if opts.strict {
        report.make_strict();
    }
    Ok((model, report))
}

/// The properties of a unit the model reads, and all a stored copy keeps.
const READ_PROPERTIES: [&str; 6] = [
    "code",
    "name",
    "level",
    "parent",
    "households",
    "population",
];

/// A grid file as the database keeps it ([`crate::store`]'s grid
/// versions): its geometry and the properties the model reads, without
/// the grid chief's name (`chief`, a person's name, which nothing the
/// service shows uses) or any other property (a phone number). Members
/// other than the features' properties are kept as they are.
pub fn stored_copy(text: &str) -> Result<String, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(features) = doc.get_mut("features").and_then(Value::as_array_mut) {
        for f in features {
            if let Some(props) = f.get_mut("properties").and_then(Value::as_object_mut) {
                props.retain(|k, _| READ_PROPERTIES.contains(&k.as_str()));
            }
        }
    }
    serde_json::to_string(&doc).map_err(|e| e.to_string())
}

fn kind_of(g: &GeoJson) -> &'static str {
    match g {
        GeoJson::Geometry(_) => "Geometry",
        GeoJson::Feature(_) => "Feature",
        GeoJson::FeatureCollection(_) => "FeatureCollection",
    }
}

fn text_prop(props: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match props.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn count_prop(
    props: &serde_json::Map<String, Value>,
    key: &str,
    index: usize,
    code: &str,
    report: &mut Report,
) -> Option<u64> {
    match props.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0) => {
            n.as_f64().map(|f| f as u64)
        }
        Some(other) => {
            report.push(
                Severity::Warning,
                "bad_count",
                Some(index),
                Some(code),
                format!("`{key}` must be an integer >= 0, got {other}; treated as no data"),
                None,
            );
            None
        }
    }
}

fn read_feature(
    index: usize,
    feature: &geojson::Feature,
    crs: Option<&GaussKruger>,
    report: &mut Report,
) -> Option<(Unit, Option<String>)> {
    let fatal = |report: &mut Report, check, code: Option<&str>, msg: String| {
        report.push(Severity::Fatal, check, Some(index), code, msg, None);
    };
    let Some(props) = feature.properties.as_ref() else {
        fatal(
            report,
            "missing_property",
            None,
            "feature has no properties".into(),
        );
        return None;
    };
    let Some(code) = text_prop(props, "code") else {
        fatal(
            report,
            "missing_property",
            None,
            "missing or empty `code`".into(),
        );
        return None;
    };
    let name = text_prop(props, "name");
    if name.is_none() {
        fatal(
            report,
            "missing_property",
            Some(&code),
            "missing or empty `name`".into(),
        );
    }
    let level = match props.get("level").and_then(Value::as_u64) {
        Some(l @ 0..=3) => l as Level,
        _ => {
            let got = props
                .get("level")
                .map_or("nothing".to_owned(), Value::to_string);
            fatal(
                report,
                "bad_level",
                Some(&code),
                format!("`level` must be an integer 0..3, got {got}"),
            );
            return None;
        }
    };
    let parent = match props.get("parent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            fatal(
                report,
                "bad_parent",
                Some(&code),
                format!("`parent` must be a string or null, got {other}"),
            );
            return None;
        }
    };
    let households = count_prop(props, "households", index, &code, report);
    let population = count_prop(props, "population", index, &code, report);
    let chief = text_prop(props, "chief");
    let geometry = match feature.geometry.as_ref().map(|g| &g.value) {
        Some(GeometryValue::Polygon { coordinates }) => {
            read_polygon(coordinates, index, &code, crs, report).map(|p| MultiPolygon(vec![p]))
        }
        Some(GeometryValue::MultiPolygon { coordinates }) => {
            let polys: Option<Vec<Polygon>> = coordinates
                .iter()
                .map(|p| read_polygon(p, index, &code, crs, report))
                .collect();
            match polys {
                Some(p) if p.is_empty() => {
                    fatal(
                        report,
                        "bad_geometry",
                        Some(&code),
                        "MultiPolygon has no polygons".into(),
                    );
                    None
                }
                p => p.map(MultiPolygon),
            }
        }
        Some(other) => {
            fatal(
                report,
                "bad_geometry",
                Some(&code),
                format!(
                    "geometry is a {}, not Polygon or MultiPolygon",
                    other.type_name()
                ),
            );
            None
        }
        None => {
            fatal(
                report,
                "bad_geometry",
                Some(&code),
                "feature has no geometry".into(),
            );
            None
        }
    }?;
    let unit = Unit {
        code,
        name: name.unwrap_or_default(),
        level,
        parent: None,
        children: Vec::new(),
        households,
        population,
        chief,
        geometry,
        // Taken for every unit at once, in parallel, once all are read.
        area_km2: f64::NAN,
        feature_index: index,
    };
    Some((unit, parent))
}

fn read_polygon(
    rings: &[Vec<Position>],
    index: usize,
    code: &str,
    crs: Option<&GaussKruger>,
    report: &mut Report,
) -> Option<Polygon> {
    let mut out = Vec::with_capacity(rings.len());
    if rings.is_empty() {
        report.push(
            Severity::Fatal,
            "bad_ring",
            Some(index),
            Some(code),
            "polygon has no rings",
            None,
        );
        return None;
    }
    for (r, ring) in rings.iter().enumerate() {
        let which = if r == 0 {
            "exterior ring".to_owned()
        } else {
            format!("hole {r}")
        };
        let mut coords = Vec::with_capacity(ring.len());
        for (k, p) in ring.iter().enumerate() {
            let s = p.as_slice();
            let (x, y) = match s {
                [x, y, ..] => (*x, *y),
                _ => {
                    report.push(
                        Severity::Fatal,
                        "bad_coordinate",
                        Some(index),
                        Some(code),
                        format!("{which} position {k} has fewer than 2 numbers"),
                        None,
                    );
                    return None;
                }
            };
            if !x.is_finite() || !y.is_finite() {
                report.push(
                    Severity::Fatal,
                    "bad_coordinate",
                    Some(index),
                    Some(code),
                    format!("{which} position {k} is not finite"),
                    None,
                );
                return None;
            }
            let (x, y) = match crs.map(|c| c.to_lonlat(x, y)) {
                None => (x, y),
                Some(Ok(p)) => p,
                Some(Err(reason)) => {
                    report.push(
                        Severity::Fatal,
                        "bad_coordinate",
                        Some(index),
                        Some(code),
                        format!("{which} position {k}: {reason}"),
                        None,
                    );
                    return None;
                }
            };
            if !(-180.0..=180.0).contains(&x) || !(-90.0..=90.0).contains(&y) {
                report.push(
                    Severity::Fatal,
                    "bad_coordinate",
                    Some(index),
                    Some(code),
                    format!("{which} position {k} ({x}, {y}) is out of lon/lat range"),
                    None,
                );
                return None;
            }
            coords.push(geo::Coord { x, y });
        }
        if coords.len() < 4 {
            report.push(
                Severity::Fatal,
                "bad_ring",
                Some(index),
                Some(code),
                format!(
                    "{which} has {} positions; a ring needs at least 4",
                    coords.len()
                ),
                None,
            );
            return None;
        }
        if coords.first() != coords.last() {
            report.push(
                Severity::Fatal,
                "bad_ring",
                Some(index),
                Some(code),
                format!("{which} is not closed (first and last positions differ)"),
                None,
            );
            return None;
        }
        out.push(LineString(coords));
    }
    let exterior = out.remove(0);
    Some(Polygon::new(exterior, out))
}

fn check_links(units: &[Unit], parents: &[Option<String>], report: &mut Report) {
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(units.len());
    let mut level_of: HashMap<&str, Level> = HashMap::with_capacity(units.len());
    for u in units {
        if let Some(&prev) = first.get(u.code.as_str()) {
            report.push(
                Severity::Fatal,
                "duplicate_code",
                Some(u.feature_index),
                Some(&u.code),
                format!("code also used by feature {prev}"),
                None,
            );
        } else {
            first.insert(&u.code, u.feature_index);
            level_of.insert(&u.code, u.level);
        }
    }
    let has_root = units.iter().any(|u| u.level == 0);
    for (u, p) in units.iter().zip(parents) {
        let push = |report: &mut Report, msg: String| {
            report.push(
                Severity::Fatal,
                "bad_parent",
                Some(u.feature_index),
                Some(&u.code),
                msg,
                None,
            );
        };
        match (u.level, p) {
            (0, Some(p)) => push(report, format!("a level-0 county has no parent, got `{p}`")),
            (1, None) if has_root => push(
                report,
                "level-1 unit needs a `parent` when the file has a level-0 root".into(),
            ),
            (2 | 3, None) => push(report, format!("level-{} unit needs a `parent`", u.level)),
            (_, Some(p)) => match level_of.get(p.as_str()) {
                None => push(report, format!("unknown parent `{p}`")),
                Some(&pl) if pl + 1 != u.level => push(
                    report,
                    format!(
                        "parent `{p}` is level {pl}, not one level up from {}",
                        u.level
                    ),
                ),
                _ => {}
            },
            _ => {}
        }
    }
}

/// Whether `p` is valid by the rules of `geo::Validation`, found without
/// its test of every pair of edges (40% of `wangge check` on 50,000 grids
/// of 30-80 vertices): a polygon without holes whose ring is closed,
/// finite, of at least four positions, with no zero-length edge, no two
/// adjacent edges folding back along each other, and no two other edges
/// meeting (`geo`'s own segment test, on the pairs whose boxes meet when
/// the edges are swept in order of x). `false` means "not sure": the
/// caller then asks `geo::Validation`, which also names the problem.
fn surely_valid(p: &Polygon<f64>) -> bool {
    use geo::{Intersects, Line};
    if !p.interiors().is_empty() {
        return false;
    }
    let c = &p.exterior().0;
    let n = c.len();
    if n < 4 || c[0] != c[n - 1] || c.iter().any(|x| !x.x.is_finite() || !x.y.is_finite()) {
        return false;
    }
    let m = n - 1;
    let edges: Vec<Line<f64>> = (0..m).map(|i| Line::new(c[i], c[i + 1])).collect();
    for i in 0..m {
        let (a, b) = (edges[i], edges[(i + 1) % m]);
        if a.start == a.end {
            return false;
        }
        // a ends where b starts: folding back means b runs back along a.
        let (u, v) = (a.start - a.end, b.end - b.start);
        if u.x * v.y - u.y * v.x == 0.0 && u.x * v.x + u.y * v.y > 0.0 {
            return false;
        }
    }
    let bounds = |l: &Line<f64>| {
        (
            l.start.x.min(l.end.x),
            l.start.x.max(l.end.x),
            l.start.y.min(l.end.y),
            l.start.y.max(l.end.y),
        )
    };
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| bounds(&edges[i]).0.total_cmp(&bounds(&edges[j]).0));
    for (k, &i) in order.iter().enumerate() {
        let (_, x1, y0, y1) = bounds(&edges[i]);
        for &j in &order[k + 1..] {
            let (jx0, _, jy0, jy1) = bounds(&edges[j]);
            if jx0 > x1 {
                break;
            }
            let adjacent = (i + 1) % m == j || (j + 1) % m == i;
            if !adjacent && jy0 <= y1 && jy1 >= y0 && edges[i].intersects(&edges[j]) {
                return false;
            }
        }
    }
    true
}

/// Whether a ring is wound against RFC 7946 (exteriors counter-clockwise,
/// holes clockwise).
fn wound_against_rfc7946(g: &MultiPolygon<f64>) -> bool {
    g.iter()
        .any(|p| p.exterior().is_cw() || p.interiors().iter().any(|h| h.is_ccw()))
}

/// Ring-level quality: repeated vertices, RFC 7946 winding, self-intersections.
/// Reported as warnings; with `repair`, fixed and reported with what changed.
/// What is wrong with a unit's rings, in words (empty: nothing), and the
/// check it falls under. Pure, so every unit is measured in parallel.
fn ring_quality(unit: &Unit) -> (Vec<String>, &'static str) {
    let repeated: usize = unit
        .geometry
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .map(|r| r.0.windows(2).filter(|w| w[0] == w[1]).count())
        .sum();
    let wrong_winding = wound_against_rfc7946(&unit.geometry);
    let problems: Vec<String> = match unit.geometry.0.as_slice() {
        [p] if surely_valid(p) => Vec::new(),
        _ => unit
            .geometry
            .validation_errors()
            .iter()
            .map(|e| e.to_string())
            .collect(),
    };
    let mut notes = Vec::new();
    if repeated > 0 {
        notes.push(format!("{repeated} consecutive repeated vertices"));
    }
    if wrong_winding {
        notes.push(
            "rings wound against RFC 7946 (exterior must be counter-clockwise, holes clockwise)"
                .to_owned(),
        );
    }
    if !problems.is_empty() {
        notes.push(format!("invalid: {}", problems.join("; ")));
    }
    let check = if !problems.is_empty() {
        "self_intersection"
    } else if repeated > 0 {
        "repeated_vertices"
    } else {
        "winding"
    };
    (notes, check)
}

/// Ring-level findings of one unit (`notes` and `check` from
/// [`ring_quality`]) reported; with `repair`, fixed and reported with what
/// changed.
fn check_validity(
    unit: &mut Unit,
    (notes, check): (Vec<String>, &'static str),
    repair: bool,
    report: &mut Report,
) {
    if notes.is_empty() {
        return;
    }
    let before_m2 = unit.area_km2 * 1e6;
    let fixed = match repair_unit(&unit.geometry) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("{}; repair failed: {e}", notes.join("; "));
            report.push(
                Severity::Warning,
                check,
                Some(unit.feature_index),
                Some(&unit.code),
                msg,
                None,
            );
            return;
        }
    };
    let after_m2 = area_m2(&fixed.geometry);
    let change = format!(
        "area {before_m2:.0} → {after_m2:.0} m² (Δ {:+.1}), {} → {} part(s), {} → {} vertices",
        after_m2 - before_m2,
        unit.geometry.0.len(),
        fixed.geometry.0.len(),
        fixed.vertices_before,
        fixed.vertices_after,
    );
    let delta = Some((after_m2 - before_m2).abs());
    if repair {
        let msg = format!("{}; repaired: {change}", notes.join("; "));
        report.push(
            Severity::Repaired,
            check,
            Some(unit.feature_index),
            Some(&unit.code),
            msg,
            delta,
        );
        unit.geometry = fixed.geometry;
        unit.area_km2 = after_m2 / 1e6;
    } else {
        // Winding and repeated vertices alone do not change any answer here:
        // the point-in-polygon test ignores both. Only invalid rings are worth a warning.
        let sev = if check != "self_intersection" {
            Severity::Notice
        } else {
            Severity::Warning
        };
        let msg = format!("{}; --repair would change: {change}", notes.join("; "));
        report.push(
            sev,
            check,
            Some(unit.feature_index),
            Some(&unit.code),
            msg,
            delta,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::surely_valid;
    use geo::{coord, LineString, Polygon, Validation};

    fn ring(xy: &[(f64, f64)]) -> Polygon<f64> {
        Polygon::new(LineString::from(xy.to_vec()), vec![])
    }

    /// The fast path never calls a polygon valid that `geo` calls invalid,
    /// and takes the simple polygons grids are made of.
    #[test]
    fn the_fast_validity_path_agrees_with_geo() {
        let square = ring(&[(0., 0.), (1., 0.), (1., 1.), (0., 1.), (0., 0.)]);
        assert!(surely_valid(&square) && square.is_valid());
        let cases = [
            ring(&[(0., 0.), (1., 1.), (1., 0.), (0., 1.), (0., 0.)]), // bow-tie
            ring(&[(0., 0.), (2., 0.), (1., 0.), (1., 1.), (0., 0.)]), // spike along an edge
            ring(&[(0., 0.), (1., 0.), (1., 0.), (1., 1.), (0., 0.)]), // repeated vertex
            // touches itself at a vertex
            ring(&[
                (0., 0.),
                (2., 0.),
                (1., 1.),
                (2., 2.),
                (0., 2.),
                (1., 1.),
                (0., 0.),
            ]),
        ];
        for p in &cases {
            assert!(!surely_valid(p), "{p:?}");
        }
        let holed = Polygon::new(
            square.exterior().clone(),
            vec![LineString::from(vec![
                (0.2, 0.2),
                (0.4, 0.2),
                (0.4, 0.4),
                (0.2, 0.2),
            ])],
        );
        assert!(!surely_valid(&holed), "holes are left to geo");
        // Random stars (simple) and the same points shuffled (mostly not).
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut fast, mut shuffled_fast) = (0, 0);
        for _ in 0..2_000 {
            let k = 3 + (next() * 60.0) as usize;
            let mut pts: Vec<_> = (0..k)
                .map(|i| {
                    let a = std::f64::consts::TAU * (i as f64 + next() * 0.9) / k as f64;
                    let r = 0.2 + next();
                    coord! { x: 115.0 + r * a.cos(), y: 38.0 + r * a.sin() }
                })
                .collect();
            let star = Polygon::new(LineString::from(pts.clone()), vec![]);
            assert_eq!(surely_valid(&star), star.is_valid(), "{star:?}");
            fast += usize::from(surely_valid(&star));
            for i in (1..pts.len()).rev() {
                pts.swap(i, (next() * (i + 1) as f64) as usize);
            }
            let mixed = Polygon::new(LineString::from(pts), vec![]);
            if surely_valid(&mixed) {
                shuffled_fast += 1;
                assert!(mixed.is_valid(), "{mixed:?}");
            }
        }
        assert_eq!(fast, 2_000, "every star takes the fast path");
        assert!(
            shuffled_fast > 0,
            "small shuffled rings are often still simple"
        );
    }
}
