//! The `wangge` command line: raw arguments (clap) become built options in a
//! second step, then one call into the library per command.

pub mod analytics;
mod bench;
mod check;
mod demo;
mod emerging;
mod export;
mod ingest;
mod join;
mod repeats;
mod serve;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// wangge (网格): grid-management analytics for a county's townships, villages and grids.
#[derive(Debug, Parser)]
#[command(name = "wangge", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the deterministic demo county on the real 定州市 boundary.
    Demo(demo::DemoArgs),
    /// Validate a grid file and print the report.
    Check(check::CheckArgs),
    /// Join event files to the grids; write Parquet, rejects and a summary.
    Join(join::JoinArgs),
    /// Per-unit metrics for a tier, window and filters.
    Stats(analytics::StatsArgs),
    /// Hot spots: Moran's I, Getis-Ord Gi*, Local Moran quadrants.
    Hotspots(analytics::HotspotsArgs),
    /// Emerging hot spots: a space-time cube, Gi* per bin, trend and category per unit.
    Emerging(emerging::EmergingArgs),
    /// Repeat-complaint points (重复投诉点位): same-category issues close in place and time.
    Repeats(repeats::RepeatsArgs),
    /// League table of a unit's children with smoothed rates and scores.
    Rank(analytics::RankArgs),
    /// Spike alerts (预警) against each unit's own baseline.
    Alerts(analytics::AlertsArgs),
    /// Export events, units or a metric table as GeoParquet, CSV or GeoJSON.
    Export(export::ExportArgs),
    /// Benchmarks: `bench join` times the spatial join on generated counties.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Add event or case-update files to a deployment's store.
    Ingest(ingest::IngestArgs),
    /// Serve the API and the web front end (demo data made if missing).
    Serve(serve::ServeArgs),
    /// Manage users: `user add --role chief --scope <grid code> <name>`.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Decode every column of a Parquet file and exit 0 (the check run in
    /// a child process before a data file is read; see `ingest::probe`).
    #[command(hide = true)]
    ProbeParquet { file: PathBuf },
}

/// Parses `std::env::args` and runs; `Ok(exit code)`.
pub fn run() -> anyhow::Result<i32> {
    let cli = Cli::parse();
    if let Ok(me) = std::env::current_exe() {
        crate::ingest::probe::set_program(me);
    }
    if !matches!(cli.command, Command::Serve(_)) {
        restore_sigpipe();
        // Warnings only, unless RUST_LOG asks for more (`RUST_LOG=debug
        // wangge bench stats ...` shows how long each phase took).
        init_logs("warn", false);
    }
    match cli.command {
        Command::Demo(a) => demo::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Stats(a) => analytics::stats(&a).map(|()| 0),
        Command::Hotspots(a) => analytics::hotspots(&a).map(|()| 0),
        Command::Emerging(a) => emerging::run(&a).map(|()| 0),
        Command::Repeats(a) => repeats::run(&a).map(|()| 0),
        Command::Rank(a) => analytics::rank(&a).map(|()| 0),
        Command::Alerts(a) => analytics::alerts(&a).map(|()| 0),
        Command::Join(a) => join::run(&a),
        Command::Export(a) => export::run(&a),
        Command::Bench(b) => bench::run(&b),
        Command::Ingest(a) => ingest::run(&a),
        Command::Serve(a) => serve::run(&a),
        Command::User(u) => user::run(&u),
        Command::ProbeParquet { file } => {
            let rows =
                crate::ingest::probe::decode_all(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{rows}");
            Ok(0)
        }
    }
}

/// Logs to stderr at `default` level, or what RUST_LOG says; one JSON
/// object per line when `json`.
fn init_logs(default: &str, json: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default.into());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
}

/// Default data directory.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("data/demo")
}

/// Lets `wangge stats ... | head` end quietly, as other command-line tools do,
/// instead of panicking on a closed pipe. The server keeps ignoring SIGPIPE.
fn restore_sigpipe() {
    // SAFETY: called once at start-up, before any thread is spawned.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
