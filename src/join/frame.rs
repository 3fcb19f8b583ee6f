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

fn datetime(name: &str, v: impl Iterator<Item = Option<i64>>) -> PolarsResult<Column> {
    Int64Chunked::from_iter_options(name.into(), v)
        .into_series()
        .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
        .map(Column::from)
}

pub use crate::columns::joined_schema;

/// A joined file written before some columns of [`c::ALL`] existed, read
/// with those columns null (a file from before the lifecycle has no
/// states or milestones).
pub fn with_missing_columns(mut lf: LazyFrame) -> PolarsResult<LazyFrame> {
    let have = lf.collect_schema()?;
    let missing: Vec<Expr> = joined_schema()
        .iter()
        .filter(|(name, _)| !have.contains(name.as_str()))
        .map(|(name, t)| lit(NULL).cast(t.clone()).alias(name.clone()))
        .collect();
    Ok(if missing.is_empty() {
        lf
    } else {
        lf.with_columns(missing)
    })
}

/// Coded column `name` of rows `keep`, `f` giving a row's value.
fn coded<'e>(
    name: &'static str,
    coding: c::Coding,
    keep: &[usize],
    f: &dyn Fn(usize) -> Option<&'e str>,
) -> PolarsResult<Column> {
    let mut b = c::CodedBuilder::new(name, coding, keep.len());
    for &i in keep {
        b.push(f(i));
    }
    b.finish()
}

/// Builds the frame for located events (`hits` parallel to `events`;
/// rejected ones skipped), its [`c::CODED`] columns coded as `tiers` are.
pub fn joined_frame<'e>(
    tiers: &TierCodes,
    events: &'e [Event],
    hits: &'e [(Outcome, u32)],
) -> PolarsResult<DataFrame> {
    let keep: Vec<usize> = (0..events.len())
        .filter(|&i| hits[i].0 != Outcome::Rejected)
        .collect();
    let ev = |f: fn(&Event) -> Option<&str>| -> StringChunked {
        keep.iter().map(|&i| f(&events[i])).collect()
    };
    // The columns [`c::CODED`] names are built coded: a code per row, each
    // distinct value once (the unit codes through a table per unit).
    let coding = tiers.coding;
    let coded = |name, f: &dyn Fn(usize) -> Option<&'e str>| coded(name, coding, &keep, f);
    let tier = |t: usize| {
        let mut b = c::CodedBuilder::new([c::TIER1, c::TIER2, c::TIER3][t], coding, keep.len());
        for &i in &keep {
            b.push_code(tiers.code(hits[i].1, t));
        }
        b.finish()
    };
    let mut cols = vec![
        Column::from(ev(|e| Some(&e.id)).with_name(c::ID.into()).into_series()),
        coded(c::KIND, &|i| Some(events[i].kind.as_str()))?,
        datetime(
            c::OCCURRED_AT,
            keep.iter().map(|&i| Some(events[i].occurred_at)),
        )?,
        Column::new(
            c::LON.into(),
            keep.iter().map(|&i| events[i].lon).collect::<Vec<f64>>(),
        ),
        Column::new(
            c::LAT.into(),
            keep.iter().map(|&i| events[i].lat).collect::<Vec<f64>>(),
        ),
        coded(c::CATEGORY, &|i| Some(&events[i].category))?,
        coded(c::STATUS, &|i| events[i].status)?,
        datetime(c::RESOLVED_AT, keep.iter().map(|&i| events[i].resolved_at))?,
        datetime(c::DEADLINE, keep.iter().map(|&i| events[i].deadline))?,
        coded(c::SATISFACTION, &|i| events[i].satisfaction)?,
        coded(c::SOURCE, &|i| events[i].source)?,
        Column::from(
            keep.iter()
                .map(|&i| events[i].cleared)
                .collect::<BooleanChunked>()
                .with_name(c::CLEARED.into())
                .into_series(),
        ),
        Column::from(
            ev(|e| e.household_hash.as_deref())
                .with_name(c::HOUSEHOLD_HASH.into())
                .into_series(),
        ),
        Column::from(
            ev(|e| e.visitor_hash.as_deref())
                .with_name(c::VISITOR_HASH.into())
                .into_series(),
        ),
        tier(0)?,
        tier(1)?,
        tier(2)?,
        coded(c::OUTCOME, &|i| Some(hits[i].0.as_str()))?,
        coded(c::STATE, &|i| events[i].state)?,
        datetime(c::UPDATED_AT, keep.iter().map(|&i| events[i].updated_at))?,
    ];
    for (t, name) in c::FLOW.into_iter().enumerate() {
        cols.push(datetime(
            name,
            keep.iter().map(|&i| events[i].flow.times()[t]),
        )?);
    }
    cols.push(Column::from(
        keep.iter()
            .map(|&i| events[i].flow.solved)
            .collect::<BooleanChunked>()
            .with_name(c::SOLVED.into())
            .into_series(),
    ));
    cols.push(coded(c::SYSTEM, &|i| {
        Some(events[i].system.as_str()).filter(|s| !s.is_empty())
    })?);
    cols.push(Column::from(
        keep.iter()
            .map(|&i| (events[i].kind == Kind::Issue).then_some(events[i].duplicate_of.is_some()))
            .collect::<BooleanChunked>()
            .with_name(c::DUPLICATE.into())
            .into_series(),
    ));
    DataFrame::new(keep.len(), cols)
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
