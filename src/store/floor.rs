//! The storage engine's own floor for loading a file: SQLite inserting
//! generated rows shaped like a file's events into the `events` table in
//! one statement, with no work of ours per row (no parsing, validation,
//! join, pseudonyms or parameter binding). `wangge bench load` times it in
//! the same repetition as the real load, so a load's rate reads against
//! what the engine itself reaches on the same machine, schema and settings.

use super::{Result, Store};

/// `rows` generated events, inserted in one durable statement. Kinds cycle
/// issue, visit, incident, each numbered in order (`I0000001`, `V0000001`,
/// `C0000001`, ...: the demo's ids, three append points in the unique
/// index); issues carry a closed case's columns, visits two 64-character
/// pseudonyms, incidents a cleared flag; every row three unit codes.
const GENERATED: &str = "
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
INSERT INTO events (kind, id, occurred_at, lon, lat, category, status, resolved_at,
    deadline, satisfaction, source, cleared, household_hash, visitor_hash, state,
    updated_at, tier1, tier2, tier3, outcome, grid_version, system, writer)
SELECT
    CASE i % 3 WHEN 0 THEN 'issue' WHEN 1 THEN 'visit' ELSE 'incident' END,
    printf('%s%07d', substr('IVC', i % 3 + 1, 1), i / 3 + 1),
    1735689600000000 + i * 31000000,
    114.9 + (i % 997) * 0.0004,
    38.3 + (i % 1009) * 0.0003,
    CASE i % 3 WHEN 0 THEN '环境卫生' WHEN 1 THEN '入户走访' ELSE '盗窃' END,
    CASE WHEN i % 3 = 0 THEN 'resolved' END,
    CASE WHEN i % 3 = 0 THEN 1735689600000000 + i * 31000000 + 86400000000 END,
    CASE WHEN i % 3 = 0 THEN 1735689600000000 + i * 31000000 + 604800000000 END,
    CASE WHEN i % 3 = 0 THEN 'satisfied' END,
    CASE WHEN i % 3 = 0 THEN 'hotline' END,
    CASE WHEN i % 3 = 2 THEN 1 END,
    CASE WHEN i % 3 = 1 THEN printf('%064x', i * 2654435761) END,
    CASE WHEN i % 3 = 1 THEN printf('%064x', i * 40503) END,
    CASE WHEN i % 3 = 0 THEN 'closed' END,
    CASE WHEN i % 3 = 0 THEN 1735689600000000 + i * 31000000 + 86400000000 END,
    '130682100',
    printf('130682100%03d', i % 542),
    printf('130682100%03d%03d', i % 542, i % 9),
    'matched', 1, '', 'file:generated'
FROM n";

impl Store {
    /// Inserts `rows` generated events in one statement, durably (see the
    /// module). For a new, empty store: the ids start at 1 every time.
    pub fn insert_generated_events(&self, rows: u64) -> Result<()> {
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
        self.write(|c| c.execute(GENERATED, [rows]).map(|_| ()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_events_are_stored_with_their_columns() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("wangge.db")).unwrap();
        store.insert_generated_events(7).unwrap();
        let rows: Vec<(String, String, Option<String>, Option<String>)> = store
            .read(|c| {
                let mut st =
                    c.prepare("SELECT kind, id, state, household_hash FROM events ORDER BY seq")?;
                let rows =
                    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect()
            })
            .unwrap();
        assert_eq!(rows.len(), 7);
        let ids: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(
            ids,
            ["I0000001", "V0000001", "C0000001", "I0000002", "V0000002", "C0000002", "I0000003"]
        );
        assert_eq!(rows[0].0, "issue");
        assert_eq!(rows[0].2.as_deref(), Some("closed"));
        assert_eq!(rows[1].3.as_ref().map(String::len), Some(64));
        assert_eq!(rows[2].0, "incident");
    }
}
