//! Integration tests: one binary, shared helpers in `util`.

mod util;

mod api;
mod brute_force;
mod cli;
mod fuzz;
mod grid_checks;
mod ingest_files;
mod join_fixtures;
