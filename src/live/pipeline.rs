//! The one ingest pipeline: validated rows → the writer's scope → located
//! → stored (new cases inserted, stored ones moved, steps folded in) →
//! the frame rows of what changed, with every row's outcome counted.
//!
//! `POST /api/v1/events`, `POST /api/v1/updates`, Open311, the data
//! directory's files at start-up, `wangge ingest` and the tests all come
//! through [`Pipeline`]; the store is called once per batch, in one
//! transaction, and answers before anything is acknowledged.

use std::path::Path;

use polars::prelude::DataFrame;
use serde::Serialize;

use super::error::{LiveError, Result};
use super::grids::Grids;
use super::parse::Parsed;
use crate::columns::Outcome;
use crate::grid::GridModel;
use crate::ingest::{
    read_file, read_updates_with, Batch, Event, Kind, ParsedSteps, Step, StepsRead, Validator,
};
use crate::join::joined_frame;
use crate::store::{Applied, Located, Store, Stored};

/// Where a writer may write: the units its rows may land in, and the
/// stored cases it may change.
pub trait WriteScope: Sync {
    /// Writes everywhere (no per-row check needed).
    fn is_all(&self) -> bool;
    /// Whether the unit with these tier codes is the writer's.
    fn covers(&self, model: &GridModel, tiers: [Option<&str>; 3]) -> bool;
}

/// A writer of the whole county: files of the data directory, `wangge ingest`.
pub struct Everywhere;

impl WriteScope for Everywhere {
    fn is_all(&self) -> bool {
        true
    }
    fn covers(&self, _: &GridModel, _: [Option<&str>; 3]) -> bool {
        true
    }
}

/// Who writes a batch: the name recorded with each new case and the
/// source system whose id space its ids belong to.
#[derive(Debug, Clone, Copy)]
pub struct Writer<'a> {
    /// `user:NAME`, `file:NAME`.
    pub name: &'a str,
    /// The source system (empty: the county's own id space). A case is
    /// (system, kind, id): the same id from two systems is two cases, and
    /// a writer reaches only its own system's cases.
    pub system: &'a str,
}

/// The one answer to a row a writer may not write: the same whether the
/// place is another unit's, the id is another unit's case, or the case is
/// not known, so a reply tells nothing about what is stored elsewhere.
pub const NOT_YOURS: &str =
    "scope: outside the units you may write to (or not a case you may change)";

/// Why a step for a case not stored yet is kept.
const WAITING: &str = "the case is not stored yet; applied when it arrives";

/// One row's fate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowOutcome {
    /// 1-based row (data line for CSV and JSON Lines, element for arrays).
    pub row: u64,
    pub id: Option<String>,
    /// matched, partial, outside (new rows), updated, unchanged, stale, pending or rejected.
    pub outcome: &'static str,
    /// Deepest unit holding the event, when in the caller's scope.
    pub unit: Option<String>,
    /// Why a row was rejected.
    pub reason: Option<String>,
    /// New issues, when suggestions were asked for: the open issues of the
    /// same category within 250 m in the writer's units, nearest first,
    /// at most five (see [`crate::analytics::duplicates`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<Vec<crate::analytics::duplicates::Nearby>>,
}

/// Counts add up: read = matched + partial + outside + updated + unchanged
/// + stale + pending + rejected.
#[derive(Debug, Default, Clone, Serialize, utoipa::ToSchema)]
pub struct Tally {
    pub read: u64,
    /// New events inside a grid.
    pub matched: u64,
    pub partial: u64,
    pub outside: u64,
    /// Rows that changed a stored case.
    pub updated: u64,
    /// The same version again: nothing counted twice.
    pub unchanged: u64,
    /// Older than the stored case: kept in its history, the case unchanged.
    pub stale: u64,
    /// Updates for cases not received yet, applied when they arrive.
    pub pending: u64,
    pub rejected: u64,
    /// Of `rejected`, conflicts with a stored version.
    pub duplicates: u64,
}

impl Tally {
    /// True when every row read has exactly one outcome.
    pub fn balanced(&self) -> bool {
        self.read
            == self.matched
                + self.partial
                + self.outside
                + self.updated
                + self.unchanged
                + self.stale
                + self.pending
                + self.rejected
    }

    /// New events stored.
    pub fn inserted(&self) -> u64 {
        self.matched + self.partial + self.outside
    }

    fn add(&mut self, o: &Tally) {
        self.read += o.read;
        self.matched += o.matched;
        self.partial += o.partial;
        self.outside += o.outside;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.stale += o.stale;
        self.pending += o.pending;
        self.rejected += o.rejected;
        self.duplicates += o.duplicates;
    }

    /// Counts one row's fate; its outcome and reason.
    fn count(&mut self, fate: &Fate) -> (&'static str, Option<String>) {
        match fate {
            Fate::New(o) => {
                match o {
                    Outcome::Matched => self.matched += 1,
                    Outcome::Partial => self.partial += 1,
                    Outcome::Outside => self.outside += 1,
                    Outcome::Rejected => self.rejected += 1,
                }
                (o.as_str(), None)
            }
            Fate::NotYours => {
                self.rejected += 1;
                ("rejected", Some(NOT_YOURS.to_owned()))
            }
            Fate::Stored(s) => {
                let reason = match s {
                    Stored::Updated => {
                        self.updated += 1;
                        None
                    }
                    Stored::Unchanged => {
                        self.unchanged += 1;
                        None
                    }
                    Stored::Stale => {
                        self.stale += 1;
                        None
                    }
                    Stored::Pending => {
                        self.pending += 1;
                        Some(WAITING.to_owned())
                    }
                    Stored::Conflict(reason) => {
                        self.rejected += 1;
                        Some(reason.clone())
                    }
                    // Not a fate of a row already stored.
                    Stored::New => None,
                };
                (s.as_str(), reason)
            }
        }
    }
}

/// The answer to a batch: the counts and every row's outcome.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct IngestResponse {
    #[serde(flatten)]
    pub tally: Tally,
    pub rows: Vec<RowOutcome>,
    /// Columns (CSV headers, JSON keys) of the body that no contract
    /// column reads: a misspelt name (`deadlin`) is not read, so it is
    /// named here. Absent when every column was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread_columns: Vec<String>,
    /// Values the body gives in columns their row's kind does not carry
    /// (a rating on a visit, 破案 as an incident's `status`): left out of
    /// the event, counted here by kind and column. Absent when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unused_values: Vec<UnusedValues>,
}

/// Rows of one kind that gave a value in one column the kind does not carry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnusedValues {
    pub kind: &'static str,
    pub column: &'static str,
    pub rows: u64,
}

impl UnusedValues {
    /// What `unused` counted so far (and none left there).
    pub fn of(unused: &crate::ingest::Unused) -> Vec<UnusedValues> {
        unused
            .take()
            .into_iter()
            .map(|(kind, column, rows)| UnusedValues {
                kind: kind.as_str(),
                column,
                rows,
            })
            .collect()
    }
}

/// What became of one valid row.
#[derive(Debug)]
enum Fate {
    /// A case not seen before, located (outcome and unit).
    New(Outcome),
    /// A row about a stored case (or a step waiting for one).
    Stored(Stored),
    /// Outside the writer's scope.
    NotYours,
}

/// Frame rows of what a batch changed: new cases, and the new current
/// rows of stored ones.
#[derive(Default)]
pub struct FrameRows {
    pub new: Option<DataFrame>,
    pub changed: Option<DataFrame>,
}

/// One writer's batch into the store.
pub struct Pipeline<'a> {
    pub store: &'a Store,
    pub grids: &'a Grids,
    pub scope: &'a dyn WriteScope,
    pub writer: Writer<'a>,
    /// Build the frame rows of the batch (a running service), or not (a
    /// load before the frame is built from the database).
    pub frame: bool,
}

/// Valid rows and, per row read, its number, id and index among them (or why not).
type Index = Vec<(u64, Option<String>, std::result::Result<usize, String>)>;

fn split<T>(
    parsed: Vec<(
        u64,
        Option<String>,
        std::result::Result<T, crate::ingest::RowError>,
    )>,
) -> (Vec<T>, Index) {
    let mut valid = Vec::new();
    let index = parsed
        .into_iter()
        .map(|(n, id, r)| match r {
            Ok(x) => {
                valid.push(x);
                (n, id, Ok(valid.len() - 1))
            }
            Err(e) => (n, id, Err(format!("{}: {}", e.column, e.reason))),
        })
        .collect();
    (valid, index)
}

impl Pipeline<'_> {
    /// Parsed events (with the rows that did not parse) into the store.
    pub fn events(&self, parsed: Parsed) -> Result<(IngestResponse, FrameRows)> {
        let (valid, index) = split(parsed);
        let (fates, units, frame) = self.apply_events(valid)?;
        let mut out = IngestResponse::default();
        for (n, id, r) in index {
            out.tally.read += 1;
            let row = match r {
                Err(reason) => {
                    out.tally.rejected += 1;
                    RowOutcome {
                        row: n,
                        id,
                        outcome: "rejected",
                        unit: None,
                        reason: Some(reason),
                        duplicates: None,
                    }
                }
                Ok(k) => {
                    if matches!(fates[k], Fate::Stored(Stored::Conflict(_))) {
                        out.tally.duplicates += 1;
                    }
                    let (outcome, reason) = out.tally.count(&fates[k]);
                    RowOutcome {
                        row: n,
                        id,
                        outcome,
                        unit: units[k].clone(),
                        reason,
                        duplicates: None,
                    }
                }
            };
            out.rows.push(row);
        }
        Ok((out, frame))
    }

    /// Parsed transition rows into the store.
    pub fn steps(&self, parsed: ParsedSteps) -> Result<(IngestResponse, FrameRows)> {
        let (valid, index) = split(parsed);
        let (fates, frame) = self.apply_steps(valid)?;
        let mut out = IngestResponse::default();
        for (n, id, r) in index {
            out.tally.read += 1;
            let (outcome, reason) = match r {
                Err(reason) => {
                    out.tally.rejected += 1;
                    ("rejected", Some(reason))
                }
                Ok(k) => out.tally.count(&fates[k]),
            };
            out.rows.push(RowOutcome {
                row: n,
                id,
                outcome,
                unit: None,
                reason,
                duplicates: None,
            });
        }
        Ok((out, frame))
    }

    /// An events file, in transactions of `batch_rows` events; rejected
    /// rows are logged with file, row and reason (the first 20). The file
    /// is read and validated on a thread of its own, a batch ahead of the
    /// writes.
    pub fn events_file(&self, path: &Path, v: &Validator<'_>, batch_rows: usize) -> Result<Tally> {
        let mut out = Tally::default();
        let mut logged = 0;
        read_ahead(
            |sink| read_file(path, None, v, sink),
            |batch| self.store_batch(batch, batch_rows, &mut out, &mut logged),
        )?;
        Ok(out)
    }

    /// One batch read from an events file into the store, in transactions
    /// of `batch_rows` events, counted into `out`.
    fn store_batch(
        &self,
        batch: Batch,
        batch_rows: usize,
        out: &mut Tally,
        logged: &mut usize,
    ) -> Result<()> {
        out.read += batch.read;
        log_rejects(&batch.rejects, out, logged);
        let Batch {
            events, rows, file, ..
        } = batch;
        let mut events = events.into_iter();
        for chunk_rows in rows.chunks(batch_rows.max(1)) {
            let chunk: Vec<Event> = events.by_ref().take(chunk_rows.len()).collect();
            let (fates, _, _) = self.apply_events(chunk)?;
            out.duplicates += fates
                .iter()
                .filter(|f| matches!(f, Fate::Stored(Stored::Conflict(_))))
                .count() as u64;
            count_fates(&file, chunk_rows, &fates, out, logged);
        }
        Ok(())
    }

    /// A file of transition rows, in transactions of `batch_rows` rows;
    /// rejected rows are logged with file, row and reason (the first 20).
    /// The file is read and validated on a thread of its own, a chunk ahead
    /// of the writes, so it never sits in memory whole.
    pub fn steps_file(&self, path: &Path, v: &Validator<'_>, batch_rows: usize) -> Result<Tally> {
        let mut out = Tally::default();
        let mut logged = 0;
        let file = path.display().to_string();
        read_ahead(
            |sink| read_updates_with(path, v, sink),
            |(steps, rejects): StepsRead| {
                out.read += (steps.len() + rejects.len()) as u64;
                log_rejects(&rejects, &mut out, &mut logged);
                let mut steps = steps.into_iter();
                loop {
                    let chunk: Vec<(u64, Step)> = steps.by_ref().take(batch_rows.max(1)).collect();
                    if chunk.is_empty() {
                        return Ok(());
                    }
                    let rows: Vec<u64> = chunk.iter().map(|c| c.0).collect();
                    let (fates, _) = self.apply_steps(chunk.into_iter().map(|c| c.1).collect())?;
                    count_fates(&file, &rows, &fates, &mut out, &mut logged);
                }
            },
        )?;
        Ok(out)
    }

    /// Valid events into the store: their fates, the unit each new one
    /// landed in (when the writer may see it) and the frame rows.
    fn apply_events(
        &self,
        mut events: Vec<Event>,
    ) -> Result<(Vec<Fate>, Vec<Option<String>>, FrameRows)> {
        let g = self.grids;
        let system = self.writer.system;
        if !system.is_empty() {
            for e in &mut events {
                system.clone_into(&mut e.system);
            }
        }
        let hits = g.locate_events(&events);
        // A row lands only inside the writer's units, and changes a stored
        // case only when that case lies inside them too.
        let allowed: Vec<bool> = if self.scope.is_all() {
            vec![true; events.len()]
        } else {
            let keys: Vec<(Kind, &str)> = events.iter().map(|e| (e.kind, e.id.as_str())).collect();
            let stored = self.store.stored_tiers(system, &keys)?;
            (0..events.len())
                .map(|k| {
                    let there = stored[k]
                        .as_ref()
                        .map(|t| t.each_ref().map(|c| c.as_deref()));
                    self.scope.covers(&g.model, g.codes(hits[k].1))
                        && there.is_none_or(|t| self.scope.covers(&g.model, t))
                })
                .collect()
        };
        let mine: Vec<usize> = (0..events.len()).filter(|&k| allowed[k]).collect();
        let located: Vec<Located<'_>> = mine
            .iter()
            .map(|&k| Located {
                event: &events[k],
                outcome: hits[k].0,
                tiers: g.codes(hits[k].1),
            })
            .collect();
        let applied = self.store.apply_events(
            g.version.id,
            &located,
            &|x, y| g.locate_one(x, y),
            self.writer.name,
            self.frame,
        )?;
        let frame = self.frame_rows(&applied)?;
        let mut fates: Vec<Fate> = (0..events.len()).map(|_| Fate::NotYours).collect();
        let mut units = vec![None; events.len()];
        for (&k, a) in mine.iter().zip(applied) {
            fates[k] = match a.stored {
                Stored::New => {
                    units[k] = g
                        .codes(hits[k].1)
                        .iter()
                        .rev()
                        .flatten()
                        .next()
                        .map(|s| (*s).to_owned());
                    Fate::New(hits[k].0)
                }
                s => Fate::Stored(s),
            };
        }
        Ok((fates, units, frame))
    }

    /// Valid steps into the store (or waiting for their case).
    fn apply_steps(&self, mut steps: Vec<Step>) -> Result<(Vec<Fate>, FrameRows)> {
        let g = self.grids;
        let system = self.writer.system;
        if !system.is_empty() {
            for s in &mut steps {
                system.clone_into(&mut s.system);
            }
        }
        // A step moves a case only inside the writer's units (also where it
        // moves it to); a step for a case not stored yet waits only when the
        // writer writes everywhere, so nobody can prepare a case they do not own.
        let allowed: Vec<bool> = if self.scope.is_all() {
            vec![true; steps.len()]
        } else {
            let keys: Vec<(Kind, &str)> = steps
                .iter()
                .map(|s| (Kind::Issue, s.issue_id.as_str()))
                .collect();
            let stored = self.store.stored_tiers(system, &keys)?;
            steps
                .iter()
                .zip(&stored)
                .map(|(s, t)| {
                    let Some(t) = t else { return false };
                    let moved_to = match (s.lon, s.lat) {
                        (Some(x), Some(y)) => Some(g.locate_one(x, y).1),
                        _ => None,
                    };
                    self.scope
                        .covers(&g.model, t.each_ref().map(|c| c.as_deref()))
                        && moved_to.is_none_or(|m| {
                            self.scope
                                .covers(&g.model, m.each_ref().map(|c| c.as_deref()))
                        })
                })
                .collect()
        };
        // Only the allowed steps go to the store (all of them, uncopied,
        // for a writer who writes everywhere).
        let mine: Vec<Step>;
        let mine: &[Step] = if allowed.iter().all(|&a| a) {
            &steps
        } else {
            mine = steps
                .iter()
                .zip(&allowed)
                .filter(|(_, &a)| a)
                .map(|(s, _)| s.clone())
                .collect();
            &mine
        };
        let applied = self
            .store
            .apply_updates(g.version.id, mine, &|x, y| g.locate_one(x, y))?;
        let frame = self.frame_rows(&applied)?;
        let mut applied = applied.into_iter();
        let fates = allowed
            .iter()
            .map(|&a| match a {
                true => applied
                    .next()
                    .map(|a| Fate::Stored(a.stored))
                    .ok_or_else(|| {
                        LiveError::Internal(
                            "the store answered fewer steps than it was given".into(),
                        )
                    }),
                false => Ok(Fate::NotYours),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((fates, frame))
    }

    /// The joined frame rows of new and changed cases.
    fn frame_rows(&self, applied: &[Applied]) -> Result<FrameRows> {
        let mut out = FrameRows::default();
        if !self.frame {
            return Ok(out);
        }
        let g = self.grids;
        // Where the store put each case: its deepest unit, no locating again.
        let unit = |p: &crate::store::Place| {
            let code = p.1.iter().rev().flatten().next();
            code.and_then(|c| g.model.index_of(c))
                .map_or(crate::join::NONE, |i| i as u32)
        };
        let (mut new, mut changed) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        for a in applied {
            let (Some(e), Some(p)) = (&a.current, &a.place) else {
                continue;
            };
            let side = if a.stored == Stored::New {
                &mut new
            } else {
                &mut changed
            };
            side.0.push(e.clone());
            side.1.push((p.0, unit(p)));
        }
        for ((events, hits), slot) in [(new, &mut out.new), (changed, &mut out.changed)] {
            if events.is_empty() {
                continue;
            }
            *slot = Some(joined_frame(&g.tier_codes, &events, &hits)?);
        }
        Ok(out)
    }
}

/// Rows a file reader rejected, counted into `out`; the first 20 of a
/// file are logged with file, row, column and reason.
fn log_rejects(rejects: &[crate::ingest::Reject], out: &mut Tally, logged: &mut usize) {
    out.rejected += rejects.len() as u64;
    for r in rejects {
        if *logged < 20 {
            *logged += 1;
            tracing::warn!(file = %r.file, row = r.row, column = %r.column, reason = %r.reason, "row rejected");
        }
    }
}

/// The fates of one stored chunk of a file (`rows`: their row numbers),
/// counted into `out`; refused rows are logged like [`log_rejects`].
fn count_fates(file: &str, rows: &[u64], fates: &[Fate], out: &mut Tally, logged: &mut usize) {
    for (row, fate) in rows.iter().zip(fates) {
        let mut one = Tally::default();
        let (_, reason) = one.count(fate);
        if one.rejected > 0 && *logged < 20 {
            *logged += 1;
            tracing::warn!(%file, row, reason = reason.unwrap_or_default(), "row rejected");
        }
        out.add(&one);
    }
}

/// Reads a file on a thread of its own, handing each chunk `read` gives its
/// sink to `store` on this one, one chunk ahead. A failed store hangs up:
/// the reader stops at its next chunk. A read error after some chunks keeps
/// the chunks already stored.
fn read_ahead<C: Send>(
    read: impl FnOnce(
            &mut dyn FnMut(C) -> Result<(), crate::ingest::IngestError>,
        ) -> Result<u64, crate::ingest::IngestError>
        + Send,
    mut store: impl FnMut(C) -> Result<()>,
) -> Result<()> {
    let (send, chunks) = std::sync::mpsc::sync_channel::<C>(1);
    let mut failure = None;
    let read = std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            read(&mut |chunk: C| {
                send.send(chunk)
                    .map_err(|_| crate::ingest::IngestError::Output("database write failed".into()))
            })
        });
        for chunk in chunks.iter() {
            if let Err(e) = store(chunk) {
                failure = Some(e);
                break;
            }
        }
        drop(chunks);
        reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    match (read, failure) {
        (_, Some(e)) => Err(e),
        (Ok(_), None) => Ok(()),
        (Err(e), None) => Err(e.into()),
    }
}
