//! A model back to the grid GeoJSON of CONTRACT.md (e.g. after a repair).

use std::path::Path;

use geojson::{Feature, FeatureCollection, Geometry, GeometryValue};
use serde_json::{json, Map, Value};

use super::error::GridError;
use super::model::{GridModel, Unit};

/// The properties of a unit as CONTRACT.md names them.
pub fn properties(model: &GridModel, u: &Unit) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("code".into(), json!(u.code));
    p.insert("name".into(), json!(u.name));
    p.insert("level".into(), json!(u.level));
    p.insert(
        "parent".into(),
        json!(u.parent.map(|i| model.unit(i).code.clone())),
    );
    if let Some(h) = u.households {
        p.insert("households".into(), json!(h));
    }
    if let Some(n) = u.population {
        p.insert("population".into(), json!(n));
    }
    if let Some(c) = &u.chief {
        p.insert("chief".into(), json!(c));
    }
    p
}

/// Writes every unit, in (level, code) order.
pub fn write_geojson(model: &GridModel, path: &Path) -> Result<(), GridError> {
    let features = model
        .units()
        .iter()
        .map(|u| Feature {
            bbox: None,
            geometry: Some(Geometry::new(GeometryValue::from(&u.geometry))),
            id: None,
            properties: Some(properties(model, u)),
            foreign_members: None,
        })
        .collect();
    let fc = FeatureCollection {
        bbox: None,
        features,
        foreign_members: None,
    };
    std::fs::write(path, fc.to_string()).map_err(|source| GridError::Io {
        path: path.to_owned(),
        cause: source,
    })
}
