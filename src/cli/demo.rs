//! `wangge demo`: the demo county and its events.

use std::path::PathBuf;
use std::time::Instant;

use crate::demo::{generate, DemoOptions};

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Output directory.
    #[arg(long, default_value = "data/demo")]
    out: PathBuf,
    /// Number of tier-3 grids.
    #[arg(long, default_value_t = 5000)]
    grids: usize,
    /// Number of event rows (including the deliberate bad rows).
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Random seed; the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn run(a: &DemoArgs) -> anyhow::Result<i32> {
    let t = Instant::now();
    let opts = DemoOptions {
        out: a.out.clone(),
        grids: a.grids,
        events: a.events,
        seed: a.seed,
    };
    let s = generate(&opts)?;
    let [l0, l1, l2, l3] = s.units_by_level;
    println!(
        "demo county: {l0} county, {l1} townships, {l2} villages, {l3} grids → {}",
        s.grids_path.display()
    );
    println!(
        "{} event rows → {} ({:.1} s)",
        s.events_written,
        s.events_path.display(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "{} case update rows → {}",
        s.updates_written,
        s.events_path.with_file_name("updates.csv").display()
    );
    Ok(0)
}
