//! The real data the demo stands on, embedded in the binary.
//!
//! `wangge demo` must work from any directory, so the three files under
//! `data/dingzhou/` are compiled in with `include_str!` and parsed here into
//! the county ring, the 25 townships and the 542 villages.

use serde::Deserialize;

use super::DemoError;

const COUNTY_GEOJSON: &str = include_str!("../../data/dingzhou/county_130682.geojson");
const TOWNSHIPS_CSV: &str = include_str!("../../data/dingzhou/townships_130682.csv");
const VILLAGES_CSV: &str = include_str!("../../data/dingzhou/villages_130682.csv");

/// County code (GB/T 2260) of 定州市.
pub const COUNTY_CODE: &str = "130682";
/// County name.
pub const COUNTY_NAME: &str = "定州市";

/// One township-level unit from the statistical division list.
#[derive(Debug, Clone, Deserialize)]
pub struct Township {
    pub code: String,
    pub name: String,
}

impl Township {
    /// Urban streets (街道) are drawn small and around the county seat.
    pub fn is_street(&self) -> bool {
        self.name.ends_with("街道")
    }
}

/// One village/community committee with its parent township.
#[derive(Debug, Clone, Deserialize)]
pub struct Village {
    pub code: String,
    pub name: String,
    #[serde(rename = "streetCode")]
    pub street_code: String,
}

/// Everything real about the demo county.
#[derive(Debug, Clone)]
pub struct RealCounty {
    /// Rings of the published boundary in lon/lat, taken as they are
    /// (self-intersecting); used with even-odd point-in-polygon only.
    pub rings: Vec<Vec<[f64; 2]>>,
    pub townships: Vec<Township>,
    pub villages: Vec<Village>,
}

/// Parses the embedded files.
pub fn load() -> Result<RealCounty, DemoError> {
    let rings = county_rings()?;
    let townships: Vec<Township> = read_csv(TOWNSHIPS_CSV, "townships_130682.csv")?;
    let villages: Vec<Village> = read_csv(VILLAGES_CSV, "villages_130682.csv")?;
    for v in &villages {
        if !townships.iter().any(|t| t.code == v.street_code) {
            return Err(DemoError::RealData {
                file: "villages_130682.csv",
                reason: format!("village {} has unknown township {}", v.code, v.street_code),
            });
        }
    }
    Ok(RealCounty {
        rings,
        townships,
        villages,
    })
}

fn read_csv<T: for<'de> Deserialize<'de>>(
    text: &str,
    file: &'static str,
) -> Result<Vec<T>, DemoError> {
    csv::Reader::from_reader(text.as_bytes())
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| DemoError::RealData {
            file,
            reason: e.to_string(),
        })
}

fn county_rings() -> Result<Vec<Vec<[f64; 2]>>, DemoError> {
    let file = "county_130682.geojson";
    let bad = |reason: &str| DemoError::RealData {
        file,
        reason: reason.to_string(),
    };
    let v: serde_json::Value =
        serde_json::from_str(COUNTY_GEOJSON).map_err(|e| bad(&e.to_string()))?;
    let geom = &v["features"][0]["geometry"];
    let polygons: Vec<&serde_json::Value> = match geom["type"].as_str() {
        Some("Polygon") => vec![&geom["coordinates"]],
        Some("MultiPolygon") => geom["coordinates"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        _ => return Err(bad("first feature is not a Polygon or MultiPolygon")),
    };
    let mut rings = Vec::new();
    for poly in polygons {
        for ring in poly.as_array().into_iter().flatten() {
            let pts: Vec<[f64; 2]> = ring
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some([p.get(0)?.as_f64()?, p.get(1)?.as_f64()?]))
                .collect();
            if pts.len() >= 4 {
                rings.push(pts);
            }
        }
    }
    if rings.is_empty() {
        return Err(bad("no ring with at least 4 positions"));
    }
    Ok(rings)
}

/// Even-odd point-in-polygon over every ring; tolerant of self-intersections.
pub fn inside_even_odd(rings: &[Vec<[f64; 2]>], x: f64, y: f64) -> bool {
    let mut inside = false;
    for ring in rings {
        let n = ring.len();
        let mut j = n - 1;
        for i in 0..n {
            let [xi, yi] = ring[i];
            let [xj, yj] = ring[j];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
    }
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_files_have_25_townships_and_542_villages() {
        let c = load().expect("embedded data parses");
        assert_eq!(c.townships.len(), 25);
        assert_eq!(c.villages.len(), 542);
        assert_eq!(c.townships.iter().filter(|t| t.is_street()).count(), 4);
        assert!(inside_even_odd(&c.rings, 115.0, 38.5));
        assert!(!inside_even_odd(&c.rings, 116.0, 38.5));
    }
}
