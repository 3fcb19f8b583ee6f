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
    suspended_at   INTEGER,
    resumed_at     INTEGER,
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
-- Transitions waiting for their case: a new case looks here (a small
-- index) rather than in the unique index of every transition.
CREATE INDEX IF NOT EXISTS transitions_waiting ON transitions(issue_id) WHERE applied = 0;
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

/// Whether `table` has `column`.
fn has_column(c: &rusqlite::Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    c.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
        [table, column],
        |r| r.get(0),
    )
}

/// Brings a database made by an earlier release up to [`SCHEMA`]: columns
/// added since are added with their defaults, each step once (the column
/// named first tells whether it ran).
pub fn upgrade(c: &rusqlite::Connection) -> rusqlite::Result<()> {
    let flow: String = crate::columns::FLOW
        .iter()
        .map(|col| format!("ALTER TABLE events ADD COLUMN {col} INTEGER; "))
        .collect();
    let steps: [(&str, &str, String); 6] = [
        (
            "audit",
            "n",
            "ALTER TABLE audit ADD COLUMN n INTEGER NOT NULL DEFAULT 1".into(),
        ),
        // The lifecycle columns: an older database's issues get their
        // state from the two-valued status.
        (
            "events",
            "state",
            "ALTER TABLE events ADD COLUMN state TEXT; \
             ALTER TABLE events ADD COLUMN updated_at INTEGER; \
             ALTER TABLE events ADD COLUMN base TEXT; \
             UPDATE events SET state = CASE status WHEN 'resolved' THEN 'closed' ELSE 'reported' END \
             WHERE kind = 'issue';"
                .into(),
        ),
        // The milestone columns (`ingest::state::Flow`): an older
        // database's closed issues were handled when they were resolved.
        (
            "events",
            "handled_at",
            format!(
                "{flow}ALTER TABLE events ADD COLUMN solved INTEGER; \
                 UPDATE events SET handled_at = resolved_at WHERE kind = 'issue' AND status = 'resolved';"
            ),
        ),
        (
            "users",
            "disabled",
            "ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0".into(),
        ),
        ("events", "writer", "ALTER TABLE events ADD COLUMN writer TEXT".into()),
        // The first suspension of a case (`Flow::suspended_at`): cases
        // stored before get theirs when they next move.
        (
            "events",
            "resumed_at",
            "ALTER TABLE events ADD COLUMN suspended_at INTEGER; \
             ALTER TABLE events ADD COLUMN resumed_at INTEGER;"
                .into(),
        ),
    ];
    for (table, column, sql) in steps {
        if !has_column(c, table, column)? {
            c.execute_batch(&sql)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_database_gets_the_new_columns_and_its_cases_their_states() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        // The tables as an early release made them.
        c.execute_batch(
            "CREATE TABLE audit (at INTEGER, user TEXT, action TEXT, target TEXT, status INTEGER);
             CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, role TEXT, scopes TEXT, password_hash TEXT, created_at INTEGER);
             CREATE TABLE events (seq INTEGER PRIMARY KEY, kind TEXT, id TEXT, status TEXT, resolved_at INTEGER);
             INSERT INTO events(kind, id, status, resolved_at) VALUES ('issue', 'A', 'resolved', 42), ('issue', 'B', 'open', NULL);",
        )
        .unwrap();
        upgrade(&c).unwrap();
        // Twice is the same as once.
        upgrade(&c).unwrap();
        for (table, column) in [
            ("audit", "n"),
            ("users", "disabled"),
            ("events", "writer"),
            ("events", "escalated_at"),
            ("events", "solved"),
        ] {
            assert!(has_column(&c, table, column).unwrap(), "{table}.{column}");
        }
        let rows: Vec<(String, Option<i64>)> = c
            .prepare("SELECT state, handled_at FROM events ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                ("closed".to_owned(), Some(42)),
                ("reported".to_owned(), None)
            ]
        );
    }
}
