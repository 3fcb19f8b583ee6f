//! The `join` pipeline: event files → located cases, each once, written
//! as Parquet, rejects written as CSV, and a summary whose outcome counts add
//! up to the rows read.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use polars::prelude::*;
use serde::Serialize;

use super::frame::{joined_frame, tier_table, TierCodes};
use super::locate::{Locator, Outcome};
use super::versions::{folded, Fate, Versions};
use crate::columns::Coding;
use crate::grid::GridModel;
use crate::ingest::encoding::TextEncoding;
use crate::ingest::{read_file, read_keys, Batch, Event, IngestError, Kind, Reject, Validator};

pub use super::steps::CaseSteps;

/// Counts per outcome; `read` = matched + partial + outside + updated +
/// unchanged + stale + rejected. A case that comes more than once counts
/// once by where it lies (matched, partial or outside) and each other row
/// of it as what it did to the case (CONTRACT.md, "What every row becomes").
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct JoinSummary {
    pub read: u64,
    pub matched: u64,
    pub partial: u64,
    pub outside: u64,
    /// Rows of a case read before that made it newer.
    pub updated: u64,
    /// The same version again, or one that changes nothing.
    pub unchanged: u64,
    /// Older than a version read before: the case keeps its state.
    pub stale: u64,
    pub rejected: u64,
    /// Of `rejected`, rows in conflict with a version read before.
    pub conflicts: u64,
    /// Rows read per input file.
    pub per_file: BTreeMap<String, u64>,
    /// Transition rows folded into a joined issue (`--updates`).
    pub updates_applied: u64,
    /// Transition rows of a joined issue dated before it was reported:
    /// left out of it, as the service refuses them.
    pub updates_early: u64,
}

impl JoinSummary {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Matched => self.matched += 1,
            Outcome::Partial => self.partial += 1,
            Outcome::Outside => self.outside += 1,
            Outcome::Rejected => self.rejected += 1,
        }
    }

    /// True when every row read has exactly one outcome.
    pub fn balanced(&self) -> bool {
        self.read
            == self.matched
                + self.partial
                + self.outside
                + self.updated
                + self.unchanged
                + self.stale
                + self.rejected
    }
}

/// A stage's own time: how long it ran less how long it waited on the
/// stages before and after it (reported at debug level).
struct Busy {
    start: Instant,
    waited: Duration,
}

impl Busy {
    fn new() -> Self {
        Busy {
            start: Instant::now(),
            waited: Duration::ZERO,
        }
    }

    /// Runs `f`, a wait on a channel, counting its time as waiting.
    fn wait<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.waited += t.elapsed();
        r
    }

    fn secs(&self) -> f64 {
        (self.start.elapsed() - self.waited).as_secs_f64()
    }
}

/// Where `join` writes.
pub struct JoinOutput<'a> {
    pub parquet: &'a Path,
    pub rejects: &'a Path,
    /// Rows of the inputs read before the events (the case-update files)
    /// that were rejected: written to `rejects` first, so the file
    /// accounts for every row of every input.
    pub earlier: &'a [Reject],
}

/// A batch's cases located, before their frame is built.
struct Located {
    events: Vec<Event>,
    /// Outcome and unit per event.
    hits: Vec<(Outcome, u32)>,
    /// The batch's rejects, its own and the conflicts.
    rejects: Vec<Reject>,
}

/// Offers the batch's rows to their cases in order ([`Versions`]: the
/// steps of `--updates` folded in) and locates the cases written now,
/// counting every row's outcome.
fn locate_batch(
    locator: &Locator,
    versions: &mut Versions,
    batch: Batch,
    steps: &CaseSteps,
    summary: &mut JoinSummary,
) -> Located {
    let Batch {
        file,
        events,
        rows,
        mut rejects,
        read,
    } = batch;
    summary.read += read;
    summary.rejected += read - events.len() as u64;
    if versions.idle() {
        // No case comes again from here on: every row is written as read
        // (the batch's vector reused: collected in place).
        let events = events.into_iter().map(|e| folded(e, steps)).collect();
        return place(locator, events, rejects, steps, summary);
    }
    let mut now = Vec::with_capacity(events.len());
    for (e, row) in events.into_iter().zip(rows) {
        let (fate, write) = versions.offer(e, steps);
        match fate {
            Fate::First => {}
            Fate::Updated => summary.updated += 1,
            Fate::Unchanged => summary.unchanged += 1,
            Fate::Stale => summary.stale += 1,
            Fate::Conflict(reason) => {
                summary.rejected += 1;
                summary.conflicts += 1;
                rejects.push(Reject {
                    file: file.clone(),
                    row,
                    column: "id".into(),
                    reason,
                });
            }
        }
        now.extend(write);
    }
    // A conflict in its row's place among the batch's rejects.
    rejects.sort_by_key(|r| r.row);
    place(locator, now, rejects, steps, summary)
}

/// Locates cases to write, counting them by where they lie.
fn place(
    locator: &Locator,
    events: Vec<Event>,
    rejects: Vec<Reject>,
    steps: &CaseSteps,
    summary: &mut JoinSummary,
) -> Located {
    let xs: Vec<f64> = events.iter().map(|e| e.lon).collect();
    let ys: Vec<f64> = events.iter().map(|e| e.lat).collect();
    let hits = locator.locate_all(&xs, &ys);
    for h in &hits {
        summary.add(h.0);
    }
    if !steps.is_empty() {
        for e in events.iter().filter(|e| e.kind == Kind::Issue) {
            let (kept, early) = steps.count_from(&e.id, e.occurred_at);
            summary.updates_applied += kept as u64;
            summary.updates_early += early as u64;
        }
    }
    Located {
        events,
        hits,
        rejects,
    }
}

/// Runs the whole join over files, writing Parquet and the rejects CSV,
/// with the grids and their index that `grids` loads.
///
/// The case (id and kind) of every row is read first, on a thread of its
/// own beside the others, to know which cases come more than once
/// ([`Versions`]). Four stages run side by side, each on its own thread,
/// handing batches on through channels that hold a batch or three (so no
/// more than a few batches are in memory at once): reading and validating
/// the files; offering each row to its case and locating the cases
/// written (in file order: a case's versions are ranked as the service
/// ranks them); building each batch's frame;
/// writing the rejects and the Parquet. The output is the same as one stage
/// after the other. Both files are written beside their names
/// (`<name>.partial`) and take their names only when the join succeeds: on
/// an error the files of an earlier run stay as they were, and the partial
/// ones are removed.
#[allow(clippy::too_many_arguments)]
pub fn join_files(
    grids: &dyn Fn() -> Result<(GridModel, Locator), IngestError>,
    files: &[PathBuf],
    encoding: Option<TextEncoding>,
    validator: &Validator<'_>,
    steps: &CaseSteps,
    out: &JoinOutput<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<JoinSummary, IngestError> {
    let partial = |p: &Path| {
        let mut name = p.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    };
    let (parquet_part, rejects_part) = (partial(out.parquet), partial(out.rejects));
    let result = join_into(
        grids,
        files,
        encoding,
        validator,
        steps,
        out,
        (&parquet_part, &rejects_part),
        progress,
    );
    let named = result.and_then(|summary| {
        for (from, to) in [(&parquet_part, out.parquet), (&rejects_part, out.rejects)] {
            std::fs::rename(from, to).map_err(|source| IngestError::Io {
                path: to.to_owned(),
                cause: source,
            })?;
        }
        Ok(summary)
    });
    if named.is_err() {
        let _ = std::fs::remove_file(&parquet_part);
        let _ = std::fs::remove_file(&rejects_part);
    }
    named
}

/// [`join_files`] into the `partial` files (Parquet, rejects).
#[allow(clippy::too_many_arguments)]
fn join_into(
    grids: &dyn Fn() -> Result<(GridModel, Locator), IngestError>,
    files: &[PathBuf],
    encoding: Option<TextEncoding>,
    validator: &Validator<'_>,
    steps: &CaseSteps,
    out: &JoinOutput<'_>,
    partial: (&Path, &Path),
    progress: &mut dyn FnMut(u64),
) -> Result<JoinSummary, IngestError> {
    let parquet_err =
        |e: PolarsError| IngestError::Output(format!("{}: {e}", out.parquet.display()));
    let rejects_err =
        |e: csv::Error| IngestError::Output(format!("{}: {e}", out.rejects.display()));
    let file = File::create(partial.0).map_err(|source| IngestError::Io {
        path: partial.0.to_owned(),
        cause: source,
    })?;
    let mut writer = ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(
            polars_parquet::write::ZstdLevel::try_new(1).ok(),
        ))
        .batched(&crate::columns::file_schema())
        .map_err(parquet_err)?;
    let mut rejects = csv::Writer::from_path(partial.1).map_err(rejects_err)?;
    rejects
        .write_record(["file", "row", "column", "reason"])
        .map_err(rejects_err)?;
    for r in out.earlier {
        rejects
            .serialize((&r.file, r.row, &r.column, &r.reason))
            .map_err(rejects_err)?;
    }
    let mut summary = JoinSummary::default();
    // What a stage returns when the next one has stopped on an error of
    // its own (that error is the one reported).
    const STOPPED: &str = "stopped: a later stage failed";
    let stopped = || IngestError::Output(STOPPED.into());
    let only_stopped = |e: &IngestError| matches!(e, IngestError::Output(m) if m == STOPPED);
    std::thread::scope(|scope| {
        // The cases of every row first, beside the reading: which come
        // more than once.
        let keys = std::thread::Builder::new()
            .name("join-keys".into())
            .spawn_scoped(scope, move || -> Result<Versions, IngestError> {
                let t = Instant::now();
                // Each case's first row leaves 64 bits of its key; a row
                // whose 64 bits were left before counts under its whole
                // key. Two cases that meet in 64 bits (among 10,000,000
                // cases, a chance of about 3 in a million) are held to the
                // end and still written once each: nothing is lost, and the
                // set takes half the room of whole keys.
                let mut seen = rustc_hash::FxHashSet::<u64>::default();
                let mut counts = rustc_hash::FxHashMap::<u128, u32>::default();
                for path in files {
                    read_keys(path, encoding, validator, &mut |key| {
                        if !seen.insert(key as u64) {
                            *counts.entry(key).or_insert(1) += 1;
                        }
                    })?;
                }
                drop(seen);
                let versions = Versions::new(counts);
                tracing::debug!(
                    secs = t.elapsed().as_secs_f64(),
                    repeated = versions.repeated(),
                    "join: reading the cases of every row"
                );
                Ok(versions)
            })
            .expect("starting a join thread");
        // The reader may run three batches ahead: it keeps reading while
        // a large grid file loads (the other channels hold one).
        let (to_join, batches) = sync_channel::<Batch>(3);
        let (to_write, frames) = sync_channel::<(DataFrame, Vec<Reject>)>(1);
        // Threads named for profilers and debuggers (`expect`: as
        // `Scope::spawn` does, a thread the system cannot start is a panic).
        let reader = std::thread::Builder::new()
            .name("join-read".into())
            .spawn_scoped(
                scope,
                move || -> Result<BTreeMap<String, u64>, IngestError> {
                    let mut per_file = BTreeMap::new();
                    let mut busy = Busy::new();
                    for path in files {
                        let read = read_file(path, encoding, validator, &mut |batch: Batch| {
                            busy.wait(|| to_join.send(batch)).map_err(|_| stopped())
                        })?;
                        per_file.insert(path.display().to_string(), read);
                    }
                    tracing::debug!(secs = busy.secs(), "join: reading and validating");
                    Ok(per_file)
                },
            )
            .expect("starting a join thread");
        let writing = std::thread::Builder::new()
            .name("join-write".into())
            .spawn_scoped(scope, move || -> Result<_, IngestError> {
                let mut busy = Busy::new();
                let mut frames = frames.into_iter();
                while let Some((mut df, rej)) = busy.wait(|| frames.next()) {
                    for r in rej {
                        rejects
                            .serialize((&r.file, r.row, &r.column, &r.reason))
                            .map_err(rejects_err)?;
                    }
                    crate::columns::instants_as_utc(&mut df).map_err(parquet_err)?;
                    writer.write_batch(&df).map_err(parquet_err)?;
                }
                tracing::debug!(secs = busy.secs(), "join: writing");
                Ok((writer, rejects))
            })
            .expect("starting a join thread");
        // The grids load (`grids`) while the first batches are read.
        // The unit codes of the output's coding, per unit, with them.
        let t = Instant::now();
        let loaded = grids().and_then(|(model, locator)| {
            let codes = TierCodes::new(&model, &tier_table(&model), Coding::File);
            Ok((model, locator, codes.map_err(parquet_err)?))
        });
        let counted = keys.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        // The model itself is not needed past its codes.
        let (locator, tiers, mut versions) = match (loaded, counted) {
            (Ok((_, locator, tiers)), Ok(versions)) => (locator, tiers, versions),
            (Err(e), _) | (_, Err(e)) => {
                // The other stages stop at their next batch; a grid file
                // that cannot be loaded is the error.
                drop((batches, to_write));
                let _ = (reader.join(), writing.join());
                return Err(e);
            }
        };
        tracing::debug!(
            secs = t.elapsed().as_secs_f64(),
            "join: grids loaded and indexed"
        );
        let locator = &locator;
        // Locating here, in file order; the frames are built on a stage
        // of their own between this one and the writer.
        let joined = std::thread::scope(|inner| {
            let (to_frame, located) = sync_channel::<Located>(1);
            let framing = std::thread::Builder::new()
                .name("join-frame".into())
                .spawn_scoped(inner, move || -> PolarsResult<()> {
                    let mut busy = Busy::new();
                    let mut located = located.into_iter();
                    while let Some(l) = busy.wait(|| located.next()) {
                        let df = joined_frame(&tiers, &l.events, &l.hits)?;
                        if busy.wait(|| to_write.send((df, l.rejects))).is_err() {
                            break;
                        }
                    }
                    tracing::debug!(secs = busy.secs(), "join: building frames");
                    Ok(())
                })
                .expect("starting a join thread");
            let mut busy = Busy::new();
            let mut batches = batches.into_iter();
            let mut sent = true;
            while let Some(batch) = busy.wait(|| batches.next()) {
                let n = batch.read;
                let l = locate_batch(locator, &mut versions, batch, steps, &mut summary);
                sent = busy.wait(|| to_frame.send(l)).is_ok();
                if !sent {
                    break;
                }
                progress(n);
            }
            let rest = versions.rest();
            if sent && !rest.is_empty() {
                let l = place(locator, rest, Vec::new(), steps, &mut summary);
                let _ = busy.wait(|| to_frame.send(l));
            }
            tracing::debug!(secs = busy.secs(), "join: cases offered and located");
            // Closing the channels ends the other stages.
            drop(to_frame);
            framing
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
                .map_err(parquet_err)
        });
        let written = writing
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        let read = reader
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        // The first stage to fail names the error: reading, then joining,
        // then writing (the others only stopped).
        let per_file = match (read, joined, written) {
            (Err(e), _, _) if !only_stopped(&e) => return Err(e),
            (_, Err(e), _) => return Err(e),
            (_, _, Err(e)) => return Err(e),
            (Err(e), _, _) => return Err(e),
            (Ok(per_file), Ok(()), Ok((writer, mut rejects))) => {
                writer.finish().map_err(parquet_err)?;
                rejects
                    .flush()
                    .map_err(|e| IngestError::Output(format!("{}: {e}", out.rejects.display())))?;
                per_file
            }
        };
        summary.per_file = per_file;
        Ok(summary)
    })
}
