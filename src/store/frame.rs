//! The stored events as the joined polars frame of [`crate::columns`].
//!
//! Read once at start-up, in `seq` order, straight into column builders: no
//! per-row structs, so ten million rows cost their column bytes and nothing
//! more. The result has the schema of [`crate::join::joined_schema`], so the
//! analytics cannot tell it from a frame read from the join's Parquet.

use polars::prelude::*;

use super::{Result, Store};
use crate::columns as c;

#[derive(Default)]
struct Builders {
    id: Vec<String>,
    kind: Vec<String>,
    occurred_at: Vec<i64>,
    lon: Vec<f64>,
    lat: Vec<f64>,
    category: Vec<String>,
    status: Vec<Option<String>>,
    resolved_at: Vec<Option<i64>>,
    deadline: Vec<Option<i64>>,
    satisfaction: Vec<Option<String>>,
    source: Vec<Option<String>>,
    cleared: Vec<Option<bool>>,
    household: Vec<Option<String>>,
    visitor: Vec<Option<String>>,
    tiers: [Vec<Option<String>>; 3],
    outcome: Vec<String>,
    state: Vec<Option<String>>,
    updated_at: Vec<Option<i64>>,
    flow: [Vec<Option<i64>>; 7],
    solved: Vec<Option<bool>>,
}

fn datetime(name: &str, v: Vec<Option<i64>>) -> PolarsResult<Column> {
    Int64Chunked::from_iter_options(name.into(), v.into_iter())
        .into_series()
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .map(Column::from)
}

impl Builders {
    fn finish(self) -> PolarsResult<DataFrame> {
        let n = self.id.len();
        let [t1, t2, t3] = self.tiers;
        let cols = vec![
            Column::new(c::ID.into(), self.id),
            Column::new(c::KIND.into(), self.kind),
            datetime(
                c::OCCURRED_AT,
                self.occurred_at.into_iter().map(Some).collect(),
            )?,
            Column::new(c::LON.into(), self.lon),
            Column::new(c::LAT.into(), self.lat),
            Column::new(c::CATEGORY.into(), self.category),
            Column::new(c::STATUS.into(), self.status),
            datetime(c::RESOLVED_AT, self.resolved_at)?,
            datetime(c::DEADLINE, self.deadline)?,
            Column::new(c::SATISFACTION.into(), self.satisfaction),
            Column::new(c::SOURCE.into(), self.source),
            Column::new(c::CLEARED.into(), self.cleared),
            Column::new(c::HOUSEHOLD_HASH.into(), self.household),
            Column::new(c::VISITOR_HASH.into(), self.visitor),
            Column::new(c::TIER1.into(), t1),
            Column::new(c::TIER2.into(), t2),
            Column::new(c::TIER3.into(), t3),
            Column::new(c::OUTCOME.into(), self.outcome),
            Column::new(c::STATE.into(), self.state),
            datetime(c::UPDATED_AT, self.updated_at)?,
        ];
        let mut cols = cols;
        for (name, v) in c::FLOW.into_iter().zip(self.flow) {
            cols.push(datetime(name, v)?);
        }
        cols.push(Column::new(c::SOLVED.into(), self.solved));
        DataFrame::new(n, cols)
    }
}

impl Store {
    /// Every stored event as the joined frame, and the highest `seq` read
    /// (events after it are the ones the caller must still append).
    pub fn load_frame(&self) -> Result<(DataFrame, i64)> {
        self.load_frame_after(0)
    }

    /// The stored events with `seq > after`, in `seq` order, and the
    /// highest `seq` read (`after` when there is none).
    pub fn load_frame_after(&self, after: i64) -> Result<(DataFrame, i64)> {
        self.load_rows("seq > ?1", [after, 0], after)
    }

    /// The rows at or below `high_water` whose case changed after the
    /// change count `after` (see `store::cases`), in `seq` order.
    pub fn load_changed(&self, after: i64, high_water: i64) -> Result<DataFrame> {
        Ok(self
            .load_rows(
                "seq IN (SELECT seq FROM changed WHERE rev > ?1) AND seq <= ?2",
                [after, high_water],
                0,
            )?
            .0)
    }

    fn load_rows(&self, filter: &str, p: [i64; 2], after: i64) -> Result<(DataFrame, i64)> {
        let (b, last) = self.read(|conn| {
            let mut b = Builders::default();
            let mut last = after;
            let mut st = conn.prepare(&format!(
                "SELECT seq, id, kind, occurred_at, lon, lat, category, status, resolved_at, deadline, satisfaction, \
                 source, cleared, household_hash, visitor_hash, tier1, tier2, tier3, outcome, state, updated_at, \
                 accepted_at, dispatched_at, handled_at, returned_at, reworked_at, extended_at, escalated_at, solved FROM events \
                 WHERE {filter} ORDER BY seq"
            ))?;
            let n = st.parameter_count();
            let mut rows = st.query(rusqlite::params_from_iter(p.iter().take(n)))?;
            while let Some(r) = rows.next()? {
                last = r.get(0)?;
                b.id.push(r.get(1)?);
                b.kind.push(r.get(2)?);
                b.occurred_at.push(r.get(3)?);
                b.lon.push(r.get(4)?);
                b.lat.push(r.get(5)?);
                b.category.push(r.get(6)?);
                b.status.push(r.get(7)?);
                b.resolved_at.push(r.get(8)?);
                b.deadline.push(r.get(9)?);
                b.satisfaction.push(r.get(10)?);
                b.source.push(r.get(11)?);
                b.cleared.push(r.get(12)?);
                b.household.push(r.get(13)?);
                b.visitor.push(r.get(14)?);
                b.tiers[0].push(r.get(15)?);
                b.tiers[1].push(r.get(16)?);
                b.tiers[2].push(r.get(17)?);
                b.outcome.push(r.get(18)?);
                b.state.push(r.get(19)?);
                b.updated_at.push(r.get(20)?);
                for (i, f) in b.flow.iter_mut().enumerate() {
                    f.push(r.get(21 + i)?);
                }
                b.solved.push(r.get(28)?);
            }
            Ok((b, last))
        })?;
        Ok((b.finish()?, last))
    }
}

/// `frame` with the rows of the cases in `changed` (same columns, the last
/// row of a case winning) put in place of their stored versions. The frame
/// keeps its length and order, so the pseudonyms stay aligned.
pub fn replace_rows(frame: DataFrame, changed: &[DataFrame]) -> PolarsResult<DataFrame> {
    use std::collections::HashMap;
    let mut rep = changed[0].clone();
    for d in &changed[1..] {
        rep.vstack_mut(d)?;
    }
    let (rk, ri) = (rep.column(c::KIND)?.str()?, rep.column(c::ID)?.str()?);
    let mut last: HashMap<(&str, &str), IdxSize> = HashMap::with_capacity(rep.height());
    for (i, (k, id)) in rk.iter().zip(ri.iter()).enumerate() {
        if let (Some(k), Some(id)) = (k, id) {
            last.insert((k, id), i as IdxSize);
        }
    }
    let (fk, fi) = (frame.column(c::KIND)?.str()?, frame.column(c::ID)?.str()?);
    let take: IdxCa = fk
        .iter()
        .zip(fi.iter())
        .map(|(k, id)| last.get(&(k?, id?)).copied())
        .collect();
    let mask = take.is_not_null();
    let mut cols = Vec::with_capacity(frame.width());
    for old in frame.columns() {
        let name = old.name().as_str();
        if name == c::ID || name == c::KIND {
            cols.push(old.clone());
            continue;
        }
        let new = rep.column(name)?.take(&take)?;
        cols.push(new.zip_with(&mask, old)?);
    }
    DataFrame::new(frame.height(), cols)
}
