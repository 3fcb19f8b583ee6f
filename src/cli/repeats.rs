//! `wangge repeats`: repeat-complaint points (重复投诉点位) of the issues in a
//! window, printed as a table (largest peak first) with the counts at the
//! assessment levels 3次以上 and 5次以上, or as JSON (one record per
//! cluster). See [`crate::analytics::repeats`].

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use polars::prelude::{LazyFrame, PlRefPath, ScanArgsParquet};

use super::analytics::cli_query;
use crate::analytics::filter::date_of;
use crate::analytics::repeats::{self, RepeatParams};
use crate::grid::load_geojson;

/// `wangge repeats`.
#[derive(Debug, clap::Args)]
pub struct RepeatsArgs {
    /// Joined events (Parquet written by `wangge join`).
    #[arg(long)]
    pub joined: PathBuf,
    /// Grid GeoJSON (CONTRACT.md), for the unit names.
    #[arg(long)]
    pub grids: PathBuf,
    /// Largest distance between two linked issues, metres.
    #[arg(long, default_value_t = repeats::DEFAULT_METERS)]
    pub meters: f64,
    /// Largest time between two linked issues, and the span a point's peak is counted in, days.
    #[arg(long, default_value_t = repeats::DEFAULT_DAYS)]
    pub days: u32,
    /// Issues within one span that make a repeat point.
    #[arg(long, default_value_t = repeats::DEFAULT_MIN)]
    pub min: usize,
    /// First local date included (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last local date included (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Categories kept (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub category: Vec<String>,
    /// Calendar time zone (IANA name).
    #[arg(long, default_value = "Asia/Shanghai")]
    pub tz: String,
    /// Print one JSON record per cluster instead.
    #[arg(long)]
    pub json: bool,
}

/// Repeat-complaint points of the issues in a window.
pub fn run(a: &RepeatsArgs) -> anyhow::Result<()> {
    let tz: chrono_tz::Tz =
        a.tz.parse()
            .map_err(|e| anyhow::anyhow!("--tz {}: {e}", a.tz))?;
    let q = cli_query(a.from, a.to, &[], &a.category, &[], tz)?;
    let params = RepeatParams {
        meters: a.meters,
        days: a.days,
    };
    params.validate()?;
    repeats::validate_min(a.min)?;
    let (gm, _) =
        load_geojson(&a.grids).with_context(|| format!("loading grids {}", a.grids.display()))?;
    let path = a.joined.to_str().context("--joined path is not UTF-8")?;
    let lf = LazyFrame::scan_parquet(PlRefPath::from(path), ScanArgsParquet::default())
        .with_context(|| format!("reading {}", a.joined.display()))?;
    let lf = crate::join::with_missing_columns(lf)?;
    let found = repeats::repeats(lf, &q, &params, a.min)
        .with_context(|| format!("repeat points of {}", a.joined.display()))?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?;
        return Ok(());
    }
    let day = |us: i64| date_of(((us + q.zone.offset_us()).div_euclid(86_400_000_000)) as i32);
    writeln!(
        out,
        "重复投诉点位 Repeat complaint points: same category within {} m and {} days, \
         at least {} in one {}-day span",
        a.meters, a.days, a.min, a.days
    )?;
    for k in repeats::LEVELS {
        let n = found.iter().filter(|c| c.peak >= k).count();
        if k >= a.min {
            writeln!(out, "  {k}次以上 ({k} or more): {n}")?;
        }
    }
    writeln!(
        out,
        "{:<12} {:<20} {:>6} {:>5} {:<10} {:<10} {:>11} {:>10}  name",
        "category", "grid", "count", "peak", "first", "last", "lon", "lat"
    )?;
    for c in &found {
        let code = c.home().unwrap_or("-");
        let name = gm.index_of(code).map_or("", |i| gm.unit(i).name.as_str());
        writeln!(
            out,
            "{:<12} {:<20} {:>6} {:>5} {:<10} {:<10} {:>11.6} {:>10.6}  {}",
            c.category,
            code,
            c.count,
            c.peak,
            day(c.first_us),
            day(c.last_us),
            c.lon,
            c.lat,
            name
        )?;
    }
    Ok(())
}
