//! wangge (网格): grid-management geospatial analytics.
//!
//! Data flows one way: [`grid`] loads the three tiers of units and indexes
//! them, [`ingest`] reads and validates the three event streams, [`join`]
//! puts every event into its grid and the grid's ancestors, [`store`] keeps
//! them (the system of record), [`live`] holds the frame of what is stored
//! and the one ingest pipeline into it, [`analytics`] turns the frame into
//! per-unit metrics and [`api`] serves them. [`demo`] builds a
//! deterministic demo county on the real 定州市 boundary. [`export`] writes
//! what an analyst filtered as GeoParquet, CSV or GeoJSON. [`assets`] holds
//! the web front end compiled into the binary.

pub mod analytics;
pub mod api;
pub mod assets;
pub mod cli;
pub mod columns;
pub mod demo;
pub mod export;
pub mod grid;
pub mod ingest;
pub mod join;
pub mod live;
pub mod sort;
pub mod store;
pub mod vocab;
