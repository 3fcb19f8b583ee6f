//! Grid model: units of tiers 0-3 read from the grid GeoJSON, their
//! hierarchy, areas on the ellipsoid, validation and repair.
//!
//! In: a GeoJSON FeatureCollection (CONTRACT.md). Out: a [`GridModel`] with
//! units sorted by (level, code) and a [`Report`] of everything found wrong.
//! Areas are on the WGS84 ellipsoid ([`area_m2`]: its cylindrical
//! equal-area projection), in km² on units and m² in findings. Nothing here
//! knows polars or HTTP.

pub mod arcs;
mod area;
mod error;
mod gauss_kruger;
mod load;
mod model;
mod repair;
mod report;
pub mod tiles;
pub mod topology;
mod write;

pub use area::{area_m2, polygon_area_m2};
pub use error::GridError;
pub use gauss_kruger::GaussKruger;
pub use load::{
    load_geojson, load_geojson_with, parse_checked, parse_geojson, stored_copy, LoadOptions,
};
pub use model::{GridModel, Level, Unit, GRID_LEVEL};
pub use repair::{repair_unit, Repaired};
pub use report::{Finding, Report, Severity};
pub use write::{properties, write_geojson};
