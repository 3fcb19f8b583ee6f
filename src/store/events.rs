//! Events with their join results: batched inserts, re-joins, one issue by id.
//!
//! Lists of issues are cut from the in-memory frame (`api::issues`), not
//! from here: indexes by unit on a ten-million-row table would cost every
//! ingest batch thousands of scattered page writes.
//!
//! Idempotence lives in the schema: `UNIQUE (system, kind, id)` with `INSERT OR
//! IGNORE`, so a batch re-sent after a lost acknowledgement (or after a
//! crash) stores nothing twice, and the per-row "inserted or not" comes from
//! `changes()`, inside the same transaction as the insert.

use rusqlite::params;
use serde::Serialize;

use super::{Result, Store};
use crate::columns::Outcome;
use crate::ingest::Event;

/// An event with the codes of the units it landed in.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    pub event: &'a Event,
    pub outcome: Outcome,
    /// Tier 1, 2 and 3 codes (None where the event is in no unit of that tier).
    pub tiers: [Option<&'a str>; 3],
}

/// One issue as the issue list shows it; no personal data is stored for issues.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IssueRow {
    pub id: String,
    pub category: String,
    /// µs UTC.
    pub occurred_at: i64,
    pub status: Option<String>,
    /// Canonical lifecycle state.
    pub state: Option<String>,
    /// Time of the last change (µs UTC).
    pub updated_at: Option<i64>,
    pub deadline: Option<i64>,
    pub resolved_at: Option<i64>,
    pub lon: f64,
    pub lat: f64,
    pub source: Option<String>,
    pub tier1: Option<String>,
    pub tier2: Option<String>,
    pub tier3: Option<String>,
    /// The source system whose id space `id` belongs to (empty: the county's own).
    pub system: String,
    /// The case it repeats (重复件), as linked upstream; `duplicate` tells
    /// a report that repeats one where only that is known (the frame).
    pub duplicate_of: Option<String>,
    pub duplicate: bool,
}

const ISSUE_COLS: &str = "id, category, occurred_at, status, deadline, resolved_at, lon, lat, source, tier1, tier2, tier3, state, updated_at, system, duplicate_of";

fn issue_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IssueRow> {
    Ok(IssueRow {
        id: r.get(0)?,
        category: r.get(1)?,
        occurred_at: r.get(2)?,
        status: r.get(3)?,
        deadline: r.get(4)?,
        resolved_at: r.get(5)?,
        lon: r.get(6)?,
        lat: r.get(7)?,
        source: r.get(8)?,
        tier1: r.get(9)?,
        tier2: r.get(10)?,
        tier3: r.get(11)?,
        state: r.get(12)?,
        updated_at: r.get(13)?,
        system: r.get(14)?,
        duplicate_of: r.get(15)?,
        duplicate: r.get::<_, Option<String>>(15)?.is_some(),
    })
}

impl Store {
    /// Number of stored events.
    pub fn event_count(&self) -> Result<u64> {
        self.read(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0)))
            .map(|n| u64::try_from(n).unwrap_or(0))
    }

    /// Every event's sequence number and position, for a re-join.
    pub fn positions(&self) -> Result<Vec<(i64, f64, f64)>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT seq, lon, lat FROM events ORDER BY seq")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Rewrites the join results of events (after a new grid version), in
    /// one transaction so readers see either the old or the new join.
    pub fn rejoin(
        &self,
        grid_version: i64,
        rows: &[(i64, Outcome, [Option<&str>; 3])],
    ) -> Result<()> {
        self.write(|c| {
            let tx = c.savepoint()?;
            {
                let mut st = tx.prepare_cached(
                    "UPDATE events SET tier1 = ?1, tier2 = ?2, tier3 = ?3, outcome = ?4, grid_version = ?5 WHERE seq = ?6",
                )?;
                for (seq, o, t) in rows {
                    st.execute(params![t[0], t[1], t[2], o.as_str(), grid_version, seq])?;
                }
            }
            tx.commit()
        })
    }

    /// One issue of `system` by id.
    pub fn issue(&self, system: &str, id: &str) -> Result<Option<IssueRow>> {
        let f = self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {ISSUE_COLS} FROM events WHERE system = ?1 AND kind = 'issue' AND id = ?2"
            ))?;
            let mut rows = st.query_map([system, id], issue_row)?;
            rows.next().transpose()
        })?;
        Ok(f)
    }

    /// The tier codes of each stored (kind, id) of `system` in `keys`
    /// (None: not stored), in order; one read transaction.
    pub fn stored_tiers(
        &self,
        system: &str,
        keys: &[(crate::ingest::Kind, &str)],
    ) -> Result<Vec<Option<[Option<String>; 3]>>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT tier1, tier2, tier3 FROM events WHERE system = ?1 AND kind = ?2 AND id = ?3",
            )?;
            keys.iter()
                .map(|(kind, id)| {
                    let mut rows = st.query(rusqlite::params![system, kind.as_str(), id])?;
                    rows.next()?
                        .map(|r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]))
                        .transpose()
                })
                .collect()
        })
    }

    /// One issue of `system` and its transitions in (`at`, `update_id`)
    /// order (the map's case view).
    pub fn case(
        &self,
        system: &str,
        id: &str,
    ) -> Result<Option<(IssueRow, Vec<crate::ingest::Step>)>> {
        let Some(row) = self.issue(system, id)? else {
            return Ok(None);
        };
        Ok(Some((row, self.history(system, id)?)))
    }
}
