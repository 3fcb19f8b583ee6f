//! Grid versions: every grid file ever loaded, the newest one active.
//!
//! The GeoJSON text is stored whole, so a deployment can answer "which
//! boundaries were these numbers computed on" long after the file is gone,
//! and so the server starts from the database even without the file.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;

use super::{now_us, Result, Store};

/// One loaded grid file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GridVersion {
    /// Row id; events carry the version they were joined against.
    pub id: i64,
    /// SHA-256 of the file's bytes, hex.
    pub sha256: String,
    /// Path the file was loaded from.
    pub source: String,
    /// When it was loaded, µs UTC.
    pub loaded_at: i64,
    /// Units in the file.
    pub units: i64,
}

fn version(r: &rusqlite::Row<'_>) -> rusqlite::Result<GridVersion> {
    Ok(GridVersion {
        id: r.get(0)?,
        sha256: r.get(1)?,
        source: r.get(2)?,
        loaded_at: r.get(3)?,
        units: r.get(4)?,
    })
}

impl Store {
    /// The active grid version and its GeoJSON text.
    pub fn active_grid(&self) -> Result<Option<(GridVersion, String)>> {
        self.read(|c| {
            c.query_row(
                "SELECT id, sha256, source, loaded_at, units, geojson FROM grid_versions WHERE active = 1 ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((version(r)?, r.get::<_, String>(5)?)),
            )
            .optional()
        })
    }

    /// Every version, oldest first.
    pub fn grid_versions(&self) -> Result<Vec<GridVersion>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT id, sha256, source, loaded_at, units FROM grid_versions ORDER BY id",
            )?;
            let rows = st.query_map([], version)?;
            rows.collect()
        })
    }

    /// Every version's id and stored text, oldest first.
    pub fn grid_texts(&self) -> Result<Vec<(i64, String)>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id, geojson FROM grid_versions ORDER BY id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    /// Replaces the stored text of version `id` (its hash, the file's, stays).
    pub fn set_grid_text(&self, id: i64, geojson: &str) -> Result<()> {
        self.write(|c| {
            c.execute(
                "UPDATE grid_versions SET geojson = ?2 WHERE id = ?1",
                params![id, geojson],
            )
            .map(drop)
        })
    }

    /// Stores a new version and makes it the active one; older ones stay.
    pub fn add_grid_version(
        &self,
        sha256: &str,
        source: &str,
        units: usize,
        geojson: &str,
    ) -> Result<GridVersion> {
        let loaded_at = now_us();
        let units = i64::try_from(units).unwrap_or(i64::MAX);
        let id = self.write(|c| {
            let tx = c.savepoint()?;
            tx.execute("UPDATE grid_versions SET active = 0 WHERE active = 1", [])?;
            tx.execute(
                "INSERT INTO grid_versions(sha256, source, loaded_at, units, geojson, active) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
                params![sha256, source, loaded_at, units, geojson],
            )?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(id)
        })?;
        Ok(GridVersion {
            id,
            sha256: sha256.to_owned(),
            source: source.to_owned(),
            loaded_at,
            units,
        })
    }
}
