//! `wangge stats`, `hotspots`, `rank`, `alerts`: the analytics from the
//! command line, printed as readable tables (zh-CN label with the English
//! metric name) or written as Parquet/JSON.
//!
//! Every command reads the joined Parquet written by `wangge join` and the
//! grid GeoJSON, pre-aggregates once, and makes one call into
//! [`crate::analytics`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::io::Write;

use anyhow::Context;
use chrono::NaiveDate;
use polars::prelude::*;

use crate::analytics::catalogue::MetricUnit;
use crate::analytics::{
    self, catalogue, metric, AlertParams, PreAgg, Query, RankParams, ScoreConfig, Smoothing,
    TailModel, TierHotspots, Weights, Zone,
};
use crate::grid::{load_geojson, GridModel};

/// Inputs and filters shared by the analytics commands.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Joined events (Parquet written by `wangge join`).
    #[arg(long)]
    pub joined: PathBuf,
    /// Grid GeoJSON (CONTRACT.md).
    #[arg(long)]
    pub grids: PathBuf,
    /// Tier: 1 township/street, 2 village/community, 3 grid (0 = county root).
    #[arg(long, default_value_t = 1)]
    pub level: u8,
    /// First local date included (YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last local date included (YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// Kinds kept: issue, incident, visit (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub kind: Vec<String>,
    /// Categories kept (repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub category: Vec<String>,
    /// Issue sources kept: patrol, hotline, walk_in, online, other.
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<String>,
    /// Calendar time zone (IANA name).
    #[arg(long, default_value = "Asia/Shanghai")]
    pub tz: String,
}

/// The query of the command-line filters: `--to` names the last day
/// included, the query's `to` the first day excluded.
pub(super) fn cli_query(
    from: Option<NaiveDate>,
    last: Option<NaiveDate>,
    kinds: &[String],
    categories: &[String],
    sources: &[String],
    tz: chrono_tz::Tz,
) -> anyhow::Result<Query> {
    let to = last
        .map(|t| t.succ_opt().context("--to is the last representable date"))
        .transpose()?;
    let q = Query {
        from,
        to,
        kinds: kinds.to_vec(),
        categories: categories.to_vec(),
        sources: sources.to_vec(),
        zone: Zone { tz },
    };
    q.validate()?;
    Ok(q)
}

impl Common {
    fn query(&self) -> anyhow::Result<Query> {
        let tz: chrono_tz::Tz = self
            .tz
            .parse()
            .map_err(|e| anyhow::anyhow!("--tz {}: {e}", self.tz))?;
        cli_query(
            self.from,
            self.to,
            &self.kind,
            &self.category,
            &self.source,
            tz,
        )
    }

    pub(super) fn load(&self) -> anyhow::Result<(GridModel, PreAgg, Query)> {
        let q = self.query()?;
        let (gm, _report) = load_geojson(&self.grids)
            .with_context(|| format!("loading grids {}", self.grids.display()))?;
        let path = self.joined.to_str().context("--joined path is not UTF-8")?;
        let pre = PreAgg::from_parquet(path, q.zone)
            .with_context(|| format!("reading {}", self.joined.display()))?;
        Ok((gm, pre, q))
    }
}

/// `wangge stats`.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Metrics to print (repeat or comma-separate; default: a summary set). `--metric list` lists them.
    #[arg(long, value_delimiter = ',')]
    pub metric: Vec<String>,
    /// Write every metric and change column to this Parquet file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print the table as JSON instead.
    #[arg(long)]
    pub json: bool,
    /// Also print the 考核得分 with this TOML weights file ("default" for the built-in weights).
    #[arg(long)]
    pub score: Option<String>,
}

/// `wangge hotspots`.
#[derive(Debug, clap::Args)]
pub struct HotspotsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Metric analysed.
    #[arg(long, default_value = "event_density")]
    pub metric: String,
    /// Contiguity tolerance in metres (slivers and hairline gaps).
    #[arg(long, default_value_t = 1.0)]
    pub tolerance_m: f64,
    /// Use a centroid distance band of this many metres instead of contiguity.
    #[arg(long)]
    pub band_m: Option<f64>,
    /// Permutations for pseudo p-values (0 = none).
    #[arg(long, default_value_t = 999)]
    pub permutations: usize,
    /// Seed of the permutations.
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// False-discovery rate for hot/cold classes.
    #[arg(long, default_value_t = 0.05)]
    pub fdr: f64,
    /// Print the full report as JSON (values, weights and statistics).
    #[arg(long)]
    pub json: bool,
}

/// `wangge rank`.
#[derive(Debug, clap::Args)]
pub struct RankArgs {
    #[command(flatten)]
    pub common: Common,
    /// Metric ranked.
    #[arg(long)]
    pub metric: String,
    /// Rank the children of this unit (default: the townships).
    #[arg(long)]
    pub parent: Option<String>,
    /// Smallest rate denominator to be ranked.
    #[arg(long, default_value_t = 10.0)]
    pub min_volume: f64,
    /// Rank a count metric as it is, not per 1,000 households.
    #[arg(long)]
    pub as_is: bool,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `wangge alerts`.
#[derive(Debug, clap::Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Period: day, week (ISO) or month.
    #[arg(long, default_value = "week")]
    pub granularity: String,
    /// Trailing periods in the baseline.
    #[arg(long, default_value_t = 8)]
    pub baseline: u32,
    /// Alert when P(X ≥ observed) is below this.
    #[arg(long, default_value_t = 0.001)]
    pub threshold: f64,
    /// Alert only from this many events.
    #[arg(long, default_value_t = 3)]
    pub min_count: u64,
    /// Tail model: poisson, or negbin (negative binomial for bursty baselines).
    #[arg(long, default_value = "poisson")]
    pub model: String,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

const SUMMARY: [&str; 10] = [
    "issue_count",
    "incident_count",
    "visit_count",
    "resolution_rate",
    "on_time_rate",
    "satisfaction_rate",
    "clearance_rate",
    "visit_coverage",
    "discovery_rate",
    "backlog_open",
];

fn fmt_value(unit: analytics::MetricUnit, v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(v) if unit == analytics::MetricUnit::Ratio => format!("{:.1}%", v * 100.0),
        Some(v) if unit == analytics::MetricUnit::Count => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
    }
}

fn print_catalogue() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{:<30} {:<24} English", "name", "名称")?;
    for m in catalogue() {
        writeln!(out, "{:<30} {:<24} {}", m.name, m.zh, m.en)?;
        writeln!(out, "{:<30} = {}", "", m.formula)?;
    }
    Ok(())
}

/// Prints (and optionally writes) the metric table of a tier.
pub fn stats(a: &StatsArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if a.metric.iter().any(|m| m == "list") {
        return Ok(print_catalogue()?);
    }
    let names: Vec<&str> = if a.metric.is_empty() {
        SUMMARY.to_vec()
    } else {
        a.metric.iter().map(String::as_str).collect()
    };
    let defs = names
        .iter()
        .map(|n| metric(n))
        .collect::<Result<Vec<_>, _>>()?;
    let (gm, pre, q) = a.common.load()?;
    let table = analytics::compute_metrics(&pre, &gm, a.common.level, &q)?;
    if let Some(out) = &a.out {
        let mut df = table.to_dataframe()?;
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        ParquetWriter::new(file).finish(&mut df)?;
        eprintln!("wrote {} rows to {}", df.height(), out.display());
    }
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&table)?)?;
        return Ok(());
    }
    for d in &defs {
        writeln!(out, "{}  {}", d.label(), d.en)?;
    }
    write!(out, "{:<18} {:<16}", "code", "name")?;
    for d in &defs {
        write!(out, " {:>14}", d.name.chars().take(14).collect::<String>())?;
    }
    writeln!(out)?;
    for row in &table.rows {
        write!(out, "{:<18} {:<16}", row.code, row.name)?;
        for d in &defs {
            write!(out, " {:>14}", fmt_value(d.unit, row.value(d.name)))?;
        }
        writeln!(out)?;
    }
    if let Some(cfg) = &a.score {
        let cfg = if cfg == "default" {
            ScoreConfig::default()
        } else {
            ScoreConfig::load(Path::new(cfg))?
        };
        writeln!(out, "\n考核得分 (score, 0-100)")?;
        for s in analytics::assess(&table, &cfg)? {
            let parts: Vec<String> = s
                .components
                .iter()
                .map(|c| format!("{} {:.1}/{:.1}", c.zh, c.points, c.max_points))
                .collect();
            writeln!(
                out,
                "{:<18} {:<16} {:>6.1}  {}",
                s.code,
                s.name,
                s.total,
                parts.join("  ")
            )?;
        }
    }
    Ok(())
}

/// Global and local spatial statistics of one metric over a tier.
pub fn hotspots(a: &HotspotsArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let def = metric(&a.metric)?;
    let (gm, pre, q) = a.common.load()?;
    let weights = |units: &[usize]| -> anyhow::Result<Arc<Weights>> {
        let geoms: Vec<_> = units.iter().map(|&i| &gm.unit(i).geometry).collect();
        Ok(Arc::new(match a.band_m {
            Some(b) => analytics::distance_band(&geoms, b)?,
            None => analytics::queen_contiguity(&geoms, a.tolerance_m)?,
        }))
    };
    let params = analytics::HotspotParams {
        permutations: a.permutations,
        seed: a.seed,
        fdr: a.fdr,
    };
    let found = analytics::tier_hotspots(
        &pre,
        &gm,
        a.common.level,
        def,
        &q,
        &|_| true,
        &weights,
        params,
    )?;
    // Units without a value cannot take part: listed, not imputed.
    let TierHotspots {
        codes,
        values: y,
        no_data,
        weights: w,
        report,
    } = found.map_err(|e| anyhow::anyhow!("{e}"))?;
    if a.json {
        let doc = serde_json::json!({
            "metric": def.name,
            "level": a.common.level,
            "codes": codes,
            "values": y,
            "neighbours": w.neighbours,
            "no_data": no_data,
            "report": report,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    let m = &report.moran;
    writeln!(out, "{}  {}", def.label(), def.en)?;
    writeln!(out,
        "Moran's I = {:.4} (E = {:.4}), z_norm = {:.3}, p_norm = {:.4}, z_rand = {:.3}, p_rand = {:.4}, p_sim = {}",
        m.i,
        m.expected,
        m.z_norm,
        m.p_norm,
        m.z_rand,
        m.p_rand,
        m.p_sim.map_or("—".into(), |p| format!("{p:.4}"))
    )?;
    writeln!(
        out,
        "{:<18} {:>12} {:>8} {:>8} {:>8} {:>4} {:>8}",
        "code", "value", "Gi* z", "q (FDR)", "class", "LISA", "p_sim"
    )?;
    for u in &report.units {
        writeln!(
            out,
            "{:<18} {:>12.3} {:>8.3} {:>8.4} {:>8} {:>4} {:>8}",
            u.code,
            u.value,
            u.gi.z,
            u.gi_q,
            format!("{:?}", u.class),
            format!("{:?}", u.local.quadrant),
            u.local.p_sim.map_or("—".into(), |p| format!("{p:.3}"))
        )?;
    }
    if !report.islands.is_empty() {
        writeln!(
            out,
            "islands (no neighbours): {}",
            report.islands.join(", ")
        )?;
    }
    if !no_data.is_empty() {
        writeln!(out, "no data: {}", no_data.join(", "))?;
    }
    Ok(())
}

/// League table of the children of a unit.
pub fn rank(a: &RankArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let def = metric(&a.metric)?;
    let (gm, pre, q) = a.common.load()?;
    let params = RankParams {
        min_volume: a.min_volume,
        per_households: !a.as_is,
        ..Default::default()
    };
    let r = analytics::rank_children(&pre, &gm, a.parent.as_deref(), def.name, &q, params)?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{}  {}  (parent: {})",
        def.label(),
        def.en,
        a.parent.as_deref().unwrap_or("—")
    )?;
    if r.basis == analytics::Basis::Per1000Households {
        writeln!(
            out,
            "(ranked per 1,000 households: 每千户; --as-is ranks the count itself)"
        )?;
    }
    if r.indistinguishable {
        writeln!(out, "(rates indistinguishable from the pooled rate: order reflects strength of evidence only)")?;
    }
    let volume = if r.smoothing == Smoothing::PoissonGamma {
        "exposure"
    } else {
        "n"
    };
    writeln!(
        out,
        "{:>4} {:>5} {:<18} {:<16} {:>10} {:>10} {:>17} {:>10}",
        "rank", "Δ", "code", "name", "value", volume, "95% CI", "EB"
    )?;
    let pct = r.smoothing == Smoothing::BetaBinomial;
    let show = |v: f64| {
        if pct {
            format!("{:.1}%", v * 100.0)
        } else {
            format!("{v:.2}")
        }
    };
    for row in &r.rows {
        let ci = row.interval.map_or("—".into(), |(lo, hi)| {
            format!("{}-{}", show(lo), show(hi))
        });
        writeln!(
            out,
            "{:>4} {:>5} {:<18} {:<16} {:>10} {:>10} {:>17} {:>10}{}",
            row.rank.map_or("—".into(), |r| r.to_string()),
            row.rank_change.map_or("".into(), |c| format!("{c:+}")),
            row.code,
            row.name,
            fmt_value(
                if r.basis == analytics::Basis::Per1000Households {
                    MetricUnit::Per1000Households
                } else {
                    def.unit
                },
                row.value
            ),
            row.ratio.map_or("".into(), |r| if pct {
                format!("{:.0}", r.den)
            } else {
                format!("{:.2}", r.den)
            }),
            ci,
            row.smoothed.map_or("".into(), show),
            row.note.map_or(String::new(), |n| format!("  ({n})"))
        )?;
    }
    Ok(())
}

/// Spike alerts (预警) for the units of a tier.
pub fn alerts(a: &AlertsArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let granularity = granularity(&a.granularity)?;
    let (gm, pre, q) = a.common.load()?;
    let model = match a.model.as_str() {
        "poisson" => TailModel::Poisson,
        "negbin" => TailModel::NegativeBinomial,
        other => anyhow::bail!("--model {other}: use poisson or negbin"),
    };
    let params = AlertParams {
        granularity,
        baseline_periods: a.baseline,
        threshold: a.threshold,
        min_count: a.min_count,
        model,
    };
    let list = analytics::alerts(&pre, &gm, a.common.level, &q, params)?;
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "预警 (alerts): P(X ≥ observed | {}(expected)) < {}",
        a.model, a.threshold
    )?;
    writeln!(
        out,
        "{:<18} {:<16} {:<10} {:>8} {:>9} {:>12}",
        "code", "name", "period", "observed", "expected", "probability"
    )?;
    for al in &list {
        writeln!(
            out,
            "{:<18} {:<16} {:<10} {:>8} {:>9.2} {:>12.3e}",
            al.code, al.name, al.period, al.observed, al.expected, al.probability
        )?;
    }
    if list.is_empty() {
        writeln!(out, "(none)")?;
    }
    Ok(())
}

/// Parses a granularity name.
pub(super) fn granularity(s: &str) -> anyhow::Result<crate::analytics::Granularity> {
    s.parse().map_err(|e| anyhow::anyhow!("--granularity {e}"))
}
