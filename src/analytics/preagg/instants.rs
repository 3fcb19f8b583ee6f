//! The issue table's dense times in four bytes where they lose nothing.
//!
//! Seven of the issue table's times are set for nearly every issue (the
//! report, the resolution, the deadline, acceptance, dispatch, handling,
//! the first closure):
//! at ten million events, 8 bytes each of five million issues are 250 MB.
//! Upstream systems send whole seconds, and a second count since 1970 fits
//! a `u32` until 2106, so a column whose every value is a whole second in
//! that range is held as UInt32 seconds ([`compact`]); any other column
//! stays Int64 µs. Nothing is rounded: one value with a fraction of a
//! second keeps its column in µs, and a table appended with such a value
//! is widened back ([`unify`]). Readers see µs either way ([`Instants`],
//! [`widen`]).

use polars::prelude::*;

use super::col_names as p;
use crate::analytics::view::{one_chunk, view, View};

/// The issue table's times that may be held as seconds.
pub const DENSE_US: [&str; 7] = [
    p::OCC_US,
    p::RES_US,
    p::DUE_US,
    p::FLOW_US[0],
    p::FLOW_US[1],
    p::FLOW_US[2],
    p::FLOW_US[3],
];

const US: i64 = 1_000_000;

/// `col` (Int64 µs) as UInt32 seconds when every value is a whole second
/// from 1970 to 2106; else `col` as it is.
pub fn compact(col: Column) -> PolarsResult<Column> {
    if col.dtype() != &DataType::Int64 {
        return Ok(col);
    }
    let us = col.i64()?;
    let fits = us
        .downcast_iter()
        .flat_map(|a| a.non_null_values_iter())
        .all(|t| t % US == 0 && (0..=i64::from(u32::MAX)).contains(&(t / US)));
    if !fits {
        return Ok(col);
    }
    let secs: UInt32Chunked = map_values(us, |t| (t / US) as u32);
    Ok(secs.with_name(col.name().clone()).into_column())
}

/// `ca` with `f` applied to every value slot, nulls kept, chunk by chunk.
fn map_values<A, B>(ca: &ChunkedArray<A>, f: impl Fn(A::Native) -> B::Native) -> ChunkedArray<B>
where
    A: PolarsNumericType,
    B: PolarsNumericType,
{
    let chunks = ca.downcast_iter().map(|a| {
        let values: Vec<B::Native> = a.values().iter().map(|&v| f(v)).collect();
        polars_arrow::array::PrimitiveArray::from_vec(values).with_validity(a.validity().cloned())
    });
    ChunkedArray::from_chunk_iter(ca.name().clone(), chunks)
}

/// `col` as Int64 µs, whether held as seconds or µs.
pub fn widen(col: &Column) -> PolarsResult<Column> {
    match col.dtype() {
        DataType::UInt32 => {
            let us: Int64Chunked = map_values(col.u32()?, |s| i64::from(s) * US);
            Ok(us.with_name(col.name().clone()).into_column())
        }
        _ => col.cast(&DataType::Int64),
    }
}

/// `df` with its [`DENSE_US`] columns compacted where they can be.
pub fn compact_table(mut df: DataFrame) -> PolarsResult<DataFrame> {
    for name in DENSE_US {
        if let Ok(col) = df.column(name) {
            let held = compact(col.clone())?;
            df.with_column(held)?;
        }
    }
    Ok(df)
}

/// `df` with its [`DENSE_US`] columns in µs.
#[cfg(test)]
pub fn widen_table(mut df: DataFrame) -> PolarsResult<DataFrame> {
    for name in DENSE_US {
        if let Ok(col) = df.column(name) {
            let us = widen(col)?;
            df.with_column(us)?;
        }
    }
    Ok(df)
}

/// `a` and `b` with each [`DENSE_US`] column held alike, so that one can be
/// appended to the other: where one holds seconds and the other µs, both
/// in µs.
pub fn unify(a: &mut DataFrame, b: &mut DataFrame) -> PolarsResult<()> {
    for name in DENSE_US {
        let (Ok(x), Ok(y)) = (a.column(name), b.column(name)) else {
            continue;
        };
        if x.dtype() != y.dtype() {
            let (x, y) = (widen(x)?, widen(y)?);
            a.with_column(x)?;
            b.with_column(y)?;
        }
    }
    Ok(())
}

/// A time column of the issue table in one chunk, as it is held.
pub(crate) enum Instants {
    Us(Int64Chunked),
    Secs(UInt32Chunked),
}

impl Instants {
    /// Column `name` of `df` (one chunk).
    pub(crate) fn of(df: &DataFrame, name: &str) -> PolarsResult<Instants> {
        let col = df.column(name)?;
        Ok(match col.dtype() {
            DataType::UInt32 => Instants::Secs(one_chunk(col.u32()?)),
            _ => Instants::Us(one_chunk(col.cast(&DataType::Int64)?.i64()?)),
        })
    }

    /// Values and validity by row.
    pub(crate) fn view(&self) -> InstantView<'_> {
        match self {
            Instants::Us(ca) => InstantView::Us(view(ca)),
            Instants::Secs(ca) => InstantView::Secs(view(ca)),
        }
    }
}

/// One time column read by row in µs, as it is held.
pub(crate) enum InstantView<'a> {
    Us(View<'a, i64>),
    Secs(View<'a, u32>),
}

impl InstantView<'_> {
    /// Row `i` in µs since the epoch.
    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        match self {
            InstantView::Us(v) => v.get(i),
            InstantView::Secs(v) => v.get(i).map(|s| i64::from(s) * US),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(values: &[Option<i64>]) -> Column {
        Int64Chunked::from_iter_options(p::OCC_US.into(), values.iter().copied()).into_column()
    }

    fn read(col: &Column) -> Vec<Option<i64>> {
        let df = DataFrame::new(col.len(), vec![col.clone()]).unwrap();
        let held = Instants::of(&df, p::OCC_US).unwrap();
        let v = held.view();
        (0..col.len()).map(|i| v.get(i)).collect()
    }

    #[test]
    fn whole_seconds_are_held_in_four_bytes_and_read_back_the_same() {
        let values = [
            Some(1_767_225_600_000_000),
            None,
            Some(0),
            Some(4_294_967_295_000_000),
        ];
        let held = compact(us(&values)).unwrap();
        assert_eq!(held.dtype(), &DataType::UInt32);
        assert_eq!(read(&held), values);
        assert_eq!(widen(&held).unwrap(), us(&values));
    }

    #[test]
    fn a_fraction_of_a_second_or_a_time_out_of_range_keeps_the_column_in_microseconds() {
        for odd in [1_767_225_600_000_001, -1_000_000, 4_294_967_296_000_000] {
            let values = [Some(1_767_225_600_000_000), Some(odd)];
            let held = compact(us(&values)).unwrap();
            assert_eq!(held.dtype(), &DataType::Int64, "{odd}");
            assert_eq!(read(&held), values);
        }
    }

    #[test]
    fn tables_held_differently_are_widened_to_be_appended() {
        let secs = [Some(1_767_225_600_000_000), None];
        let exact = [Some(1_767_225_600_500_000)];
        let mut a = DataFrame::new(2, vec![compact(us(&secs)).unwrap()]).unwrap();
        let mut b = DataFrame::new(1, vec![compact(us(&exact)).unwrap()]).unwrap();
        unify(&mut a, &mut b).unwrap();
        a.vstack_mut(&b).unwrap();
        let all: Vec<Option<i64>> = secs.iter().chain(&exact).copied().collect();
        assert_eq!(read(a.column(p::OCC_US).unwrap()), all);
    }
}
