//! One-chunk views of numeric columns, read by row in plain loops: the
//! values slice and the validity bits, no per-row dispatch through polars.
//! The metrics' loops and the issue table's times ([`super::preagg::Instants`])
//! read their columns through these.

use polars::prelude::*;

/// One column's values and validity, read by row (one chunk).
pub(crate) struct View<'a, T> {
    pub(crate) values: &'a [T],
    /// The array's own validity bits and their bit offset (None: no nulls).
    pub(crate) valid: Option<(&'a [u8], usize)>,
    /// The value of every row when `values` is empty (a column a table of
    /// one kind does not hold).
    every: Option<T>,
}

impl<T: Copy> View<'_, T> {
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<T> {
        if let Some((bits, offset)) = self.valid {
            let b = offset + i;
            if bits.get(b >> 3).is_none_or(|byte| byte >> (b & 7) & 1 == 0) {
                return None;
            }
        }
        self.values.get(i).copied().or(self.every)
    }

    /// `every` (or null) on every row.
    pub(crate) fn constant(every: Option<T>) -> Self {
        View {
            values: &[],
            valid: None,
            every,
        }
    }
}

/// A column rechunked into one array, to be viewed.
pub(crate) fn one_chunk<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> ChunkedArray<T> {
    ca.rechunk().into_owned()
}

/// The view of `ca`, which must be in one chunk (else every row reads null).
pub(crate) fn view<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> View<'_, T::Native> {
    match ca.downcast_iter().next() {
        Some(a) if ca.chunks().len() == 1 => View {
            values: a.values().as_slice(),
            valid: a.validity().filter(|_| ca.null_count() > 0).map(|v| {
                let (bits, offset, _) = v.as_slice();
                (bits, offset)
            }),
            every: None,
        },
        _ => View::constant(None),
    }
}

/// A boolean column in one chunk, read bit by bit where it is: a window
/// of all history (the backlog's) is millions of rows, and a vector of
/// them per query cost more than the loop that reads them.
pub(crate) struct Flags(Option<polars_arrow::array::BooleanArray>);

impl Flags {
    pub(crate) fn of(df: &DataFrame, name: &str) -> PolarsResult<Flags> {
        let one = df.column(name)?.bool()?.rechunk();
        let first = one.downcast_iter().next().cloned();
        Ok(Flags(first))
    }

    /// Row `i`'s value (None: null or beyond the column).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<bool> {
        let a = self.0.as_ref()?;
        holds(a, i).then(|| a.value(i))
    }
}

/// Whether an owned array has a value at row `i` (within it, not null).
#[inline]
pub(crate) fn holds(a: &dyn polars_arrow::array::Array, i: usize) -> bool {
    i < a.len() && a.is_valid(i)
}
