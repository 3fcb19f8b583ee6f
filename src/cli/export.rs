//! `wangge export events|units|metrics`: what an analyst filtered, as
//! GeoParquet, CSV or GeoJSON, with a progress bar; one call into
//! [`crate::export`].

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::*;

use crate::analytics::{compute_metrics, PreAgg, Query};
use crate::export::{self, Format, Output, Progress, Selection, Target};
use crate::grid::load_geojson;

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum What {
    /// One point per event: tier codes, outcome, local date parts.
    Events,
    /// One polygon per unit with its attributes.
    Units,
    /// Every catalogue metric of the units of a tier, with their polygons.
    Metrics,
}

/// `wangge export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// events, units or metrics.
    #[arg(value_enum)]
    what: What,
    /// Joined events (Parquet written by `wangge join`); needed for events and metrics.
    #[arg(long)]
    joined: Option<PathBuf>,
    /// Grid GeoJSON (CONTRACT.md).
    #[arg(long)]
    grids: PathBuf,
    /// Tier of units and metrics (metrics default 1; units default all tiers).
    #[arg(long)]
    level: Option<u8>,
    /// Only under this unit code.
    #[arg(long)]
    parent: Option<String>,
    /// First local date included (YYYY-MM-DD).
    #[arg(long)]
    from: Option<NaiveDate>,
    /// Last local date included (YYYY-MM-DD).
    #[arg(long)]
    to: Option<NaiveDate>,
    /// Kinds kept: issue, incident, visit (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    kind: Vec<String>,
    /// Categories kept (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    category: Vec<String>,
    /// Issue sources kept: patrol, hotline, walk_in, online, other.
    #[arg(long, value_delimiter = ',')]
    source: Vec<String>,
    /// Calendar time zone (IANA name).
    #[arg(long, default_value = "Asia/Shanghai")]
    tz: chrono_tz::Tz,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Geoparquet)]
    format: Format,
    /// Events: write a folder partitioned by local month and township
    /// (`month=2026-03/tier1=130682001/part-0.parquet`).
    #[arg(long)]
    partition: bool,
    /// CSV: start with a UTF-8 byte-order mark, for Excel.
    #[arg(long)]
    bom: bool,
    /// CSV: the catalogue's Chinese labels as headers (问题数, 结案率, ...).
    #[arg(long)]
    zh_headers: bool,
    /// Metrics: blank cells from fewer events than this (5 for sharing outside the analysts).
    #[arg(long)]
    suppress_below: Option<u64>,
    /// Metrics: add each unit's emerging hot-spot category of this count
    /// metric over the window, by month (columns `emerging`,
    /// `emerging_zh`, `emerging_tau`, `emerging_p`; queen contiguity,
    /// the defaults of `wangge emerging`).
    #[arg(long)]
    emerging: Option<String>,
    /// Output file, or folder with --partition.
    #[arg(long)]
    out: PathBuf,
}

/// The emerging hot-spot categories of the count metric `name` over the
/// units of `level` under `parent`.
fn emerging_columns(
    pre: &PreAgg,
    model: &crate::grid::GridModel,
    level: u8,
    parent: Option<&str>,
    name: &str,
    q: &Query,
) -> anyhow::Result<export::metrics::EmergingColumns> {
    let def = crate::analytics::metric(name)?;
    anyhow::ensure!(
        def.is_count,
        "--emerging {name}: emerging hot spots are of a count metric"
    );
    let parent = parent
        .map(|p| {
            model
                .index_of(p)
                .with_context(|| format!("--parent {p}: no such unit"))
        })
        .transpose()?;
    let units: Vec<usize> = model
        .level(level)
        .filter(|&i| model.is_under(i, parent))
        .collect();
    if units.len() < 3 {
        return Ok(Default::default());
    }
    let geoms: Vec<_> = units.iter().map(|&i| &model.unit(i).geometry).collect();
    let w = crate::analytics::queen_contiguity(&geoms, 1.0)?;
    Ok(crate::analytics::emerging::categories(
        pre, model, level, &units, def, q, &w,
    )?)
}

struct Bar(ProgressBar);

impl Progress for Bar {
    fn total(&self, rows: u64) {
        self.0.set_length(rows);
    }
    fn inc(&self, rows: u64) {
        self.0.inc(rows);
    }
}

impl ExportArgs {
    fn query(&self) -> anyhow::Result<Query> {
        super::analytics::cli_query(
            self.from,
            self.to,
            &self.kind,
            &self.category,
            &self.source,
            self.tz,
        )
    }

    fn joined(&self) -> anyhow::Result<&str> {
        let p = self
            .joined
            .as_deref()
            .context("--joined is needed for events and metrics")?;
        p.to_str().context("--joined path is not UTF-8")
    }
}

pub fn run(a: &ExportArgs) -> anyhow::Result<i32> {
    let q = a.query()?;
    let (model, _) =
        load_geojson(&a.grids).with_context(|| format!("loading grids {}", a.grids.display()))?;
    let sel = Selection {
        parent: a.parent.clone(),
        visible: None,
        suppress_below: a.suppress_below,
    };
    if a.partition && a.what != What::Events {
        anyhow::bail!("--partition applies to events only");
    }
    let target = if a.partition {
        Target::Partitioned(a.out.clone())
    } else {
        Target::File(a.out.clone())
    };
    let mut query = vec![(
        "导出 (export)".to_owned(),
        format!("{:?}", a.what).to_lowercase(),
    )];
    for (k, v) in [
        ("上级单元 (parent)", a.parent.clone()),
        ("起始日期 (from)", a.from.map(|d| d.to_string())),
        ("截止日期，不含 (to)", a.to.map(|d| d.to_string())),
    ] {
        if let Some(v) = v {
            query.push((k.to_owned(), v));
        }
    }
    let out = Output {
        format: a.format,
        bom: a.bom,
        target,
        tz: a.tz,
        query,
        zh_headers: a.zh_headers,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} {wide_bar} {human_pos}/{human_len} rows [{elapsed_precise}] {msg}",
    )?);
    bar.set_message(format!("{:?} → {}", a.what, a.out.display()));
    let progress = Bar(bar.clone());
    let t0 = std::time::Instant::now();
    let summary = match a.what {
        What::Events => {
            let lf = LazyFrame::scan_parquet(a.joined()?.into(), ScanArgsParquet::default())?;
            let lf = crate::join::with_missing_columns(lf)?;
            export::events::export(lf, &model, &q, &sel, out, &progress)?
        }
        What::Units => export::units::export(&model, a.level, &sel, out, &progress)?,
        What::Metrics => {
            let pre = PreAgg::from_parquet(a.joined()?, q.zone)?;
            let level = a.level.unwrap_or(1);
            let table = compute_metrics(&pre, &model, level, &q)?;
            let categories = a
                .emerging
                .as_deref()
                .map(|name| emerging_columns(&pre, &model, level, a.parent.as_deref(), name, &q))
                .transpose()?;
            export::metrics::export(&table, &model, &sel, categories.as_ref(), out, &progress)?
        }
    };
    bar.finish_and_clear();
    println!(
        "{} rows in {} file(s) → {} ({:.1} s)",
        summary.rows,
        summary.files.len(),
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(0)
}
