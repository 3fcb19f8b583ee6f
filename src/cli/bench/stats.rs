//! `wangge bench stats`: the analytics timed on a joined Parquet file, and
//! optionally DuckDB computing the same aggregates on the same file in the
//! same run (`benches/duckdb/stats.sql` through `benches/duckdb/run.py`).
//!
//! "Full" is what a fresh service does: pre-aggregate the file and compute
//! every catalogue metric for tiers 1, 2 and 3 over the whole window.
//! "Filtered" is one month, one category, one tier from the pre-aggregates
//! (with its 同比/环比 bases, as `compute_metrics` answers a closed window).
//! The medians of `--reps` runs are reported. With `--duckdb` the township
//! rows of both sides (and the filtered tier's rows) are compared number by
//! number, so a ratio is never printed for two different computations
//! without saying so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use chrono::NaiveDate;
use polars::prelude::ChunkAgg;
use serde_json::Value;

use super::median;
use crate::analytics::{
    compute_metrics_of, compute_tiers_of, MetricTable, Parts, PreAgg, Query, UnitMetrics, Zone,
};
use crate::grid::load_geojson;

#[derive(Debug, clap::Args)]
pub struct StatsBench {
    /// Joined events (Parquet written by `wangge join`).
    #[arg(long)]
    joined: PathBuf,
    /// Grid GeoJSON the events were joined to.
    #[arg(long)]
    grids: PathBuf,
    /// Repetitions of each side; medians are reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Also run DuckDB on the same file, print ratios and compare numbers.
    #[arg(long)]
    duckdb: bool,
    /// Python with the `duckdb` package (see benches/duckdb/run.py).
    #[arg(long, env = "WANGGE_BENCH_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// The DuckDB runner.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/duckdb/run.py"))]
    script: PathBuf,
    /// Filtered query: first local date.
    #[arg(long, default_value = "2026-03-01")]
    from: NaiveDate,
    /// Filtered query: last local date included.
    #[arg(long, default_value = "2026-03-31")]
    to: NaiveDate,
    /// Filtered query: the category kept.
    #[arg(long, default_value = "环境卫生")]
    category: String,
    /// Filtered query: the tier.
    #[arg(long, default_value_t = 2)]
    level: u8,
}

/// The numbers compared with DuckDB: ingredients and a few rates.
fn checked(r: &UnitMetrics) -> Vec<(&'static str, Option<f64>)> {
    let i = &r.ingredients;
    let n = |v: u64| Some(v as f64);
    let mut out = vec![
        ("issues", n(i.issues)),
        ("incidents", n(i.incidents)),
        ("visits", n(i.visits)),
        ("resolved", n(i.resolved)),
        ("satisfied", n(i.satisfied)),
        ("basic", n(i.basic)),
        ("unsatisfied", n(i.unsatisfied)),
        ("cleared", n(i.cleared)),
        ("discovered", n(i.discovered)),
        ("sourced", n(i.sourced)),
        ("on_time", n(i.on_time)),
        ("due", n(i.due)),
        ("backlog", n(i.backlog)),
        ("overdue", n(i.overdue)),
        ("households_visited", n(i.households_visited)),
        ("median_hours", i.median_hours),
        ("p90_hours", i.p90_hours),
    ];
    for m in [
        "resolution_rate",
        "on_time_rate",
        "satisfaction_rate",
        "discovery_rate",
    ] {
        out.push((m, r.value(m)));
    }
    out
}

/// Mismatches between our rows and DuckDB's rows (JSON objects keyed by `unit`).
/// A unit DuckDB does not list had no matching event there: its counts are 0.
fn compare(what: &str, ours: &MetricTable, theirs: &[Value]) -> Vec<String> {
    let by_unit: HashMap<&str, &Value> = theirs
        .iter()
        .filter_map(|v| Some((v["unit"].as_str()?, v)))
        .collect();
    let mut bad = Vec::new();
    for r in &ours.rows {
        let row = by_unit.get(r.code.as_str());
        for (name, mine) in checked(r) {
            let other = match row.map(|v| &v[name]) {
                Some(v) if !v.is_null() => v.as_f64(),
                _ if name.ends_with("_hours") || name.ends_with("_rate") => None,
                _ => Some(0.0),
            };
            let same = match (mine, other) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                (a, b) => a == b,
            };
            if !same {
                bad.push(format!(
                    "{what} {} {name}: wangge {mine:?}, duckdb {other:?}",
                    r.code
                ));
            }
        }
    }
    let known: std::collections::HashSet<&str> =
        ours.rows.iter().map(|r| r.code.as_str()).collect();
    for unit in by_unit.keys().filter(|u| !known.contains(*u)) {
        bad.push(format!("{what} {unit}: only in duckdb"));
    }
    bad
}

/// Every table but the repeat points'.
const BESIDE_DUCKDB: Parts = Parts {
    repeats: false,
    ..Parts::ALL
};
/// The repeat points' clustering and counts alone.
const REPEATS_ONLY: Parts = Parts {
    lifecycle: false,
    durations: false,
    backlog: false,
    households: false,
    repeats: true,
};

pub fn run(b: &StatsBench) -> anyhow::Result<i32> {
    let path = b.joined.to_str().context("--joined path is not UTF-8")?;
    let (gm, _) =
        load_geojson(&b.grids).with_context(|| format!("loading grids {}", b.grids.display()))?;
    let reps = b.reps.max(1);
    let zone = Zone::default();

    let (mut full, mut scans, mut repeats, mut end_us) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let pre = PreAgg::from_parquet(path, zone)
            .with_context(|| format!("reading {}", b.joined.display()))?;
        scans.push(t.elapsed().as_secs_f64());
        end_us = chrono::Utc::now().timestamp_micros();
        // What DuckDB's script computes too: every metric but the repeat
        // points (a clustering it has no counterpart of), timed next.
        let tables = compute_tiers_of(&pre, &gm, &[1, 2, 3], &Query::default(), BESIDE_DUCKDB)?;
        full.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        compute_tiers_of(&pre, &gm, &[1, 2, 3], &Query::default(), REPEATS_ONLY)?;
        repeats.push(t.elapsed().as_secs_f64());
        last = Some((pre, tables));
    }
    let (pre, tables) = last.context("no repetition ran")?;

    let to =
        b.to.succ_opt()
            .context("--to is the last representable date")?;
    let q = Query {
        categories: vec![b.category.clone()],
        ..Query::window(b.from, to)
    };
    let mut filtered = Vec::new();
    let mut small = None;
    for _ in 0..reps {
        // A new origin each time: the window's ingredients computed, not
        // read back from what the repetition before kept.
        let pre = pre.recomputed();
        let t = Instant::now();
        small = Some(compute_metrics_of(&pre, &gm, b.level, &q, BESIDE_DUCKDB)?);
        filtered.push(t.elapsed().as_secs_f64());
    }
    let small = small.context("no repetition ran")?;
    // Where the time goes: the count table alone, then each other table
    // read beside it; for the filtered query and for the full computation.
    let parts_of = |levels: &[u8], q: &Query| -> anyhow::Result<serde_json::Map<String, Value>> {
        let none = Parts::COUNTS;
        let mut parts = serde_json::Map::new();
        for (name, with) in [
            ("counts", none),
            (
                "lifecycle",
                Parts {
                    lifecycle: true,
                    durations: true,
                    ..none
                },
            ),
            (
                "backlog",
                Parts {
                    backlog: true,
                    ..none
                },
            ),
            (
                "households",
                Parts {
                    households: true,
                    ..none
                },
            ),
        ] {
            let mut took = Vec::new();
            for _ in 0..reps {
                let pre = pre.recomputed();
                let t = Instant::now();
                compute_tiers_of(&pre, &gm, levels, q, with)?;
                took.push(t.elapsed().as_secs_f64());
            }
            parts.insert(name.into(), median(took).into());
        }
        Ok(parts)
    };
    let parts = parts_of(&[b.level], &q)?;
    let full_parts = parts_of(&[1, 2, 3], &Query::default())?;
    let open = pre.open_index()?;
    let t = Instant::now();
    crate::analytics::preagg::OpenIndex::build(&pre)?;
    let open_build_s = t.elapsed().as_secs_f64();

    let events: i64 = pre
        .events
        .column(crate::analytics::preagg::col_names::N)?
        .cast(&polars::prelude::DataType::Int64)?
        .i64()?
        .sum()
        .unwrap_or(0);
    let (full_s, filtered_s) = (median(full), median(filtered));
    println!(
        "{}",
        serde_json::json!({
            "tool": "wangge", "events": events, "units": [gm.count(1), gm.count(2), gm.count(3)],
            "full_s": full_s, "preagg_s": median(scans), "repeat_points_s": median(repeats), "filtered_s": filtered_s, "filtered_share": filtered_s / full_s,
            "preagg_rows": [pre.events.height(), pre.issues.height(), pre.households.height()],
            "filtered_parts_s": parts, "full_parts_s": full_parts,
            "open_index": {"checkpoints": open.checkpoints(), "rows": open.rows_kept(), "build_s": open_build_s},
            "threads": rayon::current_num_threads(),
        })
    );
    if !b.duckdb {
        return Ok(0);
    }
    let duck = duckdb(b, path, end_us, to)?;
    let get = |k: &str| duck[k].as_f64().unwrap_or(f64::NAN);
    let (dfull, dfiltered) = (get("full_s"), get("filtered_s"));
    println!(
        "{}",
        serde_json::json!({
            "tool": duck["tool"], "threads": duck["threads"], "full_s": dfull,
            "filtered_s": dfiltered, "full_rows": duck["full_rows"],
        })
    );
    println!(
        "ratio full: wangge {full_s:.3} s vs duckdb {dfull:.3} s = {:.2}x",
        dfull / full_s
    );
    println!(
        "ratio filtered: wangge {filtered_s:.4} s vs duckdb {dfiltered:.4} s = {:.1}x",
        dfiltered / filtered_s
    );
    let empty = Vec::new();
    let mut bad = compare(
        "township",
        &tables[0],
        duck["townships"].as_array().unwrap_or(&empty),
    );
    bad.extend(compare(
        "filtered",
        &small,
        duck["filtered"].as_array().unwrap_or(&empty),
    ));
    let compared = (tables[0].rows.len() + small.rows.len()) * checked(&tables[0].rows[0]).len();
    if bad.is_empty() {
        println!(
            "check: {compared} numbers agree (townships, full window; level {} filtered)",
            b.level
        );
        Ok(0)
    } else {
        for line in &bad {
            println!("MISMATCH {line}");
        }
        println!("check: {} of {compared} numbers differ", bad.len());
        Ok(1)
    }
}

/// Runs the DuckDB script; returns its JSON line.
fn duckdb(b: &StatsBench, joined: &str, end_us: i64, to: NaiveDate) -> anyhow::Result<Value> {
    let script: &Path = &b.script;
    let out = Command::new(&b.python)
        .arg(script)
        .args(["--joined", joined, "--reps", &b.reps.max(1).to_string()])
        .args(["--end-us", &end_us.to_string()])
        .args(["--from", &b.from.to_string(), "--to", &to.to_string()])
        .args(["--category", &b.category, "--level", &b.level.to_string()])
        .output()
        .with_context(|| format!("running {} {}", b.python.display(), script.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rfind(|l| l.starts_with('{'))
        .context("the DuckDB runner printed no JSON line")?;
    Ok(serde_json::from_str(line)?)
}
