//! `wangge check`: the validation report of a grid file.

use std::path::PathBuf;

use crate::grid::{load_geojson_with, GaussKruger, GridError, LoadOptions};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Grid GeoJSON (CONTRACT.md).
    grids: PathBuf,
    /// Treat warnings (self-intersections, gaps, overlaps, overhangs, slivers) as errors.
    #[arg(long)]
    strict: bool,
    /// Repair invalid polygons and report what changed.
    #[arg(long)]
    repair: bool,
    /// Write the repaired file here (with --repair).
    #[arg(long, requires = "repair")]
    write: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// The file's positions are CGCS2000 Gauss-Krüger easting/northing
    /// (EPSG:4491-4554, e.g. EPSG:4527), projected back to longitude/latitude.
    #[arg(long)]
    crs: Option<GaussKruger>,
}

pub fn run(a: &CheckArgs) -> anyhow::Result<i32> {
    let opts = LoadOptions {
        strict: a.strict,
        repair: a.repair,
        topology: true,
        checked_before: false,
        crs: a.crs,
    };
    let (model, report) = match load_geojson_with(&a.grids, opts) {
        Ok(r) => r,
        Err(GridError::Rejected { path, report }) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&*report)?);
            } else {
                println!("{}: {report}", path.display());
            }
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}: {report}", a.grids.display());
    }
    if let Some(out) = &a.write {
        crate::grid::write_geojson(&model, out)?;
        println!("repaired grids written to {}", out.display());
    }
    Ok(0)
}
