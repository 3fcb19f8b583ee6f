//! Files into the database: a grid file becomes a grid version (re-joining
//! stored events when it changed), an events file is validated, joined and
//! stored in batched transactions.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{GridVersion, Located, Result, Store, Stored};
use crate::grid::{parse_geojson, GridError, GridModel, LoadOptions};
use crate::ingest::{read_file, Batch, Event, Validator};
use crate::join::{tier_table, unit_codes, JoinSummary, Locator, Outcome, Strategy};

/// What [`ingest_file`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FileIngest {
    /// Outcome counts; a (kind, id) already stored counts as a rejected duplicate.
    pub summary: JoinSummary,
    /// Events newly stored.
    pub inserted: u64,
    /// Rows that changed a stored case (`updated`), repeated it
    /// (`unchanged`) or were older than it (`stale`); each counts once,
    /// outside the join's matched/partial/outside.
    pub updated: u64,
    pub unchanged: u64,
    pub stale: u64,
}

/// Outcome and owned tier codes of one position: for a case whose
/// position an update moved.
pub fn locate_one(
    model: &GridModel,
    locator: &Locator,
    tiers: &[[u32; 3]],
    x: f64,
    y: f64,
) -> (Outcome, [Option<String>; 3]) {
    let (o, u) = locator.locate_all(&[x], &[y])[0];
    (o, unit_codes(model, tiers, u).map(|c| c.map(str::to_owned)))
}

/// Outcome and tier codes of each event (`Rejected` for non-finite positions).
pub fn locate_events<'m>(
    model: &'m GridModel,
    locator: &Locator,
    tiers: &[[u32; 3]],
    events: &[Event],
) -> Vec<(Outcome, [Option<&'m str>; 3])> {
    let xs: Vec<f64> = events.iter().map(|e| e.lon).collect();
    let ys: Vec<f64> = events.iter().map(|e| e.lat).collect();
    locator
        .locate_all(&xs, &ys)
        .into_iter()
        .map(|(o, u)| (o, unit_codes(model, tiers, u)))
        .collect()
}

fn parse_model(text: &str, path: &Path, checked_before: bool) -> Result<GridModel> {
    let opts = LoadOptions {
        checked_before,
        ..LoadOptions::default()
    };
    let (model, report) = parse_geojson(text, opts).map_err(|reason| GridError::Parse {
        path: path.to_owned(),
        reason,
    })?;
    if report.fatal_count() > 0 {
        return Err(GridError::Rejected {
            path: path.to_owned(),
            report: Box::new(report),
        }
        .into());
    }
    Ok(model)
}

/// The grid model to serve: the file's when it is new (stored as a new
/// version, older versions kept, stored events re-joined), else the active
/// stored version. Without a file, the stored version alone.
pub fn ensure_grids(store: &Store, path: &Path) -> Result<(GridModel, GridVersion)> {
    let active = store.active_grid()?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(source) => {
            return match active {
                Some((v, stored)) => Ok((parse_model(&stored, path, true)?, v)),
                None => Err(GridError::Io {
                    path: path.to_owned(),
                    source,
                }
                .into()),
            }
        }
    };
    let sha = hex::encode(Sha256::digest(text.as_bytes()));
    if let Some((v, stored)) = active {
        if v.sha256 == sha {
            // Stored after its checks: the warnings they give were logged then.
            return Ok((parse_model(&stored, path, true)?, v));
        }
    }
    let model = parse_model(&text, path, false)?;
    let version = store.add_grid_version(
        &sha,
        &path.display().to_string(),
        model.units().len(),
        &text,
    )?;
    rejoin(store, &model, version.id)?;
    Ok((model, version))
}

/// Re-locates every stored event against `model`.
fn rejoin(store: &Store, model: &GridModel, version: i64) -> Result<()> {
    let pos = store.positions()?;
    if pos.is_empty() {
        return Ok(());
    }
    let locator = Locator::for_points(model, Strategy::Cells, pos.len());
    let tiers = tier_table(model);
    let xs: Vec<f64> = pos.iter().map(|p| p.1).collect();
    let ys: Vec<f64> = pos.iter().map(|p| p.2).collect();
    let hits = locator.locate_all(&xs, &ys);
    let rows: Vec<(i64, Outcome, [Option<&str>; 3])> = pos
        .iter()
        .zip(&hits)
        .map(|(p, &(o, u))| (p.0, o, unit_codes(model, &tiers, u)))
        .collect();
    tracing::info!(
        events = rows.len(),
        version,
        "re-joined stored events to the new grid version"
    );
    store.rejoin(version, &rows)
}

/// Reads an events file, joins it and stores it in transactions of
/// `batch_rows` events; `progress` gets the rows read so far.
pub fn ingest_file(
    store: &Store,
    model: &GridModel,
    version: i64,
    path: &Path,
    validator: &Validator<'_>,
    batch_rows: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<FileIngest> {
    let locator = Locator::new(model, Strategy::Cells);
    let tiers = tier_table(model);
    let mut out = FileIngest::default();
    let mut failure = None;
    let writer = format!(
        "file:{}",
        path.file_name().map_or(path.display().to_string(), |n| n
            .to_string_lossy()
            .into_owned())
    );
    let read = read_file(path, None, validator, &mut |batch: Batch| {
        let s = &mut out.summary;
        s.read += batch.read;
        s.rejected += batch.rejects.len() as u64;
        let located = locate_events(model, &locator, &tiers, &batch.events);
        for (events, hits) in batch
            .events
            .chunks(batch_rows.max(1))
            .zip(located.chunks(batch_rows.max(1)))
        {
            let rows: Vec<Located<'_>> = events
                .iter()
                .zip(hits)
                .map(|(e, &(outcome, tiers))| Located {
                    event: e,
                    outcome,
                    tiers,
                })
                .collect();
            let locate = |x: f64, y: f64| locate_one(model, &locator, &tiers, x, y);
            let applied = match store.apply_events(version, &rows, &locate, &writer) {
                Ok(i) => i,
                Err(e) => {
                    failure = Some(e);
                    return Err(crate::ingest::IngestError::Output(
                        "database write failed".into(),
                    ));
                }
            };
            for (r, a) in rows.iter().zip(applied) {
                match a.stored {
                    Stored::New => {}
                    Stored::Updated => {
                        out.updated += 1;
                        continue;
                    }
                    Stored::Unchanged => {
                        out.unchanged += 1;
                        continue;
                    }
                    Stored::Stale | Stored::Pending => {
                        out.stale += 1;
                        continue;
                    }
                    Stored::Conflict(_) => {
                        s.rejected += 1;
                        s.duplicates += 1;
                        continue;
                    }
                }
                out.inserted += 1;
                match r.outcome {
                    Outcome::Matched => s.matched += 1,
                    Outcome::Partial => s.partial += 1,
                    Outcome::Outside => s.outside += 1,
                    Outcome::Rejected => s.rejected += 1,
                }
            }
        }
        progress(s.read);
        Ok(())
    });
    if let Err(e) = read {
        return Err(failure.unwrap_or(e.into()));
    }
    Ok(out)
}

/// What [`ingest_updates_file`] did: every row read ends in one count.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct UpdatesIngest {
    pub read: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub stale: u64,
    pub pending: u64,
    pub rejected: u64,
}

impl UpdatesIngest {
    /// True when every row read has exactly one outcome.
    pub fn balanced(&self) -> bool {
        self.read == self.updated + self.unchanged + self.stale + self.pending + self.rejected
    }
}

/// Reads a file of transition rows and applies it in transactions of
/// `batch_rows` rows (rejected rows are logged with file, row and reason).
pub fn ingest_updates_file(
    store: &Store,
    model: &GridModel,
    version: i64,
    path: &Path,
    validator: &Validator<'_>,
    batch_rows: usize,
) -> Result<UpdatesIngest> {
    let locator = Locator::new(model, Strategy::Cells);
    let tiers = tier_table(model);
    let (steps, rejects) = crate::ingest::read_updates(path, validator)?;
    let mut out = UpdatesIngest {
        read: (steps.len() + rejects.len()) as u64,
        rejected: rejects.len() as u64,
        ..UpdatesIngest::default()
    };
    for r in rejects.iter().take(20) {
        tracing::warn!(file = %r.file, row = r.row, column = %r.column, reason = %r.reason, "update row rejected");
    }
    let locate = |x: f64, y: f64| locate_one(model, &locator, &tiers, x, y);
    let steps: Vec<crate::ingest::Step> = steps.into_iter().map(|(_, s)| s).collect();
    for chunk in steps.chunks(batch_rows.max(1)) {
        for (a, s) in store
            .apply_updates(version, chunk, &locate)?
            .into_iter()
            .zip(chunk)
        {
            match a.stored {
                Stored::Updated | Stored::New => out.updated += 1,
                Stored::Unchanged => out.unchanged += 1,
                Stored::Stale => out.stale += 1,
                Stored::Pending => out.pending += 1,
                Stored::Conflict(reason) => {
                    out.rejected += 1;
                    tracing::warn!(file = %path.display(), issue = %s.issue_id, update = %s.update_id, %reason, "update rejected");
                }
            }
        }
    }
    Ok(out)
}
