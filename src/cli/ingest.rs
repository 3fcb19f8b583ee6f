//! `wangge ingest --data DIR FILE...`: adds event files and case-update
//! files to a deployment's store, with the same pipeline as start-up.
//!
//! A file whose header (or first JSON object) names `issue_id` holds
//! transition rows; any other holds events. A running service sees the
//! rows at its next start (its frame snapshot no longer matches).

use std::path::PathBuf;

use clap::Args;

use crate::api::{AppState, Config, Grids};
use crate::ingest::privacy::KeyedHasher;
use crate::live::ensure_grids;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Data directory of the deployment (its database and grids).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Config file (TOML), which must exist; without it, `wangge.toml`
    /// when the working directory has one, else every key's default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The upstream system the files come from (`12345`, `szcg`): their
    /// ids live in that system's id space, as for an account added with
    /// `wangge user add --system`. Default: the county's own id space,
    /// that of the data directory's files.
    #[arg(long, default_value = "")]
    pub system: String,
    /// Event or update files (CSV, JSON Lines; events also Parquet).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Whether `path` holds transition rows rather than events.
fn is_updates(path: &std::path::Path) -> anyhow::Result<bool> {
    use std::io::Read;
    if matches!(
        crate::ingest::Format::of(path)?,
        crate::ingest::Format::Parquet
    ) {
        use polars::prelude::*;
        let p = path.to_str().unwrap_or_default();
        let schema = LazyFrame::scan_parquet(PlRefPath::from(p), ScanArgsParquet::default())
            .and_then(|mut l| l.collect_schema())
            .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
        return Ok(schema.iter_names().any(|n| {
            crate::ingest::update_column_of(n) == Some(crate::ingest::UCol::IssueId as usize)
        }));
    }
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let text = crate::ingest::encoding::decode(&head[..n], None)
        .map(|(t, _)| t.into_owned())
        .unwrap_or_default();
    let first = text.lines().next().unwrap_or("");
    Ok(first.contains("issue_id") || first.contains("工单编号") || first.contains("案件编号"))
}

/// The deployment `cfg` describes, ready for file loads: its state (the
/// store opened), its active grids (loaded from the data directory's grid
/// file when the store has none) and the rows per transaction.
pub(crate) fn deployment(cfg: Config) -> anyhow::Result<(AppState, Grids, usize)> {
    let store = std::sync::Arc::new(Store::open(&cfg.database())?);
    let (model, version) = ensure_grids(&store, &cfg.storage.data.join("grids.geojson"))?;
    let hasher = KeyedHasher::from_env_or_file(&cfg.secret())?;
    let batch = cfg.ingest.batch_rows;
    Ok((
        AppState::new(cfg, store, hasher),
        Grids::new(model, version)?,
        batch,
    ))
}

pub fn run(a: &IngestArgs) -> anyhow::Result<i32> {
    let file = super::serve::config_file(a.config.as_ref())?;
    let cfg: Config = super::serve::config(file.as_deref(), a.data.as_ref(), None)?;
    if let Some(p) = (!a.system.is_empty())
        .then(|| crate::store::system_problem(&a.system))
        .flatten()
    {
        anyhow::bail!("--system: {p}");
    }
    // Held to the end: a running server would not see what is loaded.
    let _claim = crate::store::Claim::take(&cfg.database(), "ingest")?;
    let (st, grids, batch) = deployment(cfg)?;
    for f in &a.files {
        if is_updates(f)? {
            let o = st.live.load_steps_file(&grids, f, &a.system, batch)?;
            println!(
                "{}: {} rows read: {} updated, {} unchanged, {} stale, {} pending, {} rejected",
                f.display(),
                o.read,
                o.updated,
                o.unchanged,
                o.stale,
                o.pending,
                o.rejected
            );
        } else {
            let o = st.live.load_events_file(&grids, f, &a.system, batch)?;
            println!(
                "{}: {} rows read: {} new ({} matched, {} partial, {} outside), {} updated, {} unchanged, {} stale, {} rejected",
                f.display(),
                o.read,
                o.inserted(),
                o.matched,
                o.partial,
                o.outside,
                o.updated,
                o.unchanged,
                o.stale,
                o.rejected
            );
        }
    }
    Ok(0)
}
