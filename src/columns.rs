//! Column names of the joined event frame, defined once, with their types
//! ([`joined_schema`]) and the values of the `outcome` column ([`Outcome`]).
//!
//! The join writes these columns, the store keeps them, the analytics read
//! them, the exports and the API name them: nothing else spells a column
//! name as a string literal.
//!
//! The unit codes and the vocabularies ([`CODED`]) are carried as codes from
//! the join to the response: the server's frame holds them as its own
//! categoricals, a joined file as Parquet dictionary columns
//! ([`Coding`]); text appears where a file, the database or JSON asks for
//! it (the exports decode them, [`decode`]).

use polars::prelude::{
    Categorical16Type, Categorical32Type, Categorical8Type, CategoricalChunked, CategoricalMapping,
    CategoricalPhysical, Categories, ChunkedArray, Column, DataFrame, DataType, IntoColumn,
    IntoSeries, PlHashMap, PlSmallStr, PolarsCategoricalType, PolarsDataType, PolarsError,
    PolarsNumericType, PolarsResult, Schema, StringChunked, TimeUnit, TimeZone,
};
use polars_arrow::bitmap::{Bitmap, MutableBitmap};

/// Event id, unique within its kind and source system ([`SYSTEM`]) (String).
pub const ID: &str = "id";
/// `issue`, `incident` or `visit` (String).
pub const KIND: &str = "kind";
/// When it happened: a UTC instant in microseconds, stored as a zone-less Datetime (µs); local calendars add the zone.
pub const OCCURRED_AT: &str = "occurred_at";
/// WGS84 longitude after any CRS conversion (Float64).
pub const LON: &str = "lon";
/// WGS84 latitude after any CRS conversion (Float64).
pub const LAT: &str = "lat";
/// Kind-specific category, free text (String).
pub const CATEGORY: &str = "category";
/// Issue status: `open` or `resolved`, the summary of [`STATE`] (String, null for other kinds).
pub const STATUS: &str = "status";
/// Issue: when it was resolved (Datetime µs holding UTC, nullable).
pub const RESOLVED_AT: &str = "resolved_at";
/// Issue: due time (Datetime µs holding UTC, nullable).
pub const DEADLINE: &str = "deadline";
/// Issue: `satisfied`, `basic`, `unsatisfied` (String, nullable).
pub const SATISFACTION: &str = "satisfaction";
/// Issue: `patrol`, `hotline`, `walk_in`, `online`, `other` (String, nullable).
pub const SOURCE: &str = "source";
/// Incident: solved (Boolean, nullable).
pub const CLEARED: &str = "cleared";
/// Visit: keyed hash of the household identifier, hex (String, nullable). Never the clear value.
pub const HOUSEHOLD_HASH: &str = "household_hash";
/// Visit: keyed hash of the visiting cadre, hex (String, nullable). Never the clear value.
pub const VISITOR_HASH: &str = "visitor_hash";
/// Issue: canonical lifecycle state (`reported` ... `closed`, see `ingest::state`) (String, nullable).
pub const STATE: &str = "state";
/// Time of the case's last change at the source (Datetime µs holding UTC, nullable).
pub const UPDATED_AT: &str = "updated_at";
/// Issue: the first action after the report, 受理 (Datetime µs holding UTC, nullable). See `ingest::state::Flow`.
pub const ACCEPTED_AT: &str = "accepted_at";
/// Issue: first dispatched, 派遣 (Datetime µs holding UTC, nullable).
pub const DISPATCHED_AT: &str = "dispatched_at";
/// Issue: first handled or closed, 处置 (Datetime µs holding UTC, nullable).
pub const HANDLED_AT: &str = "handled_at";
/// Issue: first closed, 首次结案 (Datetime µs holding UTC, nullable): with
/// a re-open after it (`reopened_at`), the closure in force until then.
pub const FIRST_CLOSED_AT: &str = "first_closed_at";
/// Issue: first returned, 退单 (Datetime µs holding UTC, nullable).
pub const RETURNED_AT: &str = "returned_at";
/// Issue: first re-opened or failed a check, 返工 (Datetime µs holding UTC, nullable).
pub const REWORKED_AT: &str = "reworked_at";
/// Issue: first deadline extension, 延期 (Datetime µs holding UTC, nullable).
pub const EXTENDED_AT: &str = "extended_at";
/// Issue: first escalated above the village, 上报上级 (Datetime µs holding UTC, nullable).
pub const ESCALATED_AT: &str = "escalated_at";
/// Issue: first entered suspension, 挂账/缓办 (Datetime µs holding UTC, nullable).
pub const SUSPENDED_AT: &str = "suspended_at";
/// Issue: first left that suspension, 恢复办理 (Datetime µs holding UTC, nullable).
pub const RESUMED_AT: &str = "resumed_at";
/// Issue: the deadline before the first extension, 原办理时限 (Datetime
/// µs holding UTC, null unless extended): in force until `extended_at`.
pub const FIRST_DEADLINE: &str = "first_deadline";
/// Issue: first re-opened after its first closure, 首次重开 (Datetime µs
/// holding UTC, nullable): the case stood closed from `first_closed_at`
/// until then.
pub const REOPENED_AT: &str = "reopened_at";
/// Issue: actually solved, as last reported, 实际解决 (Boolean, nullable).
pub const SOLVED: &str = "solved";
/// The source system whose id space `id` belongs to (String, null: the
/// county's own). Ids are unique per (system, kind).
pub const SYSTEM: &str = "system";
/// Issue: the case repeats another one (重复件, linked upstream by
/// `duplicate_of`): the report counts in the call volume, not as a case
/// of its own (Boolean, null for other kinds). The id it repeats is kept
/// in the database and shown with the case.
pub const DUPLICATE: &str = "duplicate";
/// The milestone time columns, in the order of `ingest::state::Flow::times`
/// (with the deadline before the first extension, which is not a milestone
/// but goes with one).
pub const FLOW: [&str; 12] = [
    ACCEPTED_AT,
    DISPATCHED_AT,
    HANDLED_AT,
    FIRST_CLOSED_AT,
    RETURNED_AT,
    REWORKED_AT,
    EXTENDED_AT,
    ESCALATED_AT,
    SUSPENDED_AT,
    RESUMED_AT,
    FIRST_DEADLINE,
    REOPENED_AT,
];
/// Position of a row in the server's frame (UInt32): the pre-aggregates'
/// issue table keeps it beside each issue's milestones, which the server's
/// frame then leaves out ([`FLOW`]). Never in a file a user receives.
pub const FRAME_ROW: &str = "frame_row";
/// Code of the tier-1 unit (township/street) holding the event (String, nullable).
pub const TIER1: &str = "tier1";
/// Code of the tier-2 unit (village/community) holding the event (String, nullable).
pub const TIER2: &str = "tier2";
/// Code of the tier-3 grid holding the event (String, nullable).
pub const TIER3: &str = "tier3";
/// Join outcome: `matched`, `partial` or `outside` (String). Rejected rows never reach the frame.
pub const OUTCOME: &str = "outcome";

/// Code column for a tier (1, 2 or 3).
pub fn tier(level: u8) -> &'static str {
    match level {
        1 => TIER1,
        2 => TIER2,
        _ => TIER3,
    }
}

/// Every column of the joined frame, in order.
pub const ALL: [&str; 35] = [
    ID,
    KIND,
    OCCURRED_AT,
    LON,
    LAT,
    CATEGORY,
    STATUS,
    RESOLVED_AT,
    DEADLINE,
    SATISFACTION,
    SOURCE,
    CLEARED,
    HOUSEHOLD_HASH,
    VISITOR_HASH,
    TIER1,
    TIER2,
    TIER3,
    OUTCOME,
    STATE,
    UPDATED_AT,
    ACCEPTED_AT,
    DISPATCHED_AT,
    HANDLED_AT,
    FIRST_CLOSED_AT,
    RETURNED_AT,
    REWORKED_AT,
    EXTENDED_AT,
    ESCALATED_AT,
    SUSPENDED_AT,
    RESUMED_AT,
    FIRST_DEADLINE,
    REOPENED_AT,
    SOLVED,
    SYSTEM,
    DUPLICATE,
];

/// Rejects file: input file name.
pub const REJ_FILE: &str = "file";
/// Rejects file: 1-based data row number (header is row 0 for CSV).
pub const REJ_ROW: &str = "row";
/// Rejects file: offending column.
pub const REJ_COLUMN: &str = "column";
/// Rejects file: human-readable reason.
pub const REJ_REASON: &str = "reason";

/// Where one event ended up (CONTRACT.md "What every row becomes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Inside a tier-3 grid.
    Matched,
    /// Inside a tier-1 or tier-2 unit but in no grid.
    Partial,
    /// Valid, in no unit at all.
    Outside,
    /// Invalid row; never located.
    Rejected,
}

impl Outcome {
    /// The outcome named by [`Outcome::as_str`].
    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::Matched,
            Outcome::Partial,
            Outcome::Outside,
            Outcome::Rejected,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// Stable lower-case name, as written in the `outcome` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::Partial => "partial",
            Outcome::Outside => "outside",
            Outcome::Rejected => "rejected",
        }
    }
}

/// Schema of the joined frame, for writers that need it before the first batch.
pub fn joined_schema() -> Schema {
    let dt = DataType::Datetime(TimeUnit::Microseconds, None);
    let mut s = Schema::default();
    for name in ALL {
        let t = match name {
            OCCURRED_AT | RESOLVED_AT | DEADLINE | UPDATED_AT => dt.clone(),
            n if FLOW.contains(&n) => dt.clone(),
            LON | LAT => DataType::Float64,
            CLEARED | SOLVED | DUPLICATE => DataType::Boolean,
            _ => DataType::String,
        };
        s.with_column(name.into(), t);
    }
    s
}

/// The columns the server's frame holds dictionary-coded (polars
/// categoricals): a code per row and each distinct value once. As text, ten
/// million rows of them cost 16 bytes a row each in string views alone.
/// `id` stays text (every value differs) and the pseudonyms stay out of
/// memory altogether (`store::pseudonyms`). The width is what a column can
/// ever hold in one process: kind and outcome are enums, and so are status,
/// satisfaction, source and state, checked against their vocabularies at
/// ingest ([`crate::vocab`]); the source systems are the writers' accounts;
/// townships number in the tens per county and tens of thousands in the
/// whole country; a category is upstream's free text, so it gets 32 bits
/// like the village and grid codes.
pub const CODED: [(&str, CategoricalPhysical); 11] = [
    (KIND, CategoricalPhysical::U8),
    (OUTCOME, CategoricalPhysical::U8),
    (CATEGORY, CategoricalPhysical::U32),
    (STATUS, CategoricalPhysical::U8),
    (SATISFACTION, CategoricalPhysical::U8),
    (SOURCE, CategoricalPhysical::U8),
    (STATE, CategoricalPhysical::U8),
    (SYSTEM, CategoricalPhysical::U16),
    (TIER1, CategoricalPhysical::U16),
    (TIER2, CategoricalPhysical::U32),
    (TIER3, CategoricalPhysical::U32),
];

/// How a [`CODED`] column is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// The server's frame and its snapshots: one named mapping per column
    /// for the whole process, as narrow as the column's values allow.
    Frame,
    /// A joined file an analyst may open: polars' global categories, which
    /// any reader takes as text (DuckDB, GDAL and pyarrow read a Parquet
    /// dictionary column; polars compares it with strings; pandas makes it
    /// a `category`).
    File,
}

/// The categorical type of coded column `name` (None for the others). One
/// named mapping per column for the whole process, so frames read at
/// start-up and rows appended later share their codes.
pub fn coded_dtype(name: &str) -> Option<DataType> {
    coded_dtype_in(name, Coding::Frame)
}

/// The categorical type of coded column `name` in `coding`.
pub fn coded_dtype_in(name: &str, coding: Coding) -> Option<DataType> {
    let (_, physical) = CODED.iter().find(|(n, _)| *n == name)?;
    let cats = match coding {
        Coding::Frame => {
            Categories::new(format!("wangge.{name}").into(), "wangge".into(), *physical)
        }
        Coding::File => Categories::global(),
    };
    Some(DataType::from_categories(cats))
}

/// `df` with its [`CODED`] columns as their categoricals (text columns are
/// coded, coded ones left as they are; other columns untouched).
pub fn encode(mut df: DataFrame) -> PolarsResult<DataFrame> {
    for (name, _) in CODED {
        let Some(dtype) = coded_dtype(name) else {
            continue;
        };
        if let Ok(col) = df.column(name) {
            if col.dtype() != &dtype {
                let coded = col.cast(&dtype)?;
                df.with_column(coded)?;
            }
        }
    }
    Ok(df)
}

/// The values of a text column as text, whether the frame holds it as
/// text (a joined Parquet file, a test's frame) or coded (the server's
/// frame, see [`CODED`]).
pub fn text(col: &Column) -> PolarsResult<std::borrow::Cow<'_, StringChunked>> {
    match col.dtype() {
        DataType::String => Ok(std::borrow::Cow::Borrowed(col.str()?)),
        _ => Ok(std::borrow::Cow::Owned(
            col.cast(&DataType::String)?.str()?.clone(),
        )),
    }
}

/// The schema of the server's frame: [`joined_schema`] with the
/// [`CODED`] columns coded.
pub fn coded_schema() -> Schema {
    coded_schema_in(Coding::Frame)
}

/// The instants of a case: microseconds since the epoch, UTC.
pub const INSTANTS: [&str; 16] = [
    OCCURRED_AT,
    RESOLVED_AT,
    DEADLINE,
    UPDATED_AT,
    FLOW[0],
    FLOW[1],
    FLOW[2],
    FLOW[3],
    FLOW[4],
    FLOW[5],
    FLOW[6],
    FLOW[7],
    FLOW[8],
    FLOW[9],
    FLOW[10],
    FLOW[11],
];

/// The schema of a joined file: [`coded_schema_in`]`(Coding::File)` with
/// the [`INSTANTS`] typed as UTC. The file then says its times are
/// instants (Parquet `isAdjustedToUTC = true`): pandas, DuckDB and QGIS
/// show them in their zone, and the file given back as event input is not
/// read as wall-clock times of the configured zone.
pub fn file_schema() -> Schema {
    let mut s = coded_schema_in(Coding::File);
    for name in INSTANTS {
        s.with_column(
            name.into(),
            DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
        );
    }
    s
}

/// `df` with its [`INSTANTS`] typed as [`file_schema`] has them (the
/// values are unchanged: they are UTC already).
pub fn instants_as_utc(df: &mut DataFrame) -> PolarsResult<()> {
    for name in INSTANTS {
        let Some(col) = df.column(name).ok() else {
            continue;
        };
        let utc = col
            .cast(&DataType::Int64)?
            .i64()?
            .clone()
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_column();
        df.with_column(utc)?;
    }
    Ok(())
}

/// [`joined_schema`] with the [`CODED`] columns coded in `coding`.
pub fn coded_schema_in(coding: Coding) -> Schema {
    let mut s = joined_schema();
    for (name, _) in CODED {
        if let Some(dtype) = coded_dtype_in(name, coding) {
            s.with_column(name.into(), dtype);
        }
    }
    s
}

/// A [`CODED`] column built row by row: each distinct value is looked up
/// in the process's mapping once, then every row is a code. What the join
/// and the live appends build instead of a text column to cast afterwards
/// (the frame read from the database at start-up casts its chunks' text:
/// polars' cast measured faster there, 0.97-1.01 s against 1.02-1.12 s
/// for 1,000,000 rows).
pub struct CodedBuilder {
    name: &'static str,
    dtype: DataType,
    mapping: std::sync::Arc<CategoricalMapping>,
    seen: PlHashMap<String, u32>,
    codes: Vec<u32>,
    valid: MutableBitmap,
    error: Option<PolarsError>,
}

impl CodedBuilder {
    /// A builder of coded column `name` (one of [`CODED`]).
    pub fn new(name: &'static str, coding: Coding, capacity: usize) -> CodedBuilder {
        let dtype =
            coded_dtype_in(name, coding).unwrap_or_else(|| panic!("{name} is not a coded column"));
        let DataType::Categorical(_, mapping) = &dtype else {
            unreachable!("coded_dtype is categorical")
        };
        CodedBuilder {
            name,
            mapping: mapping.clone(),
            dtype,
            seen: Default::default(),
            codes: Vec::with_capacity(capacity),
            valid: MutableBitmap::with_capacity(capacity),
            error: None,
        }
    }

    /// The column's type. Holding it keeps the column's mapping, and so
    /// the codes it gave out, alive: polars drops a mapping nothing holds.
    pub fn dtype(&self) -> &DataType {
        &self.dtype
    }

    /// The code of `v` in this column's mapping (None for null); an error
    /// for a value the mapping cannot take (more distinct values than the
    /// column's width).
    pub fn code(&mut self, v: Option<&str>) -> PolarsResult<Option<u32>> {
        let Some(v) = v else { return Ok(None) };
        if let Some(&k) = self.seen.get(v) {
            return Ok(Some(k));
        }
        let k = self.mapping.insert_cat(v)?;
        self.seen.insert(v.to_owned(), k);
        Ok(Some(k))
    }

    /// Appends a row's value; an error of [`CodedBuilder::code`] is one
    /// of [`CodedBuilder::finish`].
    pub fn push(&mut self, v: Option<&str>) {
        let code = self.code(v).unwrap_or_else(|e| {
            self.error.get_or_insert(e);
            None
        });
        self.push_code(code);
    }

    /// Appends a row's code, one that [`CodedBuilder::code`] gave out for
    /// this column in the same [`Coding`].
    pub fn push_code(&mut self, code: Option<u32>) {
        self.valid.push(code.is_some());
        self.codes.push(code.unwrap_or(0));
    }

    pub fn finish(self) -> PolarsResult<Column> {
        if let Some(e) = self.error {
            return Err(e.context(format!("column {}", self.name).into()));
        }
        let valid: Option<Bitmap> = self.valid.into();
        let (name, dtype) = (self.name.into(), self.dtype);
        // Every code came from the column's own mapping (`push`), which
        // gives out no code wider than the column's physical type: the
        // codes are not looked up again row by row.
        fn coded<T: PolarsCategoricalType>(
            name: PlSmallStr,
            codes: Vec<<T::PolarsPhysical as PolarsDataType>::OwnedPhysical>,
            valid: Option<Bitmap>,
            dtype: DataType,
        ) -> Column
        where
            T::PolarsPhysical: PolarsNumericType,
        {
            let ca = ChunkedArray::<T::PolarsPhysical>::from_vec_validity(name, codes, valid);
            // SAFETY: see above: each code is one the mapping gave out.
            unsafe { CategoricalChunked::<T>::from_cats_and_dtype_unchecked(ca, dtype) }
                .into_series()
                .into_column()
        }
        Ok(match dtype.cat_physical()? {
            CategoricalPhysical::U8 => {
                let codes = self.codes.iter().map(|&k| k as u8).collect();
                coded::<Categorical8Type>(name, codes, valid, dtype)
            }
            CategoricalPhysical::U16 => {
                let codes = self.codes.iter().map(|&k| k as u16).collect();
                coded::<Categorical16Type>(name, codes, valid, dtype)
            }
            CategoricalPhysical::U32 => coded::<Categorical32Type>(name, self.codes, valid, dtype),
        })
    }
}

/// A column's values as owned text (a test's view of a coded or text column).
#[cfg(test)]
pub(crate) fn owned_text(col: &Column) -> Vec<Option<String>> {
    let text = text(col).expect("a text or coded column");
    text.iter().map(|v| v.map(str::to_owned)).collect()
}

/// `df` with its coded columns back as text: what the export files carry.
pub fn decode(mut df: DataFrame) -> PolarsResult<DataFrame> {
    for (name, _) in CODED {
        if let Ok(col) = df.column(name) {
            if col.dtype() != &DataType::String {
                let text = col.cast(&DataType::String)?;
                df.with_column(text)?;
            }
        }
    }
    Ok(df)
}

/// A text column read by reference, row by row, without turning coded
/// values back into a text column: each distinct value is looked up once.
pub enum Texts<'a> {
    Plain(&'a StringChunked),
    Coded {
        /// Per row: the value's position in `values`; [`Texts::NULL`]
        /// (beyond `values`) for null.
        codes: Vec<u32>,
        values: Vec<&'a str>,
    },
}

impl<'a> Texts<'a> {
    /// The code of a null row in [`Texts::Coded`].
    pub const NULL: u32 = u32::MAX;

    /// Column `name` of `df`, text or coded.
    pub fn of(df: &'a DataFrame, name: &str) -> PolarsResult<Texts<'a>> {
        let col = df.column(name)?;
        match col.dtype() {
            DataType::Categorical(_, mapping) => {
                let values = (0..mapping.num_cats_upper_bound())
                    .map(|k| mapping.cat_to_str(k as u32).unwrap_or_default())
                    .collect();
                let physical = col.to_physical_repr().cast(&DataType::UInt32)?;
                let mut codes = Vec::with_capacity(col.len());
                for arr in physical.u32()?.downcast_iter() {
                    match arr.validity().filter(|v| v.unset_bits() > 0) {
                        None => codes.extend_from_slice(arr.values()),
                        Some(valid) => {
                            codes.extend(arr.values().iter().zip(valid.iter()).map(|(&k, ok)| {
                                if ok {
                                    k
                                } else {
                                    Self::NULL
                                }
                            }))
                        }
                    }
                }
                Ok(Texts::Coded { codes, values })
            }
            _ => Ok(Texts::Plain(col.str()?)),
        }
    }

    /// A coded column's codes and values.
    pub fn coded(&self) -> Option<(&[u32], &[&'a str])> {
        match self {
            Texts::Plain(_) => None,
            Texts::Coded { codes, values } => Some((codes, values)),
        }
    }

    /// Row `i`'s value.
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Texts::Plain(s) => s.get(i),
            Texts::Coded { codes, values } => values.get(*codes.get(i)? as usize).copied(),
        }
    }

    /// `f` of every row's value, in order. A coded column calls `f` once
    /// per distinct value (and once for null) and reads the rest from that
    /// table: no text is looked up or compared row by row.
    pub fn map<T: Copy>(&self, f: impl Fn(Option<&'a str>) -> T) -> Vec<T> {
        match self {
            Texts::Plain(s) => s.iter().map(f).collect(),
            Texts::Coded { codes, values } => {
                let null = f(None);
                let table: Vec<T> = values.iter().map(|v| f(Some(v))).collect();
                codes
                    .iter()
                    .map(|&k| table.get(k as usize).copied().unwrap_or(null))
                    .collect()
            }
        }
    }

    /// Every row's value, in order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Option<&'a str>> + '_> {
        match self {
            Texts::Plain(s) => Box::new(s.iter()),
            Texts::Coded { codes, values } => {
                Box::new(codes.iter().map(|&k| values.get(k as usize).copied()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values of all three code widths, with nulls and repeats, in both
    /// codings: the built column reads back as the values pushed, and has
    /// the type the coding names.
    #[test]
    fn a_coded_builder_reads_back_as_the_values_pushed() {
        let values = |n: usize, k: usize| -> Vec<Option<String>> {
            (0..n)
                .map(|i| (i % 7 != 3).then(|| format!("值{}", (i * 31) % k)))
                .collect()
        };
        for coding in [Coding::Frame, Coding::File] {
            for (name, distinct) in [(KIND, 3), (TIER1, 300), (TIER3, 5_000)] {
                let want = values(20_000, distinct);
                let mut b = CodedBuilder::new(name, coding, want.len());
                for v in &want {
                    b.push(v.as_deref());
                }
                let col = b.finish().unwrap();
                assert_eq!(Some(col.dtype().clone()), coded_dtype_in(name, coding));
                let got = owned_text(&col);
                assert_eq!(got, want, "{name} {coding:?}");
                assert_eq!(
                    col.null_count(),
                    want.iter().filter(|v| v.is_none()).count()
                );
            }
        }
    }
}
