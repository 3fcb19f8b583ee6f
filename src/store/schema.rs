//! The database schema, applied idempotently at every open.
//!
//! Times are INTEGER microseconds since the epoch, UTC, like the polars frame.
//! Events carry the grid version they were joined against, so a re-join after
//! a new grid file can be checked. Issue indexes are partial (`kind = 'issue'`)
//! because only issues are listed row by row; every other read goes through
//! the in-memory frame, and fewer indexes keep ingest fast.

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
    tier1          TEXT,
    tier2          TEXT,
    tier3          TEXT,
    outcome        TEXT NOT NULL,
    grid_version   INTEGER NOT NULL,
    UNIQUE (kind, id)
);
CREATE INDEX IF NOT EXISTS issues_tier1 ON events(tier1) WHERE kind = 'issue';
CREATE INDEX IF NOT EXISTS issues_tier2 ON events(tier2) WHERE kind = 'issue';
CREATE INDEX IF NOT EXISTS issues_tier3 ON events(tier3) WHERE kind = 'issue';
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
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
    status INTEGER NOT NULL
);
"#;
