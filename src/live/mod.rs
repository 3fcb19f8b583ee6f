//! The live engine: the current analytics frame of the stored events, its
//! snapshot load, refresh and persistence, and the one ingest pipeline
//! that every path into the store goes through ([`Pipeline`]).
//!
//! The frame is a [`Snapshot`] swapped whole: ingest appends the new rows
//! to a pending list, and [`Live::refresh`] (run by the server every few
//! seconds) folds them in and brings the pre-aggregates up to date, so a
//! burst of ingest batches costs one rebuild and readers never wait for
//! one. Cached answers elsewhere are keyed by the snapshot generation, so
//! a swap invalidates them without locking.

mod error;
mod grids;
mod parse;
mod pipeline;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use polars::prelude::*;

use crate::analytics::preagg::{numbered, without_case_times, CASE_TIMES};
use crate::analytics::{PreAgg, Zone};
use crate::ingest::crs::Crs;
use crate::ingest::privacy::KeyedHasher;
use crate::ingest::{ParsedSteps, Validator};
use crate::store::{split_pseudonyms, with_pseudonyms, FrameLoad, Pseudonyms, Store};

pub use error::{LiveError, Result};
pub use grids::{ensure_grids, Grids};
pub use parse::{parse_events, parse_updates, Parsed, ParsedBody};
pub use pipeline::{
    Everywhere, FrameRows, IngestResponse, Pipeline, RowOutcome, Tally, UnusedValues, WriteScope,
    Writer, NOT_YOURS,
};

/// Names of the pre-aggregate tables kept with the frame snapshot.
pub const PRE_TABLES: [&str; 6] = [
    "pre-events",
    "pre-issues",
    "pre-households",
    "pre-case-times-aside",
    "pre-rare-times",
    "pre-codes",
];

/// Hands the allocator's free pages back to the system. Building a frame
/// from the database, or writing its snapshot, leaves gigabytes of freed
/// buffers that glibc would otherwise keep mapped for the life of the
/// process.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages; no pointer is
    // invalidated.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Per parsed row, for a valid issue, the open issues nearby in `scope`
/// that may be the same case (from the frame before the batch).
fn duplicates_of(
    snap: &Snapshot,
    scope: &dyn WriteScope,
    parsed: &Parsed,
) -> Result<Vec<Option<Vec<crate::analytics::duplicates::Nearby>>>> {
    use crate::analytics::duplicates::{open_nearby, Probe, MAX_SUGGESTIONS, RADIUS_M};
    fn issue<T>(
        r: &(
            u64,
            Option<String>,
            std::result::Result<crate::ingest::Event, T>,
        ),
    ) -> Option<Probe<'_>> {
        match &r.2 {
            Ok(e) if e.kind == crate::ingest::Kind::Issue => Some(Probe {
                lon: e.lon,
                lat: e.lat,
                category: e.category.as_str(),
            }),
            _ => None,
        }
    }
    let probes: Vec<Probe<'_>> = parsed.iter().filter_map(issue).collect();
    let model = &snap.grids.model;
    let mut found = open_nearby(&snap.frame, &probes, RADIUS_M, MAX_SUGGESTIONS, &|t| {
        scope.covers(model, t)
    })?
    .into_iter();
    Ok(parsed
        .iter()
        .map(|r| issue(r).and_then(|_| found.next()))
        .collect())
}

/// The writer recorded with the cases a file brings: `file:NAME`.
fn file_writer(path: &Path) -> String {
    let name = path.file_name().map_or(path.display().to_string(), |n| {
        n.to_string_lossy().into_owned()
    });
    format!("file:{name}")
}

/// What the stored pre-aggregates depend on besides the events: the zone of
/// their day column and the code that built them (this executable, by size
/// and modification time), so a new build or zone rebuilds them once.
pub fn snapshot_key(zone: Zone) -> String {
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{mtime}", m.len())
        })
        .unwrap_or_default();
    format!(
        "preagg v5; zone {}; wangge {} {exe}",
        zone.tz,
        env!("CARGO_PKG_VERSION")
    )
}

/// One consistent view of the events for the analytics.
pub struct Snapshot {
    pub grids: Arc<Grids>,
    /// The joined events without the pseudonym columns
    /// ([`crate::store::PSEUDONYMS`]) and without the case times
    /// ([`CASE_TIMES`]: milestones, resolution, deadline), which only `pre`
    /// holds.
    pub frame: DataFrame,
    /// Those columns, read from the snapshot file when asked for.
    pub pseudonyms: Pseudonyms,
    pub pre: PreAgg,
    /// Increases at every rebuild; part of every cache key.
    pub generation: u64,
}

impl Snapshot {
    /// The whole joined frame, pseudonyms and case times included: for
    /// event exports only (blocking; reads the pseudonyms from the snapshot
    /// file).
    pub fn full_frame(&self, store: &Store) -> Result<DataFrame> {
        let mut frame = self.frame.clone();
        frame.hstack_mut(&self.pre.case_times(frame.height())?)?;
        Ok(self.pseudonyms.attach(store, &frame)?)
    }

    /// The joined frame's rows `rows` (ascending frame rows), pseudonyms
    /// and case times included, as [`Snapshot::full_frame`] has them: what
    /// an event export writes, without putting the other rows together.
    pub fn frame_at(&self, store: &Store, rows: &[u32]) -> Result<DataFrame> {
        let idx = IdxCa::from_vec("".into(), rows.iter().map(|&r| r as IdxSize).collect());
        let mut frame = self.frame.take(&idx)?;
        frame.hstack_mut(&self.pre.case_times_at(rows, &CASE_TIMES)?)?;
        let p = self
            .pseudonyms
            .at(store, self.frame.column(crate::columns::ID)?, rows)?;
        Ok(with_pseudonyms(&frame, &p)?)
    }
}

/// How the engine reads rows and keeps its frame.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Zone of the local calendar (days, months).
    pub zone: Zone,
    /// Coordinate system of incoming positions.
    pub crs: Crs,
    /// Write a snapshot of the frame after building it, for the next start.
    pub frame_snapshot: bool,
    /// The instants events and steps may carry.
    pub dates: crate::ingest::Dates,
}

/// Counters of the engine, read by `/metrics`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Rows received by the events paths.
    pub ingest_read: AtomicU64,
    /// Events newly stored by them.
    pub ingest_stored: AtomicU64,
    /// Rows they rejected (conflicts included).
    pub ingest_rejected: AtomicU64,
    /// Of those, conflicts with a stored version.
    pub ingest_duplicates: AtomicU64,
    /// Transition rows received.
    pub updates_read: AtomicU64,
    /// Events in the frame.
    pub frame_rows: AtomicU64,
    /// Rebuilds of the frame after ingest.
    pub rebuilds: AtomicU64,
}

/// The live engine.
pub struct Live {
    pub store: Arc<Store>,
    pub hasher: KeyedHasher,
    pub settings: Settings,
    pub counters: Counters,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    pending: Mutex<Vec<DataFrame>>,
    /// Rows of stored cases that changed, in the order they changed.
    changed: Mutex<Vec<DataFrame>>,
    /// Held while pending rows are folded in: two folds at once would each
    /// build on the same old snapshot and one would lose the other's rows.
    folding: Mutex<()>,
    generation: AtomicU64,
}

impl Live {
    /// An engine without data yet: [`Live::snapshot`] answers
    /// [`LiveError::NotReady`] until [`Live::load`].
    pub fn new(store: Arc<Store>, hasher: KeyedHasher, settings: Settings) -> Live {
        Live {
            store,
            hasher,
            settings,
            counters: Counters::default(),
            snapshot: RwLock::new(None),
            pending: Mutex::new(Vec::new()),
            changed: Mutex::new(Vec::new()),
            folding: Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    /// The validator of the deployment's coordinate system and zone.
    pub fn validator(&self) -> Validator<'_> {
        Validator {
            crs: self.settings.crs,
            tz: self.settings.zone.tz,
            hasher: &self.hasher,
            dates: self.settings.dates,
            unused: Default::default(),
        }
    }

    /// Parsed events from `writer` (within `scope`) into the store and the
    /// frame (blocking). Durable on return. With `suggest`, each new issue's
    /// row lists the open issues nearby that may be the same case.
    pub fn ingest_events(
        &self,
        scope: &dyn WriteScope,
        writer: Writer<'_>,
        parsed: Parsed,
        suggest: bool,
    ) -> Result<IngestResponse> {
        // Suggestions look at every case acknowledged so far.
        let snap = if suggest {
            self.current()?
        } else {
            self.snapshot()?
        };
        let suggestions = if suggest {
            Some(duplicates_of(&snap, scope, &parsed)?)
        } else {
            None
        };
        let (mut out, rows) = self.pipeline(&snap.grids, scope, writer).events(parsed)?;
        if let Some(s) = suggestions {
            for (row, nearby) in out.rows.iter_mut().zip(s) {
                if matches!(row.outcome, "matched" | "partial" | "outside") {
                    row.duplicates = nearby;
                }
            }
        }
        self.queue(rows);
        let (c, t) = (&self.counters, &out.tally);
        c.ingest_read.fetch_add(t.read, Ordering::Relaxed);
        c.ingest_stored.fetch_add(t.inserted(), Ordering::Relaxed);
        c.ingest_rejected.fetch_add(t.rejected, Ordering::Relaxed);
        c.ingest_duplicates
            .fetch_add(t.duplicates, Ordering::Relaxed);
        Ok(out)
    }

    /// Parsed transition rows from `writer` (within `scope`) into the store
    /// and the frame (blocking). Durable on return.
    pub fn ingest_steps(
        &self,
        scope: &dyn WriteScope,
        writer: Writer<'_>,
        parsed: ParsedSteps,
    ) -> Result<IngestResponse> {
        let snap = self.snapshot()?;
        let (out, rows) = self.pipeline(&snap.grids, scope, writer).steps(parsed)?;
        self.queue(rows);
        self.counters
            .updates_read
            .fetch_add(out.tally.read, Ordering::Relaxed);
        Ok(out)
    }

    /// An events file (CSV, JSON Lines, Parquet) into the store, in
    /// transactions of `batch_rows` rows (blocking), its ids in `system`'s
    /// id space (empty: the county's own). For loads before the frame is
    /// built from the database: start-up, `wangge ingest`.
    pub fn load_events_file(
        &self,
        grids: &Grids,
        path: &Path,
        system: &str,
        batch_rows: usize,
    ) -> Result<Tally> {
        let name = file_writer(path);
        warn_unread(
            path,
            crate::ingest::unread_columns(path, None, crate::ingest::column_of),
        );
        let v = self.validator();
        let tally = self
            .file_pipeline(grids, &name, system)
            .events_file(path, &v, batch_rows);
        if let Some(unused) = v.unused.describe() {
            tracing::warn!(file = %path.display(), "{unused}");
        }
        tally
    }

    /// A file of transition rows into the store, like [`Live::load_events_file`].
    pub fn load_steps_file(
        &self,
        grids: &Grids,
        path: &Path,
        system: &str,
        batch_rows: usize,
    ) -> Result<Tally> {
        let name = file_writer(path);
        let unread = crate::ingest::unread_columns(path, None, crate::ingest::update_column_of);
        warn_unread(path, unread);
        let rows = crate::ingest::rows_about(path, crate::store::STEP_ROW_BYTES);
        let load = self.store.steps_load(rows)?;
        let tally = self.file_pipeline(grids, &name, system).steps_file(
            path,
            &self.validator(),
            batch_rows,
        )?;
        load.finish()?;
        Ok(tally)
    }

    /// The pipeline of a file load: every unit, no frame rows, written
    /// as the file `name` in `system`'s id space.
    fn file_pipeline<'a>(
        &'a self,
        grids: &'a Grids,
        name: &'a str,
        system: &'a str,
    ) -> Pipeline<'a> {
        Pipeline {
            store: &self.store,
            grids,
            scope: &Everywhere,
            writer: Writer { name, system },
            frame: false,
        }
    }

    /// The pipeline of a running engine: frame rows built for the queue.
    fn pipeline<'a>(
        &'a self,
        grids: &'a Grids,
        scope: &'a dyn WriteScope,
        writer: Writer<'a>,
    ) -> Pipeline<'a> {
        Pipeline {
            store: &self.store,
            grids,
            scope,
            writer,
            frame: true,
        }
    }

    /// Queues what a batch changed for the next refresh.
    fn queue(&self, rows: FrameRows) {
        let lock = |m: &Mutex<Vec<DataFrame>>, df: DataFrame| {
            if df.height() > 0 {
                m.lock().unwrap_or_else(|p| p.into_inner()).push(df);
            }
        };
        if let Some(df) = rows.new {
            lock(&self.pending, df);
        }
        if let Some(df) = rows.changed {
            lock(&self.changed, df);
        }
    }

    /// Builds the frame from the database and makes the state ready
    /// (blocking: seconds for millions of events).
    pub fn load(self: &Arc<Self>, grids: Grids) -> Result<()> {
        let t = std::time::Instant::now();
        let loaded = self.read_frame()?;
        self.load_with(grids, loaded, t.elapsed().as_secs_f64())
    }

    /// The stored events (and pre-aggregates when stored and current), from
    /// the snapshot where it can (blocking).
    pub fn read_frame(&self) -> Result<FrameLoad> {
        Ok(self.store.load_frame_fast(
            &snapshot_key(self.settings.zone),
            &PRE_TABLES,
            &CASE_TIMES,
        )?)
    }

    /// [`Live::load`] from events already read (`read_secs` is logged);
    /// `loaded` must be the stored events joined against `grids`.
    pub fn load_with(
        self: &Arc<Self>,
        grids: Grids,
        mut loaded: FrameLoad,
        read_secs: f64,
    ) -> Result<()> {
        let t = std::time::Instant::now();
        let key = snapshot_key(self.settings.zone);
        let frame = crate::store::bounded_chunks(loaded.frame.clone())?;
        let mut rebuilt = false;
        // Built here when the pre-aggregates are rebuilt, and then handed to
        // the snapshot writer: the pseudonyms are read from the file once.
        let mut full = None;
        let pre = match loaded.extras.take() {
            Some(t) if t.len() == PRE_TABLES.len() => {
                let tables: [DataFrame; 6] = t.try_into().map_err(|_| {
                    LiveError::Internal("pre-aggregate snapshot: wrong table count".into())
                })?;
                let mut pre = PreAgg::from_snapshot(tables, self.settings.zone)?;
                if loaded.from_database > 0 {
                    // Events stored after the snapshot: only they are
                    // aggregated (their pseudonyms are the ones in memory).
                    let mut tail =
                        frame.slice(loaded.from_snapshot as i64, loaded.from_database as usize);
                    if let Some(left_out) = &loaded.left_out {
                        tail.hstack_mut(left_out.columns())?;
                    }
                    let tail = with_pseudonyms(&tail, loaded.pseudonyms.tail())?;
                    let tail = numbered(tail, loaded.from_snapshot as usize)?;
                    pre.append(&PreAgg::build(tail.lazy(), self.settings.zone)?)?;
                }
                if loaded.changed_rows > 0 {
                    // Cases changed under the snapshot: the days they were
                    // and are reported on are aggregated again from the
                    // patched frame.
                    pre = pre.replace_days(
                        &frame,
                        &self.settings.zone.days_of_us(&loaded.changed_at),
                        Some(&loaded.changed),
                    )?;
                }
                pre
            }
            _ => {
                rebuilt = true;
                let whole = loaded.full_frame(&self.store)?;
                let pre = PreAgg::build(whole.clone().lazy(), self.settings.zone)?;
                full = Some(whole);
                pre
            }
        };
        // The case times now live in the issue table alone.
        let frame = without_case_times(frame);
        let rows = frame.height();
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let version = grids.version.id;
        let snap = Snapshot {
            grids: Arc::new(grids),
            frame,
            pseudonyms: loaded.pseudonyms.clone(),
            pre,
            generation,
        };
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(snap));
        self.counters
            .frame_rows
            .store(rows as u64, Ordering::Relaxed);
        release_free_memory();
        let mb = |df: &DataFrame| (df.estimated_size() >> 20) as u64;
        let held = self.snapshot()?;
        tracing::info!(
            rows,
            frame_mb = mb(&held.frame),
            count_table_mb = mb(&held.pre.events),
            issue_table_mb = mb(&held.pre.issues),
            rare_table_mb = mb(held.pre.rare.table()),
            household_table_mb = mb(&held.pre.households),
            from_snapshot = loaded.from_snapshot,
            from_database = loaded.from_database,
            changed = loaded.changed_rows,
            read_secs,
            pre_aggregated = rebuilt,
            secs = t.elapsed().as_secs_f64(),
            "analytics frame built"
        );
        if self.settings.frame_snapshot && (rebuilt || loaded.snapshot_is_stale()) {
            // After readiness, off the request threads: the next start-up
            // reads these files instead of the rows and the pre-aggregation.
            let pre = self.snapshot()?;
            let st = Arc::clone(self);
            std::thread::spawn(move || {
                let store = &st.store;
                let t = std::time::Instant::now();
                // One day-sorted run per table, so the next start-up can
                // use them as they are.
                let p = &pre.pre;
                let tables = PreAgg::from_tables(p.codes.clone(), p.tables(), p.zone)
                    .and_then(|p| p.snapshot_tables());
                let tables = match tables {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::warn!(error = %e, "sorting the pre-aggregates failed");
                        return;
                    }
                };
                let extras: Vec<(&str, &DataFrame)> =
                    PRE_TABLES.iter().copied().zip(tables.iter()).collect();
                // The frame as read is not needed: the served one, with the
                // case times from the pre-aggregates, is the same rows.
                let (rows, high_water, changes) =
                    (loaded.frame.height(), loaded.high_water, loaded.changes);
                drop(loaded);
                release_free_memory();
                let written = full
                    .map_or_else(|| pre.full_frame(store), Ok)
                    .and_then(|full| {
                        let pending = store
                            .prepare_snapshot(&full, high_water, version, &key, &extras, changes)?;
                        Ok(pending.commit(store)?)
                    });
                match written {
                    Ok(()) => {
                        tracing::info!(
                            rows,
                            secs = t.elapsed().as_secs_f64(),
                            file = %store.snapshot_path().display(),
                            "frame snapshot written"
                        );
                        st.pseudonyms_stored(&pre.grids, rows);
                        drop(pre);
                        release_free_memory();
                    }
                    Err(e) => tracing::warn!(error = %e, "writing the frame snapshot failed"),
                }
            });
        } else {
            // The frame as read, case times included, is not needed any more.
            drop(loaded);
            release_free_memory();
        }
        Ok(())
    }

    /// The snapshot file now holds the first `rows` rows of the frame built
    /// on `grids`: their pseudonyms leave memory (a frame read from the
    /// database held all of them). A frame built since on other grids is
    /// left alone.
    fn pseudonyms_stored(&self, grids: &Arc<Grids>, rows: usize) {
        let _one_at_a_time = self.folding.lock().unwrap_or_else(|p| p.into_inner());
        let Ok(old) = self.snapshot() else { return };
        if !Arc::ptr_eq(&old.grids, grids) {
            return;
        }
        match old.pseudonyms.stored(rows) {
            Ok(Some(pseudonyms)) => {
                let snap = Snapshot {
                    grids: old.grids.clone(),
                    frame: old.frame.clone(),
                    pseudonyms,
                    pre: old.pre.clone(),
                    // The same data: cached answers stay valid.
                    generation: old.generation,
                };
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(snap));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "keeping the pseudonyms in memory"),
        }
    }

    /// The snapshot with every acknowledged event folded in (blocking):
    /// for reads that list rows, where the refresh period would show.
    pub fn current(&self) -> Result<Arc<Snapshot>> {
        self.refresh()?;
        self.snapshot()
    }

    /// The current snapshot, or 503 while loading.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(LiveError::NotReady)
    }

    pub fn is_ready(&self) -> bool {
        self.snapshot.read().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Folds pending rows into a new snapshot (blocking). `Ok(false)` when
    /// there was nothing to fold.
    pub fn refresh(&self) -> Result<bool> {
        let _one_at_a_time = self.folding.lock().unwrap_or_else(|p| p.into_inner());
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let changed = std::mem::take(&mut *self.changed.lock().unwrap_or_else(|p| p.into_inner()));
        if pending.is_empty() && changed.is_empty() {
            return Ok(false);
        }
        let old = self.snapshot()?;
        let (frame, pseudonyms, pre) = if pending.is_empty() {
            (old.frame.clone(), old.pseudonyms.clone(), old.pre.clone())
        } else {
            self.fold_new(&old, &pending)?
        };
        let (frame, pre) = if changed.is_empty() {
            (frame, pre)
        } else {
            let (frame, reported, placed) = crate::store::replace_rows(frame, &changed)?;
            let pre = pre.replace_days(
                &frame,
                &self.settings.zone.days_of_us(&reported),
                Some(&placed),
            )?;
            (frame, pre)
        };
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let rows = frame.height();
        let snap = Snapshot {
            grids: old.grids.clone(),
            frame,
            pseudonyms,
            pre,
            generation,
        };
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(snap));
        self.counters
            .frame_rows
            .store(rows as u64, Ordering::Relaxed);
        self.counters.rebuilds.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// The frame, pseudonyms and pre-aggregates of `old` with `pending`
    /// new rows appended.
    fn fold_new(
        &self,
        old: &Snapshot,
        pending: &[DataFrame],
    ) -> Result<(DataFrame, Pseudonyms, PreAgg)> {
        // The new rows alone are pre-aggregated and folded in: a refresh
        // costs what was ingested since the last one, not the whole frame.
        let mut new = pending[0].clone();
        for p in &pending[1..] {
            new.vstack_mut(p)?;
        }
        new.rechunk_mut();
        let mut pre = old.pre.clone();
        let at = numbered(new.clone(), old.frame.height())?;
        pre.append(&PreAgg::build(at.lazy(), self.settings.zone)?)?;
        let (new, new_pseudonyms) = split_pseudonyms(without_case_times(new))?;
        let new = crate::columns::encode(new)?;
        let mut pseudonyms = old.pseudonyms.clone();
        pseudonyms.append(&new_pseudonyms)?;
        let mut frame = old.frame.clone();
        frame.vstack_mut(&new)?;
        let frame = crate::store::compact_chunks(frame)?;
        Ok((frame, pseudonyms, pre))
    }
}

/// Says which columns of a file no contract column reads (a misspelt
/// `deadlin` is left out of every row without a word otherwise).
fn warn_unread(path: &Path, unread: Vec<String>) {
    if !unread.is_empty() {
        tracing::warn!(
            file = %path.display(),
            columns = unread.join(", "),
            "columns no input column reads (misspelt, or not an input column): left out"
        );
    }
}
