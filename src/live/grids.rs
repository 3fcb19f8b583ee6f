//! The grid model being served and the one place a position becomes a
//! unit: [`Grids::locate`] (many positions), [`Grids::locate_one`] and
//! [`Grids::codes`] (a hit's tier codes).
//!
//! A grid file becomes a stored grid version here ([`ensure_grids`]),
//! re-joining the stored events when it changed.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::columns::Outcome;
use crate::grid::{parse_checked, GridError, GridModel, LoadOptions};
use crate::ingest::Event;
use crate::join::{tier_table, unit_codes, Locator, Strategy, TierCodes};
use crate::store::{GridVersion, Store};

/// The grid model of the active version and what locating needs.
pub struct Grids {
    pub model: GridModel,
    pub version: GridVersion,
    pub locator: Locator,
    pub tiers: Vec<[u32; 3]>,
    /// The tiers' codes in the frame's categoricals, per unit.
    pub tier_codes: TierCodes,
}

impl Grids {
    pub fn new(model: GridModel, version: GridVersion) -> super::Result<Grids> {
        let locator = Locator::new(&model, Strategy::Cells);
        let tiers = tier_table(&model);
        let tier_codes = TierCodes::new(&model, &tiers, crate::columns::Coding::Frame)?;
        Ok(Grids {
            model,
            version,
            locator,
            tiers,
            tier_codes,
        })
    }

    /// Outcome and unit (an index, `join::NONE` for none) of each position.
    pub fn locate(&self, xs: &[f64], ys: &[f64]) -> Vec<(Outcome, u32)> {
        self.locator.locate_all(xs, ys)
    }

    /// Outcome and unit of each event's position.
    pub fn locate_events(&self, events: &[Event]) -> Vec<(Outcome, u32)> {
        let xs: Vec<f64> = events.iter().map(|e| e.lon).collect();
        let ys: Vec<f64> = events.iter().map(|e| e.lat).collect();
        self.locate(&xs, &ys)
    }

    /// The tier codes of a located unit.
    pub fn codes(&self, u: u32) -> [Option<&str>; 3] {
        unit_codes(&self.model, &self.tiers, u)
    }

    /// Outcome and owned tier codes of one position: for a case whose
    /// position an update moved.
    pub fn locate_one(&self, x: f64, y: f64) -> (Outcome, [Option<String>; 3]) {
        let (o, u) = self.locate(&[x], &[y])[0];
        (o, self.codes(u).map(|c| c.map(str::to_owned)))
    }
}

fn parse_model(text: &str, path: &Path, checked_before: bool) -> super::Result<GridModel> {
    let opts = LoadOptions {
        checked_before,
        ..LoadOptions::default()
    };
    let (model, report) = parse_checked(text, path, opts)?;
    // A new file's warnings (what `wangge check` reports), in the log
    // once, when it is stored: households not counted, slivers, gaps.
    for f in report
        .findings
        .iter()
        .filter(|f| f.severity == crate::grid::Severity::Warning)
    {
        tracing::warn!(file = %path.display(), "grid file: {f}");
    }
    Ok(model)
}

/// The grid model to serve: the file's when it is new (stored as a new
/// version, older versions kept, stored events re-joined), else the active
/// stored version. Without a file, the stored version alone.
pub fn ensure_grids(store: &Store, path: &Path) -> super::Result<(GridModel, GridVersion)> {
    scrub_stored_grids(store, path)?;
    let active = store.active_grid()?;
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(source) => {
            return match active {
                Some((v, stored)) => Ok((parse_model(&stored, path, true)?, v)),
                None => Err(GridError::Io {
                    path: path.to_owned(),
                    cause: source,
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
        &stored(&text, path)?,
    )?;
    rejoin(store, &model, version.id)?;
    Ok((model, version))
}

/// The copy of a grid file the database keeps ([`crate::grid::stored_copy`]).
fn stored(text: &str, path: &Path) -> super::Result<String> {
    crate::grid::stored_copy(text).map_err(|reason| {
        GridError::Parse {
            path: path.to_owned(),
            reason,
        }
        .into()
    })
}

/// Grid versions stored whole by an older release, grid chiefs' names and
/// all, are kept as [`stored`] keeps new ones: once, marked done in the
/// database, so a start does not read every stored version again.
fn scrub_stored_grids(store: &Store, path: &Path) -> super::Result<()> {
    const DONE: &str = "grid_versions_cut";
    if store.meta(DONE)?.is_some() {
        return Ok(());
    }
    for (id, text) in store.grid_texts()? {
        let kept = stored(&text, path)?;
        if kept != text {
            store.set_grid_text(id, &kept)?;
            tracing::warn!(
                version = id,
                "stored grid version: the grid chiefs' names and the properties nothing reads removed"
            );
        }
    }
    store.set_meta(DONE, "1")?;
    Ok(())
}

/// Re-locates every stored event against `model`.
fn rejoin(store: &Store, model: &GridModel, version: i64) -> super::Result<()> {
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
    Ok(store.rejoin(version, &rows)?)
}
