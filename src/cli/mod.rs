//! The `wangge` command line: raw arguments (clap) become built options in a
//! second step, then one call into the library per command.

mod bench;
mod check;
// mod demo; (enabled when src/demo lands)
mod join;
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
    // Demo(demo::DemoArgs),
    /// Validate a grid file and print the report.
    Check(check::CheckArgs),
    /// Join event files to the grids; write Parquet, rejects and a summary.
    Join(join::JoinArgs),
    /// Benchmarks: `bench join` times the spatial join on generated counties.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Serve the API and the web front end (demo data made if missing).
    Serve(serve::ServeArgs),
    /// Manage users: `user add --role chief --scope <grid code> <name>`.
    #[command(subcommand)]
    User(user::UserCommand),
}

/// Parses `std::env::args` and runs; `Ok(exit code)`.
pub fn run() -> anyhow::Result<i32> {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Join(a) => join::run(&a),
        Command::Bench(b) => bench::run(&b),
        Command::Serve(a) => serve::run(&a),
        Command::User(u) => user::run(&u),
    }
}

/// Default data directory.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("data/demo")
}
