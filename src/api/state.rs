//! Shared state of the handlers: the live engine (store, frame, ingest
//! pipeline), sessions, caches and the audit writer, behind one `Clone`
//! handle of `Arc`s.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::Method;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::config::Config;
use super::error::ApiError;
use crate::analytics::{Weights, Zone};
use crate::grid::tiles::TileSet;
use crate::ingest::crs::Crs;
use crate::ingest::privacy::KeyedHasher;
pub use crate::live::{Grids, Snapshot};
use crate::live::{Live, Settings};
use crate::store::{AuditEntry, Session, Store};

/// The zone of the local calendar (days, months) of `config`.
pub fn zone_of(config: &Config) -> Zone {
    let tz = config
        .ingest
        .tz
        .parse()
        .unwrap_or(chrono_tz::Asia::Shanghai);
    Zone { tz }
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
    /// The frame, its refresh and the ingest pipeline.
    pub live: Arc<Live>,
    /// The live engine's store.
    pub store: Arc<Store>,
    /// The live engine's calendar zone.
    pub zone: Zone,
    /// Sessions by token hash, with when each was read from the database:
    /// an entry older than [`SESSION_RECHECK`] is read again, so a disabled
    /// user or a revoked token stops working within that time.
    pub sessions: RwLock<HashMap<String, (Arc<Session>, std::time::Instant)>>,
    /// Failed logins by name and address.
    pub logins: super::throttle::Throttle,
    /// Costly requests by user.
    pub costly: Costly,
    pub cache: Mutex<HashMap<String, Arc<Cached>>>,
    pub weights: Mutex<HashMap<u64, Arc<Weights>>>,
    pub geometry: Mutex<HashMap<(u8, u8), Features>>,
    /// Vector tiles of the served grid version.
    pub tiles: TileCache,
    /// The Chinese font cut for a grid version (its id), see [`super::web::glyphs_for`].
    pub glyphs: Mutex<Option<(i64, Arc<crate::assets::glyphs::Glyphs>)>>,
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
/// How often the allocator's free pages go back to the system. An export
/// or a year's league tables free hundreds of megabytes that glibc keeps
/// mapped otherwise: at 10,000,000 events a server resident at 2.2 GB
/// after start-up stayed at 3.2 GB after a few exports and `/compare`
/// requests, and went back to 2.3 GB once trimmed.
const TRIM_EVERY: Duration = Duration::from_secs(30);

/// How long the audit writer gathers records before one transaction.
const AUDIT_BATCH: Duration = Duration::from_millis(250);

impl AppState {
    /// State without data yet: `/healthz` and login work, the data endpoints
    /// answer 503 `not_ready` until [`AppState::load`] or [`AppState::set_grids`].
    pub fn new(config: Config, store: Arc<Store>, hasher: KeyedHasher) -> AppState {
        let zone = zone_of(&config);
        let settings = Settings {
            zone,
            // Checked when the configuration was loaded (`Config::check`).
            crs: config.ingest.crs.parse().unwrap_or(Crs::Wgs84),
            frame_snapshot: config.storage.frame_snapshot,
            dates: config.dates().unwrap_or_default(),
        };
        let live = Arc::new(Live::new(store.clone(), hasher, settings));
        let costly = Costly::new(config.server.costly_per_minute, config.server.costly_burst);
        let (audit_tx, audit_rx) = tokio::sync::mpsc::unbounded_channel();
        AppState(Arc::new(Inner {
            config,
            live,
            store,
            zone,
            sessions: RwLock::new(HashMap::new()),
            logins: Default::default(),
            costly,
            cache: Mutex::new(HashMap::new()),
            weights: Mutex::new(HashMap::new()),
            geometry: Mutex::new(HashMap::new()),
            tiles: Default::default(),
            glyphs: Mutex::new(None),
            metrics: Metrics::default(),
            audit_tx,
            audit_rx: Mutex::new(Some(audit_rx)),
            recent: Mutex::new(HashMap::new()),
        }))
    }

    /// Builds the frame from the database and makes the state ready
    /// (blocking: seconds for millions of events).
    pub fn load(&self, grids: Grids) -> Result<(), ApiError> {
        Ok(self.live.load(grids)?)
    }

    /// The snapshot with every acknowledged event folded in (blocking):
    /// for reads that list rows, where the refresh period would show.
    pub fn current(&self) -> Result<Arc<Snapshot>, ApiError> {
        self.refresh()?;
        self.snapshot()
    }

    /// The current snapshot, or 503 while loading.
    pub fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        Ok(self.live.snapshot()?)
    }

    pub fn is_ready(&self) -> bool {
        self.live.is_ready()
    }

    /// Folds what was ingested into a new snapshot (blocking) and drops
    /// the cached answers of the old one. `Ok(false)` when there was
    /// nothing to fold.
    pub fn refresh(&self) -> Result<bool, ApiError> {
        let rebuilt = self.live.refresh()?;
        if rebuilt {
            self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        Ok(rebuilt)
    }

    /// Queen contiguity of `units` (indices into `model`), cached by their
    /// codes: `/hotspots` and `/hotspots/emerging` over the same units share it.
    pub fn contiguity(
        &self,
        model: &crate::grid::GridModel,
        units: &[usize],
    ) -> Result<Arc<Weights>, ApiError> {
        use std::hash::{Hash, Hasher};
        let codes: Vec<&str> = units.iter().map(|&i| model.unit(i).code.as_str()).collect();
        let mut hs = std::collections::hash_map::DefaultHasher::new();
        codes.hash(&mut hs);
        let key = hs.finish();
        let cached = self
            .weights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned();
        if let Some(w) = cached {
            return Ok(w);
        }
        let geoms: Vec<_> = units.iter().map(|&i| &model.unit(i).geometry).collect();
        let w = Arc::new(crate::analytics::queen_contiguity(&geoms, 1.0)?);
        self.weights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, w.clone());
        Ok(w)
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
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "checkpointing the database log failed")
                            }
                            Err(e) => tracing::error!(error = %e, "checkpoint task panicked"),
                        }
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "checkpoints stay on the commit path"),
        }
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TRIM_EVERY).await;
                let t = std::time::Instant::now();
                let _ = tokio::task::spawn_blocking(crate::live::release_free_memory).await;
                tracing::debug!(secs = t.elapsed().as_secs_f64(), "free heap pages released");
            }
        });
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

/// The limiter of costly requests; `None` when `costly_per_minute` is 0.
pub struct Costly(Option<DefaultKeyedRateLimiter<String>>);

impl Costly {
    /// `per_minute` requests a minute per user (0: no limit), bursts of `burst`.
    pub fn new(per_minute: u32, burst: u32) -> Costly {
        Costly(NonZeroU32::new(per_minute).map(|n| {
            let quota = Quota::per_minute(n).allow_burst(NonZeroU32::new(burst).unwrap_or(n));
            RateLimiter::keyed(quota)
        }))
    }

    /// Counts one costly request of `who`; the whole seconds to wait when
    /// over the limit.
    pub fn check(&self, who: &str) -> Result<(), u64> {
        let Some(l) = &self.0 else { return Ok(()) };
        l.check_key(&who.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs_f64().ceil().max(1.0) as u64
        })
    }
}

/// Requests of one route by method and status.
type ByStatus = HashMap<(Method, u16), u64>;

/// Counters exported at `/metrics`.
#[derive(Default)]
pub struct Metrics {
    /// route → (method, status) → requests. Keyed by route first so that
    /// counting a request looks up a `&str`: no allocation per request.
    pub(super) requests: Mutex<HashMap<String, ByStatus>>,
    /// Sum of request seconds, in µs.
    pub(super) latency_us: AtomicU64,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
}

impl Metrics {
    /// Counts one answered request.
    pub(super) fn count(&self, route: &str, method: &Method, status: u16) {
        // Label values stay bounded: routes are the router's (or
        // `unmatched`), methods the standard ones (or `OTHER`).
        let standard = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ];
        let method = if standard.contains(method) {
            method.clone()
        } else {
            Method::from_bytes(b"OTHER").unwrap_or(Method::GET)
        };
        let method = &method;
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        let by = match m.get_mut(route) {
            Some(by) => by,
            None => m.entry(route.to_owned()).or_default(),
        };
        *by.entry((method.clone(), status)).or_default() += 1;
    }
}

/// Cached tiles are dropped all at once past this many bytes.
const CACHE_BYTES: usize = 256 << 20;

pub type TileKey = (i64, u8, u8, u32, u32, String);

/// Tile sets by (grid version, tier) and encoded tiles.
#[derive(Default)]
pub struct TileCache {
    sets: Mutex<HashMap<(i64, u8), Arc<TileSet>>>,
    tiles: Mutex<(HashMap<TileKey, Bytes>, usize)>,
}

impl TileCache {
    pub(super) fn set(
        &self,
        version: i64,
        level: u8,
        make: impl FnOnce() -> TileSet,
    ) -> Arc<TileSet> {
        let mut sets = self.sets.lock().unwrap_or_else(|p| p.into_inner());
        // Only the served version is kept.
        sets.retain(|k, _| k.0 == version);
        sets.entry((version, level))
            .or_insert_with(|| Arc::new(make()))
            .clone()
    }

    pub(super) fn get(
        &self,
        key: &TileKey,
        make: impl FnOnce() -> Result<Vec<u8>, ApiError>,
    ) -> Result<Bytes, ApiError> {
        if let Some(b) = self
            .tiles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .get(key)
        {
            return Ok(b.clone());
        }
        let b = Bytes::from(make()?);
        let mut t = self.tiles.lock().unwrap_or_else(|p| p.into_inner());
        if t.1 + b.len() > CACHE_BYTES {
            t.0.clear();
            t.1 = 0;
        }
        t.1 += b.len();
        t.0.insert(key.clone(), b.clone());
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_their_own_allowance() {
        let c = Costly::new(60, 3);
        for _ in 0..3 {
            assert_eq!(c.check("a"), Ok(()));
        }
        let wait = c.check("a").unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert_eq!(c.check("b"), Ok(()));
        let off = Costly::new(0, 0);
        assert!((0..1000).all(|_| off.check("a").is_ok()));
    }
}
