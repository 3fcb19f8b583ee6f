//! Grid model: units of tiers 0-3 read from GeoJSON, their hierarchy,
//! areas, validation and repair. Nothing here knows polars or HTTP.

mod model;

pub use model::{GridModel, Level, Unit, GRID_LEVEL};
