//! `wangge emerging`: emerging hot spots of a count metric over a tier,
//! printed as a table with zh-CN and English category names, or as JSON
//! (one record per unit).

use std::io::Write;

use anyhow::Context;

use super::analytics::{granularity, Common};
use crate::analytics::emerging::{self, Category, Params, Rules};
use crate::analytics::metric;

/// `wangge emerging`.
#[derive(Debug, clap::Args)]
pub struct EmergingArgs {
    #[command(flatten)]
    pub common: Common,
    /// Count metric of the cube (issue_count, incident_count, event_count, ...).
    #[arg(long)]
    pub metric: String,
    /// Period of the cube: day, week (ISO) or month.
    #[arg(long, default_value = "month")]
    pub granularity: String,
    /// Previous periods in each bin's neighbourhood.
    #[arg(long, default_value_t = emerging::DEFAULT_LAG)]
    pub lag: usize,
    /// Classification rules: sfdep (R sfdep's code) or arcgis (the published wording).
    #[arg(long, default_value = "sfdep")]
    pub rules: String,
    /// Permutations for pseudo p-values (0 = analytic p).
    #[arg(long, default_value_t = emerging::DEFAULT_PERMUTATIONS)]
    pub permutations: usize,
    /// Seed of the permutations.
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Significance level of bins and trends.
    #[arg(long, default_value_t = emerging::DEFAULT_ALPHA)]
    pub alpha: f64,
    /// Judge bins by their Benjamini-Hochberg q (false-discovery rate) instead of p.
    #[arg(long)]
    pub fdr: bool,
    /// Contiguity tolerance in metres (slivers and hairline gaps).
    #[arg(long, default_value_t = 1.0)]
    pub tolerance_m: f64,
    /// Print one JSON record per unit instead.
    #[arg(long)]
    pub json: bool,
}

/// Emerging hot spots of one count metric over a tier.
pub fn run(a: &EmergingArgs) -> anyhow::Result<()> {
    let def = metric(&a.metric)?;
    let g = granularity(&a.granularity)?;
    let rules: Rules = a.rules.parse().map_err(|e| anyhow::anyhow!("--{e}"))?;
    let params = Params {
        lag: a.lag,
        permutations: a.permutations,
        seed: a.seed,
        alpha: a.alpha,
        fdr: a.fdr,
        rules,
    };
    let (gm, pre, q) = a.common.load()?;
    let units: Vec<usize> = gm.level(a.common.level).collect();
    let geoms: Vec<_> = units.iter().map(|&i| &gm.unit(i).geometry).collect();
    let w = crate::analytics::queen_contiguity(&geoms, a.tolerance_m)?;
    let report = emerging::run(&pre, &gm, a.common.level, &units, def, &q, g, &w, params)
        .context("emerging hot spots")?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report.units)?)?;
        return Ok(());
    }
    let periods = &report.periods;
    writeln!(
        out,
        "{}  {}: {} periods {} .. {}, lag {}, {} rules, {}",
        def.label(),
        def.en,
        periods.len(),
        periods.first().map_or("", |p| p.label.as_str()),
        periods.last().map_or("", |p| p.label.as_str()),
        a.lag,
        a.rules,
        if a.permutations > 0 {
            format!("{} permutations", a.permutations)
        } else {
            "analytic p".into()
        }
    )?;
    writeln!(
        out,
        "{:<18} {:<16} {:<10} {:<24} {:>7} {:>8} {:>5}",
        "code", "name", "类别", "category", "tau", "p", "hot"
    )?;
    for u in &report.units {
        let name = gm
            .index_of(&u.code)
            .map_or("", |i| gm.unit(i).name.as_str());
        let hot = u
            .significant
            .iter()
            .zip(&u.z)
            .filter(|(&s, &z)| s && z > 0.0)
            .count();
        writeln!(
            out,
            "{:<18} {:<16} {:<10} {:<24} {:>7.3} {:>8.4} {:>5}",
            u.code,
            name,
            u.category.zh(),
            u.category.en(),
            u.tau,
            u.p,
            hot
        )?;
    }
    writeln!(out)?;
    for c in Category::ALL {
        let n = report.units.iter().filter(|u| u.category == c).count();
        if n > 0 {
            writeln!(out, "{:<10} {:<24} {n}", c.zh(), c.en())?;
        }
    }
    if !report.islands.is_empty() {
        writeln!(
            out,
            "islands (no neighbours): {}",
            report.islands.join(", ")
        )?;
    }
    Ok(())
}
