//! A Parquet copy of the event frame, so a restart reads one columnar file
//! instead of ten million SQLite rows.
//!
//! The database stays the truth: the snapshot is only used when the `meta`
//! row written with it (inside the same database) still matches, i.e. the
//! same active grid version, the same file length and row count, and the
//! high-water `seq` it covers still stored (events are append-only). Events stored after it are read from SQLite and appended,
//! so a stale snapshot costs only its tail; a mismatch of any kind costs a
//! full read from the database, never a wrong frame.

use std::fs::File;
use std::path::PathBuf;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::pseudonyms::{split_pseudonyms, Pseudonyms, PSEUDONYMS};
use super::ROW_GROUP_ROWS;
use super::{Result, Store, StoreError};

/// The `meta` key of the snapshot's description.
const META_KEY: &str = "frame_snapshot";

/// What a snapshot covers, stored in `meta` when it is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SnapshotMeta {
    /// Events in the file.
    rows: u64,
    /// Highest `seq` in the file; the file holds every event at or below it.
    high_water: i64,
    /// Grid version the events were joined against.
    grid_version: i64,
    /// File length in bytes.
    bytes: u64,
    /// The writer's description of the derived tables (their layout and
    /// parameters); they are only used by a reader passing the same key.
    #[serde(default)]
    key: String,
    /// Derived tables written with the frame: name and file length.
    #[serde(default)]
    extras: Vec<(String, u64)>,
    /// Changes of stored cases when the frame was read
    /// ([`Store::case_changes`]): a case changed since makes the file stale.
    #[serde(default)]
    changes: i64,
}

/// The event frame and where its rows came from.
pub struct FrameLoad {
    /// The joined frame without the [`PSEUDONYMS`] columns.
    pub frame: DataFrame,
    /// Those columns, row for row.
    pub pseudonyms: Pseudonyms,
    /// Highest `seq` in the frame.
    pub high_water: i64,
    /// Rows read from the Parquet snapshot (0 when it was missing or stale).
    pub from_snapshot: u64,
    /// Rows read from SQLite.
    pub from_database: u64,
    /// The derived tables asked for, in order, when written under the same
    /// key and all readable. They cover the first `from_snapshot` rows of
    /// `frame`; the `from_database` rows after those are the caller's to add.
    pub extras: Option<Vec<DataFrame>>,
    /// [`Store::case_changes`] before the rows were read.
    pub changes: i64,
    /// Rows of the snapshot replaced by their cases' newer versions: the
    /// snapshot's pre-aggregates are then stale for issues and incidents.
    pub changed_rows: u64,
    /// The report times (µs) those rows had and now have: the days whose
    /// pre-aggregates are stale.
    pub changed_at: Vec<i64>,
    /// Those rows as now stored, every column, with the frame positions
    /// they took ([`crate::columns::FRAME_ROW`]).
    pub changed: DataFrame,
    /// The columns left out of `frame` because the derived tables hold
    /// them (the `lean` of [`Store::load_frame_fast`]): their values for the
    /// rows after the snapshot's, which the caller adds to those tables.
    /// `None` when `frame` has every column.
    pub left_out: Option<DataFrame>,
}

impl FrameLoad {
    /// The whole joined frame, pseudonyms included (reads them); only for a
    /// frame read with every column (`left_out` is `None`).
    pub fn full_frame(&self, store: &Store) -> Result<DataFrame> {
        self.pseudonyms.attach(store, &self.frame)
    }

    /// Whether writing a fresh snapshot would save the next start-up work.
    pub fn snapshot_is_stale(&self) -> bool {
        self.from_database > 0 || self.changed_rows > 0
    }
}

impl Store {
    /// The derived tables `names` when `m` holds them under `key`.
    fn read_extras(&self, m: &SnapshotMeta, key: &str, names: &[&str]) -> Option<Vec<DataFrame>> {
        if !self.extras_present(m, key, names) {
            return None;
        }
        let read = |n: &&str| {
            ParquetReader::new(File::open(self.extra_path(n)).ok()?)
                .finish()
                .ok()
        };
        // Side by side: decoding one file leaves cores idle between its
        // row groups that the others fill.
        std::thread::scope(|s| {
            let handles: Vec<_> = names.iter().map(|n| s.spawn(move || read(n))).collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        })
    }

    /// Whether `m` lists the derived tables `names` under `key`, each file
    /// there with the length written (not yet whether it decodes).
    fn extras_present(&self, m: &SnapshotMeta, key: &str, names: &[&str]) -> bool {
        m.key == key
            && !names.is_empty()
            && names.iter().all(|n| {
                m.extras.iter().any(|(x, bytes)| {
                    x == n && std::fs::metadata(self.extra_path(n)).is_ok_and(|f| f.len() == *bytes)
                })
            })
    }

    /// The meta row when it still describes the database and the file.
    fn valid_snapshot(&self) -> Result<Option<SnapshotMeta>> {
        let Some(text) = self.meta(META_KEY)? else {
            return Ok(None);
        };
        let Ok(m) = serde_json::from_str::<SnapshotMeta>(&text) else {
            return Ok(None);
        };
        let len = std::fs::metadata(self.snapshot_path()).map(|m| m.len());
        if len.ok() != Some(m.bytes) {
            return Ok(None);
        }
        if self.active_grid_id()? != Some(m.grid_version) {
            return Ok(None);
        }
        // Cases change in place: rows changed since the file was written
        // are read again ([`Store::load_changed`]). A count below the
        // file's is another database.
        if self.case_changes()? < m.changes {
            return Ok(None);
        }
        Ok(Some(m))
    }

    /// Whether a snapshot exists that covers every stored event and, when
    /// `key` is given, holds the derived tables written under it (the bench
    /// waits for both before timing restarts: a restart that finds a frame
    /// but no usable pre-aggregates rebuilds them).
    pub fn snapshot_matches(&self, key: Option<&str>) -> Result<bool> {
        let Some(m) = self.valid_snapshot()? else {
            return Ok(false);
        };
        if key.is_some_and(|k| k != m.key || m.extras.is_empty()) {
            return Ok(false);
        }
        let top: Option<i64> =
            self.read(|c| c.query_row("SELECT max(seq) FROM events", [], |r| r.get(0)))?;
        Ok(top.unwrap_or(0) == m.high_water)
    }

    /// Whether a snapshot that matches the database exists (it may still
    /// miss the newest events).
    pub fn has_snapshot(&self) -> Result<bool> {
        Ok(self.valid_snapshot()?.is_some())
    }

    /// Whether the event `seq` is stored. Events are append-only (no code
    /// path deletes one, and a re-join makes a new grid version), so with the
    /// meta row living in the same database, the high-water event still
    /// being there means every event the snapshot holds still is; an exact
    /// `count(*)` would cost a second of start-up on ten million rows.
    fn stored(&self, seq: i64) -> Result<bool> {
        self.read(|c| {
            c.query_row(
                "SELECT EXISTS(SELECT 1 FROM events WHERE seq = ?1)",
                [seq],
                |r| r.get(0),
            )
        })
    }

    /// The active grid version's id.
    pub fn active_grid_id(&self) -> Result<Option<i64>> {
        use rusqlite::OptionalExtension;
        self.read(|c| {
            c.query_row(
                "SELECT id FROM grid_versions WHERE active = 1 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// The event frame: the snapshot when valid plus the events stored after
    /// it, else every event from the database.
    /// `extras` names derived tables written with the snapshot under `key`
    /// (see [`Store::prepare_snapshot`]); they describe the snapshot's rows
    /// only. When they are read, the snapshot's columns `lean` (which they
    /// hold) are not: the frame comes without them, and
    /// [`FrameLoad::left_out`] holds them for the rows after the snapshot's.
    pub fn load_frame_fast(&self, key: &str, extras: &[&str], lean: &[&str]) -> Result<FrameLoad> {
        let changes = self.case_changes()?;
        if let Some(m) = self.valid_snapshot()? {
            let t = std::time::Instant::now();
            let columns = |skip: &[&str]| -> Vec<String> {
                frame_schema()
                    .iter_names()
                    .filter(|n| !skip.contains(&n.as_str()))
                    .map(|n| n.to_string())
                    .collect()
            };
            let read_columns = |cols: Vec<String>| {
                File::open(self.snapshot_path())
                    .map_err(|e| PolarsError::IO {
                        error: e.into(),
                        msg: None,
                    })
                    .and_then(|f| ParquetReader::new(f).with_columns(Some(cols)).finish())
            };
            // Left out when the derived tables look readable; read after
            // all if they turn out not to be.
            let skip = if self.extras_present(&m, key, extras) {
                lean
            } else {
                &[]
            };
            // The derived tables are read while the frame is. The
            // pseudonyms stay in the file until an export asks.
            let (read, extras) = std::thread::scope(|s| {
                let derived = s.spawn(|| self.read_extras(&m, key, extras));
                let read = read_columns(columns(skip)).and_then(crate::columns::encode);
                (read, derived.join().ok().flatten())
            });
            let (read, skip) = match read {
                Ok(mut frame) if extras.is_none() && !skip.is_empty() => {
                    let cols = skip.iter().map(|n| n.to_string()).collect();
                    let read = read_columns(cols).and_then(|rest| {
                        frame.hstack_mut(rest.columns())?;
                        frame.select(columns(&[]))
                    });
                    (read, &[][..])
                }
                read => (read, skip),
            };
            let lean_schema = || {
                let mut s = frame_schema();
                for n in skip {
                    s.shift_remove(n);
                }
                s
            };
            let read_secs = t.elapsed().as_secs_f64();
            let stored = self.stored(m.high_water)?;
            match read {
                Ok(mut frame)
                    if frame.height() as u64 == m.rows
                        && stored
                        && frame.schema().as_ref() == &lean_schema() =>
                {
                    let (tail, high_water) = self.load_frame_after(m.high_water)?;
                    let from_database = tail.height() as u64;
                    let (tail, tail_pseudonyms) = split_pseudonyms(tail)?;
                    let left_out = if skip.is_empty() {
                        None
                    } else {
                        Some(tail.select(skip.iter().copied())?)
                    };
                    if from_database > 0 {
                        frame.vstack_mut(&tail.drop_many(skip.iter().copied()))?;
                    }
                    // Cases that moved since the file was written (visits
                    // never change, so no pseudonym does).
                    let (mut changed_rows, mut changed_at) = (0, Vec::new());
                    let mut changed = DataFrame::empty();
                    if changes > m.changes {
                        let (rows, _) =
                            split_pseudonyms(self.load_changed(m.changes, m.high_water)?)?;
                        changed_rows = rows.height() as u64;
                        if changed_rows > 0 {
                            (frame, changed_at, changed) =
                                super::frame::replace_rows(frame, &[rows])?;
                        }
                    }
                    tracing::info!(
                        files_secs = read_secs,
                        tail_secs = t.elapsed().as_secs_f64() - read_secs,
                        "event frame read"
                    );
                    return Ok(FrameLoad {
                        frame,
                        pseudonyms: Pseudonyms::new(m.rows as usize, tail_pseudonyms),
                        high_water,
                        from_snapshot: m.rows,
                        from_database,
                        extras,
                        changes,
                        changed_rows,
                        changed_at,
                        changed,
                        left_out,
                    });
                }
                Ok(frame) => tracing::warn!(
                    file_rows = frame.height(),
                    high_water_stored = stored,
                    expected = m.rows,
                    "frame snapshot does not match the database; reading the database"
                ),
                // A snapshot written by an earlier release lacks the
                // columns added since: expected once after an upgrade.
                Err(PolarsError::ColumnNotFound(column)) => tracing::info!(
                    %column,
                    "frame snapshot written by an earlier release (without this column); reading the database, then writing a new snapshot"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "frame snapshot unreadable; reading the database")
                }
            }
        }
        let (frame, high_water) = self.load_frame()?;
        let from_database = frame.height() as u64;
        let (frame, pseudonyms) = split_pseudonyms(frame)?;
        Ok(FrameLoad {
            frame,
            pseudonyms: Pseudonyms::new(0, pseudonyms),
            high_water,
            from_snapshot: 0,
            from_database,
            extras: None,
            changes,
            changed_rows: 0,
            changed_at: Vec::new(),
            changed: DataFrame::empty(),
            left_out: None,
        })
    }

    /// Writes `frame` (every event up to `high_water`, joined against
    /// `grid_version`) and the derived tables computed from it (`extras`,
    /// described by `key`) next to the snapshot's files (seconds for
    /// millions of rows); [`PendingSnapshot::commit`] puts them in use. The
    /// snapshot in place stays valid meanwhile, so a server stopped now
    /// restarts from it.
    pub fn prepare_snapshot(
        &self,
        frame: &DataFrame,
        high_water: i64,
        grid_version: i64,
        key: &str,
        extras: &[(&str, &DataFrame)],
        changes: i64,
    ) -> Result<PendingSnapshot> {
        let mut files = vec![self.snapshot_path()];
        let bytes = write_parquet_tmp(frame, &files[0])?;
        let mut sizes = Vec::new();
        for (name, df) in extras {
            files.push(self.extra_path(name));
            sizes.push((
                name.to_string(),
                write_parquet_tmp(df, &files[files.len() - 1])?,
            ));
        }
        let meta = SnapshotMeta {
            rows: frame.height() as u64,
            high_water,
            grid_version,
            bytes,
            key: key.to_owned(),
            extras: sizes,
            changes,
        };
        Ok(PendingSnapshot { files, meta })
    }
}

/// The schema of the in-memory frame: the joined frame's, coded (see
/// [`crate::columns::CODED`]), without the pseudonyms.
pub fn frame_schema() -> Schema {
    let mut s = crate::columns::coded_schema();
    for p in PSEUDONYMS {
        s.shift_remove(p);
    }
    s
}

/// Snapshot files written under temporary names, not yet in use.
pub struct PendingSnapshot {
    files: Vec<PathBuf>,
    meta: SnapshotMeta,
}

impl PendingSnapshot {
    /// Puts the files in place and describes them in the meta row. The meta
    /// row is cleared first, so a crash in the milliseconds of renaming leaves
    /// "no snapshot" (the database is read), never a half-replaced one.
    pub fn commit(self, store: &Store) -> Result<()> {
        store.set_meta(META_KEY, "")?;
        for path in &self.files {
            std::fs::rename(tmp_path(path), path).map_err(io_error)?;
        }
        let text = serde_json::to_string(&self.meta).map_err(|e| StoreError::Corrupt {
            what: "frame snapshot meta",
            reason: e.to_string(),
        })?;
        store.set_meta(META_KEY, &text)
    }
}

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Frame(PolarsError::IO {
        error: e.into(),
        msg: None,
    })
}

fn tmp_path(path: &std::path::Path) -> PathBuf {
    path.with_extension("parquet.tmp")
}

/// Writes `df` to the temporary file of `path`, synced; its length.
///
/// One row group at a time, each copied into one chunk alone. Polars' own
/// `ParquetWriter::finish` first copies a frame of smaller chunks (the
/// server's) whole into row-group-sized ones: as much memory again as the
/// frame, at the first start's peak.
fn write_parquet_tmp(df: &DataFrame, path: &std::path::Path) -> Result<u64> {
    let tmp = tmp_path(path);
    // The frame holds the events' pseudonyms: owner only, as the database.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&tmp).map_err(io_error)?;
    // LZ4: a quarter of the raw size here, and it decodes at memory speed.
    let mut writer = ParquetWriter::new(&file)
        .with_compression(ParquetCompression::Lz4Raw)
        .batched(df.schema())?;
    for at in (0..df.height()).step_by(ROW_GROUP_ROWS) {
        let mut group = df.slice(at as i64, ROW_GROUP_ROWS);
        group.rechunk_mut_par();
        writer.write_batch(&group)?;
    }
    writer.finish()?;
    file.sync_all().map_err(io_error)?;
    Ok(file.metadata().map_err(io_error)?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A derived table may be empty (no invalid case has a milestone): it
    /// reads back as the empty table it was, with its columns.
    #[test]
    fn an_empty_table_reads_back_with_its_columns() {
        let empty = df!("frame_row" => Vec::<u32>::new(), "t" => Vec::<i64>::new()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aside.parquet");
        write_parquet_tmp(&empty, &path).unwrap();
        let back = ParquetReader::new(File::open(tmp_path(&path)).unwrap())
            .finish()
            .unwrap();
        assert_eq!(back, empty);
    }

    #[test]
    fn a_frame_of_small_chunks_is_written_in_row_groups_of_the_snapshot_size() {
        let n = ROW_GROUP_ROWS + 37_856;
        let part = |at: usize, len: usize| {
            let ids: Vec<i64> = (at as i64..(at + len) as i64).collect();
            let names: Vec<String> = ids.iter().map(|i| format!("e{i}")).collect();
            df!("seq" => ids, "id" => names).unwrap()
        };
        // Chunks of the server's frame (65,536 rows), and a short one.
        let mut frame = part(0, 1_000);
        for at in (1_000..n).step_by(65_536) {
            frame.vstack_mut(&part(at, 65_536.min(n - at))).unwrap();
        }
        assert!(frame.first_col_n_chunks() > 5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frame.parquet");
        let bytes = write_parquet_tmp(&frame, &path).unwrap();
        let tmp = tmp_path(&path);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&tmp).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the frame's pseudonyms: owner only");
        }
        assert_eq!(std::fs::metadata(&tmp).unwrap().len(), bytes);
        let mut reader = ParquetReader::new(File::open(&tmp).unwrap());
        let groups: Vec<usize> = reader
            .get_metadata()
            .unwrap()
            .row_groups
            .iter()
            .map(|g| g.num_rows())
            .collect();
        assert_eq!(groups, vec![ROW_GROUP_ROWS, 37_856]);
        assert!(reader.finish().unwrap().equals(&frame));
    }
}
