//! `wangge bench`: measured comparisons against peer tools on the same data.
//!
//! `bench join` reads the county and points that `../shared/bench/gen.py`
//! writes, times index build + assignment exactly as the peer scripts do
//! (their `join_s`), and, given the peers script, runs them in the same
//! session and prints the ratio to the fastest.
//!
//! `bench load` times what a first start on a new data directory loads
//! (its events file, then its case updates) into a new store, `wangge
//! ingest`'s path, and with `--duckdb` DuckDB copying the same events
//! file into a database in the same run; see [`load`].
//!
//! `bench stats` times the analytics (pre-aggregation and every metric of the
//! three tiers, then a filtered query) and, with `--duckdb`, DuckDB on the
//! same joined Parquet; see [`stats`].

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use polars::prelude::*;

use crate::grid::load_geojson;
use crate::join::{Locator, Outcome, Strategy};

mod load;
mod serve;
mod stats;

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Time the spatial join (index build + assignment) on a generated county.
    Join(JoinBench),
    /// Time every metric of the three tiers and a filtered query, optionally against DuckDB.
    Stats(stats::StatsBench),
    /// Time loading a data directory's event and case-update files into a new store, optionally against DuckDB copying the events file.
    Load(load::LoadBench),
    /// Time the service (restart, cached and uncached map values, ingest) against polars, nginx and DuckDB.
    Serve(serve::ServeBench),
    /// Time polars reading a whole Parquet file, `--reps` times in this
    /// fresh process (the other side of the service's start-up comparison:
    /// the first read is a fresh process's); prints JSON.
    Read {
        file: PathBuf,
        #[arg(long, default_value_t = 1)]
        reps: usize,
    },
}

#[derive(Debug, clap::Args)]
pub struct JoinBench {
    /// Directory with grids.geojson and events.parquet (from ../shared/bench/gen.py or `wangge demo`).
    #[arg(long)]
    data: PathBuf,
    /// Repetitions; the median is reported, as the peer scripts do.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Candidate search for tier 3.
    #[arg(long, value_enum, default_value_t = Strategy::Cells)]
    strategy: Strategy,
    /// Run this peers script (../shared/bench/peers.sh) on the same data and print ratios.
    #[arg(long)]
    peers: Option<PathBuf>,
}

pub fn run(b: &BenchCommand) -> anyhow::Result<i32> {
    match b {
        BenchCommand::Join(j) => join(j),
        BenchCommand::Stats(s) => stats::run(s),
        BenchCommand::Load(l) => load::run(l),
        BenchCommand::Serve(s) => serve::run(s),
        BenchCommand::Read { file, reps } => serve::read_file(file, *reps),
    }
}

/// The median of `v` (the upper one of an even count; NaN when empty).
pub(super) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn read_points(path: &std::path::Path) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let p = path.to_str().context("path is not UTF-8")?;
    let df = LazyFrame::scan_parquet(PlRefPath::from(p), ScanArgsParquet::default())?
        .select([
            col("lon").cast(DataType::Float64),
            col("lat").cast(DataType::Float64),
        ])
        .collect()?;
    let get = |name: &str| -> anyhow::Result<Vec<f64>> {
        Ok(df
            .column(name)?
            .f64()?
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect())
    };
    Ok((get("lon")?, get("lat")?))
}

fn join(j: &JoinBench) -> anyhow::Result<i32> {
    let grids = j.data.join("grids.geojson");
    let events = j.data.join("events.parquet");
    let (model, _) = load_geojson(&grids)?;
    let (xs, ys) = read_points(&events)?;
    let mut totals = Vec::new();
    let mut builds = Vec::new();
    let mut matched = 0;
    let mut cells = (0, 0);
    for _ in 0..j.reps.max(1) {
        let t = Instant::now();
        let loc = Locator::for_points(&model, j.strategy, xs.len());
        let build = t.elapsed().as_secs_f64();
        let hits = loc.locate_all(&xs, &ys);
        let total = t.elapsed().as_secs_f64();
        matched = hits.iter().filter(|h| h.0 == Outcome::Matched).count();
        totals.push(total);
        builds.push(build);
        cells = loc.cell_stats();
    }
    let (best, build_best) = (median(totals), median(builds));
    let n = xs.len();
    let pps = n as f64 / best;
    let ours = serde_json::json!({
        "tool": format!("wangge ({:?})", j.strategy).to_lowercase(),
        "n_points": n, "n_polys": model.count(3), "join_s": best, "build_s": build_best,
        "matched": matched, "points_per_s": pps, "threads": rayon::current_num_threads(),
        "cells": cells.0, "boundary_cells": cells.1,
    });
    println!("{ours}");
    let Some(script) = &j.peers else { return Ok(0) };
    let out = Command::new("bash")
        .arg(script)
        .arg(&j.data)
        .arg(j.reps.to_string())
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let mut fastest: Option<(String, f64)> = None;
    for line in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
    {
        println!("{line}");
        let v: serde_json::Value = serde_json::from_str(line)?;
        if let (Some(tool), Some(p)) = (v["tool"].as_str(), v["points_per_s"].as_f64()) {
            if fastest.as_ref().is_none_or(|f| p > f.1) {
                fastest = Some((tool.to_owned(), p));
            }
        }
    }
    if let Some((tool, p)) = fastest {
        println!(
            "ratio: wangge {:.2} M points/s vs fastest peer {tool} {:.2} M points/s = {:.1}x",
            pps / 1e6,
            p / 1e6,
            pps / p
        );
    }
    Ok(0)
}
