//! The database schema, applied idempotently at every open.
//!
//! `transitions` keeps every step of every case (the system of record of
//! its history); `events` holds each case's current state, see
//! `store::cases`.
//!
//! Times are INTEGER microseconds since the epoch, UTC, like the polars frame.
//! Events carry the grid version they were joined against, so a re-join after
//! a new grid file can be checked. The only index on events is the
//! `UNIQUE (kind, id)` that makes ingest idempotent and finds one issue by
//! id: every other read goes through the in-memory frame, and an index by
//! unit would cost each ingest batch a scattered page write per row (earlier
//! databases had three; they are dropped here).

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS grid_versions (
    id        INTEGER PRIMARY KEY,
    sha256    TEXT NOT NULL,
    source    TEXT NOT NULL,
    loaded_at INTEGER NOT NULL,
    units     INTEGER NOT NULL,
    geojson   TEXT NOT NULL,
    active    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    id             TEXT NOT NULL,
    occurred_at    INTEGER NOT NULL,
    lon            REAL NOT NULL,
    lat            REAL NOT NULL,
    category       TEXT NOT NULL,
    status         TEXT,
    resolved_at    INTEGER,
    deadline       INTEGER,
    satisfaction   TEXT,
    source         TEXT,
    cleared        INTEGER,
    household_hash TEXT,
    visitor_hash   TEXT,
    state          TEXT,
    updated_at     INTEGER,
    base           TEXT,
    accepted_at    INTEGER,
    dispatched_at  INTEGER,
    handled_at     INTEGER,
    returned_at    INTEGER,
    reworked_at    INTEGER,
    extended_at    INTEGER,
    escalated_at   INTEGER,
    solved         INTEGER,
    writer         TEXT,
    tier1          TEXT,
    tier2          TEXT,
    tier3          TEXT,
    outcome        TEXT NOT NULL,
    grid_version   INTEGER NOT NULL,
    UNIQUE (kind, id)
);
DROP INDEX IF EXISTS issues_tier1;
DROP INDEX IF EXISTS issues_tier2;
DROP INDEX IF EXISTS issues_tier3;
CREATE TABLE IF NOT EXISTS transitions (
    seq          INTEGER PRIMARY KEY,
    issue_id     TEXT NOT NULL,
    update_id    TEXT NOT NULL,
    at           INTEGER NOT NULL,
    state        TEXT NOT NULL,
    deadline     INTEGER,
    satisfaction TEXT,
    solved       TEXT,
    category     TEXT,
    lon          REAL,
    lat          REAL,
    to_unit      TEXT,
    note_hash    TEXT,
    received_at  INTEGER NOT NULL,
    applied      INTEGER NOT NULL,
    UNIQUE (issue_id, update_id)
);
CREATE INDEX IF NOT EXISTS transitions_at ON transitions(at);
CREATE TABLE IF NOT EXISTS changed (
    seq INTEGER PRIMARY KEY,
    rev INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS changed_rev ON changed(rev);
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    user   TEXT,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    status INTEGER NOT NULL,
    n      INTEGER NOT NULL DEFAULT 1
);
"#;

/// Brings a database made by an earlier release up to [`SCHEMA`]: columns
/// added since are added with their defaults.
pub fn upgrade(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    let has_n: bool = c.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('audit') WHERE name = 'n'",
        [],
        |r| r.get(0),
    )?;
    if !has_n {
        c.execute_batch("ALTER TABLE audit ADD COLUMN n INTEGER NOT NULL DEFAULT 1")?;
    }
    // The lifecycle columns: an older database's issues get their state
    // from the two-valued status.
    let has_state: bool = c.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('events') WHERE name = 'state'",
        [],
        |r| r.get(0),
    )?;
    if !has_state {
        c.execute_batch(
            "ALTER TABLE events ADD COLUMN state TEXT; \
             ALTER TABLE events ADD COLUMN updated_at INTEGER; \
             ALTER TABLE events ADD COLUMN base TEXT; \
             UPDATE events SET state = CASE status WHEN 'resolved' THEN 'closed' ELSE 'reported' END \
             WHERE kind = 'issue';",
        )?;
    }
    // The milestone columns (`ingest::state::Flow`): an older database's
    // closed issues were handled when they were resolved.
    let has_flow: bool = c.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('events') WHERE name = 'handled_at'",
        [],
        |r| r.get(0),
    )?;
    if !has_flow {
        let mut sql = String::new();
        for col in crate::columns::FLOW {
            sql.push_str(&format!("ALTER TABLE events ADD COLUMN {col} INTEGER; "));
        }
        sql.push_str(
            "ALTER TABLE events ADD COLUMN solved INTEGER; \
             UPDATE events SET handled_at = resolved_at WHERE kind = 'issue' AND status = 'resolved';",
        );
        c.execute_batch(&sql)?;
    }
    let has_disabled: bool = c.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('users') WHERE name = 'disabled'",
        [],
        |r| r.get(0),
    )?;
    if !has_disabled {
        c.execute_batch("ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0")?;
    }
    let has_writer: bool = c.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('events') WHERE name = 'writer'",
        [],
        |r| r.get(0),
    )?;
    if !has_writer {
        c.execute_batch("ALTER TABLE events ADD COLUMN writer TEXT")?;
    }
    Ok(())
}
