//! `wangge join`: events to grids, with a progress bar and a summary.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::grid::load_geojson_with;
use crate::grid::GridModel;
use crate::grid::LoadOptions;
use crate::ingest::crs::Crs;
use crate::ingest::encoding::TextEncoding;
use crate::ingest::privacy::KeyedHasher;
use crate::ingest::{IngestError, Validator};
use crate::join::{join_files, JoinOutput, Locator, Strategy};

#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// Grid GeoJSON (CONTRACT.md).
    #[arg(long)]
    grids: PathBuf,
    /// Event files: .csv, .jsonl or .parquet.
    #[arg(long, num_args = 1.., required = true)]
    events: Vec<PathBuf>,
    /// Transition rows of the issues (CSV, JSON Lines or Parquet, see CONTRACT.md):
    /// each issue is joined as it stands after them, with its milestones.
    #[arg(long, num_args = 1..)]
    updates: Vec<PathBuf>,
    /// Coordinate system of the events: wgs84 (also cgcs2000, epsg:4490), gcj02, bd09, or a
    /// CGCS2000 Gauss-Krüger projection epsg:4491-4554 (easting in lon, northing in lat).
    #[arg(long, default_value = "wgs84")]
    crs: Crs,
    /// Text encoding of CSV/JSON Lines files (utf-8, gbk, gb18030); detected when absent.
    #[arg(long)]
    encoding: Option<TextEncoding>,
    /// Time zone of naive timestamps.
    #[arg(long, default_value = "Asia/Shanghai")]
    tz: chrono_tz::Tz,
    /// Joined events (Parquet).
    #[arg(long, default_value = "joined.parquet")]
    out: PathBuf,
    /// Rejected rows (CSV: file, row, column, reason); default: next to --out.
    #[arg(long)]
    rejects: Option<PathBuf>,
    /// Secret for hashing personal data (64 hex chars); env WANGGE_SECRET wins.
    #[arg(long, default_value = "data/secret.key")]
    secret: PathBuf,
    /// Repair invalid grid polygons before joining.
    #[arg(long)]
    repair: bool,
    /// The grid file's positions are CGCS2000 Gauss-Krüger easting/northing
    /// (EPSG:4491-4554), projected back to longitude/latitude.
    #[arg(long)]
    grid_crs: Option<crate::grid::GaussKruger>,
    /// Candidate search for tier 3.
    #[arg(long, value_enum, default_value_t = Strategy::Cells)]
    strategy: Strategy,
}

/// Bytes of a CSV or JSON Lines event row, at the least: the count of rows
/// it gives sizes the cell table, so a guess on the high side (the
/// contract's shortest rows) errs towards a finer table.
const EVENT_ROW_BYTES: u64 = 64;

/// Rejected update rows told on the terminal; all of them are in the
/// rejects file.
const SHOWN_REJECTS: usize = 20;

pub fn run(a: &JoinArgs) -> anyhow::Result<i32> {
    let t0 = Instant::now();
    // The cell table as fine as the points call for: a Parquet footer
    // says how many; 1,000,000 points over 50,000 grids are joined in
    // 0.25 s with 16 cells a grid, 0.35 s with the most (256).
    let points: u64 = a
        .events
        .iter()
        .map(|p| crate::ingest::rows_about(p, EVENT_ROW_BYTES))
        .sum();
    // The grids load while the first events are read.
    let grids = || -> Result<(GridModel, Locator), IngestError> {
        let (model, report) = load_geojson_with(
            &a.grids,
            LoadOptions {
                repair: a.repair,
                crs: a.grid_crs,
                ..LoadOptions::default()
            },
        )
        .map_err(|e| IngestError::Output(format!("{e:#}")))?;
        for f in &report.findings {
            eprintln!("{}: {f}", a.grids.display());
        }
        let locator = Locator::for_points(&model, a.strategy, points as usize);
        Ok((model, locator))
    };
    let hasher = KeyedHasher::from_env_or_file(&a.secret).context("loading the hashing secret")?;
    let validator = Validator {
        crs: a.crs,
        tz: a.tz,
        hasher: &hasher,
        dates: crate::ingest::Dates::default(),
        unused: Default::default(),
    };
    // Streamed: a chunk of rows at a time becomes compact steps.
    let mut steps = crate::join::CaseSteps::default();
    let mut update_rows = 0u64;
    // Rejected update rows go to the rejects file with the events' (the
    // first few told here too).
    let mut update_rejects = Vec::new();
    for (file, path) in a.updates.iter().enumerate() {
        let file = u16::try_from(file).context("more than 65,535 update files")?;
        crate::ingest::read_updates_with(path, &validator, &mut |(ok, bad)| {
            update_rows += (ok.len() + bad.len()) as u64;
            for r in bad {
                if update_rejects.len() < SHOWN_REJECTS {
                    eprintln!("{}: row {}: {}: {}", r.file, r.row, r.column, r.reason);
                }
                update_rejects.push(r);
            }
            for (row, s) in ok {
                steps.push(s, (file, row));
            }
            Ok(())
        })?;
    }
    // A transition sent twice is one step; sent again with other content,
    // a conflict (the first read is kept), rejected as the store does.
    for c in steps.finish() {
        let name = |f: u16| a.updates[usize::from(f)].display().to_string();
        let r = crate::ingest::Reject {
            file: name(c.file),
            row: c.row,
            column: "update_id".into(),
            reason: format!(
                "conflict: update {:?} of issue {:?} was read before with other content ({} row {}); \
                 the first is kept",
                c.update_id,
                c.issue_id,
                name(c.first.0),
                c.first.1
            ),
        };
        if update_rejects.len() < SHOWN_REJECTS {
            eprintln!("{}: row {}: {}: {}", r.file, r.row, r.column, r.reason);
        }
        update_rejects.push(r);
    }
    let distinct = steps.len() as u64;
    let rejects = a
        .rejects
        .clone()
        .unwrap_or_else(|| a.out.with_extension("rejects.csv"));
    let total_bytes: u64 = a
        .events
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {human_pos} rows {per_sec} [{elapsed_precise}] {msg}",
    )?);
    bar.set_message(format!("{} MB of events", total_bytes / 1_000_000));
    let out = JoinOutput {
        parquet: &a.out,
        rejects: &rejects,
        earlier: &update_rejects,
    };
    let summary = join_files(
        &grids,
        &a.events,
        a.encoding,
        &validator,
        &steps,
        &out,
        &mut |n| bar.inc(n),
    )?;
    bar.finish_and_clear();
    let s = &summary;
    println!(
        "{} rows read: {} matched, {} partial, {} outside, {} rejected ({} conflicts); \
         rows of a case read before: {} updated, {} unchanged, {} stale; in {:.1} s",
        s.read,
        s.matched,
        s.partial,
        s.outside,
        s.rejected,
        s.conflicts,
        s.updated,
        s.unchanged,
        s.stale,
        t0.elapsed().as_secs_f64()
    );
    let files = a
        .events
        .iter()
        .map(|p| (p, crate::ingest::column_of as fn(&str) -> _));
    let files = files.chain(
        a.updates
            .iter()
            .map(|p| (p, crate::ingest::update_column_of as _)),
    );
    if let Some(unused) = validator.unused.describe() {
        eprintln!("{unused}");
    }
    for (path, column_of) in files {
        let unread = crate::ingest::unread_columns(path, a.encoding, column_of);
        if !unread.is_empty() {
            eprintln!(
                "{}: columns no contract column reads, left out: {}",
                path.display(),
                unread.join(", ")
            );
        }
    }
    println!(
        "joined → {}; rejects → {}",
        a.out.display(),
        rejects.display()
    );
    if !a.updates.is_empty() {
        println!(
            "{update_rows} update rows read: {} rejected, {distinct} distinct steps; {} folded into their issues, \
             {} dated before their issue was reported (left out), {} for issues not in the events",
            update_rejects.len(),
            s.updates_applied,
            s.updates_early,
            distinct.saturating_sub(s.updates_applied + s.updates_early)
        );
    }
    if !s.balanced() {
        anyhow::bail!("outcome counts do not add up to rows read: {s:?}");
    }
    Ok(0)
}
