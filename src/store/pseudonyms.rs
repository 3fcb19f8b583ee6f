//! The visit records' pseudonym columns, kept out of the in-memory frame.
//!
//! `household_hash` and `visitor_hash` are keyed hashes, never clear values,
//! but they are still about people, and no analysis reads them row by row:
//! the households metrics use the pre-aggregates' 64-bit keys. Only event
//! exports and the snapshot writer need them. So the server holds them only
//! for the rows newer than its frame snapshot, and reads the rest from the
//! snapshot file when an export asks: a restart skips their bytes (a fifth
//! of the frame's read), and the frame is lighter by their strings.

use std::fs::File;

use polars::prelude::*;

use super::{Result, Store, StoreError};
use crate::columns as c;

/// The columns kept out of the in-memory frame.
pub const PSEUDONYMS: [&str; 2] = [c::HOUSEHOLD_HASH, c::VISITOR_HASH];

/// The pseudonym columns of a frame's rows, row for row.
#[derive(Clone)]
pub struct Pseudonyms {
    /// The frame's first `from_file` rows are the snapshot file's first
    /// rows: a snapshot holds the events in `seq` order, and a later one
    /// starts with the same events (they are append-only).
    from_file: usize,
    /// The rows after those: ingested since, or read from the database.
    tail: DataFrame,
}

impl Pseudonyms {
    /// Pseudonyms whose first `from_file` rows are in the snapshot file and
    /// the rest in `tail` (the two [`PSEUDONYMS`] columns).
    pub fn new(from_file: usize, tail: DataFrame) -> Pseudonyms {
        Pseudonyms { from_file, tail }
    }

    /// Rows held in memory.
    pub fn in_memory(&self) -> usize {
        self.tail.height()
    }

    /// The rows after those held by the snapshot file.
    pub fn tail(&self) -> &DataFrame {
        &self.tail
    }

    /// These pseudonyms once the snapshot file holds the frame's first
    /// `rows` rows: the rows after those, copied so that the memory of the
    /// others is freed. `None` when the file adds nothing.
    pub fn stored(&self, rows: usize) -> Result<Option<Pseudonyms>> {
        let Some(skip) = rows.checked_sub(self.from_file).filter(|&s| s > 0) else {
            return Ok(None);
        };
        if skip > self.tail.height() {
            return Ok(None);
        }
        let rest = self.tail.slice(skip as i64, self.tail.height() - skip);
        // A slice shares its buffers with the whole; new columns do not.
        let cols = rest
            .columns()
            .iter()
            .map(|col| {
                let s = col.str()?;
                Ok(StringChunked::from_iter_options(s.name().clone(), s.iter()).into_column())
            })
            .collect::<PolarsResult<Vec<Column>>>()?;
        Ok(Some(Pseudonyms {
            from_file: rows,
            tail: DataFrame::new(rest.height(), cols)?,
        }))
    }

    /// Appends the pseudonyms of rows appended to the frame.
    pub fn append(&mut self, rows: &DataFrame) -> Result<()> {
        self.tail.vstack_mut(rows)?;
        if self.tail.first_col_n_chunks() > 64 {
            self.tail.rechunk_mut();
        }
        Ok(())
    }

    /// `frame` (the rows these pseudonyms belong to) with them put back:
    /// the whole joined frame, in its column order (reads the file).
    pub fn attach(&self, store: &Store, frame: &DataFrame) -> Result<DataFrame> {
        let p = self.columns(store, frame.column(c::ID)?)?;
        with_pseudonyms(frame, &p)
    }

    /// The two columns at frame rows `rows` (ascending) of the frame whose
    /// `id` column is `ids`, in that order: what an export of a few rows
    /// needs, read from the snapshot file a row group at a time (only the
    /// groups that hold one of them), each row's id checked against the
    /// frame's; from the database when the file is gone or differs.
    pub fn at(&self, store: &Store, ids: &Column, rows: &[u32]) -> Result<DataFrame> {
        let n = self.from_file;
        let split = rows.partition_point(|&r| (r as usize) < n);
        let (head, tail) = rows.split_at(split);
        let mut out = match file_rows(store, ids, head, n) {
            Some(df) => df,
            None => database_head(store, ids, n)?
                .select(PSEUDONYMS)?
                .take(&positions(head, 0))?,
        };
        out.vstack_mut(&self.tail.take(&positions(tail, n))?)?;
        Ok(out)
    }

    /// The two columns for every row of the frame whose `id` column is
    /// `ids`: the file's rows are checked against it id by id, and read from
    /// the database (in `seq` order) when the file is gone or differs.
    pub fn columns(&self, store: &Store, ids: &Column) -> Result<DataFrame> {
        if self.from_file == 0 {
            return Ok(self.tail.clone());
        }
        let n = self.from_file;
        let head = match read_head(store, n) {
            Some(df) if same_ids(&df, ids, n) => df,
            _ => database_head(store, ids, n)?,
        };
        let mut out = head.select(PSEUDONYMS)?;
        out.vstack_mut(&self.tail)?;
        Ok(out)
    }
}

/// The first `n` stored events' ids and pseudonyms from the database, for
/// a frame whose snapshot file is gone or differs; checked against the
/// frame's `ids`.
fn database_head(store: &Store, ids: &Column, n: usize) -> Result<DataFrame> {
    tracing::warn!(
        file = %store.snapshot_path().display(),
        rows = n,
        "frame snapshot missing or changed; pseudonyms read from the database"
    );
    let df = store.pseudonyms_head(n)?;
    if !same_ids(&df, ids, n) {
        return Err(StoreError::Corrupt {
            what: "events",
            reason: "stored events differ from the analytics frame".into(),
        });
    }
    Ok(df)
}

/// `rows` less `first`, as polars row indices.
fn positions(rows: &[u32], first: usize) -> IdxCa {
    IdxCa::from_vec(
        "".into(),
        rows.iter()
            .map(|&r| (r as usize - first) as IdxSize)
            .collect(),
    )
}

/// The pseudonyms at `rows` (ascending, all below `n`) of the snapshot
/// file's first `n` rows, reading only the row groups that hold them;
/// `None` when the file cannot be read or an id differs from the frame's.
fn file_rows(store: &Store, ids: &Column, rows: &[u32], n: usize) -> Option<DataFrame> {
    let group = super::ROW_GROUP_ROWS;
    let cols = [c::ID, PSEUDONYMS[0], PSEUDONYMS[1]].map(String::from);
    let mut out: Option<DataFrame> = None;
    let mut rest = rows;
    while let Some(&first) = rest.first() {
        let start = first as usize / group * group;
        let end = (start + group).min(n);
        let cut = rest.partition_point(|&r| (r as usize) < end);
        let (here, later) = rest.split_at(cut);
        rest = later;
        let df = ParquetReader::new(File::open(store.snapshot_path()).ok()?)
            .with_columns(Some(cols.to_vec()))
            .with_slice(Some((start, end - start)))
            .finish()
            .ok()?;
        if df.height() != end - start {
            return None;
        }
        let picked = df.take(&positions(here, start)).ok()?;
        let frame_ids = ids.take(&positions(here, 0)).ok()?;
        if !picked
            .column(c::ID)
            .ok()?
            .as_materialized_series()
            .equals(frame_ids.as_materialized_series())
        {
            return None;
        }
        let picked = picked.select(PSEUDONYMS).ok()?;
        match &mut out {
            Some(o) => {
                o.vstack_mut(&picked).ok()?;
            }
            None => out = Some(picked),
        }
    }
    Some(out.unwrap_or_else(|| DataFrame::empty_with_schema(&pseudonym_schema())))
}

/// The two pseudonym columns' schema.
fn pseudonym_schema() -> Schema {
    PSEUDONYMS
        .iter()
        .map(|&n| Field::new(n.into(), DataType::String))
        .collect()
}

/// The first `n` rows of the snapshot file: id and the pseudonyms.
fn read_head(store: &Store, n: usize) -> Option<DataFrame> {
    let f = File::open(store.snapshot_path()).ok()?;
    let cols = [c::ID, PSEUDONYMS[0], PSEUDONYMS[1]].map(String::from);
    let df = ParquetReader::new(f)
        .with_columns(Some(cols.to_vec()))
        .with_slice(Some((0, n)))
        .finish()
        .ok()?;
    (df.height() == n).then_some(df)
}

fn same_ids(df: &DataFrame, ids: &Column, n: usize) -> bool {
    df.height() == n
        && ids.len() >= n
        && df.column(c::ID).is_ok_and(|a| {
            a.as_materialized_series()
                .equals(ids.slice(0, n).as_materialized_series())
        })
}

/// `frame` without the pseudonym columns, and those columns.
pub fn split_pseudonyms(frame: DataFrame) -> Result<(DataFrame, DataFrame)> {
    let p = frame.select(PSEUDONYMS)?;
    Ok((frame.drop_many(PSEUDONYMS), p))
}

/// `frame` (without them) with the pseudonym columns `p` put back, in the
/// joined frame's column order.
pub fn with_pseudonyms(frame: &DataFrame, p: &DataFrame) -> Result<DataFrame> {
    let mut cols = frame.columns().to_vec();
    cols.extend(p.columns().iter().cloned());
    let df = DataFrame::new(frame.height(), cols)?;
    Ok(df.select(c::ALL)?)
}

impl Store {
    /// The first `n` stored events in `seq` order: id and the pseudonyms.
    pub fn pseudonyms_head(&self, n: usize) -> Result<DataFrame> {
        let (ids, hh, vis) = self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT id, household_hash, visitor_hash FROM events ORDER BY seq LIMIT ?1",
            )?;
            let mut rows = st.query([n as i64])?;
            let (mut ids, mut hh, mut vis) = (Vec::new(), Vec::new(), Vec::new());
            while let Some(r) = rows.next()? {
                ids.push(r.get::<_, String>(0)?);
                hh.push(r.get::<_, Option<String>>(1)?);
                vis.push(r.get::<_, Option<String>>(2)?);
            }
            Ok((ids, hh, vis))
        })?;
        let n = ids.len();
        Ok(DataFrame::new(
            n,
            vec![
                Column::new(c::ID.into(), ids),
                Column::new(c::HOUSEHOLD_HASH.into(), hh),
                Column::new(c::VISITOR_HASH.into(), vis),
            ],
        )?)
    }
}
