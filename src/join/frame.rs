//! Located events → the joined polars frame (`crate::columns`).

use polars::prelude::*;

use super::locate::{Outcome, NONE};
use crate::columns as c;
use crate::grid::GridModel;
use crate::ingest::{Event, Kind};

/// Tier 1, 2 and 3 unit of every unit (itself or an ancestor), `NONE` where absent.
pub fn tier_table(model: &GridModel) -> Vec<[u32; 3]> {
    (0..model.units().len())
        .map(|i| {
            let at = |l| model.ancestor_at(i, l).map_or(NONE, |a| a as u32);
            [at(1), at(2), at(3)]
        })
        .collect()
}

/// Tier 1, 2 and 3 codes of the unit `u` a point was located in (`NONE`:
/// in no unit), from [`tier_table`]: the one place a hit becomes codes.
pub fn unit_codes<'m>(model: &'m GridModel, tiers: &[[u32; 3]], u: u32) -> [Option<&'m str>; 3] {
    let row = (u != NONE).then(|| tiers.get(u as usize)).flatten();
    std::array::from_fn(|t| {
        let a = row?[t];
        (a != NONE).then(|| model.unit(a as usize).code.as_str())
    })
}

/// The tier-1, 2 and 3 codes of every unit's ancestors (itself at its own
/// tier) as coded in one [`c::Coding`]: a located point's unit becomes its
/// three coded columns by a look-up, no text hashed per row.
pub struct TierCodes {
    coding: c::Coding,
    /// Per unit; `u32::MAX`: no unit at that tier.
    codes: Vec<[u32; 3]>,
    /// The three columns' types: holding them keeps their mappings, and
    /// so these codes, alive (polars drops a mapping no column holds).
    _held: Vec<DataType>,
}

impl TierCodes {
    pub fn new(
        model: &GridModel,
        tiers: &[[u32; 3]],
        coding: c::Coding,
    ) -> PolarsResult<TierCodes> {
        let mut codes = vec![[u32::MAX; 3]; tiers.len()];
        let mut held = Vec::with_capacity(3);
        for (t, name) in [c::TIER1, c::TIER2, c::TIER3].into_iter().enumerate() {
            let mut b = c::CodedBuilder::new(name, coding, 0);
            for (u, row) in codes.iter_mut().enumerate() {
                row[t] = b
                    .code(unit_codes(model, tiers, u as u32)[t])?
                    .unwrap_or(u32::MAX);
            }
            held.push(b.dtype().clone());
        }
        Ok(TierCodes {
            coding,
            codes,
            _held: held,
        })
    }

    /// Tier `t`'s (0-2) code of unit `u` (`NONE`: none).
    fn code(&self, u: u32, t: usize) -> Option<u32> {
        let row = self.codes.get(u as usize)?;
        (row[t] != u32::MAX).then_some(row[t])
    }
}

/// A datetime column (µs, no zone) built a row at a time.
struct Times(PrimitiveChunkedBuilder<Int64Type>);

impl Times {
    fn new(name: &str, capacity: usize) -> Times {
        Times(PrimitiveChunkedBuilder::new(name.into(), capacity))
    }

    fn push(&mut self, v: Option<i64>) {
        self.0.append_option(v);
    }

    fn finish(self) -> Column {
        self.0
            .finish()
            .into_datetime(TimeUnit::Microseconds, None)
            .into_column()
    }
}

pub use crate::columns::joined_schema;

/// A joined file read as the frame holds it: a file written before some
/// columns of [`c::ALL`] existed has those columns null (one from before
/// the lifecycle has no states or milestones), and the instants a file
/// types as UTC ([`c::file_schema`]) are the frame's plain µs since the
/// epoch, UTC, again.
pub fn with_missing_columns(mut lf: LazyFrame) -> PolarsResult<LazyFrame> {
    let have = lf.collect_schema()?;
    let plain = DataType::Datetime(TimeUnit::Microseconds, None);
    let mut fixed: Vec<Expr> = joined_schema()
        .iter()
        .filter(|(name, _)| !have.contains(name.as_str()))
        .map(|(name, t)| lit(NULL).cast(t.clone()).alias(name.clone()))
        .collect();
    fixed.extend(
        c::INSTANTS
            .into_iter()
            .filter(|n| matches!(have.get(n), Some(DataType::Datetime(_, Some(_)))))
            .map(|n| col(n).cast(DataType::Int64).cast(plain.clone())),
    );
    Ok(if fixed.is_empty() {
        lf
    } else {
        lf.with_columns(fixed)
    })
}

/// Builds the frame for located events (`hits` parallel to `events`;
/// rejected ones skipped), its [`c::CODED`] columns coded as `tiers` are.
///
/// One pass over the events fills every column: an event is read once
/// while it is in cache, not once per column (1,000,000 events: a column
/// at a time took a quarter of `wangge join`'s processor time).
pub fn joined_frame(
    tiers: &TierCodes,
    events: &[Event],
    hits: &[(Outcome, u32)],
) -> PolarsResult<DataFrame> {
    let n = hits.iter().filter(|h| h.0 != Outcome::Rejected).count();
    let coding = tiers.coding;
    let coded = |name| c::CodedBuilder::new(name, coding, n);
    let text = |name: &str| StringChunkedBuilder::new(name.into(), n);
    let flag = |name: &str| BooleanChunkedBuilder::new(name.into(), n);
    let (mut id, mut household, mut visitor) =
        (text(c::ID), text(c::HOUSEHOLD_HASH), text(c::VISITOR_HASH));
    let (mut kind, mut category, mut status, mut satisfaction, mut source) = (
        coded(c::KIND),
        coded(c::CATEGORY),
        coded(c::STATUS),
        coded(c::SATISFACTION),
        coded(c::SOURCE),
    );
    let (mut outcome, mut state, mut system) =
        (coded(c::OUTCOME), coded(c::STATE), coded(c::SYSTEM));
    let mut tier = [coded(c::TIER1), coded(c::TIER2), coded(c::TIER3)];
    let (mut occurred, mut lon, mut lat) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut resolved, mut deadline, mut updated) = (
        Times::new(c::RESOLVED_AT, n),
        Times::new(c::DEADLINE, n),
        Times::new(c::UPDATED_AT, n),
    );
    let mut flow = c::FLOW.map(|name| Times::new(name, n));
    let (mut cleared, mut solved, mut duplicate) =
        (flag(c::CLEARED), flag(c::SOLVED), flag(c::DUPLICATE));
    for (e, &(o, unit)) in events.iter().zip(hits) {
        if o == Outcome::Rejected {
            continue;
        }
        id.append_value(&e.id);
        kind.push(Some(e.kind.as_str()));
        occurred.push(e.occurred_at);
        lon.push(e.lon);
        lat.push(e.lat);
        category.push(Some(&e.category));
        status.push(e.status);
        resolved.push(e.resolved_at);
        deadline.push(e.deadline);
        satisfaction.push(e.satisfaction);
        source.push(e.source);
        cleared.append_option(e.cleared);
        household.append_option(e.household_hash.as_deref());
        visitor.append_option(e.visitor_hash.as_deref());
        for (t, b) in tier.iter_mut().enumerate() {
            b.push_code(tiers.code(unit, t));
        }
        outcome.push(Some(o.as_str()));
        state.push(e.state);
        updated.push(e.updated_at);
        for (b, v) in flow.iter_mut().zip(e.flow.times()) {
            b.push(v);
        }
        solved.append_option(e.flow.solved);
        system.push(Some(e.system.as_str()).filter(|s| !s.is_empty()));
        duplicate.append_option((e.kind == Kind::Issue).then_some(e.duplicate_of.is_some()));
    }
    let [tier1, tier2, tier3] = tier;
    // In the order of [`c::ALL`].
    let mut cols = vec![
        id.finish().into_column(),
        kind.finish()?,
        Int64Chunked::from_vec(c::OCCURRED_AT.into(), occurred)
            .into_datetime(TimeUnit::Microseconds, None)
            .into_column(),
        Column::new(c::LON.into(), lon),
        Column::new(c::LAT.into(), lat),
        category.finish()?,
        status.finish()?,
        resolved.finish(),
        deadline.finish(),
        satisfaction.finish()?,
        source.finish()?,
        cleared.finish().into_column(),
        household.finish().into_column(),
        visitor.finish().into_column(),
        tier1.finish()?,
        tier2.finish()?,
        tier3.finish()?,
        outcome.finish()?,
        state.finish()?,
        updated.finish(),
    ];
    cols.extend(flow.map(Times::finish));
    cols.push(solved.finish().into_column());
    cols.push(system.finish()?);
    cols.push(duplicate.finish().into_column());
    DataFrame::new(n, cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::testutil::county;

    fn event(id: usize) -> Event {
        Event {
            category: "盗窃".into(),
            cleared: Some(true),
            ..Event::bare(&format!("E{id}"), Kind::Incident)
        }
    }

    /// A frame built from a [`TierCodes`] table holds each located unit's
    /// three codes, in both codings, also when no column held the
    /// mappings between the table and the frame (polars keeps a mapping
    /// only while something holds it: the table does).
    #[test]
    fn frames_built_from_a_tier_table_hold_the_units_codes() {
        let model = county();
        let tiers = tier_table(&model);
        for coding in [c::Coding::File, c::Coding::Frame] {
            let table = TierCodes::new(&model, &tiers, coding).unwrap();
            let mut hits: Vec<(Outcome, u32)> = (0..tiers.len() as u32)
                .map(|u| (Outcome::Matched, u))
                .collect();
            hits.push((Outcome::Outside, NONE));
            let events: Vec<Event> = (0..hits.len()).map(event).collect();
            for _ in 0..2 {
                // Built, dropped, built again from the same table.
                let df = joined_frame(&table, &events, &hits).unwrap();
                for (t, name) in [c::TIER1, c::TIER2, c::TIER3].into_iter().enumerate() {
                    let col = df.column(name).unwrap();
                    assert_eq!(Some(col.dtype().clone()), c::coded_dtype_in(name, coding));
                    let got = c::owned_text(col);
                    let want: Vec<Option<String>> = hits
                        .iter()
                        .map(|h| unit_codes(&model, &tiers, h.1)[t].map(str::to_owned))
                        .collect();
                    assert_eq!(got, want, "{name} {coding:?}");
                }
            }
        }
    }
}
