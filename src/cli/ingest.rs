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

/// Whether `path` holds transition rows rather than events, by its
/// column names (header, JSON keys or Parquet schema): events when they
/// give every column an event requires, else transition rows when they
/// give every column a step requires (aliases included: `诉求编号`,
/// `service_request_id`), else events (whose load names what is missing).
fn is_updates(path: &std::path::Path) -> anyhow::Result<bool> {
    use crate::ingest::{column_of, file_columns, update_column_of, Format, UCol, REQUIRED};
    Format::of(path)?;
    // A JSON file: the keys of its first object.
    let names = file_columns(path, None, 1);
    let gives = |column_of: fn(&str) -> Option<usize>, c: usize| {
        names.iter().any(|n| column_of(n) == Some(c))
    };
    let events = REQUIRED.iter().all(|&c| gives(column_of, c as usize));
    let steps = [UCol::IssueId, UCol::UpdateId, UCol::At, UCol::Status]
        .iter()
        .all(|&c| gives(update_column_of, c as usize));
    Ok(!events && steps)
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

#[cfg(test)]
mod tests {
    use super::is_updates;

    /// Files are told apart by the columns they give, not by a word in
    /// their first line: an event file with a `parent_issue_id` column was
    /// loaded as steps, steps headed `诉求编号` or `service_request_id` as
    /// events, and a GBK header cut inside a character as neither.
    #[test]
    fn event_and_step_files_are_told_apart_by_their_columns() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8], bool); 7] = [
            (
                "events.csv",
                b"id,kind,occurred_at,lon,lat,category,parent_issue_id\n",
                false,
            ),
            (
                "alias.csv",
                "诉求编号,环节编号,操作时间,状态\n".as_bytes(),
                true,
            ),
            ("sr.csv", b"service_request_id,update_id,at,status\n", true),
            (
                "steps.jsonl",
                br#"{"issue_id":"A","update_id":"u1","at":"2026-03-01 08:00","status":"accepted"}"#,
                true,
            ),
            (
                "events.jsonl",
                br#"{"id":"A","kind":"incident","occurred_at":"2026-03-01 08:00","lon":115,"lat":38.5,"category":"x"}"#,
                false,
            ),
            // 工单编号,环节编号,操作时间,状态 in GBK.
            (
                "gbk.csv",
                b"\xB9\xA4\xB5\xA5\xB1\xE0\xBA\xC5,\xBB\xB7\xBD\xDA\xB1\xE0\xBA\xC5,\xB2\xD9\xD7\xF7\xCA\xB1\xBC\xE4,\xD7\xB4\xCC\xAC\n",
                true,
            ),
            (
                "steps.json",
                b" [\n  {\"issue_id\":\"A\",\"update_id\":\"u1\",\"at\":\"2026-03-01 08:00\",\"status\":\"accepted\"},\n  {\"issue_id\":\"A\"",
                true,
            ),
        ];
        for (name, head, updates) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, head).unwrap();
            assert_eq!(is_updates(&path).unwrap(), updates, "{name}");
        }
    }
}
