//! The database schema, applied idempotently at every open.
//!
//! `transitions` keeps every step of every case (the system of record of
//! its history); `events` holds each case's current state, see
//! `store::cases`.
//!
//! Times are INTEGER microseconds since the epoch, UTC, like the polars frame.
//! Events carry the grid version they were joined against, so a re-join after
//! a new grid file can be checked. The only index on events is the
//! `UNIQUE (system, kind, id)` that makes ingest idempotent and finds one
//! case by id within its source system's id space: every other read goes through the in-memory frame, and an index by
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
    first_closed_at INTEGER,
    returned_at    INTEGER,
    reworked_at    INTEGER,
    extended_at    INTEGER,
    escalated_at   INTEGER,
    suspended_at   INTEGER,
    resumed_at     INTEGER,
    first_deadline INTEGER,
    reopened_at    INTEGER,
    solved         INTEGER,
    writer         TEXT,
    tier1          TEXT,
    tier2          TEXT,
    tier3          TEXT,
    outcome        TEXT NOT NULL,
    grid_version   INTEGER NOT NULL,
    system         TEXT NOT NULL DEFAULT '',
    duplicate_of   TEXT,
    UNIQUE (system, kind, id)
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
    system       TEXT NOT NULL DEFAULT '',
    duplicate_of TEXT,
    UNIQUE (system, issue_id, update_id)
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
    disabled      INTEGER NOT NULL DEFAULT 0,
    system        TEXT
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
    let steps: [(&str, &str, String); 10] = [
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
                 UPDATE events SET handled_at = resolved_at, first_closed_at = resolved_at \
                 WHERE kind = 'issue' AND status = 'resolved';"
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
        // The case a case repeats (重复件).
        (
            "events",
            "duplicate_of",
            "ALTER TABLE events ADD COLUMN duplicate_of TEXT".into(),
        ),
        (
            "transitions",
            "duplicate_of",
            "ALTER TABLE transitions ADD COLUMN duplicate_of TEXT".into(),
        ),
        // The first closure and the deadline before the first extension
        // (`Flow::first_closed_at`, `Flow::first_deadline`): a case never
        // re-opened was first closed when it was resolved; the others get
        // theirs when they next move.
        (
            "events",
            "first_deadline",
            "ALTER TABLE events ADD COLUMN first_closed_at INTEGER; \
             ALTER TABLE events ADD COLUMN first_deadline INTEGER; \
             UPDATE events SET first_closed_at = resolved_at \
             WHERE kind = 'issue' AND status = 'resolved' AND reworked_at IS NULL;"
                .into(),
        ),
        // The first re-open after the first closure (`Flow::reopened_at`):
        // a case re-worked only after it was first closed re-opened at its
        // first rework; the others (a check failed before the closure) get
        // theirs when they next move.
        (
            "events",
            "reopened_at",
            "ALTER TABLE events ADD COLUMN reopened_at INTEGER; \
             UPDATE events SET reopened_at = reworked_at \
             WHERE kind = 'issue' AND reworked_at > first_closed_at;"
                .into(),
        ),
    ];
    for (table, column, sql) in steps {
        if !has_column(c, table, column)? {
            c.execute_batch(&sql)?;
        }
    }
    // Ids namespaced by source system: the unique keys change, which
    // SQLite does only by copying the table (rows keep their `seq`).
    for table in ["events", "transitions"] {
        if !has_column(c, table, "system")? {
            rebuild_with_system(c, table)?;
        }
    }
    if !has_column(c, "users", "system")? {
        c.execute_batch("ALTER TABLE users ADD COLUMN system TEXT")?;
    }
    // Transitions waiting for their case: a new case looks here (a small
    // index) rather than in the unique index of every transition.
    c.execute_batch(
        "DROP INDEX IF EXISTS transitions_waiting; \
         CREATE INDEX IF NOT EXISTS transitions_pending ON transitions(system, issue_id) WHERE applied = 0;",
    )
}

/// Copies `table` (made before source systems) into its [`SCHEMA`] form,
/// every row in the county's own id space, in one transaction. The schema
/// runs again after the copy: the old table's indexes went with it.
fn rebuild_with_system(c: &rusqlite::Connection, table: &str) -> rusqlite::Result<()> {
    let cols: Vec<String> = c
        .prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?
        .query_map([table], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let cols = cols.join(", ");
    c.execute_batch(&format!(
        "SAVEPOINT rebuild; \
         ALTER TABLE {table} RENAME TO {table}_before_systems; \
         {SCHEMA} \
         INSERT INTO {table} ({cols}) SELECT {cols} FROM {table}_before_systems; \
         DROP TABLE {table}_before_systems; \
         {SCHEMA} \
         RELEASE rebuild;"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database made before `reopened_at`: a case re-worked after its
    /// first closure was re-opened then; one that failed a check before
    /// it was not (its re-open is known when it next moves).
    #[test]
    fn the_upgrade_dates_a_reopen_only_after_the_first_closure() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c.execute_batch(
            "ALTER TABLE events DROP COLUMN reopened_at;
             INSERT INTO events(kind, id, occurred_at, lon, lat, category, outcome, grid_version,
                                first_closed_at, reworked_at)
                 VALUES ('issue', 'A', 1, 115.0, 38.5, 'x', 'matched', 1, 10, 20),
                        ('issue', 'B', 1, 115.0, 38.5, 'x', 'matched', 1, 30, 20),
                        ('issue', 'C', 1, 115.0, 38.5, 'x', 'matched', 1, 30, NULL);",
        )
        .unwrap();
        upgrade(&c).unwrap();
        let rows: Vec<(String, Option<i64>)> = c
            .prepare("SELECT id, reopened_at FROM events ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let want = [("A", Some(20)), ("B", None), ("C", None)].map(|(i, t)| (i.to_owned(), t));
        assert_eq!(rows, want);
    }

    #[test]
    fn an_older_database_gets_the_new_columns_and_its_cases_their_states() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        // The tables as an early release made them.
        c.execute_batch(
            "CREATE TABLE audit (at INTEGER, user TEXT, action TEXT, target TEXT, status INTEGER);
             CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, role TEXT, scopes TEXT, password_hash TEXT, created_at INTEGER);
             CREATE TABLE events (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, id TEXT NOT NULL,
                 occurred_at INTEGER NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL, category TEXT NOT NULL,
                 status TEXT, resolved_at INTEGER, tier1 TEXT, tier2 TEXT, tier3 TEXT,
                 outcome TEXT NOT NULL, grid_version INTEGER NOT NULL, UNIQUE (kind, id));
             INSERT INTO events(seq, kind, id, occurred_at, lon, lat, category, status, resolved_at, outcome, grid_version)
                 VALUES (7, 'issue', 'A', 1, 115.0, 38.5, 'x', 'resolved', 42, 'matched', 1),
                        (9, 'issue', 'B', 1, 115.0, 38.5, 'x', 'open', NULL, 'matched', 1);",
        )
        .unwrap();
        // As every open does: the schema, then the upgrade; twice is the
        // same as once.
        for _ in 0..2 {
            c.execute_batch(SCHEMA).unwrap();
            upgrade(&c).unwrap();
        }
        // The stored cases are the county's own, under their old numbers;
        // another system's case may take the same id, the county's may not.
        let seqs: Vec<(i64, String)> = c
            .prepare("SELECT seq, system FROM events ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(seqs, [(7, String::new()), (9, String::new())]);
        let add = |system: &str| {
            c.execute(
                "INSERT INTO events(system, kind, id, occurred_at, lon, lat, category, outcome, grid_version) \
                 VALUES (?1, 'issue', 'A', 1, 115.0, 38.5, 'x', 'matched', 1)",
                [system],
            )
        };
        assert!(add("").is_err());
        assert_eq!(add("12345").unwrap(), 1);
        for index in ["transitions_at", "transitions_pending"] {
            let n: i64 = c
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?1",
                    [index],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(n, 1, "{index}");
        }
        for (table, column) in [
            ("audit", "n"),
            ("users", "disabled"),
            ("events", "writer"),
            ("events", "escalated_at"),
            ("events", "solved"),
            ("events", "duplicate_of"),
            ("transitions", "duplicate_of"),
            ("events", "system"),
            ("transitions", "system"),
            ("users", "system"),
        ] {
            assert!(has_column(&c, table, column).unwrap(), "{table}.{column}");
        }
        let rows: Vec<(String, Option<i64>)> = c
            .prepare("SELECT state, handled_at FROM events WHERE system = '' ORDER BY id")
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
