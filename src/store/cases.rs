//! Cases that move: whole rows sent again and transition rows, applied to
//! the stored case in one transaction with the batch.
//!
//! A stored event row holds the case's *current* state (what the frame
//! reads) and, once it has moved, its *base*: the latest whole-row version
//! received, as JSON. Transition rows live in `transitions`, one per
//! (issue_id, update_id). The current state is always the fold
//! ([`fold`]) of the base with the transitions at or after the base's
//! version time, in (`at`, `update_id`) order, so the arrival order never
//! matters: a late transition re-folds the case. Transitions for a case not
//! yet stored wait (`applied = 0`) and are folded in when it arrives.

use std::sync::LazyLock;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{Located, Result, Store};
use crate::columns::Outcome;
use crate::ingest::state::{canonical, status_of, Flow};
use crate::ingest::version::{keep_milestones, offer, Offered};
use crate::ingest::{Event, Kind, Step};

/// What became of one row offered to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// A case not seen before (its waiting transitions folded in).
    New,
    /// The case changed.
    Updated,
    /// The same version again (or a step that changes nothing current).
    Unchanged,
    /// Older than what is stored: kept (transitions) or ignored (whole rows), the case unchanged.
    Stale,
    /// A transition for a case not yet stored: kept, applied when it arrives.
    Pending,
    /// Refused, with the reason.
    Conflict(String),
}

impl Stored {
    pub fn as_str(&self) -> &'static str {
        match self {
            Stored::New => "new",
            Stored::Updated => "updated",
            Stored::Unchanged => "unchanged",
            Stored::Stale => "stale",
            Stored::Pending => "pending",
            Stored::Conflict(_) => "rejected",
        }
    }
}

/// Where a case lies: the join outcome and its tier codes.
pub type Place = (Outcome, [Option<String>; 3]);

/// One row's fate and, for new and updated cases, the case as it now is
/// and where it lies (as stored: the frame needs no locating again).
#[derive(Debug, Clone)]
pub struct Applied {
    pub stored: Stored,
    pub current: Option<Event>,
    pub place: Option<Place>,
}

impl Applied {
    /// A row that left the case as it was.
    fn only(stored: Stored) -> Applied {
        Applied {
            stored,
            current: None,
            place: None,
        }
    }

    /// A row that made the case `current`, lying at `place`.
    fn moved(stored: Stored, current: Event, place: Place) -> Applied {
        Applied {
            stored,
            current: Some(current),
            place: Some(place),
        }
    }
}

use crate::ingest::fold::{before_report, fold, intern, SATISFACTION, SOURCES};

/// The mutable part of a whole-row version, as kept in `events.base`
/// (and as the columns of a stored case hold it).
#[derive(Clone, Default, Serialize, Deserialize)]
struct BaseRow {
    occurred_at: i64,
    lon: f64,
    lat: f64,
    category: String,
    state: Option<String>,
    resolved_at: Option<i64>,
    deadline: Option<i64>,
    satisfaction: Option<String>,
    source: Option<String>,
    cleared: Option<bool>,
    updated_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duplicate_of: Option<String>,
}

impl BaseRow {
    fn of(e: &Event) -> BaseRow {
        BaseRow {
            occurred_at: e.occurred_at,
            lon: e.lon,
            lat: e.lat,
            category: e.category.clone(),
            state: e.state.map(str::to_owned),
            resolved_at: e.resolved_at,
            deadline: e.deadline,
            satisfaction: e.satisfaction.map(str::to_owned),
            source: e.source.map(str::to_owned),
            cleared: e.cleared,
            updated_at: e.updated_at,
            duplicate_of: e.duplicate_of.clone(),
        }
    }

    fn onto(self, e: &Event) -> Event {
        let state = self.state.and_then(|s| canonical(&s).ok());
        Event {
            occurred_at: self.occurred_at,
            lon: self.lon,
            lat: self.lat,
            category: self.category,
            state,
            status: state.map(status_of),
            resolved_at: self.resolved_at,
            deadline: self.deadline,
            satisfaction: intern(self.satisfaction, &SATISFACTION),
            source: intern(self.source, &SOURCES),
            cleared: self.cleared,
            updated_at: self.updated_at,
            duplicate_of: self.duplicate_of,
            ..e.clone()
        }
        .with_version_flow()
    }
}

trait VersionFlow {
    fn with_version_flow(self) -> Self;
}

impl VersionFlow for Event {
    /// The event as a whole-row version: its milestones only its own.
    fn with_version_flow(self) -> Event {
        Event {
            flow: self.version_flow(),
            ..self
        }
    }
}

/// A stored case: its row, current state and base version.
struct Case {
    row: CaseRow,
    current: Event,
    base: Event,
    /// Where the current position was located: outcome and tier codes.
    located: (Outcome, [Option<String>; 3]),
    /// Whether the base is stored apart from the current state (else the
    /// current row is the base, and must be stored before it changes).
    base_stored: bool,
}

impl Case {
    /// The base to write with a new current state: none when stored already.
    fn base_to_write(&self) -> Option<&Event> {
        (!self.base_stored).then_some(&self.base)
    }
}

/// The columns of a stored case, the milestones ([`crate::columns::FLOW`])
/// last, from [`FLOW_AT`] on.
static CASE_COLS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "seq, occurred_at, lon, lat, category, state, resolved_at, deadline, satisfaction, source, \
         cleared, household_hash, visitor_hash, updated_at, base, solved, outcome, tier1, tier2, tier3, \
         duplicate_of, status, {}",
        crate::columns::FLOW.join(", ")
    )
});
/// Position of the first milestone in [`CASE_COLS`].
const FLOW_AT: usize = 22;

/// Statements built once from the column lists (a `format!` per row showed in profiles).
static READ_CASE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM events WHERE system = ?1 AND kind = ?2 AND id = ?3",
        *CASE_COLS
    )
});
static STEPS_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {STEP_COLS} FROM transitions WHERE system = ?1 AND issue_id = ?2 ORDER BY at, update_id"
    )
});
static ONE_STEP: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {STEP_COLS} FROM transitions WHERE system = ?1 AND issue_id = ?2 AND update_id = ?3")
});

/// A stored case's columns ([`CASE_COLS`]) as the database holds them. A
/// case is always made from one ([`CaseRow::case`]), whether just read or
/// just written, so a case kept in memory after a write is the case a read
/// would give back.
#[derive(Clone, Default)]
struct CaseRow {
    seq: i64,
    /// The current state's mutable fields.
    now: BaseRow,
    household_hash: Option<String>,
    visitor_hash: Option<String>,
    base: Option<String>,
    times: [Option<i64>; crate::columns::FLOW.len()],
    solved: Option<bool>,
    outcome: String,
    tiers: [Option<String>; 3],
    /// Written for the frame; a case derives its own from the state.
    status: Option<String>,
}

impl CaseRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<CaseRow> {
        Ok(CaseRow {
            seq: r.get(0)?,
            now: BaseRow {
                occurred_at: r.get(1)?,
                lon: r.get(2)?,
                lat: r.get(3)?,
                category: r.get(4)?,
                state: r.get(5)?,
                resolved_at: r.get(6)?,
                deadline: r.get(7)?,
                satisfaction: r.get(8)?,
                source: r.get(9)?,
                cleared: r.get(10)?,
                updated_at: r.get(13)?,
                duplicate_of: r.get(20)?,
            },
            household_hash: r.get(11)?,
            visitor_hash: r.get(12)?,
            base: r.get(14)?,
            times: std::array::from_fn(|i| r.get(FLOW_AT + i).ok().flatten()),
            solved: r.get(15)?,
            outcome: r.get(16)?,
            tiers: [r.get(17)?, r.get(18)?, r.get(19)?],
            status: r.get(21)?,
        })
    }

    /// The row a write of `current` (lying at `hit`) over this one leaves.
    /// `base`: the base version received with it (stored when it differs
    /// from the current state, else cleared), or `None` to keep the stored one.
    fn written(&self, current: &Event, base: Option<&Event>, hit: &Place) -> CaseRow {
        let f = &current.flow;
        CaseRow {
            seq: self.seq,
            now: BaseRow::of(current),
            household_hash: self.household_hash.clone(),
            visitor_hash: self.visitor_hash.clone(),
            base: match base {
                Some(b) => (b != current)
                    .then(|| serde_json::to_string(&BaseRow::of(b)).unwrap_or_default()),
                None => self.base.clone(),
            },
            times: f.times(),
            solved: f.solved,
            outcome: hit.0.as_str().to_owned(),
            tiers: hit.1.clone(),
            status: current.status.map(str::to_owned),
        }
    }

    /// The case this row holds.
    fn case(self, system: &str, kind: Kind, id: &str) -> Case {
        let now = &self.now;
        let state = now.state.as_deref().and_then(|s| canonical(s).ok());
        let current = Event {
            id: id.to_owned(),
            kind,
            occurred_at: now.occurred_at,
            lon: now.lon,
            lat: now.lat,
            category: now.category.clone(),
            state,
            status: state.map(status_of),
            resolved_at: now.resolved_at,
            deadline: now.deadline,
            satisfaction: intern(now.satisfaction.clone(), &SATISFACTION),
            source: intern(now.source.clone(), &SOURCES),
            cleared: now.cleared,
            household_hash: self.household_hash.clone(),
            visitor_hash: self.visitor_hash.clone(),
            updated_at: now.updated_at,
            flow: Flow::from_times(self.times, self.solved),
            duplicate_of: now.duplicate_of.clone(),
            system: system.to_owned(),
        };
        let base_stored = self.base.is_some();
        let base = self
            .base
            .as_deref()
            .and_then(|b| serde_json::from_str::<BaseRow>(b).ok())
            .map_or_else(|| current.clone().with_version_flow(), |b| b.onto(&current));
        Case {
            current,
            base,
            base_stored,
            located: (
                Outcome::parse(&self.outcome).unwrap_or(Outcome::Rejected),
                self.tiers.clone(),
            ),
            row: self,
        }
    }

    /// Writes this row over the stored one, and records that it changed.
    fn update(&self, tx: &Connection, rev: i64, grid_version: i64) -> rusqlite::Result<()> {
        tx.prepare_cached(
            "UPDATE events SET occurred_at = ?1, lon = ?2, lat = ?3, category = ?4, status = ?5, state = ?6, \
             resolved_at = ?7, deadline = ?8, satisfaction = ?9, source = ?10, cleared = ?11, updated_at = ?12, \
             base = ?13, tier1 = ?14, tier2 = ?15, tier3 = ?16, outcome = ?17, grid_version = ?18, \
             accepted_at = ?20, dispatched_at = ?21, handled_at = ?22, first_closed_at = ?23, \
             returned_at = ?24, reworked_at = ?25, extended_at = ?26, escalated_at = ?27, suspended_at = ?28, \
             resumed_at = ?29, first_deadline = ?30, solved = ?31, duplicate_of = ?32, reopened_at = ?33 \
             WHERE seq = ?19",
        )?
        .execute(params![
            self.now.occurred_at,
            self.now.lon,
            self.now.lat,
            self.now.category,
            self.status,
            self.now.state,
            self.now.resolved_at,
            self.now.deadline,
            self.now.satisfaction,
            self.now.source,
            self.now.cleared,
            self.now.updated_at,
            self.base,
            self.tiers[0],
            self.tiers[1],
            self.tiers[2],
            self.outcome,
            grid_version,
            self.seq,
            self.times[0],
            self.times[1],
            self.times[2],
            self.times[3],
            self.times[4],
            self.times[5],
            self.times[6],
            self.times[7],
            self.times[8],
            self.times[9],
            self.times[10],
            self.solved,
            self.now.duplicate_of,
            self.times[11],
        ])?;
        // Which rows changed after a given count: a restart patches its frame
        // snapshot with them instead of reading every row.
        tx.prepare_cached(
            "INSERT INTO changed(seq, rev) VALUES (?1, ?2) ON CONFLICT(seq) DO UPDATE SET rev = ?2",
        )?
        .execute(params![self.seq, rev])?;
        Ok(())
    }
}

fn read_case(c: &Connection, system: &str, kind: Kind, id: &str) -> rusqlite::Result<Option<Case>> {
    let mut st = c.prepare_cached(&READ_CASE)?;
    Ok(st
        .query_row(params![system, kind.as_str(), id], CaseRow::read)
        .optional()?
        .map(|row| row.case(system, kind, id)))
}

const STEP_COLS: &str =
    "issue_id, update_id, at, state, deadline, satisfaction, solved, category, lon, lat, to_unit, note_hash, system, \
    duplicate_of";

fn step_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Step> {
    Ok(Step {
        issue_id: r.get(0)?,
        update_id: r.get(1)?,
        at: r.get(2)?,
        state: r.get(3)?,
        deadline: r.get(4)?,
        satisfaction: r.get(5)?,
        solved: r.get(6)?,
        category: r.get(7)?,
        lon: r.get(8)?,
        lat: r.get(9)?,
        to_unit: r.get(10)?,
        note_hash: r.get(11)?,
        system: r.get(12)?,
        duplicate_of: r.get(13)?,
    })
}

fn steps_of(c: &Connection, system: &str, issue_id: &str) -> rusqlite::Result<Vec<Step>> {
    let mut st = c.prepare_cached(&STEPS_OF)?;
    let rows = st.query_map([system, issue_id], step_row)?;
    rows.collect()
}

/// Whether transitions of `issue_id` wait for their case.
fn waits(c: &Connection, system: &str, issue_id: &str) -> rusqlite::Result<bool> {
    c.prepare_cached(
        "SELECT 1 FROM transitions INDEXED BY transitions_pending \
         WHERE system = ?1 AND issue_id = ?2 AND applied = 0",
    )?
    .exists([system, issue_id])
}

fn bump(tx: &Connection, key: &str, by: i64) -> rusqlite::Result<()> {
    if by != 0 {
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + ?2",
            params![key, by],
        )?;
    }
    Ok(())
}

fn counter(c: &Connection, key: &str) -> rusqlite::Result<i64> {
    Ok(
        c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0),
    )
}

/// `meta` key: transitions waiting for their case.
const PENDING: &str = "pending_updates";
/// `meta` key: how many times a stored case changed (the frame snapshot
/// records it; a different count means rows changed under it).
pub(crate) const CHANGES: &str = "case_changes";

/// The row `current`, the new state of the stored `case`, leaves, and
/// where it lies: where it was stored when its position did not move (no
/// locating inside the write lock), else located again.
fn moved_row(
    case: &Case,
    current: &Event,
    base: Option<&Event>,
    locate: &Locate<'_>,
) -> (CaseRow, Place) {
    let hit = if case.current.lon == current.lon && case.current.lat == current.lat {
        case.located.clone()
    } else {
        locate(current.lon, current.lat)
    };
    (case.row.written(current, base, &hit), hit)
}

/// Writes `current`, the new state of the stored `case`, over its row and
/// returns where it lies ([`moved_row`]).
fn rewrite(
    tx: &Connection,
    rev: i64,
    version: i64,
    case: &Case,
    current: &Event,
    base: Option<&Event>,
    locate: &Locate<'_>,
) -> rusqlite::Result<Place> {
    let (row, hit) = moved_row(case, current, base, locate);
    row.update(tx, rev, version)?;
    Ok(hit)
}

/// Counts the stored cases a transaction changed, in one write. A new row
/// with waiting transitions folded in needs no count: it lies after any
/// snapshot's high-water mark.
fn count_changes(tx: &Connection, out: &[Applied]) -> rusqlite::Result<()> {
    let n = out
        .iter()
        .filter(|a| a.current.is_some() && a.stored != Stored::New)
        .count();
    bump(tx, CHANGES, n as i64)
}

/// Bytes of a case-update row in a text file, about: an update in CSV is
/// 40-100 bytes, in JSON Lines more. Only the choice of
/// [`Store::steps_load`] depends on it.
pub const STEP_ROW_BYTES: u64 = 64;

/// A load adding more than 1/`BULK_SHARE` of the stored transitions
/// drops their time index. Each transition inserted into that index lands
/// on a page of its own (update files come in case order, not time
/// order), so once the index outgrows SQLite's cache every batch rewrites
/// most of it: 13.2M updates into 10M stored cases took 307 s with the
/// index and 126 s without, plus 9 s to build it again in one sort.
const BULK_SHARE: i64 = 8;

/// A file load of case updates under way ([`Store::steps_load`]). The
/// time index of the transitions (what the updates feed and the case
/// lists by time read) is built again by [`StepsLoad::finish`], or when
/// the load is dropped; a process killed mid-load builds it at its next
/// open (the schema creates what is missing).
pub struct StepsLoad<'a> {
    store: &'a Store,
    dropped: bool,
}

impl StepsLoad<'_> {
    /// Whether this load runs without the time index.
    pub fn bulk(&self) -> bool {
        self.dropped
    }

    /// Ends the load: the time index, if it was dropped, is built again.
    pub fn finish(mut self) -> Result<()> {
        self.restore()
    }

    /// The index built again as every open makes what is missing: by
    /// the schema.
    fn restore(&mut self) -> Result<()> {
        if std::mem::take(&mut self.dropped) {
            self.store
                .write(|c| c.execute_batch(super::schema::SCHEMA))?;
        }
        Ok(())
    }
}

impl Drop for StepsLoad<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            tracing::error!(error = %e, "rebuilding the time index of the case updates failed; the next start builds it");
        }
    }
}

/// Locates a position: outcome and tier codes.
pub type Locate<'a> = dyn Fn(f64, f64) -> (Outcome, [Option<String>; 3]) + 'a;

const INSERT: &str = "INSERT OR IGNORE INTO events(kind, id, occurred_at, lon, lat, category, status, state, resolved_at, \
    deadline, satisfaction, source, cleared, household_hash, visitor_hash, updated_at, tier1, tier2, tier3, outcome, grid_version, \
    accepted_at, dispatched_at, handled_at, writer, returned_at, reworked_at, escalated_at, suspended_at, system, duplicate_of, \
    first_closed_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, \
    ?26, ?27, ?28, ?29, ?30, ?31, ?32)";

fn apply_rows(
    c: &mut Connection,
    version: i64,
    rows: &[Located<'_>],
    locate: &Locate<'_>,
    writer: &str,
    keep: bool,
) -> rusqlite::Result<Vec<Applied>> {
    let tx = c.savepoint()?;
    let mut pending = counter(&tx, PENDING)?;
    let rev = counter(&tx, CHANGES)? + 1;
    let mut out = Vec::with_capacity(rows.len());
    // Looked up once, not per row: the cache hashes the statement's text.
    let mut insert = tx.prepare_cached(INSERT)?;
    for r in rows {
        let e = r.event;
        let n = insert.execute(params![
            e.kind.as_str(),
            e.id,
            e.occurred_at,
            e.lon,
            e.lat,
            e.category,
            e.status,
            e.state,
            e.resolved_at,
            e.deadline,
            e.satisfaction,
            e.source,
            e.cleared,
            e.household_hash,
            e.visitor_hash,
            e.updated_at,
            r.tiers[0],
            r.tiers[1],
            r.tiers[2],
            r.outcome.as_str(),
            version,
            e.flow.accepted_at,
            e.flow.dispatched_at,
            e.flow.handled_at,
            writer,
            e.flow.returned_at,
            e.flow.reworked_at,
            e.flow.escalated_at,
            e.flow.suspended_at,
            e.system,
            e.duplicate_of,
            e.flow.first_closed_at,
        ])?;
        if n == 1 {
            if pending > 0 && e.kind == Kind::Issue && waits(&tx, &e.system, &e.id)? {
                let waiting = steps_of(&tx, &e.system, &e.id)?;
                let current = fold(e, &waiting);
                let seq = tx.last_insert_rowid();
                let hit = locate(current.lon, current.lat);
                let row = CaseRow {
                    seq,
                    household_hash: e.household_hash.clone(),
                    visitor_hash: e.visitor_hash.clone(),
                    ..CaseRow::default()
                };
                row.written(&current, Some(e), &hit)
                    .update(&tx, rev, version)?;
                // A waiting step dated before the case was reported is no
                // step of it (the fold left it out): it leaves the history,
                // as one sent after the case is refused.
                let dropped = tx.execute(
                    "DELETE FROM transitions WHERE system = ?1 AND issue_id = ?2 AND applied = 0 AND at < ?3",
                    params![&e.system, &e.id, e.occurred_at],
                )?;
                let done = dropped
                    + tx.execute(
                        "UPDATE transitions SET applied = 1 WHERE system = ?1 AND issue_id = ?2 AND applied = 0",
                        [&e.system, &e.id],
                    )?;
                pending -= done as i64;
                bump(&tx, PENDING, -(done as i64))?;
                out.push(Applied::moved(Stored::New, current, hit));
                continue;
            }
            out.push(match keep {
                true => {
                    let place = (r.outcome, r.tiers.map(|t| t.map(str::to_owned)));
                    Applied::moved(Stored::New, e.clone(), place)
                }
                false => Applied::only(Stored::New),
            });
            continue;
        }
        let Some(case) = read_case(&tx, &e.system, e.kind, &e.id)? else {
            out.push(Applied::only(Stored::Conflict(
                "stored case could not be read back".into(),
            )));
            continue;
        };
        // The incoming row against the latest whole row received.
        let offered = offer(&case.base, &case.current, e, || {
            steps_of(&tx, &e.system, &e.id)
        })?;
        let (base, current) = match offered {
            Offered::Updated { base, current } => (base, current),
            Offered::Stale(Some(current)) => {
                let base = case.base_to_write();
                let hit = rewrite(&tx, rev, version, &case, &current, base, locate)?;
                out.push(Applied::moved(Stored::Stale, current, hit));
                continue;
            }
            Offered::Stale(None) => {
                out.push(Applied::only(Stored::Stale));
                continue;
            }
            Offered::Unchanged => {
                out.push(Applied::only(Stored::Unchanged));
                continue;
            }
            Offered::Conflict(reason) => {
                out.push(Applied::only(Stored::Conflict(reason)));
                continue;
            }
        };
        let hit = rewrite(&tx, rev, version, &case, &current, Some(&base), locate)?;
        out.push(Applied::moved(Stored::Updated, current, hit));
    }
    drop(insert);
    count_changes(&tx, &out)?;
    tx.commit()?;
    Ok(out)
}

/// The case of a run of consecutive steps of one case (as files and grid
/// apps send them): read once, written once when the run ends, its
/// transitions read once when a late step needs them.
struct Touched {
    system: String,
    issue_id: String,
    case: Option<Case>,
    /// The row the last step left, to write when the run ends; made into
    /// the case only when another step of the run needs it.
    written: Option<CaseRow>,
    history: Option<Vec<Step>>,
    /// Whether a step of the run changed the case.
    dirty: bool,
}

impl Touched {
    fn read(tx: &Connection, s: &Step) -> rusqlite::Result<Touched> {
        Ok(Touched {
            system: s.system.clone(),
            issue_id: s.issue_id.clone(),
            case: read_case(tx, &s.system, Kind::Issue, &s.issue_id)?,
            written: None,
            history: None,
            dirty: false,
        })
    }

    /// The case as the run's last step left it.
    fn case(&mut self) -> Option<&Case> {
        if let Some(row) = self.written.take() {
            self.case = Some(row.case(&self.system, Kind::Issue, &self.issue_id));
        }
        self.case.as_ref()
    }

    /// Writes the case if the run changed it.
    fn close(self, tx: &Connection, rev: i64, version: i64) -> rusqlite::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        match self.written.or_else(|| self.case.map(|c| c.row)) {
            Some(row) => row.update(tx, rev, version),
            None => Ok(()),
        }
    }
}

/// The transitions of `s`'s case in (`at`, `update_id`) order, `s` among
/// them: read on first need, then kept up to date with the transaction's
/// own inserts (the order of SQLite's `ORDER BY at, update_id`: integers,
/// then bytes).
fn history<'h>(
    tx: &Connection,
    s: &Step,
    kept: &'h mut Option<Vec<Step>>,
) -> rusqlite::Result<&'h [Step]> {
    if kept.is_none() {
        *kept = Some(steps_of(tx, &s.system, &s.issue_id)?);
    }
    Ok(kept.as_deref().unwrap_or_default())
}

fn apply_steps(
    c: &mut Connection,
    version: i64,
    steps: &[Step],
    locate: &Locate<'_>,
) -> rusqlite::Result<Vec<Applied>> {
    let tx = c.savepoint()?;
    let now = super::now_us();
    let rev = counter(&tx, CHANGES)? + 1;
    let mut out = Vec::with_capacity(steps.len());
    let mut run: Option<Touched> = None;
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO transitions(issue_id, update_id, at, state, deadline, satisfaction, solved, \
         category, lon, lat, to_unit, note_hash, received_at, applied, system, duplicate_of) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    for s in steps {
        if run
            .as_ref()
            .is_some_and(|t| t.system != s.system || t.issue_id != s.issue_id)
        {
            if let Some(t) = run.take() {
                t.close(&tx, rev, version)?;
            }
        }
        let t = match &mut run {
            Some(t) => t,
            None => run.insert(Touched::read(&tx, s)?),
        };
        // A step dated before its case was reported is refused, not kept.
        if let Some(why) = t.case().and_then(|c| before_report(&c.base, s)) {
            out.push(Applied::only(Stored::Conflict(why)));
            continue;
        }
        let stored_case = t.case().is_some();
        let n = insert.execute(params![
            s.issue_id,
            s.update_id,
            s.at,
            s.state,
            s.deadline,
            s.satisfaction,
            s.solved,
            s.category,
            s.lon,
            s.lat,
            s.to_unit,
            s.note_hash,
            now,
            stored_case,
            s.system,
            s.duplicate_of,
        ])?;
        if n == 0 {
            let stored: Option<Step> = tx
                .prepare_cached(&ONE_STEP)?
                .query_row(params![s.system, s.issue_id, s.update_id], step_row)
                .optional()?;
            let stored = match stored {
                Some(old) if old == *s => Stored::Unchanged,
                _ => Stored::Conflict(format!(
                    "conflict: update {:?} of issue {:?} is stored with other content",
                    s.update_id, s.issue_id
                )),
            };
            out.push(Applied::only(stored));
            continue;
        }
        if let Some(h) = &mut t.history {
            let at = h.partition_point(|x| {
                (x.at, x.update_id.as_bytes()) < (s.at, s.update_id.as_bytes())
            });
            h.insert(at, s.clone());
        }
        let Some(case) = &t.case else {
            bump(&tx, PENDING, 1)?;
            out.push(Applied::only(Stored::Pending));
            continue;
        };
        // A step after every step applied so far moves the current state
        // on by itself; only an earlier one needs the case's whole history.
        let newest = match case.current.updated_at {
            Some(u) => s.at > u,
            None => s.at >= case.base.version_time(),
        };
        let current = if newest {
            fold(&case.current, std::slice::from_ref(s))
        } else {
            keep_milestones(
                fold(&case.base, history(&tx, s, &mut t.history)?),
                &case.current,
            )
        };
        let older = case.current.updated_at.is_some_and(|u| s.at < u);
        if current == case.current {
            out.push(Applied::only(if older {
                Stored::Stale
            } else {
                Stored::Unchanged
            }));
            continue;
        }
        // A late step that only shows an earlier milestone stays stale.
        let same_state = Event {
            flow: case.current.flow,
            ..current.clone()
        } == case.current;
        let stored = if older && same_state {
            Stored::Stale
        } else {
            Stored::Updated
        };
        let (row, hit) = moved_row(case, &current, case.base_to_write(), locate);
        t.written = Some(row);
        t.dirty = true;
        out.push(Applied::moved(stored, current, hit));
    }
    if let Some(t) = run {
        t.close(&tx, rev, version)?;
    }
    drop(insert);
    count_changes(&tx, &out)?;
    tx.commit()?;
    Ok(out)
}

impl Store {
    /// Stores located events in one transaction: a (system, kind, id) not
    /// seen before is inserted (with any transitions waiting for it folded in)
    /// and records `writer` (the user, token or file that first delivered
    /// it), one already stored is judged as a re-sent version. Durable on
    /// return. `keep`: whether a new row's [`Applied`] holds its case (a
    /// running service adds it to its frame; a file load before the frame
    /// is built needs only the fates, and copying every row cost a tenth
    /// of the load).
    pub fn apply_events(
        &self,
        grid_version: i64,
        rows: &[Located<'_>],
        locate: &Locate<'_>,
        writer: &str,
        keep: bool,
    ) -> Result<Vec<Applied>> {
        self.write(|c| apply_rows(c, grid_version, rows, locate, writer, keep))
    }

    /// Stores transition rows in one transaction and folds each into its
    /// case (or keeps it waiting). Durable on return.
    pub fn apply_updates(
        &self,
        grid_version: i64,
        steps: &[Step],
        locate: &Locate<'_>,
    ) -> Result<Vec<Applied>> {
        self.write(|c| apply_steps(c, grid_version, steps, locate))
    }

    /// The transitions of one issue of `system`, in (`at`, `update_id`) order.
    pub fn history(&self, system: &str, issue_id: &str) -> Result<Vec<Step>> {
        self.read(|c| steps_of(c, system, issue_id))
    }

    /// Transitions whose `at` lies in `[from, to)` (µs), oldest first, at most `limit`.
    /// The steps of [`Store::updates_between`] that come after `after` in
    /// its order (time, system, case, step id): the next page of a long
    /// window.
    pub fn updates_after(&self, after: &Step, to: i64, limit: usize) -> Result<Vec<Step>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {STEP_COLS} FROM transitions \
                 WHERE (at, system, issue_id, update_id) > (?1, ?2, ?3, ?4) AND at < ?5 \
                 ORDER BY at, system, issue_id, update_id LIMIT ?6"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(-1);
            let key = (&after.system, &after.issue_id, &after.update_id);
            let rows = st.query_map(params![after.at, key.0, key.1, key.2, to, limit], step_row)?;
            rows.collect()
        })
    }

    pub fn updates_between(&self, from: i64, to: i64, limit: usize) -> Result<Vec<Step>> {
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT {STEP_COLS} FROM transitions WHERE at >= ?1 AND at < ?2 ORDER BY at, system, issue_id, update_id LIMIT ?3"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(-1);
            let rows = st.query_map(params![from, to, limit], step_row)?;
            rows.collect()
        })
    }

    /// Prepares the load of a file of about `rows` case updates
    /// ([`StepsLoad`]): when it may add more than an eighth of the
    /// transitions stored, their time index is dropped for the load and
    /// built again by [`StepsLoad::finish`].
    pub fn steps_load(&self, rows: u64) -> Result<StepsLoad<'_>> {
        let stored: i64 = self.read(|c| {
            c.query_row("SELECT coalesce(max(seq), 0) FROM transitions", [], |r| {
                r.get(0)
            })
        })?;
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
        let dropped = rows.saturating_mul(BULK_SHARE) > stored;
        if dropped {
            self.write(|c| c.execute_batch("DROP INDEX IF EXISTS transitions_at"))?;
        }
        Ok(StepsLoad {
            store: self,
            dropped,
        })
    }

    /// Transitions waiting for their case.
    pub fn pending_updates(&self) -> Result<i64> {
        self.read(|c| counter(c, PENDING))
    }

    /// How many times stored cases have changed.
    pub fn case_changes(&self) -> Result<i64> {
        self.read(|c| counter(c, CHANGES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue(state: &'static str) -> Event {
        Event {
            status: Some(status_of(state)),
            state: Some(state),
            ..Event::bare("A", Kind::Issue)
        }
    }

    fn step(id: &str, at: i64, state: &str) -> Step {
        Step::new("A", id, at, state)
    }

    #[test]
    fn the_fold_does_not_depend_on_arrival_order() {
        let mut steps = vec![
            step("u1", 2_000, "dispatched"),
            step("u2", 3_000, "handled"),
            step("u3", 4_000, "closed"),
            step("u4", 5_000, "reopened"),
            step("u5", 6_000, "closed"),
        ];
        steps[4].satisfaction = Some("basic".into());
        let a = fold(&issue("reported"), &steps);
        steps.reverse();
        let b = fold(&issue("reported"), &steps);
        assert_eq!(a, b);
        assert_eq!(a.state, Some("closed"));
        assert_eq!(a.status, Some("resolved"));
        assert_eq!(a.resolved_at, Some(6_000));
        assert_eq!(a.satisfaction, Some("basic"));
        assert_eq!(a.updated_at, Some(6_000));
    }

    #[test]
    fn a_step_dated_before_the_report_is_left_out_milestones_and_all() {
        let mut base = issue("reported");
        base.occurred_at = 10_000;
        let early = step("u1", 5_000, "closed");
        let a = fold(&base, &[early.clone(), step("u2", 12_000, "accepted")]);
        assert_eq!((a.state, a.status), (Some("accepted"), Some("open")));
        assert_eq!(a.flow.first_closed_at, None);
        assert_eq!(a.flow.accepted_at, Some(12_000));
        let why = before_report(&base, &early).unwrap();
        assert!(
            why.contains("\"u1\"") && why.contains("before the issue was reported"),
            "{why}"
        );
        assert_eq!(before_report(&base, &step("u3", 10_000, "accepted")), None);
    }

    #[test]
    fn a_reopened_case_is_open_and_a_base_hides_older_steps() {
        let a = fold(
            &issue("reported"),
            &[step("u1", 2_000, "closed"), step("u2", 3_000, "核查不通过")],
        );
        assert_eq!((a.status, a.resolved_at), (Some("open"), None));
        // A whole row closed at 5_000 already reflects a dispatch at 2_000.
        let mut base = issue("closed");
        base.resolved_at = Some(5_000);
        let b = fold(&base, &[step("u1", 2_000, "dispatched")]);
        assert_eq!(b.state, Some("closed"));
    }

    /// A callback's rating dated before the whole row that closed the case
    /// was sent again counts when the row has none: the row says nothing
    /// of it (its `solved` from the same step was kept, the rating lost,
    /// and the case fell out of 回访率 and 满意率). A rating in the row
    /// stands against an older step's.
    #[test]
    fn a_rating_the_whole_row_lacks_is_taken_from_an_older_step() {
        let mut base = issue("closed");
        (base.resolved_at, base.updated_at) = (Some(5_000), Some(9_000));
        let mut callback = step("u1", 7_000, "回访");
        callback.satisfaction = Some("satisfied".into());
        callback.solved = Some(crate::vocab::SOLVED.into());
        let a = fold(&base, std::slice::from_ref(&callback));
        assert_eq!(
            (a.satisfaction, a.flow.solved),
            (Some("satisfied"), Some(true))
        );
        assert_eq!((a.state, a.updated_at), (Some("closed"), Some(9_000)));
        base.satisfaction = Some("unsatisfied");
        let b = fold(&base, &[callback]);
        assert_eq!(b.satisfaction, Some("unsatisfied"));
    }

    /// The SQL of the transitions' time index, if the store has it.
    fn time_index(store: &Store) -> Option<String> {
        store
            .read(|c| {
                c.query_row(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'transitions_at'",
                    [],
                    |r| r.get(0),
                )
                .optional()
            })
            .unwrap()
    }

    /// The time index of a new store.
    fn schema_time_index() -> String {
        let dir = tempfile::tempdir().unwrap();
        time_index(&Store::open(&dir.path().join("s.db")).unwrap()).unwrap()
    }

    /// A bulk load is never a reason to lose the index: a load given up
    /// (an error ends it early) builds it again, and a store opened after
    /// a process died mid-load has it.
    #[test]
    fn a_bulk_load_given_up_or_killed_leaves_the_time_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let load = store.steps_load(1 << 20).unwrap();
        assert!(load.bulk());
        assert_eq!(time_index(&store), None);
        drop(load);
        assert_eq!(time_index(&store), Some(schema_time_index()));
        // Killed mid-load: the index is gone from the file.
        let load = store.steps_load(1 << 20).unwrap();
        std::mem::forget(load);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(time_index(&store), Some(schema_time_index()));
        // A small file into a store of many transitions keeps the index.
        store
            .write(|c| {
                c.execute(
                    "INSERT INTO transitions(seq, issue_id, update_id, at, state, received_at, applied) \
                     VALUES (1000000, 'A', 'u', 1, 'reported', 1, 0)",
                    [],
                )
            })
            .unwrap();
        let load = store.steps_load(1_000_000 / 8).unwrap();
        assert!(!load.bulk());
        assert!(store.steps_load(1_000_000 / 8 + 1).unwrap().bulk());
        load.finish().unwrap();
    }

    /// Every table row of a store, as text, in a fixed order: `changed`
    /// without its revision numbers (a transaction per step counts more).
    fn dump(store: &Store) -> Vec<String> {
        store
            .read(|c| {
                let mut out = Vec::new();
                for sql in [
                    "SELECT * FROM events ORDER BY seq",
                    "SELECT issue_id, update_id, at, state, deadline, satisfaction, solved, category, lon, lat, \
                     to_unit, note_hash, applied, system, duplicate_of FROM transitions ORDER BY system, issue_id, update_id",
                    "SELECT seq FROM changed ORDER BY seq",
                    "SELECT key, value FROM meta WHERE key IN ('pending_updates', 'case_changes') ORDER BY key",
                ] {
                    let mut st = c.prepare(sql)?;
                    let n = st.column_count();
                    let rows = st.query_map([], |r| {
                        Ok((0..n)
                            .map(|k| format!("{:?}", r.get_ref(k).map(|v| v.data_type())) + &format!("{:?}", r.get::<_, rusqlite::types::Value>(k)))
                            .collect::<Vec<_>>()
                            .join("|"))
                    })?;
                    for r in rows {
                        out.push(r?);
                    }
                }
                Ok(out)
            })
            .unwrap()
    }

    /// A run of one case's steps is read once and written once; the
    /// database and every step's fate are those of one step at a time.
    #[test]
    fn steps_in_one_transaction_end_as_one_at_a_time() {
        let locate = |lon: f64, _lat: f64| -> Place {
            if lon < 115.5 {
                (
                    Outcome::Matched,
                    [Some("t1".into()), Some("v1".into()), Some("g1".into())],
                )
            } else {
                (Outcome::Outside, [None, None, None])
            }
        };
        let mut a = issue("reported");
        a.household_hash = Some("h".into());
        let mut b = issue("closed");
        b.id = "B".into();
        b.resolved_at = Some(50_000);
        let mut c = issue("reported");
        c.id = "C".into();
        c.updated_at = Some(1_900);
        let events = [a, b, c];
        let on = |id: &str, u: &str, at: i64, state: &str| Step {
            issue_id: id.into(),
            ..step(u, at, state)
        };
        let mut moved = on("A", "u4", 4_000, "派遣");
        moved.lon = Some(116.0);
        moved.lat = Some(38.6);
        let mut other = on("A", "u1", 2_000, "受理");
        other.note_hash = Some("x".into());
        let mut satisfied = on("C", "u3", 9_000, "回访");
        satisfied.satisfaction = Some("satisfied".into());
        let steps = vec![
            on("A", "u1", 2_000, "受理"),
            on("A", "u2", 3_000, "派遣"),
            on("A", "u0", 1_500, "受理"),  // late: the history re-folded
            on("A", "u00", 2_500, "退回"), // late again: the history kept
            moved,
            on("A", "u1", 2_000, "受理"),  // the same again
            other,                         // the same id, other content
            on("B", "u1", 10_000, "派遣"), // before the closed base
            on("B", "u2", 60_000, "重新打开"),
            on("Z", "u1", 5_000, "受理"), // waits for its case
            on("A", "u5", 6_000, "处置"), // A again, after another case
            on("C", "u1", 1_800, "受理"),
            on("C", "u0", 500, "受理"), // before C was reported: refused
            on("C", "u2", 2_000, "处置"),
            satisfied,
            on("Z", "u2", 6_000, "派遣"),
            on("B", "u3", 70_000, "结案"),
        ];
        let run = |batch: usize, bulk: bool| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("s.db")).unwrap();
            let hits: Vec<Place> = events.iter().map(|e| locate(e.lon, e.lat)).collect();
            let rows: Vec<Located<'_>> = events
                .iter()
                .zip(&hits)
                .map(|(e, h)| Located {
                    event: e,
                    outcome: h.0,
                    tiers: [h.1[0].as_deref(), h.1[1].as_deref(), h.1[2].as_deref()],
                })
                .collect();
            store.apply_events(1, &rows, &locate, "test", true).unwrap();
            // A file of any size is bulk into a store without transitions.
            let load = store.steps_load(u64::from(bulk)).unwrap();
            assert_eq!(load.bulk(), bulk);
            assert_eq!(time_index(&store).is_some(), !bulk);
            let fates: Vec<(String, Option<Event>, Option<Place>)> = steps
                .chunks(batch)
                .flat_map(|chunk| store.apply_updates(1, chunk, &locate).unwrap())
                .map(|a| (format!("{:?}", a.stored), a.current, a.place))
                .collect();
            load.finish().unwrap();
            assert_eq!(time_index(&store), Some(schema_time_index()));
            let feed = store
                .updates_between(i64::MIN, i64::MAX, usize::MAX)
                .unwrap();
            (fates, dump(&store), feed, (store, dir))
        };
        let (one, one_db, one_feed, (store, _dir)) = run(1, false);
        for (batch, bulk) in [(steps.len(), false), (1, true), (steps.len(), true)] {
            let (all, all_db, all_feed, _) = run(batch, bulk);
            assert_eq!(one, all);
            assert_eq!(one_db, all_db);
            assert_eq!(one_feed, all_feed);
        }
        assert_eq!(one_feed.len(), 14, "every stored step, by time");
        assert!(one_feed.windows(2).all(|w| w[0].at <= w[1].at));
        // Page by page (steps at one time split across pages too), the
        // feed is the same steps in the same order.
        for size in [1, 2, 3, 5] {
            let mut paged = store.updates_between(i64::MIN, i64::MAX, size).unwrap();
            while let Some(last) = paged.last().cloned() {
                let next = store.updates_after(&last, i64::MAX, size).unwrap();
                if next.is_empty() {
                    break;
                }
                paged.extend(next);
            }
            assert_eq!(paged, one_feed, "pages of {size}");
        }
        // The sequence exercises what it should.
        let kinds: Vec<&str> = one.iter().map(|f| f.0.split('(').next().unwrap()).collect();
        for k in ["Updated", "Unchanged", "Stale", "Conflict", "Pending"] {
            assert!(kinds.contains(&k), "no {k} among {kinds:?}");
        }
        assert!(one
            .iter()
            .any(|f| f.2.as_ref().is_some_and(|p| p.0 == Outcome::Outside)));
    }
}
