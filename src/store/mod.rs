//! Storage: the one SQLite database that is the system of record.
//!
//! In: grid files, located events, users and what they read. Out: grid
//! versions (an older version is kept when a new file arrives, and events
//! are re-joined), events with their join results, users with argon2
//! password hashes, sessions and API tokens stored as SHA-256 of the token,
//! and the audit log. The analytics never read SQLite row by row: the API
//! builds a polars frame from [`Store::load_frame_fast`] at start-up and
//! appends to it on ingest; a Parquet snapshot of that frame, checked
//! against the database before use, spares a restart the row-by-row read.
//!
//! WAL mode with `synchronous=FULL`: a transaction that returned from
//! `commit` survives `kill -9` and power loss, which is what "an acknowledged
//! ingest is durable" needs. One writer connection behind a mutex (SQLite
//! allows one writer anyway); readers take pooled connections and never
//! block the writer.
//!
//! Writes are committed in groups ([`Store::write`]): each caller's work runs
//! in its own savepoint of a shared transaction, and the transaction is
//! committed (one log write, one sync) when no other writer is waiting, with
//! every caller answered only after that commit. Concurrent ingest batches
//! then share the sync and the pages they both touch, and a failed batch
//! rolls back alone.

mod cases;
mod claim;
mod events;
mod floor;
mod frame;
mod grids;
mod ledger;
mod pseudonyms;
mod schema;
mod snapshot;
mod users;

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;

pub use claim::{lock_path, Claim};

pub use crate::ingest::Step;
pub use cases::{Applied, Locate, Place, StepsLoad, Stored, STEP_ROW_BYTES};
pub use events::{IssueRow, Located};
pub use frame::{bounded_chunks, compact_chunks, replace_rows, CHUNK_ROWS};
pub use grids::GridVersion;
pub use ledger::Unloaded;
pub use pseudonyms::{split_pseudonyms, with_pseudonyms, Pseudonyms, PSEUDONYMS};
pub use snapshot::{frame_schema, FrameLoad, PendingSnapshot};
pub use users::{
    hash_token, name_problem, new_token, password_problem, system_problem, AuditEntry, Role,
    Session, User,
};

/// What can go wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation (disk full, locked past the busy timeout, corrupt file).
    #[error("database {path}: {source}")]
    Sql {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A stored value does not parse back (a role name, a scope list).
    #[error("stored {what} is malformed: {reason}")]
    Corrupt { what: &'static str, reason: String },
    /// Building the in-memory frame failed.
    #[error("building the event frame: {0}")]
    Frame(#[from] polars::prelude::PolarsError),
    /// Password hashing failed (argon2 parameters, bad stored hash).
    #[error("password hashing: {0}")]
    Password(String),
    /// A user name already taken, an unknown user, a bad role.
    #[error("{0}")]
    User(String),
    /// A file of the data directory could not be read.
    #[error("reading {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process loads into this store ([`Claim`]).
    #[error(
        "database {path} is in use by another wangge process ({holder}): while a server \
         runs, send it the rows (POST /api/v1/events, /api/v1/updates) or stop it before \
         loading files"
    )]
    InUse { path: PathBuf, holder: String },
    /// The commit of a group of writes failed: none of them is stored.
    #[error("database {path}: commit failed, nothing of this write is stored: {reason}")]
    Commit { path: PathBuf, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The writer connection and the group transaction open on it.
struct Writer {
    conn: Connection,
    /// Writes done in the open transaction (0: none open).
    members: usize,
    /// When the open transaction began.
    began: Instant,
    /// Number of the group being built; bumped at each commit.
    group: u64,
    /// The last group whose commit failed, and why.
    failed: Option<(u64, String)>,
}

/// The database: a writer and a pool of readers on one file.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Writer>,
    /// Signalled when a group is committed (or its commit failed).
    committed: Condvar,
    /// Callers waiting for the writer.
    waiting: AtomicUsize,
    readers: Mutex<Vec<Connection>>,
}

/// Writes a group may hold before it is committed even with writers waiting.
const GROUP_MAX: usize = 16;
/// Age past which a group is committed even with writers waiting.
const GROUP_AGE: Duration = Duration::from_millis(100);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Makes the database at `path` readable and writable by its owner only:
/// it holds the events' pseudonyms and every case's history. A new file is
/// created so before SQLite opens it (SQLite gives the log and the shared
/// memory the database file's permissions); an existing database, or a
/// file named after it (its log, shared memory, snapshots), that other
/// accounts can read is narrowed, and said.
fn owner_only(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |source| StoreError::File {
            path: path.to_owned(),
            source,
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(e)),
        }
        // The database and the files named after it: its log, shared
        // memory and snapshots.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path.file_name().unwrap_or_default().to_owned();
        let files = std::fs::read_dir(dir).map_err(io)?.filter_map(|e| {
            let e = e.ok()?;
            let named = e
                .file_name()
                .as_encoded_bytes()
                .starts_with(name.as_encoded_bytes());
            named.then(|| e.path())
        });
        for file in files {
            let Ok(meta) = std::fs::symlink_metadata(&file) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(|source| StoreError::File {
                        path: file.clone(),
                        source,
                    })?;
                tracing::warn!(
                    file = %file.display(),
                    was = format!("{:o}", mode & 0o777),
                    "other accounts could read this database file: now its owner only"
                );
            }
        }
    }
    Ok(())
}

/// Readers kept open between calls; more may be opened under load.
const POOL: usize = 8;

/// Log pages (4 KiB each) past which [`Store::checkpoint`] also truncates
/// the log file.
const WAL_TRUNCATE_PAGES: i64 = 16_384;

/// Rows per row group of a snapshot file: one group of ten million rows
/// would be decoded by one thread (twice the read time on two cores).
pub(super) const ROW_GROUP_ROWS: usize = 1 << 18;

impl Store {
    /// The snapshot file: next to the database, `<db>.frame.parquet`.
    pub fn snapshot_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".frame.parquet");
        self.path.with_file_name(name)
    }

    /// The file of a derived table: `<db>.<name>.parquet`.
    pub(super) fn extra_path(&self, name: &str) -> PathBuf {
        let mut file = self.path.file_name().unwrap_or_default().to_owned();
        file.push(format!(".{name}.parquet"));
        self.path.with_file_name(file)
    }

    /// Opens (creating if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        owner_only(path)?;
        let store = Store {
            path: path.to_owned(),
            writer: Mutex::new(Writer {
                conn: Self::connect(path)?,
                members: 0,
                began: Instant::now(),
                group: 0,
                failed: None,
            }),
            committed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            readers: Mutex::new(Vec::new()),
        };
        store.write(|c| {
            c.execute_batch(schema::SCHEMA)?;
            schema::upgrade(c)
        })?;
        Ok(store)
    }

    fn connect(path: &Path) -> Result<Connection> {
        let sql = |source| StoreError::Sql {
            path: path.to_owned(),
            source,
        };
        let c = Connection::open(path).map_err(sql)?;
        // FULL: a committed ingest must survive power loss, not only a crash.
        // A commit checkpoints the log once it holds 64 MiB, not SQLite's
        // 4 MiB: a file load rewrites the same index pages batch after
        // batch, and each checkpoint copied them again (10% of loading
        // 1.3M case updates). The server checkpoints in the background
        // instead ([`Store::checkpoint_in_background`]).
        c.execute_batch(&format!(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; \
             PRAGMA busy_timeout=10000; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint={WAL_TRUNCATE_PAGES};"
        ))
        .map_err(sql)?;
        Ok(c)
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` on the writer connection, durably (blocking: call from a
    /// blocking thread). `f` runs in a savepoint of the group transaction:
    /// its changes are rolled back alone when it fails or panics, and kept
    /// only if the group's commit succeeds, which happens before this
    /// returns. Transactions inside `f` are savepoints (`savepoint()`).
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // A panic while holding the lock is caught below, so a poisoned
        // lock still guards a consistent connection.
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        if w.members == 0 {
            // The write lock from the first statement: a transaction that
            // read first could otherwise find the log restarted by a
            // checkpoint when it comes to write, and fail at once.
            w.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| self.sql(e))?;
            w.began = Instant::now();
        }
        w.members += 1;
        let out = catch_unwind(AssertUnwindSafe(|| {
            w.conn.execute_batch("SAVEPOINT write")?;
            let r = f(&mut w.conn);
            let end = if r.is_ok() {
                "RELEASE write"
            } else {
                "ROLLBACK TO write; RELEASE write"
            };
            w.conn.execute_batch(end)?;
            r
        }));
        if out.is_err() {
            // A panic inside `f`: its savepoint is undone, the group goes on.
            let _ = w.conn.execute_batch("ROLLBACK TO write; RELEASE write");
        }
        let group = w.group;
        let alone = self.waiting.load(Ordering::SeqCst) == 0;
        if !alone && w.members < GROUP_MAX && w.began.elapsed() < GROUP_AGE {
            // Another writer will add its work and commit the group.
            let w = self
                .committed
                .wait_while(w, |w| w.group == group)
                .unwrap_or_else(|p| p.into_inner());
            let failed = w
                .failed
                .as_ref()
                .filter(|(g, _)| *g == group)
                .map(|f| f.1.clone());
            drop(w);
            if let Some(reason) = failed {
                return Err(StoreError::Commit {
                    path: self.path.clone(),
                    reason,
                });
            }
        } else {
            let commit = w.conn.execute_batch("COMMIT");
            if let Err(e) = &commit {
                let _ = w.conn.execute_batch("ROLLBACK");
                w.failed = Some((group, e.to_string()));
            }
            w.members = 0;
            w.group += 1;
            drop(w);
            self.committed.notify_all();
            if let Err(e) = commit {
                return Err(self.sql(e));
            }
        }
        match out {
            Ok(r) => r.map_err(|e| self.sql(e)),
            Err(panic) => resume_unwind(panic),
        }
    }

    /// Runs `f` on a pooled reader connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let c = match pooled {
            Some(c) => c,
            None => Self::connect(&self.path)?,
        };
        let out = f(&c).map_err(|e| self.sql(e));
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < POOL {
            pool.push(c);
        }
        out
    }

    /// Moves checkpoints of the write-ahead log off the commit path: the
    /// writer stops checkpointing on commit, and [`Store::checkpoint`]
    /// (called every second by the server's background loop) copies the
    /// log into the database from a reader connection. A commit then costs
    /// its own log write and sync, not a sync of the database file. Call
    /// only where something calls `checkpoint`: without it the log grows.
    pub fn checkpoint_in_background(&self) -> Result<()> {
        self.write(|c| c.execute_batch("PRAGMA wal_autocheckpoint=0"))
    }

    /// Copies the write-ahead log into the database without waiting for
    /// the writer or readers (a passive checkpoint); once the log passes
    /// [`WAL_TRUNCATE_PAGES`] a truncating one is tried, which waits for
    /// readers up to the busy timeout. Returns the log's pages and those
    /// checkpointed.
    pub fn checkpoint(&self) -> Result<(i64, i64)> {
        let (log, done) = self.read(|c| {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
            })
        })?;
        if log > WAL_TRUNCATE_PAGES && done == log {
            self.read(|c| {
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                })
            })?;
        }
        Ok((log, done))
    }

    /// A value of the small key/value table (markers such as files already ingested).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.read(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    /// Sets a value of the key/value table.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.write(|c| {
            c.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                [key, value],
            )
            .map(|_| ())
        })
    }
}

/// Now as microseconds since the epoch, UTC (the unit of every stored time).
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_log_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        // A new database, written to: the file, its log and shared memory.
        let path = dir.path().join("new.sqlite");
        let store = Store::open(&path).unwrap();
        store.set_meta("k", "v").unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        drop(store);
        // A database another account could read is narrowed when opened,
        // and what it held is still there.
        // So are its snapshots; another file of the directory is left alone.
        let old = dir.path().join("old.sqlite");
        std::fs::copy(&path, &old).unwrap();
        let snapshot = dir.path().join("old.sqlite.frame.parquet");
        let other = dir.path().join("grids.geojson");
        for f in [&old, &snapshot, &other] {
            if !f.exists() {
                std::fs::write(f, b"").unwrap();
            }
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let store = Store::open(&old).unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(mode(&snapshot), 0o600);
        assert_eq!(mode(&other), 0o644);
        assert_eq!(store.meta("k").unwrap().as_deref(), Some("v"));
    }

    /// Many writers at once: each one's work is stored or, when it fails
    /// or panics, rolled back alone; nobody returns before it is durable.
    #[test]
    fn grouped_writes_fail_alone_and_are_durable_on_return() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.sqlite");
        let store = Store::open(&path).unwrap();
        let outcomes: Vec<(usize, bool)> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..24)
                .map(|k| {
                    let (store, path) = (&store, &path);
                    s.spawn(move || {
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            store.write(|c| {
                                c.execute(
                                    "INSERT INTO meta(key, value) VALUES (?1, 'x')",
                                    [format!("k{k}")],
                                )?;
                                match k % 6 {
                                    // A failing statement after a good one.
                                    1 => c
                                        .execute("INSERT INTO no_such_table VALUES (1)", [])
                                        .map(|_| ()),
                                    4 => panic!("writer {k} panics"),
                                    _ => Ok(()),
                                }
                            })
                        }));
                        let ok = matches!(r, Ok(Ok(())));
                        if ok {
                            // Durable on return: a new connection sees it.
                            let c = Connection::open(path).unwrap();
                            let n: i64 = c
                                .query_row(
                                    "SELECT count(*) FROM meta WHERE key = ?1",
                                    [format!("k{k}")],
                                    |r| r.get(0),
                                )
                                .unwrap();
                            assert_eq!(n, 1, "writer {k} returned before its commit");
                        }
                        (k, ok)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (k, ok) in outcomes {
            assert_eq!(ok, k % 6 != 1 && k % 6 != 4, "writer {k}");
            let stored = store.meta(&format!("k{k}")).unwrap().is_some();
            assert_eq!(stored, ok, "writer {k}: stored {stored}");
        }
        // The writer is usable after all that.
        store.set_meta("after", "1").unwrap();
        assert_eq!(store.meta("after").unwrap().as_deref(), Some("1"));
    }
}
