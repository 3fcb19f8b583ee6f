//! Shared state: the store, the grid model, the in-memory analytics frame
//! and the caches, behind one `Clone` handle of `Arc`s.
//!
//! The frame is a [`Snapshot`] swapped whole: ingest appends the new rows to
//! a pending list, and a background task folds them in and rebuilds the
//! pre-aggregates every `refresh_secs`, so a burst of ingest batches costs
//! one rebuild, and readers never wait for one. Cached responses are keyed
//! by the snapshot generation, so a swap invalidates them without locking.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use polars::prelude::*;

use super::config::Config;
use super::error::ApiError;
use super::ops::Metrics;
use crate::analytics::{PreAgg, Weights, Zone};
use crate::grid::GridModel;
use crate::ingest::privacy::KeyedHasher;
use crate::join::{tier_table, Locator, Strategy};
use crate::store::{
    split_pseudonyms, with_pseudonyms, AuditEntry, FrameLoad, GridVersion, Pseudonyms, Session,
    Store,
};

/// The grid model of the active version and what locating needs.
pub struct Grids {
    pub model: GridModel,
    pub version: GridVersion,
    pub locator: Locator,
    pub tiers: Vec<[u32; 3]>,
}

impl Grids {
    pub fn new(model: GridModel, version: GridVersion) -> Grids {
        let locator = Locator::new(&model, Strategy::Cells);
        let tiers = tier_table(&model);
        Grids {
            model,
            version,
            locator,
            tiers,
        }
    }
}

/// Names of the pre-aggregate tables kept with the frame snapshot.
const PRE_TABLES: [&str; 4] = ["pre-events", "pre-issues", "pre-households", "pre-codes"];

/// Hands the allocator's free pages back to the system. Building a frame
/// from the database, or writing its snapshot, leaves gigabytes of freed
/// buffers that glibc would otherwise keep mapped for the life of the
/// process.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused heap pages; no pointer is
    // invalidated.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The zone of the local calendar (days, months) of `config`.
pub fn zone_of(config: &Config) -> Zone {
    let tz = config
        .ingest
        .tz
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    Zone { tz }
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
        "preagg v1; zone {}; wangge {} {exe}",
        zone.tz,
        env!("CARGO_PKG_VERSION")
    )
}

/// One consistent view of the events for the analytics.
pub struct Snapshot {
    pub grids: Arc<Grids>,
    /// The joined events without the pseudonym columns
    /// ([`crate::store::PSEUDONYMS`]).
    pub frame: DataFrame,
    /// Those columns, read from the snapshot file when asked for.
    pub pseudonyms: Pseudonyms,
    pub pre: PreAgg,
    /// Increases at every rebuild; part of every cache key.
    pub generation: u64,
}

impl Snapshot {
    /// The whole joined frame, pseudonyms included: for event exports only
    /// (blocking; reads the pseudonyms from the snapshot file).
    pub fn full_frame(&self, store: &Store) -> Result<DataFrame, ApiError> {
        Ok(self.pseudonyms.attach(store, &self.frame)?)
    }
}

/// Serialised GeoJSON Features of every unit (empty for other levels), by index.
pub type Features = Arc<Vec<String>>;

/// A cached response body with its entity tag.
pub struct Cached {
    pub etag: axum::http::HeaderValue,
    pub body: Bytes,
}

/// Everything the handlers share.
pub struct Inner {
    pub config: Config,
    pub store: Arc<Store>,
    pub hasher: KeyedHasher,
    pub zone: Zone,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    pending: Mutex<Vec<DataFrame>>,
    /// Rows of stored cases that changed, in the order they changed.
    changed: Mutex<Vec<DataFrame>>,
    /// Held while pending rows are folded in: two folds at once would each
    /// build on the same old snapshot and one would lose the other's rows.
    folding: Mutex<()>,
    generation: AtomicU64,
    /// Sessions by token hash, with when each was read from the database:
    /// an entry older than [`SESSION_RECHECK`] is read again, so a disabled
    /// user or a revoked token stops working within that time.
    pub sessions: RwLock<HashMap<String, (Arc<Session>, std::time::Instant)>>,
    /// Failed logins by name and address.
    pub logins: super::throttle::Throttle,
    pub cache: Mutex<HashMap<String, Arc<Cached>>>,
    pub weights: Mutex<HashMap<u64, Arc<Weights>>>,
    pub geometry: Mutex<HashMap<(u8, u8), Features>>,
    pub metrics: Metrics,
    audit_tx: tokio::sync::mpsc::UnboundedSender<AuditEntry>,
    audit_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<AuditEntry>>>,
    /// Requests audited since the writer last ran, one entry per user,
    /// action, target, status and second, counted (see [`AppState::audit_request`]).
    recent: Mutex<HashMap<u64, AuditEntry>>,
}

/// The handle given to every handler.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// How long a cached session is trusted before the database is asked again.
pub const SESSION_RECHECK: Duration = Duration::from_secs(1);

/// How often the database log is copied into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// How long the audit writer gathers records before one transaction.
const AUDIT_BATCH: Duration = Duration::from_millis(250);

impl AppState {
    /// State without data yet: `/healthz` and login work, the data endpoints
    /// answer 503 `not_ready` until [`AppState::load`] or [`AppState::set_grids`].
    pub fn new(config: Config, store: Arc<Store>, hasher: KeyedHasher) -> AppState {
        let zone = zone_of(&config);
        let (audit_tx, audit_rx) = tokio::sync::mpsc::unbounded_channel();
        AppState(Arc::new(Inner {
            config,
            store,
            hasher,
            zone,
            snapshot: RwLock::new(None),
            pending: Mutex::new(Vec::new()),
            changed: Mutex::new(Vec::new()),
            folding: Mutex::new(()),
            generation: AtomicU64::new(0),
            sessions: RwLock::new(HashMap::new()),
            logins: Default::default(),
            cache: Mutex::new(HashMap::new()),
            weights: Mutex::new(HashMap::new()),
            geometry: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            audit_tx,
            audit_rx: Mutex::new(Some(audit_rx)),
            recent: Mutex::new(HashMap::new()),
        }))
    }

    /// Builds the frame from the database and makes the state ready
    /// (blocking: seconds for millions of events).
    pub fn load(&self, grids: Grids) -> Result<(), ApiError> {
        let t = std::time::Instant::now();
        let loaded = self.read_frame()?;
        self.load_with(grids, loaded, t.elapsed().as_secs_f64())
    }

    /// The stored events (and pre-aggregates when stored and current), from
    /// the snapshot where it can (blocking).
    pub fn read_frame(&self) -> Result<FrameLoad, ApiError> {
        Ok(self
            .store
            .load_frame_fast(&snapshot_key(self.zone), &PRE_TABLES)?)
    }

    /// [`AppState::load`] from events already read (`read_secs` is logged);
    /// `loaded` must be the stored events joined against `grids`.
    pub fn load_with(
        &self,
        grids: Grids,
        mut loaded: FrameLoad,
        read_secs: f64,
    ) -> Result<(), ApiError> {
        let t = std::time::Instant::now();
        let key = snapshot_key(self.zone);
        let frame = crate::store::bounded_chunks(loaded.frame.clone())?;
        let mut rebuilt = false;
        // Built here when the pre-aggregates are rebuilt, and then handed to
        // the snapshot writer: the pseudonyms are read from the file once.
        let mut full = None;
        let pre = match loaded.extras.take() {
            Some(t) if t.len() == 4 => {
                let tables: [DataFrame; 4] = t.try_into().map_err(|_| {
                    ApiError::Internal("pre-aggregate snapshot: wrong table count".into())
                })?;
                let mut pre = PreAgg::from_snapshot(tables, self.zone)?;
                if loaded.from_database > 0 {
                    // Events stored after the snapshot: only they are
                    // aggregated (their pseudonyms are the ones in memory).
                    let tail =
                        frame.slice(loaded.from_snapshot as i64, loaded.from_database as usize);
                    let tail = with_pseudonyms(&tail, loaded.pseudonyms.tail())?;
                    pre.append(&PreAgg::build(tail.lazy(), self.zone)?)?;
                }
                if loaded.changed_rows > 0 {
                    // Cases changed under the snapshot: their kinds are
                    // aggregated again from the patched frame.
                    pre = pre.replace_cases(&frame)?;
                }
                pre
            }
            _ => {
                rebuilt = true;
                let whole = loaded.full_frame(&self.store)?;
                let pre = PreAgg::build(whole.clone().lazy(), self.zone)?;
                full = Some(whole);
                pre
            }
        };
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
        self.metrics
            .frame_rows
            .store(rows as u64, Ordering::Relaxed);
        release_free_memory();
        tracing::info!(
            rows,
            from_snapshot = loaded.from_snapshot,
            from_database = loaded.from_database,
            changed = loaded.changed_rows,
            read_secs,
            pre_aggregated = rebuilt,
            secs = t.elapsed().as_secs_f64(),
            "analytics frame built"
        );
        if self.config.storage.frame_snapshot && (rebuilt || loaded.snapshot_is_stale()) {
            // After readiness, off the request threads: the next start-up
            // reads these files instead of the rows and the pre-aggregation.
            let pre = self.snapshot()?;
            let st = self.clone();
            std::thread::spawn(move || {
                let store = &st.store;
                let t = std::time::Instant::now();
                // One day-sorted run per table, so the next start-up can
                // use them as they are.
                let p = &pre.pre;
                let tables = PreAgg::from_tables(
                    p.codes.clone(),
                    [p.events.clone(), p.issues.clone(), p.households.clone()],
                    p.zone,
                )
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
                let written = full
                    .map_or_else(|| loaded.full_frame(store), Ok)
                    .and_then(|full| {
                        store
                            .prepare_snapshot(
                                &full,
                                loaded.high_water,
                                version,
                                &key,
                                &extras,
                                loaded.changes,
                            )
                            .and_then(|pending| pending.commit(store))
                    });
                match written {
                    Ok(()) => {
                        tracing::info!(
                            rows = loaded.frame.height(),
                            secs = t.elapsed().as_secs_f64(),
                            file = %store.snapshot_path().display(),
                            "frame snapshot written"
                        );
                        st.pseudonyms_stored(&pre.grids, loaded.frame.height());
                        drop(loaded);
                        drop(pre);
                        release_free_memory();
                    }
                    Err(e) => tracing::warn!(error = %e, "writing the frame snapshot failed"),
                }
            });
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
    pub fn current(&self) -> Result<Arc<Snapshot>, ApiError> {
        self.refresh()?;
        self.snapshot()
    }

    /// The current snapshot, or 503 while loading.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(ApiError::NotReady)
    }

    pub fn is_ready(&self) -> bool {
        self.snapshot.read().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Queues rows just stored for the next rebuild.
    pub fn append(&self, rows: DataFrame) {
        if rows.height() > 0 {
            self.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(rows);
        }
    }

    /// Queues the new current rows of stored cases that changed.
    pub fn replace(&self, rows: DataFrame) {
        if rows.height() > 0 {
            self.changed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(rows);
        }
    }

    /// Folds pending rows into a new snapshot (blocking). `Ok(false)` when
    /// there was nothing to fold.
    pub fn refresh(&self) -> Result<bool, ApiError> {
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
            let frame = crate::store::replace_rows(frame, &changed)?;
            let pre = pre.replace_cases(&frame)?;
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
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.metrics
            .frame_rows
            .store(rows as u64, Ordering::Relaxed);
        self.metrics.rebuilds.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// The frame, pseudonyms and pre-aggregates of `old` with `pending`
    /// new rows appended.
    fn fold_new(
        &self,
        old: &Snapshot,
        pending: &[DataFrame],
    ) -> Result<(DataFrame, Pseudonyms, PreAgg), ApiError> {
        // The new rows alone are pre-aggregated and folded in: a refresh
        // costs what was ingested since the last one, not the whole frame.
        let mut new = pending[0].clone();
        for p in &pending[1..] {
            new.vstack_mut(p)?;
        }
        new.rechunk_mut();
        let mut pre = old.pre.clone();
        pre.append(&PreAgg::build(new.clone().lazy(), self.zone)?)?;
        let (new, new_pseudonyms) = split_pseudonyms(new)?;
        let mut pseudonyms = old.pseudonyms.clone();
        pseudonyms.append(&new_pseudonyms)?;
        let mut frame = old.frame.clone();
        frame.vstack_mut(&new)?;
        let frame = crate::store::compact_chunks(frame)?;
        Ok((frame, pseudonyms, pre))
    }

    /// Records a login, logout or other event; written in batches by [`AppState::spawn_background`].
    pub fn audit(&self, entry: AuditEntry) {
        let _ = self.audit_tx.send(entry);
    }

    /// Records an answered request (`target`: path and query). The same
    /// user, action, target and status within one second are one record
    /// with a count, as the audit table keeps them; counting a repeat costs
    /// a hash and a lookup, no allocation.
    pub fn audit_request(&self, user: &str, action: &str, method: &str, target: &str, status: u16) {
        use std::hash::{Hash, Hasher};
        let at = crate::store::now_us();
        let second = at.div_euclid(1_000_000);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (user, action, method, target, status, second).hash(&mut h);
        let key = h.finish();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = recent.get_mut(&key) {
            let same = e.at.div_euclid(1_000_000) == second
                && e.status == status
                && e.user.as_deref() == Some(user)
                && e.action == action
                && e.target
                    .strip_prefix(method)
                    .and_then(|t| t.strip_prefix(' '))
                    == Some(target);
            if same {
                e.n += 1;
                return;
            }
        }
        let entry = AuditEntry {
            at,
            user: Some(user.to_owned()),
            action: action.to_owned(),
            target: format!("{method} {target}"),
            status,
            n: 1,
        };
        // A hash collision hands the older record to the writer as it is.
        if let Some(old) = recent.insert(key, entry) {
            let _ = self.audit_tx.send(old);
        }
    }

    /// The coalesced request records, taken for writing.
    fn take_recent(&self) -> Vec<AuditEntry> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *recent).into_values().collect()
    }

    /// Starts the refresh loop and the audit writer (call once, inside a runtime).
    pub fn spawn_background(&self) {
        match self.store.checkpoint_in_background() {
            Ok(()) => {
                let st = self.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(CHECKPOINT_EVERY).await;
                        let s = st.store.clone();
                        match tokio::task::spawn_blocking(move || s.checkpoint()).await {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => tracing::warn!(error = %e, "checkpointing the database log failed"),
                            Err(e) => tracing::error!(error = %e, "checkpoint task panicked"),
                        }
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "checkpoints stay on the commit path"),
        }
        let st = self.clone();
        let every = Duration::from_secs(self.config.analytics.refresh_secs.max(1));
        tokio::spawn(async move {
            let mut took = Duration::ZERO;
            loop {
                // A refresh costs what the frame holds when cases changed
                // in place: waiting four times its length keeps it under a
                // fifth of a core however large the frame grows.
                tokio::time::sleep(every.max(took * 4)).await;
                let s = st.clone();
                let t = std::time::Instant::now();
                let done = tokio::task::spawn_blocking(move || s.refresh()).await;
                took = t.elapsed();
                match done {
                    Ok(Ok(_)) | Ok(Err(ApiError::NotReady)) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "refreshing the analytics frame failed")
                    }
                    Err(e) => tracing::error!(error = %e, "refresh task panicked"),
                }
            }
        });
        let Some(mut rx) = self
            .audit_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return;
        };
        let st = self.clone();
        tokio::spawn(async move {
            loop {
                // A quarter second of records per transaction: a busy map
                // would otherwise keep the disk syncing audit rows.
                tokio::time::sleep(AUDIT_BATCH).await;
                let mut batch = Vec::new();
                loop {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                        Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return,
                    }
                }
                batch.extend(st.take_recent());
                if batch.is_empty() {
                    continue;
                }
                batch.sort_by_key(|e| e.at);
                let s = st.store.clone();
                let n = batch.len();
                match tokio::task::spawn_blocking(move || s.audit(&batch)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, lost = n, "writing the audit log failed")
                    }
                    Err(e) => tracing::error!(error = %e, lost = n, "audit task panicked"),
                }
            }
        });
    }

    /// Runs `f` off the async threads on the snapshot with every
    /// acknowledged event folded in: for reads that list rows or what the
    /// rows hold, where the refresh period would show. 503 while loading.
    pub async fn on_current<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Snapshot) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.snapshot()?;
        let st = self.clone();
        self.blocking(move || f(&*st.current()?)).await
    }

    /// Runs blocking work off the async threads, within the query timeout.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let secs = self.config.server.query_timeout_secs;
        let task = tokio::task::spawn_blocking(f);
        match tokio::time::timeout(Duration::from_secs(secs), task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(ApiError::Internal(format!("task failed: {e}"))),
            Err(_) => Err(ApiError::Timeout(secs)),
        }
    }
}
