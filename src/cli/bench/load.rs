//! `wangge bench load`: a data directory's files loaded into a new store,
//! as a first start or `wangge ingest` loads them.
//!
//! Each repetition copies the directory's grid file (and hashing secret)
//! into a new directory, loads the files a start loads (its events file,
//! then its case-update files), and reports the events' and the updates' rows read,
//! seconds and rows per second; the directory is removed after. With
//! `--duckdb` DuckDB copies the same events file into a database file in
//! the same repetition (`benches/load/duckdb_load.py`), and the ratio is
//! printed. Each repetition also times SQLite itself inserting as many
//! generated rows into a new store's events table in one statement
//! (`Store::insert_generated_events`): the floor of the engine, with no
//! work of ours per row. The medians of `--reps` repetitions are reported.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use super::median;
use crate::cli::ingest::deployment;
use crate::cli::serve::{EVENTS_FILE, UPDATE_FILES};

#[derive(Debug, clap::Args)]
pub struct LoadBench {
    /// Data directory with `grids.geojson`, `events.csv` and optionally
    /// case-update files (`updates.csv`, `.jsonl`, `.parquet`), as `wangge
    /// demo` writes it: the files a start loads.
    #[arg(long)]
    data: PathBuf,
    /// Where the new stores are made (one at a time, removed after).
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    work: PathBuf,
    /// Repetitions; medians are reported.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Also time DuckDB copying the events file (CSV) into a database.
    #[arg(long)]
    duckdb: bool,
    /// Python with the `duckdb` package.
    #[arg(long, env = "WANGGE_BENCH_PYTHON", default_value = "python3")]
    python: PathBuf,
    /// The DuckDB runner.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/load/duckdb_load.py"))]
    script: PathBuf,
}

/// One file's load: rows read and seconds.
struct Timed {
    rows: u64,
    secs: f64,
}

/// Loads `events` then the `updates` files into a new store in `dir`
/// (the updates' rows and seconds summed; none without them).
fn load_once(
    data: &Path,
    dir: &Path,
    events: &Path,
    updates: &[PathBuf],
) -> anyhow::Result<(Timed, Option<Timed>)> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    for name in ["grids.geojson", "secret.key"] {
        let from = data.join(name);
        if from.is_file() {
            std::fs::copy(&from, dir.join(name))
                .with_context(|| format!("copying {} into {}", from.display(), dir.display()))?;
        }
    }
    let cfg = crate::cli::serve::config(None, Some(&dir.to_path_buf()), None)?;
    let (st, grids, batch) = deployment(cfg)?;
    let t = Instant::now();
    let e = st.live.load_events_file(&grids, events, "", batch)?;
    let ev = Timed {
        rows: e.read,
        secs: t.elapsed().as_secs_f64(),
    };
    let t = Instant::now();
    let mut rows = 0;
    for u in updates {
        rows += st.live.load_steps_file(&grids, u, "", batch)?.read;
    }
    let up = (!updates.is_empty()).then(|| Timed {
        rows,
        secs: t.elapsed().as_secs_f64(),
    });
    Ok((ev, up))
}

/// SQLite's own floor: `rows` generated events into a new store in `dir`
/// (see `store::floor`), seconds.
fn sqlite_floor(dir: &Path, rows: u64) -> anyhow::Result<f64> {
    let path = dir.join("floor.db");
    let store = crate::store::Store::open(&path)?;
    let t = Instant::now();
    store.insert_generated_events(rows)?;
    Ok(t.elapsed().as_secs_f64())
}

/// DuckDB's copy of the events file: rows and seconds.
fn duckdb(b: &LoadBench, events: &Path, dir: &Path) -> anyhow::Result<Timed> {
    let db = dir.join("duckdb.db");
    let out = Command::new(&b.python)
        .arg(&b.script)
        .arg(events)
        .arg(&db)
        .output()
        .with_context(|| format!("running {} {}", b.python.display(), b.script.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "{}: {}",
        b.script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("{}: not JSON", b.script.display()))?;
    Ok(Timed {
        rows: v["rows"].as_u64().unwrap_or(0),
        secs: v["secs"].as_f64().unwrap_or(f64::NAN),
    })
}

pub fn run(b: &LoadBench) -> anyhow::Result<i32> {
    let events = b.data.join(EVENTS_FILE);
    anyhow::ensure!(events.is_file(), "{}: no such file", events.display());
    let updates: Vec<PathBuf> = UPDATE_FILES
        .iter()
        .map(|n| b.data.join(n))
        .filter(|p| p.is_file())
        .collect();
    let (mut ev, mut up, mut duck, mut floor) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ev_rows, mut up_rows) = (0, 0);
    for rep in 0..b.reps.max(1) {
        let dir = b
            .work
            .join(format!("wangge-bench-load-{}-{rep}", std::process::id()));
        let loaded = load_once(&b.data, &dir, &events, &updates);
        let duck_rep = match (&loaded, b.duckdb) {
            (Ok(_), true) => Some(duckdb(b, &events, &dir)),
            _ => None,
        };
        let floor_rep = match &loaded {
            Ok((e, _)) => Some(sqlite_floor(&dir, e.rows)),
            Err(_) => None,
        };
        std::fs::remove_dir_all(&dir).ok();
        let (e, u) = loaded?;
        let mut line =
            json!({"part": "load", "rep": rep, "events_rows": e.rows, "events_s": e.secs});
        ev_rows = e.rows;
        ev.push(e.secs);
        if let Some(u) = u {
            line["updates_rows"] = json!(u.rows);
            line["updates_s"] = json!(u.secs);
            up_rows = u.rows;
            up.push(u.secs);
        }
        if let Some(f) = floor_rep {
            let f = f?;
            line["sqlite_floor_s"] = json!(f);
            floor.push(f);
        }
        if let Some(d) = duck_rep {
            let d = d?;
            anyhow::ensure!(
                d.rows == e.rows,
                "DuckDB read {} rows of {}, wangge {}",
                d.rows,
                events.display(),
                e.rows
            );
            line["duckdb_s"] = json!(d.secs);
            duck.push(d.secs);
        }
        println!("{line}");
    }
    let rate = |rows: u64, secs: f64| rows as f64 / secs;
    let e = median(ev);
    println!(
        "load: events {ev_rows} rows in {e:.2} s ({:.0} rows/s, median of {})",
        rate(ev_rows, e),
        b.reps.max(1)
    );
    if !up.is_empty() {
        let u = median(up);
        println!(
            "load: case updates {up_rows} rows in {u:.2} s ({:.0} rows/s)",
            rate(up_rows, u)
        );
    }
    if !floor.is_empty() {
        let f = median(floor);
        println!(
            "load: SQLite alone inserting {ev_rows} generated rows into the events table \
             (one statement, same schema and settings) {f:.2} s ({:.0} rows/s): wangge {:.2}x",
            rate(ev_rows, f),
            f / e
        );
    }
    if !duck.is_empty() {
        let d = median(duck);
        println!(
            "load: DuckDB copying the events file {d:.2} s ({:.0} rows/s): wangge {:.2}x",
            rate(ev_rows, d),
            d / e
        );
    }
    Ok(0)
}
