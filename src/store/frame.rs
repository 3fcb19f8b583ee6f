//! The stored events as the joined polars frame of [`crate::columns`].
//!
//! Read once at start-up, in `seq` order, straight into column builders: no
//! per-row structs, and every 65,536 rows ([`CHUNK_ROWS`]) become a coded
//! chunk of the frame, so ten million rows cost their column bytes and one
//! chunk's strings more. The result has the schema of [`crate::join::joined_schema`], so the
//! analytics cannot tell it from a frame read from the join's Parquet.

use polars::prelude::*;

use super::{Result, Store};
use crate::columns as c;

/// One chunk's columns as they are read. Text goes straight into
/// polars' string builders from SQLite's own buffers: a `String` per value
/// (fourteen text columns) made allocation a fifth of the read.
struct Builders {
    rows: usize,
    id: StringChunkedBuilder,
    kind: StringChunkedBuilder,
    occurred_at: Vec<i64>,
    lon: Vec<f64>,
    lat: Vec<f64>,
    category: StringChunkedBuilder,
    status: StringChunkedBuilder,
    resolved_at: Vec<Option<i64>>,
    deadline: Vec<Option<i64>>,
    satisfaction: StringChunkedBuilder,
    source: StringChunkedBuilder,
    cleared: Vec<Option<bool>>,
    household: StringChunkedBuilder,
    visitor: StringChunkedBuilder,
    tiers: [StringChunkedBuilder; 3],
    outcome: StringChunkedBuilder,
    state: StringChunkedBuilder,
    updated_at: Vec<Option<i64>>,
    flow: [Vec<Option<i64>>; c::FLOW.len()],
    solved: Vec<Option<bool>>,
    system: StringChunkedBuilder,
    duplicate: Vec<Option<bool>>,
}

fn datetime(name: &str, v: Vec<Option<i64>>) -> PolarsResult<Column> {
    Int64Chunked::from_iter_options(name.into(), v.into_iter())
        .into_series()
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .map(Column::from)
}

impl Builders {
    fn new() -> Builders {
        let text = |name: &str| StringChunkedBuilder::new(name.into(), CHUNK_ROWS);
        Builders {
            rows: 0,
            id: text(c::ID),
            kind: text(c::KIND),
            occurred_at: Vec::with_capacity(CHUNK_ROWS),
            lon: Vec::with_capacity(CHUNK_ROWS),
            lat: Vec::with_capacity(CHUNK_ROWS),
            category: text(c::CATEGORY),
            status: text(c::STATUS),
            resolved_at: Vec::with_capacity(CHUNK_ROWS),
            deadline: Vec::with_capacity(CHUNK_ROWS),
            satisfaction: text(c::SATISFACTION),
            source: text(c::SOURCE),
            cleared: Vec::with_capacity(CHUNK_ROWS),
            household: text(c::HOUSEHOLD_HASH),
            visitor: text(c::VISITOR_HASH),
            tiers: [text(c::TIER1), text(c::TIER2), text(c::TIER3)],
            outcome: text(c::OUTCOME),
            state: text(c::STATE),
            updated_at: Vec::with_capacity(CHUNK_ROWS),
            flow: std::array::from_fn(|_| Vec::with_capacity(CHUNK_ROWS)),
            solved: Vec::with_capacity(CHUNK_ROWS),
            system: text(c::SYSTEM),
            duplicate: Vec::with_capacity(CHUNK_ROWS),
        }
    }

    /// Appends the row `r` of [`SELECT`].
    fn push(&mut self, r: &rusqlite::Row<'_>) -> rusqlite::Result<()> {
        let text = |i: usize| -> rusqlite::Result<Option<&str>> {
            r.get_ref(i)?.as_str_or_null().map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
            })
        };
        self.id.append_option(text(0)?);
        self.kind.append_option(text(1)?);
        self.occurred_at.push(r.get(2)?);
        self.lon.push(r.get(3)?);
        self.lat.push(r.get(4)?);
        self.category.append_option(text(5)?);
        self.status.append_option(text(6)?);
        self.resolved_at.push(r.get(7)?);
        self.deadline.push(r.get(8)?);
        self.satisfaction.append_option(text(9)?);
        self.source.append_option(text(10)?);
        self.cleared.push(r.get(11)?);
        self.household.append_option(text(12)?);
        self.visitor.append_option(text(13)?);
        for (k, t) in self.tiers.iter_mut().enumerate() {
            t.append_option(text(14 + k)?);
        }
        self.outcome.append_option(text(17)?);
        self.state.append_option(text(18)?);
        self.updated_at.push(r.get(19)?);
        for (i, f) in self.flow.iter_mut().enumerate() {
            f.push(r.get(20 + i)?);
        }
        self.solved.push(r.get(20 + c::FLOW.len())?);
        self.system.append_option(text(21 + c::FLOW.len())?);
        self.duplicate.push(r.get(22 + c::FLOW.len())?);
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> PolarsResult<DataFrame> {
        let n = self.rows;
        let [t1, t2, t3] = self.tiers;
        let text = |b: StringChunkedBuilder| b.finish().into_column();
        let mut cols = vec![
            text(self.id),
            text(self.kind),
            datetime(
                c::OCCURRED_AT,
                self.occurred_at.into_iter().map(Some).collect(),
            )?,
            Column::new(c::LON.into(), self.lon),
            Column::new(c::LAT.into(), self.lat),
            text(self.category),
            text(self.status),
            datetime(c::RESOLVED_AT, self.resolved_at)?,
            datetime(c::DEADLINE, self.deadline)?,
            text(self.satisfaction),
            text(self.source),
            Column::new(c::CLEARED.into(), self.cleared),
            text(self.household),
            text(self.visitor),
            text(t1),
            text(t2),
            text(t3),
            text(self.outcome),
            text(self.state),
            datetime(c::UPDATED_AT, self.updated_at)?,
        ];
        for (name, v) in c::FLOW.into_iter().zip(self.flow) {
            cols.push(datetime(name, v)?);
        }
        cols.push(Column::new(c::SOLVED.into(), self.solved));
        cols.push(text(self.system));
        cols.push(Column::new(c::DUPLICATE.into(), self.duplicate));
        c::encode(DataFrame::new(n, cols)?)
    }
}

/// The columns of the frame, in the order [`Builders::push`] reads them.
const SELECT: &str = "SELECT id, kind, occurred_at, lon, lat, category, status, resolved_at, deadline, \
    satisfaction, source, cleared, household_hash, visitor_hash, tier1, tier2, tier3, outcome, state, updated_at, \
    accepted_at, dispatched_at, handled_at, first_closed_at, returned_at, reworked_at, extended_at, escalated_at, \
    suspended_at, resumed_at, first_deadline, reopened_at, solved, NULLIF(system, ''), \
    CASE WHEN kind = 'issue' THEN duplicate_of IS NOT NULL END FROM events";

/// Rows below which the frame is read on one thread.
const SPLIT_ROWS: i64 = 4 * CHUNK_ROWS as i64;

impl Store {
    /// Every stored event as the joined frame, and the highest `seq` read
    /// (events after it are the ones the caller must still append).
    pub fn load_frame(&self) -> Result<(DataFrame, i64)> {
        self.load_frame_after(0)
    }

    /// The stored events with `seq > after`, in `seq` order, and the
    /// highest `seq` stored when the read began (`after` when there is
    /// none above it). The rows are read
    /// in ranges of `seq`, one per core, each on its own thread and
    /// reader: decoding SQLite's rows is the cost, and it divides. Rows
    /// stored meanwhile lie above the highest `seq` at the start, which is
    /// what is returned: the caller appends them as it does any new row.
    pub fn load_frame_after(&self, after: i64) -> Result<(DataFrame, i64)> {
        let high: i64 = self.read(|c| {
            c.query_row("SELECT coalesce(max(seq), ?1) FROM events", [after], |r| {
                r.get(0)
            })
        })?;
        let span = high.saturating_sub(after).max(0);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
        let parts = if span < SPLIT_ROWS {
            1
        } else {
            cores.clamp(1, 4)
        };
        Ok((self.load_parts(after, high, parts)?, high))
    }

    /// The rows with `after < seq <= high` in `seq` order, read in `parts`
    /// ranges of `seq` of equal width, each on its own thread.
    fn load_parts(&self, after: i64, high: i64, parts: i64) -> Result<DataFrame> {
        let span = high.saturating_sub(after).max(0);
        let bounds: Vec<i64> = (0..=parts).map(|k| after + span * k / parts).collect();
        let read: Vec<Result<DataFrame>> = std::thread::scope(|s| {
            let jobs: Vec<_> = bounds
                .windows(2)
                .map(|w| {
                    let (lo, hi) = (w[0], w[1]);
                    s.spawn(move || self.load_rows("seq > ?1 AND seq <= ?2", [lo, hi]))
                })
                .collect();
            jobs.into_iter()
                .map(|j| j.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        Ok(stacked(read.into_iter().collect::<Result<_>>()?)?)
    }

    /// The rows at or below `high_water` whose case changed after the
    /// change count `after` (see `store::cases`), in `seq` order.
    pub fn load_changed(&self, after: i64, high_water: i64) -> Result<DataFrame> {
        self.load_rows(
            "seq IN (SELECT seq FROM changed WHERE rev > ?1) AND seq <= ?2",
            [after, high_water],
        )
    }

    /// The rows `filter` (of two parameters, `p`) keeps, in `seq` order.
    fn load_rows(&self, filter: &str, p: [i64; 2]) -> Result<DataFrame> {
        // Every CHUNK_ROWS rows become a frame chunk (coded, the strings
        // freed): ten million rows as Rust strings took 6 GB at once.
        let mut chunks: Vec<DataFrame> = Vec::new();
        let mut failed = None;
        let b = self.read(|conn| {
            let mut b = Builders::new();
            let mut st = conn.prepare(&format!("{SELECT} WHERE {filter} ORDER BY seq"))?;
            let mut rows = st.query(p)?;
            while let Some(r) = rows.next()? {
                b.push(r)?;
                if b.rows == CHUNK_ROWS {
                    match std::mem::replace(&mut b, Builders::new()).finish() {
                        Ok(df) => chunks.push(df),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
            }
            Ok(b)
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        chunks.push(b.finish()?);
        Ok(stacked(chunks)?)
    }
}

/// `frames` one under the other, in order, each keeping its chunks (an
/// empty frame of the schema when there is none).
fn stacked(frames: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let mut frames = frames.into_iter();
    let Some(mut frame) = frames.next() else {
        return Builders::new().finish();
    };
    for df in frames {
        frame.vstack_mut_owned(df)?;
    }
    Ok(frame)
}

/// Rows per chunk of the in-memory frame: replacing the rows of changed
/// cases copies the chunks that hold them, not the whole frame.
pub const CHUNK_ROWS: usize = 1 << 16;

/// `frame` with every chunk longer than [`CHUNK_ROWS`] cut into chunks of
/// that many rows (zero-copy: the pieces share the buffers they were cut
/// from; nothing is copied).
pub fn bounded_chunks(frame: DataFrame) -> PolarsResult<DataFrame> {
    let n = frame.height();
    let Some(first) = frame.columns().first() else {
        return Ok(frame);
    };
    let lengths: Vec<usize> = first.as_materialized_series().chunk_lengths().collect();
    if lengths.iter().all(|&l| l <= CHUNK_ROWS) {
        return Ok(frame);
    }
    let mut pieces: Vec<(usize, usize)> = Vec::new();
    let mut offset = 0;
    for len in lengths {
        for start in (0..len).step_by(CHUNK_ROWS) {
            pieces.push((offset + start, CHUNK_ROWS.min(len - start)));
        }
        offset += len;
    }
    let cols = frame
        .columns()
        .iter()
        .map(|c| {
            let s = c.as_materialized_series();
            let mut out = s.slice(0, 0);
            for &(start, len) in &pieces {
                out.append(&s.slice(start as i64, len))?;
            }
            Ok(Column::from(out))
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(n, cols)
}

/// `frame` with runs of small chunks (rows appended by ingest) merged into
/// chunks of about [`CHUNK_ROWS`]; full chunks are left as they are.
pub fn compact_chunks(frame: DataFrame) -> PolarsResult<DataFrame> {
    let n = frame.height();
    let Some(first) = frame.columns().first() else {
        return Ok(frame);
    };
    let lengths: Vec<usize> = first.as_materialized_series().chunk_lengths().collect();
    // Groups of consecutive chunks, each closed once it reaches CHUNK_ROWS.
    let mut groups: Vec<(usize, usize, usize)> = Vec::new(); // (offset, len, chunks)
    let mut offset = 0;
    for len in lengths {
        match groups.last_mut() {
            Some(g) if g.1 < CHUNK_ROWS && g.1 + len <= 2 * CHUNK_ROWS => {
                g.1 += len;
                g.2 += 1;
            }
            _ => groups.push((offset, len, 1)),
        }
        offset += len;
    }
    if groups.iter().all(|g| g.2 == 1) {
        return Ok(frame);
    }
    let cols = frame
        .columns()
        .iter()
        .map(|c| {
            let s = c.as_materialized_series();
            let mut out: Option<Series> = None;
            for &(offset, len, chunks) in &groups {
                let mut piece = s.slice(offset as i64, len);
                if chunks > 1 {
                    piece = piece.rechunk();
                }
                match &mut out {
                    Some(o) => {
                        o.append(&piece)?;
                    }
                    None => out = Some(piece),
                }
            }
            Ok(Column::from(out.unwrap_or_else(|| s.clone())))
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    DataFrame::new(n, cols)
}

/// `frame` with the rows of the cases in `changed` (same columns, the last
/// row of a case winning) put in place of their stored versions. The frame
/// keeps its length, order and chunks, so the pseudonyms stay aligned; only
/// the chunks holding a changed row are copied. Also returns the report
/// times (`occurred_at`, µs) the replaced rows had and now have: the days
/// whose aggregates the change touches, and the replacing rows with the
/// frame positions they took ([`c::FRAME_ROW`]).
pub fn replace_rows(
    frame: DataFrame,
    changed: &[DataFrame],
) -> PolarsResult<(DataFrame, Vec<i64>, DataFrame)> {
    let mut rep = changed[0].clone();
    for d in &changed[1..] {
        rep.vstack_mut(d)?;
    }
    // A case is its (kind, system, id); the county's own system is null.
    let (rk, rs, ri) = (
        c::text(rep.column(c::KIND)?)?,
        c::text(rep.column(c::SYSTEM)?)?,
        c::text(rep.column(c::ID)?)?,
    );
    let mut last: PlHashMap<(&str, Option<&str>, &str), IdxSize> =
        PlHashMap::with_capacity(rep.height());
    for (i, ((k, sys), id)) in rk.iter().zip(rs.iter()).zip(ri.iter()).enumerate() {
        if let (Some(k), Some(id)) = (k, id) {
            last.insert((k, sys, id), i as IdxSize);
        }
    }
    // Positions in the frame and the replacing row of each, in frame order.
    // The frame's ids are text; its kinds and systems are coded, so they
    // are read (as text) only at the rows whose id is a changed case's.
    let wanted: PlHashSet<&str> = last.keys().map(|k| k.2).collect();
    let (kinds, systems) = (frame.column(c::KIND)?, frame.column(c::SYSTEM)?);
    let text_at = |col: &Column, i: usize| -> PolarsResult<Option<String>> {
        let v = col.get(i)?;
        Ok((!v.is_null()).then(|| v.str_value().into_owned()))
    };
    let mut hits: Vec<(usize, IdxSize)> = Vec::new();
    for (pos, id) in c::text(frame.column(c::ID)?)?.iter().enumerate() {
        let Some(id) = id.filter(|id| wanted.contains(id)) else {
            continue;
        };
        let (Some(k), sys) = (text_at(kinds, pos)?, text_at(systems, pos)?) else {
            continue;
        };
        if let Some(&r) = last.get(&(k.as_str(), sys.as_deref(), id)) {
            hits.push((pos, r));
        }
    }
    // The replacing rows, with the frame positions they took.
    let placed = {
        let at: Vec<u32> = hits.iter().map(|h| h.0 as u32).collect();
        let idx = IdxCa::from_vec("".into(), hits.iter().map(|h| h.1).collect());
        let mut placed = rep.take(&idx)?;
        placed.with_column(Column::new(c::FRAME_ROW.into(), at))?;
        placed
    };
    if hits.is_empty() {
        return Ok((frame, Vec::new(), placed));
    }
    let reported =
        |df: &DataFrame, at: &mut dyn Iterator<Item = usize>| -> PolarsResult<Vec<i64>> {
            let t = df
                .column(c::OCCURRED_AT)?
                .as_materialized_series()
                .to_physical_repr();
            let t = t.i64()?;
            Ok(at.filter_map(|i| t.get(i)).collect())
        };
    let mut times = reported(&frame, &mut hits.iter().map(|h| h.0))?;
    times.extend(reported(&rep, &mut hits.iter().map(|h| h.1 as usize))?);
    let first = frame.columns()[0].as_materialized_series();
    let lengths: Vec<usize> = first.chunk_lengths().collect();
    // Per chunk: its offset, length and the take indices (None: unchanged row).
    let mut plan: Vec<(usize, usize, Option<IdxCa>)> = Vec::with_capacity(lengths.len());
    let (mut offset, mut h) = (0, 0);
    for len in lengths {
        let end = offset + len;
        let start_h = h;
        while h < hits.len() && hits[h].0 < end {
            h += 1;
        }
        let take = (h > start_h).then(|| {
            let mut idx: Vec<Option<IdxSize>> = vec![None; len];
            for &(pos, r) in &hits[start_h..h] {
                idx[pos - offset] = Some(r);
            }
            IdxCa::from_iter_options("take".into(), idx.into_iter())
        });
        plan.push((offset, len, take));
        offset = end;
    }
    let mut cols = Vec::with_capacity(frame.width());
    for old in frame.columns() {
        let name = old.name().as_str();
        if name == c::ID || name == c::KIND || name == c::SYSTEM {
            cols.push(old.clone());
            continue;
        }
        let old = old.as_materialized_series();
        // Rows read from the database are coded like the frame.
        let new = rep.column(name)?.cast(old.dtype())?;
        let new = new.as_materialized_series();
        let mut out: Option<Series> = None;
        for (offset, len, take) in &plan {
            let piece = old.slice(*offset as i64, *len);
            let piece = match take {
                None => piece,
                Some(take) => new
                    .take(take)?
                    .zip_with(&take.is_not_null(), &piece)?
                    .rechunk(),
            };
            match &mut out {
                Some(o) => {
                    o.append(&piece)?;
                }
                None => out = Some(piece),
            }
        }
        cols.push(Column::from(out.unwrap_or_else(|| old.clone())));
    }
    Ok((DataFrame::new(frame.height(), cols)?, times, placed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ids: &[String], kind: &str, v: impl Fn(usize) -> i64) -> DataFrame {
        in_system(ids, kind, None, v)
    }

    fn in_system(
        ids: &[String],
        kind: &str,
        system: Option<&str>,
        v: impl Fn(usize) -> i64,
    ) -> DataFrame {
        let n = ids.len();
        df!(
            c::KIND => vec![kind; n],
            c::SYSTEM => vec![system; n],
            c::ID => ids,
            "v" => (0..n).map(&v).collect::<Vec<_>>(),
            c::OCCURRED_AT => (0..n).map(v).collect::<Vec<_>>(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn changed_rows_replace_theirs_and_only_their_chunks_are_copied() -> PolarsResult<()> {
        let n = CHUNK_ROWS * 2 + 100;
        let ids: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
        let f = bounded_chunks(frame(&ids, "issue", |i| i as i64))?;
        assert_eq!(f.first_col_n_chunks(), 3);
        // Two versions of one case (the later wins), one case per other chunk.
        let changed = [
            frame(&["e5".into(), "e70000".into()], "issue", |i| {
                -(i as i64) - 1
            }),
            frame(&["e5".into(), "x".into()], "issue", |_| -100),
            // The same id in another system's id space is another case.
            in_system(&["e6".into()], "issue", Some("12345"), |_| -7),
        ];
        let before = f.column("v")?.as_materialized_series().chunks()[1].clone();
        let (g, times, _) = replace_rows(f, &changed)?;
        // The replaced rows' report times, before then after, in frame order.
        assert_eq!(times, [5, 70000, -100, -2]);
        assert_eq!(g.height(), n);
        assert_eq!(g.first_col_n_chunks(), 3);
        let v = g.column("v")?.i64()?;
        assert_eq!(v.get(5), Some(-100));
        assert_eq!(v.get(70000), Some(-2));
        assert_eq!(v.get(6), Some(6));
        assert_eq!(v.get(n - 1), Some(n as i64 - 1));
        let changed_rows = (0..n).filter(|&i| v.get(i) != Some(i as i64)).count();
        assert_eq!(changed_rows, 2);
        // The middle chunk held e70000 and was rebuilt; the last one is shared.
        let after = g.column("v")?.as_materialized_series().chunks().clone();
        assert!(!std::ptr::eq(before.as_ref(), after[1].as_ref()));
        Ok(())
    }

    /// More rows than a chunk come back in order, as chunks of at most
    /// [`CHUNK_ROWS`] rows with the codes of the whole process.
    #[test]
    fn stored_events_load_in_coded_chunks_in_seq_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let n = CHUNK_ROWS + 1_000;
        store
            .write(|c| {
                let mut st = c.prepare(
                    "INSERT INTO events (kind, id, occurred_at, lon, lat, category, outcome, grid_version, tier3) \
                     VALUES (?1, ?2, ?3, 115.0, 38.5, ?4, 'matched', 1, ?5)",
                )?;
                for i in 0..n {
                    let kind = ["issue", "visit"][i % 2];
                    let cat = ["环境卫生", "入户走访", "噪音"][i % 3];
                    st.execute(rusqlite::params![kind, format!("e{i}"), i as i64, cat, format!("G{}", i % 7)])?;
                }
                Ok(())
            })
            .unwrap();
        let (f, last) = store.load_frame().unwrap();
        assert_eq!((f.height(), last), (n, n as i64));
        assert_eq!(
            f.column(c::ID)
                .unwrap()
                .as_materialized_series()
                .chunk_lengths()
                .collect::<Vec<_>>(),
            [CHUNK_ROWS, 1_000]
        );
        assert!(f.column(c::TIER3).unwrap().dtype().is_categorical());
        let ids = f.column(c::ID).unwrap().str().unwrap();
        let cats = c::Texts::of(&f, c::CATEGORY).unwrap();
        let grids = c::Texts::of(&f, c::TIER3).unwrap();
        for i in [0, 1, CHUNK_ROWS - 1, CHUNK_ROWS, n - 1] {
            assert_eq!(ids.get(i), Some(format!("e{i}").as_str()));
            assert_eq!(cats.get(i), Some(["环境卫生", "入户走访", "噪音"][i % 3]));
            assert_eq!(grids.get(i), Some(format!("G{}", i % 7).as_str()));
        }
        // Read in ranges on threads of their own: the same frame, each
        // range in chunks of its own, ranges without rows included.
        let g = store.load_parts(0, n as i64, 3).unwrap();
        assert!(g.equals_missing(&f));
        assert_eq!(
            g.column(c::ID)
                .unwrap()
                .as_materialized_series()
                .chunk_lengths()
                .collect::<Vec<_>>(),
            [n / 3, n / 3 + 1, n / 3 + 1]
        );
        let tail = store.load_parts(n as i64 - 10, n as i64 + 90, 20).unwrap();
        assert!(tail.equals_missing(&f.slice(n as i64 - 10, 10)));
        assert_eq!(store.load_frame_after(n as i64).unwrap().0.height(), 0);
    }

    #[test]
    fn small_appended_chunks_are_merged_and_full_ones_kept() -> PolarsResult<()> {
        let ids: Vec<String> = (0..CHUNK_ROWS + 10).map(|i| format!("e{i}")).collect();
        let mut f = bounded_chunks(frame(&ids, "issue", |i| i as i64))?;
        for k in 0..5 {
            let more: Vec<String> = (0..1000).map(|i| format!("n{k}-{i}")).collect();
            f.vstack_mut(&frame(&more, "issue", |_| -1))?;
        }
        assert_eq!(f.first_col_n_chunks(), 7);
        let g = compact_chunks(f.clone())?;
        assert_eq!(g.first_col_n_chunks(), 2);
        assert_eq!(g.height(), f.height());
        assert!(g.equals_missing(&f));
        Ok(())
    }
}
